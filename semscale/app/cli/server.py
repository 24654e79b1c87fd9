"""`serve` the local model to clip-as-service clients, and `ping` a CLIP server."""

from __future__ import annotations

import sys

from semscale.app.cli import common
from semscale.models import encoders, settings


def register(sub) -> None:
    """serve (its own log, colours and all: printed as is) and ping."""
    srv = common.command(sub, "serve", help="serve the local CLIP model to clip-as-service clients (a Jina Flow)")
    srv.add_argument("--port", type=int, default=51000)
    srv.add_argument("--protocol", choices=("grpc", "http", "websocket"), default="grpc")
    srv.add_argument("--replicas", type=int, default=1, help="copies of the model behind the gateway")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    srv.add_argument("--local", metavar="MODEL_DIR", default=None,
                     help="folder with vision/ and text/ ONNX models (or $SEMSCALE_MODEL_DIR; default ViT-B/32)")
    common.add_model(srv, repeatable=False)
    srv.add_argument("--allow-remote-uris", action="store_true", dest="allow_remote_uris",
                     help="fetch http(s) image URIs clients send (public addresses only, no redirects, 20 MB)")
    srv.set_defaults(func=cmd_serve, escaped=False)

    png = common.command(sub, "ping", help="does a CLIP server answer, and with which model?")
    png.add_argument("url", help="e.g. grpc://127.0.0.1:51000 or grpcs://host:port")
    png.add_argument("--token", help="access token (or $SEMSCALE_TOKEN, or [clip] token in .streamlit/secrets.toml)")
    png.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the answer (default 10)")
    png.set_defaults(func=cmd_ping)


def cmd_serve(args) -> int:
    from semscale.models import server  # imports Jina: only for this command

    return server.serve(port=args.port, protocol=args.protocol, host=args.host, replicas=args.replicas,
                        model_dir=args.local, allow_remote_uris=args.allow_remote_uris, model=args.model)


def cmd_ping(args) -> int:
    from semscale.models import health

    backend = settings.backend(server=args.url, token=args.token, timeout=args.timeout, retries=0)
    encoder_url = encoders.for_backend(backend).url  # validates the URL; never shows the token
    status = health.check(backend, timeout=args.timeout)
    if not status.ok:
        print(f"CLIP server {encoder_url} does not answer: {status.reason}", file=sys.stderr)
        return 2
    print(f"CLIP server {encoder_url} answers: model {status.model}, {status.dim}-d embeddings")
    return 0
