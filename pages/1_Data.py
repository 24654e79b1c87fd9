"""Data: pick a built-in dataset or upload images; see classes, thumbnails and rejected files."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from semscale.core.errors import SemscaleError
from semscale.core.wording import count
from semscale.data import datasets

st.set_page_config(page_title="semscale · Data", page_icon="🗂️", layout="wide")
ui.open_workspace()  # the names and settings kept under the URL's ?ws=
LEFT_OUT_PAGE = 50  # rows of the left-out table per page
st.title("Data")

def use(spec: str) -> None:
    """Pick `spec`; a path is listed afresh (its files may have changed), a built-in set never changes."""
    st.session_state["dataset"] = spec
    if spec not in datasets.BUILTINS:
        ui.load_dataset.clear(spec, ui.data_roots())


def builtin_source() -> None:
    """A dataset semscale knows, with its source and licence."""
    name = st.selectbox("Dataset", list(datasets.BUILTINS), key="builtin",
                        format_func=lambda n: f"{n}: {datasets.BUILTINS[n].description}")
    b = datasets.BUILTINS[name]
    st.caption(f"Source: {b.source}. Licence: {b.licence}.")
    # A callback, not `if st.button(...)`: it runs even when the click's rerun is merged into the next
    # page's (the user went on to the Run page before this page had rerun), so the pick always lands.
    st.button("Use this dataset", type="primary", on_click=lambda: use(st.session_state["builtin"]))


def zip_source() -> None:
    """An uploaded zip of class folders, kept under the name the user gave it."""
    upload = st.file_uploader("A .zip with one folder of images per class", key="zip_upload")
    if upload is not None:
        try:
            kept = datasets.save_upload(upload.getvalue(), upload.name)  # named as the user named it
            ds = datasets.from_zip(kept)
            use(str(kept))
            st.success(f"Unpacked {count(len(ds.samples), 'image')} in {count(len(ds.classes), 'class', 'classes')}.")
        except SemscaleError as exc:
            st.error(f"{upload.name}: {exc}")


def labelled_images() -> None:
    """Uploaded images, labelled by a manifest, by their file names' prefix, or by hand in the table."""
    uploaded = st.file_uploader("Images (JPEG, PNG, ...), and optionally a CSV manifest (path,label) that labels "
                                "them by file name", accept_multiple_files=True, key="image_upload")
    manifests = [f for f in uploaded or [] if f.name.lower().endswith(".csv")]
    files = [f for f in uploaded or [] if f not in manifests]
    from_manifest = manifest_labels(manifests)
    if manifests and files:
        listed = sum(f.name in from_manifest for f in files)
        st.caption(f"The manifest labels {listed:,} of the {count(len(files), 'image')}; edit any label below.")
    if files:
        guess = [from_manifest.get(f.name, f.name.rsplit("_", 1)[0] if "_" in f.name else "") for f in files]
        table = st.data_editor(pd.DataFrame({"file": [f.name for f in files], "label": guess}),
                               disabled=["file"], hide_index=True, width="stretch", key="upload_labels")
        set_name = st.text_input("Name of this image set", value=datasets.upload_name([f.name for f in uploaded]),
                                 help="how its runs are listed; a number is added if another upload has the name")
        if st.button("Use these images", type="primary"):
            triples = [(f.name, f.getvalue(), str(label or "")) for f, label in zip(files, table["label"], strict=True)]
            try:
                ds = datasets.from_uploads(triples, name=set_name)
                use(str(ds.root))
                st.success(f"Stored {count(len(ds.samples), 'image')} in {count(len(ds.classes), 'class', 'classes')}.")
                for r in ds.rejected:
                    st.warning(str(r))
            except SemscaleError as exc:
                st.error(str(exc))


def manifest_labels(manifests) -> dict[str, str]:
    """File name -> label from the uploaded CSV manifests; a line for each row or file that gives none."""
    from_manifest: dict[str, str] = {}
    for manifest in manifests:
        try:
            labels, unlabelled = datasets.manifest_labels(manifest.getvalue(), manifest.name)
            from_manifest.update(labels)
            for r in unlabelled:
                st.warning(ui.md(str(r)))
        except SemscaleError as exc:
            st.error(ui.md(f"{manifest.name}: {exc}"))
    return from_manifest


def path_source() -> None:
    """A folder, zip or CSV manifest on the machine running the dashboard (only under its data roots)."""
    path = st.text_input("Folder with one sub-folder per class, a .zip or a CSV manifest (path,label)")
    if path and st.button("Use this path", type="primary"):
        try:
            datasets.load(path, list(ui.data_roots()))
            use(path)
        except SemscaleError as exc:
            st.error(str(exc))


SOURCES = {"Built-in dataset": builtin_source, "Zip of class folders": zip_source,
           "Images with labels": labelled_images, "Folder or CSV on this machine": path_source}


def counts_and_decoding(ds: datasets.Dataset) -> datasets.Dataset:
    """The images per class, and the check that every image decodes; the dataset without what it found."""
    checked = st.session_state.setdefault("undecodable", {})
    spec = st.session_state["dataset"]
    listed = len(ds.samples)
    ds = datasets.without(ds, checked.get(spec, []))  # the counts a run will see, once the check found any
    counts = ds.counts()
    st.subheader(f"{ui.md(ds.name)}: {count(len(ds.samples), 'image')}, {count(len(counts), 'class', 'classes')}")
    st.bar_chart(pd.Series(counts, name="images"), horizontal=True, height=max(200, 28 * len(counts)))
    if spec not in checked:
        st.caption("Listing reads no pixels: an image that does not decode is left out when a run reaches it.")
        if st.button("Check that every image decodes"):
            bar = st.progress(0.0, text="Decoding ...")
            checked[spec] = datasets.undecodable(
                ds, lambda done, total: bar.progress(done / total, text=f"Decoding {done:,} of {total:,} ..."))
            st.rerun()  # the counts above without what it found
    elif bad := checked[spec]:
        st.warning(f"{count(len(bad), 'image')} of {listed:,} do not decode: left out of the counts above and of "
                   "every run (listed below).")
    else:
        st.success(f"Every one of the {count(listed, 'image')} decodes.")
    return ds


def left_out_table(ds: datasets.Dataset) -> None:
    """Every file or class left out, with its reason, a page of LEFT_OUT_PAGE at a time."""
    left_out = ds.rejected
    if left_out:
        with st.expander(f"{count(len(left_out), 'file or class', 'files or classes')} left out", expanded=True):
            pages = -(-len(left_out) // LEFT_OUT_PAGE)
            first = (st.number_input(f"Page (of {pages})", 1, pages, 1, key="left_out_page") - 1) * LEFT_OUT_PAGE \
                if pages > 1 else 0
            shown = left_out[first:first + LEFT_OUT_PAGE]
            st.dataframe(pd.DataFrame([{"file": r.item, "reason": r.reason} for r in shown]),
                         hide_index=True, width="stretch")
            if pages > 1:
                st.caption(f"{first + 1:,}-{first + len(shown):,} of {len(left_out):,}")


def thumbnails(ds: datasets.Dataset) -> None:
    """Up to 8 images of each class."""
    st.subheader("Thumbnails")
    by_class: dict[str, list] = {}
    for s in ds.samples:
        by_class.setdefault(s.label, []).append(s)
    for label, samples in by_class.items():
        st.markdown(f"**{ui.md(label)}** · {count(len(samples), 'image')}")
        cols = st.columns(8)
        for col, sample in zip(cols, samples[:8], strict=False):  # a class may have fewer than 8 images
            try:
                col.image(str(sample.path), width="stretch")
            except Exception:  # an unreadable file shows as a note, never breaks the page
                col.caption(f"⚠️ {ui.md(ds.display_name(sample))} cannot be shown")


source = st.radio("Source", list(SOURCES), horizontal=True)
SOURCES[source]()
st.divider()
dataset = ui.current_dataset()
ui.save_workspace()  # the dataset picked, kept for a reload
if dataset is not None:
    dataset = counts_and_decoding(dataset)
    left_out_table(dataset)
    thumbnails(dataset)
