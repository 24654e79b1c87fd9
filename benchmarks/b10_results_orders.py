"""B10: the Results page on a run with many name orders (issue 25: 1,000 images x 50 orders took 126 s
to first render, and the predictions CSV was rebuilt on every rerun).

Builds two finished runs on cifar10-1k (1,000 photos; the tiny model unless $SEMSCALE_MODEL_DIR), 12 names
per class, k = 1 ... 12, max + mean + probsum, B10_ORDERS name orders (default 50; the two runs differ in
their orders' seed), then times the Results page under Streamlit's AppTest (the page's own script run, no
browser): the first render of the newest run, a rerun that changes only the level slider, a plain rerun,
the second run added to the chart (its tables and the two runs' comparison read for the first time), and a
plain rerun with both.

    python benchmarks/b10_results_orders.py
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import _common as C

from semscale.data import datasets
from semscale.models.encoders import LocalEncoder
from semscale.run.config import RunConfig
from semscale.run.engine import Engine
from semscale.store.results import ResultsStore

ORDERS = int(os.environ.get("B10_ORDERS", "50"))


def build(tmp: Path) -> tuple[ResultsStore, list[str]]:
    """The two runs, newest first, made here or left by a previous call in $B10_RESULTS (the same file is
    timed again after a change)."""
    kept = os.environ.get("B10_RESULTS")
    store = ResultsStore(kept or tmp / "results.duckdb")
    done = [r.run_id for r in store.runs() if r.status == "done"]
    if len(done) < 2:
        model, about = C.model_dir(tmp)
        os.environ["SEMSCALE_DATA_DIR"] = str(C.data_dir())
        ds = datasets.load("cifar10-1k")
        labels = {c: [c] + [f"{w} {c}" for w in ("large", "small", "tiny", "huge", "young", "old", "wild", "pet",
                                                 "toy", "photo of a", "picture of a")] for c in ds.classes}
    while len(done) < 2:
        t0 = time.perf_counter()
        run_id = Engine(store, LocalEncoder(model)).run(RunConfig(
            dataset="cifar10-1k", labels=labels, schedule="linear", aggregations=["max", "mean", "probsum"],
            repeats=ORDERS, seed=len(done)))
        print(f"run {run_id}: {len(ds.samples)} images x {ORDERS} orders x 12 levels x 3 aggregations "
              f"built in {time.perf_counter() - t0:.0f} s ({about})")
        done.insert(0, run_id)
    return store, done[:2]


def timed(step) -> float:
    t0 = time.perf_counter()
    step()
    return time.perf_counter() - t0


def main() -> None:
    from streamlit.testing.v1 import AppTest

    tmp = C.tempdir("b10-")
    store, (newest, other) = build(tmp)
    os.chdir(C.ROOT)
    at = AppTest.from_file(str(C.ROOT / "pages" / "4_Results.py"), default_timeout=900)
    at.session_state["results_path"] = str(store.path)
    print(C.machine())
    print(f"| Results page, runs {newest} and {other}, {ORDERS} name orders each | seconds |\n|---|---|")
    for what, step in (("first render (page opened, the newest run chosen)", at.run),
                       ("rerun: level slider moved", lambda: at.select_slider[0].set_value(6).run()),
                       ("rerun: nothing changed", at.run),
                       ("the second run added (its first load, and the two runs compared)",
                        lambda: at.multiselect(key="results_runs").set_value([newest, other]).run()),
                       ("rerun with both: nothing changed", at.run),
                       ("rerun with both: level slider moved", lambda: at.select_slider[0].set_value(3).run())):
        print(f"| {what} | {timed(step):.1f} |", flush=True)
        assert not at.exception, at.exception


if __name__ == "__main__":
    main()
