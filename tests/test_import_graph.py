"""Imports among semscale's modules point one way: no module imports, at the top or inside a function,
one that imports it back (the dependency graph read from the source with `ast`, no module run)."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "semscale"


def imported_modules(source: str, modules: set[str]) -> set[str]:
    """The semscale modules `source` imports anywhere in it (`import semscale.x`, `from semscale.x import
    ...`, `from semscale import x`, relative imports)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            parts = [alias.name.split(".") for alias in node.names]
            found |= {p[1] for p in parts if p[0] == "semscale" and len(p) > 1}
        elif isinstance(node, ast.ImportFrom):
            parts = (("semscale." if node.level else "") + (node.module or "")).strip(".").split(".")
            if parts[0] == "semscale" or node.level:
                parts = parts[1:] if parts[0] == "semscale" else parts
                found |= {parts[0]} if parts and parts[0] else {a.name for a in node.names if a.name in modules}
    return found & modules


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    modules = {p.stem for p in package.glob("*.py")}
    return {p.stem: imported_modules(p.read_text(encoding="utf-8"), modules) - {p.stem} for p in package.glob("*.py")}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        return exc.args[1]
    return None


def test_semscale_has_no_import_cycle():
    graph = import_graph()
    assert {"settings", "encoders", "scoring", "aggregations"} <= set(graph)  # the whole package was read
    assert "settings" in graph["encoders"]  # and its imports, lazy ones too
    assert cycle(graph) is None, f"import cycle: {' -> '.join(cycle(graph))}"


@pytest.mark.parametrize("source", ["from semscale import encoders", "import semscale.encoders",
                                    "from semscale.encoders import for_backend", "from . import encoders",
                                    "from .encoders import for_backend",
                                    "def f():\n    from semscale.encoders import for_backend"])
def test_every_form_of_import_is_an_edge(source):
    """The forms semscale writes, at the top or inside a function: each makes settings -> encoders, closing a cycle."""
    modules = {"settings", "encoders"}
    graph = {"encoders": {"settings"}, "settings": imported_modules(source, modules)}
    assert cycle(graph) in (["encoders", "settings", "encoders"], ["settings", "encoders", "settings"])
