"""Upstream clip-as-service (`python -m clip_server`, clip-server 0.8.3, ONNX executor) on loopback,
reached by semscale as a user's clip-as-service is: it never says its model, so semscale knows it by
the probe fingerprint alone.

The server runs from its own venv, made once by `scripts/bootstrap.py clip-server` (the fixture
makes it when missing, and a failed install fails these tests), on the tiny model in clip_server's
layout (`tinyclip.build_clip_server`). One Flow serves grpc, http and ws at once, so one start covers
the three schemes; the lost-server and swapped-model test starts its own.
"""

from __future__ import annotations

import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tinyclip
from conftest import ROOT, make_colour_images
from streamlit.testing.v1 import AppTest
from test_preset import flowers  # noqa: F401 (a fixture)
from test_server import COLOUR_LABELS, Server, free_port, images_of, paper_method_agrees_with_engine_max, semscale

from semscale.data.images import content_hash
from semscale.models.encoders import ClipServerEncoder, EncoderUnavailable, ModelChanged, wrong_scheme
from semscale.run.config import RunConfig
from semscale.run.engine import Engine
from semscale.run.plan import text_hash
from semscale.store.results import ResultsStore

sys.path.insert(0, str(ROOT / "scripts"))
import bootstrap  # noqa: E402

# The first use makes the server's venv (about 7 minutes, 5.7 GB; `.ci/run` starts it early, beside the
# suite): this file's tests get the time that takes. Each request still has its own timeout.
pytestmark = pytest.mark.timeout(1800)

MODEL = "ViT-B-32::openai"
READY = 90.0  # s: 4-6 s is usual, 12 s on a first start, longer beside the rest of the suite
FLOW = """jtype: Flow
version: '1'
with:
  host: 127.0.0.1
  protocol: [grpc, http, websocket]
  port: [{grpc}, {http}, {ws}]
executors:
  - name: clip_o
    uses:
      jtype: CLIPEncoder
      with:
        name: {model}
        model_path: {model_dir}
      metas:
        py_modules:
          - clip_server.executors.clip_onnx
"""


class ClipServer(Server):
    """`python -m clip_server FLOW.yml` from the server venv: one gateway on 127.0.0.1 speaking grpc,
    http and ws on three ports (`urls`), `url` the grpc one."""

    ready_text = "Flow is ready to serve"
    stop_signal = signal.SIGINT  # SIGTERM to the main process leaves gateway and executor holding the ports

    def __init__(self, python: Path, model_dir: Path, logs: Path, ports: dict[str, int] | None = None):
        self.ports = ports or {"grpc": free_port(), "http": free_port(), "ws": free_port()}
        super().__init__(model_dir, logs, port=self.ports["grpc"])
        self.python = python

    @property
    def urls(self) -> dict[str, str]:
        return {scheme: f"{scheme}://127.0.0.1:{port}" for scheme, port in self.ports.items()}

    def argv(self) -> list[str]:
        flow = self.logs / f"flow-{self.port}.yml"
        flow.write_text(FLOW.format(model=MODEL, model_dir=self.model_dir, **self.ports))
        return [str(self.python), "-m", "clip_server", str(flow)]

    def start(self) -> "ClipServer":
        """One retry: about one start in nine hangs in Jina's "waiting for all ready"."""
        return super().start(wait=READY, env={"NO_VERSION_CHECK": "1", "JINA_HIDE_SURVEY": "1"}, attempts=2)


@pytest.fixture(scope="session")
def server_python() -> Path:
    try:
        return bootstrap.venv_python(bootstrap.clip_server_env())
    except bootstrap.SetupError as exc:
        pytest.fail(f"the clip-server venv could not be made: {exc}")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """Two tiny models in clip_server's layout: A, which the servers serve, and B, swapped in for it."""
    root = tmp_path_factory.mktemp("clip-server-models")
    return {name: tinyclip.build_clip_server(root / name, seed=seed) for name, seed in (("A", 0), ("B", 1))}


@pytest.fixture(scope="module")
def clip_server(server_python, models, tmp_path_factory):
    srv = ClipServer(server_python, models["A"], tmp_path_factory.mktemp("clip-server")).start()
    yield srv
    srv.stop()
    srv.kill()


def fingerprint(url: str) -> str:
    return ClipServerEncoder(url, timeout=60, retries=0).model_id


def test_a_failed_server_install_fails_and_is_tried_again(tmp_path, monkeypatch):
    """No silent skip: a failing pip step raises, leaves no stamp, and the next call installs anew."""
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / "requirements.txt").write_text("")
    (clone / bootstrap.CLIP_SERVER).write_text(f"{tmp_path / 'no-such.whl'}\n")  # fails without asking an index
    monkeypatch.setattr(bootstrap, "ROOT", clone)
    monkeypatch.setenv("SEMSCALE_CACHE", str(tmp_path / "cache"))
    for _ in range(2):
        with pytest.raises(bootstrap.SetupError,
                           match=r"this step failed \(exit 1\): .* -m pip install .*no-such\.whl"):
            bootstrap.clip_server_env()
    assert not list((tmp_path / "cache").glob("clip-server-*/.semscale-clip-server"))


def test_ping_over_grpc_http_and_ws(clip_server, tmp_path):
    with ThreadPoolExecutor(3) as pool:  # three CLI processes at once: each takes seconds to import Jina
        answers = dict(zip(clip_server.urls,
                           pool.map(lambda url: semscale("ping", url, "--timeout", "60", cwd=tmp_path),
                                    clip_server.urls.values()), strict=True))
    probe = fingerprint(clip_server.url)
    assert probe.startswith("server-probe:")
    for scheme, out in answers.items():
        assert out.returncode == 0, out.stderr
        assert out.stdout == f"CLIP server {clip_server.urls[scheme]} answers: model {probe}, 16-d embeddings\n"


def test_wrong_scheme_names_the_right_one(clip_server, tmp_path):
    ports, names = clip_server.ports, {"grpc": "gRPC", "http": "HTTP", "ws": "WebSocket"}
    for scheme, right in (("http", "grpc"), ("ws", "grpc"), ("grpc", "http"), ("ws", "http"), ("grpc", "ws"),
                          ("http", "ws")):
        assert wrong_scheme(f"{scheme}://127.0.0.1:{ports[right]}") == (
            f"127.0.0.1:{ports[right]} speaks {names[right]}, not {names[scheme]}: use {right}://127.0.0.1:{ports[right]}")
    for scheme, port in ports.items():
        assert wrong_scheme(f"{scheme}://127.0.0.1:{port}") is None
    assert wrong_scheme(f"grpc://127.0.0.1:{free_port()}") is None  # nothing there: nothing to say
    out = semscale("ping", f"http://127.0.0.1:{ports['grpc']}", "--timeout", "10", cwd=tmp_path)
    assert (out.returncode, out.stdout) == (2, "")
    assert out.stderr == (f"CLIP server http://127.0.0.1:{ports['grpc']} does not answer: 127.0.0.1:{ports['grpc']} "
                          f"speaks gRPC, not HTTP: use grpc://127.0.0.1:{ports['grpc']}\n")


def test_run_stores_what_the_servers_own_encode_gives(clip_server, colour_dir, results):
    """The cache holds what clip_server computes: compared with clip_client's own `encode`."""
    from clip_client import Client
    from docarray import Document, DocumentArray

    templates = ["a photo of a {}."]
    remote = ClipServerEncoder(clip_server.urls["http"], batch_size=7, timeout=60, retries=1)
    engine = Engine(results, remote)
    run_id = engine.run(RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS, templates=templates,
                                  aggregations=["max", "mean", "probsum"]))
    info = results.run(run_id)
    assert info.status == "done" and info.n_done == 24 and info.model == fingerprint(clip_server.url)
    assert (engine.encoded_images, engine.encoded_texts) == (24, 16)
    assert len(results.predictions(run_id)) == 24 * 3 * 3  # levels 1, 2, 4

    ds, images = images_of(colour_dir)
    texts = [t.format(n) for ns in COLOUR_LABELS.values() for n in ns for t in templates]
    own = Client(clip_server.url)
    for keys, docs in (([content_hash(im.original) for im in images], [Document(blob=im.data) for im in images]),
                       ([text_hash(t) for t in texts], [Document(text=t) for t in texts])):
        stored = results.get_embeddings(info.model, keys)
        want = own.encode(DocumentArray(docs)).embeddings
        # equal up to float noise from batching (ONNX sums in another order for another batch size: ~1e-8)
        np.testing.assert_allclose(np.stack([stored[k] for k in keys]), want, rtol=0, atol=1e-6)


def test_paper_method_on_rank_agrees_with_engine_max(clip_server, colour_dir, results):
    paper, engine = paper_method_agrees_with_engine_max(
        clip_server.urls["ws"], ClipServerEncoder(clip_server.url, timeout=60), colour_dir, results)
    assert paper.rank_calls == 24 * 3 and (engine.encoded_images, engine.encoded_texts) == (24, 16)


def test_paper_preset_and_the_servers_model_name(clip_server, flowers, tmp_path):  # noqa: F811
    """The paper preset through the server; the model name the user gives is kept with the run and
    shown by show, compare, report and the Results page, and without it they say it is unknown."""
    db = str(tmp_path / "r.duckdb")
    run = ("--results", db, "run", "--preset", "paper", "--dataset", str(flowers), "--domain", "Flower",
           "--server", clip_server.url, "--quiet")
    named, unnamed = semscale(*run, "--server-model", MODEL, cwd=tmp_path), semscale(*run, cwd=tmp_path)
    assert named.returncode == unnamed.returncode == 0, named.stderr + unnamed.stderr
    store = ResultsStore(db)
    b, a = store.runs()  # newest first
    probe = fingerprint(clip_server.url)
    assert a.model == b.model == probe and a.config["preset"] == "paper"
    assert (a.config["backend"]["server_model"], b.config["backend"]["server_model"]) == (MODEL, None)
    with_name = f"{probe} ({MODEL}, as named by the user)"
    without = f"{probe} (model name unknown: the server does not say it)"
    assert f"model={with_name}\n" in named.stdout and f"model={without}\n" in unnamed.stdout
    assert f"model={with_name}\n" in semscale("--results", db, "show", a.run_id, cwd=tmp_path).stdout
    compared = semscale("--results", db, "compare", a.run_id, b.run_id, cwd=tmp_path)
    assert compared.stdout.startswith(f"A = run {a.run_id} ({with_name}), B = run {b.run_id} ({without}),")
    assert semscale("--results", db, "report", a.run_id, b.run_id, "--out", tmp_path / "report",
                    cwd=tmp_path).returncode == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert f"- model: `{with_name}`" in report and f"- model: `{without}`" in report

    at = AppTest.from_file(str(ROOT / "pages" / "4_Results.py"), default_timeout=120)
    at.session_state["results_path"] = db
    at.run()
    assert not at.exception, at.exception
    shown = next(d.value for d in at.dataframe if "model" in d.value.columns)
    assert dict(zip(shown["run"], shown["model"], strict=True)) == {a.run_id: with_name, b.run_id: without}


def test_a_server_model_without_a_server_is_one_line(colour_dir, tmp_path, model_dir):
    for backend in (["--local", str(model_dir)], []):
        out = semscale("--results", str(tmp_path / "r.duckdb"), "run", "--dataset", str(colour_dir), *backend,
                       "--server-model", MODEL, cwd=tmp_path, env={"SEMSCALE_MODEL_DIR": str(model_dir)})
        assert (out.returncode, out.stdout) == (2, "")
        assert out.stderr == "error: --server-model names a CLIP server's model: give it with --server URL\n"
    from semscale.models.settings import Backend

    # recommend's "try it" command starts a run against the same server under the same name
    assert Backend.from_saved({"server": "grpc://h:1", "server_model": MODEL}).to_cli_args() == [
        "--server", "grpc://h:1", "--server-model", MODEL]
    out = semscale("--results", str(tmp_path / "r.duckdb"), "resume", "0123456789", "--server-model", MODEL,
                   cwd=tmp_path)
    assert (out.returncode, out.stdout) == (2, "")
    assert out.stderr == ("error: a run keeps the server's model name given when it started: "
                          "resume takes no --server-model\n")


def test_run_page_names_the_servers_model(clip_server, colour_dir, tmp_path, monkeypatch):
    """The Run page's field goes with the backend into a dashboard run, stored beside the fingerprint."""
    from semscale.run import jobs

    monkeypatch.setenv("SEMSCALE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "pages" / "3_Run.py"), default_timeout=120).run()
    at.radio[0].set_value("CLIP server").run()
    at.text_input[0].set_value(clip_server.url).run()
    at.text_input(key="server_model").set_value(f" {MODEL} ").run()
    at.button[0].click().run()
    assert not at.exception, at.exception
    backend = at.session_state["backend"]
    assert (backend.server, backend.server_model) == (clip_server.url, MODEL)
    db = tmp_path / "dash.duckdb"
    run_id, log = jobs.start(RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS), db, backend)
    store, deadline = ResultsStore(db), time.monotonic() + 120
    while not (store.runs() and store.run(run_id).status == "done"):
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.3)
    info = store.run(run_id)
    assert info.model_text() == f"{fingerprint(clip_server.url)} ({MODEL}, as named by the user)"


def test_lost_server_resumed_and_swapped_model_refused(server_python, models, clip_server, tmp_path,
                                                       per_batch_commits):
    """A run whose server is killed part way; resumed, it stops when another model takes the URL mid-run,
    and `resume` there is refused; back on its own model it ends with an unbroken run's results."""
    make_colour_images(tmp_path / "imgs", per_class=20, size=20)  # 80 images, 10 batches of 8
    store = ResultsStore(tmp_path / "r.duckdb")
    config = dict(dataset=str(tmp_path / "imgs"), labels=COLOUR_LABELS, aggregations=["max", "probsum"], batch_size=8)
    servers = [ClipServer(server_python, models["A"], tmp_path / "a").start()]

    def restart(model: str) -> None:
        servers[-1].stop()
        servers.append(ClipServer(server_python, models[model], tmp_path / f"{model}{len(servers)}",
                                  ports=servers[-1].ports).start())

    try:
        url = servers[0].url
        remote = ClipServerEncoder(url, timeout=20, retries=1, backoff=0.2)  # batches as `resume` sends them
        engine = Engine(store, remote)
        run_id = engine.start(RunConfig(**config, backend={"server": url, "timeout": 20, "retries": 1}))

        def kill_after_two_batches(progress):
            if progress.done == 16:
                servers[-1].kill()

        with pytest.raises(EncoderUnavailable, match="failed to encode 8 images after 2 attempts"):
            engine.process(run_id, progress=kill_after_two_batches)
        lost = store.run(run_id)
        assert lost.status == "failed" and 16 <= lost.n_done < 80

        restart("A")
        swapped = []

        def swap_after_one_batch(progress):
            if not swapped:
                swapped.append(progress.done)
                restart("B")

        with pytest.raises(ModelChanged, match=f"changed from {remote.model_id} to server-probe:"):
            Engine(store, ClipServerEncoder(url, timeout=20, retries=1)).process(run_id, progress=swap_after_one_batch)
        b_model = fingerprint(url)
        assert b_model != remote.model_id and store.count_embeddings(b_model) == {}  # nothing of B stored
        done = store.run(run_id).n_done
        assert swapped[0] <= done < 80

        refused = semscale("--results", str(store.path), "resume", run_id, cwd=tmp_path)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert refused.stderr.startswith(f"error: run {run_id} was made with model {remote.model_id}, not {b_model}\n")
        assert store.run(run_id).n_done == done and store.count_embeddings(b_model) == {}

        restart("A")
        resumed = semscale("--results", str(store.path), "resume", run_id, cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
    finally:
        codes = [srv.stop() for srv in servers]
        for srv in servers:
            srv.kill()
    assert codes == [-signal.SIGKILL] + [0] * (len(servers) - 1)  # the lost one killed, SIGINT stops the rest cleanly
    assert store.run(run_id).status == "done" and store.run(run_id).n_done == 80
    whole_store = ResultsStore(tmp_path / "whole.duckdb")  # its own cache: every embedding computed anew
    whole = Engine(whole_store, ClipServerEncoder(clip_server.url, timeout=60)).run(RunConfig(**config))
    cols = ["aggregation", "repeat", "n_names", "n_images", "correct", "accuracy"]
    assert store.points(run_id)[cols].equals(whole_store.points(whole)[cols])
    keys = ["aggregation", "repeat", "n_names", "image_idx"]
    a, b = (s.predictions(r).sort_values(keys).reset_index(drop=True)
            for s, r in ((store, run_id), (whole_store, whole)))
    assert len(a) == 80 * 2 * 3 and a[keys + ["predicted", "score"]].equals(b[keys + ["predicted", "score"]])
