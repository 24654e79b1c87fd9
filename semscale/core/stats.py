"""Confidence intervals for accuracy points."""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054


def wilson(correct: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when there is no data."""
    if total <= 0:
        return 0.0, 1.0
    p = correct / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    # at 0 or all correct the bound is exactly 0 or 1; rounding could put it on the wrong side of p
    return (0.0 if correct == 0 else max(0.0, centre - half)), (1.0 if correct == total else min(1.0, centre + half))


def bootstrap(correct: np.ndarray, resamples: int = 2000, seed: int = 0, level: float = 0.95,
              chunk: int = 200) -> tuple[float, float]:
    """Percentile bootstrap interval of accuracy, resampling images with replacement.

    Works in chunks of resamples so 100,000 images never need a (resamples x images) matrix.
    """
    correct = np.asarray(correct, dtype=np.float64)
    n = len(correct)
    if n == 0:
        return 0.0, 1.0
    rng = np.random.default_rng(seed)
    means = []
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        means.append(correct[rng.integers(0, n, (size, n))].mean(axis=1))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(np.concatenate(means), [tail, 100 - tail])
    return float(low), float(high)


def mcnemar(b: int, c: int) -> float:
    """Two-sided McNemar p-value for paired outcomes: b = only the first right, c = only the second.

    Exact binomial test up to 1,000 discordant pairs, the continuity-corrected chi-square beyond.
    """
    n = b + c
    if n == 0:
        return 1.0
    if n <= 1000:
        k = min(b, c)
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
        return min(1.0, 2 * tail)
    chi2 = (abs(b - c) - 1) ** 2 / n
    return math.erfc(math.sqrt(chi2 / 2))
