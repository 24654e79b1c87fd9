"""semscale dashboard: the navigation (Home and the pages in pages/), and the home page itself:
what semantic scaling is, the backend, latest runs, a demo run."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

import ui
from semscale.core.errors import SemscaleError
from semscale.data import datasets
from semscale.run import jobs, runs


def home() -> None:
    ui.open_workspace()
    st.title("semscale: more names, better labels?")
    st.markdown(
        "A CLIP model labels an image by picking the best-matching class name. **Semantic scaling** gives each "
        "class more names for the same thing (plurals, size words, a domain word, synonyms), k = 1, 2, 3 ... names "
        "per class. A prediction counts as right when the top-ranked name belongs to the true class, and the "
        "accuracy curve shows whether extra names help, plateau or start to hurt. The **paper preset** (Run page) "
        "is exactly what the study's authors did; everything else is semscale's extension and is labelled so."
    )

    ui.backend_badge()
    st.caption("Your dataset, names and Run settings are kept on this server under this page's link (its `?ws=`): "
               "a reload keeps them, a bookmark brings them back, and the dashboard's address without `?ws=` "
               "starts afresh.")
    st.subheader("Latest runs")
    latest_runs()

    st.subheader("One-click demo")
    demo = st.selectbox("Built-in dataset", list(datasets.BUILTINS),
                        format_func=lambda n: f"{n}: {datasets.BUILTINS[n].description}")
    if st.button("Run the paper's protocol on it, with mean and probsum beside its max", type="primary"):
        try:
            config, _ = runs.build(demo, datasets.load(demo).classes, preset="paper",
                                   aggregations=["max", "mean", "probsum"])
            run_id, _ = jobs.start(config, ui.results_path(), ui.backend())
            # the Run page follows this run, knows its dataset and is set up as it ran
            st.session_state["watch_run"] = st.session_state["demo_started"] = run_id
            st.session_state["dataset"] = demo
            ui.preset(protocol="Paper preset", extra_aggregations=["mean", "probsum"])
            st.rerun()  # Latest runs follows it from now on
        except SemscaleError as exc:
            st.error(str(exc))
    if started := st.session_state.get("demo_started"):
        st.success(f"Started run {started} on {st.session_state['dataset']}: the paper's protocol (12 names, "
                   "k = 1 ... 12, max) with mean and probsum beside it.")
        st.page_link("pages/3_Run.py", label="Open the Run page to watch its curve grow", icon=":material/show_chart:")
    ui.save_workspace()


ENDED = ("done", "failed", "cancelled", "interrupted")


def pace() -> float | None:
    """How often Latest runs is re-read: as the Run page's Live view while this session's run is being
    started or works (`ui.live_every`), not at all once it ended or when there is none."""
    watch = st.session_state.get("watch_run")
    try:
        status = next((r.status for r in ui.live_runs(limit=8) if r.run_id == watch), None)
    except SemscaleError:
        status = None
    return ui.live_every(status) if watch and status not in ENDED else None


def latest_runs() -> None:
    """The newest runs; a run started here shows up as soon as its process has registered it."""
    every = pace()

    @st.fragment(run_every=every)
    def table() -> None:
        try:
            shown = ui.live_runs(limit=8)
        except SemscaleError as exc:
            st.error(str(exc))
            return
        if pace() != every:
            st.rerun()  # the whole page, to follow at the new pace
        if shown:
            st.dataframe([ui.run_row(r) for r in shown], hide_index=True, width="stretch")
        else:
            st.caption(f"No runs yet in {ui.results_path()}.")
    table()


# Named "Home" in the sidebar (a script's own name would be "app"); the pages keep their file names.
st.set_page_config(page_title="semscale", page_icon="📈", layout="wide")
ui.preload()
st.navigation([st.Page(home, title="Home", icon=":material/home:", default=True),
               *(st.Page(str(p)) for p in sorted((Path(__file__).parent / "pages").glob("*.py")))]).run()
