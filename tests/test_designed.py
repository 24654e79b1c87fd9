"""Hand-computed predictions on the designed model (tests/designed.py): aggregations, name order, ties.

Six images, two per class (ant: k0 k1, bee: k2 k3, cat: k4 k5); image k embeds to the basis vector
e_k, so a name's cosine with image k is its entry in `designed.COSINES` (unit-length names). The
expected predictions below are worked out by hand from that table, never by calling
semscale.run.scoring; the engine (in-process and through a real `semscale serve`) and the paper's /rank
method must reproduce them exactly.

Level 1 = ant, bee, cat. The own base name is the best one for every image (k0 ant .6, k1 ant .6,
k2 bee .6, k3 bee .6, k4 cat .84, k5 cat .40 against bee .395). With one name per class, `mean`'s
centroid is that name and softmax is monotone in the cosine, so all aggregations agree: 6/6.

Level 2 adds apple, bell, chime (bell and chime are twins: the same vector, in bee and in cat).
  max     k4: bell .85 = chime .85 > cat .84, a tie: the earlier class, bee, wins (wrong). The rest
          are right (k1 apple .795; k5 cat .40 > bee .395 > bell .3): 5/6.
  mean    score = (sum of the class's cosines) / |sum of its unit names|, |u + v|^2 = 2 + 2 u.v:
          ant: ant.apple = .6(-.6) + .6(.795) = .117    -> |sum| = sqrt(2.234) = 1.4947
          bee: bee.bell  = .6(.2) + .395(.3)   = .2385  -> |sum| = sqrt(2.477) = 1.5738
          cat: cat.chime = .84(.85) + .4(.3)   = .834   -> |sum| = sqrt(3.668) = 1.9152
          k0: ant (.6 - .6) = 0, bee .3/1.5738 = .191, cat .3/1.9152 = .157    -> bee (wrong:
              apple points away from k0 and cancels ant's own name)
          k1: ant 1.395/1.4947 = .933                                         -> ant
          k2: bee .8/1.5738 = .508, cat .2/1.9152 = .104                       -> bee
          k3: bee .6/1.5738 = .381                                             -> bee
          k4: bee .85/1.5738 = .540, cat 1.69/1.9152 = .882                    -> cat
          k5: bee .695/1.5738 = .442, cat .7/1.9152 = .366                     -> bee (wrong): 4/6
  probsum softmax of 100 x cosine over all active names, summed per class:
          k4: bee e^85, cat e^85 + e^84 = e^85 (1 + e^-1)                      -> cat
          k5: bee e^39.5 + e^30, cat e^40 + e^30                               -> cat
          elsewhere the best name leads by >= .3, i.e. a factor e^30           -> 6/6

Level 3 adds arrow, bread, cloud.
  max     k1: cloud .8 > apple = arrow .795 -> cat (wrong); k4 the same tie as above: 4/6.
  mean    ant: + ant.arrow = .6(.795) = .477, apple.arrow = .795^2 = .632
                  |sum|^2 = 3 + 2(.117 + .477 + .632) = 5.452   -> 2.335
          bee: + bee.bread = .395^2 = .156, bell.bread = .3(.395) = .1185
                  |sum|^2 = 3 + 2(.2385 + .156 + .1185) = 4.026 -> 2.0065
          cat: + cat.cloud = chime.cloud = 0
                  |sum|^2 = 3 + 2(.834) = 4.668                  -> 2.1606
          k0: ant 0, bee .3/2.0065 = .150, cat .3/2.1606 = .139   -> bee (wrong)
          k1: ant 2.19/2.335 = .938, cat .8/2.1606 = .370         -> ant
          k2: bee .8/2.0065 = .399; k3: bee .6/2.0065 = .299      -> bee, bee
          k4: bee .85/2.0065 = .424, cat 1.69/2.1606 = .782        -> cat
          k5: bee 1.09/2.0065 = .543, cat .7/2.1606 = .324         -> bee (wrong): 4/6
  probsum k1: ant 2e^79.5 + e^60 = e^80 (2e^-0.5 = 1.213), cat e^80     -> ant (max says cat)
          k5: bee 2e^39.5 + e^30 = e^40 (1.213), cat e^40 + e^30   -> bee (wrong; max says cat)
          k4 as at level 2 -> cat: 5/6.
"""

from __future__ import annotations

import designed
import numpy as np
import pytest
from test_server import Server

from semscale.analysis import run_embeddings, tables
from semscale.analysis.name_effects import name_effects
from semscale.app import cli, figures
from semscale.core.errors import SemscaleError
from semscale.data.images import decode
from semscale.models.encoders import LocalEncoder, for_backend
from semscale.models.settings import Backend
from semscale.names.labels import LabelSet
from semscale.run import aggregations
from semscale.run.config import RunConfig
from semscale.run.engine import Engine
from semscale.run.scoring import Candidates, class_scores

AGGREGATIONS = ["max", "mean", "probsum"]
LEVELS = [1, 2, 3]
CLASSES = list(designed.IMAGES)
# (aggregation, level) -> predicted class of k0 .. k5, from the hand computation above.
EXPECTED = {
    ("max", 1): "ant ant bee bee cat cat",
    ("mean", 1): "ant ant bee bee cat cat",
    ("probsum", 1): "ant ant bee bee cat cat",
    ("max", 2): "ant ant bee bee bee cat",
    ("mean", 2): "bee ant bee bee cat bee",
    ("probsum", 2): "ant ant bee bee cat cat",
    ("max", 3): "ant cat bee bee bee cat",
    ("mean", 3): "bee ant bee bee cat bee",
    ("probsum", 3): "ant ant bee bee cat bee",
}
CORRECT = {  # right predictions out of 6, per (aggregation, level)
    ("max", 1): 6, ("mean", 1): 6, ("probsum", 1): 6,
    ("max", 2): 5, ("mean", 2): 4, ("probsum", 2): 6,
    ("max", 3): 4, ("mean", 3): 4, ("probsum", 3): 5,
}

# The base name decides level 1. Reversed, level 1 is arrow, bread, cloud:
#   k0: all three 0, a three-way tie -> ant (right); k1: cloud .8 > arrow .795 -> cat;
#   k2, k3, k4: all 0 -> ant; k5: bread .395 -> bee. 1/6, under every aggregation.
REVERSED = {c: names[::-1] for c, names in designed.LABELS.items()}
REVERSED_LEVEL1 = "ant cat ant ant ant bee"

# Ties: one twin per class at level 1 (max, mean and probsum all see identical scores for them).
#   k0: ant .6 > bell = chime .3 -> ant;  k1: ant .6 -> ant;
#   k2: bell = chime .2 -> bee (right, by the tie rule);  k3: all 0 -> ant (wrong);
#   k4: bell = chime .85 -> bee (wrong);  k5: bell = chime .3 -> bee (wrong): 3/6.
TIES = {"ant": ["ant"], "bee": ["bell"], "cat": ["chime"]}
TIES_LEVEL1 = "ant ant bee ant bee bee"


@pytest.fixture(scope="session")
def designed_dir(tmp_path_factory):
    return designed.build(tmp_path_factory.mktemp("designed-clip"))


@pytest.fixture(scope="session")
def designed_encoder(designed_dir):
    return LocalEncoder(designed_dir)


@pytest.fixture(scope="session")
def designed_images(tmp_path_factory):
    return designed.write_images(tmp_path_factory.mktemp("designed-images"))


@pytest.fixture(scope="module")
def designed_server(designed_dir, tmp_path_factory):
    srv = Server(designed_dir, tmp_path_factory.mktemp("designed-serve")).start()
    yield srv
    srv.stop()
    srv.kill()


def predicted(results, run_id, aggregation, level, repeat=0) -> str:
    """The run's predictions for k0 .. k5 (files are named kN.png), space-separated."""
    preds = results.predictions(run_id, aggregation, level)
    preds = preds[preds["repeat"] == repeat].sort_values("name")
    assert preds["name"].tolist() == [f"{c}/k{k}.png" for c, ks in designed.IMAGES.items() for k in ks]
    return " ".join(preds["predicted"])


def point(results, run_id, aggregation, level, repeat=0):
    pts = results.points(run_id)
    return pts[(pts["aggregation"] == aggregation) & (pts["n_names"] == level) & (pts["repeat"] == repeat)].iloc[0]


def assert_hand_computed(results, run_id):
    for (agg, level), want in EXPECTED.items():
        assert predicted(results, run_id, agg, level) == want, (agg, level)
        p = point(results, run_id, agg, level)
        assert (p["n_images"], p["correct"]) == (6, CORRECT[agg, level]), (agg, level)
        assert p["accuracy"] == CORRECT[agg, level] / 6


def decoded(images_root):
    """k0 .. k5 decoded, as the engine decodes them."""
    paths = [images_root / c / f"k{k}.png" for c, ks in designed.IMAGES.items() for k in ks]
    return [decode(p.read_bytes(), p.name) for p in paths]


def run(engine, images, labels, **config) -> str:
    return engine.run(RunConfig(dataset=str(images), labels=labels, schedule="1,2,3", aggregations=AGGREGATIONS,
                                **config))


def test_the_model_embeds_as_designed(designed_encoder, designed_images):
    """The premise of every hand computation: image k is e_k and a name's cosines are its table row."""
    images = designed_encoder.encode_images(decoded(designed_images))
    assert np.array_equal(images != 0, np.eye(6, designed.DIM, dtype=bool))  # exact zeros elsewhere
    np.testing.assert_allclose(images[:, :6], np.eye(6), atol=1e-6)
    vectors = designed.name_vectors()
    texts = designed_encoder.encode_texts(list(vectors))
    for name, got in zip(vectors, texts, strict=True):
        want = [designed.COSINES[designed.TWINS.get(name, name)].get(k, 0.0) for k in range(6)]
        np.testing.assert_allclose(got[:6], want, atol=1e-6, err_msg=name)
        assert np.linalg.norm(got) == pytest.approx(1, abs=1e-6)
    assert np.array_equal(texts[list(vectors).index("bell")], texts[list(vectors).index("chime")])


def test_engine_reproduces_the_hand_computed_predictions(designed_encoder, designed_images, results):
    assert_hand_computed(results, run(Engine(results, designed_encoder), designed_images, designed.LABELS))


def test_the_base_name_decides_level_one(designed_encoder, designed_images, results):
    engine = Engine(results, designed_encoder)
    reversed_run = run(engine, designed_images, REVERSED)
    for agg in AGGREGATIONS:
        assert predicted(results, reversed_run, agg, 1) == REVERSED_LEVEL1
        assert point(results, reversed_run, agg, 1)["correct"] == 1
    # Shuffled orders keep the base name first (level 1 as designed) and, with every name active,
    # level 3 is the same set of names in another order.
    shuffled = run(engine, designed_images, designed.LABELS, repeats=4, seed=3)
    for repeat in range(4):
        for agg in AGGREGATIONS:
            for level in (1, 3):
                assert predicted(results, shuffled, agg, level, repeat) == EXPECTED[agg, level], (repeat, agg, level)
                assert point(results, shuffled, agg, level, repeat)["correct"] == CORRECT[agg, level]


def test_a_tie_goes_to_the_earlier_class(designed_encoder, designed_images, results):
    run_id = Engine(results, designed_encoder).run(
        RunConfig(dataset=str(designed_images), labels=TIES, aggregations=AGGREGATIONS))
    for agg in AGGREGATIONS:
        assert predicted(results, run_id, agg, 1) == TIES_LEVEL1, agg
        assert point(results, run_id, agg, 1)["correct"] == 3


TWINS_IN_BEE = {"ant": ["ant"], "bee": ["bell", "chime"], "cat": ["cat"]}


def test_probsum_uses_the_registry_logit_scale(designed_encoder, designed_images, results):
    """Level 2 of TWINS_IN_BEE: ant has one name, bee two twins (same cosines), cat one. The engine takes
    the head from the model registry (CLIP: softmax at scale 100); at scale 1 the two twins outvote
    any single name, so a registry that lost its scale predicts bee for every image but k2..k4.
      k0: ant .6, bell = chime .3   scale 100: ant e^60 > bee 2e^30 -> ant; scale 1: 1.82 < 2e^.3 = 2.70
      k1: ant .6, twins 0           ant e^60 > bee 2                 -> ant; scale 1: 1.82 < 2
      k2: twins .2, the rest 0 -> bee;  k3: every cosine 0 -> bee (2 names against 1);  k4: twins .85 -> bee
      k5: cat .4, twins .3          cat e^40 > bee 2e^30             -> cat; scale 1: 1.49 < 2.70
    max, for contrast: k3 is a three-way tie at 0 (earlier class: ant) -> ant ant bee ant bee cat."""
    run_id = Engine(results, designed_encoder).run(RunConfig(dataset=str(designed_images), labels=TWINS_IN_BEE,
                                                             schedule="1,2", aggregations=["max", "probsum"]))
    assert predicted(results, run_id, "probsum", 2) == "ant ant bee bee bee cat"
    assert point(results, run_id, "probsum", 2)["correct"] == 5
    assert predicted(results, run_id, "max", 2) == "ant ant bee ant bee cat"


# --- a new aggregation is one registry entry ---------------------------------------------------------
TOY_MIN = aggregations.Aggregation("min", "the worst-matching name decides",
                                   aggregations.LineStyle("longdash", "cross", 2, "-.", "+"), np.minimum, np.inf)
# min: a class scores its worst name's cosine. Level 1 is max's (one name each): 6/6.
# Level 2 (ant+apple, bee+bell, cat+chime):
#   k0: ant min(.6, -.6) = -.6, bee min(0, .3) = 0, cat min(0, .3) = 0 -> bee (tie, earlier class; wrong)
#   k1: ant min(.6, .795) = .6 -> ant;  k2: bee min(.6, .2) = .2 -> bee;  k3: bee min(.6, 0) = 0, all 0 -> ant (wrong)
#   k4: cat min(.84, .85) = .84 -> cat;  k5: bee min(.395, .3) = .3 = cat min(.4, .3) (twins) -> bee (wrong): 3/6
# Level 3 (+ arrow, bread, cloud), every class's worst name is 0 or below except:
#   k1: ant min(.6, .795, .795) = .6 -> ant;  k5: bee min(.395, .3, .395) = .3 -> bee (wrong)
#   k0: ant -.6, bee 0, cat 0 -> bee (wrong);  k2, k3, k4: all 0 -> ant (wrong): 1/6
TOY_MIN_EXPECTED = {1: ("ant ant bee bee cat cat", 6), 2: ("bee ant bee ant cat bee", 3),
                    3: ("bee ant ant ant ant bee", 1)}
# One name added to its class's base name alone (level 1, all right), min can only lower that class:
#   apple: ant's k0 -.6 -> bee wins k0: -1;  arrow: ant's k0 0, a three-way tie -> ant still: 0
#   bell: bee's k3 0, a tie -> ant: -1;  bread: bee's k2 and k3 0 -> ant: -2
#   chime: cat's k5 .3 < bee .395: -1;  cloud: cat's k4 and k5 0 -> ant, bee: -2   (in sixths)
TOY_MIN_GAINS = {"apple": -1, "arrow": 0, "bell": -1, "bread": -2, "chime": -1, "cloud": -2}


@pytest.fixture
def toy_min():
    aggregations.register(TOY_MIN)
    yield TOY_MIN
    aggregations.unregister(TOY_MIN.name)


def test_a_registered_aggregation_flows_through_a_run(toy_min, designed_encoder, designed_images, results):
    """One `register` call: the CLI offers it, the sweep, the plain rule and name subsets score it as
    computed by hand above, and figures draw it in its own style; unregistered, it is refused again."""
    assert cli.parser().parse_args(["run", "--dataset", "x", "--aggregation", "min"]).aggregation == ["min"]
    with pytest.raises(ValueError, match="aggregation 'min' is already registered"):
        aggregations.register(TOY_MIN)  # a second rule of the same name would replace the first unseen
    assert aggregations.get("min") is TOY_MIN
    run_id = Engine(results, designed_encoder).run(RunConfig(dataset=str(designed_images), labels=designed.LABELS,
                                                             schedule="1,2,3", aggregations=["max", "min"]))
    for level, (want, correct) in TOY_MIN_EXPECTED.items():
        assert predicted(results, run_id, "min", level) == want, level  # the sweep
        assert point(results, run_id, "min", level)["correct"] == correct, level
        assert predicted(results, run_id, "max", level) == EXPECTED["max", level]  # the sweep's own max unharmed
    run_ = run_embeddings.load(results, run_id)
    for level, (want, _) in TOY_MIN_EXPECTED.items():  # the plain rule, one level alone
        cand = Candidates.build([rows[:level] for rows in run_.name_rows])
        got = class_scores(run_.images, run_.name_matrix, cand, "min", run_.head).argmax(axis=1)
        assert " ".join(CLASSES[c] for c in got) == want, level
    effects = name_effects(run_, "min").set_index("name")  # name subsets
    assert {n: round(g * 6) for n, g in effects["gain_added"].items()} == TOY_MIN_GAINS
    assert figures.aggregation_style("min") == TOY_MIN.style
    figure = figures.accuracy_curves(tables.curves(results.points(run_id)))
    assert {t.name.split(" · ")[1]: t.line.dash for t in figure.data if t.name} == {"max": "solid", "min": "longdash"}


def test_an_unregistered_aggregation_is_refused():
    with pytest.raises(SemscaleError, match="unknown aggregation 'min'; choose one of max, mean, probsum"):
        aggregations.get("min")
    with pytest.raises(SemscaleError, match="unknown aggregation min"):
        RunConfig(dataset="x", aggregations=["min"]).validate()


# --- the same numbers through a real `semscale serve --local` on the designed model ----------------
def test_paper_rank_method_predicts_the_hand_computed_max(designed_server, designed_images):
    from semscale.models.paper_method import rank_predictions

    images = decoded(designed_images)
    paper = rank_predictions(designed_server.url, images, LabelSet.clean(designed.LABELS, CLASSES), LEVELS,
                             batch_size=4)
    for level in LEVELS:
        assert " ".join(paper.predictions[level]) == EXPECTED["max", level], level
    # the top name is the best-scoring one; at k4 the twins tie and the earlier class's name comes first
    assert paper.top_names[3] == ["ant", "cloud", "bee", "bee", "bell", "cat"]
    ties = rank_predictions(designed_server.url, images, LabelSet.clean(TIES, CLASSES), [1])
    assert " ".join(ties.predictions[1]) == TIES_LEVEL1
    reversed_ = rank_predictions(designed_server.url, images, LabelSet.clean(REVERSED, CLASSES), [1])
    assert " ".join(reversed_.predictions[1]) == REVERSED_LEVEL1


def test_engine_through_the_server_reproduces_the_hand_computed_predictions(designed_server, designed_images,
                                                                          results):
    encoder = for_backend(Backend(server=designed_server.url, timeout=30, retries=1))
    engine = Engine(results, encoder)
    assert_hand_computed(results, run(engine, designed_images, designed.LABELS))
    tie_run = engine.run(RunConfig(dataset=str(designed_images), labels=TIES, aggregations=AGGREGATIONS))
    for agg in AGGREGATIONS:
        assert predicted(results, tie_run, agg, 1) == TIES_LEVEL1, agg
