"""Explain one image: level by level, its best-matching names, the predicted class and the flips.

For teaching: why did the prediction change when names were added? Each level of the run's
schedule (the user's name order) is re-scored for the one image with the engine's own
`scoring.predict_many`, from the cached embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from semscale.analysis.run_embeddings import RunEmbeddings
from semscale.core.errors import SemscaleError
from semscale.core.wording import count
from semscale.run import aggregations, schedule
from semscale.run.scoring import Candidates, predict_many

TOP_NAMES = 5


@dataclass(frozen=True)
class Explanation:
    image_idx: int
    image: str  # display name
    path: str
    label: str
    aggregation: str
    levels: pd.DataFrame  # n_names, predicted, correct, score, change ("", "wrong -> right", "right -> wrong")
    top: pd.DataFrame  # n_names, rank, name, class, cosine: the image's best active names per level


def find_image(run: RunEmbeddings, image: int | str) -> int:
    """Row of an image given by its image_idx, display name or path."""
    table = run.image_table
    key = str(image)
    hits = np.flatnonzero((table["image_idx"].astype(str) == key) | (table["name"] == key) | (table["path"] == key))
    if not len(hits):
        raise SemscaleError(f"run {run.run_id} has no scored image {key!r} (give its number, name or path; "
                            "rejected images have no scores)")
    return int(hits[0])


def explain(run: RunEmbeddings, image: int | str, aggregation: str | None = None, top: int = TOP_NAMES) -> Explanation:
    """Per level of the run's schedule: predicted class, its score, and the `top` best active names."""
    aggregation = aggregation or (run.config.get("aggregations") or ["max"])[0]
    aggregations.get(aggregation)  # an unknown one is refused before any work
    row = find_image(run, image)
    vec = run.images[row : row + 1]
    rows = run.name_rows
    levels = schedule.parse(run.config.get("schedule") or "exponential", max(len(r) for r in rows))
    truth = int(run.truth[row])
    records, tops, previous = [], [], None
    for n in levels:
        cand = Candidates.build([r[:n] for r in rows])
        p = predict_many(vec, run.name_matrix, cand, [aggregation], run.head)[aggregation]
        predicted = int(p.predicted[0])
        right = predicted == truth
        change = "" if previous is None or previous == right else ("wrong -> right" if right else "right -> wrong")
        records.append((n, run.classes[predicted], right, float(p.score[0]), change))
        previous = right
        sims = (vec @ run.name_matrix[cand.rows].T)[0]
        order = np.argsort(-sims, kind="stable")[:top]
        tops += [(n, rank + 1, run.name_list[cand.rows[i]], run.classes[cand.owner[i]], float(sims[i]))
                 for rank, i in enumerate(order)]
    info = run.image_table.iloc[row]
    return Explanation(
        image_idx=int(info["image_idx"]), image=str(info["name"]), path=str(info["path"]), label=str(info["label"]),
        aggregation=aggregation,
        levels=pd.DataFrame(records, columns=["n_names", "predicted", "correct", "score", "change"]),
        top=pd.DataFrame(tops, columns=["n_names", "rank", "name", "class", "cosine"]))


def format_explanation(ex: Explanation) -> str:
    """The `semscale explain` printout: one block per level."""
    lines = [f"Image {ex.image_idx} {ex.image} (true class {ex.label}), aggregation {ex.aggregation}"]
    for level in ex.levels.itertuples(index=False):
        mark = "right" if level.correct else "WRONG"
        flip = f"   <- {level.change}" if level.change else ""
        lines.append(f"{count(level.n_names, 'name')} per class: predicted {level.predicted} ({mark}, score "
                     f"{level.score:.4f}){flip}")
        for t in ex.top[ex.top["n_names"] == level.n_names].itertuples(index=False):
            lines.append(f"    {t.rank}. {t.name:<28} {t[3]:<16} {t.cosine:.4f}")
    return "\n".join(lines)


def level_table(ex: Explanation) -> pd.DataFrame:
    """One row per level: prediction, right or wrong, the flip, and the top names as 'name (class) cosine'."""
    tops = {n: "; ".join(f"{name} ({cls}) {cos:.3f}"
                         for name, cls, cos in zip(g["name"], g["class"], g["cosine"], strict=True))
            for n, g in ex.top.groupby("n_names")}
    table = ex.levels.assign(right=ex.levels["correct"].map({True: "right", False: "wrong"}),
                             top_names=ex.levels["n_names"].map(tops))
    return table[["n_names", "predicted", "right", "change", "score", "top_names"]]


def summary(ex: Explanation) -> str:
    """Where the prediction flips, in one sentence."""
    flips = ex.levels[ex.levels["change"] != ""]
    if flips.empty:
        state = "right" if ex.levels["correct"].iloc[0] else "wrong"
        return f"no flip: {state} at every level ({ex.aggregation})"
    return "; ".join(f"{r.change} at {count(r.n_names, 'name')} per class" for r in flips.itertuples()) + \
        f" ({ex.aggregation})"
