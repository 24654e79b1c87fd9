"""CLIP encoders behind one small interface: a local ONNX model, or a clip-as-service server.

Both return raw (unnormalized) float32 embeddings, one row per input, in input order.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable, Protocol, Sequence, TypeVar
from urllib.parse import urlparse

import numpy as np

from semscale.errors import SemscaleError
from semscale.images import DecodedImage

VISION_MODEL = "Qdrant/clip-ViT-B-32-vision"
TEXT_MODEL = "Qdrant/clip-ViT-B-32-text"
SCHEMES = ("grpc", "grpcs", "http", "https", "ws", "wss", "websocket")

T = TypeVar("T")


class Encoder(Protocol):
    """What the engine needs from a CLIP model."""

    model_id: str  # cache key part: embeddings from different models never mix

    def encode_images(self, images: Sequence[DecodedImage]) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


class EncoderUnavailable(SemscaleError):
    """The model or server cannot be reached or loaded; nothing was stored for this batch."""

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason or message  # the last underlying cause alone, e.g. "connection refused"


def _fingerprint(path: Path) -> str:
    """Content fingerprint of a model file: size plus its first and last 4 MB."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as fh:
        h.update(fh.read(4 << 20))
        if size > 8 << 20:
            fh.seek(-(4 << 20), os.SEEK_END)
            h.update(fh.read())
    return h.hexdigest()[:12]


class LocalEncoder:
    """ONNX CLIP on the CPU through fastembed, no torch.

    `model_dir` (or $SEMSCALE_MODEL_DIR) holds `vision/` and `text/` fastembed model folders
    (model.onnx, preprocessor_config.json, tokenizer files). Without it, fastembed fetches
    Qdrant's CLIP ViT-B/32 from its hub on first use and caches it.
    """

    def __init__(self, model_dir: str | Path | None = None, threads: int | None = None):
        from fastembed import ImageEmbedding, TextEmbedding

        model_dir = model_dir or os.environ.get("SEMSCALE_MODEL_DIR") or None
        kwargs: dict = {"threads": threads}
        if model_dir:
            model_dir = Path(model_dir)
            for part in ("vision", "text"):
                if not (model_dir / part / "model.onnx").is_file():
                    raise EncoderUnavailable(f"model folder {model_dir} has no {part}/model.onnx")
            self.model_id = "onnx-clip:" + _fingerprint(model_dir / "vision" / "model.onnx") + _fingerprint(
                model_dir / "text" / "model.onnx"
            )
            self.description = f"local ONNX CLIP from {model_dir}"
        else:
            self.model_id = f"fastembed:{VISION_MODEL}+{TEXT_MODEL}"
            self.description = "local CLIP ViT-B/32 (fastembed, ONNX)"
        try:
            self._vision = ImageEmbedding(
                VISION_MODEL, specific_model_path=str(model_dir / "vision") if model_dir else None, **kwargs
            )
            self._text = TextEmbedding(
                TEXT_MODEL, specific_model_path=str(model_dir / "text") if model_dir else None, **kwargs
            )
        except Exception as exc:  # fastembed raises bare ValueError/OSError/HF errors
            raise EncoderUnavailable(f"could not load the CLIP model: {str(exc).splitlines()[0][:200]}") from None

    def encode_images(self, images: Sequence[DecodedImage]) -> np.ndarray:
        if not images:
            return np.zeros((0, 0), np.float32)
        # fastembed's image path L2-normalizes; scoring normalizes anyway, so nothing is lost.
        rows = self._vision.embed([im.pixels for im in images], batch_size=len(images))
        return np.asarray(list(rows), dtype=np.float32)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), np.float32)
        return np.asarray(list(self._text.embed(list(texts), batch_size=len(texts))), dtype=np.float32)


class ClipServerEncoder:
    """A clip-as-service server (or `semscale serve`) reached through `clip_client.Client`.

    Each batch gets `timeout` seconds and up to `retries` further attempts with exponential
    backoff; then `EncoderUnavailable` is raised and the engine stops with everything done so
    far kept. The token is sent as the Authorization credential and never stored or printed.
    """

    def __init__(self, url: str, token: str | None = None, batch_size: int = 32, timeout: float = 60.0,
                 retries: int = 3, backoff: float = 1.0):
        from clip_client import Client

        parsed = urlparse(url)
        if parsed.scheme not in SCHEMES or not parsed.hostname or not parsed.port:
            raise SemscaleError(f"server URL must look like grpc://host:port (schemes: {', '.join(SCHEMES)}), got {url!r}")
        scheme = "ws" if parsed.scheme == "websocket" else parsed.scheme
        self.url = f"{scheme}://{parsed.hostname}:{parsed.port}"
        self.model_id = f"server:{self.url}"
        self.description = f"CLIP server {self.url}"
        self.batch_size, self.timeout, self.retries, self.backoff = batch_size, timeout, retries, backoff
        self._token = token
        self._client = Client(self.url, credential={"Authorization": token} if token else {})
        # Jina's clients log every failed request as a multi-line box on stdout; the failure is
        # reported once, in one sentence, by `_call` instead.
        for jina_client in (self._client._client, self._client._async_client):
            jina_client.logger.logger.setLevel(logging.CRITICAL)
        _quiet_client_noise()

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one request with a deadline and retries; errors never include the token."""
        last = "no answer"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            box: dict = {}

            def target():
                try:
                    box["value"] = fn()
                except BaseException as exc:  # reported below, in the caller's thread
                    box["error"] = exc

            worker = threading.Thread(target=target, daemon=True)  # a hung call must not block exit
            worker.start()
            worker.join(self.timeout)
            if "value" in box:
                return box["value"]
            last = f"no answer within {self.timeout:g} s" if worker.is_alive() else _reason(box.get("error"), self._token)
        raise EncoderUnavailable(
            f"CLIP server {self.url} failed to {what} after {self.retries + 1} attempt"
            f"{'s' if self.retries else ''} ({last})", reason=last)

    def _collect(self, method, docs, field: str, what: str) -> dict:
        """`Client.encode`/`Client.rank` with our own on_done: the value of `field` per returned doc id.

        clip_client gathers results from `response.data.docs`, which Jina 3.33's HTTP client
        leaves empty (`response.docs` has them), so over http:// its own gathering fails with
        IndexError; reading `response.docs` works for every protocol."""
        got: dict = {}

        def keep(response):
            for doc in response.docs:
                got[doc.id] = getattr(doc, field)

        def request():
            got.clear()  # a retry starts over
            method(docs, batch_size=self.batch_size, on_done=keep)
            return got

        self._call(what, request)
        if any(got.get(d.id) is None for d in docs):
            raise EncoderUnavailable(f"CLIP server {self.url} returned no {field} for {what}")
        return got

    def _embeddings(self, docs, what: str) -> np.ndarray:
        got = self._collect(self._client.encode, docs, "embedding", what)
        return np.asarray([got[d.id] for d in docs], dtype=np.float32)

    def rank(self, docs):
        """clip-as-service's `/rank` on query Documents with `.matches`, with the same deadline and
        retries as encoding; returns the queries with their matches scored and sorted."""
        got = self._collect(self._client.rank, docs, "matches", f"rank {len(docs)} queries")
        for doc in docs:
            doc.matches = got[doc.id]
        return docs

    def server_model(self) -> dict | None:
        """What the server says about its model (`semscale serve` answers `/model` with tags
        model, description, dim); None when it does not say, as clip-as-service does not."""
        from docarray import Document

        try:
            payload = self._client._get_post_payload([Document(text="model")])  # carries the credential
            out = self._call("describe its model", lambda: self._client._client.post("/model", **payload))
        except EncoderUnavailable:
            return None
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


def _reason(exc: BaseException | None, secret: str | None = None) -> str:
    """One line from a client error; `secret` (a server may quote the credential back) is masked."""
    if exc is None:
        return "no answer"
    status = getattr(exc.args[0], "status", None) if exc.args else None
    if status is not None and getattr(status, "description", ""):
        # jina's BadServer carries the whole response header; its str() starts with the request id
        text = f"server error: {status.description}"
    else:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return _clip(text.replace(secret, "***") if secret else text)


def _clip(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def make_encoder(server: str | None = None, token: str | None = None, model_dir: str | None = None,
                 batch_size: int = 32, timeout: float = 60.0, retries: int = 3) -> Encoder:
    """The embedded local model by default; a CLIP server when a URL is given."""
    if server:
        return ClipServerEncoder(server, token=token, batch_size=batch_size, timeout=timeout, retries=retries)
    return LocalEncoder(model_dir)
