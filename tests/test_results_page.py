"""The Results page on real runs: per-name effects, the recommender, one image explained, two models compared.

The designed model (tests/designed.py) with "apple" as ant's base name: apple alone gets k0 wrong
(cosine -0.6), so adding "ant" fixes it (ant's most helpful name); "bell" (bee) takes k4 from cat and
"cloud" (cat) takes k1 from ant (the harmful names of tests/test_name_effects.py). Under max, base
names 5/6, all names 4/6.
"""

from __future__ import annotations

import html
import io
import json
import re

import numpy as np
import pandas as pd
import pytest
import streamlit.testing.v1.app_test as app_test
import tinyclip
import yaml
from conftest import ROOT
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest
from test_cli_analysis import colour_run

import ui
from semscale.analysis import explain, run_embeddings, tables
from semscale.analysis.compare import LevelComparison, differences
from semscale.app import figures
from semscale.core import wording
from semscale.names.labels import LabelSet
from semscale.store.results import ResultsStore

LABELS = {"ant": ["apple", "ant", "arrow"], "bee": ["bee", "bell", "bread"], "cat": ["cat", "chime", "cloud"]}


class KeptMedia(MemoryMediaFileStorage):
    """AppTest's in-memory media store, kept after the run so a test can read a download's bytes."""

    last: "KeptMedia | None" = None

    def __init__(self, *args):
        super().__init__(*args)
        KeptMedia.last = self


@pytest.fixture(autouse=True)
def kept_media(monkeypatch):
    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", KeptMedia)


@pytest.fixture(scope="module")
def designed(designed_runs):
    return designed_runs, designed_runs.run(LABELS)


def results_page(store: ResultsStore, *run_ids: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "4_Results.py"), default_timeout=120)
    at.session_state["results_path"] = str(store.path)
    at.run()
    at.multiselect[0].set_value(list(run_ids)).run()
    assert not at.exception, at.exception
    return at


def frame_with(at: AppTest, column: str):
    return next(d for d in at.dataframe if column in d.value.columns)


def coloured(element, colour: str) -> list[int]:
    """Rows of a styled st.dataframe whose cells have `colour` as background."""
    rows = set()
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", element.proto.arrow_data.styler.styles):
        if colour in body:
            rows |= {int(r) for r in re.findall(r"row(\d+)_col", selectors)}
    return sorted(rows)


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def download(at: AppTest, label: str) -> str:
    button = next(b for b in at.get("download_button") if b.proto.label == label)
    return KeptMedia.last.get_file(button.proto.url.rsplit("/", 1)[-1]).content.decode()


def test_the_harmful_name_is_red_the_helpful_green_and_its_flips_are_shown(designed):
    runs, run_id = designed
    at = results_page(runs.store, run_id)
    effects = frame_with(at, "verdict")
    names = effects.value["name"].tolist()
    assert [names[i] for i in coloured(effects, figures.HIGHLIGHTS["most harmful"])] == ["bell", "cloud"]
    assert [names[i] for i in coloured(effects, figures.HIGHLIGHTS["most helpful"])] == ["ant"]
    assert names[0] == "ant" and effects.value["accuracy change when added"].iloc[0] == pytest.approx(1 / 6)  # sorted
    assert not [c for c in effects.value.columns if "_" in c]  # headers in words, not identifiers
    red, green = (tuple(int(figures.HIGHLIGHTS[k][i : i + 2], 16) for i in (1, 3))
                  for k in ("most harmful", "most helpful"))
    assert red[0] > red[1] and green[1] > green[0]  # as the caption says: harmful red, helpful green

    at.selectbox(key="flip_name").select("bell (bee)").run()
    assert "1 image flipped by 'bell' (bee) added to the base name alone" in captions(at)
    assert "**right -> wrong**: true cat; without: cat, with: bee" in captions(at)
    at.radio(key="flip_mode").set_value("removed").run()  # from the full list: chime (cat) then wins k4's tie
    assert "1 image flipped by 'bell' (bee) removed from the full list" in captions(at)
    assert "**right -> wrong**: true cat; without: cat, with: bee" in captions(at)


def test_explain_from_a_flipped_thumbnail_shows_where_it_flips(designed):
    runs, run_id = designed
    at = results_page(runs.store, run_id)
    at.selectbox(key="flip_name").select("bell (bee)").run()
    k4 = int(runs.store.run_images(run_id).set_index("name").loc["cat/k4.png", "image_idx"])
    next(b for b in at.button if b.key == f"flip-{k4}").click().run()
    assert not at.exception
    assert at.selectbox(key="explain_image").value == k4
    assert "**right -> wrong at 2 names per class (max)**" in [m.value for m in at.markdown]
    levels = frame_with(at, "top_names").value
    assert levels[["n_names", "predicted", "right", "change"]].values.tolist() == [
        [1, "cat", "right", ""], [2, "bee", "wrong", "right -> wrong"], [3, "bee", "wrong", ""]]
    assert levels["top_names"][1].startswith("bell (bee) 0.850; chime (cat) 0.850; cat (cat) 0.840")


def test_the_recommendation_drops_the_harmful_names_and_its_yaml_runs(designed):
    runs, run_id = designed
    at = results_page(runs.store, run_id)
    next(b for b in at.button if b.label == "Recommend a label set").click().run()
    assert not at.exception
    table = frame_with(at, "held-out accuracy").value.set_index("label set")
    assert table["right"].to_dict() == {"base names": "5/6", "all names": "4/6", "recommended": "5/6"}
    assert table.loc["recommended", "95% low"] < 5 / 6 < table.loc["recommended", "95% high"]
    assert any("folds lowered from 5 to 2" in i.value for i in at.info)
    chosen = yaml.safe_load(download(at, "Recommended label set (YAML)"))
    assert chosen == {"classes": {"ant": ["apple", "ant"], "bee": ["bee"], "cat": ["cat"]}}
    again = runs.run(LabelSet.parse(download(at, "Recommended label set (YAML)")).names, aggregations=["max"],
                     schedule="1,2")
    assert runs.store.points(again)["correct"].tolist() == [5, 6]  # ant's base name alone, then with "ant"


def test_gallery_samples_every_class_and_filters_by_class(designed):
    runs, run_id = designed
    at = results_page(runs.store, run_id)
    assert "2 of 6 images wrong" in captions(at)  # k1 (ant -> cat) and k4 (cat -> bee) at 3 names
    at.selectbox(key="gallery_class").select("cat").run()
    assert "1 of 2 images wrong" in captions(at)
    assert [c for c in captions(at) if "→" in c] == ["**cat** → bee  \ntop-3: bell (0.85), chime (0.85), cat (0.84)"]


def test_one_name_per_class_and_unfinished_runs_say_why(designed, per_batch_commits):
    from semscale.run.config import RunConfig
    from semscale.run.engine import Engine

    runs, _ = designed
    single = runs.run({c: [c] for c in LABELS})
    at = results_page(runs.store, single)
    assert any("Every class of this run has one name" in i.value for i in at.info)
    assert not any(b.label == "Recommend a label set" for b in at.button)

    engine = Engine(runs.store, runs.encoder)
    partial = engine.start(RunConfig(dataset=str(runs.images), labels=LABELS, batch_size=2))
    assert engine.process(partial, should_stop=lambda: bool(runs.store.finished_images(partial))) != "done"
    at = results_page(runs.store, partial)
    assert any(f"need a finished run: run {partial} is" in i.value and "finish it first" in i.value for i in at.info)


def test_two_models_are_compared_level_by_level(tmp_path, colour_dir, model_dir):
    """tiny CLIP gets all 24 colour images at level 1, tiny nomic 23; at level 2 'blue' under red costs both 6."""
    nomic = tinyclip.build(tmp_path / "tiny-nomic", family="nomic-v1.5")
    db, clip_run = colour_run(tmp_path, colour_dir, model_dir)
    _, nomic_run = colour_run(tmp_path, colour_dir, nomic, "--model", "nomic-v1.5")
    store = ResultsStore(db)
    at = results_page(store, clip_run, nomic_run)
    chart = at.get("plotly_chart")[0].proto
    spec = json.loads(chart.spec)
    assert json.loads(chart.config)["toImageButtonOptions"]["filename"] == f"{clip_run}-{nomic_run}-accuracy-by-names"
    assert spec["layout"]["title"]["text"] == "Accuracy against names per class · colours"
    legend = [t["name"] for t in spec["data"] if t.get("showlegend") is not False]
    assert any(f"{clip_run} (colours, clip-vit-b32:" in n for n in legend)  # as the model picker names them
    assert any(f"{nomic_run} (colours, nomic-v1.5:" in n for n in legend)
    runs_table = frame_with(at, "model files").value.set_index("run")
    assert runs_table.loc[clip_run, "model"] == "clip-vit-b32" and runs_table.loc[nomic_run, "model"] == "nomic-v1.5"
    assert runs_table.loc[clip_run, "model files"] == store.run(clip_run).model.removeprefix("clip-onnx:")[:12]
    table = frame_with(at, "p Holm").value.set_index("names")
    points = {r: store.points(r).set_index("n_names")["correct"] for r in (clip_run, nomic_run)}
    assert table["accuracy A"].tolist() == [points[clip_run][n] / 24 for n in (1, 2)]
    assert table["accuracy B"].tolist() == [points[nomic_run][n] / 24 for n in (1, 2)]
    assert table.loc[1, ["A better (images)", "B better (images)"]].tolist() == [1, 0] and points[nomic_run][1] == 23
    assert "**A vs B:** no level differs at p < 0.05 after Holm's adjustment over 2 levels." in [
        m.value for m in at.markdown]


def test_runs_on_other_label_sets_are_compared_and_the_names_said(tmp_path, colour_dir, model_dir):
    """Plain names (one per class) against LABELS ('blue' under red, 'navy' for blue): both right on
    all 24 at 1 name."""
    db, first = colour_run(tmp_path, colour_dir, model_dir)
    labels = tmp_path / "plain.yaml"
    labels.write_text(yaml.safe_dump({c: [c] for c in ("red", "green", "blue", "yellow")}))
    store = ResultsStore(db)
    from test_cli import semscale

    assert semscale("--results", db, "run", "--dataset", str(colour_dir), "--labels", str(labels),
                    "--local", str(model_dir)).returncode == 0
    second = store.runs()[0].run_id
    at = results_page(store, first, second)
    said = "the names differ: B has 1 name A lacks (blue: 'blue'); A has 2 names B lacks (blue: 'navy', red: 'blue')"
    assert any(i.value == f"**Different label sets:** {ui.md(said)}." for i in at.info), [i.value for i in at.info]
    table = frame_with(at, "p Holm").value  # the one level both runs measured
    assert table[["names", "accuracy A", "accuracy B", "A better (images)"]].values.tolist() == [[1, 1.0, 1.0, 0]]


def test_one_click_compares_paper_names_with_wordnet_names(tmp_path, colour_dir, model_dir):
    """A paper-scheme run and a WordNet (synonyms) run on the colour images: the button puts them side by side."""
    from test_cli import semscale

    db = str(tmp_path / "pair.duckdb")
    for scheme in ("paper", "synonyms"):
        made = semscale("--results", db, "run", "--dataset", str(colour_dir), "--scheme", scheme, "--domain", "colour",
                        "--local", str(model_dir), "--schedule", "linear")
        assert made.returncode == 0, made.stderr
    wordnet, paper = (r.run_id for r in ResultsStore(db).runs())
    at = AppTest.from_file(str(ROOT / "pages" / "4_Results.py"), default_timeout=120)
    at.session_state["results_path"] = db
    at.run()
    assert at.multiselect[0].value == [wordnet] and not any("p Holm" in d.value.columns for d in at.dataframe)
    next(b for b in at.button if b.label == "Compare paper names vs WordNet names").click().run()
    assert not at.exception, at.exception
    assert at.multiselect[0].value == [paper, wordnet]
    assert any(f"({ui.md('paper names')}), B = " in c and "(WordNet names (synonyms scheme))" in c
               for c in captions(at))
    said = next(i.value for i in at.info if i.value.startswith("**Different label sets:**"))
    assert "A has 44 names B lacks" in said, said  # 4 x 12 paper names; no colour has a plain WordNet synonym
    table = frame_with(at, "p Holm").value  # the levels both measured: one name each ('common' for green, the
    assert table["names"].tolist() == [1]  # grassy-area sense, is no longer offered as a name of the colour)


# --- the helpers behind the page ----------------------------------------------------------------

def test_curves_keep_overlapping_aggregations_visible_and_tick_every_level():
    levels = [1, 2, 4, 8, 12]
    curves = pd.DataFrame([{"run_id": "r", "aggregation": agg, "n_names": n, "n_candidates": 10 * n, "n_images": 100,
                            "correct": 90, "accuracy": 0.9, "ci_low": 0.8, "ci_high": 0.95, "mean_accuracy": 0.9,
                            "min_accuracy": 0.9, "max_accuracy": 0.9, "repeats": 1}
                           for agg in ("max", "mean", "probsum") for n in levels])
    fig = figures.accuracy_curves(curves, {"r": "r (colours, clip-onnx:12345678)"})
    lines = [t for t in fig.data if t.showlegend is not False]
    assert len({(t.line.dash, t.marker.symbol) for t in lines}) == 3
    assert fig.layout.hovermode == "x unified"
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis.tickvals) == levels
    assert list(fig.layout.xaxis.ticktext) == ["1", "2", "4", "8", "12"]
    assert lines[0].name == "r (colours, clip-onnx:12345678) · max"


def test_a_linear_schedule_labels_every_level():
    """The paper preset's k = 1 ... 12 on a linear axis: twelve evenly spaced labels, none overlaps."""
    paper = list(range(1, 13))
    assert figures.level_axis(paper).get("type") is None
    assert figures.level_axis(paper)["ticktext"] == [str(n) for n in paper]
    # 60 levels: a label needs 59/25 = 2.36 units from the last one shown, so every third (1, 4, ... 58);
    # 60 is always labelled and 58, 2 units before it, gives way
    text = figures.tick_labels(list(range(1, 61)), log=False)
    assert [t for t in text if t] == [str(n) for n in range(1, 56, 3)] + ["60"]
    assert figures.tick_labels([1, 2, 4, 8, 16, 32, 64, 71]) == ["1", "2", "4", "8", "16", "32", "", "71"]


def test_per_class_chart_has_24_distinct_colours():
    table = pd.DataFrame([{"label": f"class {k:02d}", "n_names": n, "accuracy": 0.5}
                          for k in range(24) for n in (1, 2)])
    fig = figures.per_class_lines(table)
    assert len({t.line.color for t in fig.data}) == 24


def test_model_label_is_short_and_names_the_model():
    assert figures.model_label("nomic-v1.5-onnx:0123456789abcdef") == "nomic-v1.5:01234567"
    assert figures.run_label("abc", "cifar10-1k", "clip-onnx:ffeeddccbbaa") == "abc (cifar10-1k, clip-vit-b32:ffeeddcc)"
    assert figures.model_label("server-probe:0123456789abcdef") == "server-probe:01234567"  # no registry name


def test_misclassified_deals_round_the_true_classes():
    rows = [("airplane", i) for i in range(30)] + [("ship", 30), ("ship", 31), ("cat", 32)]
    preds = pd.DataFrame({"aggregation": "max", "repeat": 0, "n_names": 2, "label": [r[0] for r in rows],
                          "image_idx": [r[1] for r in rows], "correct": False, "predicted": "dog"})
    head = tables.misclassified(preds, "max", 2).head(24)
    assert head["label"].tolist()[:6] == ["airplane", "cat", "ship", "airplane", "ship", "airplane"]
    assert set(head["label"]) == {"airplane", "ship", "cat"}
    assert tables.misclassified(preds, "max", 2, "ship")["image_idx"].tolist() == [30, 31]
    assert tables.misclassified(preds, "max", 1).empty


def test_counts_agree_with_their_nouns():
    assert [wording.count(n, "image") for n in (0, 1, 2, 1000)] == ["0 images", "1 image", "2 images", "1,000 images"]
    assert wording.count(1, "class", "classes") == "1 class" and wording.count(3, "class", "classes") == "3 classes"
    one = LevelComparison("max", 1, 24, 1.0, 0.5, 12, 0, 0.0004, 0.0008, 0.3, 0.7)
    assert differences([one], "clip", "nomic") == ("differ at p < 0.05 after Holm's adjustment over 1 level: "
                                                   "max 1 name: clip better")


def test_explanation_summary_names_each_flip(designed):
    runs, run_id = designed
    run = run_embeddings.load(runs.store, run_id)
    assert explain.summary(explain.explain(run, "cat/k4.png", "max")) == "right -> wrong at 2 names per class (max)"
    assert explain.summary(explain.explain(run, "bee/k2.png", "max")) == "no flip: right at every level (max)"
    table = explain.level_table(explain.explain(run, "ant/k0.png", "max"))
    assert table["right"].tolist() == ["wrong", "right", "right"] and table["change"][1] == "wrong -> right"
    assert np.isfinite(table["score"]).all()


def test_charts_are_slide_ready():
    """A PNG named for what it shows, the title inside the chart, the legend right of the plot, long class
    names cut to 24 characters on axes and legends with the whole name in the hover."""
    config = figures.export_config("ab12-max-confusion-3-names")
    assert config["toImageButtonOptions"]["filename"] == "ab12-max-confusion-3-names"
    assert figures.export_config("a b/c")["toImageButtonOptions"]["filename"] == "a-b-c"
    long = "a very long class name that goes on"  # 35 characters
    assert figures.short(long) == "a very long class name …" and len(figures.short(long)) == 24
    assert figures.short("cat") == "cat"
    table = pd.DataFrame([{"label": name, "n_names": n, "accuracy": 0.5} for name in (long, "cat") for n in (1, 2)])
    lines = figures.per_class_lines(table, "Per-class accuracy")
    assert lines.layout.title.text == "Per-class accuracy" and lines.layout.legend.x > 1  # right of the plot
    assert [t.name for t in lines.data] == ["a very long class name …", "cat"]
    assert lines.data[0].customdata[0] == long and "%{customdata}" in lines.data[0].hovertemplate
    confusion = figures.confusion_heatmap(pd.DataFrame([[3, 1], [0, 4]], index=[long, "cat"], columns=[long, "cat"]))
    assert list(confusion.layout.yaxis.ticktext) == ["a very long class name …", "cat"]
    assert list(confusion.data[0].y) == [long, "cat"]  # the hover names the whole class
    bars = figures.class_effect_bars(pd.DataFrame({"label": [long], "change": [0.1]}))
    assert list(bars.layout.yaxis.ticktext) == ["a very long class name …"]


def test_the_predictions_csv_is_built_when_asked_with_every_name_order(designed):
    runs, _ = designed
    ordered = runs.run(LABELS, repeats=3, aggregations=["max"])
    at = results_page(runs.store, ordered)
    assert not any(b.proto.label == "Predictions of this run (CSV)" for b in at.get("download_button"))
    next(b for b in at.button if b.label == "Prepare the predictions CSV").click().run()
    rows = pd.read_csv(io.StringIO(download(at, "Predictions of this run (CSV)")))
    assert len(rows) == 6 * 3 * 3 and sorted(rows["repeat"].unique()) == [0, 1, 2]  # images x levels x orders
    assert any(c.endswith(" of 6 images wrong") for c in captions(at))  # the tables show the given order only


def test_explain_forgets_the_previous_runs_image(designed):
    runs, run_id = designed
    other = runs.run(LABELS, aggregations=["max"])
    at = results_page(runs.store, run_id, other)
    images = runs.store.run_images(run_id).set_index("name")["image_idx"]
    at.selectbox(key="explain_image").set_value(int(images["cat/k4.png"])).run()
    assert at.selectbox(key="explain_image").index != 0
    next(s for s in at.selectbox if s.label == "Look inside run").set_value(other).run()
    assert not at.exception
    assert at.selectbox(key="explain_image").index == 0  # the new run's first image, not a number carried over


def test_markdown_in_class_labels_and_names_is_shown_as_text_everywhere(tmp_path, colour_dir, model_dir):
    """Classes '**red**' and '[x](javascript:alert(1))' and such names: no element of the Results page renders
    them (bold, or a live link), whichever of its markdown elements shows them."""
    from test_cli import semscale

    (colour_dir / "red").rename(colour_dir / "**red**")
    (colour_dir / "blue").rename(colour_dir / "[x](javascript:alert(1))")
    labels = tmp_path / "labels.yaml"
    labels.write_text(yaml.safe_dump({  # 'blue' under red takes the blue images at 2 names: misclassified, flipped
        "**red**": ["red", "blue", "**bold**"], "[x](javascript:alert(1))": ["navy", "[y](javascript:alert(2))"],
        "green": ["green"], "yellow": ["yellow", "_yellow_"]}))
    db = str(tmp_path / "md.duckdb")
    made = semscale("--results", db, "run", "--dataset", str(colour_dir), "--labels", str(labels), "--local",
                    str(model_dir), "--schedule", "1,2,3")
    assert made.returncode == 0, made.stderr
    store = ResultsStore(db)
    at = results_page(store, store.runs()[0].run_id)
    at.select_slider[0].set_value(2).run()
    at.selectbox(key="flip_name").set_value("blue (**red**)").run()
    next(b for b in at.button if b.label == "Recommend a label set").click().run()
    assert not at.exception, at.exception
    shown = [e.value for kind in ("markdown", "caption", "info", "warning", "success", "error", "subheader")
             for e in at.get(kind)]
    raw = [s for s in shown if any(bad in s for bad in ("**red**", "**bold**", "](javascript:", "_yellow_"))]
    assert not raw, raw
    assert any(ui.md("**red**") in s for s in shown)  # they are shown, as text
    assert any("images wrong" in s and not s.startswith("0 of") for s in shown)  # the gallery has captions


def test_class_and_run_names_reach_charts_as_text_not_html():
    """Plotly renders <b> and <a href> in legends, ticks, hovers and titles: a class named so reads as it is."""
    bad = '<a href="javascript:alert(1)">x</a>'
    table = pd.DataFrame({"aggregation": "max", "n_names": [1, 2], "label": bad, "accuracy": [0.5, 0.6], "images": 2})
    shown = html.escape(bad, quote=False)
    lines = figures.per_class_lines(table, f"Per-class accuracy · {bad}")
    assert lines.data[0].customdata[0] == shown and "<a" not in lines.data[0].name
    assert lines.layout.title.text == f"Per-class accuracy · {shown}"
    heat = figures.confusion_heatmap(pd.DataFrame([[2]], index=[bad], columns=[bad]))
    assert list(heat.data[0].x) == [shown] and list(heat.layout.yaxis.tickvals) == [shown]
    assert "<a" not in "".join(heat.layout.xaxis.ticktext)
    bars = figures.class_effect_bars(pd.DataFrame({"label": [bad], "first": [0.5], "last": [0.6], "change": [0.1]}))
    assert list(bars.data[0].y) == [shown]


def test_present_shows_the_curve_and_its_sentence_only_in_large_type(designed):
    runs, run_id = designed
    at = results_page(runs.store, run_id)
    sentence = next(m.value for m in at.markdown if m.value.startswith("**") and "· max**: " in m.value).split(
        "· max**: ", 1)[1]
    at.toggle(key="present").set_value(True).run()
    assert not at.exception
    assert not at.title and not at.dataframe and not at.subheader and not at.caption  # no table, no other section
    (chart,) = at.get("plotly_chart")
    layout = json.loads(chart.proto.spec)["layout"]
    assert layout["font"]["size"] == 22 and layout["title"]["font"]["size"] == 32
    assert f"### max: {sentence}" in [m.value for m in at.markdown]
    assert at.multiselect(key="results_runs").value == [run_id]  # kept, folded away
    at.toggle(key="present").set_value(False).run()
    assert at.title[0].value == "Results" and at.subheader
