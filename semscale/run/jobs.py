"""Background runs for the dashboard: each run is its own `python -m semscale run` process, which
waits in the run queue (semscale.store.runqueue) for a slot before it works.

A separate process keeps going when the browser tab closes, writes to the results file in short
transactions like any CLI run, and stops cleanly on SIGTERM (the Cancel button).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from semscale.core import paths
from semscale.models.settings import Backend
from semscale.run.config import RunConfig
from semscale.store import runqueue
from semscale.store.results import ResultsStore, RunInfo

ROOT = Path(__file__).resolve().parents[1]


def start(config: RunConfig, results: str | Path, backend: Backend) -> tuple[str, Path]:
    """Spawn a detached run; returns its id (known at once) and the log file path."""
    config.validate()
    config.backend = backend.public()
    run_id = uuid.uuid4().hex[:10]
    folder = paths.data_home() / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    config_file, log = folder / f"{run_id}.json", folder / f"{run_id}.log"
    config_file.write_text(json.dumps(asdict(config)), encoding="utf-8")
    args = [sys.executable, "-m", "semscale", "--results", str(results), "run", "--config", str(config_file),
            "--run-id", run_id]
    args += backend.to_cli_args()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env[runqueue.QUEUED_ENV] = str(time.time_ns())  # it waits in line for one of runqueue.capacity() slots
    if backend.token:
        env["SEMSCALE_TOKEN"] = backend.token  # the environment, not argv: argv is visible to every user
    with open(log, "w", encoding="utf-8") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                   cwd=os.getcwd(), start_new_session=True)
    # reaped when it ends: a long-lived dashboard would otherwise keep a zombie per run
    threading.Thread(target=process.wait, name=f"semscale-reap-{run_id}", daemon=True).start()
    return run_id, log


def cancel(store: ResultsStore | None, run_id: str, info: RunInfo | None = None) -> bool:
    """Ask a running run to stop after its current batch, or a queued one to leave the line; False
    when it is neither here.

    `info`: the run as last read (the dashboard's live read), so a click does not wait for a results
    file the run keeps busy with its commits. Only the recorded owner is signalled: a process that
    reuses its pid has another start time, and one that ended is not signalled.
    """
    info = info or store.run(run_id)
    return info.status in ("running", "queued") and info.owner is not None and info.owner.terminate()


def pace(info: RunInfo, now: datetime) -> tuple[float, float | None]:
    """Images per second of work and the seconds left at `now`, or None before the first commit. A run's
    row changes only when it commits (seconds apart for a slow model or many name orders), so the time
    left counts down from its last commit."""
    rate = info.n_done / info.elapsed if info.elapsed and info.n_done else 0.0
    if not rate:
        return 0.0, None
    since = max((now - info.updated).total_seconds(), 0.0)
    return rate, max((info.n_images - info.n_done) / rate - since, 0.0)


def log_tail(run_id: str, lines: int = 5) -> str:
    path = paths.data_home() / "jobs" / f"{run_id}.log"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(line.split("\r")[-1] for line in text.splitlines()[-lines:])
