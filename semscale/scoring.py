"""Zero-shot scoring of cached embeddings at one scale level, for the three aggregations.

Everything here is pure NumPy on already-computed embeddings, so any number of levels, orders and
aggregations cost no extra encoding. Images are processed in chunks of at most CHUNK_ROWS rows and
about CHUNK_CELLS cosines, which bounds memory and keeps the passes over each chunk in cache
(measured in benchmarks/b4_scale.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

AGGREGATIONS = ("max", "mean", "probsum")
TOP_K = 3
CHUNK_ROWS = 2048
CHUNK_CELLS = 1 << 22  # images x candidates per chunk: 16 MB of cosines stay cache-friendly


@dataclass(frozen=True)
class Head:
    """How a model turns cosines into name probabilities, which `probsum` sums per class.

    bias None (softmax-trained, CLIP-style): softmax over all active names of scale x cosine; a
    class's score is the probability that the model's top name is one of the class's.
    bias set (sigmoid-trained, SigLIP): each name's own sigmoid(scale x cosine + bias), as the model
    was trained to output; a class's score is the expected number of its names that match. While
    no probability nears 1 this ranks classes as the softmax rule does; a confident name counts at
    most 1, so several good names can outvote one excellent one.
    """

    scale: float = 100.0
    bias: float | None = None


CLIP_HEAD = Head()
LOGIT_SCALE = CLIP_HEAD.scale  # CLIP's learned temperature, fixed at 100 in released models


def normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norms == 0, 1, norms)


@dataclass(frozen=True)
class Candidates:
    """The candidate labels at one level: rows of the name matrix and the class owning each.

    Rows must be grouped by class in class order (class 0's names first), which
    `Candidates.build` guarantees; every class has at least one name.
    """

    rows: np.ndarray  # (M,) indices into the name-embedding matrix
    owner: np.ndarray  # (M,) class index of each candidate

    @classmethod
    def build(cls, rows_per_class: list[list[int]]) -> "Candidates":
        rows = [r for class_rows in rows_per_class for r in class_rows]
        owner = [k for k, class_rows in enumerate(rows_per_class) for _ in class_rows]
        return cls(np.asarray(rows, dtype=np.int64), np.asarray(owner, dtype=np.int64))

    @property
    def starts(self) -> np.ndarray:
        """First candidate position of each class (for reduceat)."""
        return np.flatnonzero(np.r_[True, self.owner[1:] != self.owner[:-1]])


@dataclass(frozen=True)
class Prediction:
    """Per-image outcome at one level: predicted class, its score and the top names overall."""

    predicted: np.ndarray  # (N,) class index
    score: np.ndarray  # (N,) aggregated score of the predicted class
    top_rows: np.ndarray  # (N, k) name-matrix rows of the best-matching candidate names
    top_sims: np.ndarray  # (N, k) their cosine similarities


def class_scores(images: np.ndarray, names: np.ndarray, cand: Candidates, aggregation: str,
                 head: Head = CLIP_HEAD) -> np.ndarray:
    """(N, K) class scores for unit-norm `images` (N, D) against unit-norm `names` (T, D).

    max:     best cosine among the class's active names (any synonym counts).
    mean:    cosine to the re-normalized mean of the class's active name embeddings.
    probsum: the model's name probabilities (`head`; CLIP: softmax at logit scale 100), summed per class.
    """
    cand_names = names[cand.rows]
    if aggregation == "mean":
        return _scores(images, None, cand, aggregation, _centroids(cand_names, cand))
    return _scores(images, images @ cand_names.T, cand, aggregation, head=head)


def _centroids(cand_names: np.ndarray, cand: Candidates) -> np.ndarray:
    """(K, D) unit-norm mean of each class's active name embeddings (the `mean` aggregation)."""
    return normalize(np.add.reduceat(cand_names, cand.starts, axis=0))


def _scores(images: np.ndarray, sims: np.ndarray | None, cand: Candidates, aggregation: str,
            centroids: np.ndarray | None = None, head: Head = CLIP_HEAD) -> np.ndarray:
    """Class scores from the (N, M) cosines `sims` to the candidates (or from `centroids` for mean)."""
    if aggregation == "mean":
        return images @ centroids.T
    if aggregation == "max":
        return np.maximum.reduceat(sims, cand.starts, axis=1)
    if aggregation == "probsum":
        logits = head.scale * sims  # a new array: `sims` is still needed for the top names
        if head.bias is not None:  # sigmoid, written so that no exp overflows
            probs = np.exp(-np.logaddexp(0, -(logits + head.bias)))
            return np.add.reduceat(probs, cand.starts, axis=1)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits, out=logits)
        probs /= probs.sum(axis=1, keepdims=True)
        return np.add.reduceat(probs, cand.starts, axis=1)
    raise ValueError(f"unknown aggregation {aggregation!r}; choose one of {', '.join(AGGREGATIONS)}")


def _top_k(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Columns and values of the k largest entries per row, largest first, ties to the lower column.

    Exactly what `np.argsort(-sims, kind="stable")[:, :k]` selects, but in k passes of argmax
    instead of a full sort of every row (sorting 16,000 candidates costs ~200x one argmax pass).
    The fast path overwrites the picked entries of `sims` with -inf and returns True. A chunk
    holding NaN or -inf, where a picked entry could tie with the mask, is sorted the slow way
    instead, with `sims` left as it was, and False is returned.
    """
    rows = np.arange(len(sims))
    cols = np.empty((len(sims), k), np.int64)
    vals = np.empty((len(sims), k), sims.dtype)
    for j in range(k):
        cols[:, j] = sims.argmax(axis=1)  # first occurrence of the maximum, as a stable sort keeps
        vals[:, j] = sims[rows, cols[:, j]]
        if not (vals[:, j] > -np.inf).all():  # NaN (argmax returns the first NaN) or -inf
            for i in range(j):
                sims[rows, cols[:, i]] = vals[:, i]
            cols = np.argsort(-sims, axis=1, kind="stable")[:, :k]
            return cols, np.take_along_axis(sims, cols, axis=1), False
        sims[rows, cols[:, j]] = -np.inf
    return cols, vals, True


def predict_many(images: np.ndarray, names: np.ndarray, cand: Candidates,
                 aggregations: list[str] | tuple[str, ...], head: Head = CLIP_HEAD) -> dict[str, Prediction]:
    """`predict` for several aggregations at one level, computing the cosines and top names once.

    Each result equals `predict(images, names, cand, aggregation)`; the top names are the same
    for every aggregation, so all results share one `top_rows` and one `top_sims` array.
    """
    return predict_levels(images, names, [cand], aggregations, head)[0]


def predict_levels(images: np.ndarray, names: np.ndarray, levels: Sequence[Candidates],
                   aggregations: list[str] | tuple[str, ...], head: Head = CLIP_HEAD) -> list[dict[str, Prediction]]:
    """`predict_many` for each level in `levels`, from one cosine matrix per chunk of images.

    The cosines are computed to every row of `names`, and each level scores its own columns of
    them: a lower level's candidates are a subset of a higher level's, so the matrix products of a
    whole sweep cost what its largest level costs. Any call with the same `images` chunking and
    `names` therefore sees the same cosines, bit for bit, whichever levels it scores together (a
    float32 matrix product of another shape differs in the last bits).
    """
    step = max(1, min(CHUNK_ROWS, CHUNK_CELLS // max(1, len(names))))
    ks = [min(TOP_K, len(cand.rows)) for cand in levels]
    centroids = [_centroids(names[cand.rows], cand) if "mean" in aggregations else None for cand in levels]
    parts: list[dict[str, list]] = [{agg: [] for agg in aggregations} for _ in levels]
    tops: list[list] = [[] for _ in levels]
    for start in range(0, len(images), step):
        chunk = images[start : start + step]
        every = chunk @ names.T
        for cand, k, cents, level_parts, level_tops in zip(levels, ks, centroids, parts, tops):
            sims = every[:, cand.rows]  # a copy: _top_k writes into it
            scores = {agg: _scores(chunk, sims, cand, agg, cents, head) for agg in aggregations if agg != "max"}
            top, top_sims, fast = _top_k(sims, k)
            if "max" in aggregations:
                if fast and k:
                    # The best class under max owns the best candidate and scores its cosine; with the
                    # candidates grouped by class in class order, the first maximal candidate lies in
                    # the first maximal class, which argmax over reduced class scores would pick.
                    level_parts["max"].append((cand.owner[top[:, 0]], top_sims[:, 0]))
                else:  # NaN or no candidates: reduce as before (`sims` is intact on this path)
                    scores["max"] = _scores(chunk, sims, cand, "max")
            for agg, s in scores.items():
                predicted = s.argmax(axis=1)
                level_parts[agg].append((predicted, s[np.arange(len(chunk)), predicted]))
            level_tops.append((cand.rows[top], top_sims))
    return [_collect(level_parts, level_tops, k, aggregations) for level_parts, level_tops, k in zip(parts, tops, ks)]


def _collect(parts: dict[str, list], tops: list, k: int, aggregations) -> dict[str, Prediction]:
    """One level's per-chunk results joined into a Prediction per aggregation."""
    if not tops:
        empty = np.zeros((0,), dtype=np.int64)
        return {agg: Prediction(empty, np.zeros(0, np.float32), np.zeros((0, k), np.int64),
                                np.zeros((0, k), np.float32)) for agg in aggregations}
    top_rows, top_sims = (np.concatenate(t) for t in zip(*tops))
    return {agg: Prediction(np.concatenate([p[0] for p in parts[agg]]), np.concatenate([p[1] for p in parts[agg]]),
                            top_rows, top_sims) for agg in aggregations}


def predict(images: np.ndarray, names: np.ndarray, cand: Candidates, aggregation: str,
            head: Head = CLIP_HEAD) -> Prediction:
    """Predicted class per image (ties go to the earlier class) plus the top names by cosine."""
    return predict_many(images, names, cand, (aggregation,), head)[aggregation]
