"""The Synonyms page's instant what-if through AppTest: the designed model (tests/designed.py) as the
dashboard's embedded backend, a finished run of its six images in the results file, and the edit whose
curve tests/test_whatif.py computes by hand (cat: [cat, chime, cloud] -> [cat, cloud, zebra])."""

from __future__ import annotations

import base64
import json
import os
import time

import designed
import numpy as np
import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest
from test_whatif import EXPECTED, RUN_CORRECT, contents

from semscale.run.config import RunConfig
from semscale.run.engine import Engine
from semscale.store.results import ResultsStore


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """The designed model as the backend, its images as the dataset, and an empty results file's path."""
    model = designed.build(tmp_path / "model")
    images = designed.write_images(tmp_path / "images")
    monkeypatch.setenv("SEMSCALE_MODEL_DIR", str(model))
    monkeypatch.setenv("SEMSCALE_RESULTS", str(tmp_path / "dash.duckdb"))
    monkeypatch.setenv("SEMSCALE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SEMSCALE_DATA_ROOTS", str(tmp_path))
    monkeypatch.chdir(ROOT)
    return tmp_path, model, images


def page(images, labels=None) -> AppTest:
    """The Synonyms page of the whole app (its links to other pages need the app's navigation)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["dataset"] = str(images)
    if labels:
        at.session_state["labels"] = {str(images): labels}
    return at.switch_page("pages/2_Synonyms.py").run()


def finished_run(tmp_path, model, images) -> str:
    from semscale.models.encoders import LocalEncoder

    return Engine(ResultsStore(tmp_path / "dash.duckdb"), LocalEncoder(model)).run(RunConfig(
        dataset=str(images), labels=designed.LABELS, aggregations=["max", "mean", "probsum"], schedule="1,2,3"))


def what_if_chart(at, timeout: float = 30) -> dict:
    """The what-if chart's figure, once the backend check answered (the page runs again meanwhile)."""
    deadline = time.monotonic() + timeout
    while not at.get("plotly_chart"):
        assert not at.exception and time.monotonic() < deadline, [c.value for c in at.caption]
        time.sleep(0.3)
        at.run()
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def curve_of(figure: dict, legend: str) -> list[int]:
    """Right predictions of the six images at each point of the curve named `legend`."""
    (trace,) = [t for t in figure["data"] if t.get("name") == legend]
    y = trace["y"]
    if isinstance(y, dict):  # plotly's JSON carries arrays as base64 typed arrays
        y = np.frombuffer(base64.b64decode(y["bdata"]), y["dtype"])
    return [round(v * 6) for v in y]


def edit(at, spec: str, rows: dict) -> AppTest:
    at.session_state[f"editor_{spec}_{at.session_state['labels_version']}"] = {
        "edited_rows": rows, "added_rows": [], "deleted_rows": []}
    return at.run()


def test_without_a_finished_run_the_page_says_so_in_one_line_and_stores_no_run(setup):
    tmp_path, _, images = setup
    at = page(images)
    assert not at.exception
    assert any(c.value.startswith("No finished run on this dataset yet") for c in at.caption)
    # (the page's workspace is kept there)
    assert not at.get("plotly_chart") and not ResultsStore(tmp_path / "dash.duckdb").runs()


def test_an_edit_shows_the_edited_curve_beside_the_runs_stores_nothing_and_save_runs_what_it_showed(setup):
    tmp_path, model, images = setup
    run_id = finished_run(tmp_path, model, images)
    store = ResultsStore(tmp_path / "dash.duckdb")
    stored = contents(store)
    at = page(images, designed.LABELS)
    figure = what_if_chart(at)
    before = [RUN_CORRECT[(agg, n)] for agg in ("max",) for n in (1, 2, 3)]
    assert curve_of(figure, f"run {run_id} (its names) · max") == before
    assert curve_of(figure, "the names above (not saved) · max") == before  # the run's own names, unedited

    spec = str(images)
    rows = [i for i, r in enumerate(at.session_state["offered"][spec]) if r["class"] == "cat"]
    edit(at, spec, {rows[1]: {"name": "cloud"}, rows[2]: {"name": "zebra"}})
    assert not at.exception
    assert at.session_state["labels"][spec]["cat"] == ["cat", "cloud", "zebra"]
    figure = what_if_chart(at)
    for agg in ("max", "mean", "probsum"):  # the hand-computed curve of tests/test_whatif.py
        assert curve_of(figure, f"the names above (not saved) · {agg}") == [EXPECTED[(agg, n)] for n in (1, 2, 3)]
        assert curve_of(figure, f"run {run_id} (its names) · {agg}") == [RUN_CORRECT[(agg, n)] for n in (1, 2, 3)]
    assert any("1 new prompt encoded" in c.value and "Nothing is stored" in c.value for c in at.caption)
    classes = next(d.value for d in at.dataframe if "images broken" in d.value).set_index(["aggregation", "class"])
    assert classes.loc[("probsum", "cat"), ["images broken", "names changed"]].tolist() == [
        1, "added zebra; removed chime"]
    assert contents(store) == stored  # every rerun of the page: no run, point, prediction or embedding

    next(b for b in at.button if b.label == "Save as a run").click().run()
    assert not at.exception
    assert any(s.value.startswith("Started run ") for s in at.success), [e.value for e in at.error]
    saved = at.session_state["watch_run"]
    deadline = time.monotonic() + 120
    while (info := next((r for r in store.runs() if r.run_id == saved), None)) is None or info.status != "done":
        assert time.monotonic() < deadline and (info is None or info.status in ("queued", "running")), info
        time.sleep(0.5)
    points = store.points(saved).set_index(["aggregation", "n_names"])["correct"].to_dict()
    assert points == EXPECTED  # the saved run stores what the what-if showed
    assert store.run_names(saved)["cat"] == ["cat", "cloud", "zebra"]


def test_runs_of_another_model_are_named_and_not_used(setup, model_dir):
    """The backend is the tiny colour model; the only finished run used the designed one."""
    tmp_path, model, images = setup
    finished_run(tmp_path, model, images)
    os.environ["SEMSCALE_MODEL_DIR"] = str(model_dir)  # monkeypatch restores it after the test
    at = page(images)
    deadline = time.monotonic() + 30
    while not any("No finished run on this dataset with the backend's model" in c.value for c in at.caption):
        assert not at.exception and time.monotonic() < deadline, [c.value for c in at.caption]
        time.sleep(0.3)
        at.run()
    assert not at.get("plotly_chart")


def test_a_run_of_another_dataset_is_not_offered(setup):
    """The same six images in another folder are another dataset: its run gives this one no what-if."""
    tmp_path, model, images = setup
    finished_run(tmp_path, model, images)
    other = designed.write_images(tmp_path / "other-images")
    at = page(other, designed.LABELS)
    assert not at.exception and not at.get("plotly_chart")
    assert any(c.value.startswith("No finished run on this dataset yet") for c in at.caption)
