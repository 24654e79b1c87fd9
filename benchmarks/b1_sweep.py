"""B1: a whole scaling sweep, semscale's engine against the paper's method, on one CLIP server.

Both methods talk to the same `python -m semscale serve` server on loopback (started here as a
subprocess) through the clip-as-service client:

- semscale: `Engine` with `ClipServerEncoder`: every distinct image and name is encoded once
  (`/encode`), every level is scored from the cached matrices, results go to a DuckDB file.
- paper: `semscale.models.paper_method.rank_predictions`: one `/rank` query per image per level, with
  every active name as a text match, so the server encodes each image once per level and every
  active name once per image and level. Nothing is stored.

Dataset: the first 20 photos of each cifar10-1k class (200 images, 10 classes, copied to a temp
folder); 32 names per
class (the class name, then synthesized ones like "large cat 3"): levels 1, 2, 4, 8, 16, 32.
The two methods run alternately in one process (ROUNDS rounds, order swapped each round; the
engine starts each round on an empty results file, so it encodes everything). Encode counts come
from the server's own counters (`/model`), top-1 predictions are compared level by level.

    python benchmarks/b1_sweep.py            # B1_PER_CLASS=20 B1_NAMES=32 B1_ROUNDS=2
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import _common as C

from semscale.data import datasets
from semscale.data.images import decode
from semscale.names.labels import LabelSet
from semscale.run import schedule
from semscale.run.config import RunConfig
from semscale.run.engine import Engine
from semscale.store.results import ResultsStore

PER_CLASS = int(os.environ.get("B1_PER_CLASS", "20"))
NAMES = int(os.environ.get("B1_NAMES", "32"))
ROUNDS = int(os.environ.get("B1_ROUNDS", "2"))
WORDS = ["large", "small", "medium", "old", "young", "dark", "bright", "tiny"]


def synth_names(cls: str) -> list[str]:
    return [cls] + [f"{WORDS[i % len(WORDS)]} {cls} {i}" for i in range(1, NAMES)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`python -m semscale serve` in its own process group (Jina starts child processes)."""

    def __init__(self, model: Path, logs: Path):
        self.port = free_port()
        self.url = f"grpc://127.0.0.1:{self.port}"
        self.out, self.err = logs / "serve.out", logs / "serve.err"
        env = {k: v for k, v in os.environ.items() if k not in ("SEMSCALE_SERVER", "SEMSCALE_TOKEN", "CLIP_AUTH_TOKEN")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "semscale", "serve", "--port", str(self.port), "--host", "127.0.0.1",
             "--local", str(model)],
            stdout=open(self.out, "w"), stderr=open(self.err, "w"), cwd=logs, start_new_session=True,
            env=dict(env, PYTHONPATH=str(C.ROOT)))
        deadline = time.monotonic() + 120
        while "listening on" not in self.out.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"server did not start:\n{self.out.read_text()}\n{self.err.read_text()[-3000:]}")
            time.sleep(0.1)

    def counters(self) -> tuple[int, int]:
        from semscale.models.encoders import ClipServerEncoder

        info = ClipServerEncoder(self.url, timeout=30, retries=1).server_model()
        return int(info["images_encoded"]), int(info["texts_encoded"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the Jina children of our own server
        except ProcessLookupError:
            pass
        self.proc.wait(10)


def subset(folder: Path, tmp: Path) -> Path:
    """The first PER_CLASS files of each class, copied into class folders under `tmp`."""
    import shutil

    out = tmp / "subset"
    for s in datasets.from_folder(folder).samples:
        dest = out / s.path.parent.name
        dest.mkdir(parents=True, exist_ok=True)
        if len(list(dest.iterdir())) < PER_CLASS:
            shutil.copyfile(s.path, dest / s.path.name)
    return out


def main() -> None:
    try:
        import semscale.models.server  # noqa: F401
        from semscale.models.encoders import ClipServerEncoder
        from semscale.models.paper_method import rank_predictions
    except ImportError as exc:
        print(f"B1 sweep: PENDING (semscale.models.server / semscale.models.paper_method not available: {exc})")
        return
    tmp = C.tempdir("b1")
    model, model_note = C.model_dir(tmp)
    folder, data_note = C.dataset_folder("cifar10-1k", tmp, classes=10, per_class=PER_CLASS, size=32)
    subset_dir = subset(folder, tmp)
    ds = datasets.from_folder(subset_dir)
    labels = LabelSet.clean({c: synth_names(c) for c in ds.classes}, ds.classes)
    levels = schedule.parse("exponential", labels.max_names)
    images = [decode(Path(s.path).read_bytes(), s.path.name) for s in ds.samples]
    print(f"machine: {C.machine()}")
    print(f"model: {model_note}")
    print(f"data: {data_note}; {len(ds.samples)} images, {len(labels.classes)} classes x {labels.max_names} names, "
          f"levels {levels}; {ROUNDS} alternating rounds; server {('grpc')} on loopback")

    server = Server(model, tmp)
    try:
        times = {"semscale": [], "paper": []}
        encodes = {}
        engine_preds = paper_run = None
        for r in range(ROUNDS):
            order = ["semscale", "paper"] if r % 2 == 0 else ["paper", "semscale"]
            for method in order:
                before = server.counters()
                t = time.perf_counter()
                if method == "semscale":
                    store = ResultsStore(tmp / f"round{r}.duckdb")
                    engine = Engine(store, ClipServerEncoder(server.url, batch_size=32, timeout=120, retries=1))
                    run_id = engine.run(RunConfig(dataset=str(subset_dir), labels=labels.names, aggregations=["max"]))
                    elapsed = time.perf_counter() - t
                    engine_preds = store.predictions(run_id, "max")
                    client = (engine.encoded_images, engine.encoded_texts)
                else:
                    paper_run = rank_predictions(server.url, images, labels, levels, batch_size=8, timeout=300,
                                                 retries=1)
                    elapsed = time.perf_counter() - t
                    client = (paper_run.image_encodes, paper_run.text_encodes)
                after = server.counters()
                times[method].append(elapsed)
                encodes[method] = (after[0] - before[0], after[1] - before[1], client)
                print(f"  round {r + 1}: {method:8s} {elapsed:7.2f} s", flush=True)

        same = total = 0
        rows_levels = []
        for n in levels:
            engine_n = engine_preds[engine_preds["n_names"] == n].sort_values("image_idx")["predicted"].tolist()
            paper_n = paper_run.predictions[n]
            agree = sum(a == b for a, b in zip(engine_n, paper_n, strict=True))
            same += agree
            total += len(paper_n)
            acc = sum(p == s.label for p, s in zip(paper_n, ds.samples, strict=True)) / len(ds.samples)
            rows_levels.append([n, len(labels.classes) * n, f"{agree}/{len(paper_n)}", f"{acc:.3f}"])
    finally:
        server.stop()

    sem_s, pap_s = C.median(times["semscale"]), C.median(times["paper"])
    (si, st, sc), (pi, pt, pc) = encodes["semscale"], encodes["paper"]
    print()
    print(C.table(["names/class", "candidates", "top-1 identical", "accuracy"], rows_levels,
                  "Predictions, level by level:"))
    print()
    print(C.table(["measure", "semscale engine", "paper /rank method", "paper / semscale"], [
        ["wall s, median", f"{sem_s:.2f} ({', '.join(f'{x:.1f}' for x in times['semscale'])})",
         f"{pap_s:.2f} ({', '.join(f'{x:.1f}' for x in times['paper'])})", f"{pap_s / sem_s:.1f}x"],
        ["image encodes (server counter)", si, pi, f"{pi / max(si, 1):.1f}x"],
        ["text encodes (server counter)", st, pt, f"{pt / max(st, 1):.1f}x"],
        ["all encodes", si + st, pi + pt, f"{(pi + pt) / max(si + st, 1):.1f}x"],
        ["client-side count (images/texts)", f"{sc[0]}/{sc[1]}", f"{pc[0]}/{pc[1]}", ""],
        ["server requests", "", paper_run.requests, ""],
    ], "Sweep:"))
    ident = "identical" if same == total else f"NOT identical ({total - same} differ)"
    print(f"B1 sweep: semscale {pap_s / sem_s:.1f}x faster than the paper's method (target >= 10x), "
          f"{(pi + pt) / max(si + st, 1):.0f}x fewer encodes "
          f"(images {pi / max(si, 1):.0f}x, texts {pt / max(st, 1):.0f}x; "
          f"target >= 20x), top-1 {ident} on {total} image-levels")


if __name__ == "__main__":
    main()
