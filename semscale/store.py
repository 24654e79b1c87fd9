"""The DuckDB results file: runs, accuracy points, per-image predictions and the embedding cache.

DuckDB lets one process hold a database file at a time. Every operation here therefore opens
the file, does one short transaction and closes it again, retrying while another process holds
it; a writer commits once per image batch, so several writers and any number of dashboards share
one file, each waiting at most a few milliseconds per turn.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from semscale.errors import SemscaleError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, created TIMESTAMPTZ, updated TIMESTAMPTZ, status VARCHAR,
    dataset VARCHAR, model VARCHAR, config VARCHAR, n_images INTEGER, n_done INTEGER,
    n_rejected INTEGER, encode_seconds DOUBLE, score_seconds DOUBLE, write_seconds DOUBLE,
    elapsed DOUBLE, error VARCHAR, pid INTEGER, host VARCHAR);
CREATE TABLE IF NOT EXISTS run_images (
    run_id VARCHAR, image_idx INTEGER, name VARCHAR, label VARCHAR, path BLOB);  -- os.fsencode(path)
CREATE TABLE IF NOT EXISTS run_names (
    run_id VARCHAR, class_idx INTEGER, class VARCHAR, position INTEGER, name VARCHAR);
CREATE TABLE IF NOT EXISTS points (
    run_id VARCHAR, aggregation VARCHAR, repeat INTEGER, level INTEGER, n_names INTEGER,
    n_candidates INTEGER, n_images INTEGER, correct INTEGER, accuracy DOUBLE,
    ci_low DOUBLE, ci_high DOUBLE);
CREATE TABLE IF NOT EXISTS predictions (
    run_id VARCHAR, aggregation VARCHAR, repeat INTEGER, n_names INTEGER, image_idx INTEGER,
    image_hash VARCHAR, predicted VARCHAR, correct BOOLEAN, score FLOAT,
    top_names VARCHAR[], top_sims FLOAT[]);
CREATE TABLE IF NOT EXISTS rejected (run_id VARCHAR, image_idx INTEGER, item VARCHAR, reason VARCHAR);
CREATE TABLE IF NOT EXISTS embeddings (
    model_id VARCHAR, kind VARCHAR, hash VARCHAR, vec FLOAT[], PRIMARY KEY (model_id, hash));
"""

ACTIVE = ("running",)


class ResultsBusy(SemscaleError):
    """Another process kept the results file locked for longer than the wait limit."""


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


def now() -> datetime:
    return datetime.now(timezone.utc)


class ResultsStore:
    """All reads and writes of one results file."""

    def __init__(self, path: str | Path, wait: float = 60.0):
        self.path = Path(path)
        self.wait = wait
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One short transaction; waits (with backoff) while another process holds the file."""
        deadline = time.monotonic() + self.wait
        delay = 0.005
        while True:
            try:
                con = duckdb.connect(str(self.path))
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
                delay = min(delay * 2, 0.2)
            except duckdb.Error as exc:
                raise SemscaleError(f"{self.path} is not a usable results file: {str(exc).splitlines()[0]}") from None
        try:
            con.begin()
            yield con
            con.commit()
        except BaseException:
            con.rollback()
            raise
        finally:
            con.close()

    # --- runs ----------------------------------------------------------------------------
    def create_run(self, run_id: str, dataset: str, model: str, config: dict, images: pd.DataFrame,
                   names: pd.DataFrame, rejected: pd.DataFrame) -> None:
        """Register a run with its fixed image list and label set, all or nothing."""
        t = now()
        with self._connect() as con:
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, 'running', ?, ?, ?, ?, 0, ?, 0, 0, 0, NULL, NULL, ?, ?)",
                [run_id, t, t, dataset, model, json.dumps(config), len(images), len(rejected), os.getpid(),
                 os.uname().nodename],
            )
            _insert(con, "run_images", images.assign(run_id=run_id))
            _insert(con, "run_names", names.assign(run_id=run_id))
            if len(rejected):
                _insert(con, "rejected", rejected.assign(run_id=run_id))

    def claim_run(self, run_id: str) -> None:
        """Mark a run as running in this process (start or resume)."""
        with self._connect() as con:
            con.execute("UPDATE runs SET status='running', pid=?, host=?, updated=?, error=NULL WHERE run_id=?",
                        [os.getpid(), os.uname().nodename, now(), run_id])

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> None:
        with self._connect() as con:
            con.execute("UPDATE runs SET status=?, error=?, updated=? WHERE run_id=?", [status, error, now(), run_id])

    def runs(self, limit: int | None = None) -> list[RunInfo]:
        """Newest first; a 'running' run whose process is gone is reported as 'interrupted'."""
        sql = ("SELECT run_id, status, dataset, model, created, updated, n_images, n_done, n_rejected, elapsed, "
               "error, config, pid, host FROM runs ORDER BY created DESC")
        with self._connect() as con:
            rows = con.execute(sql + (f" LIMIT {int(limit)}" if limit else "")).fetchall()
        return [_run_info(r) for r in rows]

    def run(self, run_id: str) -> RunInfo:
        """A run by its id or an unambiguous prefix of it (taken literally: '%' and '_' match themselves)."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT run_id, status, dataset, model, created, updated, n_images, n_done, n_rejected, elapsed, "
                "error, config, pid, host FROM runs WHERE run_id = ? OR (? <> '' AND starts_with(run_id, ?)) "
                "ORDER BY run_id = ? DESC, run_id", [run_id, run_id, run_id, run_id]).fetchall()
        if not rows:
            raise SemscaleError(f"no run {run_id!r} in {self.path}")
        if rows[0][0] != run_id and len(rows) > 1:
            raise SemscaleError(f"{run_id!r} matches {len(rows)} runs ({', '.join(r[0] for r in rows[:5])}); "
                                "give more of the run id")
        return _run_info(rows[0])

    def pid(self, run_id: str) -> int | None:
        """Process id of the run's last worker (for Cancel)."""
        with self._connect() as con:
            row = con.execute("SELECT pid FROM runs WHERE run_id=?", [run_id]).fetchone()
        return row[0] if row else None

    def run_images(self, run_id: str) -> pd.DataFrame:
        with self._connect() as con:
            frame = con.execute("SELECT image_idx, name, label, path FROM run_images WHERE run_id=? "
                                "ORDER BY image_idx", [run_id]).df()
        return _decode_paths(frame)

    def run_names(self, run_id: str) -> dict[str, list[str]]:
        with self._connect() as con:
            rows = con.execute("SELECT class, name FROM run_names WHERE run_id=? ORDER BY class_idx, position",
                               [run_id]).fetchall()
        out: dict[str, list[str]] = {}
        for cls, name in rows:
            out.setdefault(cls, []).append(name)
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
                     predictions: pd.DataFrame, rejected: pd.DataFrame, seconds: dict[str, float]) -> None:
        """Everything one image batch produced, in one transaction: a crash keeps whole batches only."""
        from semscale.stats import wilson

        started = time.perf_counter()
        with self._connect() as con:
            self._put_embeddings(con, model_id, new_embeddings)
            if len(predictions):
                _insert(con, "predictions", predictions.assign(run_id=run_id))
                gains = _gains(predictions)
                # Read the run's points, add this batch and recompute every interval in Python, then
                # write them back in one statement (one UPDATE per point cost ~1 ms each).
                rows = con.execute("SELECT aggregation, repeat, n_names, n_images, correct FROM points WHERE run_id=?",
                                   [run_id]).fetchall()
                updated = []
                for agg, rep, n, total, correct in rows:
                    count, right = gains.get((agg, rep, n), (0, 0))
                    total, correct = total + count, correct + right
                    low, high = wilson(correct, total)
                    updated.append((agg, rep, n, total, correct, correct / total if total else None, low, high))
                if updated:
                    agg, rep, n, total, correct, accuracy, low, high = zip(*updated)
                    con.register("updated_points", pa.table({
                        "aggregation": pa.array(agg, pa.string()), "repeat": pa.array(rep, pa.int32()),
                        "n_names": pa.array(n, pa.int32()), "n_images": pa.array(total, pa.int32()),
                        "correct": pa.array(correct, pa.int32()), "accuracy": pa.array(accuracy, pa.float64()),
                        "ci_low": pa.array(low, pa.float64()), "ci_high": pa.array(high, pa.float64())}))
                    con.execute(
                        "UPDATE points SET n_images = u.n_images, correct = u.correct, accuracy = u.accuracy, "
                        "ci_low = u.ci_low, ci_high = u.ci_high FROM updated_points u WHERE points.run_id = ? "
                        "AND points.aggregation = u.aggregation AND points.repeat = u.repeat "
                        "AND points.n_names = u.n_names", [run_id])
                    con.unregister("updated_points")
            if len(rejected):
                _insert(con, "rejected", rejected.assign(run_id=run_id))
            done = (int(predictions["image_idx"].nunique()) if len(predictions) else 0) + len(rejected)
            con.execute(
                "UPDATE runs SET n_done = n_done + ?, n_rejected = n_rejected + ?, updated=?, "
                "encode_seconds = encode_seconds + ?, score_seconds = score_seconds + ?, "
                "write_seconds = write_seconds + ?, elapsed = coalesce(elapsed, 0) + ? WHERE run_id=?",
                [done, len(rejected), now(), seconds.get("encode", 0), seconds.get("score", 0),
                 time.perf_counter() - started, seconds.get("total", 0) + time.perf_counter() - started, run_id])

    def set_intervals(self, run_id: str, intervals: pd.DataFrame) -> None:
        """Replace the points' intervals (e.g. by bootstrap ones once all images are scored)."""
        with self._connect() as con:
            con.register("intervals", intervals)
            con.execute("UPDATE points SET ci_low = i.ci_low, ci_high = i.ci_high FROM intervals i "
                        "WHERE points.run_id = ? AND points.aggregation = i.aggregation "
                        "AND points.repeat = i.repeat AND points.n_names = i.n_names", [run_id])
            con.unregister("intervals")

    # --- embedding cache ----------------------------------------------------------------------
    def get_embeddings(self, model_id: str, hashes: list[str]) -> dict[str, np.ndarray]:
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
        dim = len(vecs[0])
        flat = vecs.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
        matrix = flat.reshape(table.num_rows, dim)
        return dict(zip(table.column("hash").to_pylist(), matrix))

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
        con.execute("INSERT OR IGNORE INTO embeddings SELECT * FROM new_embeddings")
        con.unregister("new_embeddings")

    def count_embeddings(self, model_id: str | None = None) -> dict[str, int]:
        with self._connect() as con:
            rows = con.execute("SELECT kind, count(*) FROM embeddings WHERE ? IS NULL OR model_id = ? GROUP BY kind",
                               [model_id, model_id]).fetchall()
        return dict(rows)

    # --- reading results ------------------------------------------------------------------------
    def points(self, run_ids: list[str] | str) -> pd.DataFrame:
        ids = [run_ids] if isinstance(run_ids, str) else list(run_ids)
        with self._connect() as con:
            return con.execute(
                "SELECT * EXCLUDE (run_id), run_id FROM points WHERE list_contains(?, run_id) "
                "ORDER BY run_id, aggregation, repeat, n_names", [ids]).df()

    def predictions(self, run_id: str, aggregation: str | None = None, n_names: int | None = None) -> pd.DataFrame:
        with self._connect() as con:
            frame = con.execute(
                "SELECT p.aggregation, p.repeat, p.n_names, p.image_idx, i.name, i.label, i.path, p.predicted, "
                "p.correct, p.score, p.top_names, p.top_sims FROM predictions p "
                "JOIN run_images i ON i.run_id = p.run_id AND i.image_idx = p.image_idx "
                "WHERE p.run_id = ? AND (? IS NULL OR p.aggregation = ?) AND (? IS NULL OR p.n_names = ?) "
                "ORDER BY p.aggregation, p.repeat, p.n_names, p.image_idx",
                [run_id, aggregation, aggregation, n_names, n_names]).df()
        return _decode_paths(frame)

    def rejected(self, run_id: str) -> pd.DataFrame:
        with self._connect() as con:
            return con.execute("SELECT item, reason FROM rejected WHERE run_id=? ORDER BY item", [run_id]).df()


def _decode_paths(frame: pd.DataFrame) -> pd.DataFrame:
    """Paths are stored as file-system bytes so any file name survives; give them back as str."""
    # object dtype: pandas' default (Arrow) strings cannot hold the surrogate escapes of such names
    frame["path"] = pd.Series([os.fsdecode(bytes(p)) for p in frame["path"]], index=frame.index, dtype=object)
    return frame


def _gains(predictions: pd.DataFrame) -> dict[tuple[str, int, int], tuple[int, int]]:
    """(images, correct) per point; a plain loop beats pandas' groupby ~10x on a batch's few hundred rows."""
    out: dict[tuple[str, int, int], list[int]] = {}
    keys = zip(predictions["aggregation"].tolist(), predictions["repeat"].tolist(), predictions["n_names"].tolist())
    for key, correct in zip(keys, predictions["correct"].tolist()):
        tally = out.setdefault(key, [0, 0])
        tally[0] += 1
        tally[1] += bool(correct)
    return {k: (v[0], v[1]) for k, v in out.items()}


def _insert(con, table: str, frame: pd.DataFrame) -> None:
    columns = [c[0] for c in con.execute(f"DESCRIBE {table}").fetchall()]
    con.register("incoming", frame[columns])
    con.execute(f"INSERT INTO {table} SELECT * FROM incoming")
    con.unregister("incoming")


def _alive(pid: int | None, host: str | None) -> bool:
    if not pid or host != os.uname().nodename:
        return host != os.uname().nodename  # another machine: cannot tell, assume alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_info(row) -> RunInfo:
    (run_id, status, dataset, model, created, updated, n_images, n_done, n_rejected, elapsed, error, config,
     pid, host) = row
    if status in ACTIVE and not _alive(pid, host):
        status = "interrupted"
    return RunInfo(run_id, status, dataset, model, created, updated, n_images or 0, n_done or 0, n_rejected or 0,
                   elapsed, error, json.loads(config or "{}"))
