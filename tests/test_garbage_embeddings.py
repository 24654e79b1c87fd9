"""Embeddings a backend must not be trusted with: NaN, inf, all-zero, ragged, wrongly sized, too few.

A real misbehaving `semscale serve` on loopback (tests/garbage_server.py: its executor spoils image
embeddings as a mode file says, read on every request), the real embedded ONNX encoder on a model
whose weights are NaN, and real DuckDB files. Every case stops the run with one line naming the
backend, stores nothing of the batch, and the run finishes against a healthy backend afterwards.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest
import tinyclip
from conftest import ROOT, make_colour_images
from test_server import COLOUR_LABELS, Server, semscale

from semscale.models.encoders import ClipServerEncoder, EncoderUnavailable, LocalEncoder
from semscale.run.config import RunConfig
from semscale.run.engine import Engine
from semscale.store.results import ResultsStore

PROBLEMS = {  # mode -> what the one line says about the batch
    "nan": "1 of 9 with NaN or infinite values",
    "inf": "1 of 9 with NaN or infinite values",
    "zero": "1 of 9 of zero or overflowing length",
    "ragged": "vectors of different sizes (15, 16)",
    "missing": "8 embeddings for 9 inputs",
    "dim": "vectors of size 7, expected 16",
    "nan-all": "9 of 9 with NaN or infinite values",  # the probe image too: no model-change check on NaN
}


@pytest.fixture(scope="module")
def garbage(model_dir, tmp_path_factory):
    """(server, mode file): one misbehaving server for every case, healthy while the file is empty."""
    logs = tmp_path_factory.mktemp("garbage")
    mode = logs / "mode"
    srv = Server(model_dir, logs,
                 command=[sys.executable, str(ROOT / "tests" / "garbage_server.py"), str(mode)]).start()
    yield srv, mode
    srv.stop()
    srv.kill()


def stored_vectors(db: Path) -> dict[str, np.ndarray]:
    """Every cached vector by kind, read with DuckDB itself (not through the store's checks)."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT kind, vec FROM embeddings").fetchall()
    return {kind: np.array([v for k, v in rows if k == kind], dtype=np.float64) for kind in {k for k, _ in rows}}


def assert_clean(db: Path, images: int) -> None:
    vectors = stored_vectors(db)
    assert len(vectors.get("image", [])) == images
    for kind, matrix in vectors.items():
        assert matrix.ndim == 2 and matrix.shape[1] == 16, kind
        assert np.isfinite(matrix).all() and (np.linalg.norm(matrix, axis=1) > 0).all(), kind


@pytest.mark.parametrize("mode", list(PROBLEMS))
def test_garbage_from_a_server_stops_the_run_and_stores_nothing_of_that_batch(garbage, mode, tmp_path,
                                                                               per_batch_commits):
    srv, mode_file = garbage
    mode_file.write_text("")
    make_colour_images(tmp_path / "imgs", per_class=6, size=20)  # 24 images, 3 batches of 8
    store = ResultsStore(tmp_path / "r.duckdb")
    engine = Engine(store, ClipServerEncoder(srv.url, batch_size=16, timeout=20, retries=2, backoff=0.1))
    run_id = engine.start(RunConfig(dataset=str(tmp_path / "imgs"), labels=COLOUR_LABELS, batch_size=8))

    def spoil_after_first_batch(progress):
        mode_file.write_text(mode)

    with pytest.raises(EncoderUnavailable) as err:
        engine.process(run_id, progress=spoil_after_first_batch)
    message = str(err.value)
    assert message == (f"CLIP server {srv.url} returned unusable embeddings when asked to encode 8 images: "
                       f"{PROBLEMS[mode]}; nothing from this batch was stored")
    info = store.run(run_id)
    # batch 2 may have been encoded while batch 1 committed, before the mode changed
    assert info.status == "failed" and info.error == message and info.n_done in (8, 16)
    assert len(store.predictions(run_id, "max", 1)) == info.n_done
    assert_clean(store.path, images=info.n_done)

    mode_file.write_text("")
    healthy = Engine(store, ClipServerEncoder(srv.url, batch_size=16, timeout=20, retries=0))
    assert healthy.process(run_id) == "done"
    assert healthy.encoded_images == 24 - info.n_done
    assert (store.points(run_id)["accuracy"] == 1.0).all()
    assert_clean(store.path, images=24)


def test_cli_run_against_a_garbage_server_fails_in_one_line_and_resumes(garbage, colour_dir, tmp_path):
    srv, mode_file = garbage
    mode_file.write_text("nan")
    db = tmp_path / "r.duckdb"
    out = semscale("--results", str(db), "run", "--dataset", str(colour_dir), "--server", srv.url,
                   "--retries", "0", "--batch-size", "8", cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: CLIP server {srv.url} returned unusable embeddings when asked to encode 8 images: "
                      "1 of 9 with NaN or infinite values; nothing from this batch was stored"], out.stderr
    store = ResultsStore(db)
    (info,) = store.runs()
    assert info.status == "failed" and info.n_done == 0 and len(store.predictions(info.run_id)) == 0
    assert_clean(db, images=0)

    mode_file.write_text("")
    resumed = semscale("--results", str(db), "resume", info.run_id, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert store.run(info.run_id).status == "done"
    assert_clean(db, images=24)


def test_an_embedded_model_that_computes_nan_is_refused_in_one_line(model_dir, colour_dir, tmp_path):
    """The embedded ONNX encoder goes through the same check: here its vision weights are NaN."""
    broken = tmp_path / "broken"
    tinyclip.build(broken)
    tinyclip.write_vision(broken / "vision", np.full((48, tinyclip.DIM), np.nan, np.float32))
    encoder = LocalEncoder(broken)
    store = ResultsStore(tmp_path / "r.duckdb")
    run_id = Engine(store, encoder).start(RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS, batch_size=8))
    with pytest.raises(EncoderUnavailable, match=r"^local ONNX clip-vit-b32 from .*broken returned unusable "
                                                 r"embeddings when asked to encode 8 images: 8 of 8 with NaN"):
        Engine(store, encoder).process(run_id)
    assert store.run(run_id).n_done == 0
    assert_clean(store.path, images=0)


def test_unusable_vectors_already_in_the_cache_are_encoded_again(colour_dir, encoder, tmp_path):
    """NaN, zero or wrongly sized vectors an older version stored are misses, and replaced."""
    store = ResultsStore(tmp_path / "r.duckdb")
    config = RunConfig(dataset=str(colour_dir), labels=COLOUR_LABELS, aggregations=["max", "mean"])
    first = Engine(store, encoder).run(config)
    with duckdb.connect(str(store.path)) as con:
        hashes = [h for (h,) in con.execute("SELECT hash FROM embeddings ORDER BY kind, hash").fetchall()]
        spoiled = {hashes[0]: "list_transform(vec, lambda x: 'nan'::FLOAT)",
                   hashes[1]: "list_transform(vec, lambda x: 0::FLOAT)",
                   hashes[2]: "vec[1:7]", hashes[-1]: "list_transform(vec, lambda x: 'inf'::FLOAT)"}
        for h, value in spoiled.items():
            con.execute(f"UPDATE embeddings SET vec = {value} WHERE hash = ?", [h])
    engine = Engine(store, encoder)
    again = engine.run(config)
    assert engine.encoded_images + engine.encoded_texts == len(spoiled)
    assert engine.encoded_images >= 1 and engine.encoded_texts >= 1
    columns = ["aggregation", "n_names", "image_idx", "predicted", "score"]
    assert store.predictions(again)[columns].equals(store.predictions(first)[columns])
    assert_clean(store.path, images=24)
