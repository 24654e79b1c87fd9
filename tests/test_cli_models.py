"""`semscale run` with several --model as a user meets it: two registry models fetched from a hub
stand-in on loopback (tests/fakehub.py), one results file, real subprocesses."""

import os
import signal
import subprocess
import sys
import time

import pytest
import tinyclip
from conftest import ROOT, FinishedFirst, signal_once_committed
from fakehub import FakeHub

from semscale.store import runqueue
from semscale.store.results import ResultsStore


def test_a_failed_run_of_several_models_names_every_run_in_commands_that_finish_them(tmp_path, colour_dir, model_dir,
                                                                                       monkeypatch):
    """The nomic model's text file breaks while both runs wait in line (its session is created only
    when the run's turn comes): the error names both runs in one pasteable line, and pasting it,
    once the file is back, finishes both."""
    nomic = tinyclip.build(tmp_path / "nomic", family="nomic-v1.5")
    repos = {"Qdrant/clip-ViT-B-32-vision": model_dir / "vision", "Qdrant/clip-ViT-B-32-text": model_dir / "text",
             "nomic-ai/nomic-embed-vision-v1.5": nomic / "vision", "nomic-ai/nomic-embed-text-v1.5": nomic / "text"}
    monkeypatch.setenv("SEMSCALE_HOME", str(tmp_path / "home"))
    bin_dir = tmp_path / "bin"  # `python` on PATH is this interpreter, as in the user's shell: started by its
    bin_dir.mkdir()  # own path, so a virtual environment's stays one (a symlink elsewhere starts the base Python)
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "SEMSCALE_MODEL_DIR"}
    env |= {"FASTEMBED_CACHE_PATH": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT),
            "SEMSCALE_HOME": str(tmp_path / "home"),
            runqueue.ENV: "1", "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    db = tmp_path / "r.duckdb"
    holder = runqueue._try_lock(runqueue._folder() / "slot-0")  # both runs wait in line until it is released
    with FakeHub(repos, chunk=1 << 20, pause=0) as hub:
        env["HF_ENDPOINT"] = hub.url
        proc = subprocess.Popen([sys.executable, "-m", "semscale", "--results", str(db), "run",
                                 "--dataset", str(colour_dir),
                                 "--model", "clip-vit-b32", "--model", "nomic-v1.5"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env | {runqueue.QUEUED_ENV: str(time.time_ns())})
        try:
            deadline = time.monotonic() + 120
            while not runqueue._line():
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.1)
            text_model = next((tmp_path / "cache" / "models--nomic-ai--nomic-embed-text-v1.5")
                              .rglob("model.onnx")).resolve()
            good = text_model.read_bytes()
            text_model.write_bytes(b"not an onnx model")
        finally:
            os.close(holder)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, err
        clip_run, nomic_run = (r.run_id for r in sorted(ResultsStore(db).runs(),
                                                        key=lambda r: r.model.startswith("nomic")))
        line = err.strip().splitlines()[-1]
        assert line == (f"what was done is kept; finish them with: "
                        f"python -m semscale --results {db} resume {clip_run}; "
                        f"python -m semscale --results {db} resume {nomic_run}"), err
        assert "could not load the model nomic-v1.5" in err

        text_model.write_bytes(good)
        pasted = subprocess.run(line.split("finish them with: ", 1)[1], shell=True, capture_output=True, text=True,
                                env=env, timeout=300)
    assert pasted.returncode == 0, pasted.stderr
    runs = {r.run_id: r for r in ResultsStore(db).runs()}
    assert [(runs[r].status, runs[r].n_done) for r in (clip_run, nomic_run)] == [("done", 24), ("done", 24)]


def test_an_interrupted_run_says_how_to_finish_it_and_that_command_does(tmp_path, model_dir):
    """Ctrl-C during a run: one resume command, pasteable, which finishes the run."""
    from conftest import make_colour_images

    photos = make_colour_images(tmp_path / "many", per_class=50)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for attempt in range(3):  # a run that finished before the test could look is started again, in a new file
        db = tmp_path / f"r{attempt}.duckdb"
        proc = subprocess.Popen([sys.executable, "-m", "semscale", "--results", str(db), "run", "--dataset",
                                 str(photos), "--local", str(model_dir), "--batch-size", "2"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        try:
            run_id = signal_once_committed(proc, db, signal.SIGINT)  # Ctrl-C
            break
        except FinishedFirst:
            proc.communicate(timeout=60)
    else:
        pytest.fail("the run finished three times before the test could look at it")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    line = err.strip().splitlines()[-1]
    assert line == f"interrupted; finish it with: python -m semscale --results {db} resume {run_id}", err
    command = line.split("finish it with: ", 1)[1].replace("python", sys.executable, 1)
    for words in (["names", run_id], ["explain", run_id, "0"],
                  ["recommend", run_id, "--out", str(tmp_path / "l.yaml")]):
        # they need a finished run: the same command finishes it
        early = subprocess.run([sys.executable, "-m", "semscale", "--results", str(db), *words], capture_output=True,
                               text=True, env=env, timeout=120)
        assert early.returncode == 2 and early.stderr.strip().endswith(
            f"finish it first: python -m semscale --results {db} resume {run_id}"), early.stderr
    resumed = subprocess.run(command, shell=True, capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert (ResultsStore(db).run(run_id).status, ResultsStore(db).run(run_id).n_done) == ("done", 200)
