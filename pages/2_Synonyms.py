"""Synonyms: one editable table per dataset, class and its names in order; generators; YAML files."""

from __future__ import annotations

import pandas as pd
import streamlit as st
import yaml

import ui
from semscale import datasets, synonyms
from semscale.errors import SemscaleError
from semscale.labels import LabelSet

st.set_page_config(page_title="semscale · Synonyms", page_icon="🏷️", layout="wide")
st.title("Synonyms")
st.caption("Each row is a class; its names are tried in order, base name first. Level n of a sweep uses the "
           "first n names of every class.")

ds = ui.current_dataset()
if ds is None:
    st.stop()
spec = st.session_state["dataset"]
names = ui.labels_for(ds)
version = st.session_state.setdefault("labels_version", 0)


def replace(new: dict[str, list[str]]) -> None:
    st.session_state["labels"][spec] = new
    st.session_state["labels_version"] += 1  # a new editor key drops the editor's stale edits


cols = st.columns(4)
broad = datasets.BUILTINS[spec].broad if spec in datasets.BUILTINS else None
if cols[0].button("Paper scheme (C, plural, large/small/medium C, broad)"):
    replace(synonyms.generate(ds.classes, "paper", broad).names)
    st.rerun()
if cols[1].button("WordNet synonyms"):
    try:
        replace(synonyms.generate(ds.classes, "wordnet").names)
        st.rerun()
    except SemscaleError as exc:
        cols[1].error(str(exc))
if cols[2].button("Class names only"):
    replace({c: [c] for c in ds.classes})
    st.rerun()
loaded = cols[3].file_uploader("Load a YAML label file", key=f"yaml_{version}")
if loaded is not None:
    try:
        replace(LabelSet.parse(loaded.getvalue().decode("utf-8", "replace"), ds.classes, source=loaded.name).names)
        st.rerun()
    except SemscaleError as exc:
        cols[3].error(str(exc))

width = max(len(v) for v in names.values()) + 2
table = pd.DataFrame([[c] + v + [""] * (width - len(v)) for c, v in names.items()],
                     columns=["class"] + [f"name {i + 1}" for i in range(width)])
edited = st.data_editor(table, disabled=["class"], hide_index=True, use_container_width=True,
                        key=f"editor_{spec}_{version}")

raw: dict[str, list[str]] = {}
for _, row in edited.iterrows():
    cells = [v.strip() if isinstance(v, str) else "" for v in row.iloc[1:].tolist()]
    if not cells[0]:
        st.error(f"Class '{row['class']}': the first cell (its base name) is empty; fill it in.")
    raw[row["class"]] = [v for v in cells if v]
try:
    cleaned = LabelSet.clean(raw, ds.classes)
    st.session_state["labels"][spec] = cleaned.names
    if cleaned.warnings:
        for w in cleaned.warnings:
            st.warning(w)
    st.caption(f"{len(cleaned.names)} classes, up to {cleaned.max_names} names each.")
    st.download_button("Save as YAML", yaml.safe_dump(cleaned.to_dict(), allow_unicode=True, sort_keys=False),
                       file_name=f"{ds.name}-labels.yaml", mime="text/yaml")
except SemscaleError as exc:
    st.error(str(exc))
