"""Streamlit helpers shared by the dashboard pages: settings in the session, the store, the backend."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import streamlit as st

from semscale.analysis import compare, run_embeddings, whatif
from semscale.analysis.tables import curves
from semscale.app import figures
from semscale.core import paths
from semscale.core.errors import SemscaleError
from semscale.core.wording import count, printable
from semscale.data import datasets
from semscale.models import encoders, health, registry, settings
from semscale.names import classnames, synonyms, wordnet
from semscale.names.labels import LabelSet, as_left, name_rows
from semscale.run import jobs, presets, runs
from semscale.run.config import RunConfig
from semscale.store import runqueue, workspace
from semscale.store.results import ResultsStore, RunInfo


@st.cache_resource
def preload() -> threading.Thread:
    """Load what every first Run page needs, in the background as the server starts: WordNet (the
    classes' display names; about 1.4 s alone, 300 MB, once per process) and fastembed's model
    registry (the model picker's download sizes; a heavy import). In a classroom twenty first visits
    would otherwise wait for both together, stretched to ~10 s by the load. Failing here (no copy,
    no network) is quiet: the page that needs it says why."""
    def load() -> None:
        for step in (wordnet.reader, lambda: registry.get().descriptions()):
            try:
                step()
            except Exception:  # noqa: BLE001 - reported by the page that needs it
                pass
    thread = threading.Thread(target=load, daemon=True, name="preload")
    thread.start()
    return thread


def results_path() -> str:
    return st.session_state.setdefault("results_path", str(paths.results_path()))


def store() -> ResultsStore:
    return ResultsStore(results_path())


# --- live reads: one read of the results file per second serves every session ---------------------

LIVE_TTL = 1.0  # s one read of the results file (or of the run queue) serves every session's live view
LIVE_WAIT = 2.0  # s a live read waits for a busy file; then the view says "retrying" and the page stays usable


def _stamp(path: str) -> tuple:
    """When the results file and its write-ahead log last changed: any write makes a read out of date at
    once, so a shared read is never older than the file; the TTL only bounds how late a dead run's process is seen."""
    def one(p: str) -> tuple[int, int] | None:
        try:
            st_ = os.stat(p)
        except FileNotFoundError:
            return None
        return st_.st_mtime_ns, st_.st_size
    return one(path), one(path + ".wal")


@dataclass
class _Answer:
    """The newest answer to one live read, and the lock held while it is being read again."""

    stamp: tuple | None = None  # the file's stamp when it was read
    at: float = -LIVE_TTL  # monotonic time of the last attempt, good or not
    value: object = None
    error: Exception | None = None  # why the last attempt failed (the file stayed busy), if it did
    ever: bool = False  # whether `value` was ever read
    reading: threading.Lock = field(default_factory=threading.Lock)

    def settled(self, stamp: tuple) -> bool:
        """Nothing to read now: read (or tried, in vain) this second, and the file did not change since."""
        return time.monotonic() - self.at < LIVE_TTL and (self.stamp == stamp or self.error is not None)

    def give(self):
        if self.error is not None and not self.ever:
            raise self.error
        return self.value


class LiveReads:
    """The newest answer to each live read (runs, a run's points) of each results file, shared by
    every session of this server.

    An answer is read again when the file changed (`_stamp`) or LIVE_TTL passed. The session that
    finds it out of date reads (waiting up to LIVE_WAIT while the runs commit to the file); any other
    session asking meanwhile gets the previous answer at once instead of queueing behind that read,
    so with twenty pages open only one waits for the file, however long the runs hold it. A read
    that found the file busy is not tried again by the others within LIVE_TTL (they get the previous
    answer, or the same error when there is none yet). The very first read is waited for by all.
    """

    MAX_ANSWERS = 256

    def __init__(self):
        self._lock = threading.Lock()
        self._answers: dict[tuple, _Answer] = {}

    def get(self, key: tuple, stamp: tuple, read):
        with self._lock:
            answer = self._answers.get(key)
            if answer is None:
                answer = self._answers[key] = _Answer()
                while len(self._answers) > self.MAX_ANSWERS:
                    del self._answers[next(iter(self._answers))]
        if answer.settled(stamp):
            return answer.give()
        if not answer.reading.acquire(blocking=not answer.ever and answer.error is None):
            return answer.give()  # another session is reading it now: the previous answer, at once
        try:
            if not answer.settled(stamp):  # unless it was read while this session waited for the first answer
                try:
                    answer.value, answer.ever, answer.error = read(), True, None
                except Exception as exc:
                    answer.error = exc
                    raise
                finally:
                    answer.stamp, answer.at = stamp, time.monotonic()
            return answer.give()
        finally:
            answer.reading.release()


@st.cache_resource
def _live() -> LiveReads:
    return LiveReads()


@st.cache_data(ttl=LIVE_TTL, max_entries=256, show_spinner=False)
def _place(run_id: str, home: str) -> runqueue.Place | None:
    return runqueue.place(run_id)


def live_runs(limit: int = 20) -> list[RunInfo]:
    """The newest runs of this session's results file, one read shared by every session (`LiveReads`)."""
    path = results_path()
    return list(_live().get((path, "runs", limit), _stamp(path),
                            lambda: ResultsStore(path, wait=LIVE_WAIT).runs(limit=limit)))


def live_points(run_id: str) -> pd.DataFrame:
    """The run's accuracy points, shared like `live_runs`."""
    path = results_path()
    return _live().get((path, "points", run_id), _stamp(path),
                       lambda: ResultsStore(path, wait=LIVE_WAIT).points(run_id)).copy()


LIVE_EVERY = 1.0  # s between a Live view's re-reads while its run works or is being started
IDLE_EVERY = 5.0  # s while it waits in line, has ended, or nothing runs


def live_every(status: str | None) -> float:
    """How often a Live view re-reads the results file, by the status of the run it follows (None:
    not registered yet). A place in line or an ended run changes rarely, and twenty pages each
    redrawing every second kept the dashboard's one process busy (benchmarks/b6_classroom.py)."""
    return LIVE_EVERY if status in ("running", None) else IDLE_EVERY


def queue_place(run_id: str) -> runqueue.Place | None:
    """Where the run waits in the run queue, looked up at most once a second for all sessions."""
    return _place(run_id, str(paths.data_home()))


def backend() -> settings.Backend:
    """The backend chosen in this session; defaults to the server in secrets/env, else embedded."""
    if "backend" not in st.session_state:
        st.session_state["backend"] = settings.backend()
    return st.session_state["backend"]


HEALTH_WAIT = 1.5  # s a page waits for a backend check before it shows "starting" and goes on
HEALTH_TTL = 15.0  # s a finished check is trusted; a newer one then runs while the old answer is shown


class _Check:
    """One `health.check` on a daemon thread (loading a model, or a first download, takes long),
    with the fetch's progress when the embedded model is being downloaded; `previous` is the answer
    of the check it replaces, shown while it runs."""

    def __init__(self, b: settings.Backend, previous: health.Health | None = None):
        self.result: health.Health | None = None
        self.previous = previous
        self.finished = 0.0
        self.download = health.Download(b)
        self._thread = threading.Thread(target=self._run, args=(b,), daemon=True, name="backend check")
        self._thread.start()

    def _run(self, b: settings.Backend) -> None:
        try:
            self.result = health.check(b)
        except Exception as exc:  # the page must always get an answer
            self.result = health.Health(False, f"the backend check failed: {exc}", reason=str(exc))
        self.finished = time.monotonic()

    def answer(self) -> health.Health | None:
        """Its own answer; while a re-check runs, the last one at once (twenty pages waiting up to
        HEALTH_WAIT for every re-check made the Run page slow in a classroom); a first check is
        waited for up to HEALTH_WAIT."""
        if self.result is None and self.previous is None:
            self._thread.join(HEALTH_WAIT)
        return self.result or self.previous


@st.cache_resource
def _checks() -> dict:
    """Checks of this server process by backend and model environment: shared by every session,
    so one download serves all."""
    return {}


def _check(b: settings.Backend) -> tuple[_Check, health.Health | None]:
    """The backend's current check and the best answer now (`_Check.answer`); a check older than
    HEALTH_TTL is replaced by a new one."""
    key = (b, *(os.environ.get(v) for v in ("SEMSCALE_MODEL_DIR", "FASTEMBED_CACHE_PATH", "HF_ENDPOINT")))
    checks = _checks()
    current = checks.get(key)
    if current is None or (current.result is not None and time.monotonic() - current.finished > HEALTH_TTL):
        current = checks[key] = _Check(b, current.result if current else None)
    return current, current.answer()


def backend_badge() -> health.Health | None:
    """A coloured badge and one line naming the backend (no emoji: they need a colour font);
    None while the check still runs, shown as "starting" with the model download's progress."""
    check, status = _check(backend())
    if status is None:
        _starting(check)
        return None
    colour, word = ("green", "ready") if status.ok else ("red", "not ready")
    st.markdown(f":{colour}-badge[{word}] **CLIP backend:** {status.summary}")
    return status


def backend_health() -> health.Health | None:
    """The current backend's check without its badge (None while it starts): which model a run started now gets."""
    return _check(backend())[1]


@st.fragment(run_every=1.0)
def _starting(check: _Check) -> None:
    """Re-drawn every second until the check is done, then the whole page runs again with its answer."""
    if check.result is not None:
        st.rerun()
    got, rate = check.download.sample()
    st.markdown(":orange-badge[starting] **CLIP backend:** starting the model ...")
    if got and check.download.total:
        st.progress(min(got / check.download.total, 1.0),
                    text=f"fetching the model once: {got / 1e6:,.0f} of about {check.download.total / 1e6:,.0f} MB "
                         f"({rate / 1e6:,.1f} MB/s)")


def run_row(r: RunInfo) -> dict:
    """A run's row in the runs tables of Home and Results: the model by its registry name, as the backend
    badge names it, with the fingerprint of its files beside it."""
    return {"run": r.run_id, "status": r.status, "dataset": r.dataset, "images": f"{r.n_done}/{r.n_images}",
            "started": r.created.strftime("%Y-%m-%d %H:%M"),
            "model": r.model_text() if r.model.startswith("server-probe:") else registry.display_name(r.model),
            "model files": r.model.partition(":")[2][:12] or r.model}


# --- the dataset chosen on the Data page -------------------------------------------------------

def md(text: str) -> str:
    """A class label, dataset or file name for markdown: shown as it is, never rendered (an image
    link in a label would make every viewer's browser fetch its URL), control characters written out."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~:$&])", r"\\\1", printable(text))


def shared() -> bool:
    """Whether this dashboard is served beyond this machine: its `server.address` is not a loopback
    address (unset, Streamlit listens on every interface)."""
    return not settings.is_loopback(st.get_option("server.address") or "")


def data_roots() -> tuple[Path, ...]:
    """Where paths typed on the Data page may lead (`datasets.data_roots`)."""
    return tuple(datasets.data_roots(loopback=not shared()))


@st.cache_data(ttl=60, show_spinner="Listing images ...")
def load_dataset(spec: str, roots: tuple[Path, ...]) -> datasets.Dataset:
    return datasets.load(spec, list(roots))


def current_dataset() -> datasets.Dataset | None:
    """The dataset picked on the Data page, or None (with a hint) when there is none yet. The page's URL
    names it (`?dataset=`), so a browser reload keeps it (the session's state is lost on a reload)."""
    spec = st.session_state.get("dataset") or st.query_params.get("dataset")
    if not spec:
        st.info("Pick or upload a dataset on the **Data** page first.")
        return None
    st.session_state["dataset"] = st.query_params["dataset"] = spec
    try:
        return load_dataset(spec, data_roots())
    except SemscaleError as exc:
        st.error(str(exc))
        return None


def labels_for(ds: datasets.Dataset) -> dict[str, list[str]]:
    """The label table being edited for this dataset (each class's display name until edited)."""
    tables = st.session_state.setdefault("labels", {})
    return tables.setdefault(st.session_state["dataset"], {c: [n] for c, n in display_names(ds).items()})


def kept(key: str, default, options=None) -> str:
    """`key` for a widget whose value survives a visit to another page (Streamlit forgets the state of a
    widget its page did not draw) and a reload (`save_workspace`): its last value, else `default`. Give the
    widget no default of its own. A kept value the widget cannot show (another type, not among `options`:
    say a reload under a newer semscale) gives way to `default`, where the widget would refuse it."""
    last = st.session_state.setdefault("kept_widgets", {})
    if key in st.session_state:
        last[key] = st.session_state[key]
    else:
        value = last.get(key, default)
        st.session_state[key] = value if _suits(value, default, options) else default
    return key


def _suits(value, default, options) -> bool:
    if isinstance(default, list):
        return isinstance(value, list) and all(type(v) is str and (options is None or v in options) for v in value)
    return type(value) is type(default) and (options is None or value in options)


def preset(**values) -> None:
    """Give `kept` widgets these values the next time their page draws them (the demo sets the Run page up
    as it ran)."""
    st.session_state.setdefault("kept_widgets", {}).update(values)
    for key in values:
        st.session_state.pop(key, None)


# --- where the names came from: kept per dataset and stored with every run -------------------------

NAME_STATE = ("display_names", "display_notes", "senses", "domain", "domain_note", "name_notes", "name_scheme",
              "keep_repeats", "relations", "offered", "left", "previous")
# What one table of names is: replaced together by a generator or a load, and restored together.
TABLE = ("labels", "relations", "offered", "name_scheme", "name_notes", "domain_note", "keep_repeats")


def name_state() -> dict[str, dict]:
    """Per-dataset records of the session: display names and their notes, WordNet senses, domain word and
    its reason, the generator's notes, the scheme that made the current table (None: the user's own names),
    whether it repeats names on purpose, the kept names' relations, the rows offered for ticking
    (`labels.name_rows`), those rows as the user left them (`keep`) and the table the current one replaced
    (`restore_labels`)."""
    return {key: st.session_state.setdefault(key, {}) for key in NAME_STATE}


# --- the workspace: what a reload keeps (semscale.store.workspace) ------------------------------------------

KEPT_NAMES = ("labels", *NAME_STATE)  # the session's per-dataset records a reload keeps
LOAD_WAIT = 10.0  # s a session's first page waits to read its workspace from a results file the runs hold
SAVE_WAIT = LIVE_WAIT  # s a save waits (a busy file leaves it to the next page run)


@st.cache_resource
def _issued() -> workspace.Issued:
    """The tokens this server handed out, shared by its sessions."""
    return workspace.Issued()


def open_workspace() -> None:
    """At the top of every page: at a session's first page run, restore the workspace the URL's `?ws=`
    names, or start one; on every run, keep its token in the URL (a page switch drops query parameters).
    Values the session already has win over the stored ones."""
    if "workspace" not in st.session_state and "workspace_unread" not in st.session_state:
        asked = st.query_params.get("ws")
        try:
            opened = workspace.load(results_path(), asked, wait=LOAD_WAIT, issued=_issued())
        except SemscaleError as exc:  # this session never saves: it would overwrite what it could not read
            st.session_state["workspace_unread"] = (f"Your kept names and settings could not be read ({exc}): what "
                                                    "you change now is not kept. Reload the page to try again.")
            st.session_state["workspace_link"] = asked  # for that reload
        else:
            st.session_state["workspace"], st.session_state["workspace_saved"] = opened.token, opened.stored
            st.session_state["workspace_note"] = opened.note
            if opened.state:
                _restore(opened.state)
    if link := st.session_state.get("workspace") or st.session_state.get("workspace_link"):
        st.query_params["ws"] = link
    for key in ("workspace_unread", "workspace_note", "workspace_error"):
        if said := st.session_state.get(key):
            st.warning(said)


def _restore(state: dict) -> None:
    session = st.session_state
    if (dataset := state.get("dataset")) and st.query_params.get("dataset") in (None, dataset):  # a URL's own wins
        session.setdefault("dataset", dataset)
    for key, value in state.get("settings", {}).items():
        session.setdefault("kept_widgets", {}).setdefault(key, value)
    for key, records in state.get("names", {}).items():
        for spec, value in records.items():
            session.setdefault(key, {}).setdefault(spec, value)


def save_workspace() -> None:
    """At the end of every page that changes them (a page that stops or reruns early saves in the run that
    follows): keep the dataset, the names and the Run settings under the workspace's token when they
    changed. A results file that is busy or read-only leaves them unsaved with one line on the next page,
    and the next run tries again. (Not in app.py: Streamlit runs a page without app.py until a session has
    opened Home, as the pages sit in pages/.)"""
    session = st.session_state
    if "workspace" not in session:
        return
    state = {"dataset": session.get("dataset"), "settings": session.get("kept_widgets", {}),
             "names": {key: session.get(key, {}) for key in KEPT_NAMES}}
    try:
        saved = workspace.save(results_path(), session["workspace"], state, session.get("workspace_saved"),
                               wait=SAVE_WAIT)
    except SemscaleError as exc:
        session["workspace_error"] = f"Your names and settings are not kept for a reload: {exc}"
        return
    if saved != session.get("workspace_saved"):
        session["workspace_saved"], session["workspace_note"] = saved, None  # a fresh start's note said its say
    session.pop("workspace_error", None)


def domain_word() -> str | None:
    """The dataset's domain word D for the paper scheme: the session's, else the built-in dataset's own."""
    spec = st.session_state["dataset"]
    return name_state()["domain"].setdefault(spec, runs.domain_word(spec))


def display_names(ds: datasets.Dataset) -> dict[str, str]:
    """The session's display name of each class (natural names from the folder names at first, and for a
    class a folder gained since its names were kept)."""
    shown = name_state()["display_names"]
    spec = st.session_state["dataset"]
    if list(shown.get(spec, ())) != ds.classes:
        made, name_state()["display_notes"][spec] = classnames.display_names(ds.classes)
        shown[spec] = {c: shown.get(spec, {}).get(c, made[c]) for c in ds.classes}
    return shown[spec]


def _records() -> dict[str, dict]:
    return {**name_state(), "labels": st.session_state.setdefault("labels", {})}


def _kept_set(spec: str, classes: list[str] | None = None) -> LabelSet:
    """The dataset's kept names as a LabelSet with their relations (`name`, then `user`, where not known)."""
    state = name_state()
    return LabelSet.clean(st.session_state["labels"][spec], classes,
                          keep_repeats=state["keep_repeats"].get(spec, False), relations=state["relations"].get(spec))


def _table(spec: str) -> dict | None:
    """The dataset's current table (None: none yet), its rows offered as the user left them: the kept
    (edited, ticked) names, each with the gloss it had."""
    table = {key: records.get(spec) for key, records in _records().items() if key in TABLE}
    if table["labels"] is None:
        return None
    glosses: dict[str, dict[str, str]] = {}
    for row in table["offered"] or []:
        glosses.setdefault(row["class"], {})[row["name"]] = row["meaning"]
    table["offered"] = name_rows(_kept_set(spec), glosses)
    return {**table, "name_notes": table["name_notes"] or [], "keep_repeats": bool(table["keep_repeats"])}


def _put_table(spec: str, table: dict) -> None:
    records = _records()
    for key in TABLE:
        records[key][spec] = table[key]
    records["left"].pop(spec, None)  # the edits of the table it replaces
    st.session_state["labels_version"] = st.session_state.get("labels_version", 0) + 1  # drops stale editor edits


def set_labels(new: LabelSet, scheme: str | None = None, notes: list[str] | None = None,
               keep_repeats: bool | None = None, glosses: dict[str, dict[str, str]] | None = None,
               domain_note: str | None = None) -> None:
    """Replace the dataset's name table and the rows offered for ticking, keeping the table it replaces for
    `restore_labels` (a generator or a load never loses edited names for good). `scheme` says which
    generator made it (None: the user), `notes` what it had to say (the previous table's notes go with it),
    `keep_repeats` whether it repeats names on purpose (default: when the paper scheme made it), `glosses`
    the WordNet gloss of each name, `domain_note` the paper scheme's domain word and why."""
    spec = st.session_state["dataset"]
    old = _table(spec)
    if old is not None and old["labels"] != new.names:
        name_state()["previous"][spec] = old
    _put_table(spec, {"labels": new.names, "relations": new.relations, "offered": name_rows(new, glosses),
                      "name_scheme": scheme, "name_notes": list(notes or []), "domain_note": domain_note,
                      "keep_repeats": scheme == "paper" if keep_repeats is None else keep_repeats})


def previous_labels() -> dict[str, list[str]] | None:
    """The table the dataset's current one replaced, if any."""
    kept = name_state()["previous"].get(st.session_state["dataset"])
    return kept["labels"] if kept else None


def restore_labels() -> None:
    """Bring back the replaced table with its relations; the current one becomes the one to restore (so a
    restore is undone the same way)."""
    spec = st.session_state["dataset"]
    current, kept = _table(spec), name_state()["previous"].pop(spec)
    name_state()["previous"][spec] = current
    _put_table(spec, kept)


def restore_button(where) -> None:
    """A button that brings back the names the current table replaced, when there are any."""
    before = previous_labels()
    if before is not None:
        where.button(f"Restore the previous names (up to {max(len(v) for v in before.values())} per class)",
                     on_click=restore_labels, key="restore_labels")


def _generate(ds: datasets.Dataset, scheme: str, domain: str | None) -> synonyms.Generated:
    """The dataset's names by `scheme` from the session's display names and senses; a WordNet download
    this needs first shows its progress."""
    spec, state = st.session_state["dataset"], name_state()
    bar = []

    def fetching(fraction: float) -> None:
        if not bar:
            bar.append(st.progress(0.0))
        bar[0].progress(min(1.0, fraction), text=f"Fetching WordNet once (nltk's downloader): {fraction:.0%}")

    return synonyms.generate(ds.classes, scheme, display=display_names(ds), domain=domain,
                             senses=state["senses"].get(spec), progress=fetching)


def generate_names(ds: datasets.Dataset, scheme: str, domain: str | None) -> synonyms.Generated:
    """Generate the dataset's names by `scheme` and keep them as the user's (`set_labels`), with the senses
    and domain word they were made with."""
    spec, state = st.session_state["dataset"], name_state()
    made = _generate(ds, scheme, domain)
    state["senses"][spec] = {c: s.id for c, s in made.senses.items()}
    state["domain"][spec] = made.domain if scheme == "paper" else domain
    set_labels(made.labels, scheme, made.notes, glosses=made.glosses, domain_note=made.domain_note)
    return made


def preset_names(ds: datasets.Dataset, preset: str) -> synonyms.Generated:
    """The preset's own names for the dataset (its scheme on the session's display names, senses and domain
    word), made again only when those change. They never replace the user's names, which Custom runs: a
    preset chosen in passing would otherwise overwrite hand-edited ones."""
    spec = st.session_state["dataset"]
    scheme = presets.get(preset).scheme
    inputs = json.dumps([scheme, ds.classes, display_names(ds), name_state()["senses"].get(spec), domain_word()])
    made = st.session_state.setdefault("preset_names", {}).get(spec)
    if made is None or made[0] != inputs:
        made = st.session_state["preset_names"][spec] = (inputs, _generate(ds, scheme, domain_word()))
    return made[1]


def keep(labels: LabelSet, rows: dict[int, dict] | None = None) -> None:
    """The names (and their relations) the Run page uses for the dataset; `rows`: the Synonyms page's
    editor as the user left it (`offered`)."""
    spec = st.session_state["dataset"]
    st.session_state.setdefault("labels", {})[spec] = labels.names
    name_state()["relations"][spec] = labels.relations
    if rows is not None:
        name_state()["left"][spec] = as_left(rows, name_state()["offered"][spec])


def kept_labels(ds: datasets.Dataset) -> LabelSet:
    """The dataset's kept names with their relations: what a class whose base name is being edited keeps."""
    labels_for(ds)
    return _kept_set(st.session_state["dataset"], ds.classes)


def offered(ds: datasets.Dataset, editor: str | None = None) -> list[dict]:
    """The rows of names the Synonyms page offers (`labels.name_rows`): the kept names (each class's
    display name at first) until names are generated, loaded or restored. An `editor` (its widget key)
    drawn afresh, after another page or a reload, has forgotten its edits: it is offered the rows as the
    user left them (`keep`), or it would write the unedited names back."""
    rows, left = name_state()["offered"], name_state()["left"]
    spec = st.session_state["dataset"]
    if rows.get(spec) is None:
        rows[spec] = name_rows(kept_labels(ds))
    elif editor is not None and editor not in st.session_state and left.get(spec) is not None:
        rows[spec] = left[spec]
    return rows[spec]


def run_config(ds: datasets.Dataset, preset: str | None = None, **settings) -> tuple[RunConfig, list[str]]:
    """The run `runs.build` makes of the dataset's current names (a preset's: its own, `preset_names`), with
    the record of where they came from, and its notes."""
    spec, state = st.session_state["dataset"], name_state()
    notes = state["display_notes"].get(spec, [])
    if preset:
        made = preset_names(ds, preset)
        scheme, labels, relations = presets.get(preset).scheme, made.labels.names, made.labels.relations
        record = runs.NameRecord(scheme=scheme, domain=made.domain, domain_note=made.domain_note,
                                 class_names=display_names(ds), senses={c: s.id for c, s in made.senses.items()},
                                 notes=[*notes, *made.notes], keep_repeats=scheme == "paper")
    else:
        scheme, labels, relations = state["name_scheme"].get(spec), labels_for(ds), state["relations"].get(spec)
        paper = scheme == "paper"
        record = runs.NameRecord(scheme=scheme, domain=state["domain"].get(spec) if paper else None,
                                 domain_note=state["domain_note"].get(spec) if paper else None,
                                 class_names=display_names(ds), senses=state["senses"].get(spec) if scheme else None,
                                 notes=[*notes, *(state["name_notes"].get(spec, []) if scheme else [])],
                                 keep_repeats=state["keep_repeats"].get(spec, False))
    return runs.build(spec, ds.classes, preset=preset, labels=labels, relations=relations, record=record, **settings)


# --- the Synonyms page's instant what-if -----------------------------------------------------------

@st.cache_resource(max_entries=4, show_spinner="Reading the run's embeddings ...")
def embeddings(path: str, run_id: str) -> run_embeddings.RunEmbeddings:
    """A finished run never changes, so its matrices are read once; a refusal is not cached."""
    return run_embeddings.load(ResultsStore(path), run_id, results=str(path))


@st.cache_resource(max_entries=4)
def _what_if_baseline(path: str, run_id: str) -> whatif.Baseline:
    """The run's stored curve and last-level outcomes, read once per run as its embeddings are."""
    return whatif.baseline(ResultsStore(path), embeddings(path, run_id))


@st.cache_resource
def _what_if_encoders() -> dict:
    """One encoder per backend for every session's what-ifs: its model loads once, at the first new name."""
    return {}


MEMO_TEXTS = 100_000  # texts a what-if memo keeps per model (200 MB of 512-d vectors) before it starts again


@st.cache_resource
def _what_if_memos() -> dict[str, dict]:
    """Per model, the texts what-ifs encoded and did not store: each is encoded once per server process."""
    return {}


def _what_if_encoder(b: settings.Backend) -> encoders.Encoder:
    made = _what_if_encoders()
    if b not in made:
        made[b] = encoders.for_backend(b)
    return made[b]


def _what_if_memo(model_id: str) -> dict:
    memo = _what_if_memos().setdefault(model_id, {})
    if len(memo) > MEMO_TEXTS:
        memo.clear()
    return memo


@st.cache_data(max_entries=32, show_spinner="Scoring the names on the run's images ...")
def _what_if(path: str, run_id: str, names: tuple, model: str, _encoder: encoders.Encoder,
             _memo: dict) -> tuple[whatif.WhatIf, float]:
    """The what-if of these names on the run, and the seconds it took; a page rerun that changed no name
    (any other click on the page) reuses it: a run with many name orders takes seconds to score."""
    started = time.perf_counter()
    result = whatif.what_if(ResultsStore(path), embeddings(path, run_id), LabelSet({c: list(v) for c, v in names}),
                            _encoder, _memo, _what_if_baseline(path, run_id))
    return result, time.perf_counter() - started


def _save_what_if(ds: datasets.Dataset, run_id: str) -> None:
    """Save as a run's callback: a real run of the kept names with the what-if's run's settings."""
    try:
        # no preset: a preset runs its own names, and these are the table's (with the run's settings, a preset's too)
        config, _ = run_config(ds, **whatif.run_settings(embeddings(results_path(), run_id)))
        started, _ = jobs.start(config, results_path(), backend())
        st.session_state["watch_run"] = started
        st.session_state["what_if_answer"] = ("success", f"Started run {started} with these names and run {run_id}'s "
                                                         "settings; the Run page follows it.")
    except SemscaleError as exc:
        st.session_state["what_if_answer"] = ("error", str(exc))


def what_if_section(ds: datasets.Dataset, labels: LabelSet, blocked: str | None = None) -> None:
    """The instant what-if: a finished run of this dataset with the backend's model, its stored curve beside the
    curve of `labels` (the names being edited) with its settings, and the per-class changes. Only new names are
    encoded and nothing is stored until Save as a run (`blocked`: why it cannot be saved now)."""
    st.subheader("What if: these names on a finished run")
    spec = st.session_state["dataset"]
    if not Path(results_path()).exists():
        st.caption("No finished run on this dataset yet: once one is done (Run page), every edit here shows its "
                   "curve beside the edited names' at once.")
        return
    try:
        finished = [r for r in live_runs(limit=None) if r.status == "done" and not r.partial
                    and compare.dataset_spec(r) == spec]
    except SemscaleError as exc:
        st.warning(f"{exc} (the what-if tries again at the next edit)")
        return
    if not finished:
        st.caption("No finished run on this dataset yet: once one is done (Run page), every edit here shows its "
                   "curve beside the edited names' at once.")
        return
    status = backend_badge()  # None while the backend starts: the page runs again once it answered
    if status is None:
        return
    if not status.ok:
        st.caption("The what-if encodes new names with the CLIP backend, which is not ready (see the Run page).")
        return
    mine = [r for r in finished if r.model == status.model]
    if not mine:
        others = sorted({registry.display_name(r.model) for r in finished})
        st.caption("No finished run on this dataset with the backend's model "
                   f"{registry.display_name(status.model or '')} (finished runs used {', '.join(others)}): "
                   "choose their model under CLIP backend on the Run page.")
        return
    created = {r.run_id: r.created for r in mine}  # newest first
    run_id = mine[0].run_id if len(mine) == 1 else st.selectbox(
        "Finished run", list(created), key="what_if_run", format_func=lambda i: f"{i} ({created[i]:%Y-%m-%d %H:%M})")
    try:
        result, seconds = _what_if(results_path(), run_id, tuple((c, tuple(v)) for c, v in labels.names.items()),
                                   status.model, _what_if_encoder(backend()), _what_if_memo(status.model))
    except SemscaleError as exc:
        st.error(str(exc))
        return
    config = next(r for r in mine if r.run_id == run_id).config
    names = {run_id: f"run {run_id} (its names)", whatif.WHAT_IF: "the names above (not saved)"}
    st.plotly_chart(figures.accuracy_curves(curves(result.points), names,
                                            title=f"What if · {ds.name} · run {run_id} against the names above"),
                    width="stretch", config=figures.export_config(f"{run_id}-what-if"), key="what_if_chart")
    st.caption(f"Run {run_id}'s {count(int(result.points['n_images'].max()), 'image')}, scored with the names above "
               f"and its settings ({config.get('schedule')} schedule, {', '.join(config.get('aggregations', []))}"
               f"{', ' + count(config.get('repeats', 1), 'name order') if config.get('repeats', 1) > 1 else ''}): "
               f"{count(result.encoded, 'new prompt')} encoded, {seconds:.2f} s. Nothing is stored until you save it "
               "as a run.")
    st.dataframe(result.classes.rename(columns={
        "edit": "names changed", "before": f"run {run_id}", "after": "names above", "fixed": "images fixed",
        "broken": "images broken"}), hide_index=True, key="what_if_classes", column_config={
            c: st.column_config.NumberColumn(format="percent") for c in (f"run {run_id}", "names above", "change")})
    st.caption("Per class at the last level (every name): accuracy on the class's own images with the run's names "
               "and with the names above; fixed: images wrong before and right now, broken: the reverse.")
    st.button("Save as a run", on_click=_save_what_if, args=(ds, run_id), disabled=blocked is not None,
              help=blocked or f"starts a real run of these names with run {run_id}'s settings "
                              "(the Run page follows it)")
    if answer := st.session_state.pop("what_if_answer", None):
        getattr(st, answer[0])(answer[1])
        if answer[0] == "success":
            st.page_link("pages/3_Run.py", label="Watch it on the Run page", icon=":material/show_chart:")
