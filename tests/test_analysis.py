"""Per-class accuracy and the confusion matrix on a frame whose answers are counted by hand."""

import pandas as pd
import pytest

from semscale.analysis import tables

# Five images at one level (max, 1 name, repeat 0), (true, predicted):
#   cat->cat, cat->cat, cat->dog, dog->dog, bird->dog
# Per true class (recall): bird 0/1, cat 2/3, dog 1/1.
# Per predicted class (precision, the wrong table): cat 2/2, dog 1/3 -- the two differ everywhere.
PAIRS = [("cat", "cat"), ("cat", "cat"), ("cat", "dog"), ("dog", "dog"), ("bird", "dog")]
PREDICTIONS = pd.DataFrame([{"aggregation": "max", "repeat": 0, "n_names": 1, "image_idx": i, "label": t,
                             "predicted": p, "correct": t == p} for i, (t, p) in enumerate(PAIRS)])


def test_per_class_accuracy_is_each_true_class_recall():
    """Grouped by the true label: the share of each class's images predicted as that class."""
    table = tables.per_class(PREDICTIONS).set_index("label")
    assert table["accuracy"].to_dict() == {"bird": 0.0, "cat": 2 / 3, "dog": 1.0}
    assert table["images"].to_dict() == {"bird": 1, "cat": 3, "dog": 1}


def test_confusion_rows_are_true_classes_and_columns_predictions():
    """Row 'cat' holds the three cat images: two predicted cat, one dog; nothing was predicted bird."""
    # other aggregations, levels and name orders, every image predicted 'bird', must not count
    noise = [PREDICTIONS.assign(predicted="bird", **change)
             for change in ({"aggregation": "mean"}, {"n_names": 2}, {"repeat": 1})]
    table = tables.confusion(pd.concat([PREDICTIONS, *noise], ignore_index=True), "max", 1)
    assert (table.index.name, table.columns.name) == ("true", "predicted")
    assert table.to_dict("index") == {"bird": {"bird": 0, "cat": 0, "dog": 1},
                                      "cat": {"bird": 0, "cat": 2, "dog": 1},
                                      "dog": {"bird": 0, "cat": 0, "dog": 1}}


def point(agg: str, n: int, repeat: int, correct: int) -> dict:
    """One stored point of run 'r' on 10 images; the interval is made up but told apart from the rest."""
    return {"run_id": "r", "aggregation": agg, "n_names": n, "repeat": repeat, "n_candidates": 3 * n,
            "n_images": 10, "correct": correct, "accuracy": correct / 10, "ci_low": correct / 10 - 0.05,
            "ci_high": correct / 10 + 0.07}


# Right images per (aggregation, level) for name orders 0, 1, 2: level 1 is the base names in every order.
RIGHT = {("max", 1): (5, 5, 5), ("max", 2): (6, 9, 4), ("mean", 1): (2, 2, 2), ("mean", 2): (3, 9, 9)}
POINTS = pd.DataFrame([point(agg, n, r, c) for (agg, n), cs in RIGHT.items() for r, c in enumerate(cs)])


def test_curves_keep_the_given_order_and_spread_over_orders():
    """max at 2 names: the given order (repeat 0) 6/10; the orders 6, 9, 4 -> mean 19/30, min .4, max .9.
    mean at 2 names: 3, 9, 9 -> mean .7, min .3, max .9 (each aggregation its own spread)."""
    table = tables.curves(POINTS).set_index(["aggregation", "n_names"])
    assert len(table) == 4 and set(table["run_id"]) == {"r"}
    row = table.loc[("max", 2)]
    assert (row["correct"], row["accuracy"], row["n_candidates"], row["n_images"]) == (6, 0.6, 6, 10)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.55, 0.67))
    assert (row["mean_accuracy"], row["min_accuracy"], row["max_accuracy"], row["repeats"]) == pytest.approx(
        (19 / 30, 0.4, 0.9, 3))
    row = table.loc[("mean", 2)]
    assert (row["accuracy"], row["mean_accuracy"], row["min_accuracy"], row["max_accuracy"]) == pytest.approx(
        (0.3, 0.7, 0.3, 0.9))
    assert table.loc[("max", 1), "mean_accuracy"] == pytest.approx(0.5)
    assert tables.curves(POINTS.iloc[:0]).empty


def outcome(agg: str, n: int, label: str, right: list[bool], repeat: int = 0) -> list[dict]:
    return [{"aggregation": agg, "repeat": repeat, "n_names": n, "label": label, "correct": c} for c in right]


def test_class_effects_run_from_one_name_to_the_largest_level():
    """max, repeat 0, at 1 / 2 / 4 names: cat 2/4, 0/4, 4/4 (+.5); dog 3/4, 4/4, 1/4 (-.5); bird 1/2 at
    every level (0). Level 2, the second name order and the mean aggregation must not count."""
    rows = (outcome("max", 1, "cat", [1, 1, 0, 0]) + outcome("max", 2, "cat", [0, 0, 0, 0])
            + outcome("max", 4, "cat", [1, 1, 1, 1]) + outcome("max", 1, "dog", [1, 1, 1, 0])
            + outcome("max", 2, "dog", [1, 1, 1, 1]) + outcome("max", 4, "dog", [1, 0, 0, 0])
            + [r for n in (1, 2, 4) for r in outcome("max", n, "bird", [1, 0])]
            + outcome("max", 4, "cat", [0, 0, 0, 0], repeat=1) + outcome("mean", 4, "dog", [1, 1, 1, 1])
            + outcome("mean", 1, "dog", [0, 0, 0, 0]))
    preds = pd.DataFrame(rows).astype({"correct": bool})
    table = tables.class_effects(preds, "max")
    assert table["label"].tolist() == ["dog", "bird", "cat"]  # most lost first
    assert table["first"].tolist() == [0.75, 0.5, 0.5] and table["last"].tolist() == [0.25, 0.5, 1.0]
    assert table["change"].tolist() == [-0.5, 0.0, 0.5]
    assert tables.class_effects(preds, "probsum").empty


def test_misclassified_keeps_the_wrong_images_of_one_level_dealt_round_the_classes():
    """max, 2 names, repeat 0: wrong are cat 0, 2, 6; ant 3, 5; dog 4 (images 1 and 7 are right).
    Dealt round: ant 3, cat 0, dog 4, then ant 5, cat 2, then cat 6. Other levels, orders and
    aggregations get every image wrong and must not show."""
    labels = ["cat", "cat", "cat", "ant", "dog", "ant", "cat", "dog"]
    right = [False, True, False, False, False, False, False, True]
    base = pd.DataFrame({"aggregation": "max", "repeat": 0, "n_names": 2, "image_idx": range(8), "label": labels,
                         "correct": right, "predicted": "x"})
    noise = [base.assign(correct=False, **change)
             for change in ({"repeat": 1}, {"n_names": 1}, {"aggregation": "mean"})]
    preds = pd.concat([base, *noise], ignore_index=True)
    assert tables.misclassified(preds, "max", 2)["image_idx"].tolist() == [3, 0, 4, 5, 2, 6]
    assert tables.misclassified(preds, "max", 2, "cat")["image_idx"].tolist() == [0, 2, 6]
    assert tables.misclassified(preds, "mean", 2)["image_idx"].tolist() == [3, 0, 4, 5, 1, 7, 2, 6]


def test_a_class_only_ever_predicted_still_gets_its_row_of_zeros():
    """One cat image predicted 'fox': the matrix is square, the fox row all zeros (no fox image)."""
    frame = pd.DataFrame([{"aggregation": "max", "repeat": 0, "n_names": 1, "image_idx": 0, "label": "cat",
                           "predicted": "fox", "correct": False}])
    table = tables.confusion(frame, "max", 1)
    assert table.to_dict("index") == {"cat": {"cat": 0, "fox": 1}, "fox": {"cat": 0, "fox": 0}}
