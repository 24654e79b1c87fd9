"""The plan of a run, fixed before its first batch: the seeded order it goes through its images in, its
name orders, each name's embedding (encoded once, cached), and every (order, level)'s candidate labels."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from semscale.core.vectors import Head, normalize
from semscale.models import registry
from semscale.models.encoders import Encoder
from semscale.names.labels import LabelSet
from semscale.run import schedule
from semscale.run.config import RunConfig
from semscale.run.scoring import Candidates, Prediction, Sweep
from semscale.store.results import ResultsStore


def text_hash(text: str) -> str:
    return hashlib.sha256(("text\0" + text).encode("utf-8")).hexdigest()


def name_orders(labels: LabelSet, repeats: int, seed: int) -> list[LabelSet]:
    """Repeat 0 keeps the user's order; the others shuffle each class's extra names (seeded)."""
    rng = np.random.default_rng(seed)
    out = [labels]
    for _ in range(repeats - 1):
        order = {c: [int(i) for i in rng.permutation(len(v) - 1)] for c, v in labels.names.items()}
        out.append(labels.reordered(order))
    return out


def image_order(n_images: int, seed: int) -> np.ndarray:
    """The seeded random order a run goes through its images in: any prefix is a fair sample."""
    return np.random.default_rng((seed, 1)).permutation(n_images)  # a stream apart from name_orders'


@dataclass
class Plan:
    """What every batch of a run is scored against."""

    names: "NameEmbeddings"
    classes: list[str]
    aggregations: list[str]
    head: Head  # how the model turns cosines into name probabilities (probsum)
    image_prep: str
    levels: list[tuple[int, int, Candidates]]  # (name order, names per class, candidate labels)
    sweep: Sweep = field(init=False)  # every level of every name order, laid out once to score together

    def __post_init__(self):
        self.sweep = Sweep(self.names.matrix, [cand for _, _, cand in self.levels])

    def score(self, image_matrix: np.ndarray, blocks: list[slice],
              top_names: bool = True) -> list[dict[str, Prediction]]:
        """Per level of `levels`, each aggregation's Prediction for every row of the unit `image_matrix`:
        every level of every name order from one cosine matrix per block of rows (`blocks` cover the rows
        in order; a float32 product's last bits depend on the rows it is computed with). Without
        `top_names` the Predictions hold no top names (a what-if needs the predicted classes only)."""
        return self.sweep.predict(image_matrix, self.aggregations, self.head, blocks, top_names)


class NameEmbeddings:
    """Unit-norm embedding per distinct name (mean over prompt templates), encoded once and cached.

    `memo` (text hash -> vector) stands in for the cache's writes: texts it holds are not encoded
    again, and new encodes go into it instead of the results file (a what-if stores nothing)."""

    def __init__(self, encoder: Encoder, store: ResultsStore, names: list[str], templates: list[str],
                 batch_size: int = 256, memo: dict[str, np.ndarray] | None = None):
        self.index = {n: i for i, n in enumerate(dict.fromkeys(names))}
        prompts = {n: [t.format(n) for t in templates] or [n] for n in self.index}
        texts = list(dict.fromkeys(p for ps in prompts.values() for p in ps))
        model_id = encoder.model_id  # a server's first: it learns the embedding size
        cached = store.get_embeddings(model_id, [text_hash(t) for t in texts], dim=encoder.dim)
        if memo is not None:
            cached.update({h: memo[h] for t in texts if (h := text_hash(t)) in memo and h not in cached})
        missing = [t for t in texts if text_hash(t) not in cached]
        self.encoded = len(missing)
        for start in range(0, len(missing), batch_size):
            chunk = missing[start : start + batch_size]
            vecs = encoder.encode_texts(chunk)
            new = {text_hash(t): ("text", v) for t, v in zip(chunk, vecs, strict=True)}
            if memo is None:
                store.put_embeddings(model_id, new)
            else:
                memo.update({h: v for h, (_, v) in new.items()})
            cached.update({h: v for h, (_, v) in new.items()})
        self.matrix = np.stack([
            normalize(normalize(np.stack([cached[text_hash(p)] for p in prompts[n]])).mean(axis=0))
            for n in self.index
        ]).astype(np.float32)

    def rows(self, names: list[str]) -> list[int]:
        return [self.index[n] for n in names]


def make(encoder: Encoder, store: ResultsStore, config: RunConfig, labels: LabelSet,
         memo: dict[str, np.ndarray] | None = None) -> Plan:
    """Encode (or fetch) every name once and build each (order, level)'s candidates; every aggregation
    of a level is scored together. `plan.names.encoded` counts the names encoded now (`memo`: see
    NameEmbeddings). Stores nothing but new text embeddings (none with a `memo`)."""
    levels = schedule.parse(config.schedule, labels.max_names)
    orders = name_orders(labels, config.repeats, config.seed)
    names = NameEmbeddings(encoder, store, [n for ls in orders for ns in ls.names.values() for n in ns],
                           config.templates, memo=memo)
    return Plan(names, labels.classes, config.aggregations, registry.for_model_id(encoder.model_id).head,
                config.image_prep, [
        (rep, n, Candidates.build([names.rows(active[c]) for c in labels.classes]))
        for rep, ordered in enumerate(orders) for n in levels for active in [ordered.active(n)]])


def build(encoder: Encoder, store: ResultsStore, run_id: str, config: RunConfig, labels: LabelSet) -> Plan:
    """The run's plan (`make`), and its curve points registered."""
    plan = make(encoder, store, config, labels)
    levels = schedule.parse(config.schedule, labels.max_names)
    store.init_points(run_id, pd.DataFrame(
        [(agg, rep, levels.index(n), n, len(c.rows), 0, 0, None, 0.0, 1.0)
         for rep, n, c in plan.levels for agg in config.aggregations],
        columns=["aggregation", "repeat", "level", "n_names", "n_candidates", "n_images", "correct",
                 "accuracy", "ci_low", "ci_high"]))
    return plan
