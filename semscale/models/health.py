"""Is the configured CLIP backend usable right now? One short answer for the CLI and the dashboard.

An embedded model that is not cached is fetched from the Hugging Face hub by fastembed, which
retries an unreachable hub three times with growing sleeps (about 40 s). `model_start` answers
first, in at most `HUB_TIMEOUT` seconds: cached, fetchable (the hub answers), or neither, and
then names the three ways out. `Download` reports how far a fetch has come.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from semscale.core.errors import SemscaleError
from semscale.models import encoders
from semscale.models.settings import Backend

HUB_TIMEOUT = 2.0  # seconds for the hub's answer: a reachable hub answers in well under 1 s


@dataclass(frozen=True)
class Health:
    ok: bool
    summary: str  # one sentence, safe to show (never contains the token)
    dim: int | None = None
    model: str | None = None  # the model's fingerprint (`Encoder.model_id`); None when not asked
    reason: str | None = None  # when not ok: the cause alone, e.g. "connection refused"


def check(backend: Backend, ask_model: bool = True, timeout: float = 10.0) -> Health:
    """Encode one word with the backend: proves it loads/answers and tells the embedding size.

    With `ask_model` the answer names the model's fingerprint (for a server, the one `/model`
    reports or its probe fingerprint; the first encode establishes it either way). An embedded
    model that is neither cached nor fetchable is reported at once (see `model_start`).
    """
    where = backend.server or "embedded model"
    try:
        blocked = model_start(backend)
        if blocked:
            return Health(False, f"{where}: {blocked}", reason="model not cached and no hub reachable")
        encoder = encoders.for_backend(backend)
        if backend.server:
            encoder.retries, encoder.timeout = 0, min(encoder.timeout, timeout)
        dim = int(encoder.encode_texts(["a photo"]).shape[1])
        model = encoder.model_id if ask_model else None
    except SemscaleError as exc:
        return Health(False, f"{where}: {exc}", reason=getattr(exc, "reason", None) or str(exc))
    named = f", model {model}" if backend.server and model else ""
    return Health(True, f"{encoder.description} answers ({dim}-d embeddings{named})", dim, model)


def hub_url() -> str:
    """Where fastembed fetches models: $HF_ENDPOINT (a mirror), else huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def hub_unreachable(repo: str, timeout: float = HUB_TIMEOUT) -> str | None:
    """None when the hub's model API answers for `repo` (HTTP 200) within `timeout` seconds, else why not.

    An open TCP connection proves little (proxies and sandboxes accept any), so the probe asks what
    fastembed asks first. It runs on a daemon thread, so a slow name lookup (which ignores the
    timeout) cannot hold the caller either."""
    url = f"{hub_url()}/api/models/{repo}"
    answer: list[str | None] = []

    def probe() -> None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                answer.append(None if resp.status == 200 else f"HTTP {resp.status}")
        except urllib.error.HTTPError as exc:
            answer.append(f"HTTP {exc.code}")
        except (OSError, ValueError) as exc:
            cause = getattr(exc, "reason", exc)
            answer.append(getattr(cause, "strerror", None) or str(cause) or type(cause).__name__)

    thread = threading.Thread(target=probe, daemon=True, name="hub probe")
    thread.start()
    thread.join(timeout + 0.5)
    return answer[0] if answer else f"no answer within {timeout:g} s"


def _embedded(backend: Backend):
    """The registry entry of an embedded model fastembed would fetch; None for a server or a model folder."""
    from semscale.models import registry

    if backend.server or backend.model_dir or os.environ.get("SEMSCALE_MODEL_DIR"):
        return None
    return registry.get(backend.model)


def model_start(backend: Backend) -> str | None:
    """Why the embedded model cannot start here and now, with the three ways out; None when it can
    (a server or model folder is used, the model is cached, or the hub answers)."""
    spec = _embedded(backend)
    if spec is None or spec.cached():
        return None
    reason = hub_unreachable(spec.descriptions()[0].sources.hf)
    if reason is None:
        return None
    return (f"the model {spec.name} is not cached and no hub is reachable ({hub_url()}: {reason}). Three ways out: "
            "(1) a local model folder: set SEMSCALE_MODEL_DIR=DIR (or run with --local DIR) where "
            f"{spec.local_layout()}; "
            f"(2) a CLIP server URL: --server grpc://HOST:PORT, $SEMSCALE_SERVER, or the Run page's CLIP backend "
            f"(`semscale serve` on a machine that has the model); "
            f"(3) network access to {hub_url()} (or HF_ENDPOINT set to a mirror): the model is fetched once, "
            f"{spec.download_gb():.2f} GB")


class Download:
    """How far fastembed's fetch of an embedded model has come: the bytes in its cache folders
    (finished and in-flight blobs) against fastembed's stated sizes, and the rate since the last look."""

    def __init__(self, backend: Backend):
        from fastembed.common.utils import define_cache_dir
        from huggingface_hub.file_download import repo_folder_name

        spec = _embedded(backend)
        descs = spec.descriptions() if spec else ()
        cache = Path(define_cache_dir())
        self.folders = sorted({cache / repo_folder_name(repo_id=d.sources.hf, repo_type="model") for d in descs})
        self.total = int(sum(d.size_in_GB for d in descs) * 1e9)
        self._start = self._last = (time.monotonic(), self.done())
        self.rate = 0.0

    def done(self) -> int:
        return sum(p.stat().st_size for f in self.folders if f.is_dir() for p in f.rglob("*")
                   if p.is_file() and not p.is_symlink())

    def sample(self) -> tuple[int, float]:
        """(bytes so far, bytes per second since the previous sample)."""
        now, got = time.monotonic(), self.done()
        then, before = self._last
        if now > then:
            self.rate = max(got - before, 0) / (now - then)
        self._last = (now, got)
        return got, self.rate


def fetch_progress(backend: Backend, show) -> "threading.Event | None":
    """While the embedded model is being fetched, call `show(bytes_so_far, total_bytes)` twice a
    second on a daemon thread; set the returned event to stop. None when nothing is to be fetched."""
    spec = _embedded(backend)
    if spec is None or spec.cached():
        return None
    download, stop = Download(backend), threading.Event()

    def watch() -> None:
        while not stop.wait(0.5):
            show(download.done(), download.total)

    threading.Thread(target=watch, daemon=True, name="model fetch progress").start()
    return stop
