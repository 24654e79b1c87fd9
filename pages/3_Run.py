"""Run: choose schedule, aggregations, templates and backend; start, cancel and watch the curve grow."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timezone

import streamlit as st

import ui
from semscale.analysis import tables
from semscale.app import figures
from semscale.core.errors import SemscaleError
from semscale.core.wording import count
from semscale.models import registry, settings
from semscale.run import aggregations, jobs, presets, schedule
from semscale.run.config import template_error
from semscale.store import runqueue
from semscale.store.results import RunInfo

st.set_page_config(page_title="semscale · Run", page_icon="▶️", layout="wide")
ui.open_workspace()  # the names and settings kept under the URL's ?ws=
st.title("Run")
SCHEDULES = ["exponential", "linear", "explicit"]

def server_backend(current: settings.Backend) -> None:
    """A clip-as-service server by URL, with its token and the model it serves, checked before use."""
    url = st.text_input("Server URL", value=current.server or "grpc://127.0.0.1:51000",
                        help="grpc, grpcs, http, https, ws or wss")
    token = st.text_input("Token (optional)", type="password", value="",
                          help="Kept in this browser session only; never stored with results. Left empty, "
                               "the configured token goes to the configured server only.")
    named = st.text_input("Server's model (optional)", value=current.server_model or "", key="server_model",
                          help="e.g. ViT-B-32::openai: stored with each run beside the model's fingerprint, "
                               "since clip-as-service never says which model it serves")
    if st.button("Use this server"):
        try:
            url = settings.server_url(url)
            settings.check_server_target(url, ui.shared())
            st.session_state["backend"] = settings.Backend(
                server=url, token=settings.token_for(url, token or None, previous=current),
                server_model=named.strip() or None)
            st.rerun()
        except SemscaleError as exc:
            st.error(str(exc))


def embedded_model(current: settings.Backend) -> None:
    """The registry model the embedded backend runs (a server serves its own)."""
    chosen = current.model or registry.get().name
    pick = st.selectbox("Embedded model", list(registry.REGISTRY), index=list(registry.REGISTRY).index(chosen),
                        key="model", help="see `semscale models`; fetched once on first use",
                        format_func=lambda m: f"{m} ({registry.REGISTRY[m].licence}, "
                                              f"{registry.REGISTRY[m].download_gb():.2f} GB download)")
    if pick != chosen:
        st.session_state["backend"] = dataclasses.replace(current, model=pick)
        st.rerun()


def backend_section():
    """The CLIP backend expander; its health as the badge last read it (None while it starts)."""
    with st.expander("CLIP backend", expanded=False):
        current = ui.backend()
        kind = st.radio("Backend", ["Embedded model", "CLIP server"], horizontal=True,
                        index=1 if current.server else 0)
        if kind == "CLIP server":
            server_backend(current)
        elif current.server and st.button("Use the embedded model"):
            st.session_state["backend"] = settings.Backend(server=None, model_dir=current.model_dir)
            st.rerun()
        else:
            embedded_model(current)
        return ui.backend_badge()


def protocol(ds) -> tuple[bool, dict[str, list[str]], bool]:
    """Paper preset or Custom; the names the run will use (the preset's own, or the user's), and whether the
    preset's names could not be made. Says what the names' builder says before a run."""
    paper = st.radio("Protocol", ["Custom", "Paper preset"], horizontal=True,
                     key=ui.kept("protocol", "Custom", ["Custom", "Paper preset"]),
                     help="Paper preset: exactly what the study's authors did. Custom: semscale's extensions "
                          "(other schedules, templates, aggregations, name orders).") == "Paper preset"
    names, preset_failed = ui.labels_for(ds), False
    if paper:
        try:
            made = ui.preset_names(ds, "paper")
            names = made.labels.names
            st.info(f"The paper preset runs its own names, made by the authors' scheme from your display names "
                    f"(domain word: {ui.md(made.domain or 'none')}). Your names on the Synonyms page are untouched: "
                    "Custom runs them.")
        except SemscaleError as exc:
            st.error(str(exc))
            preset_failed = True
    max_names = max(len(v) for v in names.values())
    st.caption(f"Dataset **{ui.md(ds.name)}**: {count(len(ds.samples), 'image')}, "
               f"{count(len(names), 'class', 'classes')}, "
               f"up to {count(max_names, 'name')} per class"
               + (" (the paper preset's)." if paper else " (edit them on the Synonyms page)."))
    try:  # what the names' builder says before a run: the domain word D and why, ...
        _, name_notes = ui.run_config(ds, "paper" if paper else None) if not preset_failed else (None, [])
    except SemscaleError as exc:
        name_notes = [str(exc)]
    for note in name_notes:
        st.info(note[0].upper() + note[1:] + ".")
    return paper, names, preset_failed


def paper_settings(c2) -> tuple[dict, list[str]]:
    """The preset's settings, plus any of semscale's aggregations beside its max; no template problems."""
    preset = presets.PRESETS["paper"]
    extras = [a for a in aggregations.names() if a != "max"]
    extra = c2.multiselect("Extra aggregations (semscale's, beside max)", extras,
                           key=ui.kept("extra_aggregations", [], extras))
    return dict(schedule=preset.schedule, aggregations=list(dict.fromkeys([*preset.aggregations, *extra])),
                templates=list(preset.templates), repeats=preset.repeats, seed=0), []


def custom_settings(c1, c2, c3) -> tuple[dict, list[str]]:
    """Schedule, aggregations, templates, name orders and seed as chosen (kept across pages and reloads);
    and what is wrong with the templates."""
    kind = c1.selectbox("Schedule", SCHEDULES, key=ui.kept("schedule", "exponential", SCHEDULES))
    spec = kind
    if kind == "linear":
        spec = f"linear:{c1.number_input('Step', 1, 64, key=ui.kept('step', 1, range(1, 65)))}"
    elif kind == "explicit":
        spec = c1.text_input("Levels", help="names per class, comma-separated", key=ui.kept("levels", "1,2,3"))
    aggs = c2.multiselect("Aggregations", aggregations.names(),
                          key=ui.kept("aggregations", ["max"], aggregations.names()),
                          help="; ".join(f"{a}: {aggregations.get(a).help}" for a in aggregations.names()))
    templates = c3.text_area("Prompt templates (one per line, {} is the name)", height=90,
                             key=ui.kept("templates", ""))
    template_lines = [t.strip() for t in templates.splitlines() if t.strip()]
    bad_templates = [f"Template {t!r} {problem}." for t in template_lines if (problem := template_error(t))]
    for message in bad_templates:
        c3.error(message)
    repeats = c2.number_input("Name orders (repeats)", 1, 50, help="extra orders shuffle each class's extra names",
                              key=ui.kept("repeats", 1, range(1, 51)))
    seed = c3.number_input("Seed", 0, 2**31 - 1, key=ui.kept("seed", 0, range(2**31)))
    return dict(schedule=spec, aggregations=aggs, templates=template_lines, repeats=int(repeats),
                seed=int(seed)), bad_templates


def levels_preview(c1, spec: str, max_names: int) -> list[int] | None:
    """The levels the schedule gives for these names (None when it is not valid, with why)."""
    try:
        levels = schedule.parse(spec, max_names)
    except SemscaleError as exc:
        c1.error(str(exc))
        return None
    c1.caption(f"Levels: {', '.join(map(str, levels))}")
    if cut := schedule.cut_note(spec, max_names):
        c1.warning(cut[0].upper() + cut[1:] + ".")
    return levels


def start_run(ds, paper: bool, backend: settings.Backend, chosen: dict) -> None:
    """Start's callback, with the settings shown when it was clicked: it runs even when the click's
    rerun merges into a Live tick's (a fragment run, in which the page body below does not run)."""
    try:
        config, _ = ui.run_config(ds, presets.PRESETS["paper"].name if paper else None, **chosen)
        run_id, _ = jobs.start(config, ui.results_path(), backend)
        st.session_state["watch_run"] = run_id
        st.session_state["start_answer"] = ("success", f"Started run {run_id}; Live below follows it.")
    except SemscaleError as exc:
        st.session_state["start_answer"] = ("error", str(exc))


def run_settings(ds, health) -> None:
    """The protocol, the run's settings and the Start button (disabled, with why, until a run can start)."""
    backend = ui.backend()
    paper, names, preset_failed = protocol(ds)
    c1, c2, c3 = st.columns(3)
    chosen, bad_templates = paper_settings(c2) if paper else custom_settings(c1, c2, c3)
    levels = levels_preview(c1, chosen["schedule"], max(len(v) for v in names.values()))
    if paper and not preset_failed:
        preview, _ = ui.run_config(ds, "paper", aggregations=chosen["aggregations"])  # what Start will run
        c3.markdown("\n".join(f"- {line}" for line in presets.protocol_lines(vars(preview))[1:]))
    if not chosen["aggregations"]:
        c2.error("Choose at least one aggregation.")
    blockers = [why for blocked, why in (
        (not chosen["aggregations"], "choose at least one aggregation"),
        (levels is None, "the schedule is not valid (see above)"),
        (bool(bad_templates), "every prompt template needs exactly one plain {} for the name"),
        (preset_failed, "the paper preset's names could not be made (see above)"),
        (health is None, "the CLIP backend is still starting"),
        (health is not None and not health.ok, "the CLIP backend is not ready (open CLIP backend above)"),
    ) if blocked]
    start, why = st.columns([1, 6], vertical_alignment="center")
    if blockers:
        why.caption("Start is disabled: " + "; ".join(blockers) + ".")
    start.button("Start", type="primary", disabled=bool(blockers), on_click=start_run,
                 args=(ds, paper, backend, chosen))
    if answer := st.session_state.pop("start_answer", None):  # the click's answer, even when Live shows the run late
        getattr(st, answer[0])(answer[1])


backend_health = backend_section()
dataset = ui.current_dataset()
if dataset is not None:
    run_settings(dataset, backend_health)
ui.save_workspace()  # what this run changed, kept for a reload

st.divider()
st.subheader("Live")


def followed(runs: list[RunInfo]) -> RunInfo | None:
    """The run this session's Live view follows: the one started here, else one at work, else the newest."""
    watch = st.session_state.get("watch_run")
    working = [r for r in runs if r.status in ("running", "queued")]
    return next((r for r in runs if r.run_id == watch), working[0] if working else (runs[0] if runs else None))


def pace(runs: list[RunInfo]) -> str | None:
    """The status the Live view's pace follows: the followed run's, or None while a run started here
    is not registered yet (it is about to be: follow it closely)."""
    run, watch = followed(runs), st.session_state.get("watch_run")
    return None if run is None or (watch and run.run_id != watch) else run.status


try:
    PACE = pace(ui.live_runs())  # as this page run starts
except SemscaleError:
    PACE = None


def cancel(run: RunInfo, saying: str) -> None:
    """Cancel's callback: it signals the run before the page reads the results file again (which the run
    may keep busy for seconds), with the run as the Live view last read it."""
    if jobs.cancel(None, run.run_id, info=run):
        st.toast(saying)


@st.fragment(run_every=ui.live_every(PACE))
def live() -> None:
    """Re-reads the results file (one read shared by all sessions) every second while the followed
    run works, every few seconds otherwise (`ui.live_every`): works for runs started here or from the CLI."""
    try:
        runs = ui.live_runs()
    except SemscaleError as exc:
        st.warning(f"{exc} (retrying)")
        return
    run = followed(runs)
    if run is None:
        st.caption("No runs yet.")
        return
    if ui.live_every(pace(runs)) != ui.live_every(PACE):
        st.rerun()  # the whole page, to follow at the new pace
    status(run)
    if not run.n_done:
        st.caption("Waiting for the first batch ...")
        return
    curve(run)


def status(run) -> None:
    """The followed run's status line, with its progress, queue place, error or log."""
    st.markdown(f"**Run {run.run_id}** · {ui.md(run.dataset)} · status **{run.status}**")
    if run.status == "running":
        rate, eta = jobs.pace(run, datetime.now(timezone.utc))
        st.progress(run.n_done / max(run.n_images, 1),
                    text=f"{run.n_done}/{run.n_images} images · {rate:.1f} images/s · ETA {eta:.0f} s"
                    if eta is not None else f"{run.n_done}/{run.n_images} images · starting ...")
        st.button("Cancel", key="cancel", on_click=cancel, args=(run, "Cancelling after the current batch ..."))
    elif run.status == "queued":  # its process waits for a slot (semscale.store.runqueue)
        spot = ui.queue_place(run.run_id)
        st.info(f"{spot or 'queued: starting'} · at most {runqueue.capacity()} runs work at once on this machine")
        st.button("Cancel", key="cancel", on_click=cancel, args=(run, "Leaving the queue ..."))
    elif run.error:
        st.error(run.error)
    log = jobs.log_tail(run.run_id, 3)
    if run.status in ("failed", "interrupted") and log:
        st.code(log)


def curve(run) -> None:
    """The followed run's curve so far, from one read of its points."""
    # Said before the curve is read: that read may wait for a file the run keeps busy, and until it returns
    # the page shows what this tick has not redrawn yet (a "waiting" line of an earlier tick stayed up so).
    st.caption(f"{run.partial_note('PARTIAL') if run.partial else count(run.n_done, 'image') + ' scored'} · "
               f"updated {time.strftime('%H:%M:%S')}")
    try:
        curves = tables.curves(ui.live_points(run.run_id))
    except SemscaleError as exc:  # the file stayed busy: the next tick reads it again
        st.warning(f"{exc} (retrying)")
        return
    curves = curves[curves["n_images"] > 0]
    if curves.empty:  # its points are read apart from its row: a commit behind it
        st.caption("The curve follows at the next read of the results file ...")
        return
    st.plotly_chart(figures.accuracy_curves(curves, title=f"Accuracy against names per class · {run.dataset} · "
                                                          f"run {run.run_id}"),
                    width="stretch", config=figures.export_config(f"{run.run_id}-accuracy-by-names"))
    st.caption(f"{count(curves['n_names'].nunique(), 'level')} so far")


live()
