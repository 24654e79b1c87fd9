"""Two runs side by side, level by level: where do two models (or two settings) really differ?

Both runs must have scored the same images with the same label set; each level's outcomes are
then paired image by image and McNemar's test asks whether the disagreements lean one way. With
many levels some p-values fall below 0.05 by chance, so Holm's step-down adjustment is given too.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from semscale.wording import count
from semscale.errors import SemscaleError
from semscale.stats import mcnemar
from semscale.store import ResultsStore

KEYS = ["aggregation", "repeat", "n_names"]


@dataclass(frozen=True)
class LevelComparison:
    aggregation: str
    repeat: int
    n_names: int
    n_images: int
    accuracy_a: float
    accuracy_b: float
    only_a: int  # images only run A got right
    only_b: int
    p_value: float  # two-sided McNemar
    p_holm: float  # Holm-adjusted over every compared level


def _images(frame: pd.DataFrame) -> pd.Series:
    """What identifies each image_idx: its content hash when the frame has it, else name and label."""
    cols = ["image_hash"] if "image_hash" in frame else ["name", "label"]
    per = frame.drop_duplicates("image_idx").set_index("image_idx")[cols]
    return per.astype(str).agg("|".join, axis=1).sort_index()


def check_comparable(a: pd.DataFrame, b: pd.DataFrame, labels_a: dict | None = None,
                     labels_b: dict | None = None) -> None:
    """Refuse, with the reason, two runs that did not score the same images with the same labels."""
    if a.empty or b.empty:
        raise SemscaleError(f"run {'A' if a.empty else 'B'} has no predictions to compare")
    ia, ib = _images(a), _images(b)
    if not ia.equals(ib):
        only_a, only_b = len(set(ia) - set(ib)), len(set(ib) - set(ia))
        raise SemscaleError(f"the runs did not score the same images ({len(ia)} vs {len(ib)} images; {only_a} only in "
                            f"run A, {only_b} only in run B{', or in another order' if not (only_a or only_b) else ''})")
    if labels_a is not None and labels_b is not None and labels_a != labels_b:
        differ = sorted(set(labels_a) ^ set(labels_b)) or [c for c in labels_a if labels_a[c] != labels_b[c]]
        raise SemscaleError(f"the runs used different label sets (classes differing: {', '.join(map(str, differ[:5]))})")
    if set(a["label"]) != set(b["label"]):
        raise SemscaleError("the runs used different classes")


def _holm(p: list[float]) -> list[float]:
    order = sorted(range(len(p)), key=lambda i: p[i])
    adjusted, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def compare_predictions(a: pd.DataFrame, b: pd.DataFrame, labels_a: dict | None = None,
                        labels_b: dict | None = None) -> list[LevelComparison]:
    """Per (aggregation, repeat, n_names) both runs measured: accuracies and McNemar's test on the
    paired outcomes. `a`, `b` are `ResultsStore.predictions(run_id)` frames; `labels_*` each run's
    {class: names} when known."""
    check_comparable(a, b, labels_a, labels_b)
    merged = a[KEYS + ["image_idx", "correct"]].merge(b[KEYS + ["image_idx", "correct"]], on=KEYS + ["image_idx"],
                                                      suffixes=("_a", "_b"))
    if merged.empty:
        raise SemscaleError("the runs share no level (aggregation, repeat and number of names) to compare")
    rows = []
    for (agg, rep, n), g in merged.groupby(KEYS, sort=True):
        ca, cb = g["correct_a"].astype(bool), g["correct_b"].astype(bool)
        only_a, only_b = int((ca & ~cb).sum()), int((~ca & cb).sum())
        rows.append((str(agg), int(rep), int(n), len(g), float(ca.mean()), float(cb.mean()), only_a, only_b,
                     mcnemar(only_a, only_b)))
    holm = _holm([r[-1] for r in rows])
    return [LevelComparison(*r, p_holm=h) for r, h in zip(rows, holm)]


def format_compare(rows: list[LevelComparison], name_a: str = "A", name_b: str = "B", alpha: float = 0.05) -> str:
    """The comparison as a plain-text table, then one sentence on where the runs differ."""
    head = ("aggregation", "repeat", "names", "images", f"acc {name_a}", f"acc {name_b}", f"only {name_a}",
            f"only {name_b}", "p McNemar", "p Holm")
    body = [(r.aggregation, str(r.repeat), str(r.n_names), str(r.n_images), f"{r.accuracy_a:.4f}",
             f"{r.accuracy_b:.4f}", str(r.only_a), str(r.only_b), f"{r.p_value:.4g}", f"{r.p_holm:.4g}") for r in rows]
    widths = [max(len(row[i]) for row in (head, *body)) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
             for row in (head, *body)]
    return "\n".join(lines + [differences(rows, name_a, name_b, alpha)])


def differences(rows: list[LevelComparison], name_a: str = "A", name_b: str = "B", alpha: float = 0.05) -> str:
    """One sentence on where the runs differ, judged by the Holm-adjusted p."""
    differ = [r for r in rows if r.p_holm < alpha]
    over = f"after Holm's adjustment over {count(len(rows), 'level')}"
    if not differ:
        return f"no level differs at p < {alpha:g} {over}"
    where = ", ".join(f"{r.aggregation} {count(r.n_names, 'name')}"
                      f"{f' (repeat {r.repeat})' if r.repeat else ''}: "
                      f"{name_a if r.accuracy_a > r.accuracy_b else name_b} better" for r in differ)
    return f"differ at p < {alpha:g} {over}: {where}"


def compare_runs(store: ResultsStore, run_a: str, run_b: str) -> list[LevelComparison]:
    """`compare_predictions` of two stored runs; a run that is not finished is refused with how far it got."""
    infos = [store.run(run_a), store.run(run_b)]
    for info in infos:
        if info.partial:
            raise SemscaleError(f"run {info.run_id} is {info.status} ({info.n_done} of {info.n_images} images); "
                                "only finished runs are compared")
    return compare_predictions(*(store.predictions(i.run_id) for i in infos),
                               *(store.run_names(i.run_id) for i in infos))
