"""Per-name effects and the subset scoring under them, checked against the engine's own scoring.

The fast path (semscale.analysis.name_subsets) must predict exactly what `scoring.class_scores` predicts for
the same label set; the effects table must equal a brute-force re-scoring with `class_scores`; and
on a real engine run of the designed model (tests/designed.py) the effects are the hand-computed ones.
"""

from __future__ import annotations

import designed
import numpy as np
import pandas as pd
import pytest
from population import Population

from semscale.analysis import run_embeddings
from semscale.analysis.name_effects import format_name_effects, format_name_flips, name_effects, name_flips
from semscale.analysis.name_subsets import Standings, aggregation, gram
from semscale.core.errors import SemscaleError
from semscale.run.aggregations import names as aggregation_names
from semscale.run.scoring import Candidates, class_scores

POPULATION = Population({"c0": ["base", "helper", "chance", "random"], "c1": ["base", "harmful", "chance"],
                         "c2": ["base", "chance", "random", "chance"]}, seed=3)


def reference_predictions(run, chosen_rows: list[list[int]], agg: str) -> np.ndarray:
    return class_scores(run.images, run.name_matrix, Candidates.build(chosen_rows), agg).argmax(axis=1)


@pytest.mark.parametrize("agg", aggregation_names())
def test_subset_columns_predict_what_scoring_predicts(agg):
    run = POPULATION.run(500, seed=1)
    a = aggregation(agg, run.cosines(), gram(run.name_matrix))
    rng = np.random.default_rng(0)
    for _ in range(20):
        chosen = [[r[0]] + [t for t in r[1:] if rng.random() < 0.5] for r in run.name_rows]
        columns = np.column_stack([a.score(a.start(rows)) for rows in chosen])
        assert (columns.argmax(axis=1) == reference_predictions(run, chosen, agg)).all()


def test_a_sigmoid_head_sums_each_names_own_probability_as_scoring_does():
    """A SigLIP-style head (scale 10, bias -5): probsum's column is the sum of the subset's sigmoids, the
    very scores `class_scores` gives (no shared softmax), so values and predictions both agree."""
    from semscale.core.vectors import Head

    head = Head(scale=10.0, bias=-5.0)
    run = POPULATION.run(300, seed=4)
    a = aggregation("probsum", run.cosines(), gram(run.name_matrix), head)
    for chosen in ([r[:1] for r in run.name_rows], [r[:3] for r in run.name_rows], run.name_rows):
        columns = np.column_stack([a.score(a.start(rows)) for rows in chosen])
        want = class_scores(run.images, run.name_matrix, Candidates.build(chosen), "probsum", head)
        np.testing.assert_allclose(columns, want, rtol=1e-5, atol=1e-7)
    one = run.name_rows[0][0]
    logit = 10.0 * run.cosines()[:, one].astype(np.float64) - 5.0
    np.testing.assert_allclose(a.score(a.start([one])), 1 / (1 + np.exp(-logit)), rtol=1e-12)


@pytest.mark.parametrize("agg", aggregation_names())
def test_one_name_what_ifs_equal_a_full_rescore(agg):
    """Standings.predicted_with and the incremental set_column agree with scoring from scratch."""
    run = POPULATION.run(400, seed=2)
    a = aggregation(agg, run.cosines(), gram(run.name_matrix))
    rows = run.name_rows
    states = [a.start(r[:1]) for r in rows]
    standings = Standings(np.column_stack([a.score(s) for s in states]), run.truth)
    chosen = [r[:1] for r in rows]
    for k, t in [(0, rows[0][1]), (1, rows[1][1]), (0, rows[0][3]), (2, rows[2][2]), (2, rows[2][1])]:
        cands = [x for x in rows[k] if x not in states[k].members]
        what_if = standings.predicted_with(k, a.candidates(states[k], cands))
        for j, c in enumerate(cands):
            trial = [list(r) for r in chosen]
            trial[k] = [x for x in rows[k] if x in chosen[k] or x == c]
            assert (what_if[:, j] == reference_predictions(run, trial, agg)).all()
        states[k] = a.add(states[k], t)
        standings.set_column(k, a.score(states[k]))
        chosen[k] = [x for x in rows[k] if x in states[k].members]
        assert (standings.predicted == reference_predictions(run, chosen, agg)).all()


@pytest.mark.parametrize("agg", aggregation_names())
def test_effects_table_equals_brute_force(agg):
    run = POPULATION.run(300, seed=4, aggregations=[agg])
    table = name_effects(run, agg).set_index(["class", "name"])
    rows = run.name_rows
    base = reference_predictions(run, [r[:1] for r in rows], agg) == run.truth
    full = reference_predictions(run, rows, agg) == run.truth
    assert len(table) == sum(len(r) - 1 for r in rows)
    for k, cls in enumerate(run.classes):
        own = run.truth == k
        for position, t in enumerate(rows[k][1:], start=1):
            name = run.names[cls][position]
            added = [r[:1] for r in rows]
            added[k] = [rows[k][0], t]
            removed = [list(r) for r in rows]
            removed[k] = [x for x in rows[k] if x != t]
            with_name = reference_predictions(run, added, agg) == run.truth
            without_name = reference_predictions(run, removed, agg) == run.truth
            row = table.loc[(cls, name)]
            assert row["gain_added"] == pytest.approx(with_name.mean() - base.mean())
            assert row["class_gain_added"] == pytest.approx(with_name[own].mean() - base[own].mean())
            assert (row["fixed_added"], row["broken_added"]) == (np.sum(with_name & ~base), np.sum(base & ~with_name))
            assert row["gain_removed"] == pytest.approx(full.mean() - without_name.mean())
            assert (row["fixed_removed"], row["broken_removed"]) == (np.sum(full & ~without_name),
                                                                     np.sum(without_name & ~full))
    gains = table["gain_added"].to_numpy()
    assert (np.diff(gains) <= 0).all()  # most helpful first


def test_a_tied_what_if_goes_to_the_earlier_class():
    """One image scored [.2, .5, .3] (classes 0, 1, 2). Replacing class 0's score by .5 ties class 1:
    the earlier class, 0, wins (np.argmax in scoring); replacing class 2's by .5 ties class 1 too, and 1
    wins. Then class 0 is set to .3, a tie with the runner-up class 2: the new runner-up is 0, so a
    what-if that drops class 1 to .25 predicts 0, not 2 (and at .3 class 1 ties class 0, which wins)."""
    s = Standings(np.array([[0.2, 0.5, 0.3]]), np.array([0]))
    assert s.predicted_with(0, np.array([[0.5, 0.4, 0.6]])).tolist() == [[0, 1, 0]]
    assert s.predicted_with(2, np.array([[0.5, 0.6, 0.2]])).tolist() == [[1, 2, 1]]
    s.set_column(0, np.array([0.3]))
    assert s.predicted.tolist() == [1] and s.second.tolist() == [0]
    assert s.predicted_with(1, np.array([[0.25, 0.3, 0.5]])).tolist() == [[0, 0, 1]]


def test_two_class_what_ifs_compare_with_the_other_class():
    """Two classes (a cats-vs-dogs run): images scored [.5, .3], [.2, .6], [.4, .4], truth 0, 1, 0.
    Class 1's column replaced by .6, .1, .4 beats class 0 only on image 0 (.6 > .5; image 2 ties and
    the earlier class 0 wins): 1, 0, 0, right on image 2 only. Class 0's replaced by .2, .7, .4: class 1
    keeps image 0 (.3 > .2), loses image 1 (.7 > .6), and image 2's tie goes to class 0: 1, 0, 0."""
    s = Standings(np.array([[0.5, 0.3], [0.2, 0.6], [0.4, 0.4]]), np.array([0, 1, 0]))
    assert s.predicted.tolist() == [0, 1, 0]
    assert s.predicted_with(1, np.array([[0.6], [0.1], [0.4]])).tolist() == [[1], [0], [0]]
    assert s.correct_with(1, np.array([[0.6], [0.1], [0.4]])).tolist() == [[False], [False], [True]]
    assert s.predicted_with(0, np.array([[0.2], [0.7], [0.4]])).tolist() == [[1], [0], [0]]
    one = Standings(np.array([[0.1], [0.9]]), np.array([0, 0]))  # one class wins whatever its scores
    assert one.predicted_with(0, np.array([[0.0, 0.5], [1.0, 0.2]])).tolist() == [[0, 0], [0, 0]]


def test_helper_helps_and_harmful_hurts_significantly():
    run = POPULATION.run(600, seed=5)
    table = name_effects(run, "max").set_index("name")
    helper, harmful = table.loc["c0-helper-1"], table.loc["c1-harmful-1"]
    assert helper["gain_added"] > 0.02 and helper["p_added"] < 0.01
    assert harmful["gain_added"] < -0.05 and harmful["p_added"] < 1e-6
    assert harmful["class_gain_added"] > 0  # it does win its own class a few images, and costs far more
    ranked = name_effects(run, "max")
    assert ranked.iloc[0]["name"] == "c0-helper-1" and ranked.iloc[0]["highlight"] == "most helpful"
    assert ranked.iloc[-1]["name"] == "c1-harmful-1" and ranked.iloc[-1]["highlight"] == "most harmful"
    assert (ranked.groupby("class")["highlight"].apply(lambda h: (h == "most helpful").sum()) <= 1).all()


def test_flips_list_exactly_the_counted_images():
    run = POPULATION.run(300, seed=6)
    table = name_effects(run, "mean").set_index("name")
    for mode in ("added", "removed"):
        flips = name_flips(run, "mean", "c1", "c1-harmful-1", mode)
        row = table.loc["c1-harmful-1"]
        assert (flips["change"] == "wrong -> right").sum() == row[f"fixed_{mode}"]
        assert (flips["change"] == "right -> wrong").sum() == row[f"broken_{mode}"]
        broken = flips[flips["change"] == "right -> wrong"]
        assert (broken["predicted_without"] == broken["label"]).all()
        assert (broken["predicted_with"] != broken["label"]).all()
    with pytest.raises(SemscaleError, match="base name"):
        name_flips(run, "max", "c1", "c1-base-0")
    with pytest.raises(SemscaleError, match="no name"):
        name_flips(run, "max", "c1", "c0-helper-1")


# --- the store path: a real engine run of the designed model -------------------------------------


def test_designed_run_effects_are_the_hand_computed_ones(designed_runs):
    """Base names get 6/6 (tests/test_designed.py). Added alone, under max: bell (bee) beats cat's
    .84 on k4 with .85 and takes it (k4 right -> wrong); cloud (cat) beats ant's .6 on k1 with .8
    (k1 right -> wrong); apple, arrow, bread and chime change no prediction (chime .85 on k4 is cat's own)."""
    run = run_embeddings.load(designed_runs.store, designed_runs.run())
    table = name_effects(run, "max").set_index("name")
    assert table.loc["bell", ["fixed_added", "broken_added"]].tolist() == [0, 1]
    assert table.loc["cloud", ["fixed_added", "broken_added"]].tolist() == [0, 1]
    for name in ("apple", "arrow", "bread", "chime"):
        assert table.loc[name, ["fixed_added", "broken_added"]].tolist() == [0, 0], name
    assert table.loc["bell", "gain_added"] == pytest.approx(-1 / 6)
    assert table.loc["cloud", "class_gain_added"] == 0  # cat keeps both its images; ant loses one
    flips = name_flips(run, "max", "bee", "bell")
    assert flips[["name", "predicted_without", "predicted_with", "change"]].values.tolist() == [
        ["cat/k4.png", "cat", "bee", "right -> wrong"]]
    text = format_name_effects(name_effects(run, "max"), "max", 6)
    assert "bell" in text and "-16.7" in text and "most harmful" in text
    assert format_name_flips(flips, "bee", "bell", "added").splitlines() == [
        "1 image flipped by 'bell' (bee) added to the base name alone",
        "  right -> wrong  cat/k4.png  (true cat; without: cat, with: bee)"]
    assert format_name_flips(pd.concat([flips, flips]), "bee", "bell", "added").startswith("2 images flipped by")
    assert format_name_flips(flips.iloc[:0], "bee", "bell", "added").startswith("0 images flipped by")


def test_run_with_one_name_per_class_has_no_effects(designed_runs):
    run = run_embeddings.load(designed_runs.store, designed_runs.run({c: [c] for c in designed.LABELS}))
    assert name_effects(run, "max").empty
    assert "no extra names" in format_name_effects(name_effects(run, "max"), "max", 6)
