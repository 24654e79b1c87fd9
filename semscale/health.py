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
    model: str | None = None  # the model's fingerprint (`Encoder.model_id`); None when not asked
    reason: str | None = None  # when not ok: the cause alone, e.g. "connection refused"


def check(backend: Backend, ask_model: bool = True, timeout: float = 10.0) -> Health:
    """Encode one word with the backend: proves it loads/answers and tells the embedding size.

    With `ask_model` the answer names the model's fingerprint (for a server, the one `/model`
    reports or its probe fingerprint; the first encode establishes it either way).
    """
    where = backend.server or "embedded model"
    try:
        encoder = backend.encoder()
        if backend.server:
            encoder.retries, encoder.timeout = 0, min(encoder.timeout, timeout)
        dim = int(encoder.encode_texts(["a photo"]).shape[1])
        model = encoder.model_id if ask_model else None
    except SemscaleError as exc:
        return Health(False, f"{where}: {exc}", reason=getattr(exc, "reason", None) or str(exc))
    named = f", model {model}" if backend.server and model else ""
    return Health(True, f"{encoder.description} answers ({dim}-d embeddings{named})", dim, model)
