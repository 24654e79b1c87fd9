"""The dashboard as a user starts it (`streamlit run app.py`) on a free loopback port, for the browser
tests and the classroom benchmark."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_dashboard(env: dict, log: Path, timeout: float = 90,
                    launcher: tuple[str, ...] = ("-m", "streamlit", "run", "app.py")) -> tuple[subprocess.Popen, str]:
    """Start it with `env`, its output in `log` (a pipe nobody reads would stall a long-lived server),
    and return once its health endpoint answers. `launcher`: what python runs in place of `streamlit run
    app.py` (a benchmark's wrapper that times the server's script runs, benchmarks/_script_timing.py;
    the README's set-up command)."""
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, *launcher, "--server.port", str(port),
                                 "--server.headless", "true", "--server.address", "127.0.0.1"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            return proc, url
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("streamlit did not start:\n" + log.read_text(errors="replace")[-2000:]) from None
            time.sleep(0.3)
