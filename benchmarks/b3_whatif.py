"""B3: what-if. After a cached run on >= 1,000 photos, edit one class's names and run again.

Measures the time from starting the second run to its complete accuracy curve (every level x
aggregation on every image), and how many images and texts it encoded (only the new names
should be). The edited re-run is repeated with fresh names each time, so every repeat encodes
exactly the edited names, for the CLI's default batch size (32) and larger batches. The last
table shows the same re-run through the command line, process start included.

    python benchmarks/b3_whatif.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import _common as C
import yaml

from semscale.data import datasets
from semscale.models.encoders import LocalEncoder
from semscale.names.synonyms import paper_names
from semscale.run.config import RunConfig
from semscale.run.engine import Engine
from semscale.store.results import ResultsStore

AGGREGATIONS = ["max", "mean", "probsum"]
REPEATS = int(os.environ.get("B3_REPEATS", "3"))
EDITED = "cat"


def edited_labels(labels: dict[str, list[str]], tag: str) -> tuple[dict[str, list[str]], list[str]]:
    """One class gets four new extra names (its base name stays); returns the set and the new names."""
    cls = EDITED if EDITED in labels else next(iter(labels))
    new = [f"{w} {cls} {tag}" for w in ("tabby", "fluffy", "house", "sleepy")]
    return dict(labels, **{cls: [cls] + new}), new


def main() -> None:
    tmp = C.tempdir("b3")
    model, model_note = C.model_dir(tmp)
    folder, data_note = C.dataset_folder("cifar10-1k", tmp, classes=10, per_class=100, size=32)
    ds = datasets.from_folder(folder)
    labels = {c: paper_names(c) for c in ds.classes}
    encoder = LocalEncoder(model)
    store = ResultsStore(tmp / "results.duckdb")
    print(f"machine: {C.machine()}")
    print(f"model: {model_note}")
    print(f"data: {data_note}, {len(ds.samples)} images, {len(labels)} classes x 5 names, "
          f"levels 1,2,4,5 x {len(AGGREGATIONS)} aggregations")

    first = Engine(store, encoder)
    t = time.perf_counter()
    first.run(RunConfig(dataset=str(folder), labels=labels, aggregations=AGGREGATIONS))
    cold = time.perf_counter() - t
    rows = [["first run (cold cache)", 32, f"{cold:.2f}", "", first.encoded_images, first.encoded_texts]]

    results = {}
    for batch in (32, 256, 1000):
        times, firsts = [], []
        for r in range(REPEATS):
            names, new = edited_labels(labels, f"b{batch}r{r}")
            engine = Engine(store, encoder)
            seen: list[float] = []
            t = time.perf_counter()
            run_id = engine.run(RunConfig(dataset=str(folder), labels=names, aggregations=AGGREGATIONS,
                                          batch_size=batch),
                                progress=lambda p, seen=seen, t=t: seen.append(time.perf_counter() - t))
            times.append(time.perf_counter() - t)
            firsts.append(seen[0])
            pts = store.points(run_id)
            assert (pts["n_images"] == len(ds.samples)).all() and pts["accuracy"].notna().all()
            assert (engine.encoded_images == 0
                    and engine.encoded_texts == len(new)), (engine.encoded_images, engine.encoded_texts)
        results[batch] = C.median(times)
        rows.append([f"edited re-run, median of {REPEATS}", batch, f"{C.median(times):.3f}", f"{C.median(firsts):.3f}",
                     engine.encoded_images, engine.encoded_texts])
    print()
    print(C.table(["run", "batch", "s to full curve", "s to first batch", "images encoded", "texts encoded"], rows,
                  "In-process (Engine.run, model already loaded):"))

    # The same what-if as a user types it: a new process, model load included.
    names, new = edited_labels(labels, "cli")
    label_file = tmp / "edited.yaml"
    label_file.write_text(yaml.safe_dump({"classes": names}))
    env = dict(os.environ, PYTHONPATH=str(C.ROOT))
    cli_rows = []
    for batch in (32, 1000):
        names, new = edited_labels(labels, f"cli{batch}")
        label_file.write_text(yaml.safe_dump({"classes": names}))
        cmd = [sys.executable, "-m", "semscale", "--results", str(tmp / "results.duckdb"), "run",
               "--dataset", str(folder), "--labels", str(label_file), "--local", str(model),
               "--batch-size", str(batch)]
        for agg in AGGREGATIONS:
            cmd += ["--aggregation", agg]
        t = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=C.ROOT, timeout=600)
        wall = time.perf_counter() - t
        assert out.returncode == 0, out.stderr[-2000:]
        info = store.runs(limit=1)[0]
        cli_rows.append([f"semscale run --batch-size {batch}", f"{wall:.2f}", f"{info.elapsed:.2f}"])
    print()
    print(C.table(["command (edited labels, warm cache)", "wall s incl. Python start + imports + model load",
                   "s in the engine (stored)"], cli_rows, "Command line:"))
    best = min(results, key=results.get)
    print(f"B3 what-if: {results[32]:.2f} s to the new curve at the default batch size 32 "
          f"({results[best]:.2f} s at batch {best}), {len(ds.samples)} images, "
          f"{engine.encoded_images} image and {engine.encoded_texts} text encodes (target < 1 s, only new names)")


if __name__ == "__main__":
    main()
