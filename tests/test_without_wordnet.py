"""A machine without WordNet (no Debian package, no nltk data): what works, what is fetched, what is said.

`SEMSCALE_WORDNET_HIDE_SYSTEM=1` hides Debian's folders and nltk's shared data folders; HOME and
SEMSCALE_HOME are fresh. Downloads go to a stand-in for nltk's data server on loopback, made here from this
machine's WordNet files, never to the real one.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from streamlit.testing.v1 import AppTest
from test_cli import semscale

from semscale.names import wordnet
from semscale.store.results import ResultsStore

# nltk's downloader refuses loopback addresses (its own SSRF guard); only the download tests' process,
# whose stand-in lives on loopback, lets them through. Everything else runs the `semscale` command as is.
NLTK_ON_LOOPBACK = ("import sys, nltk.pathsec; nltk.pathsec.ENFORCE = False; "
                    "from semscale.app.cli import main; sys.exit(main(sys.argv[1:]))")
WAYS_OUT = ("python -m nltk.downloader wordnet", "apt-get install wordnet-base", "SEMSCALE_WORDNET_DIR")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def no_wordnet(tmp_path, monkeypatch) -> dict[str, str]:
    """The environment of a machine without WordNet, also applied to this process (reader unloaded)."""
    env = {"SEMSCALE_WORDNET_HIDE_SYSTEM": "1", "SEMSCALE_HOME": str(tmp_path / "home"), "HOME": str(tmp_path / "user"),
           "NLTK_DATA": "", "SEMSCALE_WORDNET_DIR": "",
           "NLTK_DOWNLOAD_URL": f"http://127.0.0.1:{closed_port()}/index.xml"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    wordnet._load_reader.cache_clear()
    assert wordnet.find() is None
    yield env
    wordnet._load_reader.cache_clear()  # later tests read this machine's WordNet again


class NltkMirror:
    """nltk's data server on loopback: an index naming one package, wordnet.zip, made from `source`;
    `stall` accepts requests and never answers them."""

    def __init__(self, source: Path, folder: Path, stall: bool = False):
        self.zip = folder / "wordnet.zip"
        with zipfile.ZipFile(self.zip, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(source.iterdir()):
                if path.is_file() and path.name in wordnet._WANTED:
                    archive.write(path, f"wordnet/{path.name}")
        self.requests: list[str] = []
        self.stall = stall
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def index(self) -> bytes:
        data = self.zip.read_bytes()
        with zipfile.ZipFile(self.zip) as archive:
            unzipped = sum(i.file_size for i in archive.infolist())
        return (f'<?xml version="1.0"?><nltk_data><packages><package id="wordnet" name="WordNet" subdir="corpora" '
                f'url="{self.url}/packages/corpora/wordnet.zip" size="{len(data)}" unzipped_size="{unzipped}" '
                f'checksum="{hashlib.md5(data).hexdigest()}" unzip="0"/></packages><collections/></nltk_data>').encode()

    def _handler(self):
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                mirror.requests.append(self.path)
                if mirror.stall:
                    time.sleep(60)
                    return
                body = mirror.index() if self.path.endswith("index.xml") else mirror.zip.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for start in range(0, len(body), 1 << 20):  # in pieces, so progress has steps to show
                    self.wfile.write(body[start:start + (1 << 20)])

        return Handler

    def __enter__(self) -> "NltkMirror":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def system_wordnet() -> Path:
    """This machine's WordNet folder, the stand-in's source (the test command installs one)."""
    found = wordnet.find()
    assert found is not None and found.is_dir(), "the test command installs WordNet (wordnet-base or nltk's)"
    return found


def semscale_via_loopback_nltk(*args, env):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", NLTK_ON_LOOPBACK, *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env}, timeout=300)


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


# --- what works without WordNet --------------------------------------------------------------------

@pytest.mark.smoke
def test_a_run_resume_show_and_list_need_no_wordnet(no_wordnet, tmp_path, colour_dir, model_dir):
    db = tmp_path / "r.duckdb"
    out = semscale("--results", db, "run", "--dataset", colour_dir, "--local", model_dir, env=no_wordnet)
    assert out.returncode == 0, out.stderr
    assert "cleaned folder names" in out.stderr and "python -m nltk.downloader wordnet" in out.stderr
    run_id = ResultsStore(db).runs()[0].run_id
    labels = tmp_path / "labels.yaml"
    labels.write_text(yaml.safe_dump({"classes": {c: [c, f"{c} thing"] for c in ("red", "green", "blue", "yellow")}}))
    for command in (["show", run_id], ["list"], ["resume", run_id, "--local", model_dir],
                    ["run", "--dataset", colour_dir, "--labels", labels, "--local", model_dir]):
        done = semscale("--results", db, *command, env=no_wordnet)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (command, done.stderr)


@pytest.mark.smoke
def test_the_paper_preset_and_scheme_build_their_names_without_wordnet(no_wordnet, tmp_path, colour_dir,
                                                                       model_dir):
    db = tmp_path / "r.duckdb"
    out = semscale("--results", db, "run", "--preset", "paper", "--domain", "Colour", "--dataset", colour_dir,
                   "--local", model_dir, env=no_wordnet)
    assert out.returncode == 0, out.stderr
    store = ResultsStore(db)
    run_id = store.runs()[0].run_id
    assert store.run_names(run_id)["red"] == ["red", "reds", "large red", "large reds", "small red", "small reds",
                                              "medium red", "medium reds", "Colour red", "Colour reds", "tiny red",
                                              "tiny reds"]
    again = semscale("--results", db, "run", "--preset", "paper", "--domain", "Colour", "--dataset", colour_dir,
                     "--local", model_dir, env=no_wordnet)
    assert again.returncode == 0, again.stderr
    for command in (["names", run_id], ["recommend", run_id, "--out", tmp_path / "best.yaml"],
                    ["compare", run_id, store.runs()[0].run_id]):
        done = semscale("--results", db, *command, env=no_wordnet)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (command, done.stderr)
    # how soon an unanswered fetch gives up is pinned by test_a_silent_download_server_is_called_offline_within_seconds
    labels = semscale("labels", "clothing", "--scheme", "paper", "--out", tmp_path / "l.yaml", env=no_wordnet)
    assert labels.returncode == 0, labels.stderr
    assert all(way in labels.stderr for way in WAYS_OUT), labels.stderr
    pants = yaml.safe_load((tmp_path / "l.yaml").read_text())["classes"]["pants"]
    assert pants[:4] == ["pants", "pants", "large pants", "large pants"] and len(pants) == 12  # repeats kept


def test_without_a_domain_word_the_paper_scheme_leaves_names_9_and_10_out_and_says_so(no_wordnet, tmp_path):
    out = semscale("labels", "cifar10-1k", "--scheme", "paper", "--out", tmp_path / "l.yaml", env=no_wordnet)
    assert out.returncode == 0, out.stderr
    cat = yaml.safe_load((tmp_path / "l.yaml").read_text())["classes"]["cat"]
    assert cat == ["cat", "cats", "large cat", "large cats", "small cat", "small cats", "medium cat", "medium cats",
                   "tiny cat", "tiny cats"]
    assert "names 9-10 (D C, D Cs) are left out" in out.stderr


def test_wordnet_names_offline_are_refused_in_one_line_naming_the_ways_out(no_wordnet, tmp_path):
    started = time.monotonic()
    out = semscale("labels", "clothing", "--scheme", "wordnet", "--out", tmp_path / "l.yaml", env=no_wordnet)
    assert out.returncode == 2 and time.monotonic() - started < 20
    line = one_line(out.stderr)
    assert all(way in line for way in WAYS_OUT), line
    assert not (tmp_path / "l.yaml").exists()


def test_a_silent_download_server_is_called_offline_within_seconds(no_wordnet, tmp_path, system_wordnet):
    """Timed against the same command whose fetch is refused at once (a closed port), run just before: the
    difference is the time spent waiting on the silent server, whatever the machine's load."""
    command = ("labels", "clothing", "--scheme", "wordnet", "--out", tmp_path / "l.yaml")
    started = time.monotonic()
    refused = semscale_via_loopback_nltk(*command, env=no_wordnet)
    baseline = time.monotonic() - started
    assert refused.returncode == 2, refused.stderr
    with NltkMirror(system_wordnet, tmp_path, stall=True) as mirror:
        env = {**no_wordnet, "NLTK_DOWNLOAD_URL": f"{mirror.url}/index.xml"}
        started = time.monotonic()
        out = semscale_via_loopback_nltk(*command, env=env)
        waited = time.monotonic() - started - baseline
    assert out.returncode == 2 and mirror.requests == ["/index.xml"], out.stderr
    assert "got no answer in 5 s" in one_line(out.stderr) and waited < wordnet.FETCH_DEADLINE + 3, (waited, baseline)


# --- fetched once, with progress, then found ------------------------------------------------------

@pytest.mark.smoke
def test_wordnet_is_fetched_once_with_progress_then_read_from_the_users_folder(no_wordnet, tmp_path,
                                                                               system_wordnet):
    with NltkMirror(system_wordnet, tmp_path) as mirror:
        env = {**no_wordnet, "NLTK_DOWNLOAD_URL": f"{mirror.url}/index.xml"}
        first = semscale_via_loopback_nltk("labels", "clothing", "--scheme", "wordnet", "--out", tmp_path / "a.yaml",
                                           env=env)
        assert first.returncode == 0, first.stderr
        assert "fetching WordNet once" in first.stderr and "100%" in first.stderr, first.stderr
        assert mirror.requests == ["/index.xml", "/packages/corpora/wordnet.zip"]
        assert (Path(no_wordnet["SEMSCALE_HOME"]) / "nltk_data" / "corpora" / "wordnet.zip").is_file()
        again = semscale_via_loopback_nltk("labels", "clothing", "--scheme", "wordnet", "--out", tmp_path / "b.yaml",
                                           env=env)
        assert again.returncode == 0 and len(mirror.requests) == 2, again.stderr  # found, not fetched again
    generated = yaml.safe_load((tmp_path / "a.yaml").read_text())["classes"]
    assert "trousers" in generated["pants"]  # WordNet's synonyms, not the names alone
    assert (tmp_path / "a.yaml").read_text() == (tmp_path / "b.yaml").read_text()


def test_nltks_own_data_folder_is_found(no_wordnet, tmp_path, monkeypatch, system_wordnet):
    """Where `python -m nltk.downloader wordnet` puts it: NLTK_DATA (or ~/nltk_data) / corpora/wordnet.zip."""
    corpora = tmp_path / "nltk" / "corpora"
    corpora.mkdir(parents=True)
    NltkMirror(system_wordnet, corpora).server.server_close()  # only its zip
    monkeypatch.setenv("NLTK_DATA", str(tmp_path / "nltk"))
    assert wordnet.find() == corpora / "wordnet.zip"
    assert wordnet.noun_synsets("trousers")[0].name() == "trouser.n.01"


# --- the dashboard without WordNet ----------------------------------------------------------------

@pytest.mark.smoke
def test_every_page_works_without_wordnet_and_the_paper_scheme_says_why(no_wordnet, dashboard_env):
    for script in ("app.py", "pages/1_Data.py", "pages/3_Run.py", "pages/4_Results.py"):
        at = AppTest.from_file(str(ROOT / script), default_timeout=60)
        at.session_state["dataset"] = "clothing"
        at.run()
        assert not at.exception, (script, at.exception)
    at = AppTest.from_file(str(ROOT / "pages" / "2_Synonyms.py"), default_timeout=60)
    at.session_state["dataset"] = "cifar10-1k"
    at.run()
    assert not at.exception
    infos = " ".join(i.value for i in at.info)
    assert "cleaned folder names" in infos and "python -m nltk.downloader wordnet" in infos
    next(b for b in at.button if b.label.startswith("Paper scheme")).click().run()
    assert not at.exception
    assert at.session_state["labels"]["cifar10-1k"]["automobile"][:2] == ["automobile", "automobiles"]
    assert "built from the class names alone" in " ".join(i.value for i in at.info)
