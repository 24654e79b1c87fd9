"""One owner per run, one prediction per key, an honest order, and old results files that still open.

Each test reproduces a defect of issue #11 with the real thing: CLI subprocesses on a real photo
set, real process ids, real DuckDB files.
"""

import dataclasses
import os
import signal
import subprocess
import sys
import time

import duckdb
import pandas as pd
import psutil
import pytest
from conftest import ROOT, stop_between_commits
from test_engine import COLOUR_LABELS

from semscale.core.errors import SemscaleError
from semscale.data import datasets
from semscale.run import jobs
from semscale.run.config import RunConfig
from semscale.run.engine import Engine
from semscale.store.owners import RunOwned
from semscale.store.results import ResultsStore

ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def semscale(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "semscale", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=timeout)


def set_owner(db, run_id, pid, started, status="running"):
    con = duckdb.connect(str(db))
    try:
        con.execute("UPDATE runs SET status=?, pid=?, pid_started=?, host=? WHERE run_id=?",
                    [status, pid, started, os.uname().nodename, run_id])
    finally:
        con.close()


# --- (a) two processes on one run ---------------------------------------------------------------------

def test_resume_of_a_running_run_names_its_owner_and_leaves_it_alone(tmp_path, model_dir, shared_datasets):
    db = tmp_path / "r.duckdb"
    store = ResultsStore(db)
    err = open(tmp_path / "run.err", "w")
    proc = subprocess.Popen([sys.executable, "-m", "semscale", "--results", str(db), "run", "--dataset",
                             str(shared_datasets / "cifar10-1k"), "--local", str(model_dir), "--batch-size", "2"],
                            stdout=subprocess.DEVNULL, stderr=err, env=ENV)
    # paused (SIGSTOP) between two commits, so it is alive and unfinished while the resume looks at it
    run_id = stop_between_commits(proc, db)
    try:
        second = semscale("--results", db, "resume", run_id)
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGCONT)
    assert second.returncode == 2, second.stderr
    line = second.stderr.strip()
    assert line.count("\n") == 0 and "Traceback" not in line, line
    assert f"process {proc.pid} on {os.uname().nodename}" in line and "since" in line, line
    assert proc.wait(timeout=300) == 0, (tmp_path / "run.err").read_text()
    info = store.run(run_id)
    assert info.status == "done" and info.n_done == info.n_images == 1000
    preds = store.predictions(run_id)
    assert len(preds) == 1000 and not preds.duplicated(["aggregation", "repeat", "n_names", "image_idx"]).any()
    assert (store.points(run_id)["n_images"] == 1000).all()
    assert semscale("--results", db, "show", run_id).returncode == 0


# --- (b) a reused process id ---------------------------------------------------------------------------

def test_a_reused_pid_is_not_the_owner_and_is_never_signalled(colour_dir, results, encoder):
    run_id = Engine(results, encoder).start(RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS))
    me = psutil.Process()
    # the stored pid is alive (this very process) but started at another time: a reused pid
    set_owner(results.path, run_id, me.pid, me.create_time() - 1000.0)
    assert results.run(run_id).status == "interrupted"
    got = []
    old = signal.signal(signal.SIGTERM, lambda *_: got.append(1))
    try:
        assert jobs.cancel(results, run_id) is False
        time.sleep(0.2)
    finally:
        signal.signal(signal.SIGTERM, old)
    assert got == []
    results.claim_run(run_id)  # the dead owner's run can be taken over
    assert Engine(results, encoder).process(run_id) == "done"


def test_a_live_owner_keeps_its_run_and_cancel_reaches_it(colour_dir, results, encoder):
    run_id = Engine(results, encoder).start(RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS))
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        set_owner(results.path, run_id, owner.pid, psutil.Process(owner.pid).create_time())
        assert results.run(run_id).status == "running"
        with pytest.raises(RunOwned, match=f"process {owner.pid} on "):
            results.claim_run(run_id)
        with pytest.raises(RunOwned):
            Engine(results, encoder).process(run_id)
        assert results.run(run_id).status == "running" and results.predictions(run_id).empty
        assert jobs.cancel(results, run_id) is True
        assert owner.wait(timeout=10) == -signal.SIGTERM
    finally:
        owner.kill()


def test_cancel_with_the_live_read_run_signals_its_owner_while_the_file_is_held(colour_dir, results, encoder):
    """The dashboard's Cancel passes the run as its live view read it: no wait for a file the run holds."""
    run_id = Engine(results, encoder).start(RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS))
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        set_owner(results.path, run_id, owner.pid, psutil.Process(owner.pid).create_time())
        info = results.run(run_id)
        held = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                                 "print('held', flush=True); time.sleep(30)", str(results.path)],
                                stdout=subprocess.PIPE, text=True)  # another process holds it, as a run's commit does
        try:
            assert held.stdout.readline().strip() == "held"
            started = time.monotonic()
            assert jobs.cancel(ResultsStore(results.path, wait=5.0), run_id, info=info) is True
            assert time.monotonic() - started < 1.0
        finally:
            held.kill()
        assert owner.wait(timeout=10) == -signal.SIGTERM
        assert jobs.cancel(None, run_id, info=dataclasses.replace(info, status="done")) is False  # ended: left alone
    finally:
        owner.kill()


def test_a_claim_loses_to_one_made_after_it_judged_the_owner_dead(colour_dir, results, encoder, monkeypatch):
    """The claim is a compare-and-swap: a run taken between reading its owner and claiming it is not
    taken again."""
    from semscale.store.owners import Owner

    run_id = Engine(results, encoder).start(RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS))
    set_owner(results.path, run_id, 999_999_999, 1.0)  # a process that does not exist
    rival = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    judged = Owner.alive

    def judge_then_lose_the_race(owner):
        verdict = judged(owner)
        set_owner(results.path, run_id, rival.pid, psutil.Process(rival.pid).create_time())
        return verdict

    monkeypatch.setattr(Owner, "alive", judge_then_lose_the_race)
    try:
        with pytest.raises(RunOwned, match=f"process {rival.pid} on "):
            results.claim_run(run_id)
    finally:
        rival.kill()


def test_a_process_whose_run_was_taken_over_writes_nothing_more(colour_dir, results, encoder, per_batch_commits):
    """Belt and braces: commits and the final status come only from the recorded owner."""
    engine = Engine(results, encoder)
    run_id = engine.start(RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS, batch_size=5))
    rival = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

    def taken_over(_):
        set_owner(results.path, run_id, rival.pid, psutil.Process(rival.pid).create_time())

    try:
        with pytest.raises(SemscaleError, match="no longer owned by this process"):
            engine.process(run_id, progress=taken_over)
        info = results.run(run_id)
        assert info.status == "running" and info.owner.pid == rival.pid and info.error is None
        assert info.n_done == 5 and len(results.predictions(run_id)) == 5 * 3
    finally:
        rival.kill()


# --- (c) duplicate predictions ----------------------------------------------------------------------------

def test_the_store_refuses_a_duplicate_prediction(colour_dir, results, encoder):
    run_id = Engine(results, encoder).run(RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS, batch_size=5))
    before = results.points(run_id)
    row = results.predictions(run_id).head(1)[["aggregation", "repeat", "n_names", "image_idx", "predicted",
                                               "correct", "score", "top_names", "top_sims"]].assign(image_hash="x")
    with pytest.raises(SemscaleError, match="already has predictions"):
        results.commit_batch(run_id, "m", {}, row, pd.DataFrame(columns=["image_idx", "item", "reason"]), {})
    assert len(results.predictions(run_id)) == 24 * 3
    pd.testing.assert_frame_equal(results.points(run_id), before)
    con = duckdb.connect(str(results.path))
    try:
        with pytest.raises(duckdb.ConstraintException):
            con.execute("INSERT INTO predictions SELECT * FROM predictions LIMIT 1")
    finally:
        con.close()


# --- (e) partial runs -------------------------------------------------------------------------------------

def test_images_go_in_a_seeded_random_order_that_resume_continues(colour_dir, results, encoder, per_batch_commits):
    config = RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS, batch_size=5)
    engine = Engine(results, encoder)
    run_id = engine.start(config)
    batches = []
    assert engine.process(run_id, progress=batches.append, should_stop=lambda: len(batches) >= 2) == "cancelled"
    images = results.run_images(run_id)  # in processing order
    first = results.predictions(run_id)
    assert set(first["image_idx"]) == set(images["image_idx"][:10])
    assert first["label"].nunique() >= 3, first["label"].value_counts()  # class by class would be 2 classes
    assert sorted(images["image_idx"]) == list(range(24)) and list(images["image_idx"]) != list(range(24))
    again = Engine(results, encoder).start(config)
    assert list(results.run_images(again)["image_idx"]) == list(images["image_idx"])  # same seed, same order
    assert Engine(results, encoder).process(run_id) == "done"
    assert (results.points(run_id)["n_images"] == 24).all()


def test_show_labels_a_partial_run_and_prints_no_verdict(tmp_path, colour_dir, model_dir, per_batch_commits):
    db = tmp_path / "r.duckdb"
    store = ResultsStore(db)
    labels = {"red": ["red", "blue"], "green": ["green"], "blue": ["navy"], "yellow": ["yellow"]}
    engine = Engine(store, __import__("semscale.models.encoders", fromlist=["LocalEncoder"]).LocalEncoder(model_dir))
    run_id = engine.start(RunConfig(dataset=str(colour_dir), labels=labels, batch_size=5))
    batches = []
    engine.process(run_id, progress=batches.append, should_stop=lambda: len(batches) >= 2)
    shown = semscale("--results", db, "show", run_id)
    assert shown.returncode == 0, shown.stderr
    assert "partial: 10 of 24 images, in random order; no significance verdicts" in shown.stdout, shown.stdout
    assert "max: " not in shown.stdout and "significantly" not in shown.stdout
    report = semscale("--results", db, "report", run_id, "--out", tmp_path / "rep")
    assert report.returncode == 0, report.stderr
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "partial: 10 of 24 images" in md and "significantly" not in md and "**max**" not in md


def test_every_reader_copes_with_a_run_without_predictions(tmp_path, colour_dir, model_dir, results, encoder):
    from semscale.analysis import tables
    from semscale.analysis.threshold import thresholds

    run_id = Engine(results, encoder).start(RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS))
    set_owner(results.path, run_id, None, None, status="cancelled")
    preds = results.predictions(run_id)
    assert preds.empty and thresholds(preds) == {}
    assert tables.per_class(preds).empty and tables.class_effects(preds, "max").empty
    assert tables.confusion(preds, "max", 1).empty
    for args in (["show", run_id], ["list"], ["export", run_id, "--csv", "--out", tmp_path / "csv"],
                 ["report", run_id, "--out", tmp_path / "rep"]):
        out = semscale("--results", results.path, *args)
        assert out.returncode == 0 and "Traceback" not in out.stderr, (args, out.stderr)
    assert "partial: 0 of 24 images" in semscale("--results", results.path, "show", run_id).stdout


# --- (f) an old results file ------------------------------------------------------------------------------

OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, created TIMESTAMPTZ, updated TIMESTAMPTZ, status VARCHAR,
    dataset VARCHAR, model VARCHAR, config VARCHAR, n_images INTEGER, n_done INTEGER,
    n_rejected INTEGER, encode_seconds DOUBLE, score_seconds DOUBLE, write_seconds DOUBLE,
    elapsed DOUBLE, error VARCHAR, pid INTEGER, host VARCHAR);
CREATE TABLE IF NOT EXISTS run_images (
    run_id VARCHAR, image_idx INTEGER, name VARCHAR, label VARCHAR, path BLOB);  -- os.fsencode(path)
CREATE TABLE IF NOT EXISTS run_names (
    run_id VARCHAR, class_idx INTEGER, class VARCHAR, position INTEGER, name VARCHAR);
CREATE TABLE IF NOT EXISTS points (
    run_id VARCHAR, aggregation VARCHAR, repeat INTEGER, level INTEGER, n_names INTEGER,
    n_candidates INTEGER, n_images INTEGER, correct INTEGER, accuracy DOUBLE,
    ci_low DOUBLE, ci_high DOUBLE);
CREATE TABLE IF NOT EXISTS predictions (
    run_id VARCHAR, aggregation VARCHAR, repeat INTEGER, n_names INTEGER, image_idx INTEGER,
    image_hash VARCHAR, predicted VARCHAR, correct BOOLEAN, score FLOAT,
    top_names VARCHAR[], top_sims FLOAT[]);
CREATE TABLE IF NOT EXISTS rejected (run_id VARCHAR, image_idx INTEGER, item VARCHAR, reason VARCHAR);
CREATE TABLE IF NOT EXISTS embeddings (
    model_id VARCHAR, kind VARCHAR, hash VARCHAR, vec FLOAT[], PRIMARY KEY (model_id, hash));
"""  # semscale/store/schema.py SCHEMA up to commit eab1b75


def old_results_file(path, colour_dir, duplicates: int) -> str:
    """A results file as the old code wrote it: one done run over the colour images, every image
    scored (all right), and `duplicates` prediction rows written twice as two owners did."""
    ds = datasets.load(str(colour_dir))
    con = duckdb.connect(str(path))
    con.execute(OLD_SCHEMA)
    con.execute("INSERT INTO runs VALUES ('oldrun', now(), now(), 'done', 'colours', 'local:tiny', ?, 24, ?, 0, "
                "0, 0, 0, 1.5, NULL, 1, 'elsewhere')", ['{"dataset": "colours", "aggregations": ["max"]}',
                                                      24 + duplicates])
    for i, s in enumerate(ds.samples):
        con.execute("INSERT INTO run_images VALUES ('oldrun', ?, ?, ?, ?)",
                    [i, ds.display_name(s), s.label, os.fsencode(s.path)])
        for _copy in range(2 if i < duplicates else 1):
            con.execute("INSERT INTO predictions VALUES ('oldrun', 'max', 0, 1, ?, 'h', ?, true, 0.9, ['x'], [0.9])",
                        [i, s.label])
    for k, c in enumerate(ds.classes):
        con.execute("INSERT INTO run_names VALUES ('oldrun', ?, ?, 0, ?)", [k, c, c])
    con.execute("INSERT INTO points VALUES ('oldrun', 'max', 0, 0, 1, 4, ?, ?, 1.0, 0.9, 1.0)",
                [24 + duplicates, 24 + duplicates])
    con.close()
    return "oldrun"


def test_an_old_results_file_is_migrated_on_open_and_its_runs_still_show(tmp_path, colour_dir):
    db = tmp_path / "old.duckdb"
    run_id = old_results_file(db, colour_dir, duplicates=5)
    store = ResultsStore(db)
    info = store.run(run_id)
    assert info.status == "done" and info.n_done == 24 and info.image_order == "file"
    points = store.points(run_id)
    assert points["n_images"].tolist() == [24] and points["correct"].tolist() == [24]
    preds = store.predictions(run_id)
    assert len(preds) == 24 and not preds.duplicated(["aggregation", "repeat", "n_names", "image_idx"]).any()
    assert list(store.run_images(run_id)["image_idx"]) == list(range(24))
    assert store.run_relations(run_id) == {c: [None] for c in store.run_names(run_id)}  # schema 3: not kept before
    shown = semscale("--results", db, "show", run_id)
    assert shown.returncode == 0 and "images 24/24" in shown.stdout and "max: " in shown.stdout, shown.stderr
    assert "  red: relation not kept: red\n" in shown.stdout
    ResultsStore(db)  # a second open finds the new schema and changes nothing
    assert len(ResultsStore(db).predictions(run_id)) == 24


def test_a_schema_2_file_gains_the_names_relations_unknown(tmp_path, colour_dir, encoder):
    """Schema 2 -> 3 (issue 24): run_names gets a relation column; the older runs' relations are NULL."""
    db = tmp_path / "two.duckdb"
    run_id = Engine(ResultsStore(db), encoder).start(RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS))
    con = duckdb.connect(str(db))
    con.execute("ALTER TABLE run_names DROP COLUMN relation")
    con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    con.close()
    shown = semscale("--results", db, "show", run_id)  # a new process: the file is opened (and migrated) afresh
    assert shown.returncode == 0 and "  red: relation not kept: " in shown.stdout, shown.stderr
    con = duckdb.connect(str(db))
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("3",)
    assert con.execute("SELECT count(*), count(relation) FROM run_names").fetchone()[1] == 0
    con.close()


def test_the_pages_label_a_partial_run_and_give_no_verdict(tmp_path, colour_dir, model_dir, encoder, monkeypatch,
                                                           per_batch_commits):
    from streamlit.testing.v1 import AppTest

    db = tmp_path / "dash.duckdb"
    store = ResultsStore(db)
    engine = Engine(store, encoder)
    labels = {"red": ["red", "blue"], "green": ["green"], "blue": ["navy"], "yellow": ["yellow"]}
    partial = engine.start(RunConfig(dataset=str(colour_dir), labels=labels, batch_size=5))
    batches = []
    engine.process(partial, progress=batches.append, should_stop=lambda: len(batches) >= 2)
    empty = engine.start(RunConfig(dataset=str(colour_dir), labels=labels))
    store.finish_run(empty, "cancelled")
    for var, value in (("SEMSCALE_MODEL_DIR", model_dir), ("SEMSCALE_RESULTS", db), ("SEMSCALE_HOME", tmp_path)):
        monkeypatch.setenv(var, str(value))
    monkeypatch.chdir(ROOT)
    results = AppTest.from_file(str(ROOT / "pages" / "4_Results.py"), default_timeout=60)
    results.run()
    results.multiselect[0].set_value([partial, empty]).run()
    assert not results.exception
    warnings = [w.value for w in results.warning]
    assert any(partial in w and "PARTIAL: 10 of 24 images, in random order" in w for w in warnings), warnings
    assert any(empty in w and "0 of 24 images" in w for w in warnings), warnings
    assert not any("best accuracy" in m.value for m in results.markdown)
    live = AppTest.from_file(str(ROOT / "pages" / "3_Run.py"), default_timeout=60)
    live.session_state["watch_run"] = partial
    live.run()
    assert not live.exception
    assert any(c.value.startswith("PARTIAL: 10 of 24 images") for c in live.caption), [c.value for c in live.caption]
