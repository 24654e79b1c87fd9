"""B8: per-name effects and the held-out recommender on cached embeddings, no encoding.

Synthetic runs (tests/population.py): 512-d unit vectors, class k's images around axis k, each
class's names a mix of helpful, harmful, mediocre and random ones. Times `recommend` (5-fold nested
cross-validation plus the final choice) and `name_effects` for every aggregation, on
1,000 images x 10 classes x 12 names (target < 5 s) and 10,000 x 100 x 16 (target < 60 s).
Reading such a run back from a real results file (`run_embeddings.load`) is timed apart.

    python benchmarks/b8_recommend.py
"""

from __future__ import annotations

import time

import _common as C
import numpy as np
import pandas as pd
from population import Population

from semscale.analysis import run_embeddings
from semscale.analysis.name_effects import name_effects
from semscale.analysis.recommend import recommend
from semscale.run.aggregations import names as aggregation_names
from semscale.run.plan import text_hash
from semscale.store.results import ResultsStore

AGGREGATIONS = tuple(aggregation_names())  # every registered rule
KINDS = ["helper", "chance", "random", "harmful", "chance", "helper", "random", "chance"]
NOISE = 2.0  # hard: base names are often wrong, so the greedy search takes hundreds of steps
SIZES = [(1_000, 10, 12, 5.0), (10_000, 100, 16, 60.0)]


def synthetic_run(images: int, classes: int, names: int):
    kinds = ["base"] + [KINDS[i % len(KINDS)] for i in range(names - 1)]
    population = Population({f"class{k:03d}": kinds for k in range(classes)}, dim=512, noise=NOISE, seed=0)
    return population.run(images, seed=1, aggregations=list(AGGREGATIONS))


def store_run(run, path) -> tuple[ResultsStore, str]:
    """Write a synthetic run into a results file as the engine would leave it (one level, max)."""
    store = ResultsStore(path)
    model, n = "synthetic-512", len(run.truth)
    images = run.image_table.assign(path=[p.encode() for p in run.image_table["path"]])
    names = pd.DataFrame([(k, c, p, name, None) for k, c in enumerate(run.classes)
                          for p, name in enumerate(run.names[c])],
                         columns=["class_idx", "class", "position", "name", "relation"])  # relations: not known
    store.create_run("b8", "synthetic", model, {"aggregations": ["max"], "templates": [], "schedule": "1"}, images,
                     names, pd.DataFrame(columns=["image_idx", "item", "reason"]))
    hashes = [f"image{i}" for i in range(n)]
    store.put_embeddings(model, {text_hash(name): ("text", v)
                                 for name, v in zip(run.name_list, run.name_matrix, strict=True)})
    store.put_embeddings(model, {h: ("image", v) for h, v in zip(hashes, run.images, strict=True)})
    store.commit_batch("b8", model, {}, pd.DataFrame({
        "aggregation": "max", "repeat": 0, "n_names": 1, "image_idx": np.arange(n), "image_hash": hashes,
        "predicted": run.classes[0], "correct": False, "score": np.float32(0), "top_names": [[]] * n,
        "top_sims": [[]] * n}), pd.DataFrame(columns=["image_idx", "item", "reason"]), {})
    store.finish_run("b8", "done")
    return store, "b8"


def main() -> None:
    print(f"machine: {C.machine()}")
    rows, verdicts = [], []
    for images, classes, names, target in SIZES:
        run = synthetic_run(images, classes, names)
        total = 0.0
        for agg in AGGREGATIONS:
            t = time.perf_counter()
            rec = recommend(run, agg, folds=5, seed=0)
            t_rec = time.perf_counter() - t
            t = time.perf_counter()
            name_effects(run, agg)
            t_eff = time.perf_counter() - t
            total += t_rec + t_eff
            kept = int(rec.names["chosen"].sum())
            rows.append([f"{images} x {classes} x {names}", agg, f"{t_rec:.2f}", f"{t_eff:.2f}",
                         f"{rec.base.accuracy:.3f}", f"{rec.full.accuracy:.3f}", f"{rec.recommended.accuracy:.3f}",
                         f"{rec.in_sample.accuracy:.3f}", f"{kept}/{len(rec.names)}"])
        verdicts.append(f"{images} images x {classes} classes x {names} names, 5 folds, all aggregations "
                        f"(recommend + name effects): {total:.1f} s (target < {target:g} s)")
    print(C.table(["images x classes x names", "aggregation", "recommend s", "name effects s", "base acc",
                   "all names acc", "recommended (held-out)", "in-sample", "names kept"], rows))
    store, run_id = store_run(run, C.tempdir("b8") / "results.duckdb")
    t = time.perf_counter()
    loaded = run_embeddings.load(store, run_id)
    t_load = time.perf_counter() - t
    assert (np.allclose(loaded.images, run.images, atol=1e-6)
            and np.allclose(loaded.name_matrix, run.name_matrix, atol=1e-6))
    verdicts.append(f"reading the {images} x {classes} x {names} run from a results file: {t_load:.2f} s")
    print(f"peak RSS {C.peak_rss_mb():.0f} MB")
    for v in verdicts:
        print("B8:", v)


if __name__ == "__main__":
    main()
