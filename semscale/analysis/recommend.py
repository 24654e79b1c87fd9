"""Which names should my classifier use? A per-class label set chosen with an honest accuracy.

Selection (`select`): every class starts at its base name, which is always kept. Classes are
visited in order; a class gets, one at a time, the extra name that raises the number of right
predictions most (ties: the earlier name in the class's list), while some name raises it by at
least one image. Passes over all classes repeat until a pass adds nothing. It only counts images,
so it works for every aggregation and is deterministic. A name repeated in its class's list (the
paper scheme pads lists so) is one candidate; "all names" is the run's full lists, repeats included.

Estimate (`recommend`): an accuracy measured on the images a choice was made on rewards names
that help by chance on those images. So images are split into stratified folds (seeded); for each
fold the selection runs on the other folds and the chosen set is scored on that fold alone, with
`scoring.class_scores`, the engine's own scoring. Every image is thus held out exactly once; the
held-out outcomes give the recommended set's accuracy and a Wilson 95% interval. Base names and
all names involve no choice: their accuracy on all images is already held-out. The label set
returned is the selection run once more on all images; its in-sample accuracy is shown for
contrast only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from semscale.analysis.name_subsets import Standings, Subsets, gram
from semscale.analysis.name_subsets import aggregation as make_aggregation
from semscale.analysis.run_embeddings import RunEmbeddings
from semscale.core.errors import SemscaleError
from semscale.core.stats import mcnemar, wilson
from semscale.core.wording import count
from semscale.names.labels import LabelSet
from semscale.run.scoring import Candidates, class_scores


@dataclass(frozen=True)
class Estimate:
    """Right predictions out of images, with a Wilson 95% interval."""

    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.correct, self.total)

    def text(self) -> str:
        low, high = self.interval
        return f"{self.accuracy:.3f} [{low:.3f}, {high:.3f}]  {self.correct}/{self.total}"


@dataclass(frozen=True)
class Recommendation:
    run_id: str
    aggregation: str
    folds: int
    seed: int
    base: Estimate  # base names only
    full: Estimate  # every name as the run listed them (repeats included), the run's last level
    recommended: Estimate  # held-out: each image scored by a set chosen without it
    in_sample: Estimate  # the final set on the images it was chosen on (optimistic)
    p_vs_base: float  # McNemar, held-out recommended vs base names, same images
    p_vs_full: float
    chosen: dict[str, list[str]]  # class -> chosen names, base first, in the run's order
    names: pd.DataFrame  # class, name, chosen (final set), folds_chosen (training-fold selections); no repeats
    notes: tuple[str, ...]

    def label_set(self) -> LabelSet:
        """The chosen names as a label set: `.save(path)` writes a file for `run --labels`."""
        return LabelSet({c: list(v) for c, v in self.chosen.items()})


def select(agg: Subsets, truth: np.ndarray, rows_per_class: list[list[int]]) -> list[list[int]]:
    """Greedy forward selection from the base names (see the module docstring); rows in list order."""
    states = [agg.start(rows[:1]) for rows in rows_per_class]
    standings = Standings(np.column_stack([agg.score(s) for s in states]), truth)
    correct = int(standings.correct.sum())
    changed = True
    while changed:
        changed = False
        for k, rows in enumerate(rows_per_class):
            while True:
                cands = [r for r in rows if r not in states[k].members]
                if not cands:
                    break
                counts = standings.correct_with(k, agg.candidates(states[k], cands)).sum(axis=0)
                best = int(np.argmax(counts))
                if counts[best] <= correct:
                    break
                states[k] = agg.add(states[k], cands[best])
                standings.set_column(k, agg.score(states[k]))
                correct = int(counts[best])
                changed = True
    return [[r for r in rows if r in s.members] for rows, s in zip(rows_per_class, states, strict=True)]


def stratified_folds(truth: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number of each image: each class's images shuffled (seeded) and dealt round the folds."""
    rng = np.random.default_rng(seed)
    out = np.empty(len(truth), np.int64)
    dealt = 0
    for k in np.unique(truth):
        idx = np.flatnonzero(truth == k)
        rng.shuffle(idx)
        out[idx] = (dealt + np.arange(len(idx))) % folds  # continue where the last class stopped
        dealt += len(idx)
    return out


def recommend(run: RunEmbeddings, aggregation: str | None = None, folds: int = 5, seed: int = 0) -> Recommendation:
    """Choose each class's names for `aggregation` (default: the run's first) with a held-out estimate."""
    aggregation = aggregation or (run.config.get("aggregations") or ["max"])[0]
    rows, choices = run.name_rows, run.choice_rows
    if all(len(r) == 1 for r in choices):
        raise SemscaleError(f"every class of run {run.run_id} has one name: there is nothing to choose")
    folds, notes = _fold_count(run, folds)
    measured = run.config.get("aggregations") or []
    if measured and aggregation not in measured:
        notes.append(f"the run measured {', '.join(measured)}, not {aggregation}: this choice is for {aggregation}")
    truth = run.truth
    sims, g = run.cosines(), gram(run.name_matrix)

    def choose(on: np.ndarray) -> list[list[int]]:
        return select(make_aggregation(aggregation, sims[on], g, run.head), truth[on], choices)

    def right(on: np.ndarray, chosen: list[list[int]]) -> np.ndarray:
        scores = class_scores(run.images[on], run.name_matrix, Candidates.build(chosen), aggregation, run.head)
        return scores.argmax(axis=1) == truth[on]

    every = np.arange(len(truth))
    fold_of = stratified_folds(truth, folds, seed)
    held_out = np.zeros(len(truth), bool)
    votes = np.zeros(len(run.name_matrix), np.int64)
    for f in range(folds):
        chosen = choose(every[fold_of != f])
        test = every[fold_of == f]
        held_out[test] = right(test, chosen)
        votes[[r for c in chosen for r in c]] += 1
    final = choose(every)
    base, full = right(every, [r[:1] for r in rows]), right(every, rows)
    single = [c for c, r in zip(run.classes, choices, strict=True) if len(r) == 1]
    if single:
        notes.append(f"{count(len(single), 'class', 'classes')} with one name only, kept as is: {', '.join(single[:5])}"
                     + (" ..." if len(single) > 5 else ""))
    kept = {r for c in final for r in c}
    listed = [r for c in choices for r in c]
    names = pd.DataFrame({"class": [run.classes[run.owner[r]] for r in listed],
                          "name": [run.name_list[r] for r in listed],
                          "chosen": [r in kept for r in listed], "folds_chosen": votes[listed]})
    return Recommendation(
        run_id=run.run_id, aggregation=aggregation, folds=folds, seed=seed,
        base=_estimate(base), full=_estimate(full), recommended=_estimate(held_out),
        in_sample=_estimate(right(every, final)),
        p_vs_base=mcnemar(int(np.sum(held_out & ~base)), int(np.sum(base & ~held_out))),
        p_vs_full=mcnemar(int(np.sum(held_out & ~full)), int(np.sum(full & ~held_out))),
        chosen={c: [run.name_list[r] for r in final[k]] for k, c in enumerate(run.classes)},
        names=names, notes=tuple(notes))


def _fold_count(run: RunEmbeddings, folds: int) -> tuple[int, list[str]]:
    """The folds to use: at most the smallest class's image count (classes without images aside)."""
    if folds < 2:
        raise SemscaleError(f"cross-validation needs at least 2 folds, got {folds}")
    counts = np.bincount(run.truth, minlength=len(run.classes))
    present = counts[counts > 0]
    smallest = int(present.min())
    cls = run.classes[int(np.flatnonzero(counts == smallest)[0])]
    if smallest < 2:
        raise SemscaleError(f"class {cls!r} has {count(smallest, 'scored image')}; "
                            "cross-validation needs at least 2 per class")
    notes = []
    if folds > smallest:
        notes.append(f"folds lowered from {folds} to {smallest}: class {cls!r} has only {smallest} scored images")
        folds = smallest
    empty = [c for c, n in zip(run.classes, counts, strict=True) if n == 0]
    if empty:
        notes.append(f"{count(len(empty), 'class', 'classes')} with no scored image (the names can still take "
                     f"others' images): " + ", ".join(empty[:5]))
    return folds, notes


def _estimate(correct: np.ndarray) -> Estimate:
    return Estimate(int(correct.sum()), len(correct))


def format_recommendation(rec: Recommendation) -> str:
    """The `semscale recommend` printout."""
    n = rec.base.total
    lines = [f"Recommended label set for run {rec.run_id} ({rec.aggregation}, {rec.folds}-fold cross-validation, "
             f"seed {rec.seed}, {n} images)",
             "accuracy on held-out images, 95% interval:",
             f"  base names    {rec.base.text()}",
             f"  all names     {rec.full.text()}",
             f"  recommended   {rec.recommended.text()}  (McNemar vs base p={rec.p_vs_base:.3g}, "
             f"vs all names p={rec.p_vs_full:.3g})",
             f"  (the chosen set scores {rec.in_sample.accuracy:.3f} on the images it was chosen on: optimistic, "
             "not an estimate)",
             f"chosen names (in brackets: how many of the {rec.folds} training-fold selections chose the name):"]
    for cls, group in rec.names.groupby("class", sort=False):
        listed = [f"{r.name} [{r.folds_chosen}/{rec.folds}]" for r in group.itertuples() if r.chosen]
        dropped = [r.name for r in group.itertuples() if not r.chosen]
        line = f"  {cls} ({len(listed)} of {len(group)}): {', '.join(listed)}"
        lines.append(line + (f"; dropped: {', '.join(dropped)}" if dropped else ""))
    lines += [f"note: {note}" for note in rec.notes]
    return "\n".join(lines)
