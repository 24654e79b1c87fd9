"""semscale's subpackages are layers of its pipeline, and imports point down them only: a module imports its own
layer or a lower one, at the top or inside a function (the graph read from the source with `ast`, no module run),
and no modules import each other in a cycle."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "semscale"
# Lowest first. names sits below data because a dataset's label file is read into a label set; store sits below
# run because the run loop writes every batch into the results file.
LAYERS = ["core", "names", "data", "models", "store", "run", "analysis", "app"]


def imported_modules(source: str, modules: set[str], here: str = "") -> set[str]:
    """The semscale modules ("layer.module", or "layer.package.module") `source`, the module `here`, imports
    anywhere in it: `import semscale.a.b`, `from semscale.a.b import x`, `from semscale.a import b`, and
    relative imports; each import counts for the deepest module it names (a package's __init__ that runs
    on the way to its modules is not counted)."""

    def deepest(parts: list[str]) -> str | None:
        return next((m for i in range(len(parts), 1, -1) if (m := ".".join(parts[:i])) in modules), None)

    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("semscale."):
                    found.add(deepest(alias.name.split(".")[1:]))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[:max(0, here.count(".") + 1 - node.level)]
            elif (node.module or "").split(".")[0] == "semscale":
                base = []
            else:
                continue
            parts = base + [p for p in (node.module or "").split(".") if p and p != "semscale"]
            found |= {deepest([*parts, alias.name]) for alias in node.names}
    return found - {None}


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Every module of every layer, a package below a layer (app.cli) included with its __init__."""
    files = {}
    for path in package.glob("*/**/*.py"):
        parts = path.relative_to(package).with_suffix("").parts
        if parts[-1] != "__init__":
            files[".".join(parts)] = (path, ".".join(parts))
        elif len(parts) > 2:  # app/cli/__init__.py is app.cli; a layer's own __init__ holds no code
            files[".".join(parts[:-1])] = (path, ".".join(parts))  # relative imports start inside the package
    return {name: imported_modules(path.read_text(encoding="utf-8"), set(files), here) - {name}
            for name, (path, here) in files.items()}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        return exc.args[1]
    return None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a higher layer, as "importer -> imported"."""
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    return sorted(f"{a} -> {b}" for a, imported in graph.items() for b in imported
                  if rank[b.split(".")[0]] > rank[a.split(".")[0]])


def test_every_module_is_in_a_layer():
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == set(LAYERS)
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py", "__main__.py"]


def test_imports_point_down_the_layers_and_never_cycle():
    graph = import_graph()
    assert {"models.settings", "models.encoders", "run.scoring", "run.aggregations"} <= set(graph)  # all was read
    assert "models.settings" in graph["models.encoders"]  # and its imports, lazy ones too
    assert "store.results" in graph["run.engine"]
    assert {"app.cli.common", "store.results"} <= graph["app.cli.run"]  # modules of a package below a layer
    assert {"app.cli.run", "app.cli.common"} <= graph["app.cli"]
    assert upward_imports(graph) == []
    assert cycle(graph) is None, f"import cycle: {' -> '.join(cycle(graph))}"


def test_an_upward_import_is_reported():
    graph = {"core.errors": {"app.cli"}, "app.cli": {"core.errors"}, "run.engine": {"store.results"}}
    assert upward_imports(graph) == ["core.errors -> app.cli"]


@pytest.mark.parametrize("source", ["from semscale.models import encoders", "import semscale.models.encoders",
                                    "from semscale.models.encoders import for_backend", "from . import encoders",
                                    "from .encoders import for_backend", "from ..models import encoders",
                                    "def f():\n    from semscale.models.encoders import for_backend"])
def test_every_form_of_import_is_an_edge(source):
    """The forms semscale writes, at the top or inside a function: each makes settings -> encoders, closing a cycle."""
    modules = {"models.settings", "models.encoders"}
    graph = {"models.encoders": {"models.settings"},
             "models.settings": imported_modules(source, modules, "models.settings")}
    assert cycle(graph) in (["models.encoders", "models.settings", "models.encoders"],
                            ["models.settings", "models.encoders", "models.settings"])
