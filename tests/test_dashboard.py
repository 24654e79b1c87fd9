"""Dashboard pages through Streamlit's AppTest: real engine, real results file, real subprocess runs."""

import time

import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT
from semscale.store import ResultsStore


@pytest.fixture
def env(tmp_path, model_dir, shared_datasets, monkeypatch):
    monkeypatch.setenv("SEMSCALE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("SEMSCALE_RESULTS", str(tmp_path / "dash.duckdb"))
    monkeypatch.setenv("SEMSCALE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SEMSCALE_DATA_DIR", str(shared_datasets))
    monkeypatch.chdir(ROOT)
    return tmp_path


def wait_for(predicate, timeout=120.0, every=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")


def test_home_shows_backend_and_starts_a_demo_run(env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "🟢" in text and "16-d embeddings" in text
    at.selectbox[0].select("cifar10-1k").run()
    at.button[0].click().run()
    assert not at.exception and "Started run" in at.success[0].value
    store = ResultsStore(env / "dash.duckdb")
    run = wait_for(lambda: [r for r in store.runs() if r.status == "done"])[0]
    assert run.dataset == "cifar10-1k" and run.n_done == 1000
    assert set(store.points(run.run_id)["aggregation"]) == {"max", "mean", "probsum"}


def test_home_reports_a_broken_backend_without_crashing(env, monkeypatch, tmp_path):
    monkeypatch.setenv("SEMSCALE_MODEL_DIR", str(tmp_path / "no-model"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert any("🔴" in m.value and "no vision/model.onnx" in m.value for m in at.markdown)
