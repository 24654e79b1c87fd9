"""`semscale serve` as a real server on loopback, reached by the real clip-as-service client.

No mocks: each server is `python -m semscale serve` in a subprocess on a free port, serving the
tiny ONNX model; runs go through `ClipServerEncoder`, the CLI or `clip_client.Client` directly.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import COLOURS, ROOT, make_colour_images
from PIL import Image

from semscale.core.vectors import normalize
from semscale.data import datasets
from semscale.data.images import content_hash, decode
from semscale.models.encoders import ClipServerEncoder, EncoderUnavailable
from semscale.models.settings import Backend
from semscale.names.labels import LabelSet
from semscale.run.config import RunConfig
from semscale.run.engine import Engine
from semscale.run.plan import text_hash
from semscale.store.results import ResultsStore

COLOUR_LABELS = {c: [c, f"large {c} thing", f"small {c} thing", f"medium {c} thing"] for c in COLOURS}
AGGREGATIONS = ["max", "mean", "probsum"]
TOKEN = "sekrit-123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra) -> dict:
    """The test's environment without any server or token the developer may have set."""
    env = {k: v for k, v in os.environ.items() if k not in ("SEMSCALE_SERVER", "SEMSCALE_TOKEN", "CLIP_AUTH_TOKEN")}
    return dict(env, PYTHONPATH=str(ROOT), **extra)


def semscale(*args, cwd, env=None, timeout=120):
    """The CLI in a subprocess; cwd is a temp folder so no .streamlit/secrets.toml is read."""
    return subprocess.run([sys.executable, "-m", "semscale", *args], capture_output=True, text=True,
                          env=clean_env(**(env or {})), cwd=cwd, timeout=timeout)


class Server:
    """`python -m semscale serve` in its own process group (Jina starts child processes).

    A subclass for another server says how it is started (`argv`), what it prints when ready
    (`ready_text`) and how it is stopped cleanly (`stop_signal`)."""

    ready_text = "listening on"
    stop_signal = signal.SIGTERM  # as a service manager stops it

    def __init__(self, model_dir: Path, logs: Path, protocol: str = "grpc", port: int | None = None,
                 replicas: int = 1, extra: list[str] | None = None, command: list[str] | None = None):
        self.model_dir, self.protocol, self.replicas, self.extra = model_dir, protocol, replicas, extra or []
        self.command = command or [sys.executable, "-m", "semscale"]  # what `serve ...` is given to
        self.port = port or free_port()
        self.logs = logs
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"{'ws' if self.protocol == 'websocket' else self.protocol}://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [*self.command, "serve", "--port", str(self.port), "--protocol", self.protocol, "--replicas",
                str(self.replicas), "--host", "127.0.0.1", "--local", str(self.model_dir), *self.extra]

    def start(self, wait: float = 60.0, env: dict | None = None, attempts: int = 1) -> "Server":
        """Start and wait up to `wait` s for `ready_text`; a start that hangs is killed and, with
        `attempts` > 1, made again (a server that exits while starting fails at once)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, attempts + 1):
            name = f"serve-{self.port}" + (f"-{attempt}" if attempt > 1 else "")
            self.out, self.err = self.logs / f"{name}.out", self.logs / f"{name}.err"
            self.proc = subprocess.Popen(self.argv(), stdout=open(self.out, "w"), stderr=open(self.err, "w"),
                                         env=clean_env(**(env or {})), cwd=self.logs, start_new_session=True)
            deadline = time.monotonic() + wait
            while self.ready_text not in self.out.read_text():
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.kill()
                    break
                time.sleep(0.05)
            else:
                return self
            if self.proc.returncode != -signal.SIGKILL:  # it exited by itself: another try would too
                break
        pytest.fail(f"server did not start in {attempt} attempt(s) of {wait:g} s:\n{self.out.read_text()}\n"
                    f"{self.err.read_text()}")

    def stop(self) -> int:
        """`stop_signal`; the process group is killed if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(self.stop_signal)
        try:
            code = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9
        self.wait_port_free()
        return code

    def kill(self) -> None:
        """SIGKILL to the server and its Jina children at once: the crash case."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        if self.proc is not None:
            try:  # children (gateway, executor) live in the same group
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait_port_free()

    def wait_port_free(self, timeout: float = 20.0) -> None:
        """Return once the port can be bound again: the server process has exited, but a Jina child killed
        with it (SIGKILL, or its parent-death signal) may hold the listening socket a moment longer, and
        a server started on the same port meanwhile would refuse to start ("cannot listen")."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.socket() as sock:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as `semscale serve` binds
                    sock.bind(("127.0.0.1", self.port))
                return
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"port {self.port} still taken {timeout:g} s after the server stopped")
                time.sleep(0.05)

    def counters(self) -> dict:
        """What the server's (single) replica has encoded since it started, from `/model`."""
        return ClipServerEncoder(self.url, timeout=10, retries=0).server_model()


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    srv = Server(model_dir, tmp_path_factory.mktemp("serve")).start()
    yield srv
    srv.stop()
    srv.kill()


def test_a_start_that_hangs_is_made_again_then_fails(model_dir, tmp_path):
    """A server that never says it is ready (one clip_server start in nine hangs) is killed after `wait`
    and started once more with `attempts=2`; then the test fails, naming both attempts."""
    class Hangs(Server):
        ready_text = "a line no server prints"

    srv = Hangs(model_dir, tmp_path)
    with pytest.raises(pytest.fail.Exception, match=r"server did not start in 2 attempt\(s\) of 3 s"):
        srv.start(wait=3, attempts=2)
    assert srv.proc.returncode == -signal.SIGKILL
    assert sorted(p.name for p in tmp_path.glob("serve-*.out")) == [f"serve-{srv.port}-2.out", f"serve-{srv.port}.out"]


def images_of(folder: Path):
    ds = datasets.load(str(folder))
    return ds, [decode(Path(s.path).read_bytes(), s.path) for s in ds.samples]


def odd_images() -> list:
    """Files the engine normalizes before encoding (not plain RGB JPEG/PNG): the server must agree."""
    out = []
    for mode, fmt in (("RGBA", "PNG"), ("L", "PNG"), ("P", "GIF"), ("RGB", "WEBP")):
        img = Image.new("RGB", (40, 30), (200, 40, 90)).convert(mode)
        buf = io.BytesIO()
        img.save(buf, format=fmt)
        out.append(decode(buf.getvalue()))
    return out


# --- (a) a whole experiment through the server equals the in-process run -------------------------
def test_engine_through_server_equals_in_process(server, colour_dir, results, encoder, tmp_path):
    config = dict(dataset=str(colour_dir), labels=COLOUR_LABELS, aggregations=AGGREGATIONS,
                  templates=["a photo of a {}."], batch_size=5)
    remote = ClipServerEncoder(server.url, batch_size=7, timeout=30, retries=1)
    before = server.counters()
    assert remote.model_id == encoder.model_id  # one model, one cache: so the local run uses its own file
    local_results = ResultsStore(tmp_path / "local.duckdb")
    via_server = Engine(results, remote)
    run_remote = via_server.run(RunConfig(**config))
    after = server.counters()
    in_process = Engine(local_results, encoder)
    run_local = in_process.run(RunConfig(**config))

    assert results.run(run_remote).status == local_results.run(run_local).status == "done"
    assert via_server.encoded_images == in_process.encoded_images == 24
    assert via_server.encoded_texts == in_process.encoded_texts == 16
    # the server saw each image once, besides the probe image every request carries
    assert after["images_encoded"] - before["images_encoded"] == 24 + remote.probes_sent
    assert after["texts_encoded"] - before["texts_encoded"] == 16 + 1  # and the probe text, once

    keys = ["aggregation", "repeat", "n_names", "image_idx"]
    a, b = (store.predictions(r).sort_values(keys).reset_index(drop=True)
            for store, r in ((results, run_remote), (local_results, run_local)))
    assert len(a) == 24 * 3 * 3
    assert a["predicted"].tolist() == b["predicted"].tolist()
    assert a["top_names"].map(list).tolist() == b["top_names"].map(list).tolist()
    np.testing.assert_allclose(a["score"], b["score"], atol=1e-5)
    cols = ["aggregation", "n_names", "n_images", "correct", "accuracy"]
    assert results.points(run_remote)[cols].equals(local_results.points(run_local)[cols])

    ds, images = images_of(colour_dir)
    hashes = [content_hash(im.original) for im in images]
    texts = [f"a photo of a {n}." for ns in COLOUR_LABELS.values() for n in ns]
    for keys_ in (hashes, [text_hash(t) for t in texts]):
        got = results.get_embeddings(remote.model_id, keys_)
        want = local_results.get_embeddings(encoder.model_id, keys_)
        assert set(got) == set(want) == set(keys_)
        for h in keys_:
            assert np.allclose(got[h], want[h], atol=1e-5), h
    assert results.count_embeddings(remote.model_id) == {"image": 24, "text": 16}


# --- (b) every protocol: embeddings equal the in-process ones, ranking works, stops cleanly ---------
@pytest.mark.parametrize("protocol,replicas", [("grpc", 1), ("http", 2), ("websocket", 1)])
def test_protocols(protocol, replicas, model_dir, encoder, tmp_path, colour_dir):
    srv = Server(model_dir, tmp_path / "logs", protocol=protocol, replicas=replicas).start()
    try:
        ds, images = images_of(colour_dir)
        expected = ds.samples[0].label
        images = images[::4] + odd_images()
        remote = ClipServerEncoder(srv.url, batch_size=3, timeout=30, retries=0)
        np.testing.assert_allclose(remote.encode_images(images), encoder.encode_images(images), atol=1e-5)
        texts = ["red", "a photo of a blue thing.", "ünïcødé 名前", "x" * 150]
        np.testing.assert_allclose(remote.encode_texts(texts), encoder.encode_texts(texts), atol=1e-5)
        info = remote.server_model()
        assert info["model"] == encoder.model_id and info["dim"] == 16
        from docarray import Document, DocumentArray

        ranked = remote.rank(DocumentArray([Document(blob=images[0].data, matches=[
            Document(text=t) for t in ("blue", "yellow", "red", "green")])]))
        assert ranked[0].matches[0].text == expected
    finally:
        rc = srv.stop()
    assert rc == 0, srv.err.read_text()
    assert "Traceback" not in srv.err.read_text()
    out = srv.out.read_text()
    assert f"listening on {srv.url}" in out and out.count("\n") == 1, out  # one readable line


# --- (c) the paper's /rank method predicts what the embed-once engine predicts with max ------------
def paper_method_agrees_with_engine_max(url: str, encoder, colour_dir: Path, results: ResultsStore):
    """The paper's `/rank` predictions through the server at `url` at levels 1, 2, 4, checked equal to
    the embed-once engine's `max` with `encoder` (the server's model); returns both for their counts."""
    from semscale.models.paper_method import rank_predictions

    ds, images = images_of(colour_dir)
    levels = [1, 2, 4]
    paper = rank_predictions(url, images, LabelSet.clean(COLOUR_LABELS, ds.classes), levels, batch_size=8)
    engine = Engine(results, encoder)
    run_id = engine.run(RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS, aggregations=["max"]))
    preds = results.predictions(run_id, "max")
    for n in levels:
        assert paper.predictions[n] == preds[preds["n_names"] == n].sort_values("image_idx")["predicted"].tolist()
    return paper, engine


def test_paper_method_agrees_with_engine_max(server, colour_dir, results, encoder):
    before = server.counters()
    paper, engine = paper_method_agrees_with_engine_max(server.url, encoder, colour_dir, results)
    after = server.counters()
    # the cost the paper's path pays: every image once per level, every active name once per image
    assert paper.image_encodes == 24 * 3 == after["images_encoded"] - before["images_encoded"]
    assert paper.text_encodes == 24 * (4 + 8 + 16) == after["texts_encoded"] - before["texts_encoded"]
    assert paper.requests == 3 * 3 and paper.rank_calls == 72
    assert (engine.encoded_images, engine.encoded_texts) == (24, 16)


# --- (d) /rank scores like clip-as-service; /encode drops image bytes when asked ------------------
def test_rank_scores_and_drop_image_content(server, encoder, colour_dir):
    from clip_client import Client
    from docarray import Document, DocumentArray
    from jina import Client as JinaClient

    ds, images = images_of(colour_dir)
    first = {s.label: im for s, im in reversed(list(zip(ds.samples, images, strict=True)))}
    red, green, blue = first["red"], first["green"], first["blue"]
    names = ["blue", "large red thing", "green", "yellow", "red"]
    client = Client(server.url)
    queries = DocumentArray([
        Document(blob=red.data, matches=[Document(text=t) for t in names]),
        Document(text="a green thing", matches=[Document(blob=im.data) for im in (red, green, blue)]),
    ])
    ranked = client.rank(queries)
    for query in ranked:
        scores = [m.scores["clip_score"].value for m in query.matches]
        assert sum(scores) == pytest.approx(1.0, abs=1e-6)
        assert scores == sorted(scores, reverse=True)
        assert {m.scores["clip_score"].op_name for m in query.matches} == {"softmax"}
        assert {m.scores["clip_score_cosine"].op_name for m in query.matches} == {"cosine"}
    image_q = ranked[0]
    assert image_q.matches[0].text in ("red", "large red thing")
    q = normalize(encoder.encode_images([red]))[0]
    t = normalize(encoder.encode_texts([m.text for m in image_q.matches]))
    cos = t @ q
    np.testing.assert_allclose([m.scores["clip_score_cosine"].value for m in image_q.matches], cos, atol=1e-5)
    soft = np.exp(100 * cos - (100 * cos).max())
    np.testing.assert_allclose([m.scores["clip_score"].value for m in image_q.matches], soft / soft.sum(), atol=1e-5)
    text_q = ranked[1]
    assert text_q.matches[0].embedding is not None
    assert all(not m.blob for m in text_q.matches)  # the client asks the server to drop image content

    jc = JinaClient(host="127.0.0.1", port=server.port, protocol="grpc")
    as_uri = Document(blob=red.data, mime_type="image/png" if red.data[:4] == b"\x89PNG" else "image/jpeg")
    out = jc.post("/encode", DocumentArray([
        Document(uri=as_uri.convert_blob_to_datauri().uri), Document(tensor=np.asarray(red.pixels))]))
    for doc in out:  # a data: URI and an already-decoded H x W x 3 array give the same embedding
        np.testing.assert_allclose(doc.embedding, encoder.encode_images([red])[0], atol=1e-5)
    from jina.excepts import BadServer

    with pytest.raises(BadServer, match="must be a data: or http"):  # the server never reads its own files
        jc.post("/encode", DocumentArray([Document(uri=str(ds.samples[0].path))]))
    for drop in (True, False):
        out = jc.post("/encode", DocumentArray([Document(blob=red.data), Document(text="red")]),
                      parameters={"drop_image_content": drop})
        assert out[0].embedding.dtype == np.float32 and out[1].embedding.dtype == np.float32
        assert bool(out[0].blob) is not drop and out[1].text == "red"
        np.testing.assert_allclose(out[0].embedding, encoder.encode_images([red])[0], atol=1e-5)


# --- (e) ping ------------------------------------------------------------------------------------
@pytest.mark.smoke
def test_ping(server, encoder, tmp_path):
    out = semscale("ping", server.url, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert server.url in out.stdout and encoder.model_id in out.stdout and "16-d" in out.stdout
    port = free_port()
    down = semscale("ping", f"grpc://127.0.0.1:{port}", "--timeout", "5", cwd=tmp_path)
    assert down.returncode == 2 and down.stdout == ""
    assert down.stderr.startswith(f"CLIP server grpc://127.0.0.1:{port} does not answer: ")
    assert down.stderr.count("\n") == 1 and "Traceback" not in down.stderr, down.stderr


# --- (f) no server at the start of a run ------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["grpc", "http", "ws"])
def test_run_without_server_fails_in_one_line(scheme, colour_dir, tmp_path):
    port = free_port()
    started = time.monotonic()
    out = semscale("--results", str(tmp_path / "r.duckdb"), "run", "--dataset", str(colour_dir),
                   "--server", f"{scheme}://127.0.0.1:{port}", "--timeout", "3", "--retries", "2", cwd=tmp_path)
    assert time.monotonic() - started < 60
    assert out.returncode != 0 and out.stdout == ""
    assert "Traceback" not in out.stderr and "Client@" not in out.stderr, out.stderr  # no Jina log boxes
    assert len(out.stderr.splitlines()) == 1, out.stderr  # one sentence, before any run is registered
    error = out.stderr.strip()
    assert error.startswith(f"error: CLIP server {scheme}://127.0.0.1:{port} does not answer: ")
    assert ("UNAVAILABLE" if scheme == "grpc" else "Cannot connect to host") in error
    assert ResultsStore(tmp_path / "r.duckdb").runs() == []


# --- (g) server killed part way; resume on a restarted server completes with no image encoded twice -
def test_server_killed_mid_run_then_resume(model_dir, encoder, tmp_path, per_batch_commits):
    from semscale.store.results import ResultsStore

    make_colour_images(tmp_path / "many", per_class=50, size=20)  # 200 images
    store = ResultsStore(tmp_path / "r.duckdb")
    srv = Server(model_dir, tmp_path / "logs").start()
    try:
        remote = ClipServerEncoder(srv.url, batch_size=8, timeout=5, retries=2, backoff=0.2)
        backend = Backend(server=srv.url, batch_size=8, timeout=5, retries=2)
        config = RunConfig(dataset=str(tmp_path / "many"), labels=COLOUR_LABELS, aggregations=AGGREGATIONS,
                           batch_size=8, backend=backend.public())
        engine = Engine(store, remote)
        run_id = engine.start(config)

        def kill_after_ten_batches(progress):
            if progress.done == 80:
                srv.kill()

        with pytest.raises(EncoderUnavailable, match=r"failed to encode 8 images after 3 attempts"):
            engine.process(run_id, progress=kill_after_ten_batches)
        info = store.run(run_id)
        # batch 11 was encoded while batch 10 committed (before the kill), so its commit still lands
        assert info.status == "failed" and "CLIP server" in info.error and info.n_done == 88
        assert store.count_embeddings(remote.model_id) == {"image": 88, "text": 16}
        assert len(store.predictions(run_id)) == 88 * 3 * 3
        assert engine.encoded_images == 88

        srv = Server(model_dir, tmp_path / "logs2", port=srv.port).start()  # same port, fresh process
        out = semscale("--results", str(store.path), "resume", run_id, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        counters = srv.counters()
        # the rest, once; the probe image once at connect and in each of the 14 requests; the probe text
        assert counters["images_encoded"] == 112 + 1 + 14 and counters["texts_encoded"] == 1
        assert store.count_embeddings(remote.model_id) == {"image": 200, "text": 16}
    finally:
        srv.stop()
        srv.kill()
    assert store.run(run_id).status == "done" and store.run(run_id).n_done == 200
    uninterrupted = Engine(store, encoder).run(RunConfig(dataset=str(tmp_path / "many"), labels=COLOUR_LABELS,
                                                         aggregations=AGGREGATIONS, batch_size=8))
    cols = ["aggregation", "repeat", "n_names", "n_images", "correct", "accuracy"]
    assert store.points(run_id)[cols].equals(store.points(uninterrupted)[cols])
    keys = ["aggregation", "repeat", "n_names", "image_idx"]
    a, b = (store.predictions(r).sort_values(keys).reset_index(drop=True) for r in (run_id, uninterrupted))
    assert len(a) == 200 * 9 and not a.duplicated(keys).any()
    assert a[keys + ["predicted", "correct"]].equals(b[keys + ["predicted", "correct"]])


# --- (h) the token never reaches the results file or any output -----------------------------------
def test_token_is_never_stored_or_printed(server, colour_dir, tmp_path):
    db = tmp_path / "r.duckdb"
    dead = f"grpc://127.0.0.1:{free_port()}"
    env = {"SEMSCALE_TOKEN": TOKEN}
    outputs = [
        semscale("--results", str(db), "run", "--dataset", str(colour_dir), "--server", server.url,
                 "--aggregation", "probsum", cwd=tmp_path, env=env),
        semscale("--results", str(db), "run", "--dataset", str(colour_dir), "--server", dead,
                 "--timeout", "2", "--retries", "0", cwd=tmp_path, env=env),
        semscale("ping", server.url, "--token", TOKEN, cwd=tmp_path),
        semscale("ping", dead, "--token", TOKEN, cwd=tmp_path),
        semscale("ping", server.url, cwd=tmp_path, env=env),
        semscale("--results", str(db), "list", cwd=tmp_path),
    ]
    assert [o.returncode for o in outputs] == [0, 2, 0, 2, 0, 0], [o.stderr for o in outputs]
    for o in outputs:
        assert TOKEN not in o.stdout and TOKEN not in o.stderr
    run_id = outputs[-1].stdout.split()[0]
    shown = semscale("--results", str(db), "show", run_id, cwd=tmp_path)
    assert TOKEN not in shown.stdout + shown.stderr
    files = [p for p in tmp_path.iterdir() if p.name.startswith("r.duckdb")]
    assert files and all(TOKEN.encode() not in p.read_bytes() for p in files)
    assert TOKEN not in server.out.read_text() + server.err.read_text()


# --- a request the server refuses: one sentence from the server's own reason, nothing else ---------
def test_server_side_error_is_reported_in_one_sentence(server, tmp_path):
    script = (
        "from PIL import Image\n"
        "from semscale.data.images import DecodedImage\n"
        "from semscale.models.encoders import ClipServerEncoder, EncoderUnavailable\n"
        f"enc = ClipServerEncoder({server.url!r}, retries=1, backoff=0.1)\n"
        "try:\n"
        "    enc.encode_images([DecodedImage(b'not an image', Image.new('RGB', (4, 4)), False)])\n"
        "except EncoderUnavailable as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=clean_env(),
                         cwd=tmp_path, timeout=120)
    assert out.stdout.strip() == (f"CLIP server {server.url} failed to encode 1 images after 2 attempts (server "
                                  "error: ImageRejected('document 0: not an image file (unrecognized format)'))")
    assert out.stderr == "", out.stderr  # no Jina log box, no asyncio traceback from gRPC's poller
