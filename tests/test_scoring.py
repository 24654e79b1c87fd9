"""The scoring math against results computed by hand."""

import math

import numpy as np
import pytest

from semscale.core.errors import SemscaleError
from semscale.core.stats import wilson
from semscale.core.vectors import normalize
from semscale.run.scoring import Candidates, class_scores, predict

# Two images, three names in 2-D. Class 0 owns names 0 and 1, class 1 owns name 2.
IMAGES = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
NAMES = normalize(np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], np.float32))
CAND = Candidates.build([[0, 1], [2]])


def test_max_takes_best_synonym():
    s = class_scores(IMAGES, NAMES, CAND, "max")
    # image 0: class 0 = max(1.0, 0.6) = 1.0; class 1 = 0.0
    # image 1: class 0 = max(0.0, 0.8) = 0.8; class 1 = 1.0
    np.testing.assert_allclose(s, [[1.0, 0.0], [0.8, 1.0]], atol=1e-6)


def test_mean_compares_with_averaged_name_embedding():
    s = class_scores(IMAGES, NAMES, CAND, "mean")
    # class 0 centroid = (1.6, 0.8)/|(1.6, 0.8)| = (0.894427, 0.447214)
    np.testing.assert_allclose(s, [[0.894427, 0.0], [0.447214, 1.0]], atol=1e-5)


def test_probsum_sums_softmax_per_class():
    s = class_scores(IMAGES, NAMES, CAND, "probsum")
    # image 1: logits 100*(0, 0.8, 1.0) -> softmax; class 0 gets p0 + p1
    e = np.exp(np.array([0.0, 80.0, 100.0]) - 100.0)
    p = e / e.sum()
    np.testing.assert_allclose(s[1], [p[0] + p[1], p[2]], rtol=1e-5)
    np.testing.assert_allclose(s.sum(axis=1), [1.0, 1.0], rtol=1e-5)


def test_aggregations_can_disagree():
    # One image halfway between two names of class 0 and closer to class 1's single name.
    images = normalize(np.array([[0.7, 0.7, 0.1]], np.float32))
    names = normalize(np.array([[1, 0, 0], [0, 1, 0], [0.62, 0.62, 0.48]], np.float32))
    cand = Candidates.build([[0, 1], [2]])
    assert predict(images, names, cand, "max").predicted[0] == 1
    assert predict(images, names, cand, "mean").predicted[0] == 0  # centroid (0.707, 0.707, 0) wins


def test_predict_reports_top_names_and_breaks_ties_towards_first_class():
    images = np.array([[1.0, 0.0]], np.float32)
    names = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]], np.float32)
    p = predict(images, names, Candidates.build([[0], [1], [2]]), "max")
    assert p.predicted.tolist() == [1]  # classes 1 and 2 tie; the earlier one wins
    assert p.top_rows[0].tolist()[:2] == [1, 2]
    np.testing.assert_allclose(p.top_sims[0], [1.0, 1.0, 0.0])


def test_predict_works_in_chunks(monkeypatch):
    import semscale.run.scoring as scoring

    rng = np.random.default_rng(1)
    images = normalize(rng.normal(size=(50, 8)))
    names = normalize(rng.normal(size=(9, 8)))
    cand = Candidates.build([[0, 1, 2], [3, 4], [5, 6, 7, 8]])
    whole = predict(images, names, cand, "probsum")
    monkeypatch.setattr(scoring, "CHUNK_ROWS", 7)
    chunked = predict(images, names, cand, "probsum")
    assert (whole.predicted == chunked.predicted).all()


def test_chunks_bounded_by_cells_give_the_whole_answer(monkeypatch):
    """Many names make the chunk's cell bound (CHUNK_CELLS // names) the row count: 20 cells over 9 names
    is 2 images per chunk, and predictions, scores and top names are those of one chunk."""
    import semscale.run.scoring as scoring
    from semscale.run.scoring import predict_levels

    rng = np.random.default_rng(2)
    images = normalize(rng.normal(size=(9, 8)))
    names = normalize(rng.normal(size=(9, 8)))
    levels = [Candidates.build([[0], [3], [5]]), Candidates.build([[0, 1, 2], [3, 4], [5, 6, 7, 8]])]
    whole = predict_levels(images, names, levels, ["max", "probsum"])
    monkeypatch.setattr(scoring, "CHUNK_CELLS", 20)
    chunked = predict_levels(images, names, levels, ["max", "probsum"])
    for w, c in zip(whole, chunked, strict=True):
        for agg in ("max", "probsum"):
            assert np.array_equal(w[agg].predicted, c[agg].predicted)
            assert np.array_equal(w[agg].top_rows, c[agg].top_rows)
            np.testing.assert_allclose(c[agg].score, w[agg].score, rtol=1e-6)


def test_a_chunk_holding_nan_is_scored_level_by_level_as_by_hand():
    """The encoders refuse NaN embeddings, but a chunk with one still gets the plain rule, level by level
    (not the sweep's running totals): the finite images score as in the three tests above."""
    from semscale.run.aggregations import names as aggregation_names
    from semscale.run.scoring import predict_levels

    AGGREGATIONS = aggregation_names()

    images = np.vstack([IMAGES, [[np.nan, 0.0]]]).astype(np.float32)
    small, large = Candidates.build([[0], [2]]), CAND
    got = predict_levels(images, NAMES, [small, large], AGGREGATIONS)
    for agg in AGGREGATIONS:  # level 1: cosines (1, 0) and (0, 1); level 2: as above
        assert got[0][agg].predicted[:2].tolist() == [0, 1] and got[1][agg].predicted[:2].tolist() == [0, 1], agg
    np.testing.assert_allclose(got[1]["mean"].score[:2], [0.894427, 1.0], atol=1e-5)
    np.testing.assert_allclose(got[1]["max"].score[:2], [1.0, 1.0], atol=1e-6)
    e = np.exp(np.array([0.0, 80.0, 100.0]) - 100.0)
    np.testing.assert_allclose(got[1]["probsum"].score[1], e[2] / e.sum(), rtol=1e-5)
    assert got[1]["max"].top_rows[0].tolist() == [0, 1, 2] and got[0]["max"].top_rows[1].tolist() == [2, 0]
    from semscale.run.scoring import Head

    sigmoid = Head(scale=10.0, bias=-5.0)  # the chunk is scored with the run's head, not CLIP's
    with np.errstate(invalid="ignore"):  # the NaN row's own sigmoid is NaN, as it should be
        got = predict_levels(images, NAMES, [large], ["probsum"], sigmoid)[0]["probsum"]
    np.testing.assert_allclose(got.score[:2], class_scores(IMAGES, NAMES, large, "probsum", sigmoid).max(axis=1),
                               rtol=1e-6)
    # class 1's one name at cosine 1
    np.testing.assert_allclose(got.score[1], 1 / (1 + np.exp(-(10 * 1.0 - 5))), rtol=1e-6)


def test_levels_of_one_name_order_form_one_chain():
    """The sweep's saving: levels 1, 2, 3 of one order extend each other, also where a class has run out
    of names (class 1 has two), so one pass grows them all; a level of another order starts a chain."""
    from semscale.run.scoring import Sweep

    lists = [[0, 1, 2], [3, 4]]
    levels = [Candidates.build([ls[:n] for ls in lists]) for n in (3, 1, 2)]
    names = normalize(np.random.default_rng(0).normal(size=(5, 4)))
    assert [c.levels for c in Sweep(names, levels).chains] == [[1, 2, 0]]  # smallest first
    other = Candidates.build([[2], [4]])
    assert [c.levels for c in Sweep(names, [*levels, other]).chains] == [[1, 2, 0], [3]]


def test_a_chain_whose_classes_gain_names_at_different_levels_scores_each_level_alone():
    """Class 1 gains its second name at level 2, classes 0 and 2 theirs at level 3: level 3's new names
    sit in columns 3 and 5 of the chain (class 1's second name between them), a block that is not a
    run of columns. Every level still scores as `class_scores` scores it alone, top names as a stable sort."""
    from semscale.run.scoring import predict_levels

    rng = np.random.default_rng(6)
    names = normalize(rng.normal(size=(9, 6)))
    images = normalize(rng.normal(size=(40, 6)))
    levels = [Candidates.build(c) for c in ([[0], [3], [6]], [[0], [3, 4], [6]], [[0, 1], [3, 4], [6, 7]])]
    got = predict_levels(images, names, levels, ["max", "mean", "probsum"])
    for cand, result in zip(levels, got, strict=True):
        for agg in ("max", "mean", "probsum"):
            want = class_scores(images, names, cand, agg)
            assert np.array_equal(result[agg].predicted, want.argmax(axis=1)), agg
            np.testing.assert_allclose(result[agg].score, want.max(axis=1), rtol=1e-5, atol=1e-6)
        sims = images @ names[cand.rows].T
        top = np.argsort(-sims, axis=1, kind="stable")[:, :3]
        assert result["max"].top_rows.dtype == np.int64 and np.array_equal(result["max"].top_rows, cand.rows[top])


def test_chunks_after_a_chunk_holding_nan_are_still_scored(monkeypatch):
    """One image per chunk, the NaN one first: the two finite images after it get their answers."""
    import semscale.run.scoring as scoring
    from semscale.run.scoring import predict_levels

    monkeypatch.setattr(scoring, "CHUNK_ROWS", 1)
    images = np.vstack([[[np.nan, 0.0]], IMAGES]).astype(np.float32)
    got = predict_levels(images, NAMES, [CAND], ["max"])[0]["max"]
    assert got.predicted[1:].tolist() == [0, 1] and got.top_rows[1].tolist() == [0, 1, 2]


def test_no_images_give_empty_predictions_of_the_usual_shapes():
    """Zero images: per level and aggregation, empty arrays with the usual types and k top-name columns."""
    from semscale.run.scoring import predict_levels

    small = Candidates.build([[0], [2]])  # 2 candidates: k = 2; CAND has 3: k = 3
    got = predict_levels(np.zeros((0, 2), np.float32), NAMES, [small, CAND], ["max", "probsum"])
    for level, k in zip(got, (2, 3), strict=True):
        for p in level.values():
            assert (p.predicted.shape, p.score.shape, p.top_rows.shape, p.top_sims.shape) == (
                (0,), (0,), (0, k), (0, k))
            assert [a.dtype for a in (p.predicted, p.score, p.top_rows, p.top_sims)] == [np.int64, np.float32, np.int64,
                                                                                          np.float32]


def test_unknown_aggregation_is_refused():
    with pytest.raises(SemscaleError, match="unknown aggregation 'median'"):
        class_scores(IMAGES, NAMES, CAND, "median")


@pytest.mark.parametrize("correct,total,low,high", [
    (0, 10, 0.0, 0.2775),      # Wilson: upper bound z^2/(n+z^2) = 3.8415/13.8415
    (1, 10, 0.0179, 0.4042),   # centre (.1 + .1921)/1.3842 = .2110, half 1.96 x .1364/1.3842 = .1931
    (1, 1, 0.2065, 1.0),       # one image, right: lower bound 1/(1 + z^2) = 1/4.8415
    (0, 0, 0.0, 1.0),          # no data: nothing is known
    (10, 10, 0.7225, 1.0),
    (5, 10, 0.2366, 0.7634),
    (81, 100, 0.7222, 0.8749),
])
def test_wilson_interval_matches_textbook_values(correct, total, low, high):
    lo, hi = wilson(correct, total)
    assert math.isclose(lo, low, abs_tol=5e-4) and math.isclose(hi, high, abs_tol=5e-4)


def test_sigmoid_head_sums_each_names_own_probability():
    """SigLIP's probsum: sigmoid(scale x cos + bias) per name, summed per class, with the registry's head.

    Class A has one name at cosine 0.20, class B two names at 0.12. With scale 112 and bias -16.5:
    A = sigmoid(5.9) = 0.99727, B = 2 sigmoid(-3.06) = 0.08952 -> A. Without the bias every name
    saturates near 1 and B's two names win; the softmax rule says A too."""
    from semscale.core.vectors import Head
    from semscale.models.registry import get

    head = get("siglip2-base").head
    assert head == Head(112.0, -16.5)
    image = np.array([[1.0, 0.0]], np.float32)
    names = np.array([[0.20, math.sqrt(1 - 0.04)], [0.12, math.sqrt(1 - 0.0144)], [0.12, math.sqrt(1 - 0.0144)]],
                     np.float32)
    cand = Candidates.build([[0], [1, 2]])
    s = class_scores(image, names, cand, "probsum", head)
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    np.testing.assert_allclose(s[0], [sig(112 * 0.2 - 16.5), 2 * sig(112 * 0.12 - 16.5)], rtol=1e-5)
    assert predict(image, names, cand, "probsum", head).predicted.tolist() == [0]
    assert predict(image, names, cand, "probsum", Head(112.0, 0.0)).predicted.tolist() == [1]
    assert predict(image, names, cand, "probsum", Head(112.0)).predicted.tolist() == [0]


@pytest.mark.parametrize("model,head", [("clip-vit-b32", (100.0, None)), ("jina-clip-v1", (100.0, None)),
                                        ("nomic-v1.5", (100.0, None)), ("siglip2-base", (112.0, -16.5))])
def test_the_registry_gives_each_family_its_head(model, head):
    """probsum's numbers depend on it: softmax at CLIP's 100 for the softmax-trained families, SigLIP's
    sigmoid with its scale and bias; tests/test_designed.py shows a prediction that changes with the scale."""
    from semscale.models.registry import get

    assert (get(model).head.scale, get(model).head.bias) == head


def test_blocks_walked_together_give_each_blocks_own_numbers():
    """A run scores its batches in blocks, and a float32 product's last bits depend on its rows (OpenBLAS
    takes other kernels for a few rows than for many), so `Sweep.predict` with `blocks` computes each
    block's cosines by a product of its own and walks them together. Its answer must be, bit for bit,
    every block scored alone, here with blocks of 1 to 6 of 40 images (512-d), a block holding a NaN
    image (scored the plain way), and probsum rows re-scored the plain way in several blocks: a level
    whose names all lie far below the chunk's best name ('close', the images' common direction, cosine
    ~0.9, in the larger level only) would underflow, so those rows are re-scored per block."""
    from semscale.run.scoring import Sweep

    rng = np.random.default_rng(3)
    common = normalize(rng.normal(size=(1, 512)))
    images = normalize(common + 0.5 * normalize(rng.normal(size=(40, 512))) + 0.02 * rng.normal(size=(40, 512)))
    images[17, 3] = np.nan
    names = normalize(np.vstack([rng.normal(size=(8, 512)), common]))  # name 8: 'close'
    levels = [Candidates.build(c) for c in ([[0], [3], [6]], [[0, 1], [3, 4], [6, 7]], [[0, 1, 8], [3, 4, 5], [6, 7]],
                                            [[2], [5, 4], [7]])]
    sizes = [1, 2, 3, 1, 5, 6, 2, 4, 3, 1, 6, 2, 4]
    assert sum(sizes) == 40
    ends = np.cumsum(sizes)
    blocks = [slice(int(e - s), int(e)) for s, e in zip(sizes, ends, strict=True)]
    aggregations = ["max", "mean", "probsum"]
    sweep = Sweep(names, levels)
    together = sweep.predict(images, aggregations, blocks=blocks)
    alone = [sweep.predict(images[b], aggregations) for b in blocks]
    far = np.isfinite(images).all(axis=1)  # every finite row: "close" is far above level 0's names
    assert 100 * (images[far] @ names[8] - (images[far] @ names[[0, 3, 6]].T).max(axis=1)).min() > 40
    for i in range(len(levels)):
        for agg in aggregations:
            for field in ("predicted", "score", "top_rows", "top_sims"):
                want = np.concatenate([getattr(a[i][agg], field) for a in alone])
                floats = field in ("score", "top_sims")
                assert np.array_equal(getattr(together[i][agg], field), want, equal_nan=floats), (i, agg, field)
    whole = sweep.predict(images, aggregations)  # one product of every row: other bits somewhere
    assert any(not np.array_equal(whole[i][agg].score, together[i][agg].score, equal_nan=True)
               for i in range(len(levels)) for agg in aggregations)
    bare = sweep.predict(images, aggregations, blocks=blocks, top_names=False)
    assert all(np.array_equal(bare[i][a].predicted, together[i][a].predicted) and bare[i][a].top_rows.shape == (40, 0)
               for i in range(len(levels)) for a in aggregations)


def test_a_sum_of_a_class_names_that_cancels_out_has_length_one():
    """mean's centroid lengths (the sweep divides each class's summed cosines by them): 1 for names
    (1, 0) and (-1, 0), whose sum is zero (its cosines sum to 0, and 0/1 stays 0, not 0/0); sqrt(2)
    for (1, 0) and (0, 1); 1 for one name."""
    from semscale.run.aggregations import class_norms

    names = np.array([[1, 0], [-1, 0], [1, 0], [0, 1], [0, 1]], np.float32)
    np.testing.assert_allclose(class_norms(names, np.array([0, 2, 4])), [1, math.sqrt(2), 1], rtol=1e-6)


# Two images in 2-D; class 0's names (1, 0) and (0, 1), class 1's (0.8, 0.6).
# mean: class 0's centroid (1, 1)/sqrt(2): image (1, 0) scores 1/sqrt(2) = .7071 < .8 (class 1), image (0, 1)
# .7071 > .6. probsum at scale 5 ln 2 (a cosine c gives 2^(5c)): image (1, 0): 32, 1 | 16 -> 33/49, 16/49;
# image (0, 1): 1, 32 | 8 -> 33/41, 8/41.
RULE_IMAGES = np.array([[1, 0], [0, 1]], np.float32)
RULE_NAMES = normalize(np.array([[1, 0], [0, 1], [0.8, 0.6]], np.float32))
RULE_STARTS = np.array([0, 2])
RULE_WANT = {"mean": [[1 / math.sqrt(2), 0.8], [1 / math.sqrt(2), 0.6]],
             "probsum": [[33 / 49, 16 / 49], [33 / 41, 8 / 41]]}


@pytest.mark.parametrize("agg", ["mean", "probsum"])
def test_the_plain_rule_of_a_new_aggregation_uses_its_names_values_norms_and_head(agg):
    """A registered rule that changes what a name adds, how totals are finished (mean's norms) or
    normalised (probsum's denominator, from the head) gets `Aggregation.scores` as its plain rule: it
    must give what mean's centroid and probsum's softmax give, computed by hand above."""
    from semscale.core.vectors import Head
    from semscale.run import aggregations

    rule = aggregations.get(agg)
    head = Head(scale=5 * math.log(2))
    via_totals = aggregations.Aggregation.scores(rule, RULE_IMAGES, RULE_NAMES, RULE_STARTS, head)
    np.testing.assert_allclose(via_totals, RULE_WANT[agg], rtol=1e-5)
    np.testing.assert_allclose(rule.scores(RULE_IMAGES, RULE_NAMES, RULE_STARTS, head), RULE_WANT[agg], rtol=1e-5)


def test_probsum_rescores_each_image_whose_level_lies_far_below_its_own_best_name():
    """The sweep shifts each image's logits by its own best (scale 100 x cosine); a level whose best is
    40 or more below that, per image, is scored alone. Image 0's small level (cosines .02 and .01, both
    positive) lies ~98 below its best name (.99975): shifted, its values are float32 subnormals of a few
    bits (e^-98), so the class probabilities must come from the plain rule: sigmoid(100 x .01) = .731.
    Image 1's small level is its best (cosine 1): it must not hide image 0's gap."""
    from semscale.run.scoring import predict_levels

    names = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0.6, 0.8]], np.float32)
    images = normalize(np.array([[1, 0.02, 0.01], [0, 1, 0]], np.float32))
    small, large = Candidates.build([[0], [1]]), Candidates.build([[0, 2], [1, 3]])
    got = predict_levels(images, names, [small, large], ["probsum"])[0]["probsum"]
    assert got.predicted.tolist() == [0, 0]
    np.testing.assert_allclose(got.score, [1 / (1 + math.exp(-100 * 0.01 / 1.00025)), 1.0], rtol=1e-5)
    np.testing.assert_allclose(got.score, class_scores(images, names, small, "probsum").max(axis=1), rtol=1e-5)


def _orders(lists: list[list[int]], levels: tuple[int, ...], n_orders: int, seed: int) -> list[Candidates]:
    """Each (order, level)'s candidates as a run's plan builds them: order 0 the lists as given, the
    others each class's extra names shuffled, level n each class's first n names."""
    rng = np.random.default_rng(seed)
    orders = [lists] + [[ls[:1] + list(rng.permutation(ls[1:])) for ls in lists] for _ in range(n_orders - 1)]
    return [Candidates.build([[int(r) for r in ls[:n]] for ls in order]) for order in orders for n in levels]


@pytest.mark.parametrize("levels", [(2, 3), (1, 2, 3, 4)])
@pytest.mark.parametrize("head", ["softmax", "sigmoid"])
def test_name_orders_walked_together_give_each_orders_own_numbers(monkeypatch, levels, head):
    """A run's name orders form chains of one layout (every class gains a name at each level), walked together
    as one array per aggregation; with room for one chain at a time (CHUNK_CELLS = the sweep's columns x its
    rows, a chain's columns more than half of them) they walk one by one. Both give the same bits: 6 orders of
    9 classes x 4 names, in 13 blocks. Levels 2, 3 stop short of the lists (each order's last level holds 27
    of the 36 names), so order 0's chain, whose columns begin the cosine matrix and whose softmax is shifted by
    the matrix's best, shares its layout with the others; at levels 1-4 every order's level 1 is one level,
    scored once. A name close to the images' common direction, an extra name of class 4, leaves the levels
    without it so far below that probsum re-scores their rows the plain way."""
    import semscale.run.scoring as scoring
    from semscale.core.vectors import Head
    from semscale.run.scoring import Sweep

    rng = np.random.default_rng(11)
    common = normalize(rng.normal(size=(1, 64)))
    images = normalize(common + 0.5 * normalize(rng.normal(size=(40, 64))) + 0.02 * rng.normal(size=(40, 64)))
    names = normalize(rng.normal(size=(36, 64)))
    names[17] = common[0]
    lists = [list(range(4 * k, 4 * k + 4)) for k in range(9)]
    cands = _orders(lists, levels, 6, seed=5)
    sweep = Sweep(names, cands)
    shared = [c for c in sweep.chains if sum(d.layout is c.layout for d in sweep.chains) > 1]
    assert len(shared) >= 5 and any(c.in_place for c in shared) == (levels == (2, 3))
    assert len(sweep.chains[0].rows) < len(sweep.matrix) or levels != (2, 3)
    sizes = [1, 2, 3, 7, 5, 1, 2, 4, 3, 1, 6, 2, 3]
    ends = np.cumsum(sizes)
    blocks = [slice(int(e - s), int(e)) for s, e in zip(sizes, ends, strict=True)]
    chosen = Head(scale=100.0) if head == "softmax" else Head(scale=10.0, bias=-5.0)
    aggregations = ["max", "mean", "probsum"]
    together = sweep.predict(images, aggregations, chosen, blocks)
    monkeypatch.setattr(scoring, "CHUNK_CELLS", len(sweep.matrix) * len(images))
    alone = sweep.predict(images, aggregations, chosen, blocks)
    for i in range(len(cands)):
        for agg in aggregations:
            for field in ("predicted", "score", "top_rows", "top_sims"):
                assert np.array_equal(getattr(together[i][agg], field), getattr(alone[i][agg], field)), (i, agg, field)
    if levels == (1, 2, 3, 4):
        assert all(together[i] is together[0] for i in range(0, len(cands), 4))  # every order's level 1, once


def test_probsum_divides_by_each_rows_classes_summed_in_numpys_order():
    """The sweep lays each class's scores out together, but probsum's stored scores divide by the sum of each
    row's classes taken side by side, in NumPy's pairwise order (12 classes: 8 partial sums, then the rest), as
    the sweep always has: the scores of a level of one name per class are exactly e / e.sum(axis=1), e the
    names' exp(100 x cosine - 100 x the row's best). Summed class after class, some of the 300 rows' sums differ
    in their last bits."""
    from semscale.run.scoring import predict_levels

    rng = np.random.default_rng(2)
    images, names = normalize(rng.normal(size=(300, 16))), normalize(rng.normal(size=(12, 16)))
    got = predict_levels(images, names, [Candidates.build([[k] for k in range(12)])], ["probsum"])[0]["probsum"]
    logits = 100 * (images @ names.T)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    pairwise = e.sum(axis=1, keepdims=True)
    assert np.array_equal(got.score, (e / pairwise)[np.arange(300), got.predicted])
    one_by_one = np.zeros_like(pairwise)
    for k in range(12):
        one_by_one[:, 0] += e[:, k]
    assert not np.array_equal(pairwise, one_by_one)


def test_the_first_maximal_class_and_its_score_as_argmax_gives_them():
    """Scores laid out class by class (a sweep's): the predicted class is the first maximal one, a NaN the
    first NaN, and the score the predicted class's own, a -0.0 included. By hand: [1, 3, 3] -> 1 (score 3);
    [-0.0, 0.0, -1] -> 0 (score -0.0: 0.0 ties with it); [2, NaN, NaN] -> 1; [-inf, -inf] -> 0; and 2,000
    tie-heavy rows against np.argmax."""
    from semscale.run.scoring import _argmax

    by_class = np.full((3, 4), -np.inf, np.float32)  # classes x rows
    by_class[:, 0], by_class[:, 1], by_class[:, 2] = [1, 3, 3], [-0.0, 0.0, -1], [2, np.nan, np.nan]
    by_class[:2, 3] = -np.inf
    first, score = _argmax(by_class.T)
    assert first.tolist() == [1, 0, 1, 0]
    assert score[0] == 3 and score[1] == 0 and np.signbit(score[1]) and np.isnan(score[2]) and score[3] == -np.inf
    rng = np.random.default_rng(4)
    values = np.array([0.0, -0.0, 1.0, 0.5, -1.0, np.inf, -np.inf], np.float32)
    many = np.ascontiguousarray(rng.choice(values, size=(2000, 3, 9)).transpose(2, 1, 0)).transpose(2, 1, 0)
    first, score = _argmax(many)
    want = many.argmax(axis=-1)
    assert np.array_equal(first, want)
    picked = np.take_along_axis(many, want[..., None], axis=-1)[..., 0]
    assert np.array_equal(score, picked) and np.array_equal(np.signbit(score), np.signbit(picked))


def test_probsum_rescores_every_level_of_a_chain_far_below_its_best_name():
    """Rows stop being checked for underflow only after a level where none needs it (a class's best cosine
    only grows along a chain). Image (1, .02, .01)/n, n = 1.00025: class 0's names e1, (0, .6, .8) and then
    e0, 'close' (cosine 1/n); class 1's e2, (0, .8, .6). The two levels without 'close' lie ~98 below it (scale
    100), both re-scored the plain way; by hand, with exponents 100 x cosine: level 1 e^(2/n) : e^(1/n), class
    0 sigmoid(1/n) = .731; level 2 2e^(2/n) : e^(1/n) + e^(2.2/n), class 0 .557; level 3 'close' alone, ~1."""
    from semscale.run.scoring import predict_levels

    names = np.array([[0, 1, 0], [0, 0, 1], [0, 0.6, 0.8], [0, 0.8, 0.6], [1, 0, 0]], np.float32)
    image = normalize(np.array([[1, 0.02, 0.01]], np.float32))
    levels = [Candidates.build(c) for c in ([[0], [1]], [[0, 2], [1, 3]], [[0, 2, 4], [1, 3]])]
    got = [level["probsum"] for level in predict_levels(image, names, levels, ["probsum"])]
    n = math.sqrt(1.0005)
    first = 1 / (1 + math.exp(-1 / n))
    second = 2 * math.exp(2 / n) / (2 * math.exp(2 / n) + math.exp(1 / n) + math.exp(2.2 / n))
    assert [p.predicted[0] for p in got] == [0, 0, 0]
    np.testing.assert_allclose([p.score[0] for p in got], [first, second, 1.0], rtol=1e-5)
