"""`names`, `recommend`, `explain` and `compare` as a user runs them: real subprocesses, a real results file.

The label set makes one name harmful on purpose: 'blue' listed under red steals the six blue images
at level 2 (24/24 right at level 1, 18/24 at level 2 on the tiny colour model).
"""

import tinyclip
import yaml
from test_cli import semscale

from semscale.names.labels import LabelSet
from semscale.store.results import ResultsStore

LABELS = {"red": ["red", "blue"], "green": ["green"], "blue": ["navy"], "yellow": ["yellow"]}


def colour_run(tmp_path, colour_dir, model_dir, *extra):
    db = str(tmp_path / "r.duckdb")
    labels = tmp_path / "labels.yaml"
    labels.write_text(yaml.safe_dump(LABELS))
    out = semscale("--results", db, "run", "--dataset", str(colour_dir), "--labels", str(labels),
                   "--local", str(model_dir), *extra)
    assert out.returncode == 0, out.stderr
    return db, ResultsStore(db).runs()[0].run_id


def test_names_recommend_and_explain_find_the_harmful_name(tmp_path, colour_dir, model_dir):
    db, run_id = colour_run(tmp_path, colour_dir, model_dir)
    names = semscale("--results", db, "names", run_id)
    assert names.returncode == 0, names.stderr
    row = next(line for line in names.stdout.splitlines() if line.startswith("red") and " blue " in line)
    assert "-25.0" in row and "most harmful" in row, names.stdout  # 6 of 24 images lost when it is added
    flips = semscale("--results", db, "names", run_id, "--flips", "red", "blue")
    assert flips.stdout.count("right -> wrong") == 6 and "wrong -> right" not in flips.stdout, flips.stdout

    out = tmp_path / "chosen.yaml"
    rec = semscale("--results", db, "recommend", run_id, "--out", str(out), "--folds", "3")
    assert rec.returncode == 0, rec.stderr
    assert LabelSet.load(out).names["red"] == ["red"]  # the harmful name is dropped
    assert "recommended   1.000" in rec.stdout and f"--labels {out}" in rec.stdout

    blue_image = next(r.name for r in ResultsStore(db).run_images(run_id).itertuples() if r.label == "blue")
    why = semscale("--results", db, "explain", run_id, blue_image)
    assert why.returncode == 0, why.stderr
    assert "right -> wrong" in why.stdout and "blue" in why.stdout


def test_two_models_on_one_experiment_and_their_comparison(tmp_path, colour_dir, model_dir):
    nomic = tinyclip.build(tmp_path / "tiny-nomic", family="nomic-v1.5")
    db, clip_run = colour_run(tmp_path, colour_dir, model_dir)
    _, nomic_run = colour_run(tmp_path, colour_dir, nomic, "--model", "nomic-v1.5")
    store = ResultsStore(db)
    assert (store.run(nomic_run).model.startswith("nomic-v1.5-onnx:")
            and store.run(clip_run).model.startswith("clip-onnx:"))
    compared = semscale("--results", db, "compare", clip_run, nomic_run)
    assert compared.returncode == 0, compared.stderr
    lines = compared.stdout.splitlines()
    assert lines[0].startswith(f"A = run {clip_run}") and "nomic-v1.5-onnx:" in lines[0]
    assert sum(1 for line in lines if line.startswith("max ")) == 2  # levels 1 and 2, each with its paired test
