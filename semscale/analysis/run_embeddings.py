"""A finished run's cached embeddings as matrices: every scored image and every name, no encoder.

Per-name effects, the recommender and "explain one image" re-score a run under other label sets;
everything they need is already in the results file's embedding cache. The name matrix is built
by the engine's own `NameEmbeddings` (mean over prompt templates, re-normalised) with an encoder
that refuses to encode, so a name the cache lacks is an error, never a silent new encode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from semscale.core.errors import SemscaleError
from semscale.core.vectors import CLIP_HEAD, Head, normalize
from semscale.core.wording import count
from semscale.models.registry import for_model_id
from semscale.run import pasteable
from semscale.run.plan import NameEmbeddings
from semscale.store.results import ResultsStore


@dataclass(frozen=True)
class RunEmbeddings:
    """Images (rows ordered by image_idx) and names (rows grouped by class, run order) of one run."""

    run_id: str
    config: dict
    classes: list[str]
    names: dict[str, list[str]]  # class -> names, base name first
    name_matrix: np.ndarray  # (T, D) unit rows, class 0's names first
    owner: np.ndarray  # (T,) class index of each name row
    images: np.ndarray  # (N, D) unit rows of the scored images
    truth: np.ndarray  # (N,) true class index
    image_table: pd.DataFrame  # image_idx, name, label, path: one row per scored image, same order
    head: Head = CLIP_HEAD  # the run's model's cosine-to-probability head (probsum)
    # (N,) each image's place in the run's processing order, rejected files counted (None: image order);
    # the engine scores images in blocks of that order, and a float32 product's last bits follow the blocks
    position: np.ndarray | None = None

    @property
    def name_rows(self) -> list[list[int]]:
        """Name-matrix rows of each class, base name first: the run's full lists, as the engine scored them."""
        return [np.flatnonzero(self.owner == k).tolist() for k in range(len(self.classes))]

    @property
    def choice_rows(self) -> list[list[int]]:
        """`name_rows` without exact repeats of a name in its class (the paper scheme pads short lists
        with them so every class has as many names; a label file cannot hold a name twice)."""
        names = self.name_list
        return [[r for i, r in enumerate(rows) if names[r] not in {names[q] for q in rows[:i]}]
                for rows in self.name_rows]

    @property
    def name_list(self) -> list[str]:
        return [n for c in self.classes for n in self.names[c]]

    def cosines(self) -> np.ndarray:
        """(N, T) cosine of every image with every name, float32 as the engine computes them."""
        return self.images @ self.name_matrix.T


class CacheOnly:
    """An encoder that has nothing but a model id: asked to encode, it says what is missing."""

    def __init__(self, model_id: str, run_id: str):
        self.model_id = model_id
        self.run_id = run_id
        self.dim = None  # the cache's own (see ResultsStore.get_embeddings)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        shown = ", ".join(repr(t) for t in list(texts)[:3]) + (" ..." if len(texts) > 3 else "")
        raise SemscaleError(f"run {self.run_id}: the embedding cache of model {self.model_id} lacks "
                            f"{count(len(texts), 'prompt')} ({shown}); the cache was cleared or the run came from "
                            "another file")


def load(store: ResultsStore, run_id: str, results: str | None = None) -> RunEmbeddings:
    """The embeddings of a finished run; a run that is not done is refused with its status and reason,
    and the command that finishes it (naming `results`, the results file the user named, if any)."""
    info = store.run(run_id)
    run_id = info.run_id
    if info.status != "done":
        reason = f": {info.error}" if info.error else ""
        raise SemscaleError(f"run {run_id} is {info.status} ({info.n_done} of {info.n_images} images){reason}; "
                            f"finish it first: {pasteable.command(results, 'resume', run_id)}")
    names = store.run_names(run_id)
    classes = list(names)
    flat = [n for c in classes for n in names[c]]
    vectors = NameEmbeddings(CacheOnly(info.model, run_id), store, flat, info.config.get("templates") or [])
    hashes = store.image_hashes(run_id)
    table = store.run_images(run_id)  # in processing order
    table = (table.assign(position=np.arange(len(table)))[table["image_idx"].isin(hashes)]
             .sort_values("image_idx").reset_index(drop=True))
    if table.empty:
        raise SemscaleError(f"run {run_id} has no scored image")
    cached = store.get_embeddings(info.model, list(hashes.values()))
    missing = [h for h in hashes.values() if h not in cached]
    if missing:
        raise SemscaleError(f"run {run_id}: the cache of model {info.model} lacks "
                            f"{count(len(missing), 'image embedding')}; the cache was cleared or the run came "
                            "from another file")
    images = normalize(np.stack([cached[hashes[i]] for i in table["image_idx"]]))
    index = {c: k for k, c in enumerate(classes)}
    return RunEmbeddings(
        run_id=run_id, config=info.config, classes=classes, names=names,
        name_matrix=vectors.matrix[vectors.rows(flat)],
        owner=np.array([index[c] for c in classes for _ in names[c]], np.int64),
        images=images, truth=table["label"].map(index).to_numpy(np.int64),
        image_table=table.drop(columns="position"), head=for_model_id(info.model).head,
        position=table["position"].to_numpy(np.int64))
