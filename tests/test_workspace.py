"""The dashboard's workspaces (semscale.store.workspace) in a real DuckDB results file: what a reload keeps, under
which link, and what an unknown, malformed or damaged one gets instead."""

from __future__ import annotations

import hashlib
import json
import shutil

import duckdb
import pytest
from test_hostile_input import read_only  # noqa: F401  (fixture: a read-only bind mount)

from semscale.core.errors import SemscaleError
from semscale.names.labels import LabelSet, as_left, name_rows, ticked
from semscale.store import workspace
from semscale.store.results import ResultsStore

ROWS = [{"class": "pants", "name": "pants", "relation": "name", "same thing": "yes", "meaning": "a garment",
         "use": True},
        {"class": "pants", "name": "pants", "relation": "plural", "same thing": "yes", "meaning": "", "use": False},
        {"class": "crème", "name": None, "relation": "user", "same thing": "unknown", "meaning": "", "use": True}]
TABLE = {"labels": {"pants": ["pants", "pants"]}, "relations": {"pants": ["name", "plural"]}, "offered": ROWS,
         "name_scheme": "paper", "name_notes": ["'pants' is already plural"], "domain_note": None, "keep_repeats": True}
# Every record a workspace keeps, for two datasets (one a path), with repeats, accents, None and every setting type.
STATE = {"dataset": "/data/my flowers",
         "settings": {"protocol": "Custom", "aggregations": ["max", "probsum"], "repeats": 3, "seed": 0,
                      "templates": "a photo of a {}.", "flag": True, "ratio": 0.5},
         "names": {"labels": {"clothing": {"pants": ["pants", "pants"], "crème": ["crème brûlée", "naïve"]},
                              "/data/my flowers": {"rose": ["rose"]}},
                   "display_names": {"clothing": {"pants": "pants", "crème": "crème brûlée"}},
                   "display_notes": {"clothing": ["classes are shown by their cleaned folder names"]},
                   "senses": {"clothing": {"pants": "trouser.n.01"}},
                   "domain": {"clothing": "apparel", "/data/my flowers": None},
                   "domain_note": {"clothing": "domain word D: 'apparel', as given"},
                   "name_notes": {"clothing": []}, "name_scheme": {"clothing": "paper", "/data/my flowers": None},
                   "keep_repeats": {"clothing": True}, "relations": {"clothing": {"pants": ["name", "plural"]}},
                   "offered": {"clothing": ROWS, "/data/my flowers": None}, "left": {"clothing": ROWS[:1]},
                   "previous": {"clothing": TABLE, "/data/my flowers": None}}}


def stored(db) -> list[tuple]:
    con = duckdb.connect(str(db))
    try:
        return con.execute("SELECT key, state, updated FROM workspaces ORDER BY key").fetchall()
    finally:
        con.close()


def test_a_workspace_round_trips_every_record_it_keeps(tmp_path):
    db = tmp_path / "r.duckdb"
    fresh = workspace.load(db, None)
    assert fresh.state is None and fresh.note is None and workspace.is_token(fresh.token)
    assert set(STATE["names"]) == set(workspace.RECORDS)  # the designed state has every record
    text = workspace.save(db, fresh.token, STATE)
    again = workspace.load(db, fresh.token)
    assert again == workspace.Opened(fresh.token, {"version": workspace.VERSION, **STATE}, text, None)
    assert again.state["names"]["labels"]["clothing"]["pants"] == ["pants", "pants"]  # the paper's repeat kept
    [(_, _, updated)] = stored(db)
    assert workspace.save(db, fresh.token, STATE, text) == text  # unchanged: not written again
    assert stored(db)[0][2] == updated
    changed = {**STATE, "settings": {**STATE["settings"], "repeats": 4}}
    workspace.save(db, fresh.token, changed, text)
    assert workspace.load(db, fresh.token).state["settings"]["repeats"] == 4


def test_tokens_are_unguessable_and_the_file_keeps_only_their_hash(tmp_path):
    tokens = {workspace.new_token() for _ in range(1000)}
    assert len(tokens) == 1000 and all(workspace.is_token(t) and len(t) == 32 for t in tokens)  # 192 random bits
    db = tmp_path / "r.duckdb"
    token = workspace.new_token()
    workspace.save(db, token, STATE)
    assert [k for k, _, _ in stored(db)] == [hashlib.sha256(token.encode()).hexdigest()]
    ResultsStore(db).runs()  # the write-ahead log checkpointed into the file
    files = [p for p in tmp_path.iterdir() if p.is_file()]
    assert files and not [p for p in files if token.encode() in p.read_bytes()]


def test_an_unknown_token_gets_a_fresh_workspace_never_another_visitors(tmp_path):
    db = tmp_path / "r.duckdb"
    mine = workspace.new_token()
    workspace.save(db, mine, STATE)
    key = hashlib.sha256(mine.encode()).hexdigest()
    near = mine[:-1] + ("A" if mine[-1] != "A" else "B")
    for asked in (workspace.new_token(), near, key, key[:32]):
        opened = workspace.load(db, asked)
        assert opened.state is None and opened.stored is None
        assert opened.token not in (asked, mine) and workspace.is_token(opened.token)
        assert opened.note.endswith("a fresh workspace was started (the names and settings you keep are saved "
                                    "under the page's new link).")
    assert len(stored(db)) == 1  # nothing was made under the asked names


@pytest.mark.parametrize("asked", ["../../etc/passwd", "/tmp/x.duckdb", "a" * 31, "a" * 33, "é" * 32,
                                   "' OR '1'='1' --" + "a" * 17, "a" * 31 + "\n", "a b" * 11, 12345, ["a" * 32]])
def test_a_malformed_token_is_never_looked_up_nor_made_a_path(tmp_path, asked):
    db = tmp_path / "never.duckdb"
    opened = workspace.load(db, asked)
    assert opened.state is None and opened.token != asked and workspace.is_token(opened.token)
    assert opened.note.startswith("The link's workspace name is not one semscale makes: a fresh workspace")
    assert list(tmp_path.iterdir()) == []  # the results file was not even opened


def test_no_token_is_a_quiet_fresh_start_without_opening_the_file(tmp_path):
    for asked in (None, ""):
        opened = workspace.load(tmp_path / "never.duckdb", asked)
        assert opened.state is None and opened.note is None and workspace.is_token(opened.token)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", ["{not json", "[]", "null", json.dumps({"version": 99}),
                                    json.dumps({"version": 1, "names": {"labels": {"clothing": {"pants": "pants"}}}}),
                                    json.dumps({"version": 1, "settings": {"repeats": {"nested": 1}}}),
                                    json.dumps({"version": 1, "dataset": 7}),
                                    json.dumps({"version": 1, "names": {"offered": {"x": [{"use": 1}]}}}),
                                    json.dumps({"version": 1, "unknown": {}}),
                                    json.dumps({"version": True})])
def test_a_damaged_state_is_one_line_and_a_fresh_state_under_the_same_link(tmp_path, damage):
    db = tmp_path / "r.duckdb"
    mine, other = workspace.new_token(), workspace.new_token()
    workspace.save(db, other, STATE)
    ResultsStore(db).put_workspace(hashlib.sha256(mine.encode()).hexdigest(), damage)
    opened = workspace.load(db, mine)
    assert (opened.token, opened.state, opened.stored) == (mine, None, damage)
    assert opened.note == ("The names and settings kept for this link could not be read (the stored state is damaged "
                           "or from another semscale version): you start afresh under the same link.")
    workspace.save(db, mine, {"dataset": "clothing"}, opened.stored)  # the next save replaces it
    assert workspace.load(db, mine).state == {"version": 1, "dataset": "clothing"}
    assert workspace.load(db, other).state == {"version": 1, **STATE}  # nothing else lost


def test_a_token_this_server_issued_is_kept_until_something_is_saved(tmp_path):
    db = tmp_path / "r.duckdb"
    issued = workspace.Issued()
    first = workspace.load(db, None, issued=issued)
    again = workspace.load(db, first.token, issued=issued)  # a reload before any change
    assert (again.token, again.state, again.note) == (first.token, None, None)
    elsewhere = workspace.load(db, first.token, issued=workspace.Issued())  # another server never issued it
    assert elsewhere.token != first.token and elsewhere.note
    few = workspace.Issued(limit=2)
    for t in ("a" * 32, "b" * 32, "c" * 32):
        few.add(t)
    assert "a" * 32 not in few and "b" * 32 in few and "c" * 32 in few


def test_a_visitor_who_chose_nothing_leaves_no_row(tmp_path):
    db = tmp_path / "r.duckdb"
    token = workspace.new_token()
    empty = {"dataset": None, "settings": {}, "names": {key: {} for key in workspace.RECORDS}}
    assert workspace.save(db, token, empty) is None and not db.exists()
    text = workspace.save(db, token, {**empty, "dataset": "clothing"})
    assert workspace.save(db, token, empty, text) != text  # once kept, emptied is kept too
    assert workspace.load(db, token).state["dataset"] is None


def test_a_state_the_workspace_cannot_keep_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(SemscaleError, match="cannot keep"):
        workspace.save(tmp_path / "r.duckdb", workspace.new_token(), {"settings": {"when": object()}})
    assert not (tmp_path / "r.duckdb").exists()


def test_shapes_tell_flags_from_numbers_and_allow_fewer_keys_only():
    assert workspace.fits(3, int) and not workspace.fits(True, int) and not workspace.fits(1, bool)
    names = workspace.STATE["names"]
    assert workspace.fits({"labels": {}}, names) and not workspace.fits({"x": {}}, names)
    assert workspace.fits({"a": ["x", "y"]}, workspace.NAMES) and not workspace.fits({"a": [None]}, workspace.NAMES)
    assert not workspace.fits({1: ["x"]}, workspace.NAMES)  # JSON never gives such keys; a caller might


def test_a_schema_3_file_gains_the_table_and_a_read_only_one_still_opens(tmp_path, read_only):  # noqa: F811
    """The table came without a schema change: a file from before it opens as it did, read-only too."""
    made = read_only.parent / "rw" / "made.duckdb"
    ResultsStore(made)
    con = duckdb.connect(str(made))
    con.execute("DROP TABLE workspaces")  # as a file of schema 3 written before this change
    con.close()
    old = read_only.parent / "rw" / "old.duckdb"
    shutil.copy(made, old)  # a file this process never opened
    token = workspace.new_token()
    assert workspace.load(read_only / "old.duckdb", token).note  # read-only, without the table: a fresh one
    with pytest.raises(SemscaleError, match="is read-only"):
        workspace.save(read_only / "old.duckdb", token, STATE)
    workspace.save(old, token, STATE)  # writable: the table is made on opening
    assert workspace.load(old, token).state == {"version": 1, **STATE}
    con = duckdb.connect(str(old))
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("3",)
    con.close()
    assert workspace.load(read_only / "old.duckdb", token).state == {"version": 1, **STATE}


# --- the Synonyms page's editor as the user left it (labels.as_left) --------------------------------------

def test_the_editor_is_offered_again_as_the_user_left_it():
    """A fresh editor (another page, a reload) has forgotten its edits: the folded rows give back the same
    table, and ticking them gives the same names and relations as the edits did."""
    kept = LabelSet.clean({"cat": ["cat", "cats", "kitty"], "dog": ["dog"]},
                          relations={"cat": ["name", "plural", "synonym"], "dog": ["name"]})
    offered = name_rows(kept, {"cat": {"kitty": "a young cat"}})
    edits = {0: {**offered[0], "name": "feline"}, 1: offered[1], 2: {**offered[2], "use": False},
             4: {"class": "dog", "name": "hound", "use": True}, 5: {"class": "dog", "name": None, "use": True}}
    rows = {i: {**offered[i], **row} if i < len(offered) else row for i, row in edits.items()}  # row 3 deleted
    left = as_left(rows, offered)
    assert [(r["class"], r["name"], r["relation"], r["meaning"], r["use"]) for r in left] == [
        ("cat", "feline", "user", "", True), ("cat", "cats", "plural", "", True),
        ("cat", "kitty", "synonym", "a young cat", False), ("dog", "hound", "user", "", True)]
    edited = ticked(rows, offered, ["cat", "dog"], current=kept)
    again = ticked(dict(enumerate(left)), left, ["cat", "dog"], current=edited)
    assert again.names == edited.names == {"cat": ["feline", "cats"], "dog": ["hound"]}
    assert again.relations == edited.relations == {"cat": ["user", "plural"], "dog": ["user"]}
    emptied = as_left({0: {**offered[0], "name": ""}}, offered)  # an emptied base stays empty, so Save still waits
    assert [(r["name"], r["relation"]) for r in emptied] == [("", "user")]
