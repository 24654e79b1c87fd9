"""`python -m semscale serve`: a clip-as-service compatible CLIP server on the local ONNX model.

A Jina `Flow` with one Executor, `SemscaleClip`, answering the endpoints clip-as-service's
client calls:

- `/encode`: a Document with `.uri`, `.blob` or `.tensor` is an image, else one with `.text` is a
  text; each gets `.embedding` (float32). Images are decoded with `semscale.data.images.decode`, so the
  server returns exactly what `LocalEncoder` gives in-process for the same bytes. With
  `parameters['drop_image_content']` (the client always sends it, default true) the image bytes
  are not sent back.
- `/rank`: each query Document (image or text) has `.matches` in the other modality; each match
  gets `scores['clip_score']` (softmax over the query's matches of the model's logit scale x cosine,
  100 for CLIP, op 'softmax')
  and `scores['clip_score_cosine']` (op 'cosine'), and the matches come back best first.
- `/model` (semscale only): one Document whose tags name the model (its `LocalEncoder.model_id`
  fingerprint and its registry name) and its embedding size, so clients cache by model and `semscale ping` names it.

An http(s) `.uri` is refused unless the server runs with `allow_remote_uris` (`--allow-remote-uris`):
fetching what a client names lets it reach this machine's network (cloud metadata, internal
services). Even then only public addresses are fetched, without redirects, within a size cap.
"""

import ctypes
import os
import signal
import socket
import sys
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

# Jina reads these at import time: no telemetry calls, no survey banner, only real problems logged.
os.environ.setdefault("JINA_OPTOUT_TELEMETRY", "1")
os.environ.setdefault("JINA_HIDE_SURVEY", "1")
os.environ.setdefault("JINA_LOG_LEVEL", "ERROR")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # no absl INFO lines on shutdown

import numpy as np  # noqa: E402
from docarray import Document, DocumentArray  # noqa: E402
from jina import Executor, Flow, requests  # noqa: E402

from semscale.core.errors import SemscaleError  # noqa: E402
from semscale.core.vectors import normalize  # noqa: E402
from semscale.data.images import MAX_PIXELS, DecodedImage, ImageRejected, decode  # noqa: E402
from semscale.models import settings  # noqa: E402
from semscale.models.encoders import LocalEncoder  # noqa: E402

PROTOCOLS = ("grpc", "http", "websocket")
DEFAULT_PORT = 51000
MAX_REMOTE_BYTES = 20 << 20
REMOTE_TIMEOUT = 10.0


def _is_image(doc: Document) -> bool:
    return bool(doc.uri) or bool(doc.blob) or doc.tensor is not None


def check_public_host(host: str) -> None:
    """Refuse a host that is, or resolves to, anything but a public address (`settings.non_public`)."""
    try:
        address = settings.non_public(host)
    except SemscaleError as exc:
        raise ImageRejected(str(exc)) from None
    if address:
        raise ImageRejected(f"{host!r} is a non-public address ({address}); the server fetches public URLs only")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect could lead to a non-public address: it fails as an HTTP error


def fetch_public(uri: str) -> bytes:
    """GET a public http(s) URL: no redirects, `REMOTE_TIMEOUT` seconds, at most `MAX_REMOTE_BYTES`."""
    host = urlparse(uri).hostname
    if not host:
        raise ImageRejected("URL has no host")
    check_public_host(host)
    opener = urllib.request.build_opener(_NoRedirect)
    with opener.open(uri, timeout=REMOTE_TIMEOUT) as response:
        data = response.read(MAX_REMOTE_BYTES + 1)
    if len(data) > MAX_REMOTE_BYTES:
        raise ImageRejected(f"larger than {MAX_REMOTE_BYTES >> 20} MB")
    return data


def _image(doc: Document, position: int, allow_remote: bool = False) -> DecodedImage:
    """The document's picture, decoded exactly as the in-process engine decodes files."""
    name = f"document {position}"
    if doc.blob:
        return decode(doc.blob, name)
    if doc.tensor is not None:  # an already-decoded H x W x 3 array, as clip-as-service accepts
        from PIL import Image

        pixels = np.asarray(doc.tensor)
        if pixels.ndim != 3 or pixels.shape[-1] != 3:
            raise ImageRejected(f"{name}: tensor must be height x width x 3, got shape {pixels.shape}")
        if pixels.shape[0] * pixels.shape[1] > MAX_PIXELS:  # as decode() refuses a file of that size
            raise ImageRejected(f"{name}: image is too large (limit {MAX_PIXELS:,} pixels)")
        img = Image.fromarray(pixels.astype(np.uint8), "RGB")
        return DecodedImage(b"", img, normalized=True)
    if doc.uri.startswith("data:"):
        return decode(Document(uri=doc.uri).load_uri_to_blob().blob, name)
    if not doc.uri.startswith(("http://", "https://")):
        # clip_client turns local paths into bytes before sending; the server never reads its own files
        raise ImageRejected(f"{name}: uri must be a data: or http(s): URI; send local files as .blob")
    if not allow_remote:
        raise ImageRejected(f"{name}: this server does not fetch http(s) URIs (start it with "
                            "--allow-remote-uris to fetch public ones); send the image as .blob")
    try:
        data = fetch_public(doc.uri)
    except ImageRejected as exc:
        raise ImageRejected(f"{name}: cannot load {doc.uri[:80]!r}: {exc}") from None
    except Exception as exc:
        raise ImageRejected(f"{name}: cannot load {doc.uri[:80]!r} ({type(exc).__name__})") from None
    return decode(data, name)


class SemscaleClip(Executor):
    """clip-as-service's `/encode` and `/rank`, plus `/model`, backed by `LocalEncoder`."""

    def __init__(self, model_dir: str | None = None, threads: int | None = None, allow_remote_uris: bool = False,
                 model: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.allow_remote_uris = allow_remote_uris
        replicas = int(getattr(self.runtime_args, "replicas", 1) or 1)
        threads = threads or max(1, (os.cpu_count() or 1) // replicas)  # replicas share the CPU
        self.encoder = LocalEncoder(model_dir or None, threads=threads, model=model).load()  # first request fast
        self._dim = None
        self._count_lock = threading.Lock()  # sync endpoints run in a thread pool
        self.images_encoded = 0  # since start, this replica: benchmarks and tests read them via /model
        self.texts_encoded = 0

    # --- helpers ---------------------------------------------------------------------------
    def _embed(self, docs: DocumentArray) -> None:
        """Set `.embedding` on every image and text document (one model call per modality)."""
        images, texts = [], []
        for i, doc in enumerate(docs):
            if _is_image(doc):
                images.append((doc, _image(doc, i, self.allow_remote_uris)))
            elif doc.text:
                texts.append(doc)
        if images:
            vecs = self.encoder.encode_images([im for _, im in images])
            for (doc, _), vec in zip(images, vecs, strict=True):
                doc.embedding = vec.astype(np.float32)
        if texts:
            vecs = self.encoder.encode_texts([d.text for d in texts])
            for doc, vec in zip(texts, vecs, strict=True):
                doc.embedding = vec.astype(np.float32)
        with self._count_lock:
            self.images_encoded += len(images)
            self.texts_encoded += len(texts)

    @staticmethod
    def _drop_content(docs, parameters: dict | None) -> None:
        if (parameters or {}).get("drop_image_content", False):
            for doc in docs:
                if _is_image(doc):
                    doc.blob = None
                    doc.tensor = None

    # --- endpoints -------------------------------------------------------------------------
    @requests(on="/encode")
    def encode(self, docs: DocumentArray, parameters=None, **kwargs):
        self._embed(docs)
        self._drop_content(docs, parameters)
        return docs

    @requests(on="/rank")
    def rank(self, docs: DocumentArray, parameters=None, **kwargs):
        everything = DocumentArray([d for q in docs for d in [q, *q.matches]])
        self._embed(everything)
        for query in docs:
            matches = list(query.matches)
            if not matches:
                continue
            if query.embedding is None or any(m.embedding is None for m in matches):
                raise SemscaleError("rank needs a text or image in every query and every match")
            q = normalize(np.asarray(query.embedding, dtype=np.float32)[None, :])
            m = normalize(np.stack([np.asarray(x.embedding, dtype=np.float32) for x in matches]))
            cosine = (m @ q[0]).astype(np.float64)
            logits = self.encoder.spec.head.scale * cosine  # the softmax CLIP-style; a bias would cancel
            soft = np.exp(logits - logits.max())
            soft /= soft.sum()
            for match, cos, prob in zip(matches, cosine, soft, strict=True):
                match.scores["clip_score"].value = float(prob)
                match.scores["clip_score"].op_name = "softmax"
                match.scores["clip_score_cosine"].value = float(cos)
                match.scores["clip_score_cosine"].op_name = "cosine"
            order = sorted(range(len(matches)), key=lambda k: -soft[k])  # stable: ties keep input order
            query.matches = DocumentArray([matches[k] for k in order])
        self._drop_content(everything, parameters)
        return docs

    @requests(on="/model")
    def model(self, **kwargs):
        """Which model this is, its embedding size, and what this replica has encoded so far."""
        if self._dim is None:
            self._dim = int(self.encoder.encode_texts(["a photo"]).shape[1])  # not counted: no client asked
        return DocumentArray([Document(tags={
            "model": self.encoder.model_id, "name": self.encoder.spec.name, "description": self.encoder.description,
            "dim": self._dim,
            "images_encoded": self.images_encoded, "texts_encoded": self.texts_encoded})])


def flow(port: int = DEFAULT_PORT, protocol: str = "grpc", host: str = "127.0.0.1", replicas: int = 1,
         model_dir: str | None = None, allow_remote_uris: bool = False, model: str | None = None) -> Flow:
    """The serving Flow: one gateway on host:port, `replicas` copies of the executor behind it."""
    if protocol not in PROTOCOLS:
        raise SemscaleError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if replicas < 1:
        raise SemscaleError("replicas must be at least 1")
    return Flow(protocol=protocol, port=port, host=host, quiet=True).add(
        name="clip", uses=SemscaleClip, uses_with={"model_dir": model_dir, "allow_remote_uris": allow_remote_uris,
                                                 "model": model}, replicas=replicas, quiet=True,
        quiet_error=True)


def _check_port(host: str, port: int) -> None:
    """Refuse a busy port in one sentence (Jina would fail later with 'port:[N]' and a traceback)."""

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        raise SemscaleError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _die_with_parent() -> None:
    """In each forked child (Jina's gateway and executors): SIGKILL when the server process dies,
    even by SIGKILL, so no orphan keeps serving on the port."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def serve(port: int = DEFAULT_PORT, protocol: str = "grpc", host: str = "127.0.0.1", replicas: int = 1,
          model_dir: str | None = None, allow_remote_uris: bool = False, model: str | None = None) -> int:
    """Run the server until SIGINT or SIGTERM; returns the exit code."""
    import contextlib
    import io

    model_dir = model_dir or os.environ.get("SEMSCALE_MODEL_DIR") or None
    if model_dir:
        model_dir = str(Path(model_dir).resolve())  # the executor processes may not share our cwd
    _check_port(host, port)
    probe = LocalEncoder(model_dir, threads=1, model=model).load()  # fail fast, in one sentence, on a bad model
    description, model = probe.description, probe.spec.name  # replicas load the same entry even if the env changes
    del probe
    os.register_at_fork(after_in_child=_die_with_parent)
    f = flow(port, protocol, host, replicas, model_dir, allow_remote_uris, model)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    banner = io.StringIO()
    try:
        with contextlib.redirect_stdout(banner):  # Jina's "Flow is ready" table; we print one line instead
            f.__enter__()
    except Exception as exc:
        first_line = str(exc).splitlines()[0][:200]
        raise SemscaleError(f"the CLIP server could not start on {host}:{port}: {first_line}") from None
    try:
        scheme = "ws" if protocol == "websocket" else protocol
        print(f"semscale CLIP server ({description}, {replicas} replica{'s' if replicas > 1 else ''}) "
              f"listening on {scheme}://{host}:{port}", flush=True)
        f.block(stop_event=stop)
    finally:
        print("stopping the CLIP server", file=sys.stderr, flush=True)
        f.__exit__(None, None, None)
    return 0
