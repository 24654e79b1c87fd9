"""Reproduce the paper's qualitative experiment on every built-in dataset and write the report.

    python scripts/reproduce_paper.py [--out docs/results] [--results docs/results/paper.duckdb]

For each dataset: the paper's variation scheme and WordNet synonyms, all three aggregations,
exponential schedule, 3 name orders, bootstrap intervals, with the embedded CLIP model
($SEMSCALE_MODEL_DIR or fastembed's ViT-B/32). Prints the exact report command at the end.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from semscale import datasets, report, synonyms  # noqa: E402
from semscale.engine import Engine, RunConfig  # noqa: E402
from semscale.settings import backend  # noqa: E402
from semscale.store import ResultsStore  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/results")
    ap.add_argument("--results", default="docs/results/paper.duckdb")
    args = ap.parse_args()
    store = ResultsStore(args.results)
    engine = Engine(store, backend(server=None).encoder())
    run_ids = []
    for name, builtin in datasets.BUILTINS.items():
        ds = datasets.load(name)
        for scheme in synonyms.SCHEMES:
            labels = synonyms.generate(ds.classes, scheme, builtin.broad)
            config = RunConfig(dataset=name, labels=labels.names, aggregations=["max", "mean", "probsum"],
                               templates=["a photo of a {}."], repeats=3, interval="bootstrap")
            run_id = engine.run(config, ds)
            print(f"{name} / {scheme}: run {run_id}", flush=True)
            run_ids.append(run_id)
    command = f"python -m semscale --results {args.results} report {' '.join(run_ids)} --out {args.out}"
    path = report.write(store, run_ids, args.out, command)
    print(f"wrote {path}\nregenerate the report with: {command}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
