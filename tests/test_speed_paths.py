"""The fast paths give the answers of the plain ones: draft JPEG decoding, the pipelined batch loop,
several models sharing one read and decode (real tiny ONNX models, real files, real DuckDB files)."""

import io
import random
from pathlib import Path

import numpy as np
import pytest
import tinyclip
from conftest import COLOURS
from PIL import Image

from semscale.data.images import DRAFT_SIDE, content_hash, decode, draft_scale, prepared_hash
from semscale.models.encoders import LocalEncoder
from semscale.run.config import RunConfig
from semscale.run.engine import Engine, process_together

LABELS = {c: [c, f"large {c} thing"] for c in COLOURS}


def photo(size: tuple[int, int], rgb=(200, 40, 40), orientation: int | None = None, fmt: str = "JPEG",
          seed: int = 0) -> bytes:
    """A noisy photo-sized image, darker to the right; `orientation` writes an EXIF orientation tag."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, -80, size[0])[None, :, None]
    pixels = np.clip(np.asarray(rgb) + ramp + rng.normal(0, 25, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(pixels, "RGB")
    buf = io.BytesIO()
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    img.save(buf, format=fmt, exif=exif.tobytes(), **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def large_photo_dir(root: Path, per_class: int = 3) -> Path:
    """Class folders of 1200 x 900 JPEGs (large enough for a 1/2 draft), one of them rotated by EXIF."""
    rng = random.Random(0)
    for name, rgb in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            (root / name / f"{i}.jpg").write_bytes(photo((1200, 900), rgb, 6 if i == 0 else None,
                                                         seed=rng.randrange(10**6)))
    return root


def test_draft_decode_keeps_size_semantics_and_orientation():
    data = photo((1800, 1200), orientation=6)  # stored landscape, shown portrait
    exact, draft = decode(data), decode(data, draft=DRAFT_SIDE)
    assert exact.pixels.size == (1200, 1800)  # EXIF applied
    scale = draft_scale(data, DRAFT_SIDE)
    assert scale == 2 and draft.pixels.size == (600, 900)  # the same orientation, 1/2 of each side
    assert min(draft.pixels.size) >= DRAFT_SIDE and draft.normalized
    # the reduced decode is the full one, smaller (and turned the same way: the ramp runs top to bottom)
    coarse = [np.asarray(im.pixels.resize((20, 30), Image.BOX), np.float32) for im in (exact, draft)]
    assert np.abs(coarse[0] - coarse[1]).max() < 4
    assert coarse[1][0].mean() - coarse[1][-1].mean() > 50


@pytest.mark.parametrize("data", [photo((1800, 1200), fmt="PNG"), photo((300, 200)), photo((32, 32))],
                         ids=["large png", "small jpeg", "cifar-sized jpeg"])
def test_draft_leaves_what_it_cannot_reduce_alone(data):
    assert draft_scale(data, DRAFT_SIDE) == 1
    exact, draft = decode(data), decode(data, draft=DRAFT_SIDE)
    assert exact.pixels.tobytes() == draft.pixels.tobytes() and draft.normalized == exact.normalized
    for prep in ("clip", "paper"):  # and so does its cache key
        assert (prepared_hash(content_hash(data), prep, draft_scale(data, DRAFT_SIDE))
                == prepared_hash(content_hash(data), prep))


def test_cache_key_differs_when_the_draft_changes_the_pixels():
    data = photo((1800, 1200))
    keys = {prepared_hash(content_hash(data), prep, scale) for prep in ("clip", "paper") for scale in (1, 2, 4)}
    assert len(keys) == 6
    assert prepared_hash(content_hash(data), "clip") == content_hash(data)  # exact decode: the old key


def test_exact_mode_reproduces_the_full_decode_bit_for_bit_and_draft_mode_caches_apart(tmp_path, results, encoder):
    folder = large_photo_dir(tmp_path / "photos")
    exact = Engine(results, encoder)
    exact_id = exact.run(RunConfig(dataset=str(folder), labels=LABELS, decode="exact", batch_size=64))
    files = [Path(p) for p in results.run_images(exact_id)["path"]]  # the run's order: one batch of 12
    datas = [f.read_bytes() for f in files]
    hashes = [content_hash(d) for d in datas]
    stored = results.get_embeddings(encoder.model_id, hashes)
    today = encoder.encode_images([decode(d, f.name) for d, f in zip(datas, files, strict=True)])
    assert np.array_equal(np.stack([stored[h] for h in hashes]), today)

    draft = Engine(results, encoder)
    draft_id = draft.run(RunConfig(dataset=str(folder), labels=LABELS, batch_size=64))
    assert draft.encoded_images == 12  # nothing taken from the exact run's cache: other pixels, other keys
    assert results.count_embeddings(encoder.model_id)["image"] == 24
    keys = [prepared_hash(h, "clip", 2) for h in hashes]
    drafted = results.get_embeddings(encoder.model_id, keys)
    a, b = (np.stack([v / np.linalg.norm(v) for v in vs])
            for vs in ([stored[h] for h in hashes], [drafted[k] for k in keys]))
    assert (np.sum(a * b, axis=1) > 0.99).all()
    cols = ["aggregation", "n_names", "accuracy"]
    assert results.points(draft_id)[cols].equals(results.points(exact_id)[cols])


def test_a_run_stored_before_decode_modes_resumes_with_exact_decoding(tmp_path, results, encoder):
    folder = large_photo_dir(tmp_path / "photos", per_class=1)
    engine = Engine(results, encoder)
    run_id = engine.start(RunConfig(dataset=str(folder), labels=LABELS))
    with results._connect() as con:  # as an older semscale stored it: no decode field
        config = results.run(run_id).config
        del config["decode"]
        con.execute("UPDATE runs SET config=? WHERE run_id=?", [__import__("json").dumps(config), run_id])
    engine.process(run_id)
    hashes = [content_hash(Path(p).read_bytes()) for p in results.run_images(run_id)["path"]]
    assert set(results.get_embeddings(encoder.model_id, hashes)) == set(hashes)


def test_pipelined_loop_takes_repeats_from_the_batch_before_as_a_plain_loop_would(tmp_path, results, encoder):
    """Copies of one file in consecutive batches: the second batch is looked up before the first
    commits, and must still encode nothing twice."""
    folder = tmp_path / "dups"
    for k, (name, rgb) in enumerate(COLOURS.items()):
        (folder / name).mkdir(parents=True)
        data = photo((64, 64), rgb, seed=k)
        for i in range(6):
            (folder / name / f"{i}.jpg").write_bytes(data)
    engine = Engine(results, encoder)
    run_id = engine.run(RunConfig(dataset=str(folder), labels=LABELS, batch_size=2))
    assert engine.encoded_images == 4 and engine.decoded_images == 4
    assert results.run(run_id).n_done == 24 and results.points(run_id)["accuracy"].eq(1.0).all()


@pytest.fixture(scope="module")
def second_encoder(tmp_path_factory):
    return LocalEncoder(tinyclip.build(tmp_path_factory.mktemp("tiny-clip-2"), seed=1))


def test_several_models_share_one_decode_and_equal_their_lone_runs(tmp_path, results, encoder, second_encoder):
    folder = large_photo_dir(tmp_path / "photos")
    (folder / "red" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    config = dict(dataset=str(folder), labels=LABELS, aggregations=["max", "probsum"], batch_size=5)
    alone_store = type(results)(tmp_path / "alone.duckdb")
    alone = [Engine(alone_store, enc) for enc in (encoder, second_encoder)]
    alone_ids = [e.run(RunConfig(**config)) for e in alone]
    assert [e.decoded_images for e in alone] == [13, 13]

    engines = [Engine(results, enc) for enc in (encoder, second_encoder)]
    ids = [e.start(RunConfig(**config)) for e in engines]
    assert process_together(list(zip(engines, ids, strict=True))) == ["done", "done"]
    assert engines[0].decoded_images == 13 and engines[1].decoded_images == 0  # once per file, for both
    assert [e.encoded_images for e in engines] == [12, 12]
    for run_id, lone_id in zip(ids, alone_ids, strict=True):
        got, want = results.predictions(run_id), alone_store.predictions(lone_id)
        assert len(got) == 12 * 2 * 2
        assert got.equals(want)
        assert results.points(run_id).drop(columns="run_id").equals(alone_store.points(lone_id).drop(columns="run_id"))
        assert results.rejected(run_id)["reason"].tolist() == alone_store.rejected(lone_id)["reason"].tolist()
    assert results.run(ids[0]).model != results.run(ids[1]).model


AGGREGATIONS = ("max", "mean", "probsum")  # the built-in rules, whose definitions _float64_scores writes out


def _levels(classes: int, per_class: int, sizes, rng) -> list:
    """Nested levels of one shuffled name order (as a repeat makes), every class its first n names."""
    from semscale.run.scoring import Candidates

    order = rng.permutation(per_class)
    return [Candidates.build([[c * per_class + int(j) for j in order[:n]] for c in range(classes)]) for n in sizes]


def _plain(images, names, cand, head):
    """Each level alone, the plain way: its own cosine matrix, class scores, a stable sort for the top names."""
    from semscale.run.scoring import class_scores

    sims = images @ names[cand.rows].T
    top = np.argsort(-sims, axis=1, kind="stable")[:, :3]
    return {agg: class_scores(images, names, cand, agg, head) for agg in AGGREGATIONS}, cand.rows[top], \
        np.take_along_axis(sims, top, axis=1)


def _float64_scores(images, names, cand, aggregation, head):
    """Class scores by the definitions, in float64."""
    sims = images.astype(np.float64) @ names[cand.rows].astype(np.float64).T
    if aggregation == "mean":
        sums = np.add.reduceat(names[cand.rows].astype(np.float64), cand.starts, axis=0)
        return images.astype(np.float64) @ sums.T / np.linalg.norm(sums, axis=1)
    if head.bias is not None:
        return np.add.reduceat(1 / (1 + np.exp(-(head.scale * sims + head.bias))), cand.starts, axis=1)
    probs = np.exp(head.scale * (sims - sims.max(axis=1, keepdims=True)))
    return np.add.reduceat(probs / probs.sum(axis=1, keepdims=True), cand.starts, axis=1)


@pytest.mark.parametrize("head", ["clip", "siglip"])
def test_a_sweep_scores_every_level_as_each_level_alone(head):
    """Levels grown step by step from one cosine matrix give each level's plain answers: the first
    maximal class under each aggregation, and the stable top names. Integer embeddings make every
    cosine exact, so ties between names and between classes are exact too and must break the plain way."""
    from semscale.core.vectors import CLIP_HEAD, Head
    from semscale.run.scoring import predict_levels

    head = CLIP_HEAD if head == "clip" else Head(scale=10.0, bias=-5.0)
    head = Head(scale=1.0) if head is CLIP_HEAD else head  # integer cosines: keep the softmax in range
    rng = np.random.default_rng(3)
    classes, per_class = 7, 5
    names = rng.integers(-2, 3, (classes * per_class, 6)).astype(np.float32)
    names[5:10] = names[0:5]  # class 1 repeats class 0's names: tied under every aggregation
    images = rng.integers(-2, 3, (400, 6)).astype(np.float32)
    levels = _levels(classes, per_class, (1, 2, 3, 5), rng)
    got = predict_levels(images, names, levels, AGGREGATIONS, head)
    ties = 0
    for cand, result in zip(levels, got, strict=True):
        scores, top_rows, top_sims = _plain(images, names, cand, head)
        for agg in AGGREGATIONS:
            s = scores[agg]
            if agg == "max":
                assert np.array_equal(result[agg].predicted, s.argmax(axis=1))
                assert np.array_equal(result[agg].score, s.max(axis=1))
            else:  # sums in float32 may break a tie either way (as the plain rule's may), so compare with
                # float64 scores: the chosen class must be a best one, and the only one where the best is clear
                exact = _float64_scores(images, names, cand, agg, head)
                chosen = exact[np.arange(len(exact)), result[agg].predicted]
                assert np.all(chosen >= exact.max(axis=1) - 1e-6), agg
                ranked = np.sort(exact, axis=1)
                clear = ranked[:, -1] - ranked[:, -2] > 1e-6
                assert np.array_equal(result[agg].predicted[clear], exact.argmax(axis=1)[clear]), agg
                assert np.allclose(result[agg].score, exact.max(axis=1), rtol=1e-5, atol=1e-6), agg
            assert np.array_equal(result[agg].top_rows, top_rows)
            assert np.array_equal(result[agg].top_sims, top_sims)
            ties += int(((s == s.max(axis=1, keepdims=True)).sum(axis=1) > 1).sum())
    assert ties > 100  # the data really holds ties for the rules to break


def test_a_sweep_with_random_cosines_predicts_as_each_level_alone():
    """Unit-norm random embeddings (cosines differ from the plain matrix product's in the last bits):
    the same predictions, scores to float32 rounding."""
    from semscale.core.vectors import CLIP_HEAD, normalize
    from semscale.run.scoring import predict_levels

    rng = np.random.default_rng(4)
    classes, per_class = 20, 8
    names = normalize(rng.standard_normal((classes * per_class, 16)))
    images = normalize(rng.standard_normal((2000, 16)))
    levels = _levels(classes, per_class, (1, 2, 4, 8), rng)
    for cand, result in zip(levels, predict_levels(images, names, levels, AGGREGATIONS), strict=True):
        scores, top_rows, top_sims = _plain(images, names, cand, CLIP_HEAD)
        for agg in AGGREGATIONS:
            assert np.array_equal(result[agg].predicted, scores[agg].argmax(axis=1)), agg
            assert np.allclose(result[agg].score, scores[agg].max(axis=1), rtol=2e-5, atol=1e-6), agg
        assert np.array_equal(result["max"].top_rows, top_rows)
        assert np.allclose(result["max"].top_sims, top_sims, rtol=0, atol=1e-6)


def test_levels_that_extend_no_other_and_uneven_lists_are_scored_alone_correctly():
    """Two name orders (two chains), classes with 1 to 6 names, a level listed twice, and a class whose
    names are spread over the matrix: every level still gets its plain answers."""
    from semscale.core.vectors import Head
    from semscale.run.scoring import Candidates, predict_levels

    rng = np.random.default_rng(5)
    names = rng.integers(-2, 3, (40, 5)).astype(np.float32)
    images = rng.integers(-2, 3, (300, 5)).astype(np.float32)
    lists = [[0, 1, 2], [3], [4, 5, 6, 7, 8, 9], [10, 11], [39, 12, 20]]
    shuffled = [list(rng.permutation(ls)) for ls in lists]
    levels = [Candidates.build([ls[:n] for ls in order]) for order in (lists, shuffled) for n in (1, 2, 6)]
    levels.append(levels[1])
    levels.append(Candidates.build([ls[-1:] for ls in lists]))  # last names only: no prefix of the others
    head = Head(scale=1.0)
    for cand, result in zip(levels, predict_levels(images, names, levels, AGGREGATIONS, head), strict=True):
        scores, top_rows, top_sims = _plain(images, names, cand, head)
        for agg in ("max", "probsum"):  # integer cosines: exact; mean's ties are checked above
            assert np.array_equal(result[agg].predicted, scores[agg].argmax(axis=1)), agg
        assert np.array_equal(result["max"].top_rows, top_rows)


def test_a_level_far_below_the_sweeps_best_name_keeps_its_probabilities():
    """probsum shifts a sweep's softmax by the chunk's best cosine; a level whose own best lies ~1.4 below
    it (scale 100) would underflow to 0/0 there, so it must be scored alone: the plain probabilities."""
    from semscale.core.vectors import CLIP_HEAD, normalize
    from semscale.run.scoring import Candidates, class_scores, predict_levels

    names = normalize(np.array([[-0.5, 0.866, 0], [-0.6, 0, 0.8], [0.9, 0.436, 0], [-0.55, 0.2, 0.81]], np.float32))
    images = np.array([[1, 0, 0]], np.float32)
    small = Candidates.build([[0], [1]])  # best cosine -0.5
    large = Candidates.build([[0, 2], [1, 3]])  # adds a name at 0.9
    got = predict_levels(images, names, [small, large], ["probsum"])
    want = class_scores(images, names, small, "probsum", CLIP_HEAD)
    assert np.isfinite(got[0]["probsum"].score).all()
    assert got[0]["probsum"].predicted.tolist() == [int(want.argmax())] == [0]
    assert np.allclose(got[0]["probsum"].score, want.max(axis=1), rtol=1e-5)
