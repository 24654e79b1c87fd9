"""Security: where a token goes, what `semscale serve` fetches, what survives a killed server, and
threads left by timed-out calls. Real servers on loopback, real HTTP requests, real signals."""

from __future__ import annotations

import http.server
import io
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT
from PIL import Image
from test_server import Server

from semscale.data.images import ImageRejected
from semscale.models import settings
from semscale.models.encoders import ClipServerEncoder, EncoderUnavailable

TOKEN = "configured-sekrit"


class Recorder:
    """A plain HTTP server on loopback that records each request's Authorization header and
    serves `body` to GET (an image, for the fetch tests); POSTs get a 500."""

    def __init__(self, body: bytes = b""):
        seen = self.authorizations = []
        self.gets = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                seen.append(self.headers.get("Authorization"))
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_error(500)

            def do_GET(outer):
                self.gets.append(outer.path)
                outer.send_response(200)
                outer.send_header("Content-Type", "image/png")
                outer.send_header("Content-Length", str(len(body)))
                outer.end_headers()
                outer.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def configured(monkeypatch, tmp_path):
    """A server and its token configured in the environment; no secrets file in the cwd."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEMSCALE_SERVER", "grpcs://configured.example:2096")
    monkeypatch.setenv("SEMSCALE_TOKEN", TOKEN)


# --- a configured token goes to its configured server only ----------------------------------------
def test_token_for_decides_by_server(configured):
    assert settings.token_for("grpcs://configured.example:2096") == TOKEN
    assert settings.token_for("GRPCS://Configured.Example:2096/") == TOKEN  # the same server, spelt otherwise
    assert settings.token_for("grpc://configured.example:2096") is None  # another scheme is another server
    assert settings.token_for("http://127.0.0.1:5000") is None
    assert settings.token_for("http://127.0.0.1:5000", unbound=True) is None  # bound to its server
    assert settings.token_for("http://127.0.0.1:5000", "typed") == "typed"
    typed = settings.Backend(server="http://127.0.0.1:5000", token="typed")
    assert settings.token_for("http://127.0.0.1:5000", previous=typed) == "typed"
    assert settings.token_for("http://127.0.0.1:5001", previous=typed) is None
    assert settings.backend().token == TOKEN
    assert settings.backend(server="http://127.0.0.1:5000").token is None


def test_token_set_alone_goes_to_the_url_named_on_the_cli(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEMSCALE_SERVER", raising=False)
    monkeypatch.setenv("SEMSCALE_TOKEN", TOKEN)
    assert settings.backend(server="grpc://h:1").token == TOKEN  # SEMSCALE_TOKEN=... semscale run --server URL
    assert settings.token_for("grpc://h:1") is None  # but not to a URL typed on the dashboard


def test_run_page_does_not_send_the_configured_token_to_a_typed_url(configured, model_dir, monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SEMSCALE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("SEMSCALE_RESULTS", str(tmp_path / "dash.duckdb"))
    recorder = Recorder()
    try:
        typed = f"http://127.0.0.1:{recorder.port}"
        at = AppTest.from_file(str(ROOT / "pages" / "3_Run.py"), default_timeout=60).run()
        at.radio[0].set_value("CLIP server").run()
        at.text_input[0].set_value(typed).run()
        at.button[0].click().run()  # "Use this server": the health check calls the typed URL at once
        assert not at.exception
        assert at.session_state["backend"].server == typed and at.session_state["backend"].token is None
        assert recorder.authorizations and set(recorder.authorizations) == {None}

        at.text_input[1].set_value("typed-token").run()  # a token typed for this URL does go there
        at.button[0].click().run()
        assert recorder.authorizations[-1] == "typed-token"
    finally:
        recorder.close()
    assert TOKEN not in " ".join(str(a) for a in recorder.authorizations)


def test_resume_sends_an_unscoped_token_only_to_a_server_typed_on_the_command_line(encoder, colour_dir, tmp_path):
    """A results file names its run's server; someone else's file must not collect the token that
    `SEMSCALE_TOKEN` (set with no server) holds for the server its owner types."""
    from test_server import semscale

    from semscale.run.config import RunConfig
    from semscale.run.engine import Engine
    from semscale.store.results import ResultsStore

    recorder = Recorder()
    try:
        url = f"http://127.0.0.1:{recorder.port}"
        db = tmp_path / "theirs.duckdb"
        store = ResultsStore(db)
        run_id = Engine(store, encoder).start(RunConfig(
            dataset=str(colour_dir), backend={"server": url, "batch_size": 8, "timeout": 5, "retries": 0}))
        store.finish_run(run_id, "failed", "the server went away")
        sent = []
        for extra, env in (([], {"SEMSCALE_TOKEN": TOKEN}),  # the file's server: no token
                           ([], {"SEMSCALE_TOKEN": TOKEN, "SEMSCALE_SERVER": url}),  # configured for it
                           (["--server", url], {"SEMSCALE_TOKEN": TOKEN})):  # typed with it
            recorder.authorizations.clear()
            out = semscale("--results", str(db), "resume", run_id, *extra, cwd=tmp_path, env=env)
            assert out.returncode == 1 and TOKEN not in out.stderr, out.stderr  # the recorder answers 500
            sent.append(set(recorder.authorizations))
    finally:
        recorder.close()
    assert sent == [{None}, {TOKEN}, {TOKEN}]


class Answering:
    """Two plain HTTP servers on loopback: `inside` answers every request 200 with a body no page
    may show; `door` redirects every request to `inside` (307, so a POST stays a POST)."""

    BODY = "internal-only-7f3a"

    def __init__(self):
        self.inside_paths = []
        servers = {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(handler):
                handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
                if handler.server is servers["door"]:
                    handler.send_response(307)
                    handler.send_header("Location", f"http://127.0.0.1:{servers['inside'].server_address[1]}/x")
                    handler.send_header("Content-Length", "0")
                    handler.end_headers()
                    return
                self.inside_paths.append(handler.path)
                body = ('{"secret": "%s"}' % self.BODY).encode()
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(body)))
                handler.end_headers()
                handler.wfile.write(body)

            do_GET = do_POST

            def log_message(self, *args):
                pass

        for name in ("inside", "door"):
            servers[name] = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            threading.Thread(target=servers[name].serve_forever, daemon=True).start()
        self.servers = servers
        self.inside, self.door = (f"http://127.0.0.1:{servers[n].server_address[1]}" for n in ("inside", "door"))

    def close(self):
        for server in self.servers.values():
            server.shutdown()
            server.server_close()


def test_a_server_url_is_never_redirected_and_its_answer_never_shown(tmp_path):
    """The Run page's server field and `ping`: a URL that redirects reaches nothing else, and what
    a URL answers (an internal service's page, say) is not quoted back."""
    from test_server import semscale

    from semscale.models import health

    answering = Answering()
    try:
        pinged = {url: semscale("ping", url, "--timeout", "5", cwd=tmp_path)
                  for url in (answering.inside, answering.door)}
        assert answering.inside_paths  # the inside server was asked and answered its body
        asked = len(answering.inside_paths)
        # the Run page's check
        page = health.check(settings.Backend(server=answering.door, timeout=5, retries=0), timeout=5)
        assert len(answering.inside_paths) == asked  # the redirects led nowhere
    finally:
        answering.close()
    inside, door = pinged[answering.inside], pinged[answering.door]
    assert inside.returncode == door.returncode == 2
    assert inside.stderr == (f"CLIP server {answering.inside} does not answer: the answer is not a CLIP server's "
                             "(its content is not shown)\n")
    assert door.stderr == (f"CLIP server {answering.door} does not answer: answered with a redirect (HTTP 307); "
                           "a CLIP server is used at its own address, without redirects\n")
    assert not page.ok and "answered with a redirect (HTTP 307)" in page.summary
    assert Answering.BODY not in inside.stderr + door.stderr + page.summary


# --- semscale serve fetches no URL a client names, unless told to, and never a private one ----------
def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 40, 90)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1",
                                  "fd00::1", "0.0.0.0", "100.64.0.1"])
def test_non_public_addresses_are_refused(host):
    from semscale.models.server import check_public_host

    with pytest.raises(ImageRejected, match="non-public address"):
        check_public_host(host)


def test_public_address_passes():
    from semscale.models.server import check_public_host

    check_public_host("8.8.8.8")  # a literal: no DNS needed


@pytest.mark.parametrize("allow", [False, True])
def test_serve_does_not_fetch_a_loopback_uri(allow, model_dir, tmp_path):
    from docarray import Document, DocumentArray
    from jina import Client
    from jina.excepts import BadServer

    recorder = Recorder(png())
    srv = Server(model_dir, tmp_path / "logs", extra=["--allow-remote-uris"] if allow else []).start()
    try:
        client = Client(host="127.0.0.1", port=srv.port, protocol="grpc")
        uri = f"http://127.0.0.1:{recorder.port}/cat.png"
        expected = "non-public address" if allow else "does not fetch http"
        with pytest.raises(BadServer, match=expected):
            client.post("/encode", DocumentArray([Document(uri=uri)]))
        data_uri = Document(blob=png(), mime_type="image/png").convert_blob_to_datauri().uri
        out = client.post("/encode", DocumentArray([Document(uri=data_uri)]))  # data: URIs still work
        assert out[0].embedding is not None and len(out[0].embedding) == 16
    finally:
        srv.stop()
        recorder.close()
    assert recorder.gets == []  # the loopback server was never asked


# --- kill -9 of serve leaves no worker on the port ---------------------------------------------------
def children_of(pid: int) -> set[int]:
    """Every live descendant of `pid`, from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigkill_of_serve_leaves_no_orphans(model_dir, tmp_path):
    srv = Server(model_dir, tmp_path / "a").start()
    workers = children_of(srv.proc.pid)
    assert len(workers) >= 2  # Jina's gateway and the executor
    srv.proc.send_signal(signal.SIGKILL)  # the server alone, not its process group
    srv.proc.wait(10)
    deadline = time.monotonic() + 10
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in workers if alive(p)]
    again = Server(model_dir, tmp_path / "b", port=srv.port).start()  # the port is free again
    try:
        assert ClipServerEncoder(again.url, timeout=20, retries=0).server_model()["dim"] == 16
    finally:
        again.stop()
        srv.kill()


# --- timed-out calls do not pile up threads ---------------------------------------------------------
@pytest.mark.parametrize("scheme", ["grpc", "http"])
def test_timed_out_calls_leave_no_threads(scheme):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # connections complete in the kernel; nobody ever answers
    try:
        enc = ClipServerEncoder(f"{scheme}://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5, retries=2, backoff=0)
        before = threading.active_count()
        for _ in range(3):
            with pytest.raises(EncoderUnavailable, match="after 3 attempts"):
                enc.encode_texts(["red"])
        time.sleep(1.0)
        assert threading.active_count() <= before + 1  # this encoder's one worker, whatever happened
    finally:
        silent.close()


# --- a shared dashboard reads datasets only under its data roots -----------------------------------
@pytest.fixture
def served_on(monkeypatch):
    """Set Streamlit's `server.address` for the test (AppTest runs pages in this process)."""
    from streamlit import config

    before = config.get_option("server.address")
    yield lambda address: config.set_option("server.address", address)
    config.set_option("server.address", before)


def test_data_roots_by_address_and_setting(tmp_path, monkeypatch):
    from semscale.data import datasets

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEMSCALE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SEMSCALE_DATA_ROOTS", raising=False)
    assert tmp_path in datasets.data_roots(loopback=True)
    assert tmp_path not in datasets.data_roots(loopback=False)
    assert tmp_path / "home" / "uploads" in datasets.data_roots(loopback=False)
    monkeypatch.setenv("SEMSCALE_DATA_ROOTS", os.pathsep.join(["/srv/a", "", "/srv/b"]))
    assert datasets.data_roots(loopback=True)[-2:] == [Path("/srv/a"), Path("/srv/b")]  # instead of the cwd
    assert tmp_path not in datasets.data_roots(loopback=True)
    assert settings.is_loopback("127.0.0.1") and settings.is_loopback("localhost") and settings.is_loopback("::1")
    assert not settings.is_loopback("0.0.0.0") and not settings.is_loopback("") and not settings.is_loopback("10.0.0.2")


def test_data_page_reads_only_under_its_roots(dashboard_env, served_on, monkeypatch, tmp_path_factory):
    from conftest import make_colour_images
    from streamlit.testing.v1 import AppTest

    here = dashboard_env / "here"
    make_colour_images(here / "colours", per_class=2)
    outside = make_colour_images(tmp_path_factory.mktemp("elsewhere") / "colours", per_class=2)
    (here / "link").symlink_to(outside)  # under the current folder, leading out of it
    monkeypatch.chdir(here)
    monkeypatch.delenv("SEMSCALE_DATA_ROOTS", raising=False)

    def pick(path: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "pages" / "1_Data.py"), default_timeout=60).run()
        at.radio[0].set_value("Folder or CSV on this machine").run()
        at.text_input[0].set_value(path).run()
        at.button[0].click().run()
        assert not at.exception
        return at

    def refused(at: AppTest, path: str) -> bool:
        assert "dataset" not in at.session_state
        [error] = [e.value for e in at.error]
        assert error == (f"{path} is outside the folders this dashboard may read; whoever runs it can add its "
                         f"folder to SEMSCALE_DATA_ROOTS (folders separated by '{os.pathsep}')")
        return True

    served_on("127.0.0.1")
    assert pick("colours").session_state["dataset"] == "colours"  # the current folder, on loopback
    assert refused(pick("/etc"), "/etc")
    assert refused(pick(str(outside)), str(outside))
    assert refused(pick("link"), "link")  # resolved before the check
    assert refused(pick("/nowhere/at/all"), "/nowhere/at/all")  # the same line: nothing said of what exists
    served_on("0.0.0.0")
    assert refused(pick("colours"), "colours")
    assert pick("cifar10-1k").session_state["dataset"] == "cifar10-1k"  # built-ins always
    monkeypatch.setenv("SEMSCALE_DATA_ROOTS", str(outside.parent))
    assert pick(str(outside)).session_state["dataset"] == str(outside)
    assert refused(pick("colours"), "colours")


# --- a shared dashboard's server field reaches public servers and its configured one only ----------
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "10.1.2.3", "192.168.0.1", "169.254.169.254",
                                  "[fe80::1]", "0.0.0.0"])
def test_a_shared_dashboard_refuses_private_server_targets(host, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no secrets file
    for var in ("SEMSCALE_SERVER", "SEMSCALE_ALLOW_PRIVATE_SERVERS"):
        monkeypatch.delenv(var, raising=False)
    url = settings.server_url(f"http://{host}:5000")
    settings.check_server_target(url, shared=False)  # on loopback the user's own machine is theirs
    with pytest.raises(settings.SemscaleError, match=r"leads to a private address .*SEMSCALE_ALLOW_PRIVATE_SERVERS=1"):
        settings.check_server_target(url, shared=True)
    settings.check_server_target("http://8.8.8.8:5000", shared=True)
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text("[clip]\nallow_private_servers = true\n")
    settings.check_server_target(url, shared=True)


def test_every_address_of_a_name_is_checked(monkeypatch):
    """A name that resolves to a public and a private address is refused (DNS stood in for)."""
    answers = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", 0)),
               (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 0))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port: answers)
    assert settings.non_public("two-faced.example") == "10.0.0.7"


def test_shared_run_page_never_calls_a_loopback_server(served_on, configured, model_dir, monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SEMSCALE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("SEMSCALE_RESULTS", str(tmp_path / "dash.duckdb"))
    recorder = Recorder()
    typed = f"http://127.0.0.1:{recorder.port}"

    def use(url: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "pages" / "3_Run.py"), default_timeout=60).run()
        at.radio[0].set_value("CLIP server").run()
        at.text_input[0].set_value(url).run()
        at.button[0].click().run()
        assert not at.exception
        return at

    def used(url: str) -> str:
        at = use(url)
        assert not at.error
        return at.session_state["backend"].server

    try:
        served_on("0.0.0.0")
        at = use(typed)
        assert [e.value for e in at.error] == [
            f"{typed} leads to a private address (127.0.0.1); this dashboard is shared, so it uses public CLIP "
            "servers and its configured one only (whoever runs it can allow private ones with "
            "SEMSCALE_ALLOW_PRIVATE_SERVERS=1)"]
        assert at.session_state["backend"].server == "grpcs://configured.example:2096"
        assert recorder.authorizations == []  # never asked
        monkeypatch.setenv("SEMSCALE_SERVER", typed)  # the configured server is always allowed
        assert used(typed) == typed
        monkeypatch.setenv("SEMSCALE_SERVER", "grpcs://configured.example:2096")
        monkeypatch.setenv("SEMSCALE_ALLOW_PRIVATE_SERVERS", "1")
        assert used(typed) == typed
        assert recorder.authorizations  # the health check asked it
        monkeypatch.delenv("SEMSCALE_ALLOW_PRIVATE_SERVERS")
        served_on("127.0.0.1")  # on loopback the user's own machine is theirs
        assert used(typed) == typed
    finally:
        recorder.close()
