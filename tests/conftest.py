"""Shared fixtures: a real tiny ONNX CLIP model, real image files, real DuckDB files."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import tinyclip  # noqa: E402

# No test downloads anything: the built-in datasets come from ../shared (unless SEMSCALE_DATA_DIR names
# another copy), and a WordNet fetch not aimed at a test's own stand-in goes to a closed loopback port.
if (SHARED / "datasets").is_dir():
    os.environ.setdefault("SEMSCALE_DATA_DIR", str(SHARED / "datasets"))
os.environ.setdefault("NLTK_DOWNLOAD_URL", "http://127.0.0.1:9/index.xml")

COLOURS = {"red": (220, 30, 30), "green": (30, 150, 40), "blue": (30, 40, 220), "yellow": (240, 220, 20)}


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    return tinyclip.build(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def encoder(model_dir):
    from semscale.models.encoders import LocalEncoder

    return LocalEncoder(model_dir)


def make_colour_images(root: Path, per_class: int = 6, seed: int = 0, size: int = 48) -> Path:
    """Class folders of noisy flat-colour photos; the tiny model can tell them apart."""
    rng = random.Random(seed)
    for name, rgb in COLOURS.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = Image.new("RGB", (size, size), tuple(max(0, min(255, c + rng.randint(-25, 25))) for c in rgb))
            for _ in range(30):  # speckles make every file distinct
                img.putpixel((rng.randrange(size), rng.randrange(size)), tuple(rng.randrange(256) for _ in range(3)))
            img.save(folder / f"{name}_{i:02d}.{'png' if i % 2 else 'jpg'}")
    return root


@pytest.fixture
def colour_dir(tmp_path) -> Path:
    return make_colour_images(tmp_path / "colours")


@pytest.fixture
def results(tmp_path):
    from semscale.store.results import ResultsStore

    return ResultsStore(tmp_path / "results.duckdb")


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The real photo sets beside the checkout (CI and developers have them; read-only)."""
    path = Path(os.environ.get("SEMSCALE_DATA_DIR") or SHARED / "datasets")
    if not (path / "clothing").is_dir():
        pytest.fail(f"real datasets not found at {path}; set SEMSCALE_DATA_DIR")
    return path


class DesignedRuns:
    """A results file with the designed model (tests/designed.py) and its six images; `run` makes a
    finished engine run on them (levels 1,2,3, all aggregations unless told otherwise)."""

    def __init__(self, folder: Path):
        import designed

        from semscale.models.encoders import LocalEncoder
        from semscale.store.results import ResultsStore

        self.store = ResultsStore(folder / "results.duckdb")
        self.encoder = LocalEncoder(designed.build(folder / "model"))
        self.images = designed.write_images(folder / "images")

    def run(self, labels: dict[str, list[str]] | None = None, **config) -> str:
        import designed

        from semscale.run.config import RunConfig
        from semscale.run.engine import Engine

        config = {"aggregations": ["max", "mean", "probsum"], "schedule": "1,2,3", **config}
        return Engine(self.store, self.encoder).run(
            RunConfig(dataset=str(self.images), labels=labels or designed.LABELS, **config))


@pytest.fixture(scope="module")
def designed_runs(tmp_path_factory) -> DesignedRuns:
    return DesignedRuns(tmp_path_factory.mktemp("designed-runs"))


@pytest.fixture
def dashboard_env(tmp_path, model_dir, shared_datasets, monkeypatch) -> Path:
    """What a dashboard page reads from its environment: the tiny model, a fresh results file and
    home folder, the real datasets; run from the repository root as `streamlit run` is."""
    monkeypatch.setenv("SEMSCALE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("SEMSCALE_RESULTS", str(tmp_path / "dash.duckdb"))
    monkeypatch.setenv("SEMSCALE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SEMSCALE_DATA_DIR", str(shared_datasets))
    monkeypatch.chdir(ROOT)
    return tmp_path


@pytest.fixture
def per_batch_commits(monkeypatch):
    """One batch per commit, as the engine commits when encoding is slow, for tests that name the
    batches a commit carries (grouped commits: tests/test_writer.py, a fast encoder's)."""
    from semscale.run import engine

    monkeypatch.setattr(engine, "COMMIT_BATCHES", 1)


class FinishedFirst(Exception):
    """The run committed its last image before this process got the results file to look at it: under
    load a writer that commits back to back can keep a reader out for its whole (small) run."""


def signal_masks(pid: int) -> str:
    """A process's signal masks (ignored, caught, blocked) as the kernel reports them: what a signal it
    is sent will do (SIGINT is bit 0x2)."""
    try:
        return " ".join(line.strip() for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                        if line.startswith(("SigIgn", "SigCgt", "SigBlk")))
    except OSError as exc:
        return f"(masks unreadable: {exc})"


def signal_once_committed(proc: subprocess.Popen, db: Path, sig: int, timeout: float = 120) -> str:
    """Send `sig` to the `semscale run` in `proc` once its run has committed some images but not all,
    while this process holds the results file: the run cannot commit again, so cannot finish, before the
    signal reaches it. Raises FinishedFirst when the first look finds every image done (the signal would
    reach a process on its way out). Returns the run id."""
    from semscale.store.results import ResultsStore

    deadline = time.monotonic() + timeout
    while True:
        if db.exists():
            with ResultsStore(db)._connect() as con:  # one transaction: the run waits for the file meanwhile
                row = con.execute("SELECT run_id, n_done, n_images FROM runs").fetchone()
                if row and row[1] and row[1] >= row[2]:
                    raise FinishedFirst(f"run {row[0]} finished before it could be signalled")
                if row and row[1]:
                    print(f"signal {sig} to pid {proc.pid} at {row[1]} of {row[2]} images; its", signal_masks(proc.pid))
                    proc.send_signal(sig)
                    return row[0]
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)


def stop_between_commits(proc: subprocess.Popen, db: Path, timeout: float = 120) -> str:
    """SIGSTOP the `semscale run` in `proc` once it has committed images, at a moment it does not hold the
    results file: stopped while it held it (seen once under load), no other process could open the file
    until SIGCONT, so it is let go on and stopped again. Returns the run id."""
    from semscale.store.files import ResultsBusy
    from semscale.store.results import ResultsStore

    deadline = time.monotonic() + timeout
    while True:
        run_id = signal_once_committed(proc, db, signal.SIGSTOP, deadline - time.monotonic())
        try:
            with ResultsStore(db, wait=5.0)._connect():
                return run_id
        except ResultsBusy:
            proc.send_signal(signal.SIGCONT)
            assert time.monotonic() < deadline, "the run held the results file whenever it was stopped"


@pytest.fixture(autouse=True, scope="session")
def served_on_loopback():
    """Pages under AppTest are served on loopback, as .streamlit/config.toml has it, whatever folder
    a test is in when Streamlit first reads its config; a test of a shared dashboard sets another."""
    from streamlit import config

    config.set_option("server.address", "127.0.0.1")
