"""Synonyms: class display names and WordNet senses, the name schemes, and one row per name (its relation and
WordNet gloss) to tick in or out: the ticked names are the label table the Run page uses."""

from __future__ import annotations

import pandas as pd
import streamlit as st
import yaml

import ui
from semscale.core.errors import SemscaleError
from semscale.core.wording import count
from semscale.names import synonyms, wordnet
from semscale.names.labels import LabelSet, emptied_bases, normalize_name, ticked

st.set_page_config(page_title="semscale · Synonyms", page_icon="🏷️", layout="wide")
ui.open_workspace()  # the names and settings kept under the URL's ?ws=
st.title("Synonyms")
st.caption("Each row is a name of a class, tried in order, base name first; untick a name to leave it out. "
           "Level n of a sweep uses the first n names of every class.")


def display_names_and_senses(ds, spec: str, state: dict, version: int) -> None:
    """Each class's display name (editable) and the WordNet sense its names come from."""
    st.subheader("Class names and WordNet senses")
    chosen = state["senses"].get(spec, {})
    rows = pd.DataFrame([{"class": c, "display name": state["display_names"][spec][c],
                          "WordNet sense": chosen.get(c, ""),
                          "meaning": wordnet.synset(chosen[c]).definition() if c in chosen else ""}
                         for c in ds.classes])
    shown = st.data_editor(rows, disabled=["class", "WordNet sense", "meaning"], hide_index=True,
                           width="stretch", key=f"display_{spec}_{version}")
    state["display_names"][spec] = {r["class"]: normalize_name(r["display name"]) or r["class"]
                                    for _, r in shown.iterrows()}


def sense_picker(ds, spec: str, state: dict) -> None:
    """Another WordNet sense for one class (for its next generated names)."""
    chosen = state["senses"].get(spec, {})
    pick = st.columns(2)
    which = pick[0].selectbox("Pick another sense for", ds.classes, key=f"sense_class_{spec}")
    try:
        options = wordnet.senses_of(state["display_names"][spec][which])
    except SemscaleError as exc:  # no WordNet on this machine: the names can still be edited and generated
        options = []
        pick[1].info(str(exc))
    if not options:
        pick[1].caption(f"WordNet knows no physical sense of '{state['display_names'][spec][which]}'.")
        return
    ids = [o.id for o in options]
    current = ids.index(chosen[which]) if chosen.get(which) in ids else 0
    picked = pick[1].selectbox("Sense", ids, index=current, key=f"sense_{spec}_{which}",
                               format_func=lambda i: f"{i}: {next(o.gloss for o in options if o.id == i)}")
    if picked != chosen.get(which) and which in chosen:
        state["senses"][spec] = {**chosen, which: picked}


def domain_input(spec: str, state: dict) -> str | None:
    """The paper scheme's domain word as typed (None: WordNet's shared category, or a refused word)."""
    domain_text = st.text_input("Domain word D (paper scheme: 'D C', 'D Cs'); empty: WordNet's shared category",
                                value=state["domain"].get(spec) or "", key=f"domain_{spec}")
    try:
        return synonyms.validate_domain(domain_text)
    except SemscaleError as exc:
        st.error(str(exc))
        return None


SCHEME_BUTTONS = (("paper", "Paper scheme (12 names: C, Cs, large/small/medium/D/tiny C and Cs)"),
                  ("synonyms", "Synonyms only (other words for the same thing)"),
                  ("wordnet", "WordNet synonyms and kinds (kinds are NOT names of the class)"))


def name_sources(ds, spec: str, state: dict, domain: str | None, version: int) -> None:
    """Where the names come from: a scheme, the class names alone, or a YAML file; then the notes on them."""
    cols = st.columns(5)
    for col, (scheme, label) in zip(cols, SCHEME_BUTTONS, strict=False):  # the other two columns follow
        if col.button(label):
            try:
                ui.generate_names(ds, scheme, domain)
                st.rerun()
            except SemscaleError as exc:
                col.error(str(exc))
    if cols[3].button("Class names only"):
        ui.set_labels(LabelSet.clean({c: [state["display_names"][spec][c]] for c in ds.classes}))
        st.rerun()
    load_yaml(cols[4], ds, version)
    ui.restore_button(cols[3])
    for note in [*state["display_notes"].get(spec, []), *state["name_notes"].get(spec, [])]:
        st.info(note)


def load_yaml(col, ds, version: int) -> None:
    """A label file, kept as it is (exact repeats too), with a note on everything the load changed."""
    loaded = col.file_uploader("Load a YAML label file", key=f"yaml_{version}")
    if loaded is None:
        return
    try:
        # exact repeats are kept: a saved paper-scheme table repeats plural-only names on purpose
        got = LabelSet.parse(loaded.getvalue().decode("utf-8", "replace"), ds.classes, source=loaded.name,
                             keep_repeats=True)
        kept = [f"Kept {count(got.repeats, 'exact repeat')} of an earlier name of its class, as the paper scheme "
                "makes them so that every class has as many names; untick them in the table if unwanted."]
        ui.set_labels(got, None, [f"Loaded {loaded.name}: {count(len(got.names), 'class', 'classes')}, up to "
                                  f"{count(got.max_names, 'name')} each.", *got.warnings, *kept[:bool(got.repeats)]],
                      keep_repeats=bool(got.repeats))
        st.rerun()
    except SemscaleError as exc:
        col.error(str(exc))


def name_table(ds, spec: str, state: dict, version: int) -> tuple[LabelSet | None, list[str]]:
    """One row per name to tick in or out or edit; the label set it gives (None when refused) and the
    classes whose base name was emptied (they keep their names from before until it is filled in)."""
    editor = f"editor_{spec}_{version}"
    offered = ui.offered(ds, editor)
    edited = st.data_editor(pd.DataFrame(offered), disabled=["relation", "same thing", "meaning"], hide_index=True,
                            num_rows="dynamic", width="stretch", key=editor,
                            column_config={"use": st.column_config.CheckboxColumn("use", default=True)})
    rows = edited.to_dict("index")
    no_base = emptied_bases(rows, offered)
    for c in no_base:  # the next name must not silently become the base name
        st.error(f"Class '{c}': its first row (its base name) is empty; fill it in. Until then the class keeps its "
                 "names from before this edit, and Save waits.")
    try:
        cleaned = ticked(rows, offered, ds.classes, keep_repeats=state["keep_repeats"].get(spec, False),
                         current=ui.kept_labels(ds))
    except SemscaleError as exc:
        st.error(str(exc))
        return None, no_base
    ui.keep(cleaned, rows)
    for w in cleaned.warnings:
        st.warning(w)
    st.caption(f"{count(len(cleaned.names), 'class', 'classes')}, up to {count(cleaned.max_names, 'name')} each.")
    st.download_button("Save as YAML", yaml.safe_dump(cleaned.to_dict(), allow_unicode=True, sort_keys=False),
                       file_name=f"{ds.name}-labels.yaml", mime="text/yaml", disabled=bool(no_base),
                       help="fill in every base name first" if no_base else None)
    return cleaned, no_base


dataset = ui.current_dataset()
if dataset is None:
    st.stop()
dataset_spec = st.session_state["dataset"]
editor_version = st.session_state.setdefault("labels_version", 0)
names = ui.name_state()
ui.domain_word()
ui.display_names(dataset)
display_names_and_senses(dataset, dataset_spec, names, editor_version)
sense_picker(dataset, dataset_spec, names)
name_sources(dataset, dataset_spec, names, domain_input(dataset_spec, names), editor_version)
label_set, without_base = name_table(dataset, dataset_spec, names, editor_version)
ui.save_workspace()  # what this run changed, kept for a reload
if label_set is not None:
    ui.what_if_section(dataset, label_set, blocked="fill in every base name first" if without_base else None)
