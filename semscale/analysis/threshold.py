"""Where does adding names stop helping? Peak, critical level and the shape after it, per curve.

The critical level is the first level after which no later level is significantly better, judged
by a paired McNemar test on the same images (alpha 0.05, no multiplicity correction: a curve
with many levels will flag some noise, which the report says). After it, the curve *declines*
when some later level is significantly worse than the critical one, else it *plateaus*; a curve
whose critical level is its last level is still *rising*.

The levels are judged on the names' given order (the first name order); the peak is that of the plotted
line, which for a run with several name orders is the mean over orders, so the sentence names the number
the chart shows, in the chart's percent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from semscale.core.stats import mcnemar
from semscale.core.wording import count

ALPHA = 0.05


@dataclass(frozen=True)
class Threshold:
    peak_level: int  # names per class at the highest accuracy (first if tied)
    peak_accuracy: float
    critical_level: int  # first level after which nothing is significantly better
    shape: str  # "rising", "plateau" or "decline"
    worse_from: int | None  # first level significantly worse than the critical one (decline only)
    orders: int = 1  # name orders the peak is the mean over

    def sentence(self) -> str:
        text = {"rising": "still rising at the last level",
                "plateau": f"plateaus from {_names(self.critical_level)} per class",
                "decline": f"stops improving at {_names(self.critical_level)} per class, then declines "
                           f"(significantly worse from {self.worse_from})"}[self.shape]
        if self.orders > 1:
            return (f"given name order: {text}; mean over {self.orders} name orders: best "
                    f"{self.peak_accuracy:.1%} at {_names(self.peak_level)}")
        return f"{text}; best accuracy {self.peak_accuracy:.1%} at {_names(self.peak_level)}"


def _names(n: int) -> str:
    return count(n, "name")


def better(a: np.ndarray, b: np.ndarray, alpha: float = ALPHA) -> bool:
    """Is outcome vector b significantly better than a on the same images?"""
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    return only_b > only_a and mcnemar(only_a, only_b) < alpha


def analyse(levels: list[int], outcomes: list[np.ndarray], alpha: float = ALPHA) -> Threshold:
    """`outcomes[i]` is the per-image correctness at `levels[i]`, images in the same order."""
    accuracy = [float(o.mean()) if len(o) else 0.0 for o in outcomes]
    peak = int(np.argmax(accuracy))
    critical = next(i for i in range(len(levels))
                    if not any(better(outcomes[i], outcomes[j], alpha) for j in range(i + 1, len(levels))))
    if critical == len(levels) - 1 and critical > 0 and better(outcomes[0], outcomes[critical], alpha):
        return Threshold(levels[peak], accuracy[peak], levels[critical], "rising", None)
    worse = next((j for j in range(critical + 1, len(levels)) if better(outcomes[j], outcomes[critical], alpha)), None)
    shape = "decline" if worse is not None else "plateau"
    return Threshold(levels[peak], accuracy[peak], levels[critical], shape,
                     levels[worse] if worse is not None else None)


def thresholds(predictions: pd.DataFrame, alpha: float = ALPHA) -> dict[str, Threshold]:
    """One Threshold per aggregation from a run's stored predictions (or `ResultsStore.outcomes`): levels
    judged on the user's name order, the peak of the mean over name orders when there are several."""
    out = {}
    for agg, every in predictions.groupby("aggregation"):
        group = every[every["repeat"] == 0]
        wide = group.pivot(index="image_idx", columns="n_names", values="correct").dropna()
        levels = sorted(wide.columns)
        found = analyse(levels, [wide[n].to_numpy(dtype=bool) for n in levels], alpha)
        orders = int(every["repeat"].nunique())
        if orders > 1:  # the plotted line: each order's accuracy, averaged
            line = every.groupby(["n_names", "repeat"])["correct"].mean().groupby("n_names").mean().loc[levels]
            found = replace(found, peak_level=int(line.idxmax()), peak_accuracy=float(line.max()), orders=orders)
        out[agg] = found
    return out
