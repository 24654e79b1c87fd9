"""Synthetic runs with known structure: fixed names, images drawn from a population on demand.

Classes are the first K axes. An image of class k is normalise(e_k + noise x g), g a standard
normal vector, so the noise decides how hard the task is. Names are built by kind:

    base:    normalise(e_k + 1.5 r)   (r a random unit vector of the name's own: a mediocre name)
    helper:  normalise(e_k + 0.3 r)   (close to the class: helps)
    harmful: normalise(e_j + 0.3 r)   (close to another class j: takes its images)
    chance:  r alone                  (no class at all: any gain on a sample is luck)

A drawn sample is a `RunEmbeddings`, as `run_embeddings.load` makes from a results file, so the
recommender and the per-name effects run on it unchanged; the true accuracy of any label set is
measured on a large independent draw.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from semscale.analysis.run_embeddings import RunEmbeddings
from semscale.core.vectors import normalize
from semscale.run.scoring import Candidates, class_scores


class Population:
    def __init__(self, names: dict[str, list[str]], dim: int = 64, noise: float = 1.0, seed: int = 0):
        """`names`: class -> name kinds, e.g. {"c0": ["base", "helper", "chance"]}; harmful points at the next class."""
        rng = np.random.default_rng(seed)
        self.classes = list(names)
        self.dim, self.noise = dim, noise
        vectors, self.names = [], {}
        for k, (cls, kinds) in enumerate(names.items()):
            self.names[cls] = [f"{cls}-{kind}-{i}" for i, kind in enumerate(kinds)]
            for kind in kinds:
                r = normalize(rng.standard_normal(dim))
                axis = np.eye(dim)[(k + 1) % len(names) if kind == "harmful" else k]
                vectors.append({"base": axis + 1.5 * r, "helper": axis + 0.3 * r, "harmful": axis + 0.3 * r,
                                "chance": axis + 1.5 * r, "random": r}[kind])
        self.name_matrix = normalize(np.array(vectors))
        self.owner = np.array([k for k, c in enumerate(self.classes) for _ in self.names[c]])

    def draw(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(images, truth): n images, classes as balanced as n allows."""
        rng = np.random.default_rng(seed)
        truth = np.arange(n) % len(self.classes)
        images = np.eye(self.dim)[truth] + self.noise * rng.standard_normal((n, self.dim)) / np.sqrt(self.dim) * 4
        return normalize(images), truth

    def run(self, n: int, seed: int, aggregations: list[str] | None = None) -> RunEmbeddings:
        images, truth = self.draw(n, seed)
        table = pd.DataFrame({"image_idx": np.arange(n), "name": [f"img{i}" for i in range(n)],
                              "label": [self.classes[k] for k in truth], "path": [f"/img{i}.png" for i in range(n)]})
        return RunEmbeddings(run_id=f"synthetic{seed}", config={"aggregations": aggregations or ["max"]},
                             classes=self.classes, names=self.names, name_matrix=self.name_matrix,
                             owner=self.owner, images=images, truth=truth, image_table=table)

    def true_accuracy(self, chosen: dict[str, list[str]], aggregation: str, n: int = 200_000,
                      seed: int = 10**6) -> float:
        """Accuracy of a label set on a large independent draw."""
        flat = [name for c in self.classes for name in self.names[c]]
        images, truth = self.draw(n, seed)
        cand = Candidates.build([[flat.index(name) for name in chosen[c]] for c in self.classes])
        return float((class_scores(images, self.name_matrix, cand, aggregation).argmax(axis=1) == truth).mean())
