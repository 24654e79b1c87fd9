"""B2: semscale's overhead over the limit set by the model.

A whole Engine run (dataset listing, decode, hashing, embedding cache, encoding, scoring of every
level x aggregation, DuckDB writes) on the real photos (clothing, 713 files; cifar10-1k, 1,000
files) against the bare minimum any caller pays to get the same embeddings: read each file, decode
it and encode it with the same encoder in the same batch size, and encode every distinct name
once. Engine runs and bare runs alternate (the machine is noisy); medians are reported. One more
instrumented run gives the breakdown.

Ratio = engine / bare. With the tiny test model encoding is nearly free, so the ratio is a worst
case; the absolute overhead per image (engine - bare, in ms) does not depend on the model: with a
model that needs E ms per image the ratio is about (E + decode + overhead) / (E + decode).

    python benchmarks/b2_overhead.py            # B2_ROUNDS=3 alternating rounds by default

B2_MODEL=vit-b32-shaped swaps the tiny model for a vision model with CLIP ViT-B/32's shape and
cost but random weights (benchmarks/_vit_shaped.py): the ratio against an encoder as expensive
as the real one. It is slow on a small CPU, so use it with B2_DATASETS=clothing B2_ROUNDS=1.
"""

from __future__ import annotations

import os
import time

import _common as C

from semscale.data import datasets
from semscale.data.images import DRAFT_SIDE, decode
from semscale.models.encoders import LocalEncoder
from semscale.names.synonyms import paper_names
from semscale.run.config import RunConfig
from semscale.run.engine import Engine
from semscale.store.results import ResultsStore

AGGREGATIONS = ["max", "mean", "probsum"]
BATCH = 32  # RunConfig's default
ROUNDS = int(os.environ.get("B2_ROUNDS", "3"))
DATASETS = os.environ.get("B2_DATASETS", "clothing,cifar10-1k").split(",")
MODEL = os.environ.get("B2_MODEL", "tiny")


def label_sets(folders: list) -> list[dict[str, list[str]]]:
    """The paper's scheme without WordNet: C, plural C, large C, small C, medium C (levels 1,2,4,5)."""
    return [{c: paper_names(c) for c in datasets.from_folder(f).classes} for f in folders]


def engine_run(encoder, folders, labels, results_path, timer: C.Timer | None = None) -> tuple[float, Engine]:
    t = time.perf_counter()
    store = ResultsStore(results_path)
    engine = Engine(store, encoder)
    if timer:
        instrument(engine, store, timer)
    for folder, names in zip(folders, labels, strict=True):
        engine.run(RunConfig(dataset=str(folder), labels=names, aggregations=AGGREGATIONS, batch_size=BATCH))
    return time.perf_counter() - t, engine


def bare_run(encoder, folders, labels) -> float:
    """Read, decode and encode every file in batches, encode every distinct name once."""
    t = time.perf_counter()
    for folder, names in zip(folders, labels, strict=True):
        paths = [s.path for s in datasets.from_folder(folder).samples]
        for start in range(0, len(paths), BATCH):
            images = []
            for p in paths[start : start + BATCH]:
                with open(p, "rb") as fh:
                    images.append(decode(fh.read(), p.name, DRAFT_SIDE))  # the engine's default decode
            encoder.encode_images(images)
        texts = list(dict.fromkeys(n for ns in names.values() for n in ns))
        encoder.encode_texts(texts)
    return time.perf_counter() - t


def instrument(engine: Engine, store: ResultsStore, timer: C.Timer) -> None:
    """Time each part of a run by wrapping the functions the engine calls (in this process only).
    Parts indented by two spaces overlap the others (another thread, or inside a timed part) and are
    not added up: the read thread (files, hashes, cache lookups, decode) and the writer thread
    (commits) run while the main thread encodes and scores."""
    import semscale.run.engine as engine_mod
    import semscale.store.files as store_files
    from semscale.run import scoring

    engine_mod.decode = timer.wrap("  decode (PIL, EXIF, RGB), read thread", decode)
    engine_mod.content_hash = timer.wrap("  content hash (sha256), read thread", engine_mod.content_hash)
    enc = engine.encoder
    enc.encode_images = timer.wrap("encode images", enc.encode_images)
    enc.encode_texts = timer.wrap("encode texts", enc.encode_texts)
    vision = getattr(getattr(enc, "_vision", None), "model", None)
    if vision is not None and hasattr(vision, "processor") and hasattr(vision, "model"):
        vision.processor = timer.wrap("  of which resize+normalize (fastembed)", vision.processor)
        vision.model.run = timer.wrap("  of which ONNX inference", vision.model.run)
    scoring.Sweep.predict = timer.wrap("  of which Sweep.predict()", scoring.Sweep.predict)
    engine_mod.Engine._score_batch = staticmethod(timer.wrap("scoring: Sweep.predict() + Arrow prediction tables",
                                                             engine_mod.Engine._score_batch))
    store.commit_batch = timer.wrap("  DuckDB: commit_batch (predictions, points, embeddings), writer thread beside "
                                    "encoding", store.commit_batch)
    store.get_embeddings = timer.wrap("  DuckDB: embedding cache lookup, read thread", store.get_embeddings)
    store.put_embeddings = timer.wrap("DuckDB: text embedding writes", store.put_embeddings)
    for name in ("create_run", "claim_run", "finish_run", "run", "run_images", "run_names", "finished_images",
                 "init_points"):
        setattr(store, name, timer.wrap("DuckDB: run setup and bookkeeping", getattr(store, name)))
    store_files.FILES.open = timer.wrap("_connect", store_files.FILES.open)


def main() -> None:
    tmp = C.tempdir("b2")
    model, model_note = C.model_dir(tmp)
    if MODEL == "vit-b32-shaped" and not os.environ.get("SEMSCALE_MODEL_DIR"):
        import _vit_shaped

        model = _vit_shaped.build(tmp / "vit-b32-shaped", model / "text")
        model_note = "ViT-B/32-shaped vision model with random weights (benchmarks/_vit_shaped.py), 224 px, 512-d"
    folders, notes = [], []
    for name in DATASETS:
        folder, note = C.dataset_folder(name, tmp)
        folders.append(folder)
        notes.append(note)
    labels = label_sets(folders)
    n_images = sum(len(datasets.from_folder(f).samples) for f in folders)
    n_texts = sum(len({n for ns in lab.values() for n in ns}) for lab in labels)
    encoder = LocalEncoder(model).load()  # sessions now, so the breakdown can time inside them
    print(f"machine: {C.machine()}")
    print(f"started {time.strftime('%d %b %Y %H:%M')}, load average {os.getloadavg()}")
    print(f"model: {model_note}")
    print(f"data: {'; '.join(notes)}")
    print(f"work: {n_images} images, {n_texts} names, levels 1,2,4,5 x {len(AGGREGATIONS)} aggregations, "
          f"batch {BATCH}, {ROUNDS} alternating rounds")

    for folder in folders:  # warm the page cache and the ONNX sessions
        paths = [smp.path for smp in datasets.from_folder(folder).samples]
        for p in paths:
            p.read_bytes()
        encoder.encode_images([decode(p.read_bytes()) for p in paths[:BATCH]])
    encoder.encode_texts(["warm up"])
    bare, full = [], []
    for r in range(ROUNDS):
        bare.append(bare_run(encoder, folders, labels))
        seconds, engine = engine_run(encoder, folders, labels, tmp / f"round{r}.duckdb")
        full.append(seconds)
        assert (engine.encoded_images <= n_images
                and engine.encoded_texts == n_texts), (engine.encoded_images, engine.encoded_texts)
    bare_s, full_s = C.median(bare), C.median(full)

    timer = C.Timer()
    traced_s, engine = engine_run(encoder, folders, labels, tmp / "traced.duckdb", timer)
    timer.seconds.pop("_predict_mark", None)
    connects = timer.seconds.pop("_connect"), timer.calls.pop("_connect")
    rows = []
    accounted = 0.0
    for part, s in timer.seconds.items():
        if not part.startswith("  "):
            accounted += s
        rows.append([part, f"{s:.3f}", f"{1000 * s / n_images:.2f}", f"{100 * s / traced_s:.1f}%",
                     timer.calls.get(part, "")])
    rows.append(["other (waiting for the read or writer thread, engine loop, listing, labels)",
                 f"{traced_s - accounted:.3f}", f"{1000 * (traced_s - accounted) / n_images:.2f}",
                 f"{100 * (traced_s - accounted) / traced_s:.1f}%", ""])
    rows.append(["total (instrumented run)", f"{traced_s:.3f}", f"{1000 * traced_s / n_images:.2f}", "100%", ""])
    rows.append(["(DuckDB file attaches, inside the DuckDB rows)", f"{connects[0]:.3f}",
                 f"{1000 * connects[0] / n_images:.2f}", f"{100 * connects[0] / traced_s:.1f}%", connects[1]])
    print()
    print(C.table(["part of one engine run", "s", "ms/image", "share", "calls"], rows,
                  "Breakdown (one instrumented run):"))

    overhead_ms = 1000 * (full_s - bare_s) / n_images
    print()
    print(C.table(["measure", "value"], [
        ["bare read+decode+encode, median s", f"{bare_s:.3f}  ({', '.join(f'{x:.2f}' for x in bare)})"],
        ["engine run, median s", f"{full_s:.3f}  ({', '.join(f'{x:.2f}' for x in full)})"],
        ["images encoded by the engine / texts", f"{engine.encoded_images} / {engine.encoded_texts}"],
        ["bare cost per image, ms", f"{1000 * bare_s / n_images:.2f}"],
        ["engine overhead per image, ms (model-independent)", f"{overhead_ms:.2f}"],
        ["ratio engine / bare", f"{full_s / bare_s:.2f}"],
        ["bare cost per image for which the ratio is 1.05, ms", f"{overhead_ms / 0.05:.1f}"],
    ], "Overhead over the limit:"))
    print(f"load average at the end {os.getloadavg()}")
    caveat = "tiny model: worst case" if MODEL == "tiny" and not os.environ.get("SEMSCALE_MODEL_DIR") else MODEL
    print(f"B2 overhead: ratio {full_s / bare_s:.2f} (target <= 1.05; {caveat}), "
          f"{overhead_ms:.2f} ms/image overhead over read+decode+encode")


if __name__ == "__main__":
    main()
