"""Nothing lost under crashes and concurrency, and the server token never written or shown.

Everything here does the real damage: CLI runs are separate processes killed with SIGKILL part
way, two of them write one DuckDB file at once, a dashboard-like reader polls the file while a run
writes it, another process holds it locked, and the token is hunted for in every file and stream a
failed run leaves behind.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from hashlib import sha256
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import ROOT

from semscale.core.errors import SemscaleError
from semscale.data import datasets
from semscale.models.settings import Backend
from semscale.names import synonyms
from semscale.run import jobs
from semscale.run.config import RunConfig
from semscale.run.engine import Engine
from semscale.store.files import ResultsBusy
from semscale.store.results import ResultsStore

BATCH = 4  # small batches: many commits, so a poller and a kill find the run part way
RUN_ARGS = ["--scheme", "paper", "--aggregation", "max", "--aggregation", "probsum", "--batch-size", str(BATCH)]
TOKEN = "sekrit-XYZ"


# --- helpers -------------------------------------------------------------------------------------

def copy_photos(source: Path, dest: Path, per_class: int = 32) -> Path:
    """The first `per_class` photos of each class, copied out of the read-only share."""
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        (dest / folder.name).mkdir(parents=True)
        for f in sorted(folder.iterdir())[:per_class]:
            shutil.copyfile(f, dest / folder.name / f.name)
    return dest


@pytest.fixture(scope="module")
def photos(tmp_path_factory, shared_datasets) -> Path:
    """306 real photos (~400x533), up to 32 per clothing class. Decoding them takes a while, so a run
    leaves pauses between its commits (as with a real model) and a poller gets its turns."""
    return copy_photos(shared_datasets / "clothing", tmp_path_factory.mktemp("photos") / "clothing306")


def count_files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file())


def config_for(photos: Path, aggregations=("max", "probsum"), templates=()) -> RunConfig:
    """What `semscale run --dataset PHOTOS --scheme paper ...` builds."""
    classes = datasets.from_folder(photos).classes
    return RunConfig(dataset=str(photos), labels=synonyms.generate(classes, "paper").labels.names, scheme="paper",
                     aggregations=list(aggregations), templates=list(templates), batch_size=BATCH)


def solo_run(tmp_path_factory, encoder, config: RunConfig) -> tuple[ResultsStore, str]:
    """The same run, uninterrupted and alone, in a results file of its own."""
    store = ResultsStore(tmp_path_factory.mktemp("reference") / "reference.duckdb")
    return store, Engine(store, encoder).run(config)


@pytest.fixture(scope="module")
def reference(photos, encoder, tmp_path_factory):
    return solo_run(tmp_path_factory, encoder, config_for(photos))


def cli_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMSCALE_") or k == "SEMSCALE_HOME"}
    return dict(env, PYTHONPATH=str(ROOT), **extra)


def start_cli(db: Path, *args, log: Path, env: dict | None = None) -> subprocess.Popen:
    """`python -m semscale --results DB ...` in the background, output to LOG.out / LOG.err.
    It runs in the results file's folder, so no .streamlit/secrets.toml of the checkout is read."""
    with open(log.with_suffix(".out"), "w") as out, open(log.with_suffix(".err"), "w") as err:
        return subprocess.Popen([sys.executable, "-m", "semscale", "--results", str(db), *map(str, args)],
                                stdout=out, stderr=err, env=env or cli_env(), stdin=subprocess.DEVNULL, cwd=db.parent)


def run_cli(db: Path, *args, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "semscale", "--results", str(db), *map(str, args)],
                          capture_output=True, text=True, env=env or cli_env(), timeout=timeout, cwd=db.parent)


def finish(proc: subprocess.Popen, log: Path, timeout: float = 300) -> tuple[int, str]:
    rc = proc.wait(timeout=timeout)
    return rc, log.with_suffix(".err").read_text(errors="replace")


def kill_part_way(store: ResultsStore, proc: subprocess.Popen, past: int):
    """SIGKILL the run's process as soon as more than `past` images are committed."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        runs = store.runs()
        if runs and runs[0].n_done > past:
            break
        assert proc.poll() is None, f"the run exited (status {proc.returncode}) before it could be killed"
        time.sleep(0.005)
    else:
        raise AssertionError("the run made no progress")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    info = store.runs()[0]
    assert past < info.n_done < info.n_images, f"killed too late: {info.n_done}/{info.n_images}"
    return info


def sql(db: Path, query: str, params=()) -> list[tuple]:
    con = duckdb.connect(str(db))
    try:
        return con.execute(query, list(params)).fetchall()
    finally:
        con.close()


def comparable(store: ResultsStore, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    points = store.points(run_id).drop(columns="run_id")
    preds = store.predictions(run_id)
    preds["top_names"] = [tuple(x) for x in preds["top_names"]]
    preds["top_sims"] = [tuple(float(v) for v in x) for x in preds["top_sims"]]
    return points, preds


def assert_same_results(store, run_id, ref_store, ref_id) -> None:
    points, preds = comparable(store, run_id)
    ref_points, ref_preds = comparable(ref_store, ref_id)
    pd.testing.assert_frame_equal(points, ref_points)
    pd.testing.assert_frame_equal(preds, ref_preds)
    assert store.rejected(run_id).empty and ref_store.rejected(ref_id).empty


def assert_intact(db: Path, run_id: str, plans: int) -> int:
    """A killed run's file: it opens, and holds whole batches only, consistent across every table."""
    store = ResultsStore(db)
    info = store.run(run_id)
    assert info.status == "interrupted"  # 'running' in the file, but its process is gone
    preds = store.predictions(run_id)
    per_image = preds.groupby("image_idx").size()
    done = len(per_image)
    assert (per_image == plans).all(), "an image with predictions for only some levels or aggregations"
    assert not preds.duplicated(["aggregation", "repeat", "n_names", "image_idx"]).any()
    order = store.run_images(run_id)["image_idx"]
    assert set(per_image.index) == set(order[:done]) and done % BATCH == 0  # whole batches, in the run's order
    assert info.n_done == done and info.n_rejected == 0
    points = store.points(run_id)
    assert len(points) == plans and (points["n_images"] == done).all()
    correct = preds.groupby(["aggregation", "repeat", "n_names"])["correct"].sum()
    for p in points.itertuples():
        assert p.correct == correct[(p.aggregation, p.repeat, p.n_names)]
        assert p.accuracy == pytest.approx(p.correct / done) and p.ci_low <= p.accuracy <= p.ci_high
    # embeddings were committed with their batch: one per scored image, none from the batch in flight
    stored = {h for (h,) in sql(db, "SELECT hash FROM embeddings WHERE kind = 'image'")}
    scored = {h for (h,) in sql(db, "SELECT DISTINCT image_hash FROM predictions WHERE run_id = ?", [run_id])}
    assert stored == scored
    return done


def image_hashes(root: Path) -> set[str]:
    return {sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


# --- crash ----------------------------------------------------------------------------------------

def test_killed_run_keeps_whole_batches_and_resumes_to_identical_results(photos, model_dir, encoder, reference,
                                                                           tmp_path):
    db = tmp_path / "crash.duckdb"
    store = ResultsStore(db)
    plans = len(reference[0].points(reference[1]))
    proc = start_cli(db, "run", "--dataset", photos, "--local", model_dir, *RUN_ARGS, log=tmp_path / "run")
    run_id = kill_part_way(store, proc, past=0).run_id
    first = assert_intact(db, run_id, plans)

    # killed again, this time the process that resumed it
    proc = start_cli(db, "resume", run_id, log=tmp_path / "resume1")
    kill_part_way(store, proc, past=first)
    second = assert_intact(db, run_id, plans)
    assert second > first

    # a copy of the killed file, resumed in this process, shows what a resume encodes: only the rest
    copy = tmp_path / "copy.duckdb"
    for suffix in ("", ".wal"):
        if Path(f"{db}{suffix}").exists():
            shutil.copyfile(f"{db}{suffix}", f"{copy}{suffix}")
    engine = Engine(ResultsStore(copy), encoder)
    assert engine.process(run_id) == "done"
    listed = [sha256(Path(p).read_bytes()).hexdigest() for p in store.run_images(run_id)["path"]]
    assert engine.encoded_images == len(set(listed[second:]) - set(listed[:second]))
    assert_same_results(ResultsStore(copy), run_id, *reference)

    # and the real thing: `semscale resume` finishes it, identical to the uninterrupted run
    proc = start_cli(db, "resume", run_id[:6], log=tmp_path / "resume2")
    rc, err = finish(proc, tmp_path / "resume2")
    assert rc == 0, err
    info = store.run(run_id)
    assert info.status == "done" and info.n_done == info.n_images == count_files(photos) == 306
    assert_same_results(store, run_id, *reference)
    images = len(image_hashes(photos))
    assert store.count_embeddings()["image"] == images == reference[0].count_embeddings()["image"]
    assert store.count_embeddings() == reference[0].count_embeddings()


# --- concurrency -------------------------------------------------------------------------------------

def test_two_cli_runs_write_one_results_file_at_once(photos, model_dir, encoder, reference, tmp_path,
                                                     tmp_path_factory):
    db = tmp_path / "shared.duckdb"
    a = start_cli(db, "run", "--dataset", photos, "--local", model_dir, *RUN_ARGS, log=tmp_path / "a")
    b = start_cli(db, "run", "--dataset", photos, "--local", model_dir, "--scheme", "paper", "--aggregation", "mean",
                  "--template", "a photo of a {}.", "--batch-size", BATCH, log=tmp_path / "b")
    for proc, name in ((a, "a"), (b, "b")):
        rc, err = finish(proc, tmp_path / name)
        assert rc == 0, err
    store = ResultsStore(db)
    runs = {tuple(r.config["aggregations"]): r for r in store.runs()}
    run_a, run_b = runs[("max", "probsum")], runs[("mean",)]
    assert run_a.status == run_b.status == "done" and run_a.n_done == run_b.n_done == count_files(photos)
    assert run_a.created < run_b.updated and run_b.created < run_a.updated  # they really overlapped
    assert_same_results(store, run_a.run_id, *reference)
    alone = solo_run(tmp_path_factory, encoder, config_for(photos, ["mean"], ["a photo of a {}."]))
    assert_same_results(store, run_b.run_id, *alone)
    # one shared cache: every image once, every prompt once
    assert store.count_embeddings()["image"] == len(image_hashes(photos))
    assert sql(db, "SELECT count(*), count(DISTINCT hash) FROM embeddings")[0] == (
        sum(store.count_embeddings().values()),) * 2


def test_a_reader_sees_the_curve_grow_while_a_cli_run_writes(photos, model_dir, reference, tmp_path):
    total = count_files(photos)
    db = tmp_path / "live.duckdb"
    ResultsStore(db)
    proc = start_cli(db, "run", "--dataset", photos, "--local", model_dir, *RUN_ARGS, log=tmp_path / "run")
    seen, errors, stop = [], [], threading.Event()

    def dashboard():  # what the Run page does every second, here as fast as it can
        store = ResultsStore(db)
        while not stop.is_set():
            try:
                runs = store.runs(limit=20)
                if runs:
                    points = store.points(runs[0].run_id)
                    if len(points):
                        seen.append((runs[0].status, sorted(set(points["n_images"]))))
            except Exception as exc:  # anything at all is a failure
                errors.append(exc)
            time.sleep(0.01)

    reader = threading.Thread(target=dashboard, daemon=True)
    reader.start()
    try:
        rc, err = finish(proc, tmp_path / "run")
    finally:
        stop.set()
        reader.join(timeout=60)
    assert rc == 0, err
    assert not errors, errors
    assert all(len(levels) == 1 for _, levels in seen), "a reader saw a batch on some levels but not others"
    curve = [levels[0] for _, levels in seen]
    assert curve == sorted(curve), "the number of scored images went down"
    growing = sorted(set(n for n in curve if 0 < n < total))
    assert len(growing) >= 3, f"the reader did not see the curve grow: {sorted(set(curve))}"
    assert all(n % BATCH == 0 or n == total for n in curve)
    assert {status for status, _ in seen} <= {"running", "done"}
    store = ResultsStore(db)
    assert_same_results(store, store.runs()[0].run_id, *reference)


HOLD = "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('holding', flush=True); time.sleep(300)"


def test_a_locked_results_file_fails_fast_with_a_clear_message(tmp_path, colour_dir, encoder):
    db = tmp_path / "locked.duckdb"
    store = ResultsStore(db, wait=1)
    first = Engine(store, encoder).run(RunConfig(dataset=str(colour_dir)))
    tables = [t for (t,) in sql(db, "SELECT table_name FROM information_schema.tables")]
    before = {t: sql(db, f"SELECT count(*) FROM {t}")[0][0] for t in tables}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        busy = rf"results file {re.escape(str(db))} is busy \(another process kept it locked for 1 s\)"
        t0 = time.monotonic()
        fresh = subprocess.run([sys.executable, "-c", "import sys; from semscale.store.results import ResultsStore; "
                                "ResultsStore(sys.argv[1], wait=1)", str(db)], capture_output=True, text=True, cwd=ROOT)
        assert re.search(busy, fresh.stderr), fresh.stderr[-2000:]  # a process that never set the file up waits for it
        again = ResultsStore(db, wait=1)  # this one did: a new store needs no turn on the file (the dashboard's reads)
        with pytest.raises(ResultsBusy, match=busy):
            again.runs()
        with pytest.raises(ResultsBusy, match=busy):  # a writer that opened the file earlier
            Engine(store, encoder).run(RunConfig(dataset=str(colour_dir)))
        with pytest.raises(ResultsBusy, match=busy):  # and a reader
            store.runs()
        assert time.monotonic() - t0 < 15, "waited far longer than the limit"
    finally:
        holder.kill()
        holder.wait()
    assert {t: sql(db, f"SELECT count(*) FROM {t}")[0][0] for t in tables} == before
    assert [(r.run_id, r.status) for r in ResultsStore(db).runs()] == [(first, "done")]


# --- the server token ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token_in_results(db: Path) -> list[str]:
    """Where the token occurs in a results file: its bytes (and WAL), or any value of any column as text."""
    found = [f.name for f in (db, Path(f"{db}.wal")) if f.exists() and TOKEN.encode() in f.read_bytes()]
    for table, column in sql(db, "SELECT table_name, column_name FROM information_schema.columns"):
        hits = sql(db, f'SELECT count(*) FROM "{table}" WHERE CAST("{column}" AS VARCHAR) LIKE ?', [f"%{TOKEN}%"])
        if hits[0][0]:
            found.append(f"{table}.{column}")
    return found


def token_in_files(*roots: Path) -> list[str]:
    return [str(p) for root in roots for p in ([root] if root.is_file() else root.rglob("*"))
            if p.is_file() and TOKEN.encode() in p.read_bytes()]


def command_lines(marker: str) -> dict[int, str]:
    """Live processes whose command line mentions `marker`, as any user on the machine can read them."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if marker in cmd and "semscale" in cmd:
                found[int(entry.name)] = cmd
    return found


def page_text(at) -> str:
    """Every element a Streamlit page rendered, as its protobuf text (what the browser would get)."""
    def walk(node):
        proto = getattr(node, "proto", None)
        yield str(proto) if proto is not None else ""
        for child in getattr(node, "children", {}).values():
            yield from walk(child)
    return "\n".join(walk(at._tree))


def failed_server_run(db: Path, dataset: Path, model_dir: Path, logs: Path) -> tuple[str, str]:
    """(run id, server URL) of a run made with a token on a real server that died before its first
    batch: registered while the server answered (a run's model is the server's fingerprint), then
    failed when it was gone."""
    from test_server import Server

    from semscale.models.encoders import ClipServerEncoder

    server = Server(model_dir, logs).start()
    try:
        # a generous deadline for the first encode (the fingerprint), which a loaded machine can take
        # seconds to answer; once the server is gone every call is refused at once
        encoder = ClipServerEncoder(server.url, token=TOKEN, timeout=30.0, retries=0)
        engine = Engine(ResultsStore(db), encoder)
        backend = Backend(server=server.url, token=TOKEN, timeout=1.0, retries=0)
        run_id = engine.start(RunConfig(dataset=str(dataset), backend=backend.public()))
    finally:
        server.kill()
    with pytest.raises(SemscaleError, match="failed to encode"):
        engine.process(run_id)
    return run_id, server.url


def test_token_of_a_dashboard_job_is_never_written(tmp_path, colour_dir, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("SEMSCALE_HOME", str(home))
    for var in ("SEMSCALE_TOKEN", "SEMSCALE_SERVER", "SEMSCALE_RESULTS", "SEMSCALE_MODEL_DIR", "CLIP_AUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    db = tmp_path / "dash.duckdb"
    url = f"grpc://127.0.0.1:{free_port()}"
    run_id, log = jobs.start(RunConfig(dataset=str(colour_dir)), db,
                             Backend(server=url, token=TOKEN, timeout=1.0, retries=0))
    seen: dict[int, str] = {}
    deadline = time.monotonic() + 240
    while (alive := command_lines(run_id)) or not seen:  # watch the job's command line until it exits
        seen.update(alive)
        assert time.monotonic() < deadline, "the job did not finish"
        if not alive and log.exists() and log.stat().st_size:
            break
        time.sleep(0.005)
    assert seen, "never saw the job's process"
    assert not [cmd for cmd in seen.values() if TOKEN in cmd]  # the token went by the environment
    text = log.read_text()
    assert "error:" in text and url in text and "Traceback" not in text, text  # it tried that server
    assert token_in_files(home) == []  # the job's log and its config file
    assert token_in_results(db) == []


def test_token_of_a_failed_server_run_is_never_stored_exported_or_shown(tmp_path, colour_dir, model_dir, monkeypatch):
    db = tmp_path / "cli.duckdb"
    env = cli_env(SEMSCALE_TOKEN=TOKEN, SEMSCALE_HOME=str(tmp_path / "home"))
    run_id, url = failed_server_run(db, colour_dir, model_dir, tmp_path / "logs")
    backend = ["--server", url, "--timeout", "1", "--retries", "0"]
    refused = run_cli(db, "run", "--dataset", colour_dir, *backend, env=env)
    assert refused.returncode == 2 and url in refused.stderr, refused.stderr
    outputs = [refused] + [run_cli(db, *args, env=env) for args in (
        ["resume", run_id, *backend], ["list"], ["show", run_id],
        ["export", run_id, "--csv", "--out", tmp_path / "csv"])]
    assert [o.returncode for o in outputs] == [2, 1, 0, 0, 0], [o.stderr for o in outputs]
    assert "failed to encode" in outputs[1].stderr
    info = ResultsStore(db).run(run_id)
    assert info.status == "failed" and url in info.error
    assert not [o.args for o in outputs if TOKEN in o.stdout + o.stderr]
    assert token_in_results(db) == []
    assert len(list((tmp_path / "csv").glob("*.csv"))) == 2
    assert token_in_files(tmp_path / "csv", tmp_path / "home") == []

    # the Run page, configured with that server and token, showing that failed run and its error
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SEMSCALE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SEMSCALE_RESULTS", str(db))
    monkeypatch.setenv("SEMSCALE_SERVER", url)
    monkeypatch.setenv("SEMSCALE_TOKEN", TOKEN)
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "pages" / "3_Run.py"), default_timeout=60)
    at.session_state["watch_run"] = run_id
    at.run()
    assert not at.exception
    text = page_text(at)
    assert run_id in text and "failed to encode" in text  # the page does show the failed run
    assert TOKEN not in text


@contextmanager
def echoing_server():
    """An HTTP 'CLIP server' that refuses every request and, as many do, quotes the credential back."""
    received: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append(self.headers.get("Authorization") or "")
            body = f'{{"detail": "invalid token {self.headers.get("Authorization")!r}"}}'.encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_token_quoted_back_by_a_server_is_not_repeated(tmp_path, colour_dir, model_dir):
    db = tmp_path / "echo.duckdb"
    env = cli_env(SEMSCALE_TOKEN=TOKEN, SEMSCALE_HOME=str(tmp_path / "home"))
    run_id, _ = failed_server_run(db, colour_dir, model_dir, tmp_path / "logs")
    with echoing_server() as (url, received):
        backend = ["--server", url, "--timeout", "5", "--retries", "0"]
        refused = run_cli(db, "run", "--dataset", colour_dir, *backend, env=env)
        resumed = run_cli(db, "resume", run_id, *backend, env=env)
    assert TOKEN in received  # the credential really was sent
    assert refused.returncode == 2 and resumed.returncode == 1, (refused.stderr, resumed.stderr)
    assert ResultsStore(db).run(run_id).status == "failed"
    leaks = [name for name, text in (("run", refused.stderr), ("resume", resumed.stderr)) if TOKEN in text]
    assert leaks + token_in_results(db) == []


def test_threads_opening_a_new_results_file_at_once(tmp_path):
    """Dashboard sessions are threads of one process: several may open a new results file together,
    and creating its tables at once must not fail any of them (DuckDB's catalog refuses a second
    concurrent CREATE)."""
    from concurrent.futures import ThreadPoolExecutor

    from semscale.store.results import ResultsStore

    for attempt in range(10):
        path = tmp_path / f"new{attempt}.duckdb"
        with ThreadPoolExecutor(8) as pool:
            stores = list(pool.map(lambda _, path=path: ResultsStore(path), range(8)))
        assert all(s.runs() == [] for s in stores)
