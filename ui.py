"""Streamlit helpers shared by the dashboard pages: settings in the session, the store, the backend."""

from __future__ import annotations

import streamlit as st

from semscale import datasets, health, paths, settings
from semscale.errors import SemscaleError
from semscale.store import ResultsStore


def results_path() -> str:
    return st.session_state.setdefault("results_path", str(paths.results_path()))


def store() -> ResultsStore:
    return ResultsStore(results_path())


def backend() -> settings.Backend:
    """The backend chosen in this session; defaults to the server in secrets/env, else embedded."""
    if "backend" not in st.session_state:
        st.session_state["backend"] = settings.backend()
    return st.session_state["backend"]


@st.cache_data(ttl=15, show_spinner="Checking the CLIP backend ...")
def _status(b: settings.Backend) -> health.Health:
    return health.check(b)


def backend_badge() -> health.Health:
    """A coloured dot and one line naming the backend; reports what the health check found."""
    status = _status(backend())
    dot = "🟢" if status.ok else "🔴"
    st.markdown(f"{dot} **CLIP backend:** {status.summary}")
    return status


# --- the dataset chosen on the Data page -------------------------------------------------------

@st.cache_data(ttl=60, show_spinner="Listing images ...")
def load_dataset(spec: str) -> datasets.Dataset:
    return datasets.load(spec)


def current_dataset() -> datasets.Dataset | None:
    """The dataset picked on the Data page, or None (with a hint) when there is none yet."""
    spec = st.session_state.get("dataset")
    if not spec:
        st.info("Pick or upload a dataset on the **Data** page first.")
        return None
    try:
        return load_dataset(spec)
    except SemscaleError as exc:
        st.error(str(exc))
        return None


def labels_for(ds: datasets.Dataset) -> dict[str, list[str]]:
    """The label table being edited for this dataset (class names only until edited)."""
    tables = st.session_state.setdefault("labels", {})
    return tables.setdefault(st.session_state["dataset"], {c: [c] for c in ds.classes})
