"""The aggregations: how the cosines of a class's names to an image become the class's score.

One entry per rule, kept as data (as open_clip keeps its models): its name, help, line style, and
the arithmetic every scorer reads from it, so adding a rule is one `register` call.

A rule is a running total per class that each name's value joins (`combine`, starting from
`empty`), finished into class scores. Three scorers use it:

- the plain rule (`Aggregation.scores`): one level's class scores from its cosine matrix
  (`scoring.class_scores`, and the sweep wherever it cannot grow its totals);
- the sweep (`scoring.Sweep`): totals grown block by block of new names, level after level;
- name subsets (`name_subsets`): one class's total changed one name at a time, compared across
  classes image by image, so only `finish` applies there (not `normalise`, which needs every class).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from semscale.core.errors import SemscaleError
from semscale.core.vectors import Head, normalize

Norms = Callable[[], np.ndarray]  # the length of each class's summed unit name vectors, computed when asked

# A level whose best name lies this far (scale x cosine) below the sweep chunk's best is scored alone:
# its probabilities, shifted by the chunk's best, would lose bits to float32 underflow (e^-87).
SHIFT_LIMIT = 40.0


@dataclass(frozen=True)
class LineStyle:
    """How one aggregation's curve is drawn, so curves that coincide (max under probsum) stay visible."""

    dash: str  # plotly
    marker: str  # plotly
    width: float  # the first-drawn curves are wider, so one on top of another shows on both sides
    mpl_dash: str  # matplotlib, for the report
    mpl_marker: str


@dataclass(frozen=True)
class Aggregation:
    """One rule. The base class scores a class by its names' cosines combined with `combine`
    (np.maximum: max); subclasses change what a name adds, how totals become scores, or both."""

    name: str
    help: str  # one phrase, shown after "name: " on the Run page
    style: LineStyle
    combine: np.ufunc = np.maximum  # how a class's running total takes one more name's value
    empty: float = -np.inf  # the total of no names: `combine`'s identity

    def name_values(self, cos: np.ndarray, head: Head, shift: np.ndarray | None = None, dtype=None) -> np.ndarray:
        """What each name adds to its class's total, from its cosines `cos` (..., M), names last: the cosine itself.
        `shift` is this rule's `shift` of the cosines the values are taken from (None: of `cos`);
        `dtype` the precision a rule computes new values in (cosines are passed on as they are)."""
        return cos

    def shift(self, cos: np.ndarray, head: Head) -> np.ndarray | None:
        """A per-image constant (per row of `cos`'s names, kept as a last axis of 1) the sweep computes once
        per chunk of cosines and hands to `name_values`."""
        return None

    def finish(self, totals: np.ndarray, norms: Norms) -> np.ndarray:
        """Class scores, each from its own class's total (`totals`: classes last; `norms`: see Norms)."""
        return totals

    def normalise(self, scores: np.ndarray, head: Head) -> np.ndarray:
        """The stored class scores, from every class of an image at once (classes last; probsum: divided
        by the softmax's denominator). It must not change which class wins: name subsets skip it."""
        return scores

    def unreliable(self, shift: np.ndarray | None, best: np.ndarray, head: Head) -> np.ndarray:
        """Where the sweep must score the plain way: a mask of `best`'s shape without its last axis (`best`:
        each class's best cosine so far, classes last). A row reliable at a level stays so at the levels that
        extend it (they only add names): once no row is, the sweep stops asking."""
        return np.zeros(best.shape[:-1], bool)

    def scores(self, images: np.ndarray, cand_names: np.ndarray, starts: np.ndarray, head: Head,
               sims: np.ndarray | None = None) -> np.ndarray:
        """(N, K) class scores of one level: unit `images` (N, D) against its unit candidate names
        `cand_names` (M, D), grouped by class from `starts`; `sims`: their cosines, when already known."""
        sims = images @ cand_names.T if sims is None else sims
        totals = self.combine.reduceat(self.name_values(sims, head), starts, axis=1)
        return self.normalise(self.finish(totals, lambda: class_norms(cand_names, starts)), head)


def class_norms(cand_names: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(K,) length of each class's summed unit name vectors (zero sums count 1)."""
    norms = np.linalg.norm(np.add.reduceat(cand_names, starts, axis=0), axis=1)
    return np.where(norms == 0, 1, norms).astype(np.float32)


class Mean(Aggregation):
    """The cosine to the class's centroid: its names' cosines summed, over the length of their summed vectors."""

    def finish(self, totals, norms):
        return totals / norms()

    def scores(self, images, cand_names, starts, head, sims=None):
        return images @ normalize(np.add.reduceat(cand_names, starts, axis=0)).T  # the centroid itself


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x), written so that no exp overflows."""
    return np.exp(-np.logaddexp(0, -x))


class Probsum(Aggregation):
    """The model's own name probabilities (`Head`), summed per class.

    With a softmax head a name's value is exp(scale x cosine - shift), `shift` one per-image constant
    (the best logit) so nothing overflows; the shared denominator does not change which class wins,
    so name subsets compare numerators only and the sweep divides once per level. A sigmoid head
    gives each name its own probability: nothing to shift or divide."""

    def name_values(self, cos, head, shift=None, dtype=None):
        logits = head.scale * cos.astype(dtype or cos.dtype, copy=False)  # a new array: `cos` is kept
        if head.bias is not None:
            return sigmoid(logits + head.bias)
        logits -= logits.max(axis=-1, keepdims=True) if shift is None else shift
        return np.exp(logits, out=logits)

    def shift(self, cos, head):
        return None if head.bias is not None else head.scale * cos.max(axis=-1, keepdims=True)

    def normalise(self, scores, head):
        if head.bias is not None:
            return scores
        with np.errstate(invalid="ignore", divide="ignore"):  # underflowed rows: see `unreliable`
            # each row's classes summed side by side in memory, so the sum's order (NumPy's pairwise), hence
            # its bits, do not follow the layout of the sweep's arrays (classes first)
            return scores / np.ascontiguousarray(scores).sum(axis=-1, keepdims=True)

    def unreliable(self, shift, best, head):
        if shift is None:
            return super().unreliable(shift, best, head)
        return shift[..., 0] - head.scale * best.max(axis=-1) > SHIFT_LIMIT

    def scores(self, images, cand_names, starts, head, sims=None):
        probs = self.name_values(images @ cand_names.T if sims is None else sims, head)
        if head.bias is None:
            probs /= probs.sum(axis=1, keepdims=True)  # over names: the softmax itself
        return np.add.reduceat(probs, starts, axis=1)


MAX = Aggregation("max", "any synonym counts", LineStyle("solid", "circle", 5, "-", "o"))
_REGISTRY: dict[str, Aggregation] = {}


def register(rule: Aggregation) -> None:
    """Make `rule` available by its name everywhere: runs, the CLI's choices, pages, figures."""
    if rule.name in _REGISTRY:
        raise ValueError(f"aggregation {rule.name!r} is already registered")
    _REGISTRY[rule.name] = rule


def unregister(name: str) -> None:
    del _REGISTRY[name]


def names() -> list[str]:
    return list(_REGISTRY)


def get(name: str) -> Aggregation:
    if name not in _REGISTRY:
        raise SemscaleError(f"unknown aggregation {name!r}; choose one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


register(MAX)
register(Mean("mean", "averaged name embeddings", LineStyle("dash", "square", 3, "--", "s"), np.add, 0.0))
register(Probsum("probsum", "summed name probabilities (the model's own head)",
                 LineStyle("dot", "diamond-open", 2, ":", "D"), np.add, 0.0))
