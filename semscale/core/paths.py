"""Where semscale keeps its files on a user's machine."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_RESULTS = "semscale.duckdb"


def data_home() -> Path:
    """`SEMSCALE_HOME`, else $XDG_DATA_HOME/semscale, else ~/.local/share/semscale."""
    if os.environ.get("SEMSCALE_HOME"):
        return Path(os.environ["SEMSCALE_HOME"])
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "semscale"


def results_path() -> Path:
    """`SEMSCALE_RESULTS` if set, else ./semscale.duckdb in the working directory."""
    return Path(os.environ.get("SEMSCALE_RESULTS") or DEFAULT_RESULTS)
