"""A new user's first hour (issue 14): install, first model start, hints that paste, messages that say why.

Real subprocesses, real venv, real sockets on loopback; the test machine has no network, so the
"no hub" case is real, and a closed loopback port stands in for an unreachable hub everywhere.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import shutil
import site
import socket
import subprocess
import sys
import time
import urllib.request
import venv
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, make_colour_images
from dashboard_server import start_dashboard
from streamlit.testing.v1 import AppTest

from semscale.models import health, settings


def semscale(*args, env=None, cwd=None, timeout=300):
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "semscale", *map(str, args)], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)


def paste(hint: str, cwd, env=None):
    """Run a printed hint as the user would paste it (`python` is this interpreter)."""
    words = shlex.split(hint)
    assert words[:3] == ["python", "-m", "semscale"], hint
    return semscale(*words[3:], cwd=cwd, env=env)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed: connections are refused at once


def offline_env(tmp_path) -> dict:
    """An empty model cache, no model folder, and a hub that refuses connections."""
    (tmp_path / "empty-cache").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "SEMSCALE_MODEL_DIR"}
    return env | {"FASTEMBED_CACHE_PATH": str(tmp_path / "empty-cache"), "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}",
                  "PYTHONPATH": str(ROOT)}


# --- an installable package ----------------------------------------------------------------------

@pytest.mark.smoke
def test_pip_install_gives_a_semscale_command_that_works_from_any_folder(tmp_path):
    src = tmp_path / "src"  # a copy, so the build leaves nothing in the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "semscale", src / "semscale", ignore=shutil.ignore_patterns("__pycache__"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    # The dependencies come from the environment running the tests (a venv's or not): a .pth file adds its
    # site-packages ('system_site_packages' would add the base Python's, not an outer venv's).
    inner = subprocess.run([env_dir / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                           capture_output=True, text=True, check=True).stdout.strip()
    Path(inner, "outer.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_REQUIRE_VIRTUALENV")}
    install = subprocess.run([env_dir / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps",
                              "--no-build-isolation", "--no-index", str(src)],
                             capture_output=True, text=True, env=clean, timeout=300)
    assert install.returncode == 0, install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    helped = subprocess.run([env_dir / "bin" / "semscale", "--help"], capture_output=True, text=True, cwd=elsewhere,
                            env=clean, timeout=120)
    assert helped.returncode == 0 and "usage: semscale" in helped.stdout, helped.stderr
    # the installed package carries requirements.txt's exact pins
    pins = subprocess.run([env_dir / "bin" / "python", "-c", "import importlib.metadata as m; "
                           "print('\\n'.join(m.requires('semscale')))"], capture_output=True, text=True, env=clean,
                          cwd=elsewhere)
    assert "fastembed==0.9.1" in pins.stdout.split() and "duckdb==2.0.1" in pins.stdout.split(), pins.stdout
    # the command names itself in its hints
    missing = subprocess.run([env_dir / "bin" / "semscale", "show", "abc"], capture_output=True, text=True,
                             cwd=elsewhere, env=clean, timeout=120)
    assert missing.returncode == 2 and "no results file semscale.duckdb" in missing.stderr
    assert not (elsewhere / "semscale.duckdb").exists()  # reading commands never create an empty file


@pytest.mark.smoke
def test_the_readme_set_up_command_starts_the_dashboard(tmp_path):
    """`python3 scripts/bootstrap.py start`, as README gives it, in the environment running the tests
    (installed already, so the install is skipped), serves the dashboard."""
    assert "\n    python3 scripts/bootstrap.py start\n" in (ROOT / "README.md").read_text()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)} | {"SEMSCALE_HOME": str(tmp_path / "home")}
    proc, url = start_dashboard(env, tmp_path / "start.log", launcher=(
        str(ROOT / "scripts" / "bootstrap.py"), "start", "--venv", sys.prefix, "--server.headless", "true"))
    try:
        assert urllib.request.urlopen(url, timeout=10).status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --- global options and hints that paste as is ----------------------------------------------------

def corrupt_and_junk(root: Path, n_junk: int = 11) -> None:
    """Two truncated JPEGs that list fine but do not decode, and `n_junk` files listing refuses."""
    whole = next((root / "red").glob("*.jpg")).read_bytes()
    for i in range(2):
        (root / "red" / f"broken{i}.jpg").write_bytes(whole[: len(whole) // 2])
    for i in range(n_junk):
        (root / "blue" / f"notes{i:02}.txt").write_text("not an image")


def test_global_options_after_the_command_and_every_left_out_file_listed(tmp_path, colour_dir, model_dir):
    corrupt_and_junk(colour_dir)
    db, here = tmp_path / "mine.duckdb", tmp_path / "cwd"
    here.mkdir()
    out = semscale("run", "--dataset", colour_dir, "--local", model_dir, "--results", db, cwd=here)
    assert out.returncode == 0, out.stderr
    assert db.exists() and not (here / "semscale.duckdb").exists()
    assert "left out 13 files or classes:" in out.stderr
    listed = [line for line in out.stderr.splitlines() if line.startswith("  ") and not line.startswith("  ...")]
    assert len(listed) == 10  # the first 10, then where to see all
    more = next(line for line in out.stderr.splitlines() if "... and 3 more:" in line)
    run_id = semscale("--results", db, "list").stdout.split()[0]
    hint = more.split("more: ", 1)[1]
    assert hint == f"python -m semscale --results {db} show {run_id} --rejected"
    shown = paste(hint, cwd=here)
    assert shown.returncode == 0 and "left out 13 files or classes:" in shown.stdout
    for name in ("red/broken0.jpg", "red/broken1.jpg", *(f"blue/notes{i:02}.txt" for i in range(11))):
        assert name in shown.stdout
    assert "corrupt or truncated" in shown.stdout

    # --quiet after the command: no progress bar, no lists; the results still print
    quiet = semscale("run", "--dataset", colour_dir, "--local", model_dir, "--quiet", "--results", db, cwd=here)
    assert quiet.returncode == 0 and "img/s" not in quiet.stderr and "left out" not in quiet.stderr, quiet.stderr
    assert "accuracy" in quiet.stdout


def test_recommend_try_it_hint_runs_as_pasted(tmp_path, colour_dir, model_dir):
    labels = tmp_path / "labels.yaml"
    labels.write_text(yaml.safe_dump({"classes": {c: [c, f"{c} thing"] for c in ["red", "green", "blue", "yellow"]}}))
    db, here = tmp_path / "r.duckdb", tmp_path / "cwd"
    here.mkdir()
    assert semscale("run", "--dataset", colour_dir, "--labels", labels, "--local", model_dir, "--results", db,
                    cwd=here).returncode == 0
    run_id = semscale("list", "--results", db).stdout.split()[0]
    rec = semscale("recommend", run_id, "--out", tmp_path / "best.yaml", "--folds", "2", "--results", db, cwd=here)
    assert rec.returncode == 0, rec.stderr
    hint = rec.stdout.split("try it: ", 1)[1].strip()
    assert f"--local {model_dir}" in hint and f"--results {db}" in hint
    again = paste(hint, cwd=here)
    assert again.returncode == 0, again.stderr
    assert len(semscale("list", "--results", db).stdout.strip().splitlines()) == 2


# --- model start-up ---------------------------------------------------------------------------------

def test_offline_cli_names_the_three_ways_out_within_5_seconds(tmp_path, colour_dir):
    """Within 5 s on a quiet machine; timed against the same run refused before any network call (a model
    folder that is not one), each timed twice in turn and the faster taken, so the difference is what the
    offline hub costs, at any load (one pair at load 6 differed by 2.7 s with no delay in the code)."""
    def run(*extra):
        t0 = time.monotonic()
        out = subprocess.run([sys.executable, "-m", "semscale", "run", "--dataset", str(colour_dir), "--results",
                              str(tmp_path / "r.duckdb"), *extra], capture_output=True, text=True,
                             env=offline_env(tmp_path), timeout=120)
        return out, time.monotonic() - t0

    refused, baseline = run("--local", str(tmp_path / "no-model"))
    out, took = run()
    if took >= 5 and took - baseline >= 2:  # once more each, in turn: the noise of a busy machine is not the code's
        baseline = min(baseline, run("--local", str(tmp_path / "no-model"))[1])
        took = min(took, run()[1])
    assert refused.returncode == 2, refused.stderr
    assert out.returncode == 2 and (took < 5 or took - baseline < 2), (took, baseline, out.stderr)
    message = out.stderr
    assert "clip-vit-b32 is not cached and no hub is reachable" in message and "connection refused" in message.lower()
    assert "SEMSCALE_MODEL_DIR=DIR" in message and "DIR/vision/model.onnx" in message  # the layout
    assert "CLIP server URL" in message and "network access" in message
    assert "Traceback" not in message and message.count("\n") == 1


def test_offline_home_page_answers_within_5_seconds(tmp_path, monkeypatch):
    for key, value in offline_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SEMSCALE_MODEL_DIR", raising=False)
    monkeypatch.setenv("SEMSCALE_RESULTS", str(tmp_path / "dash.duckdb"))
    monkeypatch.chdir(ROOT)
    t0 = time.monotonic()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    took = time.monotonic() - t0
    assert not at.exception and took < 5, took
    line = next(m.value for m in at.markdown if "CLIP backend" in m.value)
    assert ":red-badge[not ready]" in line and "not cached and no hub is reachable" in line
    assert "SEMSCALE_MODEL_DIR" in line and "CLIP server" in line and "network access" in line
    assert not any(ch in line for ch in "🟢🔴")


def silent_server() -> socket.socket:
    """Accepts connections and never answers, like a hung CLIP server."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_a_slow_backend_check_never_holds_the_page(tmp_path, monkeypatch):
    """A CLIP server that never answers: the page shows "starting" after the 1.5 s wait instead of
    waiting for the check, and Start says why it is disabled. The first page run also pays for
    cold imports, so the time is taken on a second session with a second hung server."""
    monkeypatch.setenv("SEMSCALE_RESULTS", str(tmp_path / "dash.duckdb"))
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("SEMSCALE_DATA_ROOTS", str(tmp_path))  # the dataset lies under a data root
    root = make_colour_images(tmp_path / "colours", per_class=2)
    servers = [silent_server(), silent_server()]
    try:
        for server in servers:
            monkeypatch.setenv("SEMSCALE_SERVER", f"grpc://127.0.0.1:{server.getsockname()[1]}")
            at = AppTest.from_file(str(ROOT / "pages" / "3_Run.py"), default_timeout=60)
            at.session_state["dataset"] = str(root)
            t0 = time.monotonic()
            at.run()
            took = time.monotonic() - t0
            assert not at.exception
            assert any(":orange-badge[starting]" in m.value for m in at.markdown)
            assert "Start is disabled: the CLIP backend is still starting." in [c.value for c in at.caption]
        assert took < 3, took
    finally:
        for server in servers:
            server.close()


def test_hub_probe_asks_the_model_api_not_just_for_a_connection(monkeypatch, tmp_path, model_dir):
    from fakehub import FakeHub

    monkeypatch.setenv("FASTEMBED_CACHE_PATH", str(tmp_path))
    monkeypatch.delenv("SEMSCALE_MODEL_DIR", raising=False)
    repo = "Qdrant/clip-ViT-B-32-vision"
    with FakeHub({repo: model_dir / "vision"}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        assert health.hub_unreachable(repo) is None
        assert health.model_start(settings.Backend(server=None)) is None  # fastembed may try: the hub answers
        assert health.hub_unreachable("Qdrant/no-such-model") == "HTTP 404"
    mute = socket.socket()  # accepts connections, never answers: a connection alone is not a hub
    mute.bind(("127.0.0.1", 0))
    mute.listen()
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{mute.getsockname()[1]}")
        t0 = time.monotonic()
        assert "timed out" in health.hub_unreachable(repo) and time.monotonic() - t0 < 3
    finally:
        mute.close()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    assert "refused" in health.hub_unreachable(repo).lower()
    assert "not cached" in health.model_start(settings.Backend(server=None))


def test_first_run_fetches_the_model_from_the_hub_with_a_progress_bar(tmp_path, colour_dir, model_dir):
    """The tiny model served as the two Qdrant repos by a hub stand-in on loopback (HF_ENDPOINT),
    sent slowly: the CLI shows bytes and rate while fastembed fetches, then runs on what it fetched."""
    from fakehub import FakeHub

    repos = {"Qdrant/clip-ViT-B-32-vision": model_dir / "vision", "Qdrant/clip-ViT-B-32-text": model_dir / "text"}
    env = {k: v for k, v in os.environ.items() if k != "SEMSCALE_MODEL_DIR"}
    env |= {"FASTEMBED_CACHE_PATH": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    with FakeHub(repos, chunk=256, pause=0.05) as hub:
        env["HF_ENDPOINT"] = hub.url
        first = subprocess.run([sys.executable, "-m", "semscale", "run", "--dataset", str(colour_dir), "--results",
                                str(tmp_path / "r.duckdb")], capture_output=True, text=True, env=env, timeout=300)
        assert first.returncode == 0, first.stderr
        assert "fetching the model once" in first.stderr and "B/s" in first.stderr, first.stderr
        assert any(r.startswith("GET /Qdrant/clip-ViT-B-32-text/resolve/") for r in hub.requests)
        assert "accuracy" in first.stdout
        again = subprocess.run([sys.executable, "-m", "semscale", "run", "--dataset", str(colour_dir), "--results",
                                str(tmp_path / "r.duckdb")], capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0 and "fetching the model once" not in again.stderr, again.stderr


def test_download_progress_counts_the_bytes_arriving_in_the_cache(monkeypatch, tmp_path):
    """fastembed writes the hub's files under models--ORG--NAME/blobs as they arrive; the bar reads them."""
    monkeypatch.setenv("FASTEMBED_CACHE_PATH", str(tmp_path))
    monkeypatch.delenv("SEMSCALE_MODEL_DIR", raising=False)
    download = health.Download(settings.Backend(server=None))
    assert download.done() == 0 and 0.5e9 < download.total < 0.7e9  # ViT-B/32's two ONNX files
    blob = tmp_path / "models--Qdrant--clip-ViT-B-32-vision" / "blobs" / "abc.incomplete"
    blob.parent.mkdir(parents=True)
    download.sample()
    with open(blob, "wb") as fh:
        fh.write(b"\0" * 3_000_000)
        fh.flush()
        time.sleep(0.2)
        got, rate = download.sample()
    assert got == 3_000_000 and 1e6 < rate < 3e6 / 0.2 + 1


# --- data, schedule and export ------------------------------------------------------------------------

def test_one_class_is_refused_and_one_name_and_a_cut_schedule_are_explained(tmp_path, colour_dir, model_dir):
    lonely = tmp_path / "lonely"
    shutil.copytree(colour_dir / "red", lonely / "red")
    out = semscale("--results", tmp_path / "r.duckdb", "run", "--dataset", lonely, "--local", model_dir)
    assert out.returncode == 2 and "one class only (red)" in out.stderr and "at least 2" in out.stderr

    db = tmp_path / "r.duckdb"
    one = semscale("--results", db, "run", "--dataset", colour_dir, "--local", model_dir)
    assert one.returncode == 0 and "every class has one name" in one.stderr and "--scheme" in one.stderr
    labels = tmp_path / "labels.yaml"
    labels.write_text(yaml.safe_dump({"classes": {c: [c, f"{c} thing", f"{c} object"]
                                                  for c in ["red", "green", "blue", "yellow"]}}))
    cut = semscale("--results", db, "run", "--dataset", colour_dir, "--labels", labels, "--local", model_dir,
                   "--schedule", "1,100")
    assert cut.returncode == 0, cut.stderr
    assert "note: level 100 was cut to 3: the longest name list has 3 names" in cut.stderr
    assert "every class has one name" not in cut.stderr


def test_export_writes_lists_as_json_in_csv_and_as_lists_in_parquet(tmp_path, colour_dir, model_dir):
    db = tmp_path / "r.duckdb"
    assert semscale("--results", db, "run", "--dataset", colour_dir, "--local", model_dir).returncode == 0
    run_id = semscale("--results", db, "list").stdout.split()[0]
    for fmt in ("csv", "parquet"):
        out = semscale("export", run_id, f"--{fmt}", "--out", tmp_path / fmt, "--results", db)
        assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(open(tmp_path / "csv" / f"{run_id}-predictions.csv")))
    names, sims = json.loads(rows[0]["top_names"]), json.loads(rows[0]["top_sims"])
    assert isinstance(names, list) and names and all(isinstance(n, str) for n in names)
    assert len(sims) == len(names) and all(isinstance(s, float) for s in sims)
    parquet = pd.read_parquet(tmp_path / "parquet" / f"{run_id}-predictions.parquet")
    assert list(parquet["top_names"].iloc[0]) == names and len(parquet) == len(rows)


def test_manifest_and_zip_say_how_many_entries_were_refused_and_why(tmp_path):
    from semscale.core.errors import SemscaleError
    from semscale.data import datasets

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "m.csv").write_text("path,label\n" + "".join(f"../elsewhere/{i}.jpg,cat\n" for i in range(500)))
    with pytest.raises(SemscaleError, match="all 500 rows refused: points outside the manifest's folder; "
                                            "paths are read relative to it"):
        datasets.load(str(folder / "m.csv"))

    import zipfile
    archive = tmp_path / "holiday.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(3):
            zf.writestr(f"../up{i}/a.jpg", b"x")
        zf.writestr("/etc/b.jpg", b"x")
    kept = datasets.save_upload(archive.read_bytes(), "holiday.zip", cache=tmp_path / "uploaded")
    with pytest.raises(SemscaleError) as refused:
        datasets.from_zip(kept, cache=tmp_path / "zips")
    message = str(refused.value)
    assert message.startswith("zip holiday has no usable images; 4 entries refused: 3 × path leaves the archive")
    assert str(tmp_path / "zips") not in message  # never the internal cache folder

    good = make_colour_images(tmp_path / "src" / "colours", per_class=1)
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(good.rglob("*.jpg")):
            zf.write(f, f.relative_to(good).as_posix())
    kept = datasets.save_upload(archive.read_bytes(), "holiday.zip", cache=tmp_path / "uploaded")
    assert datasets.load(str(kept)).name == "holiday"  # the dataset keeps the upload's name


def test_data_page_lists_every_left_out_file_in_pages_and_finds_undecodable_images(tmp_path, monkeypatch, model_dir):
    root = make_colour_images(tmp_path / "colours", per_class=2)
    corrupt_and_junk(root, n_junk=60)
    monkeypatch.setenv("SEMSCALE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("SEMSCALE_RESULTS", str(tmp_path / "dash.duckdb"))
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("SEMSCALE_DATA_ROOTS", str(tmp_path))  # the dataset lies under a data root
    at = AppTest.from_file(str(ROOT / "pages" / "1_Data.py"), default_timeout=60)
    at.session_state["dataset"] = str(root)
    at.run()
    assert not at.exception
    assert "60 files or classes left out" in [e.label for e in at.expander]
    assert len(at.dataframe[0].value) == 50 and "1-50 of 60" in [c.value for c in at.caption]
    at.number_input(key="left_out_page").set_value(2).run()
    assert len(at.dataframe[0].value) == 10
    assert at.subheader[0].value == "colours: 10 images, 4 classes"  # listed: the 2 broken files look like images
    next(b for b in at.button if b.label == "Check that every image decodes").click().run()
    assert "62 files or classes left out" in [e.label for e in at.expander]
    assert at.subheader[0].value == "colours: 8 images, 4 classes"  # as a run will count them
    assert at.warning[0].value.startswith("2 images of 10 do not decode: left out of the counts above")
    at.number_input(key="left_out_page").set_value(2).run()
    tail = at.dataframe[0].value
    assert set(tail["file"]) >= {"red/broken0.jpg", "red/broken1.jpg"}
    assert all("corrupt or truncated" in r for r in tail[tail["file"].str.startswith("red/")]["reason"])


def test_data_page_confirms_when_every_image_decodes(tmp_path, monkeypatch):
    root = make_colour_images(tmp_path / "colours", per_class=2)
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("SEMSCALE_DATA_ROOTS", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "pages" / "1_Data.py"), default_timeout=60)
    at.session_state["dataset"] = str(root)
    at.run()
    next(b for b in at.button if b.label == "Check that every image decodes").click().run()
    assert not at.exception and [s.value for s in at.success] == ["Every one of the 8 images decodes."]
    assert not any(b.label == "Check that every image decodes" for b in at.button)


def test_run_page_refuses_a_one_class_dataset_with_the_reason(tmp_path, monkeypatch, model_dir):
    root = make_colour_images(tmp_path / "colours", per_class=2)
    for other in ("green", "blue", "yellow"):
        shutil.rmtree(root / other)
    monkeypatch.setenv("SEMSCALE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("SEMSCALE_RESULTS", str(tmp_path / "dash.duckdb"))
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("SEMSCALE_DATA_ROOTS", str(tmp_path))  # the dataset lies under a data root
    at = AppTest.from_file(str(ROOT / "pages" / "3_Run.py"), default_timeout=60)
    at.session_state["dataset"] = str(root)
    at.run()
    assert not at.exception
    assert any("one class only (red)" in e.value and "at least 2" in e.value for e in at.error)
    assert not any(b.label == "Start" for b in at.button)
