"""Run the paper's protocol (the `paper` preset) on every built-in dataset and write the report.

    python scripts/reproduce_paper.py [--out docs/results] [--results docs/results/paper.duckdb]

Each dataset gets the authors' 12 names per class (its built-in domain word, or WordNet's shared
category), k = 1 ... 12, raw names, the max rule and the authors' 224 x 224 squash, on the embedded
model ($SEMSCALE_MODEL_DIR or fastembed's ViT-B/32). The report states every setting; compare its
rows with the authors' in docs/results/README.md. Prints the exact report command at the end.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from semscale.app import report  # noqa: E402
from semscale.data import datasets  # noqa: E402
from semscale.models.encoders import for_backend  # noqa: E402
from semscale.models.settings import backend  # noqa: E402
from semscale.run import presets, runs  # noqa: E402
from semscale.run.engine import Engine  # noqa: E402
from semscale.store.results import ResultsStore  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/results")
    ap.add_argument("--results", default="docs/results/paper.duckdb")
    args = ap.parse_args()
    store = ResultsStore(args.results)
    engine = Engine(store, for_backend(backend(server=None)))
    preset = presets.get("paper")
    run_ids = []
    for name in datasets.BUILTINS:
        ds = datasets.load(name)
        config, _ = runs.build(name, ds.classes, preset=preset.name)
        run_id = engine.run(config, ds)
        print(f"{name}: run {run_id}", flush=True)
        run_ids.append(run_id)
    command = f"python -m semscale --results {args.results} report {' '.join(run_ids)} --out {args.out}"
    path = report.write(store, run_ids, args.out, command)
    print(f"wrote {path}\nregenerate the report with: {command}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
