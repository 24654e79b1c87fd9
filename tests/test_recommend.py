"""The label-set recommender: what it keeps, what it drops, and whether its estimate is honest.

Algorithmic tests run on synthetic populations (tests/population.py) whose true accuracy for any
label set is measured on 100,000 fresh images; the store path runs on a real engine run of the
designed model (tests/designed.py), whose accuracies are hand-computed in tests/test_designed.py.
"""

from __future__ import annotations

import designed
import numpy as np
import pandas as pd
import pytest
from population import Population

from semscale.analysis import run_embeddings
from semscale.analysis.recommend import Estimate, Recommendation, format_recommendation, recommend, stratified_folds
from semscale.core.errors import SemscaleError
from semscale.names.labels import LabelSet
from semscale.run.aggregations import names as aggregation_names

MIXED = Population({"c0": ["base", "helper", "chance", "random", "chance"],
                    "c1": ["base", "harmful", "chance", "random"],
                    "c2": ["base", "chance", "random", "chance"]}, seed=3)


@pytest.mark.parametrize("agg", aggregation_names())
def test_keeps_the_helpful_name_and_drops_the_harmful_one(agg):
    rec = recommend(MIXED.run(600, seed=11), agg, folds=5, seed=0)
    names = rec.names.set_index("name")
    assert "c0-helper-1" in rec.chosen["c0"] and names.loc["c0-helper-1", "folds_chosen"] == 5
    assert "c1-harmful-1" not in rec.chosen["c1"] and names.loc["c1-harmful-1", "folds_chosen"] == 0
    assert [v[0] for v in rec.chosen.values()] == ["c0-base-0", "c1-base-0", "c2-base-0"]
    assert rec.recommended.correct >= rec.base.correct
    base_names = {c: v[:1] for c, v in MIXED.names.items()}
    assert MIXED.true_accuracy(rec.chosen, agg) > MIXED.true_accuracy(base_names, agg) + 0.01


def test_held_out_estimate_is_unbiased_where_the_in_sample_one_is_not():
    """Twenty mediocre names per class, 300 images: the greedy choice fits the sample's luck.

    Over sixteen independent samples the chosen set's true accuracy (100,000 fresh images) must lie
    in the held-out 95% interval at least 13 times (expected 15.2; 12 or fewer has probability
    0.7% for an honest interval) and the held-out error must average out to 0 within two standard
    errors; the in-sample accuracy overstates the truth by more than the interval's half-width
    every time, so an estimate that looked at the images it chose on cannot pass.
    """
    population = Population({f"c{k}": ["base"] + ["chance"] * 20 for k in range(4)}, seed=1)
    errors, covered = [], 0
    for sample in range(16):
        rec = recommend(population.run(300, seed=sample), "max", folds=5, seed=sample)
        truth = population.true_accuracy(rec.chosen, "max", n=100_000)
        low, high = rec.recommended.interval
        covered += low <= truth <= high
        errors.append(rec.recommended.accuracy - truth)
        assert rec.in_sample.accuracy - truth > (high - low) / 2, sample
    assert covered >= 13, errors
    assert abs(np.mean(errors)) < 2 * np.std(errors) / np.sqrt(len(errors)) + 0.005, errors


def test_the_base_name_is_kept_even_when_it_is_the_worst():
    population = Population({"c0": ["random", "helper", "helper"], "c1": ["random", "helper"]}, seed=2)
    rec = recommend(population.run(300, seed=0), "max", folds=3)
    assert rec.chosen["c0"][0] == "c0-random-0" and rec.chosen["c1"][0] == "c1-random-0"
    assert rec.label_set().names == rec.chosen


def test_same_seed_same_answer_and_folds_are_stratified():
    run = MIXED.run(301, seed=12)
    a, b = recommend(run, "mean", seed=4), recommend(run, "mean", seed=4)
    assert a.chosen == b.chosen and a.recommended == b.recommended
    assert (a.names == b.names).all().all()
    folds = stratified_folds(run.truth, 5, seed=4)
    for k in range(3):
        sizes = np.bincount(folds[run.truth == k], minlength=5)
        assert sizes.max() - sizes.min() <= 1
    assert np.bincount(folds).max() - np.bincount(folds).min() <= 1
    assert not (stratified_folds(run.truth, 5, seed=5) == folds).all()


# --- the store path: real engine runs of the designed model --------------------------------------


def test_a_later_pass_adds_a_name_that_helps_only_after_another_class_changed():
    """max on hand-set cosines (names 0, 1 of class 0; 2, 3 of class 1), images A, B, C of classes 1, 0, 1:
        A: .5 .0 .4 .6   B: .3 .7 .5 .0   C: .2 .8 .5 .9
    Base names: A wrong (.5 > .4), B wrong (.3 < .5), C right: 1. Pass 1: class 0's name 1 wins B but
    loses C (.8 > .5): still 1, not added; class 1's name 3 wins A: 2. Pass 2: name 1 now wins B and C
    stays with class 1 (.9 > .8): 3, so it is added."""
    from semscale.analysis.name_subsets import aggregation
    from semscale.analysis.recommend import select

    sims = np.array([[0.5, 0.0, 0.4, 0.6], [0.3, 0.7, 0.5, 0.0], [0.2, 0.8, 0.5, 0.9]])
    agg = aggregation("max", sims, np.eye(4))
    assert select(agg, np.array([1, 0, 1]), [[0, 1], [2, 3]]) == [[0, 1], [2, 3]]


def test_a_sigmoid_run_is_chosen_and_scored_with_its_own_head():
    """A SigLIP-style head (scale 10, bias -5) on MIXED's run: each name's own sigmoid keeps the base names
    only and all names get 410 of 600 right; CLIP's softmax head would add names and get 364 (both from
    the hand-checked `class_scores` and subsets), so a step that drops the run's head shows."""
    import dataclasses

    from semscale.analysis.name_subsets import aggregation, gram
    from semscale.analysis.recommend import select
    from semscale.core.vectors import CLIP_HEAD, Head
    from semscale.run.scoring import Candidates, class_scores

    run = dataclasses.replace(MIXED.run(600, seed=11), head=Head(10.0, -5.0))
    rec = recommend(run, "probsum", folds=5, seed=0)
    for head, rows, right in ((run.head, [[0], [5], [9]], 410), (CLIP_HEAD, [[0, 1], [5, 7], [9]], 364)):
        assert select(aggregation("probsum", run.cosines(), gram(run.name_matrix), head), run.truth,
                      run.choice_rows) == rows
        scores = class_scores(run.images, run.name_matrix, Candidates.build(run.name_rows), "probsum", head)
        assert (scores.argmax(axis=1) == run.truth).sum() == right
    assert rec.chosen == {c: [run.name_list[r]] for c, [r] in zip(run.classes, [[0], [5], [9]], strict=True)}
    assert rec.full.correct == 410
    names = rec.names.set_index("name")["chosen"]  # the table says the same: the three base names only
    assert names[names].index.tolist() == [run.name_list[r] for r in (0, 5, 9)] and len(names) > 3
    assert (rec.run_id, rec.seed, rec.folds) == (run.run_id, 0, 5)


def test_each_fold_is_scored_by_the_set_chosen_on_the_other_folds():
    """The held-out count, rebuilt fold by fold from `stratified_folds`, `select` on the other folds and
    `class_scores` on the fold itself; an image scored by a set chosen with it would count more."""
    from semscale.analysis.name_subsets import aggregation, gram
    from semscale.analysis.recommend import select
    from semscale.run.scoring import Candidates, class_scores

    run = MIXED.run(300, seed=5)
    rec = recommend(run, "max", folds=5, seed=0)
    from semscale.core.stats import mcnemar

    fold_of, held_out = stratified_folds(run.truth, 5, 0), np.zeros(300, bool)
    for f in range(5):
        train, test = fold_of != f, fold_of == f
        chosen = select(aggregation("max", run.cosines()[train], gram(run.name_matrix)), run.truth[train],
                        run.choice_rows)
        scores = class_scores(run.images[test], run.name_matrix, Candidates.build(chosen), "max")
        held_out[test] = scores.argmax(axis=1) == run.truth[test]
    right = int(held_out.sum())
    assert rec.recommended.correct == right and rec.recommended.total == 300
    assert rec.in_sample.correct > right  # the chosen set on its own images: optimistic here
    # McNemar on the images only one of the two sets gets right, against base names and all names
    for rows, p in (([r[:1] for r in run.name_rows], rec.p_vs_base), (run.name_rows, rec.p_vs_full)):
        other = class_scores(run.images, run.name_matrix, Candidates.build(rows), "max").argmax(axis=1) == run.truth
        only_held, only_other = int((held_out & ~other).sum()), int((other & ~held_out).sum())
        assert only_held != only_other and p == mcnemar(only_held, only_other)


def test_folds_are_balanced_across_classes():
    """Classes of 2, 3 and 1 images in 3 folds: each class's images are dealt on from where the last
    class stopped (0 1 | 2 0 1 | 2), so every fold holds 2 images, whatever the seed."""
    truth = np.array([0, 0, 1, 1, 1, 2])
    for seed in range(5):
        folds = stratified_folds(truth, 3, seed)
        assert np.bincount(folds, minlength=3).tolist() == [2, 2, 2]
        assert sorted(folds[truth == 1].tolist()) == [0, 1, 2]


def test_designed_run_estimates_match_the_engine_and_the_yaml_runs(designed_runs, tmp_path):
    """Hand-computed (tests/test_designed.py): base names 6/6 under every aggregation; all names
    (level 3) max 4/6, mean 4/6, probsum 5/6. No extra name can gain on a training fold that the
    base names already get right, so the choice is the base names and its held-out accuracy 6/6.
    Two images per class: the 5 folds asked for are lowered to 2, with a note."""
    store = designed_runs.store
    run_id = designed_runs.run()
    run = run_embeddings.load(store, run_id)
    points = store.points(run_id).set_index(["aggregation", "n_names"])
    for agg, full in (("max", 4), ("mean", 4), ("probsum", 5)):
        rec = recommend(run, agg, folds=5)
        assert (rec.base.correct, rec.full.correct, rec.recommended.correct) == (6, full, 6)
        assert rec.full.correct == points.loc[(agg, 3), "correct"]
        assert rec.base.correct == points.loc[(agg, 1), "correct"]
        assert rec.folds == 2 and any("lowered from 5 to 2" in n for n in rec.notes)
        assert rec.chosen == {c: [v[0]] for c, v in designed.LABELS.items()}
    text = format_recommendation(rec)
    assert "recommended   1.000" in text and "lowered from 5 to 2" in text
    path = tmp_path / "labels.yaml"
    rec.label_set().save(path)
    again = designed_runs.run(LabelSet.load(path).names, aggregations=["probsum"], schedule="1")
    assert store.points(again)["correct"].tolist() == [6]


def test_default_aggregation_is_the_runs_first(designed_runs):
    run = run_embeddings.load(designed_runs.store, designed_runs.run(aggregations=["probsum", "max"]))
    assert recommend(run).aggregation == "probsum" and not any("measured" in n for n in recommend(run).notes)
    assert "the run measured probsum, max, not mean: this choice is for mean" in recommend(run, "mean").notes
    with pytest.raises(SemscaleError, match="unknown aggregation 'median'"):
        recommend(run, "median")


def test_one_name_per_class_has_nothing_to_choose(designed_runs):
    run = run_embeddings.load(designed_runs.store, designed_runs.run({c: [c] for c in designed.LABELS}))
    with pytest.raises(SemscaleError, match="one name: there is nothing to choose"):
        recommend(run)


def test_partial_and_failed_runs_are_refused_with_the_reason(designed_runs):
    from semscale.run.config import RunConfig
    from semscale.run.engine import Engine

    store = designed_runs.store
    started = Engine(store, designed_runs.encoder).start(RunConfig(dataset=str(designed_runs.images),
                                                                   labels=designed.LABELS))
    with pytest.raises(SemscaleError, match=rf"run {started} is running \(0 of 6 images\); finish it first: "
                                            rf"python -m semscale resume {started}$"):
        run_embeddings.load(store, started)
    with pytest.raises(SemscaleError, match=rf"finish it first: python -m semscale --results 'my results.duckdb' "
                                            rf"resume {started}$"):
        run_embeddings.load(store, started, "my results.duckdb")
    store.finish_run(started, "failed", "CLIP server went away")
    with pytest.raises(SemscaleError, match="is failed .*: CLIP server went away"):
        run_embeddings.load(store, started)


def test_notes_count_classes_with_one_name_or_no_image_in_agreement():
    import dataclasses

    def notes(kinds: dict[str, list[str]], without: tuple[str, ...] = ()) -> list[str]:
        run = Population(kinds, seed=5).run(80, seed=0)
        keep = ~run.image_table["label"].isin(without).to_numpy()
        run = dataclasses.replace(run, images=run.images[keep], truth=run.truth[keep],
                                  image_table=run.image_table[keep].reset_index(drop=True))
        return [n for n in recommend(run, "max", folds=2).notes if "folds" not in n]

    two = ["base", "helper"]
    assert notes({"c0": two, "c1": ["base"], "c2": two}) == ["1 class with one name only, kept as is: c1"]
    assert notes({"c0": two, "c1": ["base"], "c2": ["base"]}) == ["2 classes with one name only, kept as is: c1, c2"]
    empty = "with no scored image (the names can still take others' images): "
    assert notes({"c0": two, "c1": two, "c2": two}, ("c2",)) == [f"1 class {empty}c2"]
    assert notes({"c0": two, "c1": two, "c2": two, "c3": two}, ("c2", "c3")) == [f"2 classes {empty}c2, c3"]


def test_too_few_images_or_folds_are_refused():
    run = MIXED.run(30, seed=0)
    with pytest.raises(SemscaleError, match="at least 2 folds"):
        recommend(run, folds=1)
    tiny = MIXED.run(4, seed=0)  # classes get 2, 1, 1 images
    with pytest.raises(SemscaleError, match=r"^class 'c1' has 1 scored image; cross-validation needs at least 2 per "
                                            r"class$"):
        recommend(tiny)


def test_folds_are_lowered_only_past_the_smallest_class():
    """Images dealt 7, 7, 6 to c0, c1, c2: 6 folds fit (no note), 7 are lowered to c2's 6, and the note says so."""
    run = MIXED.run(20, seed=1)
    assert np.bincount(run.truth).tolist() == [7, 7, 6]
    fits = recommend(run, "max", folds=6)
    assert fits.folds == 6 and not any("folds" in n for n in fits.notes)
    lowered = recommend(run, "max", folds=7)
    assert lowered.folds == 6
    assert "folds lowered from 7 to 6: class 'c2' has only 6 scored images" in lowered.notes


def test_the_printout_says_every_number_and_name_of_the_recommendation():
    """`semscale recommend`'s text for a recommendation built by hand. Wilson 95% intervals at n = 10 (the
    textbook values): 6/10 [.313, .832], 7/10 [.397, .892], 8/10 [.490, .943]. Classes print in the table's
    order (dog before cat), each chosen name with its training-fold votes, then the names dropped."""
    names = pd.DataFrame({"class": ["dog"] * 4 + ["cat"] * 2 + ["owl"],
                          "name": ["dog", "hound", "puppy", "pup", "cat", "kitty", "owl"],
                          "chosen": [True, False, True, False, True, False, True],
                          "folds_chosen": [3, 1, 2, 0, 3, 0, 3]})
    rec = Recommendation(run_id="r1", aggregation="max", folds=3, seed=7, base=Estimate(6, 10), full=Estimate(7, 10),
                         recommended=Estimate(8, 10), in_sample=Estimate(9, 10), p_vs_base=0.0625, p_vs_full=0.5,
                         chosen={"dog": ["dog", "puppy"], "cat": ["cat"], "owl": ["owl"]}, names=names,
                         notes=("one note", "another"))
    assert format_recommendation(rec).split("\n") == [
        "Recommended label set for run r1 (max, 3-fold cross-validation, seed 7, 10 images)",
        "accuracy on held-out images, 95% interval:",
        "  base names    0.600 [0.313, 0.832]  6/10",
        "  all names     0.700 [0.397, 0.892]  7/10",
        "  recommended   0.800 [0.490, 0.943]  8/10  (McNemar vs base p=0.0625, vs all names p=0.5)",
        "  (the chosen set scores 0.900 on the images it was chosen on: optimistic, not an estimate)",
        "chosen names (in brackets: how many of the 3 training-fold selections chose the name):",
        "  dog (2 of 4): dog [3/3], puppy [2/3]; dropped: hound, pup",
        "  cat (1 of 2): cat [3/3]; dropped: kitty",
        "  owl (1 of 1): owl [3/3]",
        "note: one note",
        "note: another"]


def test_a_cleared_cache_is_an_error_not_an_encode(designed_runs):
    """Everything comes from the embedding cache; what is missing is named, never encoded.

    (Later runs in this module would simply encode the deleted embeddings again.)"""
    from semscale.run.plan import text_hash

    store = designed_runs.store
    run_id = designed_runs.run({"ant": ["ant", "arrow"], "bee": ["bee"], "cat": ["cat"]},
                               templates=["a photo of a {}."])
    model = store.run(run_id).model
    with store._connect() as con:  # the test's own surgery on a real results file
        con.execute("DELETE FROM embeddings WHERE model_id = ? AND hash = ?", [model, text_hash("a photo of a arrow.")])
    with pytest.raises(SemscaleError, match=r"cache of model \S+ lacks 1 prompt \('a photo of a arrow.'\)"):
        run_embeddings.load(store, run_id)
    plain = designed_runs.run(schedule="1")
    with store._connect() as con:
        con.execute("DELETE FROM embeddings WHERE model_id = ? AND kind = 'image'", [model])
    with pytest.raises(SemscaleError, match="lacks 6 image embeddings; "):
        run_embeddings.load(store, plain)


def test_a_repeated_name_is_one_candidate_and_all_names_keep_the_repeat():
    """The paper scheme pads lists with exact repeats ('pants', 'pants'); the engine scores them as
    listed, so 'all names' must too, but a label file cannot hold a name twice."""
    from dataclasses import replace

    from semscale.analysis.name_effects import name_effects
    from semscale.run.scoring import Candidates, class_scores

    run = MIXED.run(400, seed=13, aggregations=["probsum"])
    helper = run.name_list.index("c0-helper-1")
    names = dict(run.names, c0=run.names["c0"][:2] + ["c0-helper-1", "c0-base-0"] + run.names["c0"][2:])
    order = run.name_rows[0][:2] + [helper, run.name_rows[0][0]] + run.name_rows[0][2:] + sum(run.name_rows[1:], [])
    padded = replace(run, names=names, name_matrix=run.name_matrix[order], owner=run.owner[order])
    rec = recommend(padded, "probsum")
    assert all(len(v) == len(set(v)) for v in rec.chosen.values())
    assert rec.names["name"].tolist() == run.name_list
    full = class_scores(padded.images, padded.name_matrix, Candidates.build(padded.name_rows), "probsum")
    assert rec.full.correct == int((full.argmax(axis=1) == padded.truth).sum())
    assert rec.full.correct != recommend(run, "probsum").full.correct  # the repeats do count here
    table = name_effects(padded, "probsum")
    assert sorted(table["name"]) == sorted(n for c in run.classes for n in run.names[c][1:])
