"""The DuckDB results file: runs, accuracy points and per-image predictions (and, through
`EmbeddingCache`, the embedding cache).

Every operation is one short transaction (`semscale.store.files`): a writer commits once per image
batch, so several writers and any number of dashboards share one file, each waiting at most a few
milliseconds per turn. A run has one owner at a time (`semscale.store.owners`). Predictions are keyed
by (run, aggregation, repeat, n_names, image), so no image is ever counted twice. Files of an older
schema are migrated when opened (`semscale.store.schema`).
"""

from __future__ import annotations

import json
import os
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from semscale.core.errors import SemscaleError
from semscale.store import files, schema
from semscale.store.embeddings import EmbeddingCache
from semscale.store.owners import Owner, RunOwned, owner_of

ACTIVE = ("running", "queued")  # "queued": its process waits for a slot (semscale.store.runqueue)
# Rows of the `rejected` table that are remarks on the run's names, not files left out.
NOTE_ITEMS = ("names", "labels")


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    status: str
    dataset: str
    model: str
    created: datetime
    updated: datetime
    n_images: int
    n_done: int
    n_rejected: int
    elapsed: float | None
    error: str | None
    config: dict
    image_order: str = "random"  # 'file': a run of schema 1, processed class by class
    owner: Owner | None = None

    @property
    def partial(self) -> bool:
        return self.status != "done" or self.n_done < self.n_images

    def model_text(self) -> str:
        """The model's fingerprint, and for a run against a server that does not say its model
        (clip-as-service: `server-probe:<hash>`) the name its user gave with the run, or that none was."""
        name = (self.config.get("backend") or {}).get("server_model")
        if name:
            return f"{self.model} ({name}, as named by the user)"
        if self.model.startswith("server-probe:"):
            return f"{self.model} (model name unknown: the server does not say it)"
        return self.model

    def partial_note(self, label: str = "partial") -> str | None:
        """What every reader says of a partial run instead of significance verdicts."""
        if not self.partial:
            return None
        order = ("in random order" if self.image_order == "random"
                 else "in file order, class by class, so not a sample of the data set")
        return f"{label}: {self.n_done:,} of {self.n_images:,} images, {order}; no significance verdicts"


def now() -> datetime:
    return datetime.now(timezone.utc)


class ResultsStore(EmbeddingCache):
    """All reads and writes of one results file."""

    def __init__(self, path: str | Path, wait: float = 60.0):
        self.path = Path(path)
        self.wait = wait
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # Someone else's file, or one on a read-only disk, can still be listed and shown.
        self.read_only = self.path.exists() and not os.access(self.path, os.W_OK)
        # Checked and set up once per file and process: a dashboard makes a store for every live read,
        # and waiting here for a file the runs hold, under this lock, held up every session's reads.
        if files.identity(self.path) in files.READY:
            return
        with files.CREATING, self._connect() as con:  # threads creating tables at once conflict in DuckDB's catalog
            version = schema.version(con)
            if version > schema.SCHEMA_VERSION:
                raise SemscaleError(f"{self.path} was written by a newer semscale (schema {version}); upgrade")
            if self.read_only:
                if version < schema.SCHEMA_VERSION:
                    raise SemscaleError(f"{self.path} is read-only and was written by an older semscale; "
                                        "open a writable copy once to update it")
                files.READY.add(files.identity(self.path))
                return
            schema.upgrade(con, version)
        files.READY.add(files.identity(self.path))

    def _connect(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        return files.transaction(self.path, self.read_only, self.wait)

    # --- runs ----------------------------------------------------------------------------
    def create_run(self, run_id: str, dataset: str, model: str, config: dict, images: pd.DataFrame,
                   names: pd.DataFrame, rejected: pd.DataFrame, status: str = "running") -> None:
        """Register a run owned by this process with its fixed image list, in the (random) order it
        will be processed, and its label set, all or nothing."""
        t, me = now(), Owner.me()
        with self._connect() as con:
            con.execute(
                "INSERT INTO runs (run_id, created, updated, status, dataset, model, config, n_images, n_done, "
                "n_rejected, encode_seconds, score_seconds, write_seconds, pid, host, pid_started, image_order) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, 0, 0, 0, ?, ?, ?, 'random')",
                [run_id, t, t, status, dataset, model, json.dumps(config), len(images),
                 int((~rejected["item"].isin(NOTE_ITEMS)).sum()) if len(rejected) else 0, me.pid, me.host, me.started],
            )
            _insert(con, "run_images", images.assign(run_id=run_id, position=range(len(images))))
            _insert(con, "run_names", names.assign(run_id=run_id))
            if len(rejected):
                _insert(con, "rejected", rejected.assign(run_id=run_id))

    def claim_run(self, run_id: str) -> None:
        """Make this process the run's one owner (start or resume); RunOwned when a live process has it."""
        me = Owner.me()
        with self._connect() as con:
            status, *seen = con.execute("SELECT status, pid, pid_started, host FROM runs WHERE run_id=?",
                                        [run_id]).fetchone()
        owner = owner_of(*seen)
        if status in ACTIVE and owner not in (None, me) and owner.alive():
            raise RunOwned(run_id, owner)
        # Compare-and-swap: take the run only from the owner just judged dead (or from this process).
        # Judging needs no lock; the take is one UPDATE in a transaction of its own, and every
        # ResultsStore transaction holds the file exclusively (another process cannot even open it
        # meanwhile). So if anyone claimed the run since it was read, no row matches and this claim
        # is refused: of two racing claimers, only one ever sees a row count of one.
        with self._connect() as con:
            (taken,) = con.execute(
                "UPDATE runs SET status='running', pid=?, pid_started=?, host=?, updated=?, error=NULL "
                "WHERE run_id=? AND status IS NOT DISTINCT FROM ? AND pid IS NOT DISTINCT FROM ? "
                "AND pid_started IS NOT DISTINCT FROM ? AND host IS NOT DISTINCT FROM ?",
                [me.pid, me.started, me.host, now(), run_id, status, *seen]).fetchone()
        if not taken:
            raise RunOwned(run_id, self.run(run_id).owner)

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> None:
        """Record how this process's work on the run ended; a run another process owns is left alone."""
        me = Owner.me()
        with self._connect() as con:
            con.execute("UPDATE runs SET status=?, error=?, updated=? WHERE run_id=? AND pid=? AND pid_started=? "
                        "AND host=?", [status, error, now(), run_id, me.pid, me.started, me.host])

    def runs(self, limit: int | None = None) -> list[RunInfo]:
        """Newest first; a 'running' or 'queued' run whose process is gone is reported as 'interrupted'."""
        sql = ("SELECT run_id, status, dataset, model, created, updated, n_images, n_done, n_rejected, elapsed, "
               "error, config, pid, pid_started, host, image_order FROM runs ORDER BY created DESC")
        with self._connect() as con:
            rows = con.execute(sql + (f" LIMIT {int(limit)}" if limit else "")).fetchall()
        return [_run_info(r) for r in rows]

    def run(self, run_id: str) -> RunInfo:
        """A run by its id or an unambiguous prefix of it (taken literally: '%' and '_' match themselves)."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT run_id, status, dataset, model, created, updated, n_images, n_done, n_rejected, elapsed, "
                "error, config, pid, pid_started, host, image_order FROM runs "
                "WHERE run_id = ? OR (? <> '' AND starts_with(run_id, ?)) "
                "ORDER BY run_id = ? DESC, run_id", [run_id, run_id, run_id, run_id]).fetchall()
        if not rows:
            raise SemscaleError(f"no run {run_id!r} in {self.path}")
        if rows[0][0] != run_id and len(rows) > 1:
            raise SemscaleError(f"{run_id!r} matches {len(rows)} runs ({', '.join(r[0] for r in rows[:5])}); "
                                "give more of the run id")
        return _run_info(rows[0])

    def run_images(self, run_id: str) -> pd.DataFrame:
        """The run's images in processing order."""
        with self._connect() as con:
            frame = con.execute("SELECT image_idx, name, label, path FROM run_images WHERE run_id=? "
                                "ORDER BY position, image_idx", [run_id]).df()
        return _decode_paths(frame)

    def run_names(self, run_id: str) -> dict[str, list[str]]:
        return self._per_class(run_id, "name")

    def run_relations(self, run_id: str) -> dict[str, list[str | None]]:
        """Each class's names' relations to it, in name order (None: a run of schema < 3 did not keep them)."""
        return self._per_class(run_id, "relation")

    def _per_class(self, run_id: str, column: str) -> dict[str, list]:
        with self._connect() as con:
            rows = con.execute(f"SELECT class, {column} FROM run_names WHERE run_id=? ORDER BY class_idx, position",
                               [run_id]).fetchall()
        out: dict[str, list] = {}
        for cls, value in rows:
            out.setdefault(cls, []).append(value)
        return out

    def finished_images(self, run_id: str) -> set[int]:
        """Images already scored or rejected in this run: a resume skips them."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT DISTINCT image_idx FROM predictions WHERE run_id=? "
                "UNION SELECT image_idx FROM rejected WHERE run_id=? AND image_idx IS NOT NULL",
                [run_id, run_id]).fetchall()
        return {r[0] for r in rows}

    # --- per-batch results -----------------------------------------------------------------
    def init_points(self, run_id: str, points: pd.DataFrame) -> None:
        with self._connect() as con:
            if not con.execute("SELECT count(*) FROM points WHERE run_id=?", [run_id]).fetchone()[0]:
                _insert(con, "points", points.assign(run_id=run_id))

    def commit_batch(self, run_id: str, model_id: str, new_embeddings: dict[str, tuple[str, np.ndarray]],
                     predictions: pa.Table | pd.DataFrame, rejected: pd.DataFrame, seconds: dict[str, float]) -> None:
        """Everything one or more image batches produced, in one transaction: a crash keeps whole commits only.

        `predictions` has the predictions table's columns but run_id (the engine gives an Arrow
        table: inserted without converting Python objects). Only the run's owner commits, and an
        image already scored at a point is refused: either way the whole batch is rolled back with
        a SemscaleError.
        """
        started, me = time.perf_counter(), Owner.me()
        if isinstance(predictions, pd.DataFrame):
            predictions = pa.Table.from_pandas(predictions, preserve_index=False)
        with self._connect() as con:
            self._put_embeddings(con, model_id, new_embeddings)
            if len(predictions):
                con.register("new_predictions", predictions)
                try:  # by name: no DESCRIBE per batch to order the columns
                    con.execute("INSERT INTO predictions BY NAME SELECT *, ? AS run_id FROM new_predictions", [run_id])
                except duckdb.ConstraintException:
                    raise SemscaleError(f"run {run_id} already has predictions for some images of this batch; "
                                        "nothing from it was stored") from None
                con.unregister("new_predictions")
                # Read the run's points, add this batch and write them back in one statement.
                gains = _gains(predictions)
                rows = con.execute("SELECT aggregation, repeat, n_names, n_images, correct FROM points WHERE run_id=?",
                                   [run_id]).fetchall()
                totals = {}
                for agg, rep, n, total, correct in rows:
                    count, right = gains.get((agg, rep, n), (0, 0))
                    totals[(agg, rep, n)] = (total + count, correct + right)
                schema.set_points(con, run_id, totals)
            if len(rejected):
                _insert(con, "rejected", rejected.assign(run_id=run_id))
            done = (len(set(predictions["image_idx"].to_pylist())) if len(predictions) else 0) + len(rejected)
            (owned,) = con.execute(
                "UPDATE runs SET n_done = n_done + ?, n_rejected = n_rejected + ?, updated=?, "
                "encode_seconds = encode_seconds + ?, score_seconds = score_seconds + ?, "
                "write_seconds = write_seconds + ?, elapsed = coalesce(elapsed, 0) + ? "
                "WHERE run_id=? AND pid=? AND pid_started=? AND host=?",
                [done, len(rejected), now(), seconds.get("encode", 0), seconds.get("score", 0),
                 time.perf_counter() - started, seconds.get("total", 0) + time.perf_counter() - started, run_id,
                 me.pid, me.started, me.host]).fetchone()
            if not owned:
                raise SemscaleError(f"run {run_id} is no longer owned by this process; nothing from this batch "
                                    "was stored")

    def set_intervals(self, run_id: str, intervals: pd.DataFrame) -> None:
        """Replace the points' intervals (e.g. by bootstrap ones once all images are scored)."""
        with self._connect() as con:
            con.register("intervals", intervals)
            con.execute("UPDATE points SET ci_low = i.ci_low, ci_high = i.ci_high FROM intervals i "
                        "WHERE points.run_id = ? AND points.aggregation = i.aggregation "
                        "AND points.repeat = i.repeat AND points.n_names = i.n_names", [run_id])
            con.unregister("intervals")

    # --- dashboard workspaces (semscale.store.workspace) ----------------------------------------------
    def get_workspace(self, key: str) -> str | None:
        """The state kept under `key`, or None. A file of schema 3 opened read-only has no such table:
        the table came without a schema change, since it adds what older versions may ignore."""
        with self._connect() as con:
            if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'workspaces' "
                               "AND database_name = current_database()").fetchone()[0]:
                return None
            row = con.execute("SELECT state FROM workspaces WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def put_workspace(self, key: str, state: str) -> None:
        with self._connect() as con:
            con.execute("INSERT OR REPLACE INTO workspaces VALUES (?, ?, ?)", [key, state, now()])

    # --- reading results ------------------------------------------------------------------------
    def points(self, run_ids: list[str] | str) -> pd.DataFrame:
        ids = [run_ids] if isinstance(run_ids, str) else list(run_ids)
        with self._connect() as con:
            return con.execute(
                "SELECT * EXCLUDE (run_id), run_id FROM points WHERE list_contains(?, run_id) "
                "ORDER BY run_id, aggregation, repeat, n_names", [ids]).df()

    def predictions(self, run_id: str, aggregation: str | None = None, n_names: int | None = None,
                    repeat: int | None = None) -> pd.DataFrame:
        """Every prediction of the run, or those of one aggregation, level or name order (`repeat`: 0 is the
        names' given order, a 50th of a run with 50 orders)."""
        with self._connect() as con:
            frame = con.execute(
                "SELECT p.aggregation, p.repeat, p.n_names, p.image_idx, i.name, i.label, i.path, p.predicted, "
                "p.correct, p.score, p.top_names, p.top_sims FROM predictions p "
                "JOIN run_images i ON i.run_id = p.run_id AND i.image_idx = p.image_idx "
                "WHERE p.run_id = ? AND (? IS NULL OR p.aggregation = ?) AND (? IS NULL OR p.n_names = ?) "
                "AND (? IS NULL OR p.repeat = ?) ORDER BY p.aggregation, p.repeat, p.n_names, p.image_idx",
                [run_id, aggregation, aggregation, n_names, n_names, repeat, repeat]).df()
        return _decode_paths(frame)

    def outcomes(self, run_id: str) -> pd.DataFrame:
        """Who was right where, without what was predicted: `predictions`' columns for comparisons and
        thresholds (aggregation, repeat, n_names, image_idx, name, label, correct), a fraction of its read
        for a run with many name orders."""
        with self._connect() as con:
            return con.execute(
                "SELECT p.aggregation, p.repeat, p.n_names, p.image_idx, i.name, i.label, p.correct "
                "FROM predictions p JOIN run_images i ON i.run_id = p.run_id AND i.image_idx = p.image_idx "
                "WHERE p.run_id = ? ORDER BY p.aggregation, p.repeat, p.n_names, p.image_idx", [run_id]).df()

    def image_hashes(self, run_id: str) -> dict[int, str]:
        """image_idx -> the embedding-cache hash the engine scored each image of the run with."""
        with self._connect() as con:
            rows = con.execute("SELECT DISTINCT image_idx, image_hash FROM predictions WHERE run_id = ?",
                               [run_id]).fetchall()
        return dict(rows)

    def rejected(self, run_id: str) -> pd.DataFrame:
        """The files and classes the run left out, each with its reason."""
        with self._connect() as con:
            return con.execute("SELECT item, reason FROM rejected WHERE run_id=? AND NOT list_contains(?, item) "
                               "ORDER BY item", [run_id, list(NOTE_ITEMS)]).df()

    def notes(self, run_id: str) -> list[str]:
        """What the name generator and the label check said about the run's names (nothing was left out)."""
        with self._connect() as con:
            rows = con.execute("SELECT reason FROM rejected WHERE run_id=? AND list_contains(?, item) ORDER BY rowid",
                               [run_id, list(NOTE_ITEMS)]).fetchall()
        return [r[0] for r in rows]


def _decode_paths(frame: pd.DataFrame) -> pd.DataFrame:
    """Paths are stored as file-system bytes so any file name survives; give them back as str."""
    # object dtype: pandas' default (Arrow) strings cannot hold the surrogate escapes of such names
    frame["path"] = pd.Series([os.fsdecode(bytes(p)) for p in frame["path"]], index=frame.index, dtype=object)
    return frame


def _gains(predictions: pa.Table) -> dict[tuple[str, int, int], tuple[int, int]]:
    """(images, correct) per point; a plain loop beats a group-by ~10x on a batch's few hundred rows."""
    out: dict[tuple[str, int, int], list[int]] = {}
    keys = zip(*(predictions[c].to_pylist() for c in ("aggregation", "repeat", "n_names")), strict=True)
    for key, correct in zip(keys, predictions["correct"].to_pylist(), strict=True):
        tally = out.setdefault(key, [0, 0])
        tally[0] += 1
        tally[1] += bool(correct)
    return {k: (v[0], v[1]) for k, v in out.items()}


def _insert(con, table: str, frame: pd.DataFrame) -> None:
    columns = [c[0] for c in con.execute(f"DESCRIBE {table}").fetchall()]
    con.register("incoming", frame[columns])
    con.execute(f"INSERT INTO {table} SELECT * FROM incoming")
    con.unregister("incoming")


def _run_info(row) -> RunInfo:
    """A 'running' run whose owner is gone (or was replaced by a stranger with its pid) is 'interrupted'."""
    (run_id, status, dataset, model, created, updated, n_images, n_done, n_rejected, elapsed, error, config,
     pid, started, host, image_order) = row
    owner = owner_of(pid, started, host)
    if status in ACTIVE and not (owner and owner.alive()):
        status = "interrupted"
    return RunInfo(run_id, status, dataset, model, created, updated, n_images or 0, n_done or 0, n_rejected or 0,
                   elapsed, error, json.loads(config or "{}"), image_order or "file", owner)
