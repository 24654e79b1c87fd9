"""B11: the instant what-if (issue 25): from an edit of the names to both curves and the per-class changes.

One finished run on cifar10-1k (1,000 photos) with the paper scheme's names, one more name per class at
each level, max + mean + probsum, B11_ORDERS name orders (default: 1 and 50), embedded by a 512-d model
(the tiny test model's cheap vision and text graphs widened to 512 dimensions, as a ViT-B/32's embeddings
are: its embeddings are synthetic, their size is real). Then, per run:

- library: `whatif.what_if` as the page calls it, with the page's memo and the run's baseline: the first
  edit of a dashboard process (the run's embeddings and baseline read from the results file), and later
  edits (each adds two names never seen, so each encodes exactly their two texts), median of B11_REPEATS;
- page: the Synonyms page's whole script run after such an edit, under Streamlit's AppTest (the
  backend is the same model folder; no browser: drawing the chart in the browser comes on top).

    python benchmarks/b11_whatif_page.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import _common as C
import _vit_shaped
import numpy as np

from semscale.analysis import run_embeddings
from semscale.analysis.whatif import baseline, what_if
from semscale.data import datasets
from semscale.models.encoders import LocalEncoder
from semscale.names.labels import LabelSet
from semscale.run import runs
from semscale.run.engine import Engine
from semscale.store.results import ResultsStore

ORDERS = [int(n) for n in os.environ.get("B11_ORDERS", "1,50").split(",")]
REPEATS = int(os.environ.get("B11_REPEATS", "5"))
DIM = 512


def model_512(tmp: Path) -> Path:
    """The tiny model's graphs with 512-d outputs: images `cells @ random (48 x 512)`, texts the mean of
    random 512-d token vectors (benchmarks/_vit_shaped.py's text side)."""
    import tinyclip

    tiny, folder = tinyclip.build(tmp / "tiny"), tmp / "tiny-512"
    rng = np.random.default_rng(0)
    tinyclip.write_vision(folder / "vision", rng.standard_normal((tinyclip.CELLS, DIM)).astype(np.float32))
    _vit_shaped._text(folder / "text", tiny / "text", rng)
    return folder


def edit(names: dict[str, list[str]], tag: str) -> dict[str, list[str]]:
    """Two names never seen before for the first class: an edit that encodes exactly two texts."""
    first = next(iter(names))
    return {**names, first: [*names[first], f"{tag} one {first}", f"{tag} two {first}"]}


def library(store: ResultsStore, run_id: str, encoder: LocalEncoder, names: dict) -> list[list]:
    memo: dict = {}
    timer = C.Timer()
    encoder.encode_texts = timer.wrap("encode", encoder.encode_texts)
    t = time.perf_counter()
    run = run_embeddings.load(store, run_id)
    base = baseline(store, run)
    result = what_if(store, run, LabelSet(edit(names, "first")), encoder, memo, base)
    first = time.perf_counter() - t
    rows = [["first edit (run's embeddings and baseline read from the file)", f"{first:.3f}",
             f"{timer.seconds['encode']:.3f}", result.encoded]]
    times, encodes = [], []
    for r in range(REPEATS):
        before = timer.seconds["encode"]
        t = time.perf_counter()
        result = what_if(store, run, LabelSet(edit(names, f"later{r}")), encoder, memo, base)
        times.append(time.perf_counter() - t)
        encodes.append(timer.seconds["encode"] - before)
        assert result.encoded == 2, result.encoded
    rows.append([f"each later edit (median of {REPEATS})", f"{C.median(times):.3f}", f"{C.median(encodes):.3f}",
                 result.encoded])
    return rows


def page(store: ResultsStore, model: Path, names: dict, tag: str) -> list:
    """The Synonyms page's script run after an edit that adds two new names, median of REPEATS."""
    from streamlit.testing.v1 import AppTest

    os.environ.update(SEMSCALE_MODEL_DIR=str(model), SEMSCALE_RESULTS=str(store.path),
                      SEMSCALE_HOME=str(store.path.parent / "home"))
    at = AppTest.from_file(str(C.ROOT / "pages" / "2_Synonyms.py"), default_timeout=600)
    at.session_state["dataset"] = "cifar10-1k"
    at.session_state["labels"] = {"cifar10-1k": names}
    at.run()
    deadline = time.monotonic() + 120
    while not at.get("plotly_chart"):  # the backend check answers, the run's embeddings are read
        assert not at.exception and time.monotonic() < deadline, [c.value for c in at.caption]
        time.sleep(0.5)
        at.run()
    first = next(iter(names))
    rows = [i for i, r in enumerate(at.session_state["offered"]["cifar10-1k"]) if r["class"] == first]
    times = []
    for r in range(REPEATS):
        key = f"editor_cifar10-1k_{at.session_state['labels_version']}"
        at.session_state[key] = {"edited_rows": {rows[-1]: {"name": f"{tag}page{r} one {first}"}},
                                 "added_rows": [{"class": first, "name": f"{tag}page{r} two {first}", "use": True}],
                                 "deleted_rows": []}
        t = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t)
        assert not at.exception, at.exception
        caption = next(c.value for c in at.caption if "new prompt" in c.value)
        assert "2 new prompts encoded" in caption, caption
    return [f"Synonyms page script run after an edit (median of {REPEATS})", f"{C.median(times):.3f}", "", 2]


def measure(path: str, model: str, orders: int) -> None:
    """Time the what-ifs of the run in `path` in this process: a fresh one, as a dashboard's would be (the
    process that built the run holds its garbage, and every collection of it would be timed too)."""
    os.environ["SEMSCALE_DATA_DIR"] = str(C.data_dir())
    store, model = ResultsStore(path), Path(model)
    run_id = store.runs()[0].run_id
    names = store.run_names(run_id)
    rows = library(store, run_id, LocalEncoder(model), names) + [page(store, model, names, f"o{orders}")]
    print(C.table(["edit to both curves + per-class changes", "seconds", "of which text encoding", "texts encoded"],
                  rows))
    print(f"B11 what-if ({orders} order{'s' if orders > 1 else ''}): {rows[1][1]} s per edit in the library, "
          f"{rows[2][1]} s per page run, {rows[1][3]} texts encoded (target < 1 s, only new names)", flush=True)


def main() -> None:
    tmp = C.tempdir("b11")
    os.environ["SEMSCALE_DATA_DIR"] = str(C.data_dir())
    model = model_512(tmp)
    ds = datasets.load("cifar10-1k")
    encoder = LocalEncoder(model)
    print(f"machine: {C.machine()}")
    print(f"model: the tiny test model's graphs widened to {DIM}-d (synthetic embeddings of a ViT-B/32's size)")
    for orders in ORDERS:
        store = ResultsStore(tmp / f"results-{orders}.duckdb")
        config, _ = runs.build("cifar10-1k", ds.classes, scheme="paper", schedule="linear",
                               aggregations=["max", "mean", "probsum"], repeats=orders)
        t = time.perf_counter()
        run_id = Engine(store, encoder).run(config)
        longest = max(map(len, store.run_names(run_id).values()))
        print(f"\nrun {run_id}: {len(ds.samples)} images x {len(ds.classes)} classes x {longest} names (paper scheme), "
              f"k = 1 ... {longest}, 3 aggregations, {orders} name order{'s' if orders > 1 else ''} "
              f"(built in {time.perf_counter() - t:.0f} s)", flush=True)
        subprocess.run([sys.executable, __file__, "--measure", str(store.path), str(model), str(orders)], check=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        measure(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
