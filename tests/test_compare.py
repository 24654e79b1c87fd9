"""Paired per-level comparison of two runs (McNemar, Holm) against counts done by hand, and on real runs."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from semscale.analysis.compare import _holm, compare_predictions, differences, format_compare, name_differences
from semscale.core.errors import SemscaleError
from semscale.run.config import RunConfig
from semscale.run.engine import Engine
from semscale.store.results import RunInfo


def frame(correct_by_level: dict[int, list[bool]], names=None, repeat: int = 0) -> pd.DataFrame:
    rows = []
    for n_names, correct in correct_by_level.items():
        for idx, ok in enumerate(correct):
            rows.append({"aggregation": "max", "repeat": repeat, "n_names": n_names, "image_idx": idx,
                         "name": (names or [f"img{i}.jpg" for i in range(len(correct))])[idx],
                         "label": "cat" if idx % 2 else "dog", "correct": ok})
    return pd.DataFrame(rows)


# 30 images. 1 name: A right on all, B wrong on 12 of them. 2 names: A wrong on images 0-1,
# B wrong on 2-4, so A alone is right on 3 and B alone on 2.
A = frame({1: [True] * 30, 2: [False] * 2 + [True] * 28})
B = frame({1: [False] * 12 + [True] * 18, 2: [True] * 2 + [False] * 3 + [True] * 25})


def test_mcnemar_per_level_by_hand():
    one, two = compare_predictions(A, B).levels
    assert (one.n_names, one.n_images, one.only_a, one.only_b) == (1, 30, 12, 0)
    assert one.accuracy_a == 1.0 and one.accuracy_b == pytest.approx(18 / 30)
    assert one.p_value == pytest.approx(2 * 0.5**12)  # exact binomial: all 12 discordant pairs favour A
    assert (two.only_a, two.only_b) == (3, 2) and two.p_value == pytest.approx(1.0)  # 2 x (1+5+10)/32 capped
    assert one.p_holm == pytest.approx(2 * 2 * 0.5**12) and two.p_holm == pytest.approx(1.0)
    # A - B per image at 1 name: 1 on 12 images, 0 on 18; mean 0.4, variance (12 x 0.6^2 + 18 x 0.4^2) / 29
    half = 1.959963984540054 * math.sqrt(7.2 / 29) / math.sqrt(30)
    assert (one.low, one.high) == (pytest.approx(0.4 - half), pytest.approx(0.4 + half))


def test_runs_with_name_orders_are_compared_on_their_mean_over_orders():
    """Four images. A's two orders at 1 name: right on 0,1 and on 0,2, so per image 1, 1/2, 1/2, 0 (mean 1/2);
    B's one order: right on image 3 only (1/4). A better on images 0-2, B on 3: sign test p = 2 x 4/16."""
    a = pd.concat([frame({1: [True, True, False, False]}), frame({1: [True, False, True, False]}, repeat=1)])
    b = frame({1: [False, False, False, True]})
    compared = compare_predictions(a, b)
    (level,) = compared.levels  # one row per level, never one per order
    assert (level.accuracy_a, level.accuracy_b, level.only_a, level.only_b) == (0.5, 0.25, 3, 1)
    assert level.p_value == pytest.approx(0.625)
    assert (compared.orders_a, compared.orders_b) == (2, 1)
    text = format_compare(compared)
    assert text.splitlines()[0] == ("accuracy: the mean over name orders (A: 2, B: 1), the plotted line; per level "
                                    "a sign test on the images one run got right in more of its orders")
    assert compare_predictions(A, B).basis() == "each run's one name order, McNemar's test per level"


def test_holm_steps_down_with_a_running_maximum():
    """Holm multiplies the i-th smallest of m p-values by m - i and never lets an adjusted p fall below
    the one before it. [.01, .04, .03]: .01 x 3 = .03; .03 x 2 = .06; .04 x 1 = .04, raised to .06.
    With two levels (the test above) the running maximum never matters."""
    assert _holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert _holm([0.5, 0.4]) == pytest.approx([0.8, 0.8]) and _holm([0.6, 0.01]) == pytest.approx([0.6, 0.02])
    assert _holm([0.7, 0.6]) == pytest.approx([1.0, 1.0])  # .6 x 2 = 1.2 is a probability: capped at 1


def test_a_level_is_not_called_different_when_holm_steps_it_up():
    """Three levels of 20 images where A alone is right on 10, 6 and 8 images, B alone on 0, 0 and 1:
    exact McNemar p = 2/2^10 = .00195, 2/2^6 = .03125 and 2 (C(9,0) + C(9,1))/2^9 = .0391.
    Holm: .00195 x 3 = .0059; .03125 x 2 = .0625; .0391 x 1 = .0391, raised to .0625. Only level 1
    differs at .05; without the step-down level 4 (p .0391) would be reported as well."""
    a = frame({1: [True] * 20, 2: [True] * 20, 4: [False] + [True] * 19})
    b = frame({1: [False] * 10 + [True] * 10, 2: [False] * 6 + [True] * 14, 4: [True] + [False] * 8 + [True] * 11})
    rows = compare_predictions(a, b).levels
    assert [(r.n_names, r.only_a, r.only_b) for r in rows] == [(1, 10, 0), (2, 6, 0), (4, 8, 1)]
    assert [r.p_value for r in rows] == pytest.approx([2 / 2**10, 2 / 2**6, 2 * 10 / 2**9])
    assert [r.p_holm for r in rows] == pytest.approx([6 / 2**10, 4 / 2**6, 4 / 2**6])
    assert differences(rows) == "differ at p < 0.05 after Holm's adjustment over 3 levels: max 1 name: A better"
    # the same runs the other way round: now the second run is the better one, and is named
    assert format_compare(compare_predictions(b, a), "clip", "siglip").splitlines()[-1] == (
        "differ at p < 0.05 after Holm's adjustment over 3 levels: max 1 name: siglip better")


def test_format_compare_says_where_the_runs_differ():
    text = format_compare(compare_predictions(A, B), "clip", "siglip")
    lines = text.splitlines()
    assert lines[0] == "accuracy: each run's one name order, McNemar's test per level"
    assert lines[1].split() == ["aggregation", "names", "images", "acc", "clip", "acc", "siglip", "clip-siglip", "95%",
                                "interval", "clip", "better", "siglip", "better", "p", "p", "Holm"]
    assert lines[2].split()[:5] == ["max", "1", "30", "1.0000", "0.6000"]
    assert lines[2].split()[-4:] == ["12", "0", "0.0004883", "0.0009766"]
    assert lines[3].split()[:5] == ["max", "2", "30", "0.9333", "0.9000"]
    assert lines[3].split()[-4:] == ["3", "2", "1", "1"]
    assert lines[4] == "differ at p < 0.05 after Holm's adjustment over 2 levels: max 1 name: clip better"
    same = format_compare(compare_predictions(A, A))
    assert same.splitlines()[-1] == "no level differs at p < 0.05 after Holm's adjustment over 2 levels"


def test_different_images_or_classes_are_refused_and_different_names_are_said():
    other = frame({1: [True] * 30}, names=[f"other{i}.jpg" for i in range(30)])
    with pytest.raises(SemscaleError, match=r"not score the same images \(30 vs 30 images; 30 only in run A"):
        compare_predictions(A, other)
    hashed = A.assign(image_hash=A["image_idx"].astype(str))  # the same files, filed under other classes
    with pytest.raises(SemscaleError, match="different classes"):
        compare_predictions(hashed, hashed.assign(label=A["label"].replace("cat", "kitten")))
    with pytest.raises(SemscaleError, match="share no level"):
        compare_predictions(A, frame({4: [True] * 30}))
    compared = compare_predictions(A, B, {"cat": ["cat"], "dog": ["dog"]}, {"cat": ["kitten"], "dog": ["dog"]})
    assert compared.names == "the names differ: B has 1 name A lacks (cat: 'kitten'); A has 1 name B lacks (cat: 'cat')"
    assert format_compare(compared).splitlines()[1] == compared.names
    assert compare_predictions(A, B, {"cat": ["cat"]}, {"cat": ["cat"]}).names is None


def test_how_two_label_sets_differ_by_hand():
    a = {"cat": ["cat", "cats", "kitty"], "dog": ["dog", "puppy", "hound"], "cow": ["cow", "cattle"]}
    b = {"cat": ["cat", "feline", "Cats"], "dog": ["dog", "hound", "puppy"], "cow": ["cow", "cattle", "ox", "bull",
                                                                                   "calf", "heifer"]}
    # cats/Cats differ only in case (one name); cat keeps cat, cats in order around 'feline'; dog swaps two
    assert name_differences(a, b, "paper", "WordNet") == (
        "the names differ: WordNet has 5 names paper lacks (cat: 'feline', cow: 'ox', cow: 'bull' ...); paper has 1 "
        "name WordNet lacks (cat: 'kitty'); shared names in another order in 1 class (dog)")


def test_two_models_on_one_dataset_from_a_real_results_file(colour_dir, results, encoder, tmp_path):
    import tinyclip

    from semscale.models.encoders import LocalEncoder

    labels = {c: [c, f"large {c} thing"] for c in ("red", "green", "blue", "yellow")}
    config = RunConfig(dataset=str(colour_dir), labels=labels, aggregations=["max", "probsum"])
    run_a = Engine(results, encoder).run(config)
    run_b = Engine(results, LocalEncoder(tinyclip.build(tmp_path / "b", family="nomic-v1.5"),
                                         model="nomic-v1.5")).run(config)
    rows = compare_predictions(results.outcomes(run_a), results.outcomes(run_b)).levels
    assert [(r.aggregation, r.n_names, r.n_images) for r in rows] == [("max", 1, 24), ("max", 2, 24),
                                                                      ("probsum", 1, 24), ("probsum", 2, 24)]
    assert all(r.accuracy_a == 1.0 for r in rows)
    other_dir = tmp_path / "fewer"
    from conftest import make_colour_images
    make_colour_images(other_dir, per_class=3)
    run_c = Engine(results, encoder).run(RunConfig(dataset=str(other_dir), labels=labels))
    with pytest.raises(SemscaleError, match="not score the same images"):
        compare_predictions(results.outcomes(run_a), results.outcomes(run_c))


# --- the paper-names vs WordNet-names pair --------------------------------------------------------

def info(run_id: str, scheme: str | None, *, dataset: str = "colours", model: str = "clip-onnx:aaa",
         status: str = "done", done: int = 24, **config) -> RunInfo:
    from datetime import datetime

    return RunInfo(run_id, status, dataset.rsplit("/", 1)[-1], model, datetime(2025, 1, 1), datetime(2025, 1, 1),
                   24, done, 0, 1.0, None, {"dataset": dataset, "scheme": scheme, "image_prep": "clip",
                                            "decode": "draft", "templates": [], **config})


def test_the_newest_matching_paper_and_wordnet_runs_pair_up():
    from semscale.analysis.compare import names_pair

    runs = [info("w-other-folder", "synonyms", dataset="/elsewhere/colours"),  # another folder of the same name
            info("w-other-model", "synonyms", model="clip-onnx:bbb"), info("w-running", "synonyms", status="running",
            done=5), info("p-new", "paper"), info("own", None), info("w-old", "wordnet"), info("p-old", "paper"),
            info("elsewhere", "synonyms", dataset="flowers")]
    pair = names_pair(runs, "colours")  # newest first, as ResultsStore.runs lists them
    assert (pair.paper.run_id, pair.wordnet.run_id, pair.complete, pair.missing()) == ("p-new", "w-old", True, None)
    assert names_pair(runs, "nothing").missing() == ("no finished run on nothing has paper names or WordNet names "
                                                     "yet: run the Paper preset (Run page) and a WordNet scheme "
                                                     "(Synonyms page) on it")


def test_a_lone_run_names_what_is_missing_and_the_run_that_completes_it():
    from semscale.analysis.compare import names_pair

    paper = info("p", "paper", schedule="linear", aggregations=["max", "mean"], repeats=1, seed=3, image_prep="paper",
                 decode="exact", labels={"red": ["red", "reds"]}, preset="paper")
    pair = names_pair([info("w-prep", "synonyms"), paper], "colours")  # a WordNet run on other pixels does not pair
    assert pair.have is paper and pair.missing_scheme == "synonyms" and not pair.complete
    assert pair.settings() == {"schedule": "linear", "aggregations": ["max", "mean"], "templates": [], "repeats": 1,
                               "seed": 3, "image_prep": "paper", "decode": "exact", "scheme": "synonyms"}
    assert pair.missing() == ("run p has paper names; a finished run with WordNet names on the same images, model, "
                              "image preparation, decode and prompt templates is missing (run w-prep has them with "
                              "another image preparation and decode)")
    lone = names_pair([info("w", "synonyms", model="clip-onnx:bbb"), paper], "colours")
    assert "run w has them with another model and image preparation and decode" in lone.missing()
    busy = names_pair([info("w2", "kinds", status="queued", done=0, image_prep="paper", decode="exact"), paper],
                      "colours")
    assert busy.working.run_id == "w2" and busy.missing().endswith("(run w2 is queued: 0 of 24 images)")
    wordnet_only = names_pair([info("w", "synonyms")], "colours")
    assert wordnet_only.missing_scheme == "paper" and wordnet_only.settings()["scheme"] == "paper"
    assert wordnet_only.missing().startswith("run w has WordNet names; a finished run with paper names")
