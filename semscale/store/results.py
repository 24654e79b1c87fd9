"""The DuckDB results file: runs, accuracy points, per-image predictions and the embedding cache.

DuckDB lets one process hold a database file at a time. Every operation here therefore opens
the file (attaches it to the process's DuckDB, see `_Files`), does one short transaction and
closes it again, retrying while another process holds it; a writer commits once per image batch,
so several writers and any number of dashboards share one file, each waiting at most a few
milliseconds per turn.

A run has one owner at a time: the process (pid plus start time, so a reused pid is never taken for
it) that claimed it last. Predictions are keyed by (run, aggregation, repeat, n_names, image), so no
image is ever counted twice. Files of an older schema are migrated when opened.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import duckdb
import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.compute as pc

from semscale.core.errors import SemscaleError

SCHEMA_VERSION = 3
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, created TIMESTAMPTZ, updated TIMESTAMPTZ, status VARCHAR,
    dataset VARCHAR, model VARCHAR, config VARCHAR, n_images INTEGER, n_done INTEGER,
    n_rejected INTEGER, encode_seconds DOUBLE, score_seconds DOUBLE, write_seconds DOUBLE,
    elapsed DOUBLE, error VARCHAR, pid INTEGER, host VARCHAR,
    pid_started DOUBLE,     -- the owner's process start time (psutil): a pid alone can be reused
    image_order VARCHAR);   -- 'random' (seeded, classes interleaved) or 'file' (runs of schema 1)
CREATE TABLE IF NOT EXISTS run_images (
    run_id VARCHAR, image_idx INTEGER, name VARCHAR, label VARCHAR, path BLOB,  -- os.fsencode(path)
    position INTEGER);  -- processing order
CREATE TABLE IF NOT EXISTS run_names (
    run_id VARCHAR, class_idx INTEGER, class VARCHAR, position INTEGER, name VARCHAR,
    relation VARCHAR);  -- the name's relation to its class (labels.RELATIONS); NULL in runs of schema < 3
CREATE TABLE IF NOT EXISTS points (
    run_id VARCHAR, aggregation VARCHAR, repeat INTEGER, level INTEGER, n_names INTEGER,
    n_candidates INTEGER, n_images INTEGER, correct INTEGER, accuracy DOUBLE,
    ci_low DOUBLE, ci_high DOUBLE);
CREATE TABLE IF NOT EXISTS predictions (
    run_id VARCHAR, aggregation VARCHAR, repeat INTEGER, n_names INTEGER, image_idx INTEGER,
    image_hash VARCHAR, predicted VARCHAR, correct BOOLEAN, score FLOAT,
    top_names VARCHAR[], top_sims FLOAT[], PRIMARY KEY (run_id, aggregation, repeat, n_names, image_idx));
CREATE TABLE IF NOT EXISTS rejected (run_id VARCHAR, image_idx INTEGER, item VARCHAR, reason VARCHAR);
CREATE TABLE IF NOT EXISTS embeddings (
    model_id VARCHAR, kind VARCHAR, hash VARCHAR, vec FLOAT[], PRIMARY KEY (model_id, hash));
CREATE TABLE IF NOT EXISTS workspaces (  -- the dashboard's kept names and settings (semscale.store.workspace)
    key VARCHAR PRIMARY KEY, state VARCHAR, updated TIMESTAMPTZ);  -- key: SHA-256 of the link's token
"""

ACTIVE = ("running", "queued")  # "queued": its process waits for a slot (semscale.store.runqueue)
# Rows of the `rejected` table that are remarks on the run's names, not files left out.
NOTE_ITEMS = ("names", "labels")
START_TOLERANCE = 0.005  # s; psutil's start times come in clock ticks of 0.01 s


class _Files:
    """One in-memory DuckDB per process, to which results files are attached while in use.

    Starting a DuckDB database costs ~10 ms (its catalog of functions is built each time), twice
    per image batch if every transaction opened the file itself; attaching a file to an instance
    that is already running costs ~1 ms. A file stays attached while any thread of this process
    has a transaction on it and is detached (closed, its lock released) when the last one ends,
    so other processes can open it between transactions as before.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._pid = None
        self._instance = None
        self._attached: dict[str, list] = {}  # path -> [alias, transactions using it, attached at]
        self._free_until: dict[str, float] = {}  # path -> monotonic time before which it stays detached
        self._aliases = itertools.count()

    def open(self, path: str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A connection of its own whose default database is `path` (attached `read_only`, as the
        first transaction of the moment asks); raises DuckDB's errors."""
        while True:
            with self._lock:
                if self._pid != os.getpid():  # a forked child cannot use its parent's instance
                    self._instance, self._pid, self._attached, self._free_until = duckdb.connect(), os.getpid(), {}, {}
                entry = self._attached.get(path)
                wait = 0.0 if entry else self._free_until.get(path, 0.0) - time.monotonic()
                if wait <= 0:
                    if entry is None:
                        quoted = path.replace("'", "''")
                        alias = f"results_{next(self._aliases)}"
                        self._instance.execute(f"ATTACH '{quoted}' AS {alias}{' (READ_ONLY)' if read_only else ''}")
                        entry = self._attached[path] = [alias, 0, time.monotonic()]
                    entry[1] += 1
                    try:
                        con = self._instance.cursor()
                        con.execute(f"USE {entry[0]}")
                    except BaseException:
                        self._release(path)
                        raise
                    return con
            time.sleep(wait)  # the file's turn for other processes (see _release)

    def close(self, con: duckdb.DuckDBPyConnection, path: str) -> None:
        with self._lock:
            con.close()
            self._release(path)

    def _release(self, path: str) -> None:
        """Detach the file when its last transaction here ends, and leave it to other processes for
        as long as it was held (at most FREE_TURN): a run that commits back to back would otherwise
        re-attach it before any reader's retry came round."""
        entry = self._attached[path]
        entry[1] -= 1
        if entry[1] == 0:
            del self._attached[path]
            try:
                self._instance.execute(f"DETACH {entry[0]}")
            except duckdb.IOException:  # detached all the same: only the checkpoint into the file failed (a
                pass  # full disk); what was committed is in the write-ahead log, and a write says so when it fails
            now = time.monotonic()
            self._free_until[path] = now + min(now - entry[2], FREE_TURN)


FREE_TURN = 0.02  # s at most that a process leaves a file it just used to other processes
_FILES = _Files()
_CREATING = threading.Lock()
_READY: set[tuple] = set()  # results files (path, device, inode) this process has checked and set up


def _file_identity(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return str(path.resolve()), st.st_dev, st.st_ino


class ResultsBusy(SemscaleError):
    """Another process kept the results file locked for longer than the wait limit."""


class RunOwned(SemscaleError):
    """The run is being processed by another live process."""

    def __init__(self, run_id: str, owner: "Owner | None"):
        who = owner.describe() if owner else "another process"
        super().__init__(f"run {run_id} is being processed by {who}; let it finish or cancel it")


@dataclass(frozen=True)
class Owner:
    """The process working on a run. A pid names the same process only while its start time matches."""

    pid: int
    started: float | None  # psutil create_time(), seconds since the epoch; None in files of schema 1
    host: str | None

    @classmethod
    def me(cls) -> "Owner":
        return cls(os.getpid(), psutil.Process().create_time(), os.uname().nodename)

    def _process(self) -> psutil.Process | None:
        """This owner's process on this host, or None: gone, finished (a zombie), or its pid reused."""
        if self.host != os.uname().nodename or self.started is None:  # schema 1 kept no start time
            return None
        try:
            process = psutil.Process(self.pid)
            if process.status() == psutil.STATUS_ZOMBIE or abs(process.create_time() - self.started) >= START_TOLERANCE:
                return None
        except psutil.NoSuchProcess:
            return None
        return process

    def alive(self) -> bool:
        """Still running? A process on another host cannot be checked, so it counts as alive."""
        return self.host != os.uname().nodename or self._process() is not None

    def terminate(self) -> bool:
        """SIGTERM this process if it is still the owner; never a stranger that reuses its pid."""
        process = self._process()
        if process is None:
            return False
        try:
            process.terminate()  # psutil refuses if the pid was reused since `process` was looked up
        except psutil.NoSuchProcess:
            return False
        return True

    def describe(self) -> str:
        since = (datetime.fromtimestamp(self.started, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
                 if self.started else "an unknown time")
        return f"process {self.pid} on {self.host} (running since {since})"


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


class ResultsStore:
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
        if _file_identity(self.path) in _READY:
            return
        with _CREATING, self._connect() as con:  # threads creating tables at once conflict in DuckDB's catalog
            version = _schema_version(con)
            if version > SCHEMA_VERSION:
                raise SemscaleError(f"{self.path} was written by a newer semscale (schema {version}); upgrade")
            if self.read_only:
                if version < SCHEMA_VERSION:
                    raise SemscaleError(f"{self.path} is read-only and was written by an older semscale; "
                                        "open a writable copy once to update it")
                _READY.add(_file_identity(self.path))
                return
            if version == 1:
                _migrate_from_1(con)
            if version in (1, 2):
                con.execute("ALTER TABLE run_names ADD COLUMN relation VARCHAR")  # not known for older runs
            con.execute(SCHEMA)
            if version < SCHEMA_VERSION:
                con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
        _READY.add(_file_identity(self.path))

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One short transaction; waits (with backoff) while another process holds the file."""
        deadline = time.monotonic() + self.wait
        delay = 0.005
        key = str(self.path.resolve())
        while True:
            try:
                con = _FILES.open(key, self.read_only)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise SemscaleError(f"{self.path} is not a usable results file: {str(exc).splitlines()[0]}") from None
                if time.monotonic() > deadline:
                    raise ResultsBusy(
                        f"results file {self.path} is busy (another process kept it locked for {self.wait:g} s); "
                        "retry or use another file"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)  # a writer leaves the file free for a few ms at a time
            except duckdb.Error as exc:
                raise SemscaleError(f"{self.path} is not a usable results file: {str(exc).splitlines()[0]}") from None
        try:
            con.begin()
            yield con
            con.commit()
        except duckdb.Error as exc:
            with contextlib.suppress(duckdb.Error):
                con.rollback()
            if self.read_only:
                raise SemscaleError(f"results file {self.path} is read-only; name a writable one with --results "
                                    "(or $SEMSCALE_RESULTS)") from None
            # a truncated or damaged file, a full disk (a commit that could not write its log): the user's to fix
            if isinstance(exc, duckdb.IOException) or "Could not write" in str(exc):
                raise SemscaleError(f"results file {self.path} could not be read or written: "
                                    f"{str(exc).splitlines()[0][:200]}") from None
            raise
        except BaseException:
            con.rollback()
            raise
        finally:
            _FILES.close(con, key)

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
        owner = _owner(*seen)
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
                "error, config, pid, pid_started, host, image_order FROM runs WHERE run_id = ? OR (? <> '' AND starts_with(run_id, ?)) "
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
                _set_points(con, run_id, totals)
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

    # --- embedding cache ----------------------------------------------------------------------
    def get_embeddings(self, model_id: str, hashes: list[str], dim: int | None = None) -> dict[str, np.ndarray]:
        """The cached vectors of `hashes` that are usable: finite, of non-zero length and of size `dim`
        (None: the size most of them have). Anything else, e.g. NaN an older version took from a
        misbehaving server, is a miss, encoded again and replaced (`put_embeddings`)."""
        if not hashes:
            return {}
        wanted = pa.table({"hash": pa.array(list(set(hashes)), pa.string())})
        with self._connect() as con:
            con.register("wanted", wanted)
            table = con.sql("SELECT e.hash, e.vec FROM embeddings e JOIN wanted w ON e.hash = w.hash "
                            "WHERE e.model_id = ?", params=[model_id]).to_arrow_table()
        if table.num_rows == 0:
            return {}
        vecs = table.column("vec").combine_chunks()
        sizes = pc.fill_null(pc.list_value_length(vecs), 0).to_numpy(zero_copy_only=False)
        if dim is None:
            dim = int(np.bincount(sizes).argmax())
        keep = np.flatnonzero(sizes == dim)
        flat = pc.list_flatten(vecs.take(pa.array(keep))).to_numpy(zero_copy_only=False)
        matrix = flat.astype(np.float32).reshape(len(keep), dim)
        with np.errstate(over="ignore", invalid="ignore"):
            usable = np.isfinite(matrix).all(axis=1) & (np.linalg.norm(matrix, axis=1) > 0)
        names = table.column("hash").take(pa.array(keep)).to_pylist()
        return {h: v for h, v, ok in zip(names, matrix, usable) if ok}

    def put_embeddings(self, model_id: str, items: dict[str, tuple[str, np.ndarray]]) -> None:
        with self._connect() as con:
            self._put_embeddings(con, model_id, items)

    @staticmethod
    def _put_embeddings(con, model_id: str, items: dict[str, tuple[str, np.ndarray]]) -> None:
        if not items:
            return
        hashes = list(items)
        matrix = np.stack([items[h][1] for h in hashes]).astype(np.float32)
        table = pa.table({
            "model_id": pa.array([model_id] * len(hashes)),
            "kind": pa.array([items[h][0] for h in hashes]),
            "hash": pa.array(hashes),
            "vec": pa.ListArray.from_arrays(np.arange(0, matrix.size + 1, matrix.shape[1], dtype=np.int32),
                                            pa.array(matrix.ravel())),
        })
        con.register("new_embeddings", table)
        con.execute("INSERT OR REPLACE INTO embeddings SELECT * FROM new_embeddings")  # an unusable one read as a miss
        con.unregister("new_embeddings")

    def count_embeddings(self, model_id: str | None = None) -> dict[str, int]:
        with self._connect() as con:
            rows = con.execute("SELECT kind, count(*) FROM embeddings WHERE ? IS NULL OR model_id = ? GROUP BY kind",
                               [model_id, model_id]).fetchall()
        return dict(rows)

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


def _set_points(con, run_id: str, totals: dict[tuple[str, int, int], tuple[int, int]]) -> None:
    """Write (images, correct) per point with accuracy and Wilson interval, in one statement
    (one UPDATE per point cost ~1 ms each)."""
    from semscale.core.stats import wilson

    if not totals:
        return
    keys = list(totals)
    agg, rep, n = zip(*keys)
    total, correct = zip(*(totals[k] for k in keys))
    low, high = zip(*(wilson(k, t) for t, k in zip(total, correct)))
    con.register("updated_points", pa.table({
        "aggregation": pa.array(agg, pa.string()), "repeat": pa.array(rep, pa.int32()),
        "n_names": pa.array(n, pa.int32()), "n_images": pa.array(total, pa.int32()),
        "correct": pa.array(correct, pa.int32()),
        "accuracy": pa.array([k / t if t else None for t, k in zip(total, correct)], pa.float64()),
        "ci_low": pa.array(low, pa.float64()), "ci_high": pa.array(high, pa.float64())}))
    con.execute(
        "UPDATE points SET n_images = u.n_images, correct = u.correct, accuracy = u.accuracy, "
        "ci_low = u.ci_low, ci_high = u.ci_high FROM updated_points u WHERE points.run_id = ? "
        "AND points.aggregation = u.aggregation AND points.repeat = u.repeat "
        "AND points.n_names = u.n_names", [run_id])
    con.unregister("updated_points")


def _schema_version(con) -> int:
    """0 for an empty file, 1 for files made before the meta table, else what meta says."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "meta" in tables:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else SCHEMA_VERSION
    return 1 if "runs" in tables else 0


def _migrate_from_1(con) -> None:
    """Schema 1 -> 2, inside the opening transaction: owner start times, image order, and a key on
    predictions. Rows that two owners of one run wrote twice are kept once, and those runs' counts
    and points are recomputed from what is left."""
    con.execute("ALTER TABLE runs ADD COLUMN pid_started DOUBLE")
    con.execute("ALTER TABLE runs ADD COLUMN image_order VARCHAR")
    con.execute("UPDATE runs SET image_order = 'file'")  # schema 1 went through images in file order
    con.execute("ALTER TABLE run_images ADD COLUMN position INTEGER")
    con.execute("UPDATE run_images SET position = image_idx")
    key = "run_id, aggregation, repeat, n_names, image_idx"
    doubled = [r[0] for r in con.execute(
        f"SELECT DISTINCT run_id FROM (SELECT {key} FROM predictions GROUP BY ALL HAVING count(*) > 1)").fetchall()]
    con.execute("ALTER TABLE predictions RENAME TO predictions_v1")
    con.execute(SCHEMA)  # the new predictions table, with its key
    con.execute(f"INSERT INTO predictions SELECT DISTINCT ON ({key}) * FROM predictions_v1")
    con.execute("DROP TABLE predictions_v1")
    for run_id in doubled:
        rows = con.execute("SELECT aggregation, repeat, n_names, count(*), count(*) FILTER (correct) "
                           "FROM predictions WHERE run_id = ? GROUP BY ALL", [run_id]).fetchall()
        _set_points(con, run_id, {(a, r, n): (t, k) for a, r, n, t, k in rows})
        con.execute("UPDATE runs SET n_done = (SELECT count(*) FROM (SELECT image_idx FROM predictions WHERE run_id = ? "
                    "UNION SELECT image_idx FROM rejected WHERE run_id = ? AND image_idx IS NOT NULL)) "
                    "WHERE run_id = ?", [run_id, run_id, run_id])


def _gains(predictions: pa.Table) -> dict[tuple[str, int, int], tuple[int, int]]:
    """(images, correct) per point; a plain loop beats a group-by ~10x on a batch's few hundred rows."""
    out: dict[tuple[str, int, int], list[int]] = {}
    keys = zip(*(predictions[c].to_pylist() for c in ("aggregation", "repeat", "n_names")))
    for key, correct in zip(keys, predictions["correct"].to_pylist()):
        tally = out.setdefault(key, [0, 0])
        tally[0] += 1
        tally[1] += bool(correct)
    return {k: (v[0], v[1]) for k, v in out.items()}


def _insert(con, table: str, frame: pd.DataFrame) -> None:
    columns = [c[0] for c in con.execute(f"DESCRIBE {table}").fetchall()]
    con.register("incoming", frame[columns])
    con.execute(f"INSERT INTO {table} SELECT * FROM incoming")
    con.unregister("incoming")


def _owner(pid: int | None, started: float | None, host: str | None) -> Owner | None:
    return Owner(pid, started, host) if pid else None


def _run_info(row) -> RunInfo:
    """A 'running' run whose owner is gone (or was replaced by a stranger with its pid) is 'interrupted'."""
    (run_id, status, dataset, model, created, updated, n_images, n_done, n_rejected, elapsed, error, config,
     pid, started, host, image_order) = row
    owner = _owner(pid, started, host)
    if status in ACTIVE and not (owner and owner.alive()):
        status = "interrupted"
    return RunInfo(run_id, status, dataset, model, created, updated, n_images or 0, n_done or 0, n_rejected or 0,
                   elapsed, error, json.loads(config or "{}"), image_order or "file", owner)
