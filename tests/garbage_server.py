"""`semscale serve` whose executor spoils image embeddings as a mode file says, read on every request:
a misbehaving CLIP server on loopback (tests/test_garbage_embeddings.py).

    python tests/garbage_server.py MODE_FILE serve --port P --local DIR ...   (any `semscale serve` options)

Modes (an empty or missing file: healthy): nan, inf, zero, ragged, missing spoil the first image of a
request; dim cuts every image's embedding to 7 numbers and nan-all makes every image NaN, the probe
image riding along with each request too. Texts are left alone, and the probe image but for
those two, so a run gets past its connect-time check and its names and fails on its first image batch.
"""

import sys
from pathlib import Path

import numpy as np

from semscale.app import cli
from semscale.models import encoders, server

PROBE = encoders.probe_image().data


class GarbageClip(server.SemscaleClip):
    mode_file = Path(sys.argv[1])

    def _embed(self, docs):
        super()._embed(docs)
        mode = self.mode_file.read_text().strip() if self.mode_file.exists() else ""
        images = [d for d in docs if server._is_image(d) and (mode in ("nan-all", "dim") or d.blob != PROBE)]
        if not mode or not images:
            return
        first = images[0]
        if mode in ("nan", "nan-all"):
            for doc in images if mode == "nan-all" else [first]:
                doc.embedding = np.full_like(doc.embedding, np.nan)
        elif mode == "inf":
            first.embedding = np.where(np.arange(len(first.embedding)) == 0, np.inf, first.embedding)
        elif mode == "zero":
            first.embedding = np.zeros_like(first.embedding)
        elif mode == "ragged":
            first.embedding = first.embedding[:-1]
        elif mode == "missing":
            first.embedding = None
        elif mode == "dim":
            for doc in images:
                doc.embedding = doc.embedding[:7]
        else:
            raise ValueError(f"unknown mode {mode!r}")


if __name__ == "__main__":
    server.SemscaleClip = GarbageClip  # what `semscale serve` builds its Flow from
    sys.exit(cli.main(sys.argv[2:]))
