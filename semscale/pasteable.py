"""Commands to paste: every hint the CLI prints names the program as it was started and the
results file the user named, so pasting it acts on the same file."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path


def program() -> str:
    """How this process was started: `semscale` (the installed command) or `python -m semscale`."""
    return "semscale" if Path(sys.argv[0]).name == "semscale" else "python -m semscale"


def command(results: str | None, *words: str) -> str:
    """A command to paste as is: it names the results file whenever the user named one."""
    return " ".join([program()] + (["--results", shlex.quote(results)] if results else [])
                    + [shlex.quote(w) for w in words])
