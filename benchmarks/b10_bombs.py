"""B10: amplification bombs. Peak memory and disk of the two sets of issue 22, each in a process of its own.

- zip: a 2 MB zip of 200 members of 10 MiB of zeros each (class folders a/ and b/), opened as the
  Data page opens an upload (`datasets.from_zip` into a fresh zip cache): refused or extracted, the
  time, the bytes left in the cache and the peak RSS.
- pngs: B10_IMAGES (default 48) distinct PNGs of 7,900 x 7,900 pixels (62 MP, under the 64 MP cap;
  ~200 KB each: flat colour, told apart by a text chunk), two classes, one engine run with the
  tiny model at batch size 32 (exact decode): the peak RSS and the time.

    python benchmarks/b10_bombs.py          # both (~2 min, the PNGs are made once into $TMPDIR)
    python benchmarks/b10_bombs.py pngs     # one of them
"""

from __future__ import annotations

import io
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

import _common as C

SIDE = 7_900
N_IMAGES = int(os.environ.get("B10_IMAGES", "48"))
WORK = Path(tempfile.gettempdir()) / "semscale-b10"


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def zip_bomb() -> Path:
    path = WORK / "bomb.zip"
    if not path.exists():
        WORK.mkdir(exist_ok=True)
        zeros = bytes(10 * 1024**2)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for i in range(200):
                zf.writestr(f"{'ab'[i % 2]}/{i:03d}.png", zeros)
    return path


def big_pngs() -> Path:
    """N_IMAGES distinct 62 MP PNGs: one flat image, each copy with its own tEXt chunk after IHDR."""
    from PIL import Image

    root = WORK / f"pngs-{N_IMAGES}"
    if root.is_dir():
        return root
    parts = {}
    for cls, colour in (("red", (200, 30, 30)), ("blue", (30, 40, 210))):
        buf = io.BytesIO()
        Image.new("RGB", (SIDE, SIDE), colour).save(buf, format="PNG")
        parts[cls] = buf.getvalue()
    tmp = root.with_suffix(".partial")
    for i in range(N_IMAGES):
        cls = ("red", "blue")[i % 2]
        data = parts[cls]
        body = b"tEXt" + b"Comment\0" + str(i).encode()
        chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
        (tmp / cls).mkdir(parents=True, exist_ok=True)
        (tmp / cls / f"{i:03d}.png").write_bytes(data[:33] + chunk + data[33:])  # signature + IHDR = 33 bytes
    tmp.rename(root)
    return root


def run_zip() -> None:
    from semscale.core.errors import SemscaleError
    from semscale.data import datasets

    bomb = zip_bomb()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        try:
            ds = datasets.from_zip(bomb, cache=Path(tmp))
            outcome = f"listed, {len(ds.samples)} files, {len(ds.rejected)} left out"
        except SemscaleError as exc:
            outcome = f"refused: {exc}"
        seconds = time.perf_counter() - started
        disk = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    print(f"zip bomb ({bomb.stat().st_size / 1e6:.1f} MB, 200 x 10 MiB): {outcome}")
    print(f"  {seconds:.1f} s, {disk / 1e9:.2f} GB left in the zip cache, peak RSS {peak_gb():.2f} GB")


def run_pngs() -> None:
    from semscale.models.encoders import LocalEncoder
    from semscale.run.config import RunConfig
    from semscale.run.engine import Engine
    from semscale.store.results import ResultsStore

    folder = big_pngs()
    with tempfile.TemporaryDirectory() as tmp:
        model, _ = C.model_dir(Path(tmp))
        store = ResultsStore(Path(tmp) / "results.duckdb")
        before = peak_gb()
        started = time.perf_counter()
        run_id = Engine(store, LocalEncoder(model)).run(RunConfig(dataset=str(folder), batch_size=32, decode="exact"))
        seconds = time.perf_counter() - started
        info = store.run(run_id)
    print(f"{N_IMAGES} PNGs of {SIDE:,} x {SIDE:,}: {info.status}, {info.n_done - info.n_rejected} scored, "
          f"{seconds:.1f} s, peak RSS {peak_gb():.2f} GB ({before:.2f} GB before the run)")


def main() -> None:
    which = sys.argv[1:] or ["zip", "pngs"]
    if len(which) == 1:
        {"zip": run_zip, "pngs": run_pngs}[which[0]]()
        return
    for one in which:  # each in a fresh process: its own peak
        subprocess.run([sys.executable, __file__, one], check=True)


if __name__ == "__main__":
    main()
