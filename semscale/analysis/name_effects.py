"""Which single names help or hurt? Each extra name's effect on accuracy, with a paired test.

Two comparisons per extra name t of class k (the base name has none: it is always kept; a name
repeated in its class's list counts once, and all its copies go in or out together), on the
run's scored images, from the cached embeddings:

    added:   every class at its base name alone, versus the same with t added to class k;
    removed: every class with its full name list, versus the same with t removed from class k.

Both are reported as a gain, positive when the name helps: accuracy with the name minus accuracy
without it, overall and on the images of class k, with the images it fixed (wrong -> right) and
broke (right -> wrong) and McNemar's two-sided p-value on those paired outcomes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from semscale.analysis.name_subsets import Standings, gram
from semscale.analysis.name_subsets import aggregation as make_aggregation
from semscale.analysis.run_embeddings import RunEmbeddings
from semscale.core.errors import SemscaleError
from semscale.core.stats import mcnemar
from semscale.core.wording import count

MODES = {"added": "added to the base name alone", "removed": "removed from the full list"}


class _Comparisons:
    """Base-only and full-list standings of one run under one aggregation, for one-name what-ifs."""

    def __init__(self, run: RunEmbeddings, aggregation: str):
        self.run = run
        self.agg = make_aggregation(aggregation, run.cosines(), gram(run.name_matrix), run.head)
        self.rows = run.name_rows
        self.choices = run.choice_rows
        self.base_states = [self.agg.start(rows[:1]) for rows in self.rows]
        self.base = Standings(np.column_stack([self.agg.score(s) for s in self.base_states]), run.truth)
        self.full = Standings(np.column_stack([self.agg.score(self.agg.start(rows)) for rows in self.rows]), run.truth)

    def without_and_with(self, mode: str, k: int, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Predicted classes without the name and with it, under the comparison `mode`."""
        if mode == "added":
            return self.base.predicted, self.base.predicted_with(k, self.agg.candidates(self.base_states[k], [t]))[:, 0]
        if mode == "removed":
            names = self.run.name_list
            rest = self.agg.start([r for r in self.rows[k] if names[r] != names[t]])
            return self.full.predicted_with(k, self.agg.score(rest)[:, None])[:, 0], self.full.predicted
        raise SemscaleError(f"unknown comparison {mode!r}; choose one of {', '.join(MODES)}")

    def locate(self, cls: str, name: str) -> tuple[int, int]:
        """(class index, name row) of an extra name; the base name has no effect to show."""
        if cls not in self.run.names:
            raise SemscaleError(f"run {self.run.run_id} has no class {cls!r}")
        names = self.run.names[cls]
        if name not in names:
            raise SemscaleError(f"class {cls!r} has no name {name!r} (names: {', '.join(names)})")
        if names.index(name) == 0:
            raise SemscaleError(f"{name!r} is the base name of {cls!r}: it is always kept, so it has no effect to show")
        k = self.run.classes.index(cls)
        return k, self.rows[k][names.index(name)]  # the first copy of a repeated name


def name_effects(run: RunEmbeddings, aggregation: str) -> pd.DataFrame:
    """One row per extra name, most helpful (when added to the base name) first.

    Columns: class, name, position (1 = first extra name), then per mode (added, removed):
    gain_M (overall accuracy change), class_gain_M (on the class's own images; NaN when it has
    none), fixed_M, broken_M (images) and p_M (McNemar); last `highlight`: "most helpful" for
    each class's name with the largest positive gain_added, "most harmful" for the most negative
    (first in the class's list on ties), else "".
    """
    cmp = _Comparisons(run, aggregation)
    truth = run.truth
    records = []
    for k, cls in enumerate(run.classes):
        own = truth == k
        for t in cmp.choices[k][1:]:
            position = cmp.rows[k].index(t)
            record = {"class": cls, "name": run.names[cls][position], "position": position}
            for mode in MODES:
                before, after = (p == truth for p in cmp.without_and_with(mode, k, t))
                fixed, broken = int(np.sum(after & ~before)), int(np.sum(before & ~after))
                record |= {f"gain_{mode}": (fixed - broken) / len(truth),
                           f"class_gain_{mode}": (after[own].mean() - before[own].mean()) if own.any() else np.nan,
                           f"fixed_{mode}": fixed, f"broken_{mode}": broken, f"p_{mode}": mcnemar(fixed, broken)}
            records.append(record)
    columns = ["class", "name", "position"] + [f"{c}_{m}" for m in MODES
                                               for c in ("gain", "class_gain", "fixed", "broken", "p")]
    table = pd.DataFrame(records, columns=columns)
    table["highlight"] = ""
    by_class = table.groupby("class", sort=False)["gain_added"]
    helpful = by_class.idxmax()
    harmful = by_class.idxmin()
    table.loc[helpful[table.loc[helpful, "gain_added"].to_numpy() > 0], "highlight"] = "most helpful"
    table.loc[harmful[table.loc[harmful, "gain_added"].to_numpy() < 0], "highlight"] = "most harmful"
    return table.sort_values(["gain_added", "gain_removed"], ascending=False, kind="stable").reset_index(drop=True)


def name_flips(run: RunEmbeddings, aggregation: str, cls: str, name: str, mode: str = "added") -> pd.DataFrame:
    """The images one name flips under `mode`: image_idx, name, label, path, predicted_without,
    predicted_with, change ("wrong -> right" first, then "right -> wrong")."""
    cmp = _Comparisons(run, aggregation)
    k, t = cmp.locate(cls, name)
    before, after = cmp.without_and_with(mode, k, t)
    right_before, right_after = before == run.truth, after == run.truth
    flipped = right_before != right_after
    out = run.image_table[flipped].copy()
    out["predicted_without"] = [run.classes[c] for c in before[flipped]]
    out["predicted_with"] = [run.classes[c] for c in after[flipped]]
    out["change"] = np.where(right_after[flipped], "wrong -> right", "right -> wrong")
    return out.sort_values(["change", "image_idx"], ascending=[False, True]).reset_index(drop=True)


def format_name_flips(flips: pd.DataFrame, cls: str, name: str, mode: str) -> str:
    """The `semscale names RUN --flips CLASS NAME` printout: the images, one a line."""
    head = f"{count(len(flips), 'image')} flipped by {name!r} ({cls}) {MODES[mode]}"
    return "\n".join([head] + [f"  {r.change:<15} {r.name}  (true {r.label}; without: {r.predicted_without}, "
                                f"with: {r.predicted_with})" for r in flips.itertuples(index=False)])


def format_name_effects(table: pd.DataFrame, aggregation: str, n_images: int) -> str:
    """The `semscale names` printout: one line per name, gains in accuracy points."""
    if table.empty:
        return "every class has one name: there are no extra names to measure"
    lines = [f"Per-name effects ({aggregation}, {n_images} images). gain = accuracy with the name minus without, "
             "in points; added: to the base name alone; removed: from the full list; "
             "fixed/broken: images; p: McNemar",
             f"{'class':<16} {'name':<24} {'added':>7} {'class':>7} {'+/-':>9} {'p':>6}   "
             f"{'removed':>7} {'class':>7} {'+/-':>9} {'p':>6}"]
    for r in table.itertuples(index=False):
        parts = []
        for mode in MODES:
            gain, cls_gain = getattr(r, f"gain_{mode}"), getattr(r, f"class_gain_{mode}")
            flips = f"+{getattr(r, f'fixed_{mode}')}/-{getattr(r, f'broken_{mode}')}"
            parts.append(f"{100 * gain:>+7.1f} {_points(cls_gain):>7} {flips:>9} {getattr(r, f'p_{mode}'):>6.3f}")
        mark = {"most helpful": "  <- most helpful", "most harmful": "  <- most harmful"}.get(r.highlight, "")
        lines.append(f"{_cut(r[0], 16):<16} {_cut(r.name, 24):<24} {parts[0]}   {parts[1]}{mark}")
    return "\n".join(lines)


def _points(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{100 * value:+.1f}"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"
