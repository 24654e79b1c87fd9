"""Backend settings a user configures once: server URL and token from the environment or secrets.

Order: explicit argument, then environment (SEMSCALE_SERVER, SEMSCALE_TOKEN), then
`.streamlit/secrets.toml` ([clip] server / token). The token is only ever handed to the client,
and a configured token only for the server it is configured with (`token_for`).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlparse

from semscale.core.errors import SemscaleError

SCHEMES = ("grpc", "grpcs", "http", "https", "ws", "wss", "websocket")
SECRETS = Path(".streamlit") / "secrets.toml"


@dataclass(frozen=True)
class Backend:
    server: str | None  # None: the embedded local model
    token: str | None = None
    model_dir: str | None = None
    batch_size: int = 32
    timeout: float = 60.0
    retries: int = 3
    model: str | None = None  # a semscale.models.registry registry name for the embedded model; None: the default
    server_model: str | None = None  # the server's model as its user names it: clip-as-service never says it

    def public(self) -> dict:
        """What may be stored with a run or shown on a page: everything but the token."""
        return {"server": self.server, "model_dir": self.model_dir, "model": self.model,
                "server_model": self.server_model if self.server else None,
                "batch_size": self.batch_size, "timeout": self.timeout, "retries": self.retries}

    @classmethod
    def from_saved(cls, saved: dict | None) -> Backend:
        """The backend a run was stored with (`public()`, its config's "backend"; older runs may lack
        keys, which take their defaults). No token: one is never stored."""
        stored = {f.name for f in fields(cls)} - {"token"}
        saved = {k: v for k, v in (saved or {}).items() if k in stored and v is not None}
        return cls(server=saved.pop("server", None), **saved)

    def to_cli_args(self) -> list[str]:
        """The `semscale run`/`resume` options that name this backend again, settings at their default
        left out. Never the token: it goes in the environment (SEMSCALE_TOKEN), argv is visible to every user."""
        if self.server:
            args = ["--server", self.server] + (["--server-model", self.server_model] if self.server_model else [])
        else:  # --local even without a folder: a configured server must not take the run
            args = ["--local", *([self.model_dir] if self.model_dir else []),
                    *(["--model", self.model] if self.model else [])]
        usual = Backend(server=None)
        for option, value, default in (("--timeout", self.timeout, usual.timeout),
                                       ("--retries", self.retries, usual.retries),
                                       ("--server-batch", self.batch_size, usual.batch_size)):
            args += [option, str(value)] if value != default else []
        return args


def server_url(url: str) -> str:
    """The canonical `scheme://host:port` of a server URL (raises on anything else): how a server is
    named in messages and compared when deciding where a token may go."""
    parsed = urlparse(url.strip())
    try:
        port = parsed.port
    except ValueError:
        port = None
    if parsed.scheme not in SCHEMES or not parsed.hostname or not port:
        raise SemscaleError(f"server URL must look like grpc://host:port (schemes: {', '.join(SCHEMES)}), got {url!r}")
    scheme = "ws" if parsed.scheme == "websocket" else parsed.scheme
    host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
    return f"{scheme}://{host}:{port}"


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or name, as Streamlit's `server.address` holds it) is this machine only."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def non_public(host: str) -> str | None:
    """The first address `host` is, or resolves to, that is not public (private, loopback,
    link-local such as the 169.254.169.254 metadata service, reserved, multicast), else None.
    Every address is checked: a name may resolve to a public and a private one."""
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError) as exc:
        raise SemscaleError(f"cannot resolve {host!r} ({exc})") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global:
            return str(address)
    return None


def private_servers_allowed() -> bool:
    """Whether a shared dashboard may use a private CLIP server someone types: allowed in the
    server's own settings only (SEMSCALE_ALLOW_PRIVATE_SERVERS=1, or allow_private_servers = true
    under [clip] in the secrets file), never from a page."""
    return os.environ.get("SEMSCALE_ALLOW_PRIVATE_SERVERS") == "1" or _secrets().get("allow_private_servers") is True


def check_server_target(url: str, shared: bool) -> None:
    """Refuse a typed server URL that leads to this machine or a private network when the dashboard
    is `shared`: whoever reaches the page could otherwise probe what only the server can reach.
    The configured server is always allowed."""
    if not shared or private_servers_allowed() or any(_same_server(s, url) for s, _ in _configured()):
        return
    address = non_public(urlparse(url).hostname or "")
    if address:
        raise SemscaleError(f"{url} leads to a private address ({address}); this dashboard is shared, so it uses "
                            "public CLIP servers and its configured one only (whoever runs it can allow private "
                            "ones with SEMSCALE_ALLOW_PRIVATE_SERVERS=1)")


def _same_server(a: str | None, b: str | None) -> bool:
    try:
        return bool(a and b) and server_url(a) == server_url(b)
    except SemscaleError:
        return False


def _configured() -> list[tuple[str | None, str | None]]:
    """(server, token) as configured in the environment, then in the secrets file: a token
    belongs to the server configured beside it."""
    secrets = _secrets()
    return [(os.environ.get("SEMSCALE_SERVER") or None, os.environ.get("SEMSCALE_TOKEN") or None),
            (secrets.get("server") or None, secrets.get("token") or None)]


def token_for(url: str, token: str | None = None, previous: Backend | None = None,
              unbound: bool = False) -> str | None:
    """The token to send to `url`: `token` when given; else the token already in use for this very
    server (`previous`) or the configured token when `url` is the configured server. A token never
    follows a URL someone typed elsewhere: whoever types a URL on a shared dashboard may not be
    whoever configured the token. With `unbound` (the CLI), a configured token with no configured
    server goes to `url`: `SEMSCALE_TOKEN=... semscale run --server URL` names both at once."""
    if token:
        return token
    if previous is not None and previous.token and _same_server(previous.server, url):
        return previous.token
    for server, configured in _configured():
        if configured and (_same_server(server, url) or (unbound and not server)):
            return configured
    return None


def _secrets(path: Path = SECRETS) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")).get("clip", {})
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def backend(server: str | None = None, token: str | None = None, model_dir: str | None = None,
            unbound: bool = True, **options) -> Backend:
    """The backend named by the arguments, else by the environment or secrets file; `unbound` as
    `token_for` has it (False for a server URL read from a results file, not typed by the user)."""
    server = server or next((s for s, _ in _configured() if s), None)
    model_dir = model_dir or os.environ.get("SEMSCALE_MODEL_DIR") or None
    return Backend(server=server, token=token_for(server, token, unbound=unbound) if server else None,
                   model_dir=model_dir,
                   **{k: v for k, v in options.items() if v is not None})
