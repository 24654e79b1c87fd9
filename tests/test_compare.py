"""Paired per-level comparison of two runs (McNemar, Holm) against counts done by hand, and on real runs."""

from __future__ import annotations

import pandas as pd
import pytest

from semscale.compare import compare_predictions, format_compare
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
