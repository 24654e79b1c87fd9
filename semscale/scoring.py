"""Zero-shot scoring of cached embeddings at one scale level, for the three aggregations.

Everything here is pure NumPy on already-computed embeddings, so any number of levels, orders and
aggregations cost no extra encoding. Images are processed in chunks to bound memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AGGREGATIONS = ("max", "mean", "probsum")
LOGIT_SCALE = 100.0  # CLIP's learned temperature, fixed at 100 in released models
TOP_K = 3
CHUNK_ROWS = 2048


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


def class_scores(images: np.ndarray, names: np.ndarray, cand: Candidates, aggregation: str) -> np.ndarray:
    """(N, K) class scores for unit-norm `images` (N, D) against unit-norm `names` (T, D).

    max:     best cosine among the class's active names (any synonym counts).
    mean:    cosine to the re-normalized mean of the class's active name embeddings.
    probsum: softmax over all active names at logit scale 100, summed per class.
    """
    if aggregation == "mean":
        sums = np.add.reduceat(names[cand.rows], cand.starts, axis=0)
        return images @ normalize(sums).T
    sims = images @ names[cand.rows].T
    if aggregation == "max":
        return np.maximum.reduceat(sims, cand.starts, axis=1)
    if aggregation == "probsum":
        logits = LOGIT_SCALE * sims
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        return np.add.reduceat(probs, cand.starts, axis=1)
    raise ValueError(f"unknown aggregation {aggregation!r}; choose one of {', '.join(AGGREGATIONS)}")


def predict(images: np.ndarray, names: np.ndarray, cand: Candidates, aggregation: str) -> Prediction:
    """Predicted class per image (ties go to the earlier class) plus the top names by cosine."""
    k = min(TOP_K, len(cand.rows))
    parts = []
    for start in range(0, len(images), CHUNK_ROWS):
        chunk = images[start : start + CHUNK_ROWS]
        scores = class_scores(chunk, names, cand, aggregation)
        predicted = scores.argmax(axis=1)
        sims = chunk @ names[cand.rows].T
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        parts.append((predicted, scores[np.arange(len(chunk)), predicted], cand.rows[top],
                      np.take_along_axis(sims, top, axis=1)))
    if not parts:
        empty = np.zeros((0,), dtype=np.int64)
        return Prediction(empty, np.zeros(0, np.float32), np.zeros((0, k), np.int64), np.zeros((0, k), np.float32))
    return Prediction(*(np.concatenate(p) for p in zip(*parts)))
