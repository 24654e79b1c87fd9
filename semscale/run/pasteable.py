"""Commands to paste: every hint the CLI prints or a page shows names the program as it was started
and the results file the user named, so pasting it acts on the same file; every word is shell-quoted."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from semscale.models.settings import Backend


def program() -> str:
    """How this process was started: `semscale` (the installed command) or `python -m semscale`."""
    return "semscale" if Path(sys.argv[0]).name == "semscale" else "python -m semscale"


def command(results: str | None, *words: str) -> str:
    """A command to paste as is: it names the results file whenever the user named one."""
    return " ".join([program()] + (["--results", shlex.quote(results)] if results else [])
                    + [shlex.quote(w) for w in words])


def try_labels(results: str | None, config: dict, labels: str) -> str:
    """The command that runs the label file `labels` on the data set of the run stored with `config`,
    with that run's backend (a recommended label set, say)."""
    return command(results, "run", "--dataset", config["dataset"], "--labels", labels,
                   *Backend.from_saved(config.get("backend")).to_cli_args())


def this_command() -> str:
    """The command this process was started with, to paste again."""
    return " ".join([program()] + [shlex.quote(a) for a in sys.argv[1:]])
