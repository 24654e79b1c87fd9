"""Backend settings a user configures once: server URL and token from the environment or secrets.

Order: explicit argument, then environment (SEMSCALE_SERVER, SEMSCALE_TOKEN), then
`.streamlit/secrets.toml` ([clip] server / token). The token is only ever handed to the client.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

SECRETS = Path(".streamlit") / "secrets.toml"


@dataclass(frozen=True)
class Backend:
    server: str | None  # None: the embedded local model
    token: str | None = None
    model_dir: str | None = None
    batch_size: int = 32
    timeout: float = 60.0
    retries: int = 3

    def public(self) -> dict:
        """What may be stored with a run or shown on a page: everything but the token."""
        return {"server": self.server, "model_dir": self.model_dir, "batch_size": self.batch_size,
                "timeout": self.timeout, "retries": self.retries}

    def encoder(self):
        from semscale.encoders import make_encoder

        return make_encoder(self.server, self.token, self.model_dir, self.batch_size, self.timeout, self.retries)


def _secrets(path: Path = SECRETS) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")).get("clip", {})
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def backend(server: str | None = None, token: str | None = None, model_dir: str | None = None,
            **options) -> Backend:
    secrets = _secrets()
    server = server or os.environ.get("SEMSCALE_SERVER") or secrets.get("server") or None
    token = token or os.environ.get("SEMSCALE_TOKEN") or secrets.get("token") or None
    model_dir = model_dir or os.environ.get("SEMSCALE_MODEL_DIR") or None
    return Backend(server=server or None, token=token if server else None, model_dir=model_dir,
                   **{k: v for k, v in options.items() if v is not None})
