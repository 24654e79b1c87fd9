"""Adding a name scheme is one entry in `synonyms.REGISTRY`: a toy one registered here builds a run through
the one builder (`runs.build`) and is offered by the CLI, whose --scheme choices read the registry when the
parser is built."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from semscale.analysis import compare
from semscale.app import cli
from semscale.names import synonyms
from semscale.names.labels import LabelSet
from semscale.run import runs
from semscale.run.engine import Engine

CLASSES = ["beagle", "tabby"]  # each gets a broader name (dog, cat); two dog breeds would share theirs


def pet_folder(root: Path) -> Path:
    for cls in CLASSES:
        (root / cls).mkdir(parents=True)
        Image.new("RGB", (32, 32), (120, 90, 60)).save(root / cls / f"{cls}.png")
    return root


def test_a_registered_toy_scheme_builds_a_run_and_the_cli_offers_it(tmp_path, monkeypatch, results, encoder):
    monkeypatch.setitem(synonyms.REGISTRY, "toy", synonyms.Scheme("toy", ("broader",), "toy: broader names only"))
    folder = pet_folder(tmp_path / "pets")

    config, _ = runs.build(str(folder), CLASSES, scheme="toy")
    broader, _ = runs.build(str(folder), CLASSES, scheme="broader")  # the relation the toy takes, built-in
    assert config.scheme == "toy" and config.labels == broader.labels
    assert max(len(names) for names in config.labels.values()) > 1  # the toy's relation added names
    assert {r for rel in config.relations.values() for r in rel} == {"name", "broader"}

    run_id = Engine(results, encoder).start(config)
    assert results.run(run_id).config["scheme"] == "toy"
    assert results.run_names(run_id) == broader.labels

    assert cli.parser().parse_args(["run", "--dataset", str(folder), "--scheme", "toy"]).scheme == "toy"
    out = tmp_path / "toy.yaml"
    assert cli.main(["labels", str(folder), "--scheme", "toy", "--out", str(out)]) == 0
    assert LabelSet.load(out).names == broader.labels
    assert compare.names_kind(config.__dict__) == "WordNet names (toy scheme)"  # the comparison knows it too
