"""Decoding image files safely into RGB pixels, with one clear reason when a file is unusable."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from semscale.core.errors import SemscaleError

MAX_PIXELS = 64_000_000  # 8k x 8k; larger files are decompression bombs for our purposes
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False
SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# "draft": a JPEG is decoded at the smallest DCT scale (1/2, 1/4, 1/8) that still leaves at least
# DRAFT_SIDE pixels on both sides; a phone photo then decodes ~7x faster (benchmarks/b5_photos.py).
# Every registry model's preprocessing takes 224 px (CLIP: shorter side to 224, centre crop; the
# paper's squash: 224 x 224); 448 leaves room for 336-px models behind a CLIP server, and the
# model's own resize still does the last step. "exact": every pixel of the file, as before.
DECODES = ("draft", "exact")
DRAFT_SIDE = 448


class ImageRejected(SemscaleError):
    """A single image that cannot be used; the run goes on without it."""


@dataclass(frozen=True)
class DecodedImage:
    """An image ready for any encoder: RGB pixels for local models, bytes for a server.

    `data` is the original file when it already decodes to upright RGB, otherwise a PNG of the
    normalized pixels (made only when asked), so a CLIP server sees what the local model sees.
    """

    original: bytes
    pixels: Image.Image
    normalized: bool  # True when pixels differ from a plain decode of `original`

    @property
    def data(self) -> bytes:
        if not self.normalized:
            return self.original
        buf = io.BytesIO()
        self.pixels.save(buf, format="PNG", compress_level=1)
        return buf.getvalue()


def content_hash(data: bytes) -> str:
    """Cache key of an image: what it contains, not where it lives."""
    return hashlib.sha256(data).hexdigest()


def footprint(data: bytes, side: int | None) -> tuple[int, int]:
    """(`draft_scale`, bytes of the RGB pixels `decode(data, draft=side)` will hold), read from the
    header alone; (1, 0) for what decode() rejects at once (not an image, a bomb, ...)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            scale = _draft(img, side) if side else 1
            width, height = img.size
    except Exception:  # decode() rejects it with the reason
        return 1, 0
    if width * height > MAX_PIXELS:
        return scale, 0
    return scale, 3 * -(-width // scale) * -(-height // scale)


def draft_scale(data: bytes, side: int | None) -> int:
    """The DCT scale denominator (1, 2, 4 or 8) a draft decode to `side` uses for `data`, read from
    the header alone; 1 (every pixel) for anything but a large enough JPEG, or when `side` is None."""
    return footprint(data, side)[0]


def _draft(img: Image.Image, side: int) -> int:
    """Make a JPEG `img` (not yet loaded) decode at >= `side` pixels on both sides; its scale denominator."""
    if img.format != "JPEG":
        return 1
    img.draft(img.mode, (side, side))  # the same mode: only the size changes
    return img.decoderconfig[0] if img.decoderconfig else 1


def decode(data: bytes, name: str = "image", draft: int | None = None) -> DecodedImage:
    """Decode `data`: EXIF orientation applied, first frame only, converted to 8-bit RGB.

    draft: a JPEG may be decoded at a reduced DCT scale that keeps >= `draft` pixels on both sides
    (`draft_scale` says which); None decodes every pixel.
    """
    if not data:
        raise ImageRejected(f"{name}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            original_format = img.format
            scale = _draft(img, draft) if draft else 1
            img.load()
            orientation = img.getexif().get(0x0112, 1)
            upright = ImageOps.exif_transpose(img) if orientation not in (None, 1) else img
            if upright.mode.startswith("I;16") or upright.mode == "I":  # 16-bit: keep the top 8 bits
                upright = upright.convert("I").point(lambda v: v / 256).convert("L")
            elif upright.mode == "F":
                upright = _from_float(upright, name)
            rgb = upright if upright.mode == "RGB" else upright.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(f"{name}: image is too large (limit {MAX_PIXELS:,} pixels)") from None
    except UnidentifiedImageError:
        raise ImageRejected(f"{name}: not an image file (unrecognized format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"{name}: corrupt or truncated image ({_short(exc)})") from None
    plain = rgb is img and scale == 1 and original_format in ("JPEG", "PNG") and getattr(img, "n_frames", 1) == 1
    return DecodedImage(data, rgb, normalized=not plain)


def _from_float(img: Image.Image, name: str) -> Image.Image:
    """A float ("F", e.g. a scientific TIFF) image as 8-bit grey: values of 0-1 (the usual float
    convention) scaled to 0-255, values of 0-255 kept; anything else is refused, not guessed at (a
    plain conversion clips 0-1 values to black)."""
    values = np.asarray(img, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ImageRejected(f"{name}: float image with NaN or infinite values")
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 255:
        raise ImageRejected(f"{name}: float image with values from {low:g} to {high:g}; expected 0-1 or 0-255")
    return Image.fromarray(np.round(values * (255 if high <= 1 else 1)).astype(np.uint8), "L")


def _squash_224(pixels: Image.Image) -> Image.Image:
    """What the paper's labelling tool did before sending: 224 x 224 with Lanczos, aspect ratio not kept."""
    return pixels.resize((224, 224), Image.LANCZOS)


# How pixels are prepared before the encoder's own preprocessing. "clip" leaves them to the model
# (resize the shorter side, centre crop); "paper" squashes them first, as the study's code did.
PREPARATIONS: dict[str, Callable[[Image.Image], Image.Image] | None] = {"clip": None, "paper": _squash_224}


def prepare(image: DecodedImage, preparation: str) -> DecodedImage:
    """`image` as the encoder should see it under `preparation` (a key of PREPARATIONS)."""
    step = PREPARATIONS[preparation]
    return image if step is None else DecodedImage(image.original, step(image.pixels), normalized=True)


def prepared_hash(data_hash: str, preparation: str, scale: int = 1) -> str:
    """Cache key of an image's embedding: its content, plus the preparation and the draft decode's
    scale (`draft_scale`) whenever they change the pixels; an exact decode keeps its old keys."""
    if scale != 1:
        return hashlib.sha256(f"{preparation}\0draft 1/{scale}\0{data_hash}".encode()).hexdigest()
    if PREPARATIONS[preparation] is None:
        return data_hash
    return hashlib.sha256(f"{preparation}\0{data_hash}".encode()).hexdigest()


def _short(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 80 else text[:77] + "..."
