"""Paired per-level comparison of two runs (McNemar, Holm) against counts done by hand, and on real runs."""

from __future__ import annotations

import pandas as pd
import pytest

from semscale.compare import _holm, compare_predictions, differences, format_compare
from semscale.engine import Engine, RunConfig
from semscale.errors import SemscaleError


def frame(correct_by_level: dict[int, list[bool]], names=None) -> pd.DataFrame:
    rows = []
    for n_names, correct in correct_by_level.items():
        for idx, ok in enumerate(correct):
            rows.append({"aggregation": "max", "repeat": 0, "n_names": n_names, "image_idx": idx,
                         "name": (names or [f"img{i}.jpg" for i in range(len(correct))])[idx],
                         "label": "cat" if idx % 2 else "dog", "correct": ok})
    return pd.DataFrame(rows)


# 30 images. 1 name: A right on all, B wrong on 12 of them. 2 names: A wrong on images 0-1,
# B wrong on 2-4, so A alone is right on 3 and B alone on 2.
A = frame({1: [True] * 30, 2: [False] * 2 + [True] * 28})
B = frame({1: [False] * 12 + [True] * 18, 2: [True] * 2 + [False] * 3 + [True] * 25})


def test_mcnemar_per_level_by_hand():
    one, two = compare_predictions(A, B)
    assert (one.n_names, one.n_images, one.only_a, one.only_b) == (1, 30, 12, 0)
    assert one.accuracy_a == 1.0 and one.accuracy_b == pytest.approx(18 / 30)
    assert one.p_value == pytest.approx(2 * 0.5**12)  # exact binomial: all 12 discordant pairs favour A
    assert (two.only_a, two.only_b) == (3, 2) and two.p_value == pytest.approx(1.0)  # 2 x (1+5+10)/32 capped
    assert one.p_holm == pytest.approx(2 * 2 * 0.5**12) and two.p_holm == pytest.approx(1.0)


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
    rows = compare_predictions(a, b)
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
    assert lines[0].split() == ["aggregation", "repeat", "names", "images", "acc", "clip", "acc", "siglip", "only",
                                "clip", "only", "siglip", "p", "McNemar", "p", "Holm"]
    assert lines[1].split() == ["max", "0", "1", "30", "1.0000", "0.6000", "12", "0", "0.0004883", "0.0009766"]
    assert lines[2].split() == ["max", "0", "2", "30", "0.9333", "0.9000", "3", "2", "1", "1"]
    assert lines[3] == "differ at p < 0.05 after Holm's adjustment over 2 levels: max 1 name: clip better"
    same = format_compare(compare_predictions(A, A))
    assert same.splitlines()[-1] == "no level differs at p < 0.05 after Holm's adjustment over 2 levels"


def test_different_images_or_labels_are_refused_with_the_reason():
    other = frame({1: [True] * 30}, names=[f"other{i}.jpg" for i in range(30)])
    with pytest.raises(SemscaleError, match=r"not score the same images \(30 vs 30 images; 30 only in run A"):
        compare_predictions(A, other)
    with pytest.raises(SemscaleError, match="different label sets \\(classes differing: cat"):
        compare_predictions(A, B, {"cat": ["cat"], "dog": ["dog"]}, {"cat": ["kitten"], "dog": ["dog"]})
    with pytest.raises(SemscaleError, match="share no level"):
        compare_predictions(A, frame({4: [True] * 30}))


def test_two_models_on_one_dataset_from_a_real_results_file(colour_dir, results, encoder, tmp_path):
    import tinyclip
    from semscale.encoders import LocalEncoder

    labels = {c: [c, f"large {c} thing"] for c in ("red", "green", "blue", "yellow")}
    config = RunConfig(dataset=str(colour_dir), labels=labels, aggregations=["max", "probsum"])
    run_a = Engine(results, encoder).run(config)
    run_b = Engine(results, LocalEncoder(tinyclip.build(tmp_path / "b", family="nomic-v1.5"), model="nomic-v1.5")).run(config)
    rows = compare_predictions(results.predictions(run_a), results.predictions(run_b))
    assert [(r.aggregation, r.n_names, r.n_images) for r in rows] == [("max", 1, 24), ("max", 2, 24),
                                                                      ("probsum", 1, 24), ("probsum", 2, 24)]
    assert all(r.accuracy_a == 1.0 for r in rows)
    other_dir = tmp_path / "fewer"
    from conftest import make_colour_images
    make_colour_images(other_dir, per_class=3)
    run_c = Engine(results, encoder).run(RunConfig(dataset=str(other_dir), labels=labels))
    with pytest.raises(SemscaleError, match="not score the same images"):
        compare_predictions(results.predictions(run_a), results.predictions(run_c))
