"""Shared helpers for the benchmark scripts: model, data, machine description, tables.

Every script runs from the repository root (`python benchmarks/bN_*.py`). The model is the tiny
ONNX CLIP-shaped model that the test suite builds (tests/tinyclip.py), written to a temporary
folder, unless $SEMSCALE_MODEL_DIR names a real model folder (`vision/` + `text/`): then the
scripts measure the real thing. Photos come from $SEMSCALE_DATA_DIR (default ../shared/datasets
beside the checkout); when a set is missing, PIL-made images stand in and the table says so.
"""

from __future__ import annotations

import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

# Jina (server and client) reads these at import time: no telemetry, no banners.
os.environ.setdefault("JINA_OPTOUT_TELEMETRY", "1")
os.environ.setdefault("JINA_HIDE_SURVEY", "1")
os.environ.setdefault("JINA_LOG_LEVEL", "ERROR")


def model_dir(tmp: Path) -> tuple[Path, str]:
    """The model folder to measure and a one-line description of it."""
    given = os.environ.get("SEMSCALE_MODEL_DIR")
    if given:
        return Path(given), f"model from $SEMSCALE_MODEL_DIR={given}"
    import tinyclip

    return tinyclip.build(tmp / "tiny-clip"), "tiny ONNX CLIP-shaped test model (tests/tinyclip.py, 32x32 px, 16-d)"


def data_dir() -> Path:
    return Path(os.environ.get("SEMSCALE_DATA_DIR") or ROOT.parent / "shared" / "datasets")


def dataset_folder(name: str, tmp: Path, classes: int = 10, per_class: int = 100, size: int = 64) -> tuple[Path, str]:
    """A real photo set by name, or a synthesized stand-in with the same shape when it is missing."""
    real = data_dir() / name
    if real.is_dir() and any(p.is_dir() for p in real.iterdir()):
        return real, f"{name} (real photos, {real})"
    return (synth_images(tmp / f"synthetic-{name}", classes, per_class, size),
            f"{name} (SYNTHETIC PIL images, real set not found)")


def synth_images(root: Path, classes: int, per_class: int, size: int = 64, seed: int = 0) -> Path:
    """Class folders of distinct noisy flat-colour JPEGs."""
    from PIL import Image

    rng = random.Random(seed)
    for k in range(classes):
        folder = root / f"class{k:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        base = tuple(rng.randrange(256) for _ in range(3))
        for i in range(per_class):
            img = Image.new("RGB", (size, size), tuple(max(0, min(255, c + rng.randint(-30, 30))) for c in base))
            for _ in range(40):
                img.putpixel((rng.randrange(size), rng.randrange(size)), tuple(rng.randrange(256) for _ in range(3)))
            img.save(folder / f"{i:04d}.jpg", quality=90)
    return root


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import duckdb
    import numpy

    return (f"{platform.machine()}, {os.cpu_count()} cores ({cpu}), {platform.system()}, "
            f"Python {platform.python_version()}, numpy {numpy.__version__}, duckdb {duckdb.__version__}; "
            f"load average {os.getloadavg()[0]:.1f} "
            "(the machine is shared: other jobs run beside the benchmark)")


def tempdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"semscale-{prefix}-"))


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Timer:
    """Accumulated wall time per named part; `wrap` times every call of a function."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def add(self, part: str, seconds: float) -> None:
        self.seconds[part] = self.seconds.get(part, 0.0) + seconds
        self.calls[part] = self.calls.get(part, 0) + 1

    def wrap(self, part: str, fn):
        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(part, time.perf_counter() - t)

        timed.__wrapped__ = fn
        return timed


def median(values):
    return statistics.median(values)


def table(header: list[str], rows: list[list], title: str | None = None) -> str:
    """A plain fixed-width table (also valid Markdown)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    out = [title] if title else []
    out += [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in cells[1:]]
    return "\n".join(out)
