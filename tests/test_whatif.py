"""The instant what-if (semscale.analysis.whatif): an edited label set scored on a finished run's cached images.

On the designed model (tests/designed.py) the edited set's curve and per-class changes are computed by
hand below; on it and on the tiny colour model (name orders, prompt templates, several image blocks)
the what-if's curve equals, point by point, what a real `Engine` run of the edited set stores; and a
what-if writes nothing to the results file.

The edit: cat's names [cat, chime, cloud] become [cat, cloud, zebra] (chime, bell's twin, removed;
'zebra' is outside the designed vocabulary: it embeds to the unknown-word vector, cosine 0 with every
image and orthogonal to every name). Cosines from designed.COSINES, image k = e_k (ant: k0 k1, bee: k2 k3,
cat: k4 k5). Level 1 (ant, bee, cat) is unchanged: 6/6 under every aggregation.

Level 2: ant + apple, bee + bell, cat + cloud.
  max     k0 ant .6 > bell .3; k1 cloud .8 > apple .795 -> cat (wrong); k2, k3 bee .6;
          k4 bell .85 > cat .84 -> bee (wrong); k5 cat .40 > bee .395: 4/6.
  mean    |ant + apple| = 1.4947, |bee + bell| = 1.5738, |cat + cloud| = sqrt(2) (cat.cloud = 0):
          k0 ant 0, bee .3/1.5738 = .191 -> bee (wrong); k1 ant 1.395/1.4947 = .933 > cat .8/1.4142 = .566;
          k2, k3 bee; k4 bee .85/1.5738 = .540 < cat .84/1.4142 = .594 -> cat;
          k5 bee .695/1.5738 = .442 > cat .4/1.4142 = .283 -> bee (wrong): 4/6.
  probsum k1 ant e^60 + e^79.5 < cat e^80 (wrong); k4 bee e^85 > cat e^84 (wrong);
          k5 cat e^40 > bee e^39.5 + e^30; the rest lead by a factor e^30: 4/6.
Level 3: + arrow, bread, zebra.
  max     as level 2 (arrow .795 < cloud .8 at k1; bread .395 < cat .4 at k5): 4/6.
  mean    |cat + cloud + zebra| = sqrt(3): k4 bee .85/2.0065 = .424 < cat .84/1.7321 = .485 -> cat;
          k5 bee 1.09/2.0065 = .543 > cat .4/1.7321 = .231 -> bee (wrong); k0 bee (wrong): 4/6.
  probsum k1 ant 2e^79.5 = 1.213 e^80 > cat e^80 + 2 -> ant; k5 bee 2e^39.5 + e^30 = 1.213 e^40 > cat
          -> bee (wrong); k4 bee (wrong): 4/6.
Per class at level 3, against the run's own level 3 (tests/test_designed.py: max "ant cat bee bee bee
cat", mean "bee ant bee bee cat bee", probsum "ant ant bee bee cat bee"): max and mean predict the same
images as before; probsum loses cat's k4 (cat 1/2 -> 0/2, one image broken).
"""

from __future__ import annotations

import designed
import numpy as np
import pandas as pd
import pytest

from semscale.analysis import run_embeddings
from semscale.analysis.whatif import WHAT_IF, baseline, run_settings, what_if
from semscale.core.errors import SemscaleError
from semscale.names.labels import LabelSet
from semscale.run.config import RunConfig
from semscale.run.engine import Engine

EDITED = {**designed.LABELS, "cat": ["cat", "cloud", "zebra"]}
# (aggregation, level) -> right predictions of 6, from the hand computation above
EXPECTED = {("max", 1): 6, ("mean", 1): 6, ("probsum", 1): 6, ("max", 2): 4, ("mean", 2): 4, ("probsum", 2): 4,
            ("max", 3): 4, ("mean", 3): 4, ("probsum", 3): 4}
RUN_CORRECT = {("max", 1): 6, ("mean", 1): 6, ("probsum", 1): 6, ("max", 2): 5, ("mean", 2): 4,
               ("probsum", 2): 6, ("max", 3): 4, ("mean", 3): 4, ("probsum", 3): 5}  # tests/test_designed.py
POINT = ["aggregation", "repeat", "level", "n_names", "n_candidates", "n_images", "correct", "accuracy", "ci_low",
         "ci_high"]


def contents(store) -> dict[str, int]:
    """Rows of every table of the results file."""
    with store._connect() as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("runs", "run_images", "run_names", "points", "predictions", "rejected", "embeddings")}


def curve(points: pd.DataFrame, run_id: str) -> pd.DataFrame:
    return (points[points["run_id"] == run_id][POINT].sort_values(["aggregation", "repeat", "n_names"])
            .reset_index(drop=True))


def test_the_edited_curve_and_class_changes_are_the_hand_computed_ones_and_nothing_is_stored(designed_runs):
    run_id = designed_runs.run()
    run = run_embeddings.load(designed_runs.store, run_id)
    before = contents(designed_runs.store)
    memo: dict = {}
    result = what_if(designed_runs.store, run, LabelSet(EDITED), designed_runs.encoder, memo)
    assert contents(designed_runs.store) == before  # no run, point, prediction or embedding stored
    assert result.encoded == 1 and len(memo) == 1  # 'zebra' only: every other name is in the run's cache

    got = result.points.set_index(["run_id", "aggregation", "n_names"])["correct"]
    assert {(a, n): got[(WHAT_IF, a, n)] for a, n in EXPECTED} == EXPECTED
    assert {(a, n): got[(run_id, a, n)] for a, n in RUN_CORRECT} == RUN_CORRECT  # the run's stored curve beside it
    assert (result.points["n_images"] == 6).all()

    table = result.classes.set_index(["aggregation", "class"])
    assert table.loc[("probsum", "cat"), ["before", "after", "fixed", "broken"]].tolist() == [0.5, 0.0, 0, 1]
    assert table.loc[("probsum", "ant"), ["before", "after"]].tolist() == [1.0, 1.0]
    for agg in ("max", "mean"):
        assert (table.loc[agg, "fixed"] == 0).all() and (table.loc[agg, "broken"] == 0).all()
        assert (table.loc[agg, "change"] == 0).all()
    assert table.loc[("max", "ant"), "before"] == 0.5 and table.loc[("max", "bee"), "before"] == 1.0
    assert table.loc[("max", "cat"), "edit"] == "added zebra; removed chime"
    assert table.loc[("max", "ant"), "edit"] == "" and (table["images"] == 2).all()

    again = what_if(designed_runs.store, run, LabelSet(EDITED), designed_runs.encoder, memo)
    assert again.encoded == 0 and again.points.equals(result.points)  # the memo spares the next edit's encode
    assert contents(designed_runs.store) == before


def test_a_kept_baseline_spares_every_read_of_the_runs_results(designed_runs, monkeypatch):
    """The Synonyms page keeps each run's baseline (a finished run never changes): its stored curve and its
    given order's outcomes at its last level, here tests/test_designed.py's level 3 (max "ant cat bee bee bee
    cat", mean "bee ant bee bee cat bee", probsum "ant ant bee bee cat bee" for k0 .. k5, two images per class).
    With it, an edit reads none of the results file's runs, points or predictions, and its what-if is the one
    read afresh."""
    store = designed_runs.store
    run = run_embeddings.load(store, designed_runs.run())
    before = baseline(store, run)
    names = run.image_table["name"].tolist()  # class/kN.png
    assert {agg: "".join("1" if right[names.index(f"{c}/k{k}.png")] else "0" for c, ks in designed.IMAGES.items()
                         for k in ks)
            for agg, right in before.correct.items()} == {"max": "101101", "mean": "011110", "probsum": "111110"}
    fresh = what_if(store, run, LabelSet(EDITED), designed_runs.encoder, {})
    for method in ("run", "points", "predictions"):
        monkeypatch.setattr(type(store), method, lambda *args, method=method, **kwargs: pytest.fail(f"read {method}"))
    kept = what_if(store, run, LabelSet(EDITED), designed_runs.encoder, {}, before)
    pd.testing.assert_frame_equal(kept.points, fresh.points)
    pd.testing.assert_frame_equal(kept.classes, fresh.classes)


def test_the_what_if_curve_is_what_a_real_run_of_the_edited_names_stores(designed_runs):
    run_id = designed_runs.run()
    run = run_embeddings.load(designed_runs.store, run_id)
    result = what_if(designed_runs.store, run, LabelSet(EDITED), designed_runs.encoder, {})
    engine = Engine(designed_runs.store, designed_runs.encoder)
    real = engine.run(RunConfig(dataset=str(designed_runs.images), labels=EDITED, **run_settings(run)))
    assert engine.encoded_texts == 1 and engine.encoded_images == 0  # the what-if stored no text embedding
    pd.testing.assert_frame_equal(curve(result.points, WHAT_IF), curve(designed_runs.store.points(real), real))


def test_name_orders_templates_and_image_blocks_give_a_real_runs_numbers(results, encoder, colour_dir):
    """The tiny colour model, where 'green thing' listed under red takes green's images: three name orders
    (seeded), a prompt template, batches of 5 of 24 images (blocks that split the classes), bootstrap intervals."""
    names = {"red": ["red", "crimson", "green thing", "scarlet"], "green": ["green", "lime"],
             "blue": ["blue", "navy", "azure"], "yellow": ["yellow", "gold"]}
    settings = dict(schedule="linear", aggregations=["max", "mean", "probsum"], templates=["a photo of a {}."],
                    repeats=3, seed=7, batch_size=5, interval="bootstrap")
    first = Engine(results, encoder).run(RunConfig(dataset=str(colour_dir), labels=names, **settings))
    run = run_embeddings.load(results, first)
    edited = {**names, "red": ["red", "scarlet", "green thing"], "blue": ["blue", "yellow thing", "navy", "azure"]}
    before = contents(results)
    result = what_if(results, run, LabelSet(edited), encoder, {})
    assert contents(results) == before
    assert result.encoded == 1  # "a photo of a yellow thing."
    engine = Engine(results, encoder)
    real = engine.run(RunConfig(dataset=str(colour_dir), labels=edited, **run_settings(run)))
    assert engine.encoded_texts == 1
    want = curve(results.points(real), real)
    assert set(want["repeat"]) == {0, 1, 2} and want["accuracy"].nunique() > 2  # orders differ, names matter
    pd.testing.assert_frame_equal(curve(result.points, WHAT_IF), want)
    assert curve(result.points, first).equals(curve(results.points(first), first))


def test_three_name_orders_give_the_hand_computed_curve_of_each_order(designed_runs):
    """Seed 87 shuffles the extra names of the edited set (ant [ant apple arrow], bee [bee bell bread], cat [cat
    cloud zebra]) into order 1: every class's two extra names swapped, and order 2: cat's swapped only. Level 1
    (base names) is 6/6 and level 3 (every name) 4/6 under every aggregation in every order (above); order 0's
    level 2 is 4/6 (above). Level 2 of the other orders, cosines from designed.COSINES:
    order 1: ant + arrow, bee + bread, cat + zebra.
      max     k1 ant .795; k4 cat .84 (no bell); k5 cat .4 > bee .395: 6/6.
      mean    |ant + arrow| = 1.7187 (ant.arrow = .477), |bee + bread| = 1.5206 (.156), |cat + zebra| = sqrt(2):
              k5 bee .79/1.5206 = .520 > cat .4/1.4142 = .283 (wrong); the rest have one class above 0: 5/6.
      probsum k5 bee 2e^39.5 = 1.213 e^40 > cat e^40 + 1 (wrong): 5/6.
    order 2: ant + apple, bee + bell, cat + zebra.
      max     k4 bee (bell) .85 > cat .84 (wrong); k5 cat .4 > bee .395; k0 ant .6 > bell .3: 5/6.
      mean    k0 ant (.6 - .6)/1.4947 = 0 < bee .3/1.5738 = .191 (wrong); k4 bee .85/1.5738 = .540 < cat .84/1.4142
              = .594; k5 bee .695/1.5738 = .442 > cat .283 (wrong): 4/6.
      probsum k4 bee e^85 > cat e^84 (wrong); k5 cat e^40 > bee e^39.5 + e^30: 5/6.
    Summed over the orders at level 2: max 15/18, mean 13/18, probsum 14/18."""
    run_id = designed_runs.run(repeats=3, seed=87)
    run = run_embeddings.load(designed_runs.store, run_id)
    result = what_if(designed_runs.store, run, LabelSet(EDITED), designed_runs.encoder, {})
    got = result.points[result.points["run_id"] == WHAT_IF].set_index(["aggregation", "repeat", "n_names"])["correct"]
    level2 = {0: (4, 4, 4), 1: (6, 5, 5), 2: (5, 4, 5)}  # max, mean, probsum
    want = {(agg, rep, n): 6 if n == 1 else 4 if n == 3 else level2[rep][a]
            for a, agg in enumerate(("max", "mean", "probsum")) for rep in range(3) for n in (1, 2, 3)}
    assert got.to_dict() == want
    assert got.xs(2, level="n_names").groupby("aggregation").sum().to_dict() == {"max": 15, "mean": 13, "probsum": 14}
    assert set(result.points.loc[result.points["run_id"] == run_id, "repeat"]) == {0, 1, 2}  # the run's own orders
    table = result.classes.set_index(["aggregation", "class"])  # the given order's last level, as with one order
    assert table.loc[("probsum", "cat"), ["before", "after", "fixed", "broken"]].tolist() == [0.5, 0.0, 0, 1]

def test_names_not_in_the_cache_need_the_runs_model(designed_runs, encoder):
    run_id = designed_runs.run()
    run = run_embeddings.load(designed_runs.store, run_id)
    reordered = {**designed.LABELS, "ant": ["ant", "arrow", "apple"]}  # cached names only: no encoder needed
    result = what_if(designed_runs.store, run, LabelSet(reordered))
    assert result.encoded == 0
    assert result.classes.set_index(["aggregation", "class"]).loc[("max", "ant"), "edit"] == "reordered"
    new_name = LabelSet({**designed.LABELS, "cat": ["cat", "yak"]})  # a run of the module may have cached zebra
    with pytest.raises(SemscaleError, match="lacks 1 prompt .'yak'."):
        what_if(designed_runs.store, run, new_name)
    with pytest.raises(SemscaleError, match="was made with model .* a what-if needs the run's model"):
        what_if(designed_runs.store, run, new_name, encoder)  # the tiny colour model
    with pytest.raises(SemscaleError, match="not in the run: dog; missing: cat"):
        what_if(designed_runs.store, run, LabelSet({"ant": ["ant"], "bee": ["bee"], "dog": ["dog"]}))


def test_images_are_scored_in_the_runs_order_and_batches_without_its_rejected_files():
    """Positions 4, 0, 5, 2, 7 in the run's processing order (1, 3 and 6 were rejected files), batches of 3:
    the images in order of position are rows 1, 3, 0, 2, 4, and the batches [0 1 2], [3 4 5], [6 7 8]
    hold positions 0 2 | 4 5 | 7: blocks of 2, 2 and 1 rows."""
    from semscale.analysis.run_embeddings import RunEmbeddings
    from semscale.analysis.whatif import _processing_order

    run = RunEmbeddings("r", {}, ["a"], {"a": ["a"]}, np.eye(1, dtype=np.float32), np.zeros(1, np.int64),
                        np.ones((5, 1), np.float32), np.zeros(5, np.int64), pd.DataFrame({"image_idx": range(5)}),
                        position=np.array([4, 0, 5, 2, 7]))
    order, blocks = _processing_order(run, 3)
    assert order.tolist() == [1, 3, 0, 2, 4]
    assert blocks == [slice(0, 2), slice(2, 4), slice(4, 5)]


def test_the_label_sets_class_order_does_not_matter(designed_runs):
    """Ties go to the earlier class, so the edited names are scored in the run's class order: with one twin
    per class (tests/test_designed.py's TIES: k2 bell = chime .2 goes to bee) the what-if is 3/6 at level 1
    whichever order the label set lists its classes in."""
    run = run_embeddings.load(designed_runs.store, designed_runs.run())
    ties = {"cat": ["chime", "cat", "cloud"], "bee": ["bell", "bee", "bread"], "ant": ["ant", "apple", "arrow"]}
    result = what_if(designed_runs.store, run, LabelSet(ties))
    level1 = result.points[(result.points["run_id"] == WHAT_IF) & (result.points["n_names"] == 1)]
    assert (level1["correct"] == 3).all() and len(level1) == 3


def test_the_what_if_scores_the_blocks_of_images_the_engine_scored(results, encoder, colour_dir, monkeypatch):
    """A float32 product's last bits depend on the rows it is computed with, so the what-if scores the very
    blocks a run scored (its processing order, its batches of files less the rejected ones): recorded here
    from both, on 24 photos and 3 unreadable files in batches of 5."""
    from semscale.run.plan import Plan

    for cls in ("red", "green", "blue"):
        (colour_dir / cls / "broken.jpg").write_bytes(b"not a photo")
    seen: dict[str, list] = {"engine": [], "what-if": []}
    score = Plan.score

    def recording(where):
        def record(plan, image_matrix, blocks, **options):
            seen[where] += [[row.tobytes() for row in image_matrix[rows]] for rows in blocks]
            return score(plan, image_matrix, blocks, **options)
        return record

    monkeypatch.setattr(Plan, "score", recording("engine"))
    names = {"red": ["red", "crimson"], "green": ["green"], "blue": ["blue", "navy"], "yellow": ["yellow"]}
    first = Engine(results, encoder).run(RunConfig(dataset=str(colour_dir), labels=names, batch_size=5))
    monkeypatch.setattr(Plan, "score", recording("what-if"))
    what_if(results, run_embeddings.load(results, first), LabelSet({**names, "green": ["green", "lime"]}), encoder, {})
    sizes = [len(b) for b in seen["engine"]]
    assert sum(sizes) == 24 and min(sizes[:-1]) < 5  # a batch before the last lost a file
    assert seen["what-if"] == seen["engine"]
