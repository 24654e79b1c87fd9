"""Explain one image, on a real engine run of the designed model (cosines in tests/designed.py)."""

from __future__ import annotations

import designed
import pytest

from semscale.analysis import run_embeddings
from semscale.analysis.explain import explain, format_explanation
from semscale.core.errors import SemscaleError


@pytest.fixture(scope="module")
def designed_run(designed_runs):
    run_id = designed_runs.run()
    return designed_runs.store, run_id, run_embeddings.load(designed_runs.store, run_id)


def test_every_level_predicts_what_the_engine_stored(designed_run):
    store, run_id, run = designed_run
    for agg in ("max", "mean", "probsum"):
        stored = store.predictions(run_id, agg)
        for image in run.image_table["name"]:
            ex = explain(run, image, agg)
            mine = stored[stored["name"] == image].set_index("n_names")
            assert ex.levels["predicted"].tolist() == mine.loc[[1, 2, 3], "predicted"].tolist(), (agg, image)
            assert ex.levels["score"].tolist() == pytest.approx(mine.loc[[1, 2, 3], "score"].tolist(), rel=1e-5)
            first = ex.top[ex.top["rank"] == 1]
            assert first["name"].tolist() == [names[0] for names in mine.loc[[1, 2, 3], "top_names"]]


def test_k4_under_max_flips_when_bell_arrives(designed_run):
    """k4: level 1 cat .84 wins (right); level 2 adds bell (bee) and chime (cat), both .85: a tie
    that the earlier class, bee, wins (right -> wrong); level 3 adds nothing closer."""
    _, _, run = designed_run
    ex = explain(run, "cat/k4.png", "max")
    assert ex.label == "cat"
    assert ex.levels[["n_names", "predicted", "correct", "change"]].values.tolist() == [
        [1, "cat", True, ""], [2, "bee", False, "right -> wrong"], [3, "bee", False, ""]]
    level2 = ex.top[ex.top["n_names"] == 2]
    assert level2[["name", "class"]].values.tolist()[:3] == [["bell", "bee"], ["chime", "cat"], ["cat", "cat"]]
    assert level2["cosine"].tolist()[:3] == pytest.approx([0.85, 0.85, 0.84], abs=1e-5)
    text = format_explanation(ex)
    assert "predicted bee (WRONG" in text and "<- right -> wrong" in text
    assert [line.split(":")[0] for line in text.splitlines()[1:] if "predicted" in line] == [
        "1 name per class", "2 names per class", "3 names per class"]


def test_k5_under_mean_goes_wrong_and_probsum_later(designed_run):
    """From tests/test_designed.py: k5 is bee under mean from level 2, under probsum from level 3."""
    _, _, run = designed_run
    assert explain(run, "cat/k5.png", "mean").levels["change"].tolist() == ["", "right -> wrong", ""]
    assert explain(run, "cat/k5.png", "probsum").levels["change"].tolist() == ["", "", "right -> wrong"]


def test_an_unknown_image_is_named(designed_run):
    _, _, run = designed_run
    assert explain(run, 0).image == run.image_table["name"][0]
    with pytest.raises(SemscaleError, match="no scored image 'dog.png'"):
        explain(run, "dog.png")
    with pytest.raises(SemscaleError, match="unknown aggregation 'median'"):
        explain(run, 0, "median")


def test_rejected_images_are_left_out_and_the_rest_line_up(designed_runs, tmp_path):
    import shutil

    from semscale.run.config import RunConfig
    from semscale.run.engine import Engine

    folder = shutil.copytree(designed_runs.images, tmp_path / "images")
    (folder / "ant" / "broken.png").write_bytes(b"not a png")
    store = designed_runs.store
    run_id = Engine(store, designed_runs.encoder).run(RunConfig(dataset=str(folder), labels=designed.LABELS,
                                                                schedule="1,2,3"))
    run = run_embeddings.load(store, run_id)
    assert len(run.image_table) == 6 and "ant/broken.png" not in set(run.image_table["name"])
    assert [run.classes[k] for k in run.truth] == run.image_table["label"].tolist()
    assert explain(run, "cat/k4.png", "max").levels["change"].tolist() == ["", "right -> wrong", ""]
    with pytest.raises(SemscaleError, match="no scored image 'ant/broken.png'"):
        explain(run, "ant/broken.png")
