"""Dashboard pages through Streamlit's AppTest: real engine, real results file, real subprocess runs."""

import time

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

import ui
from semscale.core.errors import SemscaleError
from semscale.store.results import ResultsStore


@pytest.fixture
def env(dashboard_env):
    return dashboard_env


def wait_for(predicate, timeout=120.0, every=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")


def backend_line(at: AppTest) -> str:
    """The backend badge's line once the background check has answered (the page reruns meanwhile)."""
    def answered():
        at.run()
        assert not at.exception
        return next((m.value for m in at.markdown if "CLIP backend" in m.value and "starting" not in m.value), None)
    return wait_for(answered, timeout=60)


@pytest.mark.smoke
def test_home_shows_backend_and_starts_a_demo_run(env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    text = backend_line(at)
    assert ":green-badge[ready]" in text and "16-d embeddings" in text
    at.selectbox[0].select("cifar10-1k").run()
    assert at.button[0].label == "Run the paper's protocol on it, with mean and probsum beside its max"
    at.button[0].click().run()
    assert not at.exception and "Started run" in at.success[0].value
    run_id = at.session_state["watch_run"]
    assert at.session_state["dataset"] == "cifar10-1k"  # the Run page knows the demo's dataset
    link = at.get("page_link")[0].proto
    assert link.page == "Run" and link.label == "Open the Run page to watch its curve grow"

    def listed():
        at.run()
        return run_id in frame(at)["run"].tolist() if frame(at) is not None else False
    wait_for(listed, timeout=60)  # Latest runs shows the demo run once its process registered it
    assert frame(at).set_index("run").loc[run_id, "model"] == "clip-vit-b32"  # as the badge and picker say
    store = ResultsStore(env / "dash.duckdb")
    run = wait_for(lambda: [r for r in store.runs() if r.status == "done"])[0]
    assert run.dataset == "cifar10-1k" and run.n_done == 1000
    assert set(store.points(run.run_id)["aggregation"]) == {"max", "mean", "probsum"}
    run_page = at.switch_page("pages/3_Run.py").run()
    assert any(f"**Run {run_id}** · cifar10\\-1k" in m.value for m in run_page.markdown)  # names as text
    assert any("Dataset **cifar10\\-1k**" in c.value for c in run_page.caption)
    assert run_page.radio(key="protocol").value == "Paper preset"  # set up as the demo ran
    assert run_page.multiselect(key="extra_aggregations").value == ["mean", "probsum"]
    assert any("up to 10 names per class (the paper preset's)" in c.value for c in run_page.caption)


def frame(at: AppTest):
    """The page's first table, as a DataFrame, or None."""
    return at.dataframe[0].value if len(at.dataframe) else None


def test_home_reports_a_broken_backend_without_crashing(env, monkeypatch, tmp_path):
    monkeypatch.setenv("SEMSCALE_MODEL_DIR", str(tmp_path / "no-model"))
    text = backend_line(AppTest.from_file(str(ROOT / "app.py"), default_timeout=60))
    assert ":red-badge[not ready]" in text and "no vision/model.onnx" in text


def page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / name), default_timeout=60)


@pytest.mark.smoke
def test_data_page_lists_a_builtin_dataset(env):
    at = page("1_Data.py").run()
    assert not at.exception
    at.selectbox[0].select("clothing").run()
    at.button[0].click().run()
    assert not at.exception
    assert any("clothing: 713 images, 10 classes" in h.value for h in at.subheader)


def test_a_dataset_pick_lands_even_when_the_next_page_is_opened_before_the_data_page_reran(env):
    """Under load a student clicks "Use this dataset" and then the Run link before the server has
    rerun the Data page: the two reruns merge into one of the Run page, carrying the button's click."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("pages/1_Data.py").run()
    at.selectbox(key="builtin").select("cifar10-1k")
    at.button[0].click()  # not run: the Run page's rerun carries the click
    at.switch_page("pages/3_Run.py").run()
    assert not at.exception
    assert at.session_state["dataset"] == "cifar10-1k"
    assert any(b.label == "Start" for b in at.button)


def test_live_view_shares_one_read_among_sessions_and_follows_every_write(env, model_dir, monkeypatch):
    """Twenty Run pages poll every second: one read of the results file serves them all, yet a write
    is seen on the next tick (the read is keyed by the file's change time, not only by its age)."""
    from semscale.models.encoders import LocalEncoder
    from semscale.run.config import RunConfig
    from semscale.run.engine import Engine

    store = ResultsStore(env / "dash.duckdb")
    reads = []
    real = ResultsStore.runs
    monkeypatch.setattr(ResultsStore, "runs", lambda self, limit=None: reads.append(limit) or real(self, limit))
    first, second = page("3_Run.py").run(), page("3_Run.py").run()
    assert all("No runs yet." in [c.value for c in at.caption] for at in (first, second))
    assert len(reads) == 1
    run_id = Engine(store, LocalEncoder(model_dir)).run(RunConfig(dataset="cifar10-1k"))
    second.run()
    assert any(f"**Run {run_id}** · cifar10\\-1k · status **done**" in m.value for m in second.markdown)  # as text
    store.finish_run(run_id, "failed", "stopped by the test")  # this process owns the run
    second.run()
    assert any(f"**Run {run_id}** · cifar10\\-1k · status **failed**" in m.value for m in second.markdown)
    assert len(reads) == 3


def test_a_live_read_of_a_busy_file_holds_up_one_session_not_all():
    """The runs can hold the results file for a moment; while one session's read waits for it, the
    other sessions get the previous answer at once, then the new one once it landed. A first read
    (no answer yet) is waited for by every session and done once."""
    import threading

    import ui

    live, key, reads = ui.LiveReads(), ("results.duckdb", "runs", 20), []
    busy, started = threading.Event(), threading.Event()

    def read(value, wait=False):
        def go():
            reads.append(value)
            started.set()
            if wait:
                assert busy.wait(10)
            return value
        return go
    first: list = []
    askers = [threading.Thread(target=lambda: first.append(live.get(key, ("v1",), read("first", wait=True))))
              for _ in range(3)]
    for t in askers:
        t.start()
    assert started.wait(10)
    time.sleep(0.2)
    busy.set()
    for t in askers:
        t.join(10)
    assert first == ["first"] * 3 and reads == ["first"]
    assert live.get(key, ("v1",), read("unchanged")) == "first" and reads == ["first"]

    busy.clear()
    started.clear()
    landed: list = []
    reader = threading.Thread(target=lambda: landed.append(live.get(key, ("v2",), read("second", wait=True))))
    reader.start()
    assert started.wait(10)
    other: list = []
    asker = threading.Thread(target=lambda: other.append(live.get(key, ("v2",), read("third"))), daemon=True)
    asker.start()
    asker.join(0.5)
    assert other == ["first"]  # the read in progress is not waited for
    busy.set()
    reader.join(10)
    assert landed == ["second"] and live.get(key, ("v2",), read("fourth")) == "second"
    assert reads == ["first", "second"]

    # a read that found the file busy is not tried again by every session in turn (each would wait
    # LIVE_WAIT for it): within LIVE_TTL the others get the previous answer, or the same error
    def busy_file():
        reads.append("busy")
        raise SemscaleError("results file is busy")
    with pytest.raises(SemscaleError, match="busy"):
        live.get(key, ("v3",), busy_file)
    assert live.get(key, ("v3",), busy_file) == "second" and reads[-1:] == ["busy"] and len(reads) == 3
    fresh_key = ("results.duckdb", "points", "run1")
    with pytest.raises(SemscaleError, match="busy"):
        live.get(fresh_key, ("v3",), busy_file)
    with pytest.raises(SemscaleError, match="busy"):
        live.get(fresh_key, ("v4",), busy_file)
    assert len(reads) == 4


def test_the_server_loads_wordnet_in_the_background_as_it_starts(env):
    """The first run of any page starts the load (`ui.preload`), so the Run page's display names do
    not wait for it."""
    import ui
    from semscale.names import wordnet

    wordnet._load_reader.cache_clear()
    ui.preload.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    wait_for(lambda: wordnet._load_reader.cache_info().currsize == 1, timeout=60, every=0.1)


def test_a_backend_recheck_runs_behind_the_last_answer_and_no_page_waits_for_it(monkeypatch):
    """The first check is waited for (up to HEALTH_WAIT); every later one, every HEALTH_TTL, runs in
    the background while pages show the last answer at once, then its own once it is in."""
    import threading

    import ui
    from semscale.models import health, settings

    answers, release = iter([health.Health(True, "first"), health.Health(False, "second")]), threading.Event()

    def check(b):
        got = next(answers)
        if got.summary == "second":
            assert release.wait(10)
        return got
    monkeypatch.setattr(health, "check", check)
    monkeypatch.setattr(ui, "HEALTH_TTL", 0.0)
    ui._checks.clear()
    b = settings.Backend(server="grpc://127.0.0.1:9", timeout=1.0)
    assert ui._check(b)[1].summary == "first"
    t0 = time.monotonic()
    for _ in range(3):  # the first asks for a re-check; none waits for it
        assert ui._check(b)[1].summary == "first"
    assert time.monotonic() - t0 < 0.5
    monkeypatch.setattr(ui, "HEALTH_TTL", 60.0)
    release.set()
    wait_for(lambda: ui._check(b)[1].summary == "second", timeout=10, every=0.05)


def test_data_page_reports_a_bad_path_next_to_the_widget(env, tmp_path, monkeypatch):
    monkeypatch.setenv("SEMSCALE_DATA_ROOTS", str(tmp_path))  # a path under a data root (tests/test_security.py)
    at = page("1_Data.py").run()
    at.radio[0].set_value("Folder or CSV on this machine").run()
    at.text_input[0].input(str(tmp_path / "nowhere")).run()
    at.button[0].click().run()
    assert not at.exception and "neither a built-in" in at.error[0].value


@pytest.mark.smoke
def test_synonyms_page_generates_the_paper_scheme(env):
    at = page("2_Synonyms.py")
    at.session_state["dataset"] = "cifar10-1k"
    at.run()
    assert not at.exception
    assert "up to 1 name each" in " ".join(c.value for c in at.caption)
    at.button[0].click().run()  # paper scheme
    assert not at.exception
    assert at.session_state["labels"]["cifar10-1k"]["cat"][:4] == ["cat", "cats", "large cat", "large cats"]
    assert "up to 10 names each" in " ".join(c.value for c in at.caption)  # no domain word shared by CIFAR-10


def test_synonyms_page_without_a_dataset_says_what_to_do(env):
    at = page("2_Synonyms.py").run()
    assert not at.exception and "Data" in at.info[0].value


def test_run_page_validates_before_starting(env):
    at = page("3_Run.py")
    at.session_state["dataset"] = "cifar10-1k"
    at.run()
    assert not at.exception
    at.multiselect(key="aggregations").set_value([]).run()
    assert "Choose at least one aggregation." in [e.value for e in at.error]
    start = next(b for b in at.button if b.label == "Start")
    assert start.disabled
    at.selectbox(key="schedule").select("explicit").run()
    at.text_input(key="levels").input("1, two").run()
    assert any("bad schedule" in e.value for e in at.error)


@pytest.mark.smoke
def test_run_page_starts_a_run_and_results_page_explains_it(env):
    at = page("3_Run.py")
    at.session_state["dataset"] = "cifar10-1k"
    at.session_state["labels"] = {"cifar10-1k": {c: [c, f"{c}s", f"large {c}"] for c in
                                                 ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                                  "horse", "ship", "truck"]}}
    at.run()
    at.multiselect(key="aggregations").set_value(["max", "probsum"]).run()
    next(b for b in at.button if b.label == "Start").click().run()
    assert not at.exception
    run_id = at.session_state["watch_run"]
    store = ResultsStore(env / "dash.duckdb")
    wait_for(lambda: store.run(run_id).status == "done" if store.runs() else False)
    results = page("4_Results.py").run()
    assert not results.exception
    text = " ".join(m.value for m in results.markdown)
    assert f"{run_id} \\(cifar10\\-1k, clip\\-vit\\-b32\\:" in text and "\\) · max" in text and "best accuracy" in text
    assert any("Confusion matrix at 3 names per class" in s.value for s in results.subheader)
    assert [s.value for s in results.subheader][-3:] == ["Per-name effects", "Recommend a label set",
                                                         "Explain one image"]
    # a finished run with three names per class has effects to show; the one note: no paper-vs-WordNet pair yet
    assert [i.value[:40] for i in results.info] == ["No finished run on cifar10\\-1k has paper"]


def test_a_start_click_lands_even_when_its_rerun_is_not_the_run_pages(env):
    """Under load a Start click's rerun can merge into another one (a Live tick's fragment run, or here
    the next page's): the run still starts, once, and the Run page then says so."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.session_state["dataset"] = "cifar10-1k"
    at.switch_page("pages/3_Run.py").run()
    start = wait_for(lambda: at.run() and next((b for b in at.button if b.label == "Start" and not b.disabled), None),
                     timeout=60)  # once the backend check has answered
    start.click()  # not run: the Data page's run carries the click
    at.switch_page("pages/1_Data.py").run()
    assert not at.exception
    run_id = at.session_state["watch_run"]
    store = ResultsStore(env / "dash.duckdb")
    wait_for(lambda: store.runs() and store.run(run_id).status == "done")
    assert [r.run_id for r in store.runs()] == [run_id]
    at.switch_page("pages/3_Run.py").run()
    assert any(f"Started run {run_id}" in m.value for m in at.success)


def test_live_view_follows_a_working_run_every_second_and_a_waiting_or_ended_one_less_often():
    """Twenty Live views redrawing every second kept the dashboard busy (B6): a run in line or ended
    changes rarely; a run at work, or one just started and not registered yet, is followed closely."""
    import ui

    assert ui.live_every("running") == ui.live_every(None) == 1.0
    assert all(ui.live_every(s) >= 5 for s in ("queued", "done", "failed", "cancelled", "interrupted"))


def test_the_server_config_spends_no_cpu_per_script_run_on_gc_or_source_watching():
    """Both cost every Live tick of every session: a full gc.collect() took 133 ms once WordNet is
    loaded, and the source watcher walked every module's path (13% of a 6-session server's CPU)."""
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
    assert config["server"]["fileWatcherType"] == "none"


def test_run_settings_survive_a_visit_to_another_page(env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.session_state["dataset"] = "cifar10-1k"
    at.switch_page("pages/3_Run.py").run()
    at.multiselect(key="aggregations").set_value(["max", "probsum"]).run()
    at.selectbox(key="schedule").select("linear").run()
    at.number_input(key="step").set_value(2).run()
    at.number_input(key="repeats").set_value(3).run()
    at.switch_page("pages/1_Data.py").run()
    assert "aggregations" not in at.session_state  # Streamlit forgot the widget ...
    at.switch_page("pages/3_Run.py").run()
    assert not at.exception and not at.warning
    assert at.multiselect(key="aggregations").value == ["max", "probsum"]  # ... the page did not
    assert at.selectbox(key="schedule").value == "linear" and at.number_input(key="step").value == 2
    assert at.number_input(key="repeats").value == 3


def test_the_paper_preset_runs_its_own_names_and_never_touches_the_users(env):
    """Issue 25: choosing the Paper preset overwrote edited names (and Custom did not bring them back)."""
    at = page("3_Run.py")
    at.session_state["dataset"] = "cifar10-1k"
    mine = {c: [c, f"my {c}"] for c in ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                        "ship", "truck"]}
    at.session_state["labels"] = {"cifar10-1k": {c: list(v) for c, v in mine.items()}}
    at.run()
    at.radio(key="protocol").set_value("Paper preset").run()
    assert not at.exception
    assert at.session_state["labels"]["cifar10-1k"] == mine
    paper = at.session_state["preset_names"]["cifar10-1k"][1].labels
    assert paper.names["cat"][:4] == ["cat", "cats", "large cat", "large cats"]  # what Start runs
    assert ("The paper preset runs its own names, made by the authors' scheme from your display names (domain word: "
            "none). Your names on the Synonyms page are untouched: Custom runs them.") in [i.value for i in at.info]
    assert any("up to 10 names per class (the paper preset's)" in c.value for c in at.caption)
    at.radio(key="protocol").set_value("Custom").run()
    assert at.session_state["labels"]["cifar10-1k"] == mine
    assert any("up to 2 names per class (edit them on the Synonyms page)" in c.value for c in at.caption)
    assert not any("paper preset" in i.value for i in at.info)


def test_the_ticked_names_and_their_relations_reach_the_results_file(env):
    """Issues 24 and 25: a name ticked out on the Synonyms page is not run; the others keep their relations in
    the results file; the Paper preset runs its own names and leaves them (and their relations) alone."""
    at = page("2_Synonyms.py")
    at.session_state["dataset"] = "clothing"
    at.run()
    next(b for b in at.button if b.label.startswith("WordNet synonyms")).click().run()
    offered = at.session_state["offered"]["clothing"]
    slacks = next(i for i, row in enumerate(offered) if row["name"] == "slacks")
    at.session_state[f"editor_clothing_{at.session_state['labels_version']}"] = {
        "edited_rows": {slacks: {"use": False}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    names = {c: list(v) for c, v in at.session_state["labels"]["clothing"].items()}
    relations = {c: list(v) for c, v in at.session_state["relations"]["clothing"].items()}
    assert "slacks" not in names["pants"] and "kind" in relations["pants"]  # other kinds of trousers stay ticked
    session = at.session_state
    at = page("3_Run.py")  # the same session on the Run page (AppTest switches pages from the main script only)
    for key in ("dataset", "labels", *ui.NAME_STATE):
        at.session_state[key] = session[key]
    at.run()
    at.radio(key="protocol").set_value("Paper preset").run()
    assert at.session_state["labels"]["clothing"] == names and at.session_state["relations"]["clothing"] == relations
    paper = at.session_state["preset_names"]["clothing"][1].labels  # its own names carry its relations
    assert paper.names["pants"][:2] == ["pants", "pants"]
    assert paper.relations["pants"][:3] == ["name", "plural", "modifier"]
    at.radio(key="protocol").set_value("Custom").run()
    assert at.session_state["labels"]["clothing"] == names
    assert at.session_state["relations"]["clothing"] == relations
    next(b for b in at.button if b.label == "Start").click().run()
    assert not at.exception, at.exception
    run_id = at.session_state["watch_run"]
    store = ResultsStore(env / "dash.duckdb")
    wait_for(lambda: store.run(run_id).status == "done" if store.runs() else False)
    assert store.run_names(run_id) == names
    assert store.run_relations(run_id) == relations


def test_the_url_names_the_dataset_so_a_reload_keeps_it(env):
    at = page("2_Synonyms.py")
    at.session_state["dataset"] = "cifar10-1k"
    at.run()
    assert at.query_params["dataset"] == ["cifar10-1k"]
    reloaded = page("3_Run.py")  # a new session: nothing in its state, the URL as the page left it
    reloaded.query_params["dataset"] = "cifar10-1k"
    reloaded.run()
    assert not reloaded.exception and reloaded.session_state["dataset"] == "cifar10-1k"
    assert any("Dataset **cifar10\\-1k**" in c.value for c in reloaded.caption)


def test_a_busy_file_in_the_live_view_is_a_warning_not_a_traceback(env, model_dir, monkeypatch):
    import ui
    from semscale.models.encoders import LocalEncoder
    from semscale.run.config import RunConfig
    from semscale.run.engine import Engine

    Engine(ResultsStore(env / "dash.duckdb"), LocalEncoder(model_dir)).run(RunConfig(dataset="cifar10-1k"))

    def busy(run_id):
        raise SemscaleError("results file dash.duckdb is busy; retry or use another file")
    monkeypatch.setattr(ui, "live_points", busy)
    at = page("3_Run.py").run()
    assert not at.exception
    assert "results file dash.duckdb is busy; retry or use another file (retrying)" in [w.value for w in at.warning]


def test_live_view_shows_progress_from_the_first_commit_and_cancel_signals_at_once(env, model_dir):
    """A run whose row says 5 images are done while its points are not read yet (a commit behind) shows its
    progress, not "Waiting for the first batch"; Cancel signals its owner from the click's callback."""
    import os
    import signal
    import subprocess
    import sys

    import duckdb
    import psutil

    from semscale.models.encoders import LocalEncoder
    from semscale.run.config import RunConfig
    from semscale.run.engine import Engine

    db = env / "dash.duckdb"
    run_id = Engine(ResultsStore(db), LocalEncoder(model_dir)).start(RunConfig(dataset="cifar10-1k"))
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        con = duckdb.connect(str(db))
        con.execute("UPDATE runs SET status='running', n_done=5, elapsed=2.0, pid=?, pid_started=?, host=? "
                    "WHERE run_id=?", [owner.pid, psutil.Process(owner.pid).create_time(), os.uname().nodename, run_id])
        con.close()
        at = page("3_Run.py").run()
        assert not at.exception
        said = [c.value for c in at.caption]
        assert said[-2:] == ["PARTIAL: 5 of 1,000 images, in random order; no significance verdicts · updated "
                             + said[-2].rsplit(" ", 1)[-1],
                             "The curve follows at the next read of the results file ..."]
        assert "Waiting for the first batch ..." not in [c.value for c in at.caption]
        assert at.get("progress")[0].proto.text.startswith("5/1000 images · 2.5 images/s · ETA ")
        next(b for b in at.button if b.label == "Cancel").click().run()
        assert owner.wait(timeout=10) == -signal.SIGTERM
    finally:
        owner.kill()
