"""A dashboard visitor's workspace: the current dataset, the label sets per dataset and the Run page's
settings, kept in the results file (table `workspaces`) so that a browser reload or another day finds
them again. The page's URL names it (`?ws=<token>`).

The token is the workspace's only key, so it is made unguessable (`secrets`) and stored only as its
SHA-256: the results file holds no working link. A token that is malformed, or that this results file does
not know, gets a fresh workspace under a fresh token, never the one asked for: a link carrying a token its
sender chose would otherwise let the sender read what the visitor keeps there. Nothing from the URL ever
becomes a file path or SQL text.

A stored state is checked against `STATE` before any of it is used; one that does not fit (a damaged file,
a format this version does not know) is one line and a fresh state, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from semscale.core.errors import SemscaleError
from semscale.store.results import ResultsStore

TOKEN_BYTES = 24  # 192 random bits; `secrets.token_urlsafe` writes them as 32 characters
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
VERSION = 1  # of the stored state's format


# --- what a workspace holds: shapes that a stored state is checked against -----------------------------
# A shape is a type (the value is one), None (the value is None), or one of the tuples below.

def _maybe(shape):
    return ("maybe", shape)


def _list(shape):
    return ("list", shape)


def _map(shape):
    """A mapping of text keys (classes, dataset specs, widget keys) to values of `shape`."""
    return ("map", shape)


def _one_of(*shapes):
    return ("one of", *shapes)


NAMES = _map(_list(str))  # class -> its names (or each name's relation), in order
ROW = _map(_one_of(str, bool, None))  # one row offered on the Synonyms page (`labels.name_rows`, `labels.as_left`)
TABLE = {"labels": NAMES, "relations": _maybe(NAMES), "offered": _maybe(_list(ROW)), "name_scheme": _maybe(str),
         "name_notes": _list(str), "domain_note": _maybe(str), "keep_repeats": bool}
# Per dataset (its spec -> value): a label set and where its names came from (the dashboard's ui.NAME_STATE).
RECORDS = {"labels": NAMES, "display_names": _map(str), "display_notes": _list(str), "senses": _map(str),
           "domain": _maybe(str), "domain_note": _maybe(str), "name_notes": _list(str), "name_scheme": _maybe(str),
           "keep_repeats": bool, "relations": _maybe(NAMES), "offered": _maybe(_list(ROW)), "left": _maybe(_list(ROW)),
           "previous": _maybe(TABLE)}
SETTING = _one_of(bool, int, float, str, _list(str))  # a Run page widget's value
STATE = {"version": int, "dataset": _maybe(str), "settings": _map(SETTING),
         "names": {key: _map(shape) for key, shape in RECORDS.items()}}


def fits(value, shape) -> bool:
    """Whether `value` (as JSON gives it) has `shape`; a dict shape allows fewer keys, never others."""
    if shape is None:
        return value is None
    if isinstance(shape, type):  # JSON's true is no number here, and a number no flag
        return isinstance(value, shape) and (shape is bool) == isinstance(value, bool)
    if isinstance(shape, dict):
        return isinstance(value, dict) and all(k in shape and fits(v, shape[k]) for k, v in value.items())
    kind, *inner = shape
    if kind == "maybe":
        return value is None or fits(value, inner[0])
    if kind == "list":
        return isinstance(value, list) and all(fits(v, inner[0]) for v in value)
    if kind == "map":
        return isinstance(value, dict) and all(isinstance(k, str) and fits(v, inner[0]) for k, v in value.items())
    return any(fits(value, s) for s in inner)  # "one of"


# --- tokens and the stored state ---------------------------------------------------------------------

def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_token(text: object) -> bool:
    """Whether `text` has the form `new_token` makes (not whether any workspace has it)."""
    return isinstance(text, str) and _TOKEN.fullmatch(text) is not None


def _key(token: str) -> str:
    """What the results file keeps of a token: its SHA-256, from which the link cannot be rebuilt."""
    return hashlib.sha256(token.encode()).hexdigest()


class Issued:
    """The tokens this process handed out, the newest `limit`: a visitor who reloads before anything was
    saved under theirs keeps their link (no line about an unknown workspace, no second token)."""

    def __init__(self, limit: int = 10_000):
        self.limit = limit
        self._tokens: dict[str, None] = {}
        self._lock = threading.Lock()

    def add(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)
            self._tokens[token] = None
            while len(self._tokens) > self.limit:
                del self._tokens[next(iter(self._tokens))]

    def __contains__(self, token: object) -> bool:
        return token in self._tokens


@dataclass(frozen=True)
class Opened:
    """The workspace a page works in: its token, the state kept under it (None: a fresh one), the text
    of that state as stored (`save` skips a state that has not changed) and what to tell the visitor."""

    token: str
    state: dict | None
    stored: str | None = None
    note: str | None = None


FRESH = "a fresh workspace was started (the names and settings you keep are saved under the page's new link)"


def load(results: str | Path, asked: object, wait: float = 60.0, issued: Issued | None = None) -> Opened:
    """The workspace the URL's `asked` token names in the results file, or a fresh one with a new token and
    a line saying why (none when the URL named none, or named a token `issued` holds that has nothing
    stored yet). The token returned is added to `issued`. Raises SemscaleError only when the file cannot
    be read: the caller must then not save, or it would overwrite a state it never saw. `wait`: as
    `ResultsStore`'s."""
    opened = _load(results, asked, wait, issued)
    if issued is not None:
        issued.add(opened.token)
    return opened


def _load(results: str | Path, asked: object, wait: float, issued: Issued | None) -> Opened:
    if asked is None or asked == "":
        return Opened(new_token(), None)
    if not is_token(asked):
        return Opened(new_token(), None, note=f"The link's workspace name is not one semscale makes: {FRESH}.")
    text = ResultsStore(results, wait=wait).get_workspace(_key(asked))
    if text is None:
        if issued is not None and asked in issued:
            return Opened(asked, None)
        return Opened(new_token(), None, note=f"This link's workspace is not kept in this dashboard's results "
                                              f"file: {FRESH}.")
    try:
        state = json.loads(text)
    except ValueError:
        state = None
    if not fits(state, STATE) or state.get("version") != VERSION:
        return Opened(asked, None, text, note="The names and settings kept for this link could not be read (the "
                                              "stored state is damaged or from another semscale version): you "
                                              "start afresh under the same link.")
    return Opened(asked, state, text)


def save(results: str | Path, token: str, state: dict, stored: str | None = None, wait: float = 60.0) -> str | None:
    """Keep `state` (dataset, settings, names: see STATE) under `token` in the results file; returns the
    text stored. A state equal to `stored` (what the caller last saved or opened) is not written again, nor
    an empty one never stored (a visitor who chose nothing leaves no row): None then."""
    state = {"version": VERSION, **state}
    if stored is None and not (state.get("dataset") or state.get("settings")
                               or any(state.get("names", {}).values())):
        return None
    try:
        text = json.dumps(state, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        text = None
    if text is not None and text == stored:  # checked only when it changed: every page run saves
        return text
    if text is None or not fits(state, STATE):
        raise SemscaleError("the workspace state has a value it cannot keep; nothing was saved")  # a caller's bug
    ResultsStore(results, wait=wait).put_workspace(_key(token), text)
    return text
