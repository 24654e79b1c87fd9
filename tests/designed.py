"""A CLIP-shaped ONNX model pair with hand-designed geometry, for tests that must tell things apart.

The tiny colour model of `tinyclip` is right about every image under every aggregation, so a test
on it cannot tell `max` from `mean` from `probsum`, a right name order from a wrong one, or which
class wins a tie. Here every cosine is chosen: images are basis vectors and each name is a unit
vector whose cosine with each image is written in `COSINES`, so the tests can state, computed by
hand, which class each aggregation must predict.

Same signature and files as `tinyclip` (fastembed loads it like Qdrant's ViT-B/32; `semscale
serve --local` serves it); only the numbers differ:

- Image k (k = 0..5) is a black 32x32 PNG with the 8x8 block number k (row-major) pure red. The
  preprocessor only rescales (mean 0, std 1), so that block averages to 1.0 and every other block
  to exactly 0, and the vision projection copies red block k to dimension k: the embedding is the
  basis vector e_k, with exact zeros elsewhere (no subtraction, so no rounding residue).
- A one-word name embeds to its row of the text table: its cosine with image k in dimension k, and
  the rest of its unit length in a dimension of its own, so two names' dot product is the sum, over
  images, of their cosines' products. Twins share one row: their cosines are bit-identical.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tinyclip
from PIL import Image

# The dataset: class -> its images (image k embeds to e_k).
IMAGES = {"ant": (0, 1), "bee": (2, 3), "cat": (4, 5)}
N_IMAGES = 6

# name -> {image k: cosine}; every cosine not listed is 0.
COSINES: dict[str, dict[int, float]] = {
    "ant": {0: 0.6, 1: 0.6},
    "apple": {0: -0.6, 1: 0.795},
    "arrow": {1: 0.795},
    "bee": {2: 0.6, 3: 0.6, 5: 0.395},
    "bell": {0: 0.3, 2: 0.2, 4: 0.85, 5: 0.3},
    "bread": {5: 0.395},
    "cat": {4: 0.84, 5: 0.4},
    "cloud": {1: 0.8},
}
TWINS = {"chime": "bell"}  # same embedding, different word

# Base name first; "bell" (bee) and "chime" (cat) are twins.
LABELS = {"ant": ["ant", "apple", "arrow"], "bee": ["bee", "bell", "bread"], "cat": ["cat", "chime", "cloud"]}

OWN = N_IMAGES  # first of the names' own dimensions
UNKNOWN = OWN + len(COSINES)  # where words outside the vocabulary point
OTHER = UNKNOWN + 1  # green and blue pixels, which no designed image has
DIM = OTHER + 1


def name_vectors() -> dict[str, np.ndarray]:
    """The unit embedding of every vocabulary word, as designed."""
    out = {}
    for j, (name, cosines) in enumerate(COSINES.items()):
        v = np.zeros(DIM)
        for k, c in cosines.items():
            v[k] = c
        rest = 1 - (v**2).sum()
        assert rest >= 0, f"{name}: cosines longer than a unit vector"
        v[OWN + j] = np.sqrt(rest)
        out[name] = v
    out.update({twin: out[of] for twin, of in TWINS.items()})
    return out


def build(folder: str | Path) -> Path:
    """Write `folder/vision` and `folder/text`; returns `folder` (a model dir, like tinyclip's)."""
    folder = Path(folder)
    for part in ("vision", "text"):
        (folder / part).mkdir(parents=True, exist_ok=True)
    proj = np.zeros((tinyclip.CELLS, DIM), np.float32)
    for k in range(N_IMAGES):
        proj[k, k] = 1.0  # red block k -> dimension k
    proj[16:, OTHER] = 1.0 / 32  # green and blue: only so a grey probe image is not the zero vector
    tinyclip.write_vision(folder / "vision", proj, mean=np.zeros(3), std=np.ones(3))
    words = name_vectors()
    vocab = tinyclip.SPECIAL + list(words)
    table = np.zeros((len(vocab), DIM), np.float32)
    table[vocab.index("[UNK]"), UNKNOWN] = 1.0
    for word, vec in words.items():
        table[vocab.index(word)] = vec
    tinyclip.write_text(folder / "text", vocab, table)
    return folder


def image(k: int) -> Image.Image:
    """Black 32x32 with the 8x8 block number k (row-major) pure red: embeds to e_k."""
    img = Image.new("RGB", (tinyclip.SIZE, tinyclip.SIZE))
    row, col = divmod(k, 4)
    img.paste((255, 0, 0), (col * 8, row * 8, col * 8 + 8, row * 8 + 8))
    return img


def write_images(root: str | Path) -> Path:
    """Class folders `root/CLASS/kN.png` of the designed images."""
    root = Path(root)
    for cls, ks in IMAGES.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for k in ks:
            image(k).save(root / cls / f"k{k}.png")
    return root
