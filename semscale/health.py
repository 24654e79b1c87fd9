"""Is the configured CLIP backend usable right now? One short answer for the CLI and the dashboard."""

from __future__ import annotations

from dataclasses import dataclass

from semscale.errors import SemscaleError
from semscale.settings import Backend


@dataclass(frozen=True)
class Health:
    ok: bool
    summary: str  # one sentence, safe to show (never contains the token)
    dim: int | None = None


def check(backend: Backend) -> Health:
    """Encode one word with the backend: proves it loads/answers and tells the embedding size."""
    where = backend.server or "embedded model"
    try:
        encoder = backend.encoder()
        if backend.server:
            encoder.retries, encoder.timeout = 0, min(encoder.timeout, 10.0)
        dim = int(encoder.encode_texts(["a photo"]).shape[1])
    except SemscaleError as exc:
        return Health(False, f"{where}: {exc}")
    return Health(True, f"{encoder.description} answers ({dim}-d embeddings)", dim)
