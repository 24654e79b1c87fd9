"""Results: run history, curve overlays with bands, two runs compared level by level, per-class effects,
confusion, misclassified images, and what the names did (per-name effects, a recommended label set, one
image explained)."""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import pandas as pd
import streamlit as st
import yaml

import ui
from semscale.analysis import compare, explain, name_effects, recommend, tables, threshold
from semscale.app import figures
from semscale.core.errors import SemscaleError
from semscale.core.wording import count, printable
from semscale.models import registry
from semscale.run import jobs, pasteable
from semscale.run import runs as run_builder
from semscale.store.results import ResultsStore

st.set_page_config(page_title="semscale · Results", page_icon="📊", layout="wide")
ui.open_workspace()  # the names and settings kept under the URL's ?ws=
PRESENT = st.session_state.get("present", False)  # the curve and its sentence only (the toggle above the curve)
if not PRESENT:
    st.title("Results")
GALLERY = 24  # thumbnails shown at once


embeddings = ui.embeddings  # a finished run's matrices, read once (the Synonyms page's what-if shares them)


@st.cache_data(max_entries=16, show_spinner="Measuring each name ...")
def effects(path: str, run_id: str, agg: str) -> pd.DataFrame:
    return name_effects.name_effects(embeddings(path, run_id), agg)


# A run's tables, read once per change of the run (`updated`): a run with 50 name orders has millions of
# predictions, and every widget click reruns the page (benchmarks/b10_results_orders.py).
@st.cache_resource(max_entries=8, show_spinner="Reading the run's predictions ...")
def predictions(path: str, run_id: str, updated) -> pd.DataFrame:
    """The names' given order only: every table below the curve shows it (a 50th of a run with 50 orders).
    Shared, not copied (st.cache_data unpickled its 36,000 rows of name lists on every rerun, half of one):
    nothing may change it in place."""
    return ResultsStore(path).predictions(run_id, repeat=0)


@st.cache_resource(max_entries=4, show_spinner="Reading who was right where ...")
def outcomes(path: str, run_id: str, updated) -> pd.DataFrame:
    """Every order's right and wrong, read once per change of the run for its verdicts and any comparison
    (2 s for 1.8 M rows of 1,000 images x 50 orders); shared, not copied: nothing may change it in place."""
    return ResultsStore(path).outcomes(run_id)


@st.cache_data(max_entries=16, show_spinner="Judging each curve ...")
def verdicts(path: str, run_id: str, updated) -> dict[str, threshold.Threshold]:
    return threshold.thresholds(outcomes(path, run_id, updated))


@st.cache_data(max_entries=8, show_spinner="Comparing the two runs image by image ...")
def comparison(path: str, run_a: str, run_b: str, updated) -> compare.Comparison:
    store = ResultsStore(path)
    return compare.compare_runs(store, run_a, run_b, lambda run_id: outcomes(path, run_id, store.run(run_id).updated))


@st.cache_data(max_entries=2, show_spinner="Writing the CSV ...")
def predictions_csv(path: str, run_id: str, updated) -> bytes:
    """Every prediction of every name order, built only when asked (450 MB for 1,000 images x 50 orders)."""
    return ResultsStore(path).predictions(run_id).to_csv(index=False).encode()


def explain_this(image_idx: int) -> None:
    st.session_state["explain_image"] = image_idx


def thumbnails(rows: list[tuple[int, str, str]], key: str) -> None:
    """(image_idx, path, caption) as a grid of six; each can be sent to "Explain one image"."""
    cols = st.columns(6)
    for i, (image_idx, path, caption) in enumerate(rows):
        col = cols[i % 6]
        try:
            col.image(path, width="stretch")
        except Exception:  # the file may have moved since the run
            col.caption("(image no longer on disk)")
        col.caption(caption)
        col.button("Explain", key=f"{key}-{image_idx}", on_click=explain_this, args=(int(image_idx),))


def show_pair(paper: str, wordnet: str) -> None:
    st.session_state["results_runs"] = [paper, wordnet]


def start_missing(pair: compare.NamesPair) -> None:
    """Start the run that completes the pair, made by the one run builder from its partner's settings."""
    try:
        settings = pair.settings()
        scheme = settings.pop("scheme")
        classes = ui.load_dataset(pair.dataset, ui.data_roots()).classes
        config, _ = run_builder.build(pair.dataset, classes, scheme=scheme, **settings)
        run_id, _ = jobs.start(config, ui.results_path(), ui.backend())
        st.session_state["watch_run"] = st.session_state["pair_started"] = run_id
        st.session_state["pair_answer"] = ("success", f"Started run {run_id} with {compare.names_kind(vars(config))}; "
                                                      "the comparison is offered here once it is done.")
    except SemscaleError as exc:
        st.session_state["pair_answer"] = ("error", str(exc))


def model_blocker(have) -> str | None:
    """Why a run started now would not use the model of `have` (the backend's check), or None."""
    status = ui.backend_health()
    if status is None:
        return "the CLIP backend is still starting"
    if not status.ok:
        return f"the CLIP backend is not ready ({status.summary})"
    if status.model != have.model:
        return (f"run {have.run_id} used {registry.display_name(have.model)} ({have.model}), the backend now runs "
                f"{registry.display_name(status.model or '')} ({status.model}): choose the same model under CLIP "
                "backend on the Run page")
    return None


def names_pair(runs) -> None:
    """One click to the key comparison: paper names vs WordNet names on one dataset's images."""
    st.subheader("Paper names vs WordNet names")
    sets = {compare.dataset_spec(r): r.dataset for r in runs}  # spec -> name, newest first
    current = st.session_state.get("dataset")
    left, right = st.columns([2, 3], vertical_alignment="bottom")
    dataset = left.selectbox("Dataset", list(sets), index=list(sets).index(current) if current in sets else 0,
                             format_func=lambda s: printable(sets[s] if sets[s] == s else f"{sets[s]} ({s})"),
                             key="pair_dataset")
    pair = compare.names_pair(runs, dataset)
    if pair.complete:
        st.session_state.pop("pair_started", None)
        right.button("Compare paper names vs WordNet names", type="primary", on_click=show_pair,
                     args=(pair.paper.run_id, pair.wordnet.run_id))
        st.caption(f"Run {pair.paper.run_id} ({compare.names_kind(pair.paper.config)}) against run "
                   f"{pair.wordnet.run_id} ({compare.names_kind(pair.wordnet.config)}), on the same images, model and "
                   "image preparation: shown below, level by level.")
        return
    st.info(ui.md(pair.missing()[0].upper() + pair.missing()[1:]) + ".")
    if started := pair.working and pair.working.run_id or st.session_state.get("pair_started"):
        follow(started)
    elif pair.missing_scheme:
        blocker = model_blocker(pair.have)
        kind = compare.names_kind({"scheme": pair.missing_scheme})
        right.button(f"Start the run with {kind} to compare", disabled=blocker is not None,
                     on_click=start_missing, args=(pair,),
                     help=f"same images, model and settings as run {pair.have.run_id}; only the names differ")
        if blocker:
            st.caption(f"Start is disabled: {ui.md(blocker)}.")
    if answer := st.session_state.pop("pair_answer", None):
        getattr(st, answer[0])(answer[1])


@st.fragment(run_every=ui.IDLE_EVERY)
def follow(run_id: str) -> None:
    """While the pair's missing run is started or works: the whole page again once it ended, to offer the
    comparison (or the Start button again, should it have failed)."""
    try:
        status = next((r.status for r in ui.live_runs() if r.run_id == run_id), None)
    except SemscaleError as exc:  # the file stayed busy: the next tick reads it again
        st.warning(f"{exc} (retrying)")
        return
    if status not in (None, "running", "queued"):
        st.session_state.pop("pair_started", None)
        st.rerun()
    st.page_link("pages/3_Run.py", label="Watch it on the Run page", icon=":material/show_chart:")


@dataclass(frozen=True)
class Shown:
    """The runs the page shows: the results file, every run by id, their labels, and those chosen."""

    store: ResultsStore
    info: dict
    label: dict[str, str]
    chosen: list[str]

    def verdicts(self, run_id: str) -> dict[str, threshold.Threshold]:
        return verdicts(str(self.store.path), run_id, self.info[run_id].updated)

    def datasets(self) -> str:
        return ", ".join(dict.fromkeys(self.info[r].dataset for r in self.chosen))


def every_run() -> tuple[ResultsStore, list]:
    """The results file and its runs, newest first; the page stops with one line when there are none."""
    try:
        store = ui.store()
        runs = store.runs()
    except SemscaleError as exc:
        st.error(str(exc))
        st.stop()
    if not runs:
        st.info("No runs yet: start one on the Run page or with `python -m semscale run`.")
        st.stop()
    return store, runs


def run_history(runs) -> None:
    st.dataframe([{**ui.run_row(r), "rejected": r.n_rejected,
                   "aggregations": ", ".join(r.config.get("aggregations", [])),
                   "schedule": r.config.get("schedule"), "seconds": round(r.elapsed or 0, 1)} for r in runs],
                 hide_index=True, width="stretch")


def choose_runs(store: ResultsStore, runs) -> Shown:
    """The runs to show (the newest, until the user picks), and the Present toggle; stops when none is chosen."""
    label = {r.run_id: printable(figures.run_label(r.run_id, r.dataset, r.model)) for r in runs}
    if "results_runs" not in st.session_state or not set(st.session_state["results_runs"]) <= set(label):
        st.session_state["results_runs"] = [runs[0].run_id]
    with st.expander("Runs shown") if PRESENT else contextlib.nullcontext():
        chosen = st.multiselect("Runs to compare", list(label), format_func=label.get, key="results_runs")
    st.toggle("Present", key="present", help="the curve and its one sentence only, in large type, for a projector")
    if not chosen:
        st.stop()
    return Shown(store, {r.run_id: r for r in runs}, label, chosen)


def presented(shown: Shown, curves: pd.DataFrame) -> None:
    """The curve and each run's verdict in large type, nothing else (for a projector)."""
    if not curves.empty:
        st.plotly_chart(figures.present(figures.accuracy_curves(
                            curves, shown.label, f"Accuracy against names per class · {shown.datasets()}")),
                        width="stretch", config=figures.export_config(f"{'-'.join(shown.chosen)}-accuracy-by-names"))
    for rid in shown.chosen:
        who = f"{ui.md(shown.label[rid])} · " if len(shown.chosen) > 1 else ""
        if shown.info[rid].partial:
            st.markdown(f"### {who}{shown.info[rid].partial_note('PARTIAL')}.")
            continue
        for agg, t in shown.verdicts(rid).items():
            st.markdown(f"### {who}{agg}: {t.sentence()}.")


def curve_section(shown: Shown, curves: pd.DataFrame) -> None:
    st.subheader("Accuracy against names per class")
    st.caption("Bands: 95% Wilson interval, or the range over name orders when a run has several. "
               "Line style and marker: the aggregation; colour: the run and aggregation.")
    if curves.empty:
        st.caption("No scored images yet.")
        return
    st.plotly_chart(figures.accuracy_curves(curves, shown.label,
                                            f"Accuracy against names per class · {shown.datasets()}"),
                    width="stretch", config=figures.export_config(f"{'-'.join(shown.chosen)}-accuracy-by-names"))
    for rid in shown.chosen:
        if shown.info[rid].partial:
            st.warning(f"**{ui.md(shown.label[rid])}** · {shown.info[rid].partial_note('PARTIAL')}.")
            continue
        for agg, t in shown.verdicts(rid).items():
            st.markdown(f"**{ui.md(shown.label[rid])} · {agg}**: {t.sentence()}.")
    st.caption("Critical level: the first level after which no later level is significantly better "
               "(paired McNemar test over the same images, alpha 0.05).")
    st.download_button("Curve data (CSV)", curves.to_csv(index=False), file_name="curves.csv", mime="text/csv")


COMPARISON_HEADERS = {
    "n_names": "names", "n_images": "images", "accuracy_a": "accuracy A", "accuracy_b": "accuracy B",
    "only_a": "A better (images)", "only_b": "B better (images)", "p_value": "p", "p_holm": "p Holm",
    "low": "A - B, 95% low", "high": "A - B, 95% high"}


def two_runs(shown: Shown) -> None:
    """Two chosen runs compared level by level on the same images (paired tests)."""
    if len(shown.chosen) != 2:
        if len(shown.chosen) > 2:
            st.caption("Choose exactly two runs to compare them level by level with a paired test.")
        return
    st.subheader("Two runs, level by level")
    a, b = shown.chosen
    info, label = shown.info, shown.label
    try:
        compared = comparison(str(shown.store.path), a, b, (info[a].updated, info[b].updated))
    except SemscaleError as exc:
        st.info(f"These two runs cannot be compared image by image: {exc}.")
        return
    st.caption(f"A = {ui.md(label[a])} ({compare.names_kind(info[a].config)}), B = {ui.md(label[b])} "
               f"({compare.names_kind(info[b].config)}), on the same images. Accuracy: {compared.basis()}; "
               "p Holm is adjusted over all the levels shown.")
    if compared.names:
        st.info(f"**Different label sets:** {ui.md(compared.names)}.")
    st.dataframe(pd.DataFrame(map(asdict, compared.levels)).rename(columns=COMPARISON_HEADERS),
                 hide_index=True, width="stretch")
    st.markdown(f"**A vs B:** {compare.differences(compared.levels, 'A', 'B')}.")


def look_inside(shown: Shown) -> tuple[str, pd.DataFrame, str, int]:
    """The run, aggregation and level the sections below show, and the run's predictions (given order);
    the predictions CSV is built only when asked. Stops when the run has no scored image yet."""
    run_id = st.selectbox("Look inside run", shown.chosen, format_func=shown.label.get)
    updated = shown.info[run_id].updated
    preds = predictions(str(shown.store.path), run_id, updated)
    if preds.empty:
        st.info(f"Run {run_id} has no scored image yet ({shown.info[run_id].status}).")
        st.stop()
    c1, c2 = st.columns(2)
    agg = c1.selectbox("Aggregation", sorted(preds["aggregation"].unique()))
    levels = sorted(preds["n_names"].unique())
    level = c2.select_slider("Names per class", levels, value=levels[-1])
    if st.session_state.get("predictions_csv") == (run_id, updated):
        st.download_button("Predictions of this run (CSV)", predictions_csv(str(shown.store.path), run_id, updated),
                           file_name=f"{run_id}-predictions.csv", mime="text/csv")
    elif st.button("Prepare the predictions CSV", help="every image, level, aggregation and name order"):
        st.session_state["predictions_csv"] = (run_id, updated)
        st.rerun()
    return run_id, preds, agg, level


def class_sections(preds: pd.DataFrame, run_id: str, agg: str, level: int) -> None:
    """Per-class accuracy, who gains and who loses, and the confusion matrix at the chosen level."""
    left, right = st.columns(2)
    with left:
        st.subheader("Per-class accuracy")
        table = tables.per_class(preds)
        st.plotly_chart(figures.per_class_lines(table[table["aggregation"] == agg],
                                                f"Per-class accuracy · {run_id} · {agg}"),
                        width="stretch", config=figures.export_config(f"{run_id}-{agg}-per-class-accuracy"))
    with right:
        st.subheader("Who gains, who loses")
        st.plotly_chart(figures.class_effect_bars(tables.class_effects(preds, agg),
                                                  f"Accuracy change per class · {run_id} · {agg}"),
                        width="stretch", config=figures.export_config(f"{run_id}-{agg}-class-changes"))
    st.subheader(f"Confusion matrix at {count(level, 'name')} per class")
    st.plotly_chart(figures.confusion_heatmap(tables.confusion(preds, agg, level),
                                              f"Confusion at {count(level, 'name')} per class · {run_id} · {agg}"),
                    width="stretch", config=figures.export_config(f"{run_id}-{agg}-confusion-{level}-names"))


def misclassified(preds: pd.DataFrame, agg: str, level: int) -> None:
    st.subheader("Misclassified images")
    at_level = preds[(preds["aggregation"] == agg) & (preds["n_names"] == level) & (preds["repeat"] == 0)]
    true_class = st.selectbox("True class", ["all classes"] + sorted(at_level["label"].unique()), key="gallery_class")
    wrong = tables.misclassified(preds, agg, level, None if true_class == "all classes" else true_class)
    scope = at_level if true_class == "all classes" else at_level[at_level["label"] == true_class]
    st.caption(f"{len(wrong):,} of {count(len(scope), 'image')} wrong"
               + (f"; the first {GALLERY}, taken in turn from each true class" if len(wrong) > GALLERY else ""))
    thumbnails([(r.image_idx, r.path, f"**{ui.md(r.label)}** → {ui.md(r.predicted)}  \ntop-3: "
                 + ", ".join(f"{ui.md(n)} ({s:.2f})" for n, s in zip(r.top_names, r.top_sims, strict=True)))
                for r in wrong.head(GALLERY).itertuples()], "wrong")


def finished_run(run_id: str):
    """The run's embeddings for the sections that rescore it; the page stops when it is not finished."""
    st.header("What the names did")
    try:
        return embeddings(ui.results_path(), run_id)
    except SemscaleError as exc:
        st.info(f"Per-name effects, the recommender and image explanations need a finished run: {exc}.")
        st.stop()


def name_effects_section(run, run_id: str, agg: str) -> bool:
    """Each name's effect, and the images one name flips; False when the run has no extra names."""
    st.subheader("Per-name effects")
    names_table = effects(ui.results_path(), run_id, agg)
    if names_table.empty:
        st.info("Every class of this run has one name: there are no extra names to measure or choose from. "
                "Give classes more names on the Synonyms page (or `run --scheme`) and run again.")
        return False
    st.caption(f"{agg}, {count(len(run.truth), 'image')}. Accuracy change: with the name minus without it, "
               "overall and on its class's images, when *added* to the base names alone and when *removed* from "
               "the full lists; images fixed/broken; p: McNemar. Each class's most helpful name is green, its "
               "most harmful red.")
    st.dataframe(figures.name_effects_table(names_table), hide_index=True)
    picks = {f"{n} ({c})": (c, n) for c, n in zip(names_table["class"], names_table["name"], strict=True)}
    c1, c2 = st.columns(2)
    picked = c1.selectbox("Images flipped by", list(picks), index=len(picks) - 1, key="flip_name")
    mode = c2.radio("when the name is", list(name_effects.MODES), format_func=name_effects.MODES.get,
                    horizontal=True, key="flip_mode")
    cls, name = picks[picked]
    flips = name_effects.name_flips(run, agg, cls, name, mode)
    st.caption(f"{count(len(flips), 'image')} flipped by '{ui.md(name)}' ({ui.md(cls)}) {name_effects.MODES[mode]}"
               + (f"; the first {GALLERY} shown" if len(flips) > GALLERY else ""))
    thumbnails([(r.image_idx, r.path, f"**{r.change}**: true {ui.md(r.label)}; "
                 f"without: {ui.md(r.predicted_without)}, with: {ui.md(r.predicted_with)}")
                for r in flips.head(GALLERY).itertuples()], "flip")
    return True


def recommendation(run, run_id: str, agg: str) -> None:
    """A label set chosen by cross-validation, computed when asked, with its held-out accuracy."""
    st.subheader("Recommend a label set")
    st.caption("Per class, names chosen greedily on training folds and scored on the held-out fold, so the "
               "accuracy below was measured on images the choice never saw. The base name is always kept.")
    c1, c2 = st.columns(2)
    folds = int(c1.number_input("Folds", min_value=2, max_value=20, value=5, key="folds"))
    seed = int(c2.number_input("Seed", min_value=0, value=0, key="seed"))
    asked = (run_id, agg, folds, seed)
    if st.button("Recommend a label set"):
        try:
            st.session_state["recommendation"] = (asked, recommend.recommend(run, agg, folds, seed))
        except SemscaleError as exc:
            st.session_state["recommendation"] = (asked, exc)
    made_for, rec = st.session_state.get("recommendation", (None, None))
    if made_for != asked:
        return
    if isinstance(rec, SemscaleError):
        st.warning(str(rec))
        return
    st.dataframe([{"label set": what, "held-out accuracy": e.accuracy, "95% low": e.interval[0],
                   "95% high": e.interval[1], "right": f"{e.correct}/{e.total}"}
                  for what, e in (("base names", rec.base), ("all names", rec.full),
                                  ("recommended", rec.recommended))], hide_index=True,
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in ("held-out accuracy", "95% low", "95% high")})
    st.caption(f"{rec.folds}-fold cross-validation, seed {rec.seed}. Recommended vs base names: McNemar "
               f"p = {rec.p_vs_base:.3g}; vs all names: p = {rec.p_vs_full:.3g}. On the images it was chosen "
               f"on the set scores {rec.in_sample.accuracy:.3f}: optimistic, not an estimate.")
    for note in rec.notes:
        st.info(ui.md(note))
    st.dataframe(rec.names.rename(columns={"folds_chosen": f"chosen in folds (of {rec.folds})"}),
                 hide_index=True, width="stretch")
    st.download_button("Recommended label set (YAML)",
                       yaml.safe_dump(rec.label_set().to_dict(), allow_unicode=True, sort_keys=False),
                       file_name=f"{run_id}-{agg}-labels.yaml", mime="application/x-yaml")
    command = pasteable.try_labels(ui.results_path(), run.config, f"{run_id}-{agg}-labels.yaml")
    st.caption(f"Use it with `{command}`.")


def explain_one(run, run_id: str, agg: str) -> None:
    """One image's prediction at every level, with its top names."""
    st.subheader("Explain one image")
    images = run.image_table
    image_names = dict(zip(images["image_idx"].astype(int), images["name"] + " (" + images["label"] + ")",
                           strict=True))
    if st.session_state.get("explain_image") not in image_names or st.session_state.get("explain_run") != run_id:
        st.session_state.pop("explain_image", None)  # another run's image number names another photo here
    st.session_state["explain_run"] = run_id
    picked_image = st.selectbox("Image (or press Explain under a thumbnail above)", list(image_names),
                                format_func=image_names.get, key="explain_image")
    why = explain.explain(run, int(picked_image), agg)
    left, right = st.columns([1, 3])
    try:
        left.image(why.path, width="stretch")
    except Exception:  # the file may have moved since the run
        left.caption("(image no longer on disk)")
    left.caption(f"{ui.md(why.image)}, true class **{ui.md(why.label)}**")
    right.markdown(f"**{explain.summary(why)}**")
    right.dataframe(explain.level_table(why), hide_index=True,
                    column_config={"top_names": st.column_config.TextColumn("top names (class) cosine",
                                                                            width="large")})


store, runs = every_run()
if not PRESENT:
    run_history(runs)
    names_pair(runs)
shown = choose_runs(store, runs)
curves = tables.curves(store.points(shown.chosen))
curves = curves[curves["n_images"] > 0]
if PRESENT:
    presented(shown, curves)
    st.stop()
curve_section(shown, curves)
two_runs(shown)
run_id, preds, agg, level = look_inside(shown)
class_sections(preds, run_id, agg, level)
misclassified(preds, agg, level)
run = finished_run(run_id)
if name_effects_section(run, run_id, agg):
    recommendation(run, run_id, agg)
explain_one(run, run_id, agg)
