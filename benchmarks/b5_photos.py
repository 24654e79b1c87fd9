"""B5: real photos. Phone-sized JPEGs (>= 8 megapixels), decoded exactly vs draft-decoded.

Makes B5_IMAGES (default 200) JPEGs of 2450 x 3268 pixels (8.0 MP, quality 90) by upscaling the
clothing photos (bicubic) into a temp folder; every fifth gets an EXIF orientation tag (6: shown
rotated), as phone photos do. Then, per image, times decode + the model's own CLIP preprocessing
(fastembed's processor: shorter side to 224 bicubic, centre crop, normalize) both ways:

- exact: every pixel decoded (`semscale.data.images.decode(data)`), the engine's `decode: exact`;
- draft: the JPEG decoded at the smallest DCT scale that keeps >= DRAFT_SIDE pixels on both sides
  (`decode(data, draft=DRAFT_SIDE)`), the engine's default.

The two ways alternate image by image (the machine is shared). Then every image's embedding on
the ViT-B/32-shaped model (benchmarks/_vit_shaped.py: the real model's layer sizes, random weights)
is computed from both, and the cosine between them is reported (min, 1st percentile, median).

    python benchmarks/b5_photos.py            # B5_IMAGES=50 for a quicker look
"""

from __future__ import annotations

import os
import statistics
import time

import _common as C
import numpy as np
from PIL import Image

from semscale.data.images import DRAFT_SIDE, decode, draft_scale
from semscale.models.encoders import LocalEncoder

N_IMAGES = int(os.environ.get("B5_IMAGES", "200"))
SIZE = (2450, 3268)  # 8.0 MP, a 3:4 phone photo
BATCH = 32


def make_photos(folder, tmp) -> list[bytes]:
    """N_IMAGES upscaled clothing photos as 8 MP JPEGs (every fifth with EXIF orientation 6)."""
    sources = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    out = tmp / "photos"
    out.mkdir()
    files = []
    for i in range(N_IMAGES):
        img = Image.open(sources[i % len(sources)]).convert("RGB")
        if img.width > img.height:
            img = img.rotate(90, expand=True)
        big = img.resize(SIZE, Image.BICUBIC)
        exif = Image.Exif()
        if i % 5 == 0:
            exif[0x0112] = 6
        path = out / f"{i:04d}.jpg"
        big.save(path, quality=90, exif=exif.tobytes())
        files.append(path.read_bytes())
    return files


def main() -> None:
    import _vit_shaped

    tmp = C.tempdir("b5")
    tiny, _ = C.model_dir(tmp)
    model = _vit_shaped.build(tmp / "vit-b32-shaped", tiny / "text")
    encoder = LocalEncoder(model).load()
    processor = encoder._vision.model.processor  # fastembed's own preprocessing of this model
    folder, note = C.dataset_folder("clothing", tmp)
    t = time.perf_counter()
    files = make_photos(folder, tmp)
    made_s = time.perf_counter() - t
    print(f"machine: {C.machine()}")
    print(f"data: {len(files)} JPEGs of {SIZE[0]} x {SIZE[1]} ({SIZE[0] * SIZE[1] / 1e6:.1f} MP, quality 90, "
          f"mean {np.mean([len(f) for f in files]) / 1e6:.2f} MB) upscaled from {note} in {made_s:.0f} s")
    print(f"model: ViT-B/32-shaped, random weights (benchmarks/_vit_shaped.py), 224 px; draft side {DRAFT_SIDE}")

    modes = {"exact": None, "draft": DRAFT_SIDE}
    ms: dict[str, list[float]] = {m: [] for m in modes}
    decode_ms: dict[str, list[float]] = {m: [] for m in modes}
    pixels: dict[str, list] = {m: [] for m in modes}
    sizes = set()
    for data in files:  # alternate the two ways image by image
        for mode, side in modes.items():
            t = time.perf_counter()
            img = decode(data, draft=side)
            t1 = time.perf_counter()
            processor([img.pixels])
            t2 = time.perf_counter()
            ms[mode].append(1000 * (t2 - t))
            decode_ms[mode].append(1000 * (t1 - t))
            pixels[mode].append(img)
            if side:
                sizes.add((img.pixels.size, draft_scale(data, side)))
    med = {m: statistics.median(v) for m, v in ms.items()}
    rows = [[m, f"{statistics.median(decode_ms[m]):.1f}", f"{med[m]:.1f}", f"{sum(ms[m]) / 1000:.1f}"] for m in modes]
    print()
    print(C.table(["decode", "decode ms/image (median)", "decode + CLIP preprocessing ms/image (median)", "total s"],
                  rows,
                  f"Per image ({len(files)} photos; draft decodes to {sorted(sizes)} (size, DCT scale 1/n)):"))

    embeddings = {}
    for mode in modes:
        t = time.perf_counter()
        embeddings[mode] = np.concatenate([encoder.encode_images(pixels[mode][s : s + BATCH])
                                           for s in range(0, len(files), BATCH)])
        print(f"encoded {mode} in {time.perf_counter() - t:.1f} s")
    a, b = (e / np.linalg.norm(e, axis=1, keepdims=True) for e in (embeddings["exact"], embeddings["draft"]))
    cos = np.sum(a.astype(np.float64) * b, axis=1)
    print()
    print(C.table(["measure", "value"], [
        ["speed-up of decode + CLIP preprocessing (median per image)", f"{med['exact'] / med['draft']:.1f}x"],
        ["cosine draft vs exact embedding: min", f"{cos.min():.5f}"],
        ["cosine: 1st percentile", f"{np.percentile(cos, 1):.5f}"],
        ["cosine: median", f"{np.median(cos):.5f}"],
        ["images with cosine < 0.999", f"{int((cos < 0.999).sum())} of {len(cos)}"],
    ], "Draft vs exact:"))
    print(f"B5 photos: decode + preprocessing {med['exact']:.1f} -> {med['draft']:.1f} ms/image "
          f"({med['exact'] / med['draft']:.1f}x, target >= 4x); embedding cosine min {cos.min():.5f}, "
          f"p1 {np.percentile(cos, 1):.5f}, median {np.median(cos):.5f} (target >= 0.999)")


if __name__ == "__main__":
    main()
