"""Two runs side by side, level by level: where do two models, two settings or two label sets really differ?

Both runs must have scored the same images of the same classes; their names may differ (paper names vs
WordNet names is the key comparison), and the comparison says how. Each level's outcomes are paired image
by image. A run with several name orders is compared on its mean over orders, the quantity its plotted
line shows: per image, the share of orders that got it right. The test counts the images one run got
right more often than the other (a sign test; with one order each this is McNemar's exact test). With
many levels some p-values fall below 0.05 by chance, so Holm's step-down adjustment is given too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from semscale.core.errors import SemscaleError
from semscale.core.stats import Z95, mcnemar
from semscale.core.wording import count
from semscale.names import synonyms
from semscale.names.labels import name_key
from semscale.store.results import ResultsStore, RunInfo

KEYS = ["aggregation", "n_names"]
SHOWN = 3  # names quoted as examples of a difference


@dataclass(frozen=True)
class LevelComparison:
    aggregation: str
    n_names: int
    n_images: int
    accuracy_a: float  # mean over the run's name orders
    accuracy_b: float
    only_a: int  # images run A got right more often than B (one order each: only A right)
    only_b: int
    p_value: float  # two-sided sign test on those counts (McNemar's exact test with one order each)
    p_holm: float  # Holm-adjusted over every compared level
    low: float  # 95% interval of accuracy A - accuracy B, paired over images (normal approximation)
    high: float


@dataclass(frozen=True)
class Comparison:
    levels: list[LevelComparison]
    orders_a: int  # name orders each run's accuracy is the mean over
    orders_b: int
    names: str | None = None  # how the label sets differ; None when they are the same or unknown

    def basis(self, name_a: str = "A", name_b: str = "B") -> str:
        """What each accuracy is: one name order, or the mean over several."""
        if self.orders_a == self.orders_b == 1:
            return "each run's one name order, McNemar's test per level"
        return (f"the mean over name orders ({name_a}: {self.orders_a}, {name_b}: {self.orders_b}), the plotted "
                "line; per level a sign test on the images one run got right in more of its orders")


def _images(frame: pd.DataFrame) -> pd.Series:
    """What identifies each image_idx: its content hash when the frame has it, else name and label."""
    cols = ["image_hash"] if "image_hash" in frame else ["name", "label"]
    per = frame.drop_duplicates("image_idx").set_index("image_idx")[cols]
    return per.astype(str).agg("|".join, axis=1).sort_index()


def check_comparable(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Refuse, with the reason, two runs that did not score the same images of the same classes."""
    if a.empty or b.empty:
        raise SemscaleError(f"run {'A' if a.empty else 'B'} has no predictions to compare")
    ia, ib = _images(a), _images(b)
    if not ia.equals(ib):
        only_a, only_b = len(set(ia) - set(ib)), len(set(ib) - set(ia))
        reordered = ", or in another order" if not (only_a or only_b) else ""
        raise SemscaleError(f"the runs did not score the same images ({len(ia)} vs {len(ib)} images; {only_a} only in "
                            f"run A, {only_b} only in run B{reordered})")
    if set(a["label"].unique()) != set(b["label"].unique()):  # not row by row: millions with many name orders
        raise SemscaleError("the runs used different classes")


def _quote(names: list[tuple[str, str]]) -> str:
    shown = ", ".join(f"{c}: '{n}'" for c, n in names[:SHOWN])
    return shown + (" ..." if len(names) > SHOWN else "")


def name_differences(labels_a: dict[str, list[str]] | None, labels_b: dict[str, list[str]] | None,
                     name_a: str = "A", name_b: str = "B") -> str | None:
    """How two label sets differ, in one sentence (names added, removed, reordered); None when they do not."""
    if labels_a is None or labels_b is None or labels_a == labels_b:
        return None
    if set(labels_a) != set(labels_b):
        differ = sorted(set(labels_a) ^ set(labels_b))
        return f"the label sets have different classes ({', '.join(map(str, differ[:5]))})"
    only_a, only_b, reordered = [], [], []
    for c in labels_a:
        keys_a, keys_b = {name_key(n) for n in labels_a[c]}, {name_key(n) for n in labels_b[c]}
        only_a += [(c, n) for n in labels_a[c] if name_key(n) not in keys_b]
        only_b += [(c, n) for n in labels_b[c] if name_key(n) not in keys_a]
        shared_a = [name_key(n) for n in labels_a[c] if name_key(n) in keys_b]
        shared_b = [name_key(n) for n in labels_b[c] if name_key(n) in keys_a]
        if shared_a != shared_b:
            reordered.append(c)
    parts = [f"{name_b} has {count(len(only_b), 'name')} {name_a} lacks ({_quote(only_b)})" if only_b else "",
             f"{name_a} has {count(len(only_a), 'name')} {name_b} lacks ({_quote(only_a)})" if only_a else "",
             f"shared names in another order in {count(len(reordered), 'class', 'classes')} "
             f"({', '.join(map(str, reordered[:SHOWN]))}{' ...' if len(reordered) > SHOWN else ''})"
             if reordered else ""]
    return "the names differ: " + "; ".join(p for p in parts if p) if any(parts) else None


def _holm(p: list[float]) -> list[float]:
    order = sorted(range(len(p)), key=lambda i: p[i])
    adjusted, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def _per_image(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Each image's share of name orders right per level, and the number of orders."""
    share = frame.assign(correct=frame["correct"].astype(float)).groupby(KEYS + ["image_idx"])["correct"].mean()
    return share.rename("right").reset_index(), int(frame["repeat"].nunique())


def _interval(d: np.ndarray) -> tuple[float, float]:
    """95% interval of the mean paired difference (normal approximation); all of -1..1 below 2 images."""
    if len(d) < 2:
        return -1.0, 1.0
    half = Z95 * float(np.std(d, ddof=1)) / np.sqrt(len(d))
    return float(d.mean()) - half, float(d.mean()) + half


def compare_predictions(a: pd.DataFrame, b: pd.DataFrame, labels_a: dict | None = None,
                        labels_b: dict | None = None) -> Comparison:
    """Per (aggregation, n_names) both runs measured: each run's accuracy (the mean over its name orders)
    and the paired test. `a`, `b` are `ResultsStore.outcomes` (or `predictions`) frames; `labels_*` each
    run's {class: names} when known, to say how the names differ."""
    check_comparable(a, b)
    (share_a, orders_a), (share_b, orders_b) = _per_image(a), _per_image(b)
    merged = share_a.merge(share_b, on=KEYS + ["image_idx"], suffixes=("_a", "_b"))
    if merged.empty:
        raise SemscaleError("the runs share no level (aggregation and number of names) to compare")
    rows = []
    for (agg, n), g in merged.groupby(KEYS, sort=True):
        ra, rb = g["right_a"].to_numpy(), g["right_b"].to_numpy()
        only_a, only_b = int((ra > rb).sum()), int((ra < rb).sum())
        rows.append((str(agg), int(n), len(g), float(ra.mean()), float(rb.mean()), only_a, only_b,
                     mcnemar(only_a, only_b), _interval(ra - rb)))
    holm = _holm([r[7] for r in rows])
    return Comparison([LevelComparison(*r[:8], p_holm=h, low=r[8][0], high=r[8][1])
                       for r, h in zip(rows, holm, strict=True)],
                      orders_a, orders_b, name_differences(labels_a, labels_b))


def format_compare(comparison: Comparison, name_a: str = "A", name_b: str = "B", alpha: float = 0.05) -> str:
    """What is compared, the comparison as a plain-text table, then one sentence on where the runs differ."""
    head = ("aggregation", "names", "images", f"acc {name_a}", f"acc {name_b}", f"{name_a}-{name_b} 95% interval",
            f"{name_a} better", f"{name_b} better", "p", "p Holm")
    body = [(r.aggregation, str(r.n_names), str(r.n_images), f"{r.accuracy_a:.4f}", f"{r.accuracy_b:.4f}",
             f"{r.low:+.4f} .. {r.high:+.4f}", str(r.only_a), str(r.only_b), f"{r.p_value:.4g}", f"{r.p_holm:.4g}")
            for r in comparison.levels]
    widths = [max(len(row[i]) for row in (head, *body)) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w)
                       for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip() for row in (head, *body)]
    top = [f"accuracy: {comparison.basis(name_a, name_b)}"] + ([comparison.names] if comparison.names else [])
    return "\n".join(top + lines + [differences(comparison.levels, name_a, name_b, alpha)])


def differences(rows: list[LevelComparison], name_a: str = "A", name_b: str = "B", alpha: float = 0.05) -> str:
    """One sentence on where the runs differ, judged by the Holm-adjusted p."""
    differ = [r for r in rows if r.p_holm < alpha]
    over = f"after Holm's adjustment over {count(len(rows), 'level')}"
    if not differ:
        return f"no level differs at p < {alpha:g} {over}"
    where = ", ".join(f"{r.aggregation} {count(r.n_names, 'name')}: "
                      f"{name_a if r.accuracy_a > r.accuracy_b else name_b} better" for r in differ)
    return f"differ at p < {alpha:g} {over}: {where}"


def compare_runs(store: ResultsStore, run_a: str, run_b: str,
                 outcomes: Callable[[str], pd.DataFrame] | None = None) -> Comparison:
    """`compare_predictions` of two stored runs; a run that is not finished is refused with how far it got.
    `outcomes` reads a run's outcomes (default `store.outcomes`; the Results page passes its cached read)."""
    infos = [store.run(run_a), store.run(run_b)]
    for info in infos:
        if info.partial:
            raise SemscaleError(f"run {info.run_id} is {info.status} ({info.n_done} of {info.n_images} images); "
                                "only finished runs are compared")
    read = outcomes or store.outcomes
    return compare_predictions(*(read(i.run_id) for i in infos), *(store.run_names(i.run_id) for i in infos))


# --- paper names vs WordNet names: the comparison a class demo leads to -----------------------------------

WORDNET_FOR_PAIR = "synonyms"  # the WordNet scheme a missing run gets: other words for the same thing
# Settings two runs must share for their difference to be the names' alone (not the pixels or the prompts).
SAME = {"image_prep": "image preparation", "decode": "decode", "templates": "prompt templates"}
# What a missing run copies from the run it is paired with; levels and aggregations are compared where shared.
COPIED = ("schedule", "aggregations", "templates", "repeats", "seed", "image_prep", "decode")


def dataset_spec(r: RunInfo) -> str:
    """What a run was asked to score (a built-in's name or a folder): two folders may share a name."""
    return r.config.get("dataset") or r.dataset


def from_wordnet(scheme: str | None) -> bool:
    """Whether a run's names came from a WordNet scheme: any registered scheme but the paper's, read from
    the registry when asked, so a scheme registered later counts too."""
    return scheme in synonyms.REGISTRY and scheme != "paper"


def _side(r: RunInfo) -> str | None:
    scheme = r.config.get("scheme")
    return "paper" if scheme == "paper" else "wordnet" if from_wordnet(scheme) else None


def names_kind(config: dict) -> str:
    """Where a run's names came from, in words: paper names, WordNet names (which scheme), or the user's own."""
    scheme = config.get("scheme")
    return ("paper names" if scheme == "paper" else f"WordNet names ({scheme} scheme)" if from_wordnet(scheme)
            else "the user's own names" if config.get("labels") else "one name per class")


def _same(a: RunInfo, b: RunInfo, model: bool = True) -> list[str]:
    """What, besides the names, differs between two runs: the model (unless not asked) and the SAME settings."""
    differ = ["model"] if model and a.model != b.model else []
    return differ + [what for key, what in SAME.items() if (a.config.get(key) or None) != (b.config.get(key) or None)]


@dataclass(frozen=True)
class NamesPair:
    """On one dataset: the newest finished run with paper names and the newest with WordNet names that
    match it (same model, image preparation, decode and templates); or the one that exists and why its
    partner is missing."""

    dataset: str  # as `dataset_spec` gives it
    paper: RunInfo | None = None
    wordnet: RunInfo | None = None
    working: RunInfo | None = None  # a run of the missing side still at work on the same terms
    unmatched: str | None = None  # why a finished run of the missing side does not pair, when there is one

    @property
    def complete(self) -> bool:
        return self.paper is not None and self.wordnet is not None

    @property
    def have(self) -> RunInfo | None:
        """The one run of the pair that exists (when only one does)."""
        return None if self.complete else self.paper or self.wordnet

    @property
    def missing_scheme(self) -> str | None:
        """The scheme a run started to complete the pair uses (None: nothing to start from)."""
        if self.have is None:
            return None
        return WORDNET_FOR_PAIR if self.paper is not None else "paper"

    def settings(self) -> dict:
        """The existing run's settings, for `runs.build` of the missing one: only the names differ."""
        have = self.have.config
        return {key: have[key] for key in COPIED if key in have} | {"scheme": self.missing_scheme}

    def missing(self) -> str | None:
        """What is missing for the comparison, in one sentence; None when the pair is complete."""
        if self.complete:
            return None
        if self.have is None:
            return (f"no finished run on {self.dataset} has paper names or WordNet names yet: run the Paper preset "
                    "(Run page) and a WordNet scheme (Synonyms page) on it")
        kind = "paper names" if self.paper is not None else "WordNet names"
        other = "WordNet names" if self.paper is not None else "paper names"
        text = (f"run {self.have.run_id} has {kind}; a finished run with {other} on the same images, model, image "
                "preparation, decode and prompt templates is missing")
        if self.working is not None:
            w = self.working
            text += f" (run {w.run_id} is {w.status}: {w.n_done} of {w.n_images} images)"
        elif self.unmatched:
            text += f" ({self.unmatched})"
        return text


def names_pair(runs: list[RunInfo], dataset: str) -> NamesPair:
    """The paper-names vs WordNet-names pair of `dataset` (a `dataset_spec`) among `runs` (newest first, as
    `ResultsStore.runs`)."""
    mine = [r for r in runs if dataset_spec(r) == dataset and _side(r)]
    done = [r for r in mine if not r.partial]
    for p in (r for r in done if _side(r) == "paper"):
        w = next((r for r in done if _side(r) == "wordnet" and not _same(p, r)), None)
        if w is not None:
            return NamesPair(dataset, paper=p, wordnet=w)
    if not done:
        return NamesPair(dataset)
    have = next((r for r in done if _side(r) == "paper"), done[0])  # the paper's run is the one to match
    side = {"paper": "wordnet", "wordnet": "paper"}[_side(have)]
    working = next((r for r in mine if r.partial and r.status in ("running", "queued") and _side(r) == side
                    and not _same(have, r, model=False)), None)  # a queued run's model is not known yet
    other = next((r for r in done if _side(r) == side), None)
    unmatched = (f"run {other.run_id} has them with another {' and '.join(_same(have, other))}"
                 if other is not None else None)
    return NamesPair(dataset, **{_side(have): have}, working=working, unmatched=unmatched)
