"""Model identity is what the model computes, not where it is served: real files, real servers.

The cache key and a run's stored model are `encoder.model_id`; a wrong one silently mixes two
models' embeddings into one result, so every test here checks a case that once did.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tinyclip
from conftest import make_colour_images
from test_server import COLOUR_LABELS, Server, semscale

from semscale.core.vectors import normalize
from semscale.models import encoders
from semscale.models.encoders import ClipServerEncoder, LocalEncoder, files_digest, probe_id
from semscale.models.settings import Backend
from semscale.run.config import RunConfig
from semscale.run.engine import Engine
from semscale.store.results import ResultsStore


@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory) -> Path:
    """Same shapes and colour geometry as `model_dir`, other seeded weights: model B."""
    return tinyclip.build(tmp_path_factory.mktemp("tiny-clip-b"), seed=1)


# --- the local encoder's id covers every model file ------------------------------------------------
@pytest.mark.parametrize("changed", ["text/tokenizer.json", "vision/preprocessor_config.json", "text/config.json",
                                     "text/special_tokens_map.json"])
def test_local_id_changes_with_any_model_file(model_dir, encoder, tmp_path, changed):
    copy = shutil.copytree(model_dir, tmp_path / "copy")
    assert LocalEncoder(copy).model_id == encoder.model_id  # the content counts, not the folder
    with open(copy / changed, "a") as fh:
        fh.write(" ")  # still valid JSON, another file
    assert LocalEncoder(copy).model_id != encoder.model_id
    assert encoder.model_id.startswith("clip-onnx:") and len(encoder.model_id) == len("clip-onnx:") + 12


def test_digest_reads_whole_files(tmp_path):
    """A byte changed in the middle of a 9 MB file (the old id read the first and last 4 MB only)."""
    blob = bytearray(np.random.default_rng(0).integers(0, 256, 9 << 20, dtype=np.uint8).tobytes())
    for name in ("a", "b"):
        (tmp_path / name / "vision").mkdir(parents=True)
    (tmp_path / "a" / "vision" / "model.onnx").write_bytes(blob)
    blob[(9 << 20) // 2] ^= 1
    (tmp_path / "b" / "vision" / "model.onnx").write_bytes(blob)
    assert files_digest({"vision": tmp_path / "a" / "vision"}) != files_digest({"vision": tmp_path / "b" / "vision"})
    (tmp_path / "b" / "vision" / "model.onnx").rename(tmp_path / "b" / "vision" / "other.onnx")
    blob[(9 << 20) // 2] ^= 1
    (tmp_path / "b" / "vision" / "other.onnx").write_bytes(blob)
    # names count
    assert files_digest({"vision": tmp_path / "a" / "vision"}) != files_digest({"vision": tmp_path / "b" / "vision"})


def test_probe_id_is_stable_across_batches_and_tells_models_apart(encoder, other_model_dir):
    """The probe image encoded alone or inside a batch of others gets the same id; model B does not."""
    image, text = encoders.probe_image(), encoders.PROBE_TEXT
    others = [encoders.probe_image(seed=s) for s in range(1, 6)]
    alone = probe_id(encoder.encode_images([image])[0], encoder.encode_texts([text])[0])
    batched = probe_id(encoder.encode_images(others + [image])[-1], encoder.encode_texts(["red", text])[-1])
    assert alone == batched and alone.startswith("server-probe:")
    b = LocalEncoder(other_model_dir)
    assert probe_id(b.encode_images([image])[0], b.encode_texts([text])[0]) != alone
    cos = float(normalize(encoder.encode_images([image]), np.float64)[0]
                @ normalize(b.encode_images([image]), np.float64)[0])
    assert cos < encoders.PROBE_TOLERANCE  # the per-batch check can see the swap


# --- a server's id is its model's -----------------------------------------------------------------
def test_server_shares_the_local_models_id(model_dir, encoder, tmp_path):
    srv = Server(model_dir, tmp_path / "logs").start()
    try:
        remote = ClipServerEncoder(srv.url, timeout=20, retries=0)
        assert remote.model_id == encoder.model_id  # one cache for one model, wherever it runs
    finally:
        srv.stop()


def test_model_swap_behind_one_url_stops_the_run(model_dir, other_model_dir, encoder, tmp_path, per_batch_commits):
    make_colour_images(tmp_path / "imgs", per_class=6, size=20)  # 24 images, 3 batches of 8
    store = ResultsStore(tmp_path / "r.duckdb")
    servers = [Server(model_dir, tmp_path / "a").start()]
    try:
        remote = ClipServerEncoder(servers[0].url, batch_size=8, timeout=20, retries=0)
        engine = Engine(store, remote)
        run_id = engine.start(RunConfig(dataset=str(tmp_path / "imgs"), labels=COLOUR_LABELS,
                                        aggregations=["max"], batch_size=8))

        def swap_after_first_batch(progress):
            if len(servers) == 1:
                servers[0].stop()
                servers.append(Server(other_model_dir, tmp_path / "b", port=servers[0].port).start())

        with pytest.raises(encoders.ModelChanged) as err:
            engine.process(run_id, progress=swap_after_first_batch)
        b_id = LocalEncoder(other_model_dir).model_id
        message = str(err.value)
        assert encoder.model_id in message and b_id in message and "nothing from this batch was stored" in message
        info = store.run(run_id)
        # batch 2 was encoded by A while batch 1 committed (before the swap that batch 1's progress made)
        assert info.status == "failed" and info.error == message and info.n_done == 16
        assert store.count_embeddings(encoder.model_id)["image"] == 16
        assert not store.count_embeddings(b_id)  # nothing of model B stored, under any id
    finally:
        for srv in servers:
            srv.stop()


def test_resume_follows_the_model_not_the_address(model_dir, other_model_dir, encoder, tmp_path, per_batch_commits):
    """Model A on port P: two runs stopped after one batch. A on port Q resumes the first; model B
    on port P encodes every image anew and is refused the second run."""
    make_colour_images(tmp_path / "imgs", per_class=6, size=20)
    db = tmp_path / "r.duckdb"
    store = ResultsStore(db)
    a = Server(model_dir, tmp_path / "a").start()
    a2 = b = None
    try:
        remote = ClipServerEncoder(a.url, batch_size=8, timeout=20, retries=0)
        engine = Engine(store, remote)
        runs = []
        for _ in range(2):
            config = RunConfig(dataset=str(tmp_path / "imgs"), labels=COLOUR_LABELS, aggregations=["max"],
                               batch_size=8, backend=Backend(server=a.url, timeout=20, retries=0).public())
            runs.append(engine.start(config))
            batches = []
            assert engine.process(runs[-1], progress=batches.append,
                                  should_stop=lambda batches=batches: len(batches) >= 1) == "cancelled"
        assert [store.run(r).n_done for r in runs] == [8, 8]

        a2 = Server(model_dir, tmp_path / "a2").start()  # the same model at another port
        out = semscale("--results", str(db), "resume", runs[0], "--server", a2.url, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert store.run(runs[0]).status == "done" and store.run(runs[0]).n_done == 24
        # each image once over both addresses (a stopped run keeps the embeddings of the batch it
        # had encoded, and the second run encoded the rest), and a few probe images
        assert 24 <= a.counters()["images_encoded"] + a2.counters()["images_encoded"] <= 24 + 8

        a.stop()
        b = Server(other_model_dir, tmp_path / "b", port=a.port).start()  # model B where A was
        fresh = semscale("--results", str(db), "run", "--dataset", str(tmp_path / "imgs"), "--server", b.url,
                         "--aggregation", "max", "--batch-size", "24", cwd=tmp_path)
        assert fresh.returncode == 0, fresh.stderr
        b_id = LocalEncoder(other_model_dir).model_id
        assert store.count_embeddings(b_id)["image"] == 24  # nothing of model A's reused
        assert 24 <= b.counters()["images_encoded"] <= 24 + 5

        for how in ([], ["--server", b.url]):  # the saved URL (now B) or B named explicitly
            refused = semscale("--results", str(db), "resume", runs[1], *how, cwd=tmp_path)
            assert refused.returncode != 0, refused.stdout + refused.stderr
            assert f"run {runs[1]} was made with model {encoder.model_id}" in refused.stderr
            assert b_id in refused.stderr
        assert store.run(runs[1]).n_done == 8
    finally:
        for srv in (a, a2, b):
            if srv:
                srv.stop()

