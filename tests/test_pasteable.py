"""Commands the CLI prints and the Results page shows paste as they are: every word shell-quoted, the
results file named, and the run's own backend, which argparse reads back to the same Backend."""

from __future__ import annotations

import re
import shlex

import pytest
from test_results_page import captions, results_page

from semscale.app import cli
from semscale.app.cli import common
from semscale.models import registry
from semscale.models.settings import Backend
from semscale.run import pasteable

SERVER = Backend(server="grpc://127.0.0.1:51000", server_model='ViT-B-32 "openai" it\'s; echo owned', timeout=12.5,
                 retries=0, batch_size=8)
LOCAL = Backend(server=None, model_dir="/models/my 'tiny' clip", model=registry.DEFAULT_MODEL, timeout=5.0)
BACKENDS = {"server": SERVER, "local": LOCAL, "default": Backend(server=None)}


@pytest.fixture(autouse=True)
def unconfigured(monkeypatch, tmp_path):
    """No server, token or model folder configured: the command alone names the backend."""
    for var in ("SEMSCALE_SERVER", "SEMSCALE_TOKEN", "SEMSCALE_MODEL_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml


def pasted(command: str):
    """What the CLI makes of `command` pasted into a shell: its arguments and its backend."""
    words, program = shlex.split(command), shlex.split(pasteable.program())
    assert words[: len(program)] == program
    args = cli.parser().parse_args(words[len(program):])
    backends = [common.backend(args, model) for model in args.model or [None]]  # as cmd_run reads them
    assert len(backends) == 1
    return args, backends[0]


@pytest.mark.parametrize("name", BACKENDS)
def test_a_hint_pastes_back_to_the_same_files_and_backend(name):
    backend = BACKENDS[name]
    config = {"dataset": 'my photos/it\'s "here"', "backend": backend.public()}
    args, again = pasted(pasteable.try_labels("results dir/r's.duckdb", config, "best labels; rm -rf ~.yaml"))
    assert (args.command, args.results, args.dataset, args.labels) == \
        ("run", "results dir/r's.duckdb", 'my photos/it\'s "here"', "best labels; rm -rf ~.yaml")
    assert again == backend
    assert Backend.from_saved(backend.public()) == backend


def test_a_saved_backend_missing_keys_takes_the_defaults():
    assert Backend.from_saved({"server": None, "model_dir": "m"}) == Backend(server=None, model_dir="m")
    assert Backend.from_saved(None) == Backend(server=None)


def test_the_results_page_use_it_command_pastes_back_to_the_runs_backend(designed_runs):
    run_id = designed_runs.run(aggregations=["max"], backend=SERVER.public())
    at = results_page(designed_runs.store, run_id)
    next(b for b in at.button if b.label == "Recommend a label set").click().run()
    assert not at.exception
    caption = next(c for c in captions(at) if c.startswith("Use it with"))
    args, again = pasted(re.fullmatch(r"Use it with `(.+)`\.", caption).group(1))
    assert (args.results, args.dataset, args.labels) == \
        (str(designed_runs.store.path), str(designed_runs.images), f"{run_id}-max-labels.yaml")
    assert again == SERVER


def test_a_local_runs_command_stays_local_where_a_server_is_configured(monkeypatch):
    """`--local` even without a folder: a pasted or resumed local run must not go to $SEMSCALE_SERVER."""
    monkeypatch.setenv("SEMSCALE_SERVER", "grpc://127.0.0.1:51000")
    _, again = pasted(pasteable.try_labels(None, {"dataset": "d", "backend": Backend(server=None).public()}, "l.yaml"))
    assert again == Backend(server=None)
