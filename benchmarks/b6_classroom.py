"""B6: a classroom. B6_SESSIONS (default 20) browser sessions each start a run on cifar10-1k at once.

One Streamlit server (`streamlit run app.py`, the tiny test model as SEMSCALE_MODEL_DIR, a fresh
results file and home folder) and one Chromium driven by Playwright with one browser context per
student. Each student picks cifar10-1k on the Data page and opens the Run page; then every student
presses Start, one right after another. Runs go through the run queue (semscale.runqueue,
SEMSCALE_MAX_RUNS, default the CPU count). While they work, the students keep going back and forth
between the Data and Run pages: the time from clicking "Run" to the run's status line being shown
is the render time reported (median, p95, max). Each page's queue place ("queued: 5th of 12") is
recorded as seen. At the end every run must be done, its predictions identical to a lone run of
the same settings in another results file, and the shared results file must hold exactly one
prediction per image and level (no corruption).

    python benchmarks/b6_classroom.py                      # B6_SESSIONS=4 SEMSCALE_MAX_RUNS=2 for a quick look
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request

import _common as C

from semscale import runqueue
from semscale.encoders import LocalEncoder
from semscale.engine import Engine, RunConfig
from semscale.store import ResultsStore

SESSIONS = int(os.environ.get("B6_SESSIONS", "20"))
DATASET = "cifar10-1k"
CHROMIUM = "/usr/bin/chromium"
TIMEOUT = float(os.environ.get("B6_TIMEOUT", "1800"))  # s for all runs to finish


def serve(tmp, model, env_extra: dict) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, SEMSCALE_MODEL_DIR=str(model), SEMSCALE_RESULTS=str(tmp / "class.duckdb"),
               SEMSCALE_HOME=str(tmp / "home"), SEMSCALE_DATA_DIR=str(C.data_dir()), PYTHONPATH=str(C.ROOT), **env_extra)
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true", "--server.address", "127.0.0.1"],
                            cwd=C.ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            return proc, url
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("streamlit did not start")
            time.sleep(0.3)


def pick_dataset(page) -> None:
    """Pick DATASET on the Data page and open the Run page (again if the pick had not landed yet)."""
    for _ in range(5):
        page.get_by_role("link", name="Data").click()
        page.get_by_role("button", name="Use this dataset").wait_for()  # the Data page, not the last one
        page.get_by_test_id("stSelectbox").first.click()
        page.get_by_role("option", name=re.compile(re.escape(DATASET))).click()
        page.get_by_role("button", name="Use this dataset").click()
        time.sleep(2.0)  # the click's rerun stores the pick in the session
        page.get_by_role("link", name="Run", exact=True).click()
        start = page.get_by_role("button", name="Start")
        try:
            start.wait_for(timeout=15_000)
            return
        except Exception:  # Playwright's TimeoutError: the Run page asks for a dataset first
            continue
    raise RuntimeError("could not pick the dataset")


def open_run_page(page) -> float:
    """Click the Run link; seconds until the run's status line is shown."""
    t = time.perf_counter()
    page.get_by_role("link", name="Run", exact=True).click()
    page.get_by_text(re.compile(r"status (queued|running|done|cancelled|failed|interrupted)")).first.wait_for()
    return time.perf_counter() - t


def main() -> None:
    from playwright.sync_api import sync_playwright

    tmp = C.tempdir("b6")
    model, model_note = C.model_dir(tmp)
    capacity = os.environ.get(runqueue.ENV) or str(os.cpu_count())
    proc, url = serve(tmp, model, {runqueue.ENV: capacity})
    print(f"machine: {C.machine()}")
    print(f"model: {model_note}; {SESSIONS} browser sessions, dataset {DATASET}, at most {capacity} runs at once")
    renders, places, statuses = [], {}, {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"])
            pages = []
            for i in range(SESSIONS):
                page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
                page.set_default_timeout(120_000)
                page.goto(url)
                pick_dataset(page)
                pages.append(page)
            t0 = time.perf_counter()
            jobs = tmp / "home" / "jobs"
            for i, page in enumerate(pages):  # everyone presses Start (again if a rerun swallowed the click)
                for _ in range(5):
                    page.get_by_role("button", name="Start").click()
                    deadline = time.monotonic() + 5
                    while len(list(jobs.glob("*.json"))) <= i and time.monotonic() < deadline:
                        time.sleep(0.05)
                    if len(list(jobs.glob("*.json"))) > i:
                        break
            pressed_s = time.perf_counter() - t0
            run_of = {}
            while len(statuses) < SESSIONS or any(s not in ("done", "failed", "cancelled") for s in statuses.values()):
                assert time.perf_counter() - t0 < TIMEOUT, statuses
                for i, page in enumerate(pages):
                    page.get_by_role("link", name="Data").click()
                    page.get_by_text("Source").first.wait_for()
                    renders.append(open_run_page(page))
                    text = page.inner_text("body")
                    if m := re.search(r"Run (\w{10}) · \S+ · status (\w+)", text):
                        run_of[i] = m.group(1)
                        statuses[m.group(1)] = m.group(2)
                    if m := re.search(r"queued: \d+\w\w of \d+", text):
                        places.setdefault(i, m.group(0))
            total_s = time.perf_counter() - t0
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    store = ResultsStore(tmp / "class.duckdb")
    runs = {r.run_id: r for r in store.runs()}
    ids = sorted(set(run_of.values()))
    assert len(ids) == SESSIONS and all(runs[r].status == "done" for r in ids), {r: runs[r].status for r in ids}
    configs = [json.loads((tmp / "home" / "jobs" / f"{r}.json").read_text()) for r in ids]
    assert all(c == configs[0] for c in configs)
    lone = ResultsStore(tmp / "lone.duckdb")
    lone_id = Engine(lone, LocalEncoder(model)).run(RunConfig.from_dict(configs[0]))
    want = lone.predictions(lone_id)
    identical = sum(store.predictions(r).equals(want) for r in ids)
    counts = [len(store.predictions(r)) for r in ids]
    points_ok = all((store.points(r)["n_images"] == runs[r].n_images).all() for r in ids)
    assert identical == SESSIONS and points_ok and len(set(counts)) == 1, (identical, counts)

    renders.sort()
    p95 = renders[min(len(renders) - 1, int(0.95 * len(renders)))]
    print()
    print(C.table(["measure", "value"], [
        ["sessions / runs done", f"{SESSIONS} / {sum(runs[r].status == 'done' for r in ids)}"],
        ["all Start buttons pressed within", f"{pressed_s:.1f} s"],
        ["last run done after the first Start", f"{total_s:.0f} s"],
        ["runs identical to a lone run (predictions)", f"{identical} of {SESSIONS}"],
        ["predictions per run (all equal, one per image and level)", f"{counts[0]}"],
        ["Run page render: median / p95 / max", f"{statistics.median(renders):.2f} / {p95:.2f} / {renders[-1]:.2f} s "
                                                f"({len(renders)} renders)"],
        ["queue places first seen (examples)", "; ".join(sorted(set(places.values()), key=lambda s: int(re.search(r"\d+", s).group()))[:6])],
    ], "Classroom:"))
    print(f"B6 classroom: {SESSIONS} sessions, {identical}/{SESSIONS} runs identical to a lone run, done in {total_s:.0f} s; "
          f"Run page render p95 {p95:.2f} s (median {statistics.median(renders):.2f} s), at most {capacity} runs at once")


if __name__ == "__main__":
    main()
