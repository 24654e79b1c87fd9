"""Unit vectors and the model head that turns their cosines into probabilities: the numeric ground
every other module stands on (NumPy only, no semscale imports)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


CLIP_HEAD = Head()  # CLIP's learned temperature, fixed at 100 in released models


def normalize(x: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as `dtype`: float32 for scoring, float64
    where an encoder's output is compared with a reference (the model fingerprint and probe)."""
    x = np.asarray(x, dtype=dtype)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norms == 0, 1, norms)
