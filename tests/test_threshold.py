"""Interval and threshold code against cases computed by hand."""

import math

import numpy as np
import pytest

from semscale.stats import bootstrap, mcnemar
from semscale.threshold import analyse


def outcomes(n_images: int, right: list[int]) -> list[np.ndarray]:
    """Level i gets the first right[i] images right: nested improvements, the easiest paired case."""
    return [np.arange(n_images) < r for r in right]


def test_mcnemar_exact_and_large_sample():
    assert mcnemar(0, 0) == 1.0
    assert mcnemar(0, 6) == pytest.approx(2 / 64)  # 2 * 0.5**6 = 0.03125
    assert mcnemar(1, 5) == pytest.approx(2 * 7 / 64)  # (C(6,0)+C(6,1)) / 2**6, doubled
    assert mcnemar(3, 3) == 1.0
    # 2000 discordant pairs, 1100 vs 900: chi2 = (200-1)^2/2000 = 19.8005
    assert mcnemar(900, 1100) == pytest.approx(math.erfc(math.sqrt(19.8005 / 2)), rel=1e-4)


def test_a_curve_that_keeps_rising():
    t = analyse([1, 2, 4, 8], outcomes(400, [200, 240, 280, 320]))
    assert (t.shape, t.critical_level, t.peak_level) == ("rising", 8, 8)


def test_a_curve_that_peaks_then_declines():
    t = analyse([1, 2, 4, 8, 16], outcomes(400, [200, 260, 300, 300, 220]))
    assert t.shape == "decline" and t.critical_level == 4 and t.worse_from == 16
    assert t.peak_level == 4 and t.peak_accuracy == 0.75
    assert "declines" in t.sentence()


def test_a_flat_curve_plateaus_at_the_first_level():
    t = analyse([1, 2, 4, 8], outcomes(400, [300, 302, 301, 300]))
    assert (t.shape, t.critical_level) == ("plateau", 1)


def test_small_gains_are_not_significant():
    # +10 images out of 400 at level 2 (10 discordant pairs, all one way): p = 2/1024 -> significant;
    # +3 images: p = 0.25 -> not significant, so the curve plateaus at level 1.
    assert analyse([1, 2], outcomes(400, [200, 210])).critical_level == 2
    assert analyse([1, 2], outcomes(400, [200, 203])).critical_level == 1


def test_bootstrap_interval_brackets_the_estimate_and_matches_theory():
    correct = np.r_[np.ones(800), np.zeros(200)].astype(bool)
    low, high = bootstrap(correct, resamples=4000, seed=1)
    # Normal approximation: 0.8 +- 1.96 * sqrt(0.8*0.2/1000) = [0.7752, 0.8248]
    assert low == pytest.approx(0.7752, abs=0.006) and high == pytest.approx(0.8248, abs=0.006)
    assert bootstrap(correct, resamples=500, seed=1) == bootstrap(correct, resamples=500, seed=1)


def test_the_verdict_names_the_plotted_line_in_percent():
    """Four images, levels 1 and 2. The given order: 2 then 3 right (peak 75% at 2 names); a second order:
    2 then 1 right. The plotted line, the mean over orders: 50% at 1 name, (75 + 25) / 2 = 50% at 2; the
    first of the tied best is 1 name."""
    import pandas as pd

    from semscale.threshold import thresholds

    right = {(0, 1): [1, 1, 0, 0], (0, 2): [1, 1, 1, 0], (1, 1): [1, 1, 0, 0], (1, 2): [1, 0, 0, 0]}
    frame = pd.DataFrame([{"aggregation": "max", "repeat": r, "n_names": n, "image_idx": i, "correct": bool(c)}
                          for (r, n), cs in right.items() for i, c in enumerate(cs)])
    given = thresholds(frame[frame["repeat"] == 0])["max"]
    assert given.sentence() == "plateaus from 1 name per class; best accuracy 75.0% at 2 names"
    both = thresholds(frame)["max"]
    assert (both.peak_level, both.peak_accuracy, both.orders) == (1, 0.5, 2)
    assert both.sentence() == ("given name order: plateaus from 1 name per class; mean over 2 name orders: "
                               "best 50.0% at 1 name")
