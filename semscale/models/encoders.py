"""CLIP encoders behind one small interface: a local ONNX model, or a clip-as-service server.

Both return raw (unnormalized) float32 embeddings, one row per input, in input order.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import queue
import socket
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Callable, Protocol, Sequence, TypeVar
from urllib.parse import urlparse

import numpy as np

from semscale.core.errors import SemscaleError
from semscale.core.vectors import normalize
from semscale.data.images import DecodedImage
from semscale.models.settings import Backend, server_url

T = TypeVar("T")


class Encoder(Protocol):
    """What the engine needs from a CLIP model."""

    model_id: str  # cache key part: embeddings from different models never mix
    dim: int | None  # embedding size once known: cached vectors of another size are misses

    def load(self) -> "Encoder":
        """Get ready to encode now (a local model's sessions), not on the first batch; returns self."""
        ...

    def encode_images(self, images: Sequence[DecodedImage]) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


class EncoderUnavailable(SemscaleError):
    """The model or server cannot be reached or loaded; nothing was stored for this batch."""

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason or message  # the last underlying cause alone, e.g. "connection refused"


class ModelChanged(SemscaleError):
    """The model behind a server URL is not the one this encoder connected to."""


MAX_NORM = 1e18  # past this a float32 dot product overflows: no model's embedding is that long


def checked_embeddings(rows, count: int, dim: int | None, source: str, what: str) -> np.ndarray:
    """`rows` as a (count, dim) float32 matrix, or EncoderUnavailable naming `source` (one line).

    Every backend's answer passes here before the engine scores or stores it: a server (or a
    broken model) can send NaN, inf, all-zero, ragged or wrongly sized vectors, or too few, and one
    stored bad vector would poison every later run that reads it from the cache. `dim` None: any
    one size, as long as every row has it."""
    def bad(problem: str) -> EncoderUnavailable:
        return EncoderUnavailable(f"{source} returned unusable embeddings when asked to {what}: {problem}; "
                                  f"nothing from this batch was stored", reason=f"unusable embeddings: {problem}")

    rows = [r for r in rows if r is not None]  # a server's reply without a document's embedding
    if len(rows) != count:
        raise bad(f"{len(rows)} embeddings for {count} inputs")
    try:
        vecs = [np.asarray(r, dtype=np.float64) for r in rows]
    except (TypeError, ValueError):
        raise bad("values that are not numbers") from None
    if any(v.ndim != 1 for v in vecs):
        raise bad("not one vector per input")
    sizes = sorted({len(v) for v in vecs})
    if len(sizes) > 1:
        raise bad(f"vectors of different sizes ({', '.join(map(str, sizes))})")
    if sizes and (sizes[0] == 0 or dim is not None and sizes[0] != dim):
        raise bad(f"vectors of size {sizes[0]}, expected {dim if dim is not None else 'at least 1'}")
    matrix = np.stack(vecs) if vecs else np.zeros((0, dim or 0))
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        raise bad(f"{(~finite).sum()} of {count} with NaN or infinite values")
    norms = np.linalg.norm(matrix, axis=1)
    if not ((norms > 0) & (norms < MAX_NORM)).all():
        raise bad(f"{((norms == 0) | (norms >= MAX_NORM)).sum()} of {count} of zero or overflowing length")
    return matrix.astype(np.float32)


def files_digest(folders: dict[str, Path]) -> str:
    """sha256 over every file in `folders` ({role: folder}): each file's name as role/relative
    path (e.g. `text/tokenizer.json`, wherever the folder is), size and whole content, streamed. Weights,
    preprocessor config and tokenizer all change what the model computes, so all count. 350 MB take about 0.2 s
    (measured with a warm page cache), so the digest is not cached."""
    h = hashlib.sha256()
    for role, folder in sorted(folders.items()):
        for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            name = f"{role}/{path.relative_to(folder).as_posix()}"
            h.update(f"{name}\0{path.stat().st_size}\0".encode())
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
    return h.hexdigest()[:12]


PROBE_TEXT = "a photo of a red square on a grey wall"
PROBE_TOLERANCE = 0.999  # cosine of the probe image's embedding to the connect-time one


def probe_image(seed: int = 0) -> DecodedImage:
    """A fixed 64 x 64 PNG of 4 x 4 coloured blocks: spatial detail and colour, so models that
    differ anywhere embed it differently. Made in code, identical on every machine."""
    from PIL import Image

    from semscale.data.images import decode

    blocks = np.random.default_rng(seed).integers(0, 256, (4, 4, 3), dtype=np.uint8)
    img = Image.fromarray(np.kron(blocks, np.ones((16, 16, 1), np.uint8)), "RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return decode(buf.getvalue(), "probe image")


def probe_id(image: np.ndarray, text: np.ndarray) -> str:
    """`server-probe:<12 hex>` from the probe image's and probe text's embeddings.

    Each is L2-normalised and rounded to 1 decimal (with -0.0 made 0.0), then hashed with the
    dimension. The connect-time probe is always the same request (the same two documents in the
    same order), so one machine computes the same floats each time; unit-vector components of a
    CLIP embedding are a few hundredths, so a float-noise difference (batching, thread count,
    ~1e-6) moves a component across a rounding boundary with odds of about 1e-6 per component.
    Finer rounding would make that likelier; coarser would stop telling models apart."""
    parts = [np.round(normalize(v, np.float64), 1) + 0.0 for v in (image, text)]
    h = hashlib.sha256(f"{len(parts[0])}:".encode())
    for part in parts:
        h.update(",".join(f"{v:.1f}" for v in part).encode() + b";")
    return "server-probe:" + h.hexdigest()[:12]


class LocalEncoder:
    """A registry model (`semscale.models.registry`) on the CPU through fastembed's own model classes, no torch.

    `model` is a registry name (default $SEMSCALE_MODEL, else clip-vit-b32). `model_dir` (or
    $SEMSCALE_MODEL_DIR) holds `vision/` and `text/` folders laid out as that model's Hugging Face
    repos are (`ModelSpec.local_layout`); without it fastembed fetches the model on first use and
    caches it. Texts are prepared (prefix, lower case) and finished (layer norm) as the model was
    trained; `model_id` is a digest of every file loaded, so it changes with any of them.

    Construction finds (or fetches) the files and computes `model_id`; the ONNX sessions, which hold
    the weights in memory, are created by the first encode (or `load`). A run waiting in the run
    queue is registered under its model id without holding the model.
    """

    def __init__(self, model_dir: str | Path | None = None, threads: int | None = None, model: str | None = None):
        from fastembed import ImageEmbedding, TextEmbedding

        from semscale.models.registry import get

        self.spec = get(model)
        model_dir = model_dir or os.environ.get("SEMSCALE_MODEL_DIR") or None
        vision_desc, text_desc = self.spec.descriptions()
        kwargs: dict = {"threads": threads}
        if model_dir:
            model_dir = Path(model_dir)
            for part, desc in (("vision", vision_desc), ("text", text_desc)):
                if not (model_dir / part / desc.model_file).is_file():
                    raise EncoderUnavailable(f"model folder {model_dir} has no {part}/{desc.model_file} for "
                                             f"{self.spec.name}; expected {self.spec.local_layout()}")
            self.description = f"local ONNX {self.spec.name} from {model_dir}"
        else:
            self.description = f"local {self.spec.name} (fastembed, ONNX)"
        try:  # lazy_load: fastembed fetches the files now and creates the sessions when told to
            self._vision = ImageEmbedding(self.spec.image_model, **kwargs, lazy_load=True,
                                          specific_model_path=str(model_dir / "vision") if model_dir else None)
            self._text = TextEmbedding(self.spec.text_model, **kwargs, lazy_load=True,
                                       specific_model_path=str(model_dir / "text") if model_dir else None)
        except Exception as exc:  # fastembed raises bare ValueError/OSError/HF errors
            where = "" if model_dir else (f"; to provide it offline, download the files and pass --local DIR "
                                          f"with {self.spec.local_layout()}")
            raise self._unavailable(exc, where) from None
        self._load_lock = threading.Lock()
        self._loaded = False
        self.dim: int | None = None  # the embedding size, once the model has answered
        # the folders fastembed loads from (the hub's cache folder when no model_dir is given)
        self.model_id = self.spec.id_prefix + files_digest({"vision": Path(self._vision.model._model_dir),
                                                           "text": Path(self._text.model._model_dir)})

    def _unavailable(self, exc: Exception, hint: str = "") -> EncoderUnavailable:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        return EncoderUnavailable(f"could not load the model {self.spec.name}: {first}{hint}")

    def load(self) -> "LocalEncoder":
        """Create both ONNX sessions unless they exist; once, whichever thread comes first."""
        with self._load_lock:
            if not self._loaded:
                try:
                    self._vision.model.load_onnx_model()
                    self._text.model.load_onnx_model()
                except Exception as exc:  # onnxruntime and tokenizers raise their own types
                    raise self._unavailable(exc) from None
                self._loaded = True
        return self

    def encode_images(self, images: Sequence[DecodedImage]) -> np.ndarray:
        if not images:
            return np.zeros((0, 0), np.float32)
        # fastembed's image path L2-normalizes; scoring normalizes anyway, so nothing is lost.
        rows = self.load()._vision.embed([im.pixels for im in images], batch_size=len(images))
        return self._checked(list(rows), len(images), f"encode {len(images)} images")

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), np.float32)
        rows = self.load()._text.embed(self.spec.prepare_texts(list(texts)), batch_size=len(texts))
        rows = self.spec.finish_texts(np.asarray(list(rows), dtype=np.float32))
        return self._checked(rows, len(texts), f"encode {len(texts)} texts")

    def _checked(self, rows, count: int, what: str) -> np.ndarray:
        """`checked_embeddings`, every answer the size of the first."""
        matrix = checked_embeddings(rows, count, self.dim, self.description, what)
        self.dim = matrix.shape[1]
        return matrix


class ClipServerEncoder:
    """A clip-as-service server (or `semscale serve`) reached through `clip_client.Client`.

    Each batch gets `timeout` seconds and up to `retries` further attempts with exponential
    backoff; then `EncoderUnavailable` is raised and the engine stops with everything done so
    far kept. The token is sent as the Authorization credential and never stored or printed.

    Identity: on first use the server encodes a fixed probe image and text; `model_id` is the
    fingerprint `/model` reports (`semscale serve` reports its `LocalEncoder.model_id`, so both
    share one cache) or else `probe_id` of the probe's embeddings. Every later request carries
    the probe image too; when its embedding moves, `ModelChanged` is raised before anything of
    that request is returned, so nothing of another model is stored under this id.
    """

    def __init__(self, url: str, token: str | None = None, batch_size: int = 32, timeout: float = 60.0,
                 retries: int = 3, backoff: float = 1.0):
        from clip_client import Client  # its pkg_resources warning is silenced in semscale/__init__.py

        self.url = server_url(url)
        self.description = f"CLIP server {self.url}"
        self.batch_size, self.timeout, self.retries, self.backoff = batch_size, timeout, retries, backoff
        self.probes_sent = 0  # probe images sent: a server's own image counter includes them
        self._token = token
        self._identity: tuple[str, np.ndarray] | None = None  # (model_id, unit probe image embedding)
        self.dim: int | None = None  # the embedding size: the connect-time probe's, checked against /model's
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._client = Client(self.url, credential={"Authorization": token} if token else {})
        # Jina's clients log every failed request as a multi-line box on stdout; the failure is
        # reported once, in one sentence, by `_call` instead.
        for jina_client in (self._client._client, self._client._async_client):
            jina_client.logger.logger.setLevel(logging.CRITICAL)
        _quiet_client_noise()
        _refuse_redirects()

    # --- requests ----------------------------------------------------------------------------
    def _submit(self, fn: Callable[[], T]) -> Future:
        """Run `fn` on this encoder's one worker thread, so timed-out attempts never pile up
        threads: a late attempt finishes (the client's own deadline ends it) before the next starts."""
        future: Future = Future()
        self._jobs.put((future, fn))
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, daemon=True,  # a hung call must not block exit
                                            name=f"clip-client {self.url}")
            self._worker.start()
        return future

    def _work(self) -> None:
        while True:
            future, fn = self._jobs.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # reported in the caller's thread
                    future.set_exception(exc)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one request with a deadline and retries; errors never include the token."""
        last = "no answer"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            future = self._submit(fn)
            try:
                return future.result(self.timeout + 1)  # the client's deadline is `timeout`
            except FutureTimeout:
                future.cancel()  # still queued behind a late attempt: never sent
                last = f"no answer within {self.timeout:g} s"
            except Exception as exc:
                last = _reason(exc, self._token)
        last = wrong_scheme(self.url) or last  # a client of one protocol at another's port says nothing useful
        raise EncoderUnavailable(
            f"CLIP server {self.url} failed to {what} after {self.retries + 1} attempt"
            f"{'s' if self.retries else ''} ({last})", reason=last)

    def _collect(self, endpoint: str, docs, field: str, what: str) -> dict:
        """POST `docs` to `endpoint` in `batch_size` requests: the value of `field` per returned doc id
        (a doc the server left out, or left without `field`, is missing or None: the caller checks).

        clip_client gathers results from `response.data.docs`, which Jina 3.33's HTTP client
        leaves empty (`response.docs` has them), so over http:// its own gathering fails with
        IndexError; reading `response.docs` works for every protocol. Calling Jina's `post`
        ourselves also passes our deadline, which clip_client's `encode` and `rank` drop."""
        got: dict = {}
        payload = (self._client._get_rank_payload if endpoint == "/rank" else self._client._get_post_payload)

        def keep(response):
            for doc in response.docs:
                got[doc.id] = getattr(doc, field)

        def request():
            got.clear()  # a retry starts over
            self._client._client.post(endpoint, **payload(docs, batch_size=self.batch_size), on_done=keep,
                                      parameters={"drop_image_content": True}, timeout=self.timeout)
            return got

        return self._call(what, request)

    def _raw_embeddings(self, docs, what: str) -> np.ndarray:
        """One row per doc, checked (`checked_embeddings`): a bad answer is not retried, it is the server's."""
        got = self._collect("/encode", docs, "embedding", what)
        return checked_embeddings([got.get(d.id) for d in docs], len(docs), self.dim, self.description, what)

    # --- identity ----------------------------------------------------------------------------
    def _fingerprint(self) -> tuple[str, np.ndarray]:
        """Encode the probe image and text in one request; the id `/model` reports, else theirs."""
        from docarray import Document, DocumentArray

        self.probes_sent += 1
        image, text = self._raw_embeddings(DocumentArray([Document(blob=probe_image().data, mime_type="image"),
                                                          Document(text=PROBE_TEXT)]), "encode the probe")
        info = self.server_model()
        if info and info.get("dim") not in (None, len(image)):
            raise EncoderUnavailable(f"CLIP server {self.url} says its embeddings have size {info['dim']} but sent "
                                     f"size {len(image)}; nothing was stored")
        self.dim = self.dim or len(image)
        reported = info.get("model") if info else None
        model_id = reported if isinstance(reported, str) and reported else probe_id(image, text)
        return model_id, normalize(image, np.float64)

    def _identify(self) -> tuple[str, np.ndarray]:
        if self._identity is None:
            self._identity = self._fingerprint()
        return self._identity

    def load(self) -> "ClipServerEncoder":
        """Nothing to load: the server holds the model (whether it answers is `health.check`'s question)."""
        return self

    @property
    def model_id(self) -> str:
        """What the server computes (see the class docstring); asks the server on first use."""
        return self._identify()[0]

    def _embeddings(self, docs, what: str) -> np.ndarray:
        """Embeddings of `docs`, checked: the probe image rides along and must embed as at connect time."""
        from docarray import Document

        model_id, probe = self._identify()
        self.probes_sent += 1
        rows = self._raw_embeddings([*docs, Document(blob=probe_image().data, mime_type="image")], what)
        cosine = float(normalize(rows[-1], np.float64) @ probe)
        if not cosine >= PROBE_TOLERANCE:  # NaN fails too
            try:
                now = self._fingerprint()[0]
            except EncoderUnavailable as exc:
                now = f"unknown ({exc.reason})"
            raise ModelChanged(
                f"the model behind CLIP server {self.url} changed from {model_id} to {now} (probe image cosine "
                f"{cosine:.4f}); nothing from this batch was stored. Resume against a server of {model_id}.")
        return rows[:-1]

    def rank(self, docs):
        """clip-as-service's `/rank` on query Documents with `.matches`, with the same deadline and
        retries as encoding; returns the queries with their matches scored and sorted."""
        got = self._collect("/rank", docs, "matches", f"rank {len(docs)} queries")
        if any(got.get(d.id) is None for d in docs):
            raise EncoderUnavailable(f"CLIP server {self.url} returned no matches for rank {len(docs)} queries")
        for doc in docs:
            doc.matches = got[doc.id]
        return docs

    def server_model(self) -> dict | None:
        """What the server says about its model (`semscale serve` answers `/model` with tags
        model, description, dim); None when it does not say, as clip-as-service does not.
        A server that cannot be reached raises `EncoderUnavailable`."""
        from docarray import Document

        payload = self._client._get_post_payload([Document(text="model")])  # carries the credential
        out = self._call("describe its model",
                         lambda: self._client._client.post("/model", **payload, timeout=self.timeout))
        tags = dict(out[0].tags) if out is not None and len(out) else {}
        if not tags.get("model"):
            return None
        for key in ("dim", "images_encoded", "texts_encoded"):
            if isinstance(tags.get(key), float):
                tags[key] = int(tags[key])  # protobuf Struct numbers arrive as floats
        return tags

    def encode_images(self, images: Sequence[DecodedImage]) -> np.ndarray:
        from docarray import Document, DocumentArray

        if not images:
            return np.zeros((0, 0), np.float32)
        docs = DocumentArray([Document(blob=im.data, mime_type="image") for im in images])
        return self._embeddings(docs, f"encode {len(images)} images")

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        from docarray import Document, DocumentArray

        if not texts:
            return np.zeros((0, 0), np.float32)
        return self._embeddings(DocumentArray([Document(text=t) for t in texts]), f"encode {len(texts)} texts")


class _DropClientNoise(logging.Filter):
    """asyncio's leftovers of Jina's short-lived client event loops, printed on stderr with long
    tracebacks after our own one-line message: the aiohttp session its HTTP and WebSocket clients
    leave open when the server cannot be reached, their request tasks and streamer callbacks failing
    after the call has given up, and gRPC's poller calling back into a closed loop after the server
    answered with an error. Only records naming these internals are dropped."""

    NOISE = ("Unclosed client session", "Unclosed connector", "PollerCompletionQueue", "RequestStreamer",
             "HTTPClientlet", "WebsocketClientlet")

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is not ours to judge
            return True
        return not any(marker in text for marker in self.NOISE)


def _quiet_client_noise() -> None:
    log = logging.getLogger("asyncio")
    if not any(isinstance(f, _DropClientNoise) for f in log.filters):
        log.addFilter(_DropClientNoise())


class RedirectRefused(Exception):
    """A server answered with a redirect: followed, it would send our request (and its token) elsewhere."""


def _refuse_redirects() -> None:
    """Make every aiohttp session (Jina's HTTP and WebSocket clients open their own, with no option
    for it) fail on a redirect instead of following it: a URL typed on the Run page must not reach
    another address by a 307, and what such an address answers is never shown. Installed once."""
    import aiohttp

    if getattr(aiohttp.ClientSession.__init__, "_semscale", False):
        return
    original = aiohttp.ClientSession.__init__

    async def refuse(session, context, params) -> None:
        raise RedirectRefused(f"answered with a redirect (HTTP {params.response.status}); a CLIP server is "
                              "used at its own address, without redirects")

    def __init__(self, *args, trace_configs=None, **kwargs):
        trace = aiohttp.TraceConfig()
        trace.on_request_redirect.append(refuse)
        original(self, *args, trace_configs=[*(trace_configs or []), trace], **kwargs)

    __init__._semscale = True
    aiohttp.ClientSession.__init__ = __init__


PROTOCOLS = {"grpc": "gRPC", "http": "HTTP", "ws": "WebSocket"}
_WS_HANDSHAKE = ("GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: c2Vtc2NhbGUtc2NoZW1lcw==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def _first_bytes(host: str, port: int, request: str, timeout: float) -> bytes:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request.format(host=host).encode())
        return sock.recv(64)


def spoken_scheme(host: str, port: int, timeout: float = 2.0) -> str | None:
    """Which plain protocol a Jina gateway (clip-as-service, `semscale serve`) speaks at host:port:
    grpc (HTTP/2 frames in reply to HTTP/1.1), ws (the WebSocket handshake succeeds at /) or http
    (POST-only /post); None when nothing answers or the answer is none of these."""
    try:
        reply = _first_bytes(host, port, _WS_HANDSHAKE, timeout)
        if len(reply) >= 9 and reply[3] in (0x04, 0x07):  # an HTTP/2 SETTINGS or GOAWAY frame
            return "grpc"
        if reply.startswith(b"HTTP/1.1 101"):
            return "ws"
        reply = _first_bytes(host, port, "GET /post HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n", timeout)
        return "http" if reply.startswith(b"HTTP/1.1 405") else None
    except OSError:
        return None


def wrong_scheme(url: str) -> str | None:
    """One sentence naming the likely right scheme when `url`'s port speaks another protocol (plain
    grpc, http and ws only: TLS hides what is behind it); else None."""
    parsed = urlparse(url)
    if parsed.scheme not in PROTOCOLS:
        return None
    spoken = spoken_scheme(parsed.hostname, parsed.port)
    if spoken is None or spoken == parsed.scheme:
        return None
    where = f"[{parsed.hostname}]:{parsed.port}" if ":" in parsed.hostname else f"{parsed.hostname}:{parsed.port}"
    return f"{where} speaks {PROTOCOLS[spoken]}, not {PROTOCOLS[parsed.scheme]}: use {spoken}://{where}"


def _reason(exc: BaseException | None, secret: str | None = None) -> str:
    """One line from a client error; `secret` (a server may quote the credential back) is masked."""
    if exc is None:
        return "no answer"
    from jina.excepts import BadRequestType

    status = getattr(exc.args[0], "status", None) if exc.args else None
    if status is not None and getattr(status, "description", ""):
        # jina's BadServer carries the whole response header; its str() starts with the request id
        text = f"server error: {status.description}"
    elif isinstance(exc, (ValueError, BadRequestType)):
        # Jina's HTTP client quotes the response body (of an error status, or of a 200 that is not a
        # Jina response); whatever a URL answers is never shown
        text = "the answer is not a CLIP server's (its content is not shown)"
    else:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return _clip(text.replace(secret, "***") if secret else text)


def _clip(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def for_backend(backend: Backend) -> Encoder:
    """The encoder `backend` names: its CLIP server when it has one, else its embedded registry model."""
    if backend.server:
        return ClipServerEncoder(backend.server, token=backend.token, batch_size=backend.batch_size,
                                 timeout=backend.timeout, retries=backend.retries)
    return LocalEncoder(backend.model_dir, model=backend.model)
