"""Class scores for any per-class subset of names, changed one name at a time, from one cosine matrix.

Per-name effects and the label-set recommender score thousands of subsets; re-running
`scoring.class_scores` for each would redo an (images x names) product every time. Here the
(N x T) cosines of every image with every run name are computed once, and a class's score column
for a subset of its names is built from them by its rule's running total (semscale.run.aggregations):

    max:     the best cosine among the subset's names;
    mean:    cosine to the normalised sum of the subset's unit name vectors
             = (sum of the subset's cosine columns) / |sum of its name vectors|, the norm from the
             names' Gram matrix, so no image is touched again;
    probsum: the sum of exp(scale x cosine - c_i) over the subset, c_i one fixed per-image constant
             (the largest logit over all run names, so nothing overflows and float64 cannot underflow).
             The softmax denominator is shared by all classes of an image, so the predicted class is
             the one `scoring` picks; the column is the numerator only. A sigmoid-trained model (a
             head with a bias, SigLIP) has no shared denominator: each name adds its own sigmoid.

Adding a name changes one column; `Standings` keeps each image's best and second-best class so the
prediction with one column replaced costs O(N) per candidate name. Ties go to the earlier class,
as `np.argmax` in `scoring` decides them. tests/test_name_effects.py checks every aggregation
against `scoring.class_scores` on random subsets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from semscale.core.vectors import CLIP_HEAD, Head
from semscale.run import aggregations as rules
from semscale.run.aggregations import Aggregation


@dataclass(frozen=True)
class Columns:
    """The running state of one class's subset (see `Subsets`)."""

    members: tuple[int, ...]  # name rows in the subset, in the order added
    total: np.ndarray  # (N,) the rule's running total (max: best cosine; mean: sum of cosines; probsum: sum of exps)
    norm2: float = 1.0  # squared length of the sum of the subset's name vectors (mean's norm)


class Subsets:
    """One aggregation rule on fixed cosines: build a class's column, extend it by candidate names."""

    def __init__(self, rule: Aggregation, sims: np.ndarray, gram: np.ndarray, head: Head = CLIP_HEAD):
        self.rule = rule
        # (N, T) what each run name adds to its class's total; float64, which cannot underflow
        self.values = rule.name_values(sims, head, None, np.float64)
        self.gram = gram  # (T, T) float64 dot products of the unit name vectors

    def start(self, members: list[int]) -> Columns:
        state = Columns((members[0],), self.values[:, members[0]].astype(np.float64), 1.0)
        for t in members[1:]:
            state = self.add(state, t)
        return state

    def add(self, state: Columns, t: int) -> Columns:
        totals, norm2 = self.extend(state, [t])
        return Columns(state.members + (t,), totals[:, 0], float(norm2[0]))

    def score(self, state: Columns) -> np.ndarray:
        return self.finish(state.total[:, None], np.array([state.norm2]))[:, 0]

    def candidates(self, state: Columns, cands: list[int]) -> np.ndarray:
        """(N, C) score columns of the subset plus each candidate name, one candidate per column."""
        return self.finish(*self.extend(state, cands))

    def extend(self, state: Columns, cands: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Running totals (N, C) and squared sum-vector lengths (C,) with each candidate added."""
        norm2 = state.norm2 + 2 * self.gram[np.ix_(state.members, cands)].sum(axis=0) + self.gram[cands, cands]
        return self.rule.combine(state.total[:, None], self.values[:, cands]), norm2

    def finish(self, totals: np.ndarray, norm2: np.ndarray) -> np.ndarray:
        """Class scores from running totals: the rule's own, per class (never normalised across classes,
        which would need every class's column: the ranking is the same)."""
        return self.rule.finish(totals, lambda: np.sqrt(norm2))


def gram(names: np.ndarray) -> np.ndarray:
    """(T, T) dot products of the unit name vectors, float64 (the `mean` norms need them)."""
    names = names.astype(np.float64)
    return names @ names.T


def aggregation(name: str, sims: np.ndarray, gram: np.ndarray, head: Head = CLIP_HEAD) -> Subsets:
    """The registered aggregation `name` on (N, T) cosines `sims` and the names' `gram` matrix (`head`:
    the model's cosine-to-probability head)."""
    return Subsets(rules.get(name), sims, gram, head)


class Standings:
    """Class scores (N x K) with each image's best and runner-up class, for one-column what-ifs."""

    def __init__(self, scores: np.ndarray, truth: np.ndarray):
        self.scores = np.array(scores, dtype=np.float64)
        self.truth = truth
        self.rows = np.arange(len(truth))
        self.best = np.zeros(len(truth), np.int64)
        self.second = np.zeros(len(truth), np.int64)
        self._rank(self.rows)

    def _rank(self, rows: np.ndarray) -> None:
        """Recompute best and runner-up (first index on ties) for `rows`."""
        if not len(rows) or not self.scores.shape[1]:
            return
        s = self.scores[rows]
        best = s.argmax(axis=1)
        s[np.arange(len(rows)), best] = -np.inf
        self.best[rows] = best
        self.second[rows] = s.argmax(axis=1) if s.shape[1] > 1 else best

    @property
    def predicted(self) -> np.ndarray:
        return self.best

    @property
    def correct(self) -> np.ndarray:
        return self.best == self.truth

    def predicted_with(self, k: int, columns: np.ndarray) -> np.ndarray:
        """(N, C) predicted class when class k's column is replaced by each column of `columns`."""
        if self.scores.shape[1] == 1:
            return np.full(columns.shape, k)
        other = np.where(self.best == k, self.second, self.best)  # best class other than k
        other_score = self.scores[self.rows, other]
        wins = (columns > other_score[:, None]) | ((columns == other_score[:, None]) & (k < other)[:, None])
        return np.where(wins, k, other[:, None])

    def correct_with(self, k: int, columns: np.ndarray) -> np.ndarray:
        """(N, C) correctness when class k's column is replaced by each column of `columns`."""
        return self.predicted_with(k, columns) == self.truth[:, None]

    def set_column(self, k: int, column: np.ndarray) -> None:
        """Replace class k's column; only images where k was or becomes a top-two class are re-ranked."""
        touched = (self.best == k) | (self.second == k) | (column >= self.scores[self.rows, self.second])
        self.scores[:, k] = column
        self._rank(self.rows[touched])
