"""Interval and threshold code against cases computed by hand."""

import math

import numpy as np
import pytest

from semscale.analysis.threshold import analyse
from semscale.core.stats import bootstrap, mcnemar


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


def test_mcnemar_is_exact_up_to_1000_discordant_pairs_and_chi_square_beyond():
    """The switch sits at 1,000 pairs, where the two differ by 0.3% at 460 vs 540.
    Exact: 2 P(Bin(1000, .5) <= 460) = 0.0124441463 (scipy.stats.binomtest(460, 1000) agrees);
    chi-square: (80 - 1)^2/1000 = 6.241 -> erfc(sqrt(3.1205)) = 0.0124826, so the exact value must come out.
    One pair more (460 vs 541): chi-square (81 - 1)^2/1001 = 6.3936, computed as written."""
    assert mcnemar(460, 540) == pytest.approx(0.0124441463, rel=1e-7)
    assert mcnemar(460, 540) != pytest.approx(math.erfc(math.sqrt(79**2 / 1000 / 2)), rel=1e-3)
    assert mcnemar(460, 541) == pytest.approx(math.erfc(math.sqrt(80**2 / 1001 / 2)), rel=1e-12)


def test_a_curve_that_keeps_rising():
    t = analyse([1, 2, 4, 8], outcomes(400, [200, 240, 280, 320]))
    assert (t.shape, t.critical_level, t.peak_level) == ("rising", 8, 8)
    assert t.sentence() == "still rising at the last level; best accuracy 80.0% at 8 names"


def test_a_curve_that_peaks_then_declines():
    t = analyse([1, 2, 4, 8, 16], outcomes(400, [200, 260, 300, 300, 220]))
    assert t.shape == "decline" and t.critical_level == 4 and t.worse_from == 16
    assert t.peak_level == 4 and t.peak_accuracy == 0.75
    assert t.sentence() == ("stops improving at 4 names per class, then declines (significantly worse from 16); "
                            "best accuracy 75.0% at 4 names")


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


def binomial_quantile(n: int, p: float, q: float) -> int:
    """Smallest k with P(Bin(n, p) <= k) >= q: summed term by term, nothing of semscale.core.stats."""
    total = 0.0
    for k in range(n + 1):
        total += math.comb(n, k) * p**k * (1 - p) ** (n - k)
        if total >= q:
            return k
    return n


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bootstrap_interval_takes_half_the_leftover_in_each_tail(seed):
    """87 right of 100: a resample's right count is Binomial(100, .87), so the percentile interval is
    its quantiles over 100. CDF(79) = .0172, CDF(80) = .0319, CDF(81) = .0564; CDF(91) = .9155,
    CDF(92) = .9569, CDF(93) = .9808. 95%: 2.5% and 97.5% -> (0.80, 0.93); 90%: 5% and 95% ->
    (0.81, 0.92). Each quantile is at least .0058 from its neighbour's CDF, ~5 standard errors at
    20,000 resamples, so the percentiles land on these steps whatever the seed."""
    correct = np.r_[np.ones(87), np.zeros(13)].astype(bool)
    assert [binomial_quantile(100, 0.87, q) for q in (0.025, 0.975, 0.05, 0.95)] == [80, 93, 81, 92]
    assert bootstrap(correct, resamples=20000, seed=seed) == pytest.approx((0.80, 0.93))
    assert bootstrap(correct, resamples=20000, seed=seed, level=0.90) == pytest.approx((0.81, 0.92))


def test_bootstrap_of_tiny_samples_by_enumeration():
    """No image: nothing known, (0, 1). One image: every resample is that image. Two images, one right:
    a resample's mean is 0, .5 or 1 with chances 1/4, 1/2, 1/4, so the 2.5% and 97.5% percentiles of
    20,000 resamples are 0 and 1 (an interval that left out image 0 would be (0, 0))."""
    assert bootstrap(np.array([], bool)) == (0.0, 1.0)
    assert bootstrap(np.array([True])) == (1.0, 1.0) and bootstrap(np.array([False])) == (0.0, 0.0)
    assert bootstrap(np.array([True, False]), resamples=20000) == (0.0, 1.0)


def test_the_verdict_names_the_plotted_line_in_percent():
    """Four images, levels 1 and 2. The given order: 2 then 3 right (peak 75% at 2 names); a second order:
    2 then 1 right. The plotted line, the mean over orders: 50% at 1 name, (75 + 25) / 2 = 50% at 2; the
    first of the tied best is 1 name."""
    import pandas as pd

    from semscale.analysis.threshold import thresholds

    right = {(0, 1): [1, 1, 0, 0], (0, 2): [1, 1, 1, 0], (1, 1): [1, 1, 0, 0], (1, 2): [1, 0, 0, 0]}
    frame = pd.DataFrame([{"aggregation": "max", "repeat": r, "n_names": n, "image_idx": i, "correct": bool(c)}
                          for (r, n), cs in right.items() for i, c in enumerate(cs)])
    given = thresholds(frame[frame["repeat"] == 0])["max"]
    assert given.sentence() == "plateaus from 1 name per class; best accuracy 75.0% at 2 names"
    both = thresholds(frame)["max"]
    assert (both.peak_level, both.peak_accuracy, both.orders) == (1, 0.5, 2)
    assert both.sentence() == ("given name order: plateaus from 1 name per class; mean over 2 name orders: "
                               "best 50.0% at 1 name")


def test_thresholds_judge_at_the_alpha_given():
    """12 images, 4 then 10 right, the 6 gains all one way: McNemar p = 2 / 2**6 = .03125, significant at
    the default .05 (still rising at 2 names) and not at .01 (a plateau from 1 name)."""
    import pandas as pd

    from semscale.analysis.threshold import thresholds

    frame = pd.DataFrame([{"aggregation": "max", "repeat": 0, "n_names": n, "image_idx": i, "correct": i < right}
                          for n, right in ((1, 4), (2, 10)) for i in range(12)])
    assert mcnemar(0, 6) == pytest.approx(0.03125)
    assert (thresholds(frame)["max"].shape, thresholds(frame)["max"].critical_level) == ("rising", 2)
    strict = thresholds(frame, alpha=0.01)["max"]
    assert (strict.shape, strict.critical_level, strict.peak_level) == ("plateau", 1, 2)


def test_a_decline_right_after_the_critical_level_is_named():
    """400 images, 200 / 300 / 200 right: level 2 is critical and level 4, the very next, is 100 images worse."""
    t = analyse([1, 2, 4], outcomes(400, [200, 300, 200]))
    assert (t.shape, t.critical_level, t.worse_from, t.peak_level) == ("decline", 2, 4, 2)


def test_levels_without_images_have_no_accuracy_to_peak_at():
    """No image scored at any level: accuracy 0 everywhere, a plateau from the first level."""
    t = analyse([1, 2], [np.zeros(0, bool), np.zeros(0, bool)])
    assert (t.shape, t.critical_level, t.peak_level, t.peak_accuracy) == ("plateau", 1, 1, 0.0)
