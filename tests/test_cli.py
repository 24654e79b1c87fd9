"""The command line as a user runs it: a real subprocess, a real results file."""

import csv
import os
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT


def semscale(*args, env=None, cwd=None):
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "semscale", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=300)


@pytest.mark.smoke
def test_run_list_show_export(tmp_path, colour_dir, model_dir):
    labels = tmp_path / "labels.yaml"
    labels.write_text(yaml.safe_dump({"classes": {c: [c, f"large {c} thing"]
                                                  for c in ["red", "green", "blue", "yellow"]},
                                      "relations": {"red": ["name", "modifier"]}}))
    db = str(tmp_path / "r.duckdb")
    out = semscale("--results", db, "run", "--dataset", str(colour_dir), "--labels", str(labels),
                   "--local", str(model_dir), "--aggregation", "max", "--aggregation", "probsum",
                   "--template", "a photo of a {}.")
    assert out.returncode == 0, out.stderr
    assert "done" in out.stdout and "probsum" in out.stdout and "1.0000" in out.stdout
    assert "img/s" in out.stderr  # progress bar
    listing = semscale("--results", db, "list")
    run_id = listing.stdout.split()[0]
    assert "done" in listing.stdout and "24/24" in listing.stdout
    shown = semscale("--results", db, "show", run_id[:6])  # a prefix is enough
    assert shown.returncode == 0 and "max" in shown.stdout
    assert "  red: name: red | modifier: large red thing\n" in shown.stdout  # issue 24: relations kept with the run
    assert "  blue: name: blue | user: large blue thing\n" in shown.stdout  # the file gave none for blue
    exported = semscale("--results", db, "export", run_id, "--csv", "--out", str(tmp_path / "csv"))
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(open(tmp_path / "csv" / f"{run_id}-points.csv")))
    assert len(rows) == 4 and {r["aggregation"] for r in rows} == {"max", "probsum"}
    preds = list(csv.DictReader(open(tmp_path / "csv" / f"{run_id}-predictions.csv")))
    assert len(preds) == 24 * 4


@pytest.mark.smoke
def test_labels_command_writes_an_editable_file(tmp_path, shared_datasets):
    out = semscale("labels", "clothing", "--scheme", "paper", "--out", str(tmp_path / "l.yaml"),
                   env={"SEMSCALE_DATA_DIR": str(shared_datasets)})
    assert out.returncode == 0, out.stderr
    data = yaml.safe_load((tmp_path / "l.yaml").read_text())
    assert data["classes"]["shoes"] == ["shoe", "shoes", "large shoe", "large shoes", "small shoe", "small shoes",
                                        "medium shoe", "medium shoes", "apparel shoe", "apparel shoes",
                                        "tiny shoe", "tiny shoes"]
    assert data["relations"]["shoes"] == ["name", "plural"] + ["modifier"] * 10


def test_bad_input_gets_one_line_and_no_traceback(tmp_path, colour_dir, model_dir):
    db = str(tmp_path / "r.duckdb")
    cases = [
        (["run", "--dataset", str(tmp_path / "nope"), "--local", str(model_dir)], "neither a built-in"),
        (["run", "--dataset", str(colour_dir), "--local", str(tmp_path)], "has no vision/model.onnx"),
        (["run", "--dataset", str(colour_dir), "--local", str(model_dir), "--schedule", "often"], "bad schedule"),
        (["run", "--dataset", str(colour_dir), "--local", str(model_dir), "--template", "no slot"], "exactly one {}"),
        (["run", "--dataset", str(colour_dir), "--labels", str(tmp_path / "x.yaml"), "--local", str(model_dir)],
         "does not exist"),
        (["show", "deadbeef"], "no run 'deadbeef'"),
    ]
    for args, message in cases:
        out = semscale("--results", db, *args)
        assert out.returncode == 2, (args, out.stderr)
        assert message in out.stderr and "Traceback" not in out.stderr, out.stderr
        assert out.stderr.strip().count("\n") == 0, out.stderr


def test_not_a_results_file(tmp_path):
    bogus = tmp_path / "bogus.duckdb"
    bogus.write_text("not a database")
    out = semscale("--results", str(bogus), "list")
    assert out.returncode == 2 and "not a usable results file" in out.stderr and "Traceback" not in out.stderr


def test_show_names_the_threshold_and_report_writes_figures(tmp_path, colour_dir, model_dir):
    db = str(tmp_path / "r.duckdb")
    labels = tmp_path / "labels.yaml"
    # Level 2 adds a wrong name to 'red' that steals 'blue' images: a drop the threshold must name.
    labels.write_text(yaml.safe_dump({"red": ["red", "blue"], "green": ["green"], "blue": ["navy"],
                                      "yellow": ["yellow"]}))
    assert semscale("--results", db, "run", "--dataset", str(colour_dir), "--labels", str(labels),
                    "--local", str(model_dir), "--repeats", "2").returncode == 0
    run_id = semscale("--results", db, "list").stdout.split()[0]
    shown = semscale("--results", db, "show", run_id)
    # level 1: 24/24 right; level 2: the 6 blue images go to 'red' (18/24), 6 discordant pairs all one
    # way: McNemar p = 2/2^6 = 0.031 < 0.05
    verdict = ("given name order: stops improving at 1 name per class, then declines (significantly worse from 2); "
               "mean over 2 name orders: best 100.0% at 1 name")
    assert "over orders" in shown.stdout and f"\nmax: {verdict}\n" in shown.stdout, shown.stdout
    assert "   0.7500  [0.551, 0.880]" in shown.stdout and "partial" not in shown.stdout
    out = semscale("--results", db, "report", run_id, "--out", str(tmp_path / "rep"))
    assert out.returncode == 0, out.stderr
    md = (tmp_path / "rep" / "report.md").read_text()
    assert f"report {run_id} --out" in md and "| max | 1 |" in md and "Critical threshold" in md
    assert f"- **max**: {verdict}." in md
    assert (tmp_path / "rep" / f"{run_id}-curve.png").stat().st_size > 10_000
    assert (tmp_path / "rep" / f"{run_id}-classes.png").read_bytes()[:4] == b"\x89PNG"


def test_dashboard_jobs_carry_the_backend_settings_to_the_run(tmp_path, colour_dir, model_dir, monkeypatch):
    import time

    from semscale.models.settings import Backend
    from semscale.run import jobs
    from semscale.run.config import RunConfig
    from semscale.store.results import ResultsStore

    monkeypatch.setenv("SEMSCALE_HOME", str(tmp_path / "home"))
    db = tmp_path / "jobs.duckdb"
    backend = Backend(server=None, model_dir=str(model_dir), timeout=7.5, retries=1, batch_size=5)
    run_id, log = jobs.start(RunConfig(dataset=str(colour_dir)), db, backend)
    store = ResultsStore(db)
    deadline = time.monotonic() + 60
    while not (store.runs() and store.run(run_id).status == "done"):
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.3)
    assert store.run(run_id).config["backend"] == {"server": None, "model_dir": str(model_dir), "model": None,
                                                   "server_model": None, "batch_size": 5, "timeout": 7.5, "retries": 1}


def test_a_broken_model_is_refused_before_a_run_is_registered(tmp_path, colour_dir, model_dir):
    """Started by hand (not queued), `run` loads the model first: a file that cannot be loaded is one
    sentence and leaves no failed run behind."""
    import shutil

    broken = shutil.copytree(model_dir, tmp_path / "broken")
    (broken / "vision" / "model.onnx").write_bytes(b"not an onnx model")
    db = tmp_path / "r.duckdb"
    out = semscale("--results", str(db), "run", "--dataset", str(colour_dir), "--local", str(broken))
    assert out.returncode != 0
    assert "could not load the model clip-vit-b32: " in out.stderr and "Traceback" not in out.stderr
    assert semscale("--results", str(db), "list").stdout.startswith("no runs in ")
