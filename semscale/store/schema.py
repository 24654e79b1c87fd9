"""The results file's tables and their schema version: files of an older schema are brought up to date
inside the transaction that opens them (`upgrade`)."""

from __future__ import annotations

import pyarrow as pa

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


def version(con) -> int:
    """0 for an empty file, 1 for files made before the meta table, else what meta says."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "meta" in tables:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else SCHEMA_VERSION
    return 1 if "runs" in tables else 0


def upgrade(con, version: int) -> None:
    """Bring a writable file of schema `version` (0: a new file) up to SCHEMA_VERSION."""
    if version == 1:
        _migrate_from_1(con)
    if version in (1, 2):
        con.execute("ALTER TABLE run_names ADD COLUMN relation VARCHAR")  # not known for older runs
    con.execute(SCHEMA)
    if version < SCHEMA_VERSION:
        con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])


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
        set_points(con, run_id, {(a, r, n): (t, k) for a, r, n, t, k in rows})
        con.execute("UPDATE runs SET n_done = (SELECT count(*) FROM ("
                    "SELECT image_idx FROM predictions WHERE run_id = ? "
                    "UNION SELECT image_idx FROM rejected WHERE run_id = ? AND image_idx IS NOT NULL)) "
                    "WHERE run_id = ?", [run_id, run_id, run_id])


def set_points(con, run_id: str, totals: dict[tuple[str, int, int], tuple[int, int]]) -> None:
    """Write (images, correct) per point with accuracy and Wilson interval, in one statement
    (one UPDATE per point cost ~1 ms each); a batch's commit and the migration of a schema 1 file make it."""
    from semscale.core.stats import wilson

    if not totals:
        return
    keys = list(totals)
    agg, rep, n = zip(*keys, strict=True)
    total, correct = zip(*(totals[k] for k in keys), strict=True)
    low, high = zip(*(wilson(k, t) for t, k in zip(total, correct, strict=True)), strict=True)
    con.register("updated_points", pa.table({
        "aggregation": pa.array(agg, pa.string()), "repeat": pa.array(rep, pa.int32()),
        "n_names": pa.array(n, pa.int32()), "n_images": pa.array(total, pa.int32()),
        "correct": pa.array(correct, pa.int32()),
        "accuracy": pa.array([k / t if t else None for t, k in zip(total, correct, strict=True)], pa.float64()),
        "ci_low": pa.array(low, pa.float64()), "ci_high": pa.array(high, pa.float64())}))
    con.execute(
        "UPDATE points SET n_images = u.n_images, correct = u.correct, accuracy = u.accuracy, "
        "ci_low = u.ci_low, ci_high = u.ci_high FROM updated_points u WHERE points.run_id = ? "
        "AND points.aggregation = u.aggregation AND points.repeat = u.repeat "
        "AND points.n_names = u.n_names", [run_id])
    con.unregister("updated_points")

