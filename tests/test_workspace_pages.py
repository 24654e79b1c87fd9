"""What a reload keeps, through Streamlit's AppTest: a second session opened with the first one's link
(`?ws=`) is a browser reload; the results file is real (tests/test_workspace.py tests the library)."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from semscale.store import workspace
from semscale.store.results import ResultsStore


@pytest.fixture
def env(dashboard_env):
    return dashboard_env


def session(ws: str | None = None, page: str | None = None, **params) -> AppTest:
    """A new browser session: app.py with the link's query parameters, on `page` (pages/...) if given."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for key, value in {"ws": ws, **params}.items():
        if value is not None:
            at.query_params[key] = value
    if page:
        at.switch_page(page)
    return at.run()


def said(at: AppTest) -> list[str]:
    """The page's lines about the workspace (others, such as a schedule cut to 1 name, aside)."""
    lines = ("The link's", "This link's", "The names and settings kept", "Your kept names", "Your names and settings")
    return [w.value for w in at.warning if w.value.startswith(lines)]


def link(at: AppTest) -> str:
    return at.query_params["ws"][0]


def go(at: AppTest, page: str) -> AppTest:
    """Open another page as the sidebar does: the browser drops the URL's query parameters (the page puts
    the link back)."""
    at.query_params.clear()
    return at.switch_page(page).run()


def edit(at: AppTest, changes: dict) -> None:
    """Edit rows of the Synonyms page's name table as a user does in the grid."""
    at.session_state[f"editor_clothing_{at.session_state['labels_version']}"] = {
        "edited_rows": changes, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception


def test_a_reload_keeps_the_dataset_the_edited_names_and_the_run_settings(env):
    first = session(page="pages/1_Data.py")
    token = link(first)
    first.selectbox(key="builtin").select("clothing")
    first.button[0].click().run()
    assert session(token).session_state["dataset"] == "clothing"  # the link alone, as bookmarked on Home
    go(first, "pages/2_Synonyms.py")
    edit(first, {0: {"name": "gown"}, 1: {"use": False}})  # the dress is a gown; the hat's name ticked out
    names = {c: list(v) for c, v in first.session_state["labels"]["clothing"].items()}
    assert names["dress"] == ["gown"] and names["hat"] == ["hat"]  # a class keeps its last name (labels.clean)
    go(first, "pages/3_Run.py")
    first.multiselect(key="aggregations").set_value(["max", "probsum"]).run()
    first.selectbox(key="schedule").select("linear").run()
    first.number_input(key="step").set_value(2).run()
    first.number_input(key="repeats").set_value(3).run()
    first.text_area(key="templates").input("a photo of a {}.").run()
    assert not first.exception and link(first) == token  # the same link on every page

    reload = session(token, "pages/3_Run.py")  # nothing in its state but what the link names
    assert not reload.exception and not said(reload)
    assert reload.session_state["dataset"] == "clothing" and link(reload) == token
    assert reload.multiselect(key="aggregations").value == ["max", "probsum"]
    assert reload.selectbox(key="schedule").value == "linear" and reload.number_input(key="step").value == 2
    assert reload.number_input(key="repeats").value == 3
    assert reload.text_area(key="templates").value == "a photo of a {}."
    go(reload, "pages/2_Synonyms.py")
    assert not reload.exception
    assert reload.session_state["labels"]["clothing"] == names
    shown = {r["name"]: r["use"] for r in reload.session_state["offered"]["clothing"][:2]}
    assert shown == {"gown": True, "hat": False}  # the table as it was left: edited, ticked out


def test_edited_names_survive_a_visit_to_another_page(env):
    """The name table's edits lived only in its editor, which Streamlit forgets on another page: coming
    back wrote the unedited names over the edited ones."""
    at = session(page="pages/2_Synonyms.py", dataset="clothing")
    edit(at, {0: {"name": "gown"}})
    assert session(link(at), "pages/2_Synonyms.py").session_state["labels"]["clothing"]["dress"] == ["gown"]  # reload
    go(at, "pages/3_Run.py")
    go(at, "pages/2_Synonyms.py")
    assert not at.exception
    assert at.session_state["labels"]["clothing"]["dress"] == ["gown"]
    assert at.session_state["offered"]["clothing"][0]["name"] == "gown"
    edit(at, {0: {"name": "frock"}})  # and it can be edited again from there
    assert at.session_state["labels"]["clothing"]["dress"] == ["frock"]


def test_the_paper_preset_leaves_edited_names_for_the_next_session(env):
    at = session(page="pages/2_Synonyms.py", dataset="clothing")
    edit(at, {0: {"name": "gown"}})
    go(at, "pages/3_Run.py")
    at.radio(key="protocol").set_value("Paper preset").run()
    assert any("The paper preset runs its own names" in i.value for i in at.info)
    reload = session(link(at), "pages/3_Run.py")
    assert reload.radio(key="protocol").value == "Paper preset"
    assert reload.session_state["labels"]["clothing"]["dress"] == ["gown"]


def test_the_paper_presets_names_follow_the_display_names(env):
    at = session(page="pages/3_Run.py", dataset="clothing")
    at.radio(key="protocol").set_value("Paper preset").run()
    assert at.session_state["preset_names"]["clothing"][1].labels.names["dress"][:2] == ["dress", "dresses"]
    go(at, "pages/2_Synonyms.py")
    at.session_state[f"display_clothing_{at.session_state['labels_version']}"] = {
        "edited_rows": {0: {"display name": "gown"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    go(at, "pages/3_Run.py")
    assert at.session_state["preset_names"]["clothing"][1].labels.names["dress"][:2] == ["gown", "gowns"]
    assert at.session_state["labels"]["clothing"]["dress"] == ["dress"]  # the user's names: still theirs


def test_an_unknown_link_gets_a_fresh_workspace_and_one_line_never_another_visitors(env):
    mine = session(page="pages/2_Synonyms.py", dataset="clothing")
    edit(mine, {0: {"name": "gown"}})
    for asked in (workspace.new_token(), "../../../etc/passwd", hashlib.sha256(link(mine).encode()).hexdigest()):
        other = session(asked, "pages/2_Synonyms.py")
        assert not other.exception
        assert [w[:32] for w in said(other)] == [
            "This link's workspace is not kep" if workspace.is_token(asked) else "The link's workspace name is not"]
        assert link(other) not in (asked, link(mine)) and workspace.is_token(link(other))
        assert "dataset" not in other.session_state and "Data" in other.info[0].value  # nothing of mine
        assert "/" not in said(other)[0]  # no path, not even the results file's


@pytest.mark.parametrize("damage", ['{"version": 1, "na', '{"version": 1, "names": {"labels": {"clothing": "gown"}}}'])
def test_a_damaged_workspace_is_one_line_and_the_page_works_on(env, damage):
    """Cut short, or of a shape the pages cannot use (names that are no list would break the Run page)."""
    token = workspace.new_token()
    ResultsStore(env / "dash.duckdb").put_workspace(hashlib.sha256(token.encode()).hexdigest(), damage)
    at = session(token, "pages/3_Run.py", dataset="clothing")  # the URL's dataset is not lost with it
    assert not at.exception
    assert said(at) == [
        "The names and settings kept for this link could not be read (the stored state is damaged or from another "
        "semscale version): you start afresh under the same link."]
    assert link(at) == token and any("Dataset **clothing**" in c.value for c in at.caption)
    at.number_input(key="repeats").set_value(2).run()
    assert not said(at)  # said until the user works on
    assert session(token, "pages/3_Run.py").number_input(key="repeats").value == 2  # the next save replaced it


def test_a_kept_setting_the_page_cannot_show_gives_way_to_its_default(env):
    """A link kept from another semscale version may hold settings its widgets refuse (an aggregation since
    renamed, a number out of range): the page shows the defaults, never a traceback."""
    token = workspace.new_token()
    workspace.save(env / "dash.duckdb", token, {"dataset": "clothing", "settings": {
        "aggregations": ["max", "gone"], "repeats": 99, "schedule": "cubic", "seed": "7", "protocol": "Paper",
        "step": 2.5, "templates": ["a {}"]}})
    at = session(token, "pages/3_Run.py")
    assert not at.exception and not said(at)
    assert at.multiselect(key="aggregations").value == ["max"] and at.number_input(key="repeats").value == 1
    assert at.selectbox(key="schedule").value == "exponential" and at.number_input(key="seed").value == 0
    assert at.radio(key="protocol").value == "Custom" and at.text_area(key="templates").value == ""


def test_a_reload_before_any_change_keeps_its_link_quietly(env):
    first = session()
    again = session(link(first))
    assert link(again) == link(first) and not said(again)


HOLD = "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('holding', flush=True); time.sleep(300)"


def test_a_session_that_could_not_read_its_workspace_never_overwrites_it(env, monkeypatch):
    """A results file another process holds at a reload: the page works on, says its changes are not kept,
    and keeps the link, so the next reload finds the workspace as it was."""
    import ui

    db = env / "dash.duckdb"
    token = workspace.new_token()
    workspace.save(db, token, {"dataset": "clothing", "settings": {"repeats": 3}})
    monkeypatch.setattr(ui, "LOAD_WAIT", 0.5)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        at = session(token, "pages/3_Run.py", dataset="clothing")
    finally:
        holder.kill()
        holder.wait()
    assert not at.exception and link(at) == token
    assert [w[:52] for w in said(at)] == ["Your kept names and settings could not be read (resu"]
    assert said(at)[0].endswith("what you change now is not kept. Reload the page to try again.")
    at.number_input(key="repeats").set_value(5).run()  # the file is free again: still not saved over
    go(at, "pages/1_Data.py")
    assert link(at) == token
    assert workspace.load(db, token).state["settings"] == {"repeats": 3}
    assert session(token, "pages/3_Run.py").number_input(key="repeats").value == 3
