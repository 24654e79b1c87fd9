"""semscale dashboard: the navigation (Home and the pages in pages/), and the home page itself:
what semantic scaling is, the backend, latest runs, a demo run."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

import ui
from semscale import datasets, jobs, runs
from semscale.errors import SemscaleError


def home() -> None:
    st.title("semscale: more names, better labels?")
    st.markdown(
        "A CLIP model labels an image by picking the best-matching class name. **Semantic scaling** gives each "
        "class more names for the same thing (plurals, size words, a domain word, synonyms), k = 1, 2, 3 ... names "
        "per class. A prediction counts as right when the top-ranked name belongs to the true class, and the "
        "accuracy curve shows whether extra names help, plateau or start to hurt. The **paper preset** (Run page) "
        "is exactly what the study's authors did; everything else is semscale's extension and is labelled so."
    )

    ui.backend_badge()

    st.subheader("Latest runs")
    try:
        latest = ui.live_runs(limit=8)
    except SemscaleError as exc:
        st.error(str(exc))
        latest = []
    if latest:
        st.dataframe(
            [{"run": r.run_id, "status": r.status, "dataset": r.dataset, "images": f"{r.n_done}/{r.n_images}",
              "started": r.created.strftime("%Y-%m-%d %H:%M"), "model": r.model} for r in latest],
            hide_index=True, width="stretch")
    else:
        st.caption(f"No runs yet in {ui.results_path()}.")

    st.subheader("One-click demo")
    demo = st.selectbox("Built-in dataset", list(datasets.BUILTINS),
                        format_func=lambda n: f"{n}: {datasets.BUILTINS[n].description}")
    if st.button("Run the paper's protocol on it", type="primary"):
        try:
            # max as the authors, mean and probsum beside it
            config, _ = runs.build(demo, datasets.load(demo).classes, preset="paper",
                                   aggregations=["max", "mean", "probsum"])
            run_id, _ = jobs.start(config, ui.results_path(), ui.backend())
            st.session_state["watch_run"] = run_id
            st.success(f"Started run {run_id}. Open the Run page to watch its curve grow.")
        except SemscaleError as exc:
            st.error(str(exc))


# Named "Home" in the sidebar (a script's own name would be "app"); the pages keep their file names.
st.set_page_config(page_title="semscale", page_icon="📈", layout="wide")
ui.preload()
st.navigation([st.Page(home, title="Home", icon=":material/home:", default=True),
               *(st.Page(str(p)) for p in sorted((Path(__file__).parent / "pages").glob("*.py")))]).run()
