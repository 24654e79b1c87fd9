"""What if the names were different? A finished run's images scored under an edited label set, at once.

The quick synonym test: the run's images are already encoded, so an edited label set costs only its
new names' text encodes and one scoring pass. The edited set is scored by the engine's own plan
(`semscale.run.plan`: `make`, `Plan.score`) with the run's settings (schedule, aggregations, prompt
templates, name orders and seed), on the run's scored images in the run's processing order and
blocks (a cold-cache run's batches), so its curve is the one a real run of the edited set stores.

Nothing is written to the results file: names missing from its embedding cache are encoded into
`memo` (the caller's, kept between edits), and no run, point or prediction is stored.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from semscale.analysis.run_embeddings import CacheOnly, RunEmbeddings
from semscale.core.errors import SemscaleError
from semscale.core.stats import wilson
from semscale.models.encoders import Encoder
from semscale.names.labels import LabelSet
from semscale.run import plan as plans
from semscale.run.config import RunConfig
from semscale.run.engine import bootstrap_intervals
from semscale.store.results import ResultsStore

WHAT_IF = "what-if"  # the run id of the edited set's points (a stored run's id is hex digits)


@dataclass(frozen=True)
class WhatIf:
    run_id: str
    points: pd.DataFrame  # store.points' columns: the run's stored points, then the edited set's (run_id WHAT_IF)
    # one row per class x aggregation at the last level (the full name lists, unless an explicit schedule
    # stops short), the run's against the edited set's: class, aggregation, edit (names added, removed,
    # reordered), images, before, after (accuracy on the class's images), change, fixed and broken
    # (images wrong -> right and right -> wrong)
    classes: pd.DataFrame
    encoded: int  # texts encoded for it: those neither the embedding cache nor `memo` had


@dataclass(frozen=True)
class Baseline:
    """What a what-if reads of its run's stored results: a finished run never changes, so a caller that
    keeps it (the Synonyms page) reads the results file once per run, not at every edit."""

    model: str
    points: pd.DataFrame  # the run's stored points
    correct: dict[str, np.ndarray]  # per aggregation, each image (in `run`'s order) right at the run's last
    # level, in the given name order


def baseline(store: ResultsStore, run: RunEmbeddings) -> Baseline:
    """The run's stored points and its given order's predictions at its last level."""
    points = store.points(run.run_id)
    last = int(points["n_names"].max())
    stored = store.predictions(run.run_id, n_names=last, repeat=0)
    correct = {}
    for agg in _config(run).aggregations:
        right = stored[stored["aggregation"] == agg].set_index("image_idx")["correct"].reindex(
            run.image_table["image_idx"])
        if right.isna().any():
            raise SemscaleError(f"run {run.run_id} lacks the {agg} predictions of {int(right.isna().sum())} "
                                f"images at {last} names")
        correct[agg] = right.to_numpy(bool)
    return Baseline(store.run(run.run_id).model, points, correct)


def what_if(store: ResultsStore, run: RunEmbeddings, labels: LabelSet, encoder: Encoder | None = None,
            memo: dict[str, np.ndarray] | None = None, before: Baseline | None = None) -> WhatIf:
    """The run's curve and the curve of `labels` with the run's settings, and the per-class changes.

    `encoder` must compute the run's model (None: names missing from the cache are an error);
    `memo` (text hash -> vector) keeps what it encodes, so the next edit encodes only its new names;
    `before`: the run's `baseline`, when the caller keeps it (None: read now).
    """
    if set(labels.classes) != set(run.classes):
        extra, missing = set(labels.classes) - set(run.classes), set(run.classes) - set(labels.classes)
        raise SemscaleError(f"the label set's classes are not run {run.run_id}'s: "
                            + "; ".join(f"{what}: {', '.join(sorted(cs))}" for what, cs in
                                        (("not in the run", extra), ("missing", missing)) if cs))
    before = before or baseline(store, run)
    encoder = encoder or CacheOnly(before.model, run.run_id)
    if encoder.model_id != before.model:
        raise SemscaleError(f"run {run.run_id} was made with model {before.model}, the backend computes "
                            f"{encoder.model_id}: a what-if needs the run's model")
    labels = LabelSet({c: labels.names[c] for c in run.classes})  # the run's class order: ties go to the earlier class
    config = _config(run)
    plan = plans.make(encoder, store, config, labels, memo=memo)
    order, blocks = _processing_order(run, config.batch_size)
    truth = run.truth[order]
    predictions = _score_on_one_thread(plan, run.images[order], blocks)
    aggs = config.aggregations
    correct = np.stack([[level[agg].predicted for agg in aggs] for level in predictions]) == truth  # levels x aggs
    hits = correct.sum(axis=2)
    ns = sorted({n for _, n, _ in plan.levels})
    points = pd.DataFrame([
        (agg, rep, ns.index(n), n, len(cand.rows), len(truth), int(hits[i, a]), hits[i, a] / len(truth),
         *wilson(int(hits[i, a]), len(truth)), WHAT_IF)
        for i, (rep, n, cand) in enumerate(plan.levels) for a, agg in enumerate(aggs)],
        columns=["aggregation", "repeat", "level", "n_names", "n_candidates", "n_images", "correct", "accuracy",
                 "ci_low", "ci_high", "run_id"])
    if config.interval == "bootstrap":  # as the engine computes them when a run ends
        image_idx = run.image_table["image_idx"].to_numpy()[order]
        outcomes = pd.DataFrame([(agg, rep, n, i, ok) for (rep, n, _), level in zip(plan.levels, correct, strict=True)
                                 for agg, right in zip(aggs, level, strict=True)
                                 for i, ok in zip(image_idx, right, strict=True)],
                                columns=["aggregation", "repeat", "n_names", "image_idx", "correct"])
        points = points.drop(columns=["ci_low", "ci_high"]).merge(
            bootstrap_intervals(outcomes, config.seed), on=["aggregation", "repeat", "n_names"])[points.columns]
    points = points.astype(before.points.dtypes.to_dict())  # the store's column types: one frame, one chart
    last = max(range(len(plan.levels)), key=lambda i: (plan.levels[i][0] == 0, plan.levels[i][1]))  # order 0's
    classes = _class_changes(run, labels, before, order, dict(zip(aggs, correct[last], strict=True)))
    return WhatIf(run.run_id, pd.concat([before.points, points], ignore_index=True), classes, plan.names.encoded)


_BLAS_LIMIT = threading.Lock()  # the BLAS thread limit is the process's: what-ifs set and restore it in turn


def _score_on_one_thread(plan: plans.Plan, images: np.ndarray, blocks: list[slice]) -> list:
    """`plan.score` with one BLAS thread. Each block's product is small (a batch of images against the
    names), and on a busy machine OpenBLAS's threads wait for a core longer than they compute: an edit
    took 2.2 s instead of 0.7 s at load 10 on 2 cores (benchmarks/b11_whatif_page.py). The thread count
    does not change a product's bits; its blocks do, and they are the engine's."""
    with _BLAS_LIMIT, threadpool_limits(1, user_api="blas"):
        return plan.score(images, blocks, top_names=False)  # the predicted classes are all it reads


def _processing_order(run: RunEmbeddings, batch_size: int) -> tuple[np.ndarray, list[slice]]:
    """The run's images in the order it processed them, and the blocks a cold-cache run scored them
    in: each batch of `batch_size` files without its rejected ones."""
    if run.position is None:
        order = np.arange(len(run.truth))
        batch = order // batch_size
    else:
        order = np.argsort(run.position, kind="stable")
        batch = run.position[order] // batch_size
    starts = np.flatnonzero(np.r_[True, batch[1:] != batch[:-1]]) if len(batch) else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], len(batch)]
    return order, [slice(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def _class_changes(run: RunEmbeddings, labels: LabelSet, before: Baseline, order: np.ndarray,
                   after: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per class and aggregation: accuracy at the run's last level (its stored predictions, the given
    name order) against the edited set's last level (`after`, images in `order`)."""
    truth, k = run.truth[order], len(run.classes)
    images = np.bincount(truth, minlength=k)
    edits = [_edit(run.names[c], labels.names[c]) for c in run.classes]
    rows = []
    for agg, now in after.items():
        was = before.correct[agg][order]
        right_before, right_now = (np.bincount(truth[ok], minlength=k) for ok in (was, now))
        fixed, broken = (np.bincount(truth[ok], minlength=k) for ok in (now & ~was, was & ~now))
        with np.errstate(invalid="ignore"):  # a class without images: NaN
            b, a = right_before / images, right_now / images
        rows += [(cls, agg, edits[i], int(images[i]), b[i], a[i], a[i] - b[i], int(fixed[i]), int(broken[i]))
                 for i, cls in enumerate(run.classes)]
    return pd.DataFrame(rows, columns=["class", "aggregation", "edit", "images", "before", "after", "change",
                                       "fixed", "broken"])


def _edit(before: list[str], after: list[str]) -> str:
    """What changed in one class's names, in words: '' when nothing did."""
    added = [n for n in dict.fromkeys(after) if n not in before]
    removed = [n for n in dict.fromkeys(before) if n not in after]
    kept_before = [n for n in before if n in after]
    kept_after = [n for n in after if n in before]
    parts = ([f"added {', '.join(added)}"] if added else []) + ([f"removed {', '.join(removed)}"] if removed else [])
    if kept_before != kept_after:
        parts.append("reordered")
    return "; ".join(parts)


SETTINGS = ("schedule", "aggregations", "templates", "repeats", "seed", "batch_size", "interval", "image_prep",
            "decode")  # what a what-if keeps of its run: everything that changes its numbers but the names


def run_settings(run: RunEmbeddings) -> dict:
    """The run's settings as `runs.build` takes them, so that saving a what-if as a run runs what it showed
    (a run stored without a decode decoded "exact")."""
    config = _config(run)
    return {key: getattr(config, key) for key in SETTINGS}


def _config(run: RunEmbeddings) -> RunConfig:
    return RunConfig.from_dict({"decode": "exact", **run.config})  # as the engine reads a stored run's
