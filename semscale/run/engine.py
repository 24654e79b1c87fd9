"""The scaling engine: encode each distinct image and name once, then score every level from cache.

A run goes batch by batch over its images, in a seeded random order fixed when the run starts
(classes interleaved, so a partial curve is a running estimate over the whole data set). For each
batch it reads the files, takes cached embeddings or decodes and encodes the missing ones, scores
all levels x aggregations x name orders, and commits the batch (new embeddings, predictions,
running accuracy) in one transaction, in a writer thread while the next batch is encoded. Readers
see the curves grow while it works; a killed run loses at most the batches not yet committed, and
`resume` continues the same order with the images that have no result yet. One process owns a run at a
time (see `ResultsStore.claim_run`).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from semscale.core.errors import SemscaleError
from semscale.core.stats import bootstrap
from semscale.core.vectors import normalize
from semscale.data import datasets
from semscale.data.images import DecodedImage, ImageRejected, content_hash, decode, footprint, prepare, prepared_hash
from semscale.models.encoders import Encoder
from semscale.names import classnames
from semscale.names.labels import LabelSet
from semscale.run import plan as plans
from semscale.run import schedule
from semscale.run.config import RunConfig
from semscale.run.plan import Plan, image_order
from semscale.store.results import ResultsStore

MAX_CACHED_BATCH = 1024  # images per batch once everything is served from the cache
# Memory a batch may hold, its files and their decoded RGB pixels, whatever the images' sizes: a
# batch takes images until the next would pass it (at least one, and one image is at most
# images.MAX_PIXELS). A run holds two batches (one encoded, one read ahead), see `_read_batch`.
BATCH_BYTES = 512 * 1024**2
# One commit (a transaction per run) carries every batch scored since the last one: at most every
# COMMIT_EVERY seconds, at most COMMIT_BATCHES batches (what a crash can lose), see `_loop`.
COMMIT_EVERY = 1.0
COMMIT_BATCHES = 8
# A batch's cache lookup runs while the batch before it is encoded and the batches before that may
# wait for, or be in, a commit (see `_loop`): it can miss the new embeddings of that many batches.
LOOKUP_LAG = 2 * COMMIT_BATCHES + 2


class WrongModel(SemscaleError):
    """A run resumed with another model than the one it was made with: nothing was changed."""


@dataclass
class Progress:
    """What a progress bar needs after each batch."""

    run_id: str
    done: int
    total: int
    rejected: int
    images_per_second: float


def bootstrap_intervals(predictions: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Percentile bootstrap interval per curve point, resampling the run's images."""
    rows = []
    for (agg, rep, n), group in predictions.groupby(["aggregation", "repeat", "n_names"]):
        low, high = bootstrap(group.sort_values("image_idx")["correct"].to_numpy(bool), seed=seed)
        rows.append((agg, rep, n, low, high))
    return pd.DataFrame(rows, columns=["aggregation", "repeat", "n_names", "ci_low", "ci_high"])


@dataclass
class _Read:
    """One batch of a run's images, read once for every run in the loop: files, cache keys, each
    run's cache hits, and the decode of what any run misses (in the background, see `_loop`)."""

    size: int  # images taken from the run's list, rejected ones included
    rows: list = field(default_factory=list)  # run_images rows that could be read
    hashes: list[str] = field(default_factory=list)
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # unreadable: (image_idx, item, reason)
    hits: list[dict[str, np.ndarray]] = field(default_factory=list)  # per run: cached embeddings
    decoded: dict = field(default_factory=dict)  # {hash: DecodedImage, or the reason it was rejected}


@dataclass
class _Batch:
    """One run's view of a batch on its way through embed -> score: the images still in it and those rejected."""

    size: int
    rows: list = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (image_idx, item, reason)


@dataclass
class _Lane:
    """One run in a batch loop: its engine (encoder and results file), its plan and its progress."""

    engine: "Engine"
    run_id: str
    plan: Plan
    done: int = 0
    rejected: int = 0
    recent: list[dict[str, np.ndarray]] = field(default_factory=list)  # new embeddings of the last LOOKUP_LAG batches

    def uncommitted(self) -> dict[str, np.ndarray]:
        """The new embeddings a cache lookup may have missed: those of the last LOOKUP_LAG batches."""
        return {h: v for new in self.recent for h, v in new.items()}

    def remember(self, new: dict[str, tuple[str, np.ndarray]]) -> None:
        self.recent = [*self.recent, {h: v for h, (_, v) in new.items()}][-LOOKUP_LAG:]


@dataclass
class _Scored:
    """The batches embedded and scored by every run since the last commit, on their way to the writer
    thread as one commit, and then to the progress callback once it landed."""

    batches: list[tuple[float, list]] = field(default_factory=list)
    # per batch: perf_counter when it was taken up, and per run (lane, batch, new, predictions, seconds)

    def commit(self) -> "_Scored":
        """Write every run's part of the batches, one transaction per run (the writer thread)."""
        for lane, *_ in self.batches[0][1]:  # every batch has every run's part
            parts = [(batch, new, predictions, seconds) for _, work in self.batches
                     for lane_, batch, new, predictions, seconds in work if lane_ is lane]
            tables = [p for _, _, p, _ in parts if len(p)]
            lane.engine.store.commit_batch(
                lane.run_id, lane.engine.encoder.model_id, {h: v for _, new, _, _ in parts for h, v in new.items()},
                pa.concat_tables(tables) if tables else pa.table({}),
                pd.DataFrame([r for batch, *_ in parts for r in batch.rejected],
                             columns=["image_idx", "item", "reason"]),
                {k: sum(seconds[k] for *_, seconds in parts) for k in ("encode", "score", "total")})
        return self

    def landed(self, total: int, progress: Callable[[Progress], None] | None) -> None:
        """Count the committed batches and tell the caller, batch by batch; readers of the file already see them."""
        for started, work in self.batches:
            for lane, batch, *_ in work:
                lane.done += batch.size
                lane.rejected += len(batch.rejected)
                if progress:
                    progress(Progress(lane.run_id, lane.done, total, lane.rejected,
                                      batch.size / max(time.perf_counter() - started, 1e-9)))

    def keep_embeddings(self) -> None:
        """Batches stopped before their commit: only their embeddings are stored, so a resume does
        not encode them again (the cache is shared; the run's counts and predictions stay as they were)."""
        for _, work in self.batches:
            for lane, _, new, *_ in work:
                lane.engine.store.put_embeddings(lane.engine.encoder.model_id, new)



class Engine:
    """Runs and resumes scaling experiments against one encoder and one results file."""

    def __init__(self, store: ResultsStore, encoder: Encoder):
        self.store = store
        self.encoder = encoder
        self.encoded_images = 0  # fresh image encodes by this engine (benchmarks and tests read it)
        self.encoded_texts = 0
        self.decoded_images = 0  # image decodes (a shared loop counts them on its first run's engine)

    def start(self, config: RunConfig, dataset: datasets.Dataset | None = None, run_id: str | None = None,
              queued: bool = False) -> str:
        """Register a run (dataset listing, cleaned label set, levels) and return its id; `queued`: as
        waiting for a slot (semscale.store.runqueue) until `process` claims it."""
        config.validate()
        dataset = dataset or datasets.load(config.dataset)
        if not config.labels:  # each class by its display name alone
            shown, shown_notes = classnames.display_names(dataset.classes)
            config.labels = {c: [n] for c, n in shown.items()}
            config.name_notes = [*config.name_notes, *shown_notes]
        # The paper scheme repeats a plural-only name on purpose (every class keeps the same k).
        labels = LabelSet.clean(config.labels, dataset.classes,
                                keep_repeats=config.scheme == "paper" or config.keep_repeats,
                                relations=config.relations)
        config.labels, config.relations = labels.names, labels.relations
        schedule.parse(config.schedule, labels.max_names)  # refuse a bad schedule before anything is stored
        run_id = run_id or uuid.uuid4().hex[:10]
        images = pd.DataFrame({
            "image_idx": range(len(dataset.samples)),
            "name": [dataset.display_name(s) for s in dataset.samples],
            "label": [s.label for s in dataset.samples],
            "path": [os.fsencode(s.path) for s in dataset.samples],
        }).iloc[image_order(len(dataset.samples), config.seed)]
        names = pd.DataFrame(
            [(k, c, p, n, r) for k, (c, ns) in enumerate(labels.names.items())
             for p, (n, r) in enumerate(zip(ns, labels.relations[c], strict=True))],
            columns=["class_idx", "class", "position", "name", "relation"])
        notes = ([(None, r.item, r.reason) for r in dataset.rejected] + [(None, "names", n) for n in config.name_notes]
                 + [(None, "labels", w) for w in labels.warnings])
        rejected = pd.DataFrame(notes, columns=["image_idx", "item", "reason"]).astype({"image_idx": "Int64"})
        self.store.create_run(run_id, dataset.name, self.encoder.model_id, asdict(config), images, names, rejected,
                              "queued" if queued else "running")
        return run_id

    def run(self, config: RunConfig, dataset: datasets.Dataset | None = None,
            progress: Callable[[Progress], None] | None = None, should_stop: Callable[[], bool] | None = None) -> str:
        """Start a run and process it to the end; returns the run id."""
        run_id = self.start(config, dataset)
        self.process(run_id, progress, should_stop)
        return run_id

    def process(self, run_id: str, progress: Callable[[Progress], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> str:
        """Score every image of the run that has no result yet; the final status is returned.

        Raises RunOwned (and changes nothing) when another live process is working on the run.
        """
        return process_together([(self, run_id)], progress, should_stop)[0]

    def _plan(self, run_id: str, config: RunConfig, labels: LabelSet) -> Plan:
        """The run's plan (semscale.run.plan.build), with the names it encoded counted on this engine."""
        plan = plans.build(self.encoder, self.store, run_id, config, labels)
        self.encoded_texts += plan.names.encoded
        return plan

    def _embed_batch(self, read: _Read, hits: dict[str, np.ndarray], plan: Plan,
                     uncommitted: dict[str, np.ndarray]) -> tuple[_Batch, dict[str, tuple[str, np.ndarray]]]:
        """This run's view of `read`: every readable image with its embedding, from the cache (or
        from `uncommitted`, the run's recent batches whose commit may have come after this batch's
        lookup), or encoded now from its decoded pixels; an image it misses that did not decode is
        rejected. Returns the new embeddings to store."""
        hits = {**{h: uncommitted[h] for h in read.hashes if h in uncommitted and h not in hits}, **hits}
        batch = _Batch(read.size, rejected=list(read.rejected))
        fresh = {}
        for row, h in zip(read.rows, read.hashes, strict=True):
            got = hits.get(h) if h in hits else read.decoded[h]
            if isinstance(got, str):
                batch.rejected.append((row.image_idx, row.name, got))
                continue
            if h not in hits:
                fresh[h] = got
            batch.rows.append(row)
            batch.hashes.append(h)
        new = {}
        if fresh:
            vecs = self.encoder.encode_images(list(fresh.values()))
            self._check_dim(vecs, plan.names.matrix.shape[1])
            new = {h: ("image", v) for h, v in zip(fresh, vecs, strict=True)}
            hits.update({h: v for h, (_, v) in new.items()})
            self.encoded_images += len(fresh)
        batch.vectors = [hits[h] for h in batch.hashes]
        return batch, new

    @staticmethod
    def _score_batch(plan: Plan, batch: "_Batch", block: int) -> pa.Table:
        """One prediction row per image x (order, level) x aggregation, as an Arrow table (built from
        the score arrays without a Python object per row, so the commit inserts it without the GIL).

        Scored `block` (the run's batch size) images at a time, as a run on a cold cache scores
        them: a float32 matrix product changes in the last bits with its number of rows, and a
        batch grown on a warm cache must store the same scores as a batch that was not.
        """
        if not batch.rows:
            return pa.table({})
        image_matrix = normalize(np.stack(batch.vectors))
        truth = np.array([plan.classes.index(r.label) for r in batch.rows])
        idx = pa.array(np.array([r.image_idx for r in batch.rows], np.int32))
        hashes, classes = pa.array(batch.hashes, pa.string()), pa.array(plan.classes)
        names = pa.array(list(plan.names.index))
        parts = []
        for (rep, n, _), predictions in zip(plan.levels, plan.score(image_matrix, [
                slice(start, start + block) for start in range(0, len(image_matrix), block)]), strict=True):
            for agg, p in predictions.items():
                rows = len(p.predicted)
                parts.append(pa.table({
                    "aggregation": pa.array([agg] * rows, pa.string()),
                    "repeat": pa.array(np.full(rows, rep, np.int32)),
                    "n_names": pa.array(np.full(rows, n, np.int32)), "image_idx": idx, "image_hash": hashes,
                    "predicted": classes.take(p.predicted), "correct": pa.array(p.predicted == truth),
                    "score": pa.array(p.score.astype(np.float32)),
                    "top_names": _rows_of(names.take(p.top_rows.ravel()), p.top_rows.shape),
                    "top_sims": _rows_of(pa.array(p.top_sims.ravel()), p.top_sims.shape),
                }))
        return pa.concat_tables(parts)

    @staticmethod
    def _check_dim(vecs: np.ndarray, expected: int) -> None:
        if vecs.ndim != 2 or vecs.shape[1] != expected:
            raise SemscaleError(
                f"the encoder returned image embeddings of size {vecs.shape[-1] if vecs.ndim else 0}, "
                f"but its text embeddings have size {expected}; nothing from this batch was stored")


def _rows_of(flat: pa.Array, shape: tuple[int, ...]) -> pa.ListArray:
    """A (rows, width) array given flat, as one list per row."""
    rows, width = shape
    return pa.ListArray.from_arrays(pa.array(np.arange(0, rows * width + 1, width, dtype=np.int32)), flat)


def process_together(runs: list[tuple[Engine, str]], progress: Callable[[Progress], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> list[str]:
    """Process several runs of the same images and settings (one per model, say) in one batch loop:
    each batch is read and decoded once and encoded by each run's engine into its own cache and
    run. Every run comes out as if processed alone; the final statuses are returned in order.

    Raises RunOwned (and changes nothing) when another live process is working on one of the runs.
    """
    infos = [engine.store.run(run_id) for engine, run_id in runs]
    runs = [(engine, info.run_id) for (engine, _), info in zip(runs, infos, strict=True)]
    for (engine, _), info in zip(runs, infos, strict=True):
        if info.model != engine.encoder.model_id:
            raise WrongModel(f"run {info.run_id} was made with model {info.model}, not {engine.encoder.model_id}")
    configs = [RunConfig.from_dict({"decode": "exact", **info.config}) for info in infos]
    todos = []
    for engine, run_id in runs:
        todo = engine.store.run_images(run_id)  # in the run's processing order
        todos.append(todo[~todo["image_idx"].isin(engine.store.finished_images(run_id))])
    if any(_same_work(c) != _same_work(configs[0]) or not t.equals(todos[0])
           for c, t in zip(configs, todos, strict=True)):
        raise SemscaleError("runs processed together need the same settings and the same images left to do; "
                            "process them one at a time")
    claimed = []
    try:
        for engine, run_id in runs:
            engine.store.claim_run(run_id)
            claimed.append((engine, run_id))
        lanes = [_Lane(engine, run_id, engine._plan(run_id, configs[0], LabelSet(engine.store.run_names(run_id))),
                       done=info.n_images - len(todos[0]))
                 for (engine, run_id), info in zip(runs, infos, strict=True)]
        status = _loop(lanes, todos[0], configs[0], progress, should_stop)
    except BaseException as exc:
        message = str(exc) if isinstance(exc, SemscaleError) else f"{type(exc).__name__}: {exc}"
        failed = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        for engine, run_id in claimed:
            engine.store.finish_run(run_id, failed, message[:500])
        raise
    for (engine, run_id), config in zip(runs, configs, strict=True):
        if status == "done" and config.interval == "bootstrap":
            engine.store.set_intervals(run_id, bootstrap_intervals(engine.store.predictions(run_id), config.seed))
        engine.store.finish_run(run_id, status)
    return [status] * len(runs)


@dataclass
class Together:
    """Runs started on several engines, processed in one loop by `process_together`; stands in for
    an Engine where one run is processed (`process` ignores its run id: the runs share one status)."""

    runs: list[tuple[Engine, str]]

    def process(self, run_id: str | None = None, progress: Callable[[Progress], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> str:
        return process_together(self.runs, progress, should_stop)[0]


def _same_work(config: RunConfig) -> dict:
    """What must match for runs to share a batch loop: everything but the backend."""
    return {**asdict(config), "backend": None}


def _loop(lanes: list[_Lane], todo: pd.DataFrame, config: RunConfig,
          progress: Callable[[Progress], None] | None, should_stop: Callable[[], bool] | None) -> str:
    """The batch loop, in the run's order: read -> embed -> score -> commit, until done or asked to stop.

    While batch k is encoded and scored (this thread), batch k+1 is read, looked up in each cache and
    decoded (PIL and hashlib release the GIL), and the batches scored before it wait for, or are in,
    a commit in the writer thread: one at a time, in order, a transaction per run carrying every
    batch scored since the last one, handed over at most every COMMIT_EVERY seconds (a fast encoder
    would otherwise spend its time opening the results file) and at least every COMMIT_BATCHES
    batches (what a crash can lose). A lookup may thus miss the embeddings of the batches not yet
    committed: each lane keeps those of the last LOOKUP_LAG batches (`_Lane.recent`), so no image is
    encoded twice and results do not change. A batch's progress is reported once its commit landed;
    a failed commit stops the run before anything after it is committed. Asked to stop, the loop lets
    the commit in flight land and keeps only the embeddings of the batches scored after it. On any
    error the commit in flight lands (or fails, and that earlier failure is the one raised) and then
    the batches scored since are committed, before the caller marks the run.
    """
    total = lanes[0].engine.store.run(lanes[0].run_id).n_images
    position, size = 0, config.batch_size
    with (ThreadPoolExecutor(1, thread_name_prefix="semscale-read") as reader,
          ThreadPoolExecutor(1, thread_name_prefix="semscale-write") as writer):
        ahead = reader.submit(_read_batch, lanes, todo.iloc[:size], config, [{} for _ in lanes]) if len(todo) else None
        writing: Future | None = None  # the commit in flight
        scored = _Scored()  # the batches scored and not yet handed to the writer
        handed = time.perf_counter()  # when the last commit was handed over
        try:
            while True:
                if writing is not None and (writing.done() or ahead is None or len(scored.batches) >= COMMIT_BATCHES):
                    writing.result().landed(total, progress)
                    writing = None
                if ahead is None and writing is None and not scored.batches:
                    return "done"
                if should_stop and should_stop():
                    if ahead is not None:
                        ahead.cancel()
                    if writing is not None:
                        writing.result().landed(total, progress)
                    scored.keep_embeddings()
                    return "cancelled"
                if writing is None and scored.batches and (
                        ahead is None or len(scored.batches) >= COMMIT_BATCHES
                        or time.perf_counter() - handed >= COMMIT_EVERY):
                    writing, scored, handed = writer.submit(scored.commit), _Scored(), time.perf_counter()
                if ahead is None:
                    continue  # the last commits
                started, read = time.perf_counter(), ahead.result()
                position += read.size
                uncommitted = [lane.uncommitted() for lane in lanes]
                fresh = _to_encode(read, uncommitted)
                # Batches bound the work a crash can lose; when nothing needs encoding that work is
                # cheap, so grow the batch and spend less time opening the results file.
                size = config.batch_size if any(fresh) else min(size * 2, MAX_CACHED_BATCH)
                ahead = (reader.submit(_read_batch, lanes, todo.iloc[position : position + size], config, [
                    {h: None for h in [*f, *recent]} for f, recent in zip(fresh, uncommitted, strict=True)])
                    if position < len(todo) else None)
                scored.batches.append((started, _embed_and_score(lanes, read, uncommitted, config)))
        except BaseException as exc:
            _settle(exc, ahead, writing, scored)
            raise


def _to_encode(read: _Read, uncommitted: list[dict]) -> list[set[str]]:
    """Per lane, the hashes of the batch's decoded images that neither its cache nor its batches not yet
    committed hold: what it must encode."""
    return [{h for h in read.hashes if h not in hits and h not in recent
             and isinstance(read.decoded.get(h), DecodedImage)}
            for recent, hits in zip(uncommitted, read.hits, strict=True)]


def _embed_and_score(lanes: list[_Lane], read: _Read, uncommitted: list[dict], config: RunConfig) -> list[tuple]:
    """Each lane's embedded batch, new embeddings, predictions and seconds spent, for one batch read."""
    work = []
    for lane, hits, recent in zip(lanes, read.hits, uncommitted, strict=True):
        t1 = time.perf_counter()
        batch, new = lane.engine._embed_batch(read, hits, lane.plan, recent)
        lane.remember(new)
        t2 = time.perf_counter()
        predictions = Engine._score_batch(lane.plan, batch, config.batch_size)
        t3 = time.perf_counter()
        work.append((lane, batch, new, predictions, {"encode": t2 - t1, "score": t3 - t2, "total": t3 - t1}))
    return work


def _settle(exc: BaseException, ahead: Future | None, writing: Future | None, scored: _Scored) -> None:
    """After `exc` stopped the loop: the commit in flight lands, or its failure, which came first as a
    serial loop would have said, is raised instead; then what was scored since is committed, so a resume
    does not redo it (if that fails too, the resume redoes it: the error that stopped the run is the news)."""
    if ahead is not None:
        ahead.cancel()
    if writing is not None:
        try:
            writing.result()
        except Exception as failed:
            if isinstance(exc, Exception):
                raise failed from exc
            return
    if scored.batches:
        with contextlib.suppress(Exception):
            scored.commit()


def _read_batch(lanes: list[_Lane], images: pd.DataFrame, config: RunConfig, coming: list[dict[str, None]]) -> _Read:
    """Read the batch's files and hash their bytes (with the image preparation and the draft
    decode's scale, which change the pixels the model sees), look each run's hashes up in its
    cache, and decode what any run misses and will not get from `coming` (the hashes the batches
    before this one encode for it and may not have committed yet). Runs in the background (see
    `_loop`). An unreadable file is rejected with its reason. The batch ends early, before the
    image that would take its files and decoded pixels past BATCH_BYTES (`read.size` says where)."""
    read = _Read(size=len(images))
    files = {}
    held = 0
    for taken, row in enumerate(images.itertuples()):
        try:
            with open(row.path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            read.rejected.append((row.image_idx, row.name, f"cannot be read ({exc.strerror})"))
            continue
        scale, pixels = footprint(data, config.draft_side)
        held += len(data) + pixels
        if held > BATCH_BYTES and taken:
            read.size = taken  # the rest goes to the next batch
            break
        h = prepared_hash(content_hash(data), config.image_prep, scale)
        read.rows.append(row)
        read.hashes.append(h)
        files.setdefault(h, (data, row.name))
    read.hits = [lane.engine.store.get_embeddings(lane.engine.encoder.model_id, read.hashes,
                                                  dim=lane.plan.names.matrix.shape[1]) for lane in lanes]
    # Only images some run misses are decoded: a cached one decoded fine when it was encoded.
    missing = {h: files[h] for lane_hits, ahead in zip(read.hits, coming, strict=True) for h in read.hashes
               if h not in lane_hits and h not in ahead}
    read.decoded = _decode_all(lanes[0].engine, missing, config)
    return read


def _decode_all(engine: Engine, files: dict[str, tuple[bytes, str]], config: RunConfig) -> dict:
    """{hash: pixels as the encoder should see them, or why the file was rejected}; counted on `engine`."""
    out: dict = {}
    for h, (data, name) in files.items():
        try:
            out[h] = prepare(decode(data, name, config.draft_side), config.image_prep)
        except ImageRejected as exc:
            out[h] = str(exc).split(": ", 1)[-1]
    engine.decoded_images += len(files)
    return out
