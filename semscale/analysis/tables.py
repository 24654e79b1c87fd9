"""Tables derived from stored predictions: curves over name orders, per-class accuracy, confusion."""

from __future__ import annotations

import pandas as pd


def curves(points: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, aggregation, n_names): accuracy of the given order, mean and spread over orders."""
    if points.empty:
        return points
    keys = ["run_id", "aggregation", "n_names"]
    base = points[points["repeat"] == 0].set_index(keys)[["n_candidates", "n_images", "correct", "accuracy",
                                                          "ci_low", "ci_high"]]
    spread = points.groupby(keys)["accuracy"].agg(mean_accuracy="mean", min_accuracy="min", max_accuracy="max",
                                                  repeats="count")
    return base.join(spread).reset_index()


def per_class(predictions: pd.DataFrame) -> pd.DataFrame:
    """Accuracy of each true class at each level (repeat 0)."""
    p = predictions[predictions["repeat"] == 0]
    out = p.groupby(["aggregation", "n_names", "label"])["correct"].agg(["mean", "count"]).reset_index()
    return out.rename(columns={"mean": "accuracy", "count": "images"})


def class_effects(predictions: pd.DataFrame, aggregation: str) -> pd.DataFrame:
    """Change in each class's accuracy from one name to the largest level: who gains, who loses."""
    table = per_class(predictions)
    table = table[table["aggregation"] == aggregation]
    if table.empty:
        return table
    wide = table.pivot(index="label", columns="n_names", values="accuracy")
    first, last = wide.columns.min(), wide.columns.max()
    return (pd.DataFrame({"label": wide.index, "first": wide[first], "last": wide[last],
                          "change": wide[last] - wide[first]})
            .sort_values("change").reset_index(drop=True))


def confusion(predictions: pd.DataFrame, aggregation: str, n_names: int) -> pd.DataFrame:
    """Counts of (true class, predicted class) at one level, classes in a stable order."""
    p = predictions[(predictions["aggregation"] == aggregation) & (predictions["n_names"] == n_names)
                    & (predictions["repeat"] == 0)]
    classes = sorted(set(p["label"]) | set(p["predicted"]))
    table = pd.crosstab(p["label"], p["predicted"]).reindex(index=classes, columns=classes, fill_value=0)
    table.index.name, table.columns.name = "true", "predicted"
    return table


def misclassified(predictions: pd.DataFrame, aggregation: str, n_names: int, label: str | None = None) -> pd.DataFrame:
    """The wrong predictions at one level (repeat 0), dealt round the true classes: each class's
    first wrong image, then each class's second, ..., so the head of the list is a sample across
    classes and not 24 airplanes. `label` keeps one true class."""
    p = predictions[(predictions["aggregation"] == aggregation) & (predictions["n_names"] == n_names)
                    & (predictions["repeat"] == 0) & ~predictions["correct"].astype(bool)]
    if label is not None:
        p = p[p["label"] == label]
    turn = p.groupby("label", sort=False).cumcount()
    return p.assign(turn=turn).sort_values(["turn", "label", "image_idx"], kind="stable").drop(columns="turn")
