"""The engine end to end: real tiny ONNX model, real image files, real DuckDB file."""

import os
from pathlib import Path

import numpy as np
import pytest

from semscale.core.errors import SemscaleError
from semscale.data import datasets
from semscale.names.labels import LabelSet
from semscale.run.config import RunConfig
from semscale.run.engine import Engine
from semscale.run.plan import NameEmbeddings, name_orders, text_hash

COLOUR_LABELS = {
    "red": ["red", "large red thing", "small red thing", "medium red thing"],
    "green": ["green", "large green thing", "small green thing", "medium green thing"],
    "blue": ["blue", "large blue thing", "small blue thing", "medium blue thing"],
    "yellow": ["yellow", "large yellow thing", "small yellow thing", "medium yellow thing"],
}


def test_colour_run_is_right_at_every_level_and_stored(colour_dir, results, encoder):
    engine = Engine(results, encoder)
    run_id = engine.run(RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS,
                                  aggregations=["max", "mean", "probsum"], batch_size=5))
    info = results.run(run_id)
    assert info.status == "done" and info.n_done == 24 and info.n_images == 24
    pts = results.points(run_id)
    assert sorted(pts["n_names"].unique()) == [1, 2, 4]
    assert (pts["n_images"] == 24).all()
    assert (pts["accuracy"] == 1.0).all(), pts[["aggregation", "n_names", "accuracy"]]
    assert (pts["ci_low"] < 1.0).all() and (pts["ci_high"] == 1.0).all()
    assert pts.query("n_names == 4")["n_candidates"].unique().tolist() == [16]
    preds = results.predictions(run_id, "max", 1)
    assert len(preds) == 24 and preds["correct"].all()
    assert all(len(t) == 3 for t in preds["top_names"])
    assert engine.encoded_images == 24 and engine.encoded_texts == 16


def test_wrong_names_lower_accuracy(colour_dir, results, encoder):
    swapped = {"red": ["blue"], "green": ["green"], "blue": ["red"], "yellow": ["yellow"]}
    run_id = Engine(results, encoder).run(RunConfig(dataset=str(colour_dir), labels=swapped))
    assert results.points(run_id)["accuracy"].iloc[0] == pytest.approx(0.5)


def test_second_run_reuses_cache_and_encodes_only_new_names(colour_dir, results, encoder):
    Engine(results, encoder).run(RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS))
    edited = dict(COLOUR_LABELS, red=["red", "crimson", "scarlet thing", "large red thing"])
    again = Engine(results, encoder)
    run_id = again.run(RunConfig(dataset=str(colour_dir), labels=edited, aggregations=["max", "probsum"]))
    assert again.encoded_images == 0
    assert again.encoded_texts == 2  # 'crimson', 'scarlet thing'
    assert results.run(run_id).status == "done"
    assert results.count_embeddings(encoder.model_id) == {"image": 24, "text": 18}


def test_templates_are_applied_to_every_name(colour_dir, results, encoder):
    engine = Engine(results, encoder)
    engine.run(RunConfig(dataset=str(colour_dir), labels={c: [c] for c in COLOUR_LABELS},
                         templates=["a photo of a {}.", "a {} thing."]))
    assert engine.encoded_texts == 8


@pytest.mark.parametrize("commit_batches", [1, 8])
def test_cancelled_run_resumes_without_encoding_any_image_twice(colour_dir, results, encoder, monkeypatch,
                                                                commit_batches):
    """Stopped after its third batch was encoded: committing batch by batch, two batches are stored
    and the third batch's embeddings; committing several at once (a fast encoder), no batch is stored
    yet but the three batches' embeddings are. Either way the resume encodes only the rest."""
    from semscale.run import engine as engine_mod

    monkeypatch.setattr(engine_mod, "COMMIT_BATCHES", commit_batches)
    monkeypatch.setattr(engine_mod, "COMMIT_EVERY", 60.0)
    first = Engine(results, encoder)
    config = RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS, batch_size=5, aggregations=["max", "mean"])
    run_id = first.start(config)
    status = first.process(run_id, should_stop=lambda: first.encoded_images >= 15)
    assert status == "cancelled"
    stored = 10 if commit_batches == 1 else 0
    assert results.run(run_id).n_done == stored and results.run(run_id).status == "cancelled"
    assert results.points(run_id)["n_images"].max() == stored  # partial curve visible to readers
    assert results.count_embeddings(encoder.model_id)["image"] >= 15
    second = Engine(results, encoder)
    assert second.process(run_id) == "done"
    assert first.encoded_images + second.encoded_images == 24
    preds = results.predictions(run_id)
    assert len(preds) == 24 * 3 * 2 and not preds.duplicated(["aggregation", "n_names", "image_idx"]).any()
    uninterrupted = Engine(results, encoder).run(config)
    cols = ["aggregation", "n_names", "accuracy", "correct"]
    assert results.points(run_id)[cols].equals(results.points(uninterrupted)[cols])


def test_bad_images_are_reported_and_the_rest_scored(colour_dir, results, encoder):
    (colour_dir / "red" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (colour_dir / "red" / "readme.txt").write_text("hello")
    run_id = Engine(results, encoder).run(RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS))
    info = results.run(run_id)
    assert info.n_done == 25 and info.n_rejected == 2  # broken.jpg counted as processed, then rejected
    notes = results.rejected(run_id)
    assert any("red/broken.jpg" in i for i in notes["item"]) and any("txt" in r for r in notes["reason"])
    assert (results.points(run_id)["n_images"] == 24).all()


def test_repeats_shuffle_extra_names_but_keep_the_base_name(colour_dir, results, encoder):
    engine = Engine(results, encoder)
    run_id = engine.run(RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS, repeats=3, seed=7))
    pts = results.points(run_id)
    assert sorted(pts["repeat"].unique()) == [0, 1, 2]
    level1 = pts.query("n_names == 1")["accuracy"]
    assert level1.nunique() == 1  # base name first in every order
    assert engine.encoded_texts == 16  # orders reuse the same names


def test_model_mismatch_on_resume_is_refused(colour_dir, results, encoder, tmp_path):
    import tinyclip

    from semscale.models.encoders import LocalEncoder

    run_id = Engine(results, encoder).start(RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS))
    other = LocalEncoder(tinyclip.build(tmp_path / "other", seed=1))
    with pytest.raises(SemscaleError, match="was made with model"):
        Engine(results, other).process(run_id)


def test_real_photos_run_on_the_embedded_model(shared_datasets, results, encoder):
    ds = datasets.from_folder(shared_datasets / "cifar10-1k")
    ds.samples = ds.samples[::20]  # 50 images, 10 classes
    run_id = Engine(results, encoder).run(RunConfig(dataset="cifar10-1k", aggregations=["max", "mean", "probsum"]), ds)
    info = results.run(run_id)
    assert info.status == "done" and info.n_done == 50
    assert np.isfinite(results.points(run_id)["accuracy"]).all()


def test_bootstrap_intervals_replace_wilson_when_asked(colour_dir, results, encoder):
    swapped = {"red": ["blue", "red"], "green": ["green"], "blue": ["red", "blue"], "yellow": ["yellow"]}
    wilson_run = Engine(results, encoder).run(RunConfig(dataset=str(colour_dir), labels=swapped))
    boot_run = Engine(results, encoder).run(RunConfig(dataset=str(colour_dir), labels=swapped, interval="bootstrap"))
    w, b = results.points(wilson_run), results.points(boot_run)
    assert (w["accuracy"].values == b["accuracy"].values).all()
    level1 = b.query("n_names == 1").iloc[0]
    assert level1["accuracy"] == 0.5 and level1["ci_low"] < 0.5 < level1["ci_high"]
    assert not np.allclose(w["ci_low"].values, b["ci_low"].values)  # really replaced




def test_a_batch_grown_on_a_warm_cache_scores_like_a_run_on_a_cold_one(colour_dir, encoder, tmp_path):
    """A float32 matrix product changes in the last bits with its number of rows: a run that finds
    images cached (and so takes bigger batches) stores exactly the scores of a run alone."""
    from semscale.store.results import ResultsStore

    config = RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS, aggregations=["max", "mean", "probsum"],
                       batch_size=3)
    shared = ResultsStore(tmp_path / "shared.duckdb")
    Engine(shared, encoder).run(RunConfig(**{**config.__dict__, "seed": 1}))  # caches every image
    grown = Engine(shared, encoder).run(config)  # batches of 3, 6, 12, then the last 3
    alone = ResultsStore(tmp_path / "alone.duckdb")
    cold = Engine(alone, encoder).run(config)
    mine, reference = shared.predictions(grown), alone.predictions(cold)
    for column in ("score", "top_sims"):
        assert [np.asarray(v).tobytes() for v in mine[column]] == [np.asarray(v).tobytes() for v in reference[column]]


def test_templates_are_averaged_after_each_prompt_is_normalised(designed_runs):
    """Designed model (tests/designed.py): a text embeds to the mean of its token rows, and a word outside
    its vocabulary ('zz') to the unknown direction u, orthogonal to every name and image. With 'a' the
    unit vector of 'ant' (cosine .6 with image k0):
      "ant"          -> a                 (length 1)
      "ant zz zz zz" -> (a + 3u) / 4      (length sqrt(10)/4 = .79)
    Each prompt normalised, then averaged: a (1 + 1/sqrt 10) + u 3/sqrt 10 = 1.3162 a + .9487 u, length
    1.6225 -> cosine with k0 .6 x 1.3162 / 1.6225 = .4867. Averaging the raw vectors instead gives
    1.25 a + .75 u -> .6 x 1.25 / 1.4577 = .5145: the longer prompt would weigh more."""
    run_id = designed_runs.run({"ant": ["ant"], "bee": ["bee"], "cat": ["cat"]}, aggregations=["max"],
                               schedule="1", templates=["{}", "{} zz zz zz"])
    preds = designed_runs.store.predictions(run_id, "max", 1).set_index("name")
    assert preds.loc["ant/k0.png", "score"] == pytest.approx(0.4867, abs=1e-4)
    assert preds.loc["ant/k0.png", "top_sims"][0] == pytest.approx(0.4867, abs=1e-4)


ORDERS = LabelSet({"a": ["a0", "a1", "a2", "a3", "a4", "a5"], "b": ["b0", "b1", "b2", "b3"]})


def test_each_repeat_and_each_seed_gets_its_own_name_order():
    """The band over orders needs R different orders, and --seed must choose them: 5! x 3! = 720 orders
    here, so three repeats of seed 1 are three distinct orders and seed 2 draws others. The same seed
    draws the same orders (a rerun reproduces its band); repeat 0 is the user's order."""
    def shuffled(seed):
        orders = name_orders(ORDERS, 4, seed)
        assert orders[0].names == ORDERS.names
        assert all(o.names["a"][0] == "a0" and o.names["b"][0] == "b0" for o in orders)
        assert all(sorted(o.names["a"]) == ORDERS.names["a"] for o in orders)
        return [tuple(tuple(v) for v in o.names.values()) for o in orders[1:]]

    one, two = shuffled(1), shuffled(2)
    assert len(set(one)) == 3 and len(set(two)) == 3
    assert ORDERS.names["a"] not in [list(o[0]) for o in one]  # never simply the given order here
    assert not set(one) & set(two)
    assert shuffled(1) == one


@pytest.mark.usefixtures("per_batch_commits")
def test_a_resume_does_not_retry_a_rejected_file(colour_dir, results, encoder):
    """24 photos and one broken JPEG. The run is stopped once the broken file's rejection is committed,
    then resumed: the file is not read again, so 25 of 25 are done with exactly one rejection."""
    (colour_dir / "red" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    engine = Engine(results, encoder)
    run_id = engine.start(RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS, batch_size=2))
    assert engine.process(run_id, should_stop=lambda: not results.rejected(run_id).empty) == "cancelled"
    assert results.run(run_id).n_rejected == 1 and results.run(run_id).n_done < 25
    assert Engine(results, encoder).process(run_id) == "done"
    info = results.run(run_id)
    assert (info.n_done, info.n_images, info.n_rejected) == (25, 25, 1)
    assert results.rejected(run_id)["item"].tolist() == ["red/broken.jpg"]
    assert (results.points(run_id)["n_images"] == 24).all()


def test_text_embeddings_are_cached_by_the_exact_text(results, encoder):
    """A case-sensitive text tower embeds "Apple" and "apple" (or " apple") differently: the text cache
    must key on the exact string, so a later run with the other spelling encodes it anew."""
    assert len({text_hash(t) for t in ("Apple", "apple", " apple", "apple ", "APPLE")}) == 5
    assert NameEmbeddings(encoder, results, ["Apple"], []).encoded == 1
    assert NameEmbeddings(encoder, results, ["apple"], []).encoded == 1
    assert NameEmbeddings(encoder, results, ["Apple", "apple"], ["a {} thing", "a {}  thing"]).encoded == 4
    assert results.count_embeddings(encoder.model_id)["text"] == 6


def test_a_batch_holds_at_most_its_memory_budget_of_files_and_pixels(tmp_path, results, encoder, monkeypatch):
    """Images of mixed sizes: each batch (what one progress step reports) stays within BATCH_BYTES
    of files plus decoded RGB pixels, or is a single image; the predictions are those of a run
    without the budget."""
    from PIL import Image

    from semscale.data.images import footprint
    from semscale.run import engine

    rng = np.random.default_rng(0)
    for i in range(12):
        side = (40, 300, 90)[i % 3]
        folder = tmp_path / "mixed" / ("red", "blue")[i % 2]
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (rng.integers(0, 60, (side, side, 3), np.uint8)
                  + np.array((180, 0, 0) if i % 2 else (0, 0, 180), np.uint8))
        Image.fromarray(pixels).save(folder / f"{i:02d}.png")
    spec = str(tmp_path / "mixed")
    unbounded = Engine(results, encoder).run(RunConfig(dataset=spec, batch_size=12, decode="exact"))

    budget = 3 * 300 * 300 * 3 + 200_000  # two or three of the large ones
    monkeypatch.setattr(engine, "BATCH_BYTES", budget)
    steps = []
    bounded = Engine(results, encoder).run(RunConfig(dataset=spec, batch_size=12, decode="exact"),
                                           progress=lambda p: steps.append(p.done))
    files = [Path(os.fsdecode(p)).read_bytes() for p in results.run_images(bounded)["path"]]  # in the run's order
    costs = [len(data) + footprint(data, None)[1] for data in files]
    sizes = np.diff([0, *steps])
    assert len(sizes) > 2 and sizes.sum() == 12
    start = 0
    for size in sizes:
        assert size == 1 or sum(costs[start:start + size]) <= budget, (size, costs[start:start + size])
        start += size
    same = ["image_idx", "predicted", "score"]
    assert results.predictions(bounded, "max", 1)[same].equals(results.predictions(unbounded, "max", 1)[same])
