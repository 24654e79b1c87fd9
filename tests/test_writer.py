"""The writer thread: each batch commits while the next one is encoded, and nothing a serial loop
guarantees is lost (real tiny ONNX model, real files, real DuckDB files; commits are slowed or
failed by wrapping the real store method, so every lookup runs while the commits before it are
still in flight)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import psutil
import pytest
from conftest import COLOURS
from test_speed_paths import photo

from semscale.core.errors import SemscaleError
from semscale.data.images import content_hash
from semscale.run import engine as engine_mod
from semscale.run.config import RunConfig
from semscale.run.engine import Engine
from semscale.store.results import ResultsStore

LABELS = {c: [c, f"large {c} thing"] for c in COLOURS}
BATCH = 2
COMMIT_DELAY = 0.3  # s before each commit: far longer than a batch of the tiny model takes to encode


def distinct_photos(root: Path, per_class: int = 6) -> Path:
    for k, (name, rgb) in enumerate(COLOURS.items()):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            (root / name / f"{i}.jpg").write_bytes(photo((48, 48), rgb, seed=100 * k + i))
    return root


def repeated_photos_run(tmp_path: Path, encoder, copies: tuple[list[int], ...]):
    """A run registered over 24 distinct photos (batches of BATCH), then, in its processing order,
    the photo at each group's first position copied over the group's other positions (so batch k
    holds positions 2k and 2k+1). Returns (store, engine, config, run_id, distinct photos)."""
    folder = distinct_photos(tmp_path / "photos")
    store = ResultsStore(tmp_path / "r.duckdb")
    engine = Engine(store, encoder)
    config = RunConfig(dataset=str(folder), labels=LABELS, aggregations=["max", "probsum"], batch_size=BATCH)
    run_id = engine.start(config)
    order = [Path(p) for p in store.run_images(run_id)["path"]]
    for group in copies:
        for position in group[1:]:
            order[position].write_bytes(order[group[0]].read_bytes())
    distinct = len({content_hash(p.read_bytes()) for p in order})
    assert distinct == 24 - sum(len(group) - 1 for group in copies)
    return store, engine, config, run_id, distinct


def slow_commits(store: ResultsStore, monkeypatch, fail_at: int | None = None, before=None) -> list[int]:
    """Delay every commit (so lookups run while it is in flight); `before(n)` runs just before the
    n-th real commit (1-based). Returns the list of commit numbers that landed."""
    real, landed = store.commit_batch, []

    def commit_batch(*args, **kwargs):
        number = len(landed) + 1
        time.sleep(COMMIT_DELAY)
        if before:
            before(number)
        real(*args, **kwargs)
        landed.append(number)

    monkeypatch.setattr(store, "commit_batch", commit_batch)
    return landed


def comparable(store: ResultsStore, run_id: str):
    preds = store.predictions(run_id)
    preds["top_names"] = [tuple(x) for x in preds["top_names"]]
    preds["top_sims"] = [tuple(float(v) for v in x) for x in preds["top_sims"]]
    return store.points(run_id).drop(columns="run_id"), preds


def test_an_image_repeated_over_consecutive_batches_is_encoded_once(tmp_path, encoder, monkeypatch, per_batch_commits):
    """A lookup can miss the last two batches' new embeddings (one being committed, one being
    encoded): an image in batches 0, 1 and 2, one in batches 3 and 5 and one twice in batch 4 are
    each encoded and decoded once, and the results equal a run whose every image came from the cache."""
    store, engine, config, run_id, distinct = repeated_photos_run(tmp_path, encoder, ([1, 2, 5], [6, 11], [8, 9]))
    landed = slow_commits(store, monkeypatch)
    assert engine.process(run_id) == "done"
    assert engine.encoded_images == engine.decoded_images == distinct
    assert landed == list(range(1, 13))
    assert store.count_embeddings(encoder.model_id)["image"] == distinct

    # the same run again: every image from the cache, batches grown, nothing encoded
    again = Engine(store, encoder)
    again_id = again.run(config)
    assert again.encoded_images == again.decoded_images == 0
    for got, want in zip(comparable(store, run_id), comparable(store, again_id), strict=True):
        assert got.equals(want)
    assert len(store.predictions(run_id)) == 24 * 2 * 2


def test_a_fast_encoder_commits_several_batches_at_once(tmp_path, encoder, monkeypatch):
    """Commits carry every batch scored since the last one (here: 3 batches, the time limit out of the
    way), the results equal a run committing batch by batch, progress still comes batch by batch and
    only once the batch is in the file, and an image repeated within a commit, across two commits
    (batches 2 and 6, the first commit still in flight) or in one batch is encoded once."""
    monkeypatch.setattr(engine_mod, "COMMIT_EVERY", 60.0)
    monkeypatch.setattr(engine_mod, "COMMIT_BATCHES", 3)
    store, engine, config, run_id, distinct = repeated_photos_run(tmp_path, encoder, ([1, 2, 5], [4, 13], [8, 9]))
    real, carried = store.commit_batch, []

    def commit_batch(run_id, model_id, new, predictions, *rest):
        time.sleep(COMMIT_DELAY)
        real(run_id, model_id, new, predictions, *rest)
        carried.append(len(set(predictions["image_idx"].to_pylist())))
    monkeypatch.setattr(store, "commit_batch", commit_batch)
    reader, seen = ResultsStore(store.path), []
    assert engine.process(run_id, progress=lambda p: seen.append((p.done, reader.run(run_id).n_done))) == "done"
    assert carried == [6, 6, 6, 6]
    assert [done for done, _ in seen] == list(range(2, 25, 2)) and all(stored >= done for done, stored in seen)
    assert engine.encoded_images == engine.decoded_images == distinct
    assert store.count_embeddings(encoder.model_id)["image"] == distinct  # every batch's, not only the last's

    monkeypatch.setattr(engine_mod, "COMMIT_BATCHES", 1)
    alone = ResultsStore(tmp_path / "alone.duckdb")
    alone_id = Engine(alone, encoder).run(config)
    for got, want in zip(comparable(store, run_id), comparable(alone, alone_id), strict=True):
        assert got.equals(want)


def test_progress_is_reported_only_once_the_batch_is_in_the_file(tmp_path, colour_dir, encoder, monkeypatch,
                                                                 per_batch_commits):
    store = ResultsStore(tmp_path / "r.duckdb")
    reader = ResultsStore(store.path)  # what the dashboard reads
    engine = Engine(store, encoder)
    run_id = engine.start(RunConfig(dataset=str(colour_dir), labels=LABELS, batch_size=5))
    slow_commits(store, monkeypatch)
    seen = []

    def progress(p):
        seen.append((p.done, reader.run(run_id).n_done, int(reader.points(run_id)["n_images"].max())))

    assert engine.process(run_id, progress=progress) == "done"
    assert [done for done, _, _ in seen] == [5, 10, 15, 20, 24]
    assert all(done == stored == points for done, stored, points in seen), seen


def planted_duplicate(store: ResultsStore, run_id: str, image_idx: int) -> None:
    """Another process stores a prediction for one image of a run in progress, as a second writer would."""
    code = ("import duckdb, sys; con = duckdb.connect(sys.argv[1]); con.execute(\"INSERT INTO predictions "
            "VALUES (?, 'max', 0, 1, ?, 'x', 'red', false, 0.0, [], [])\", [sys.argv[2], int(sys.argv[3])]); "
            "con.close()")
    subprocess.run([sys.executable, "-c", code, str(store.path), run_id, str(image_idx)], check=True)


def test_a_failed_commit_stops_the_run_and_nothing_after_it_is_stored(tmp_path, colour_dir, encoder, monkeypatch,
                                                                      per_batch_commits):
    """Batch 3's commit is refused (another process stored one of its images) while batch 4 is
    already encoded: the run fails with that error, batches 1-2 stay, nothing of 3 or 4 is stored."""
    store = ResultsStore(tmp_path / "r.duckdb")
    engine = Engine(store, encoder)
    run_id = engine.start(RunConfig(dataset=str(colour_dir), labels=LABELS, batch_size=BATCH))
    images = store.run_images(run_id)
    landed = slow_commits(store, monkeypatch, before=lambda number: number == 2 and planted_duplicate(
        store, run_id, int(images["image_idx"][2 * BATCH])))
    with pytest.raises(SemscaleError, match="already has predictions"):
        engine.process(run_id)
    assert engine.encoded_images > 3 * BATCH  # batch 4 was encoded while batch 3 was being committed
    info = store.run(run_id)
    assert info.status == "failed" and "already has predictions" in info.error
    assert landed == [1, 2] and info.n_done == 2 * BATCH
    preds = store.predictions(run_id)
    assert set(preds["image_idx"]) == set(images["image_idx"][: 2 * BATCH + 1])  # + the planted one
    assert (store.points(run_id)["n_images"] == 2 * BATCH).all()
    stored = {h for (h,) in duckdb.connect(str(store.path)).execute(
        "SELECT hash FROM embeddings WHERE kind = 'image'").fetchall()}
    assert stored == {content_hash(Path(p).read_bytes()) for p in images["path"][: 2 * BATCH]}


def test_a_failed_commit_is_the_error_reported_when_a_later_batch_fails_during_it(tmp_path, colour_dir, encoder,
                                                                                  monkeypatch, per_batch_commits):
    """Batch 3's commit is refused while batch 4's encode fails: the commit failed first, so the run
    reports it, as a serial loop would have (the encode error is its cause, not its replacement)."""
    store = ResultsStore(tmp_path / "r.duckdb")
    engine = Engine(store, Interrupted(encoder, at=4, error=SemscaleError("the CLIP server went away")))
    run_id = engine.start(RunConfig(dataset=str(colour_dir), labels=LABELS, batch_size=BATCH))
    images = store.run_images(run_id)
    landed = slow_commits(store, monkeypatch, before=lambda number: number == 2 and planted_duplicate(
        store, run_id, int(images["image_idx"][2 * BATCH])))
    with pytest.raises(SemscaleError, match="already has predictions") as raised:
        engine.process(run_id)
    assert "went away" in str(raised.value.__cause__)  # batch 4's encode did fail, during commit 3
    info = store.run(run_id)
    assert info.status == "failed" and "already has predictions" in info.error
    assert landed == [1, 2] and info.n_done == 2 * BATCH


TAKE_OVER = ("import duckdb, os, sys; con = duckdb.connect(sys.argv[1]); con.execute('UPDATE runs SET pid=?, "
             "pid_started=?, host=? WHERE run_id=?', [int(sys.argv[3]), float(sys.argv[4]), os.uname().nodename, "
             "sys.argv[2]]); con.close()")


def test_a_run_taken_over_mid_commit_writes_nothing_more(tmp_path, colour_dir, encoder, monkeypatch, per_batch_commits):
    """Another process takes the run just before batch 3's commit, while batch 4 is being encoded."""
    store = ResultsStore(tmp_path / "r.duckdb")
    engine = Engine(store, encoder)
    run_id = engine.start(RunConfig(dataset=str(colour_dir), labels=LABELS, batch_size=BATCH))
    rival = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

    def steal(number):
        if number == 3:
            subprocess.run([sys.executable, "-c", TAKE_OVER, str(store.path), run_id, str(rival.pid),
                            repr(psutil.Process(rival.pid).create_time())], check=True)

    try:
        landed = slow_commits(store, monkeypatch, before=steal)
        with pytest.raises(SemscaleError, match="no longer owned by this process"):
            engine.process(run_id)
        info = store.run(run_id)
        assert landed == [1, 2] and info.n_done == 2 * BATCH
        assert info.status == "running" and info.owner.pid == rival.pid and info.error is None
        assert len(store.predictions(run_id)) == 2 * BATCH * len(store.points(run_id))
    finally:
        rival.kill()


class Interrupted:
    """The real encoder, with Ctrl-C pressed (or another error raised) during its `at`-th image batch."""

    def __init__(self, encoder, at: int, error: BaseException | type[BaseException] = KeyboardInterrupt):
        self.encoder, self.at, self.error, self.calls = encoder, at, error, 0

    def __getattr__(self, name):
        return getattr(self.encoder, name)

    def encode_images(self, images):
        self.calls += 1
        if self.calls == self.at:
            raise self.error
        return self.encoder.encode_images(images)


def test_an_interrupt_lets_the_commit_in_flight_land_and_the_run_resumes(tmp_path, colour_dir, encoder,
                                                                         monkeypatch, per_batch_commits):
    store = ResultsStore(tmp_path / "r.duckdb")
    config = RunConfig(dataset=str(colour_dir), labels=LABELS, batch_size=BATCH)
    engine = Engine(store, Interrupted(encoder, at=3))
    run_id = engine.start(config)
    landed = slow_commits(store, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        engine.process(run_id)
    info = store.run(run_id)
    assert landed == [1, 2]  # batch 2 was in flight when Ctrl-C came during batch 3's encode
    assert info.status == "interrupted" and info.n_done == 2 * BATCH
    monkeypatch.undo()
    assert Engine(store, encoder).process(run_id) == "done"
    alone = ResultsStore(tmp_path / "alone.duckdb")
    alone_id = Engine(alone, encoder).run(config)
    for got, want in zip(comparable(store, run_id), comparable(alone, alone_id), strict=True):
        assert got.equals(want)


def test_an_error_keeps_the_batches_scored_before_it_when_commits_are_grouped(tmp_path, colour_dir, encoder,
                                                                                monkeypatch):
    """Ctrl-C during the 5th batch, the first four scored and waiting for their (grouped) commit:
    they are committed before the run is marked, so the resume encodes only the rest."""
    monkeypatch.setattr(engine_mod, "COMMIT_EVERY", 60.0)
    store = ResultsStore(tmp_path / "r.duckdb")
    config = RunConfig(dataset=str(colour_dir), labels=LABELS, batch_size=BATCH)
    first = Engine(store, Interrupted(encoder, at=5))
    run_id = first.start(config)
    with pytest.raises(KeyboardInterrupt):
        first.process(run_id)
    info = store.run(run_id)
    assert info.status == "interrupted" and info.n_done == 4 * BATCH
    assert len(store.predictions(run_id)) == 4 * BATCH * len(store.points(run_id))
    second = Engine(store, encoder)
    assert second.process(run_id) == "done"
    assert second.encoded_images == 24 - 4 * BATCH
