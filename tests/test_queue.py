"""The run queue with real `python -m semscale run` processes started as the dashboard starts them:
at most SEMSCALE_MAX_RUNS work at once, the rest wait in line and say where they stand; a queued
run that is cancelled leaves the line, a killed waiter keeps no slot, and a waiting run does not
hold its model in memory."""

import dataclasses
import os
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest

from semscale.models.settings import Backend
from semscale.run import jobs
from semscale.run.config import RunConfig
from semscale.store import runqueue
from semscale.store.results import ResultsStore

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LABELS = {"red": ["red", "large red thing"], "green": ["green", "large green thing"],
          "blue": ["blue", "large blue thing"], "yellow": ["yellow", "large yellow thing"]}


@pytest.fixture
def queue_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMSCALE_HOME", str(tmp_path / "home"))
    return tmp_path


def start(colour_dir, db, model_dir) -> str:
    backend = Backend(server=None, model_dir=str(model_dir), batch_size=5)
    run_id, _ = jobs.start(RunConfig(dataset=str(colour_dir), labels=LABELS, aggregations=["max", "mean"],
                                     batch_size=2),
                           db, backend)
    return run_id


def wait_for(condition, what: str, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while not (got := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return got


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _niceness(store, run_id) -> int | None:
    """The CPU niceness of the process working on `run_id`, if it is still there."""
    try:
        return psutil.Process(store.run(run_id).owner.pid).nice()
    except (psutil.NoSuchProcess, AttributeError):
        return None


def statuses(store, run_ids) -> dict[str, str]:
    known = {r.run_id: r.status for r in store.runs()}
    return {r: known.get(r, "not yet registered") for r in run_ids}


def test_at_most_n_runs_work_at_once_and_all_finish_as_a_lone_run(queue_env, model_dir, monkeypatch):
    from conftest import make_colour_images

    colour_dir = make_colour_images(queue_env / "many", per_class=60)  # runs outlast the others' start-up
    monkeypatch.setenv(runqueue.ENV, "2")
    db = queue_env / "queue.duckdb"
    run_ids = [start(colour_dir, db, model_dir) for _ in range(4)]
    store = ResultsStore(db)
    most, places, pids = 0, set(), set()
    while (now := statuses(store, run_ids)) and not all(s == "done" for s in now.values()):
        assert not {"failed", "interrupted"} & set(now.values()), now
        most = max(most, sum(s == "running" for s in now.values()))
        pids |= {store.run(r).owner.pid for r in run_ids if now[r] in ("queued", "running")}
        places |= {str(p) for r in run_ids if (p := runqueue.place(r))}
        time.sleep(0.05)
    assert most <= 2
    # every finished run process was reaped by the dashboard's process: no zombies pile up
    wait_for(lambda: not [p for p in pids if _zombie(p)], "no zombies")
    assert any(p.startswith("queued: 1st of") for p in places), places  # the page's words
    monkeypatch.delenv(runqueue.ENV)
    lone = ResultsStore(queue_env / "lone.duckdb")
    from semscale.models.encoders import LocalEncoder
    from semscale.run.engine import Engine

    lone_id = Engine(lone, LocalEncoder(model_dir)).run(
        RunConfig(dataset=str(colour_dir), labels=LABELS, aggregations=["max", "mean"], batch_size=2))
    want = lone.predictions(lone_id)
    for run_id in run_ids:
        assert store.predictions(run_id).equals(want)
    assert runqueue._line() == []


def test_a_cancelled_queued_run_leaves_the_line_and_a_killed_waiter_keeps_no_slot(queue_env, colour_dir, model_dir,
                                                                                  monkeypatch):
    monkeypatch.setenv(runqueue.ENV, "1")
    db = queue_env / "queue.duckdb"
    store = ResultsStore(db)
    # hold the only slot from this process, so every run waits
    holder = runqueue._try_lock(runqueue._folder() / "slot-0")
    first, second, third = (start(colour_dir, db, model_dir) for _ in range(3))
    wait_for(lambda: all(runqueue.place(r) for r in (first, second, third)), "all three in line")
    assert [runqueue.place(r).position for r in (first, second, third)] == [1, 2, 3]
    assert statuses(store, [first, second, third]) == dict.fromkeys((first, second, third), "queued")
    # waiting, and setting up before it (imports, listing, registering), at the runs' lower priority
    assert all(_niceness(store, r) >= os.nice(0) + runqueue.NICENESS for r in (first, second, third))
    light = subprocess.run([sys.executable, "-c", "import sys, semscale.store.runqueue; print(sorted(m for m in "
                            "('duckdb', 'pandas', 'numpy', 'pyarrow') if m in sys.modules))"],
                           capture_output=True, text=True, cwd=ROOT, check=True)
    assert light.stdout.strip() == "[]"  # `python -m semscale` yields the CPU before these imports

    assert jobs.cancel(store, second)
    wait_for(lambda: store.run(second).status == "cancelled", "the cancelled run is recorded")
    assert runqueue.place(second) is None and str(runqueue.place(third)) == "queued: 2nd of 2"

    os.kill(store.run(first).owner.pid, signal.SIGKILL)  # a waiter dies: its ticket goes, it held no slot
    wait_for(lambda: runqueue.place(first) is None, "the dead waiter's ticket is removed")
    assert store.run(first).status == "interrupted"
    assert str(runqueue.place(third)) == "queued: 1st of 1"

    os.close(holder)  # the slot frees: the last run starts and finishes
    wait_for(lambda: store.run(third).status == "done", "the last run finishes")
    assert store.run(second).n_done == 0 and store.run(second).error == "cancelled while queued"


def test_a_killed_running_run_frees_its_slot(queue_env, model_dir, monkeypatch):
    from conftest import make_colour_images

    colour_dir = make_colour_images(queue_env / "many", per_class=200)  # long enough to catch it working
    monkeypatch.setenv(runqueue.ENV, "1")
    db = queue_env / "queue.duckdb"
    store = ResultsStore(db)
    first = start(colour_dir, db, model_dir)
    second = start(colour_dir, db, model_dir)
    running = wait_for(lambda: next((r for r in (first, second) if statuses(store, [r])[r] == "running"), None),
                       "one run works")
    other = second if running == first else first
    wait_for(lambda: statuses(store, [other])[other] == "queued", "the other waits")  # it may register later
    assert _niceness(store, running) >= os.nice(0) + runqueue.NICENESS  # it yields the CPU to the pages
    # Killed at once: a stopped process may hold the results file mid-commit, so nothing reads it in between.
    os.kill(store.run(running).owner.pid, signal.SIGKILL)
    wait_for(lambda: store.run(other).status == "done", "the waiting run takes the freed slot")
    assert store.run(running).status in ("interrupted", "done")  # killed mid-run, or it had just finished


def test_a_small_classroom_in_the_browser(tmp_path, shared_datasets):
    """B6 at test size: 4 browser sessions press Start at once while the benchmark holds the one run slot,
    so all four wait in line until each page has shown its own place (1st to 4th of 4, checked against the
    queue's line by the benchmark); every run then finishes identical to a lone run (benchmarks/b6_classroom.py)."""
    import subprocess
    import sys

    from conftest import ROOT

    env = dict(os.environ, B6_SESSIONS="4", SEMSCALE_MAX_RUNS="1", B6_TIMEOUT="400",
               SEMSCALE_DATA_DIR=str(shared_datasets))
    out = subprocess.run([sys.executable, "benchmarks/b6_classroom.py"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "4/4 runs identical to a lone run" in out.stdout, out.stdout[-3000:]
    assert re.search(r"\d s: queued: 1st of 4; queued: 2nd of 4; queued: 3rd of 4; queued: 4th of 4\b", out.stdout), \
        out.stdout[-3000:]


@pytest.fixture(scope="module")
def vit_model(tmp_path_factory, model_dir):
    """A ViT-B/32-shaped model (benchmarks/_vit_shaped.py): 350 MB of weights, plain in a process's memory
    once loaded."""
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import _vit_shaped

    return _vit_shaped.build(tmp_path_factory.mktemp("vit-shaped"), model_dir / "text")


def test_a_queued_run_waits_without_its_model_in_memory_and_loads_it_when_its_turn_comes(queue_env, colour_dir,
                                                                                           vit_model, monkeypatch):
    """Twenty students pressing Start must not mean twenty models in memory: a waiting run is
    registered under its model's id, but its process holds far less memory than one that loaded the model."""
    from semscale.models.encoders import LocalEncoder

    monkeypatch.setenv(runqueue.ENV, "1")
    db = queue_env / "queue.duckdb"
    store = ResultsStore(db)
    holder = runqueue._try_lock(runqueue._folder() / "slot-0")
    try:
        run_id = start(colour_dir, db, vit_model)
        wait_for(lambda: runqueue.place(run_id), "the run waits in line")
        assert store.run(run_id).model == LocalEncoder(vit_model).model_id
        waiting = psutil.Process(store.run(run_id).owner.pid).memory_info().rss
        script = ("import sys; from semscale.models.encoders import LocalEncoder; LocalEncoder(sys.argv[1]).load(); "
                  "print('loaded', flush=True); sys.stdin.read()")
        loaded = subprocess.Popen([sys.executable, "-c", script, str(vit_model)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
        try:
            assert loaded.stdout.readline() == "loaded\n"
            with_model = psutil.Process(loaded.pid).memory_info().rss
        finally:
            loaded.stdin.close()
            loaded.wait(30)
        weights = (vit_model / "vision" / "model.onnx").stat().st_size
        assert with_model - waiting > weights / 2, (waiting >> 20, with_model >> 20, weights >> 20)
        assert store.run(run_id).status == "queued"
    finally:
        os.close(holder)
    wait_for(lambda: store.run(run_id).status in ("done", "failed", "interrupted"), "the run finishes", timeout=300)
    info = store.run(run_id)
    assert (info.status, info.n_done, info.n_images) == ("done", 24, 24), info.error


def test_the_time_left_counts_down_from_the_last_commit():
    """300 of 1,000 images in 100 s of work: 3 images/s, 233.3 s left at the commit, 10 s less 10 s later."""
    from datetime import datetime, timedelta, timezone

    from semscale.store.results import RunInfo

    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    run = RunInfo("r", "running", "d", "m", at - timedelta(seconds=120), at, 1000, 300, 0, 100.0, None, {})
    rate, left = jobs.pace(run, at)
    assert rate == 3.0 and left == pytest.approx(700 / 3)
    assert jobs.pace(run, at + timedelta(seconds=10))[1] == pytest.approx(700 / 3 - 10)
    assert jobs.pace(run, at + timedelta(hours=1))[1] == 0.0  # overdue: the next commit says more
    assert jobs.pace(run, at - timedelta(seconds=1))[1] == pytest.approx(700 / 3)  # a clock behind the file's
    assert jobs.pace(dataclasses.replace(run, n_done=0, elapsed=None), at) == (0.0, None)
