"""B9: images per second of each registry model's vision tower on this CPU, to plan a run's time.

Timing the tiny test models would say nothing, and the real weights are not needed to time the
real compute: each family gets a random-weight vision tower with its real model's layer sizes
(benchmarks/_vit_shaped.py), saved in the family's real file layout and output format and
loaded through `LocalEncoder(model=NAME)`, so fastembed's own preprocessing (224 px resize, crop,
normalise) and post-processing run as in production. Layer sizes (approximate: a plain pre-norm
ViT with a GELU MLP and mean pooling stands in for each tower's own details):

- clip-vit-b32: ViT-B/32, 224 px, 49 patches, width 768, 12 layers, MLP 3072, 512-d.
- jina-clip-v1: EVA02-B/16, 224 px, 196 patches, width 768, 12 layers; its SwiGLU MLP (2 x 2048
  in, 2048 out) costs what a 3072 GELU MLP costs; rotary position embeddings left out. 768-d.
- siglip2-base: ViT-B/16, 224 px, 196 patches, width 768, 12 layers, MLP 3072; its attention-
  pooling head (one query) is replaced by a mean. 768-d.
- nomic-v1.5: ViT-B/16, 224 px, 196 patches (+ CLS in the real model), width 768, 12 layers,
  SwiGLU MLP of about the same cost. 768-d.

    python benchmarks/b9_families.py [--images 24] [--batch 8]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import _common as C
import _vit_shaped as V
import numpy as np
import tinyclip

from semscale.data.images import decode
from semscale.models.encoders import LocalEncoder

SHAPES = {
    "clip-vit-b32": V.VIT_B32,
    "jina-clip-v1": V.Shape(patch=16, out=768),
    "siglip2-base": V.Shape(patch=16, out=768),
    "nomic-v1.5": V.Shape(patch=16, out=768),
}


def build(folder: Path, family: str, seed: int = 0) -> Path:
    """The family's tiny model with its vision tower swapped for a full-size random-weight one."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    tiny = tinyclip.FAMILIES[family]
    tinyclip.build(folder, seed, family)
    shape = SHAPES[family]
    nodes, inits = V.vision_graph(shape, np.random.default_rng(seed))
    out_nodes, outputs = tinyclip._outputs("emb", shape.out, tiny.vision_out, "image")
    inits.append(numpy_helper.from_array(np.array([1], np.int64), "axis1"))
    graph = helper.make_graph(
        nodes + out_nodes, f"{family}_shaped",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, shape.size, shape.size])],
        outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="semscale-benchmarks")
    model.ir_version = 8
    onnx.save(model, str(folder / "vision" / tiny.files()[0]))
    (folder / "vision" / "preprocessor_config.json").write_text(
        json.dumps(tiny.processor(tiny.mean, tiny.std, shape.size)))
    return folder


def photos(n: int, size: int = 320) -> list:
    """Camera-sized random photos, so the resize to 224 px is timed as well."""
    import io

    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (size, size * 4 // 3, 3), dtype=np.uint8)).save(buf, format="JPEG")
        out.append(decode(buf.getvalue(), f"photo {i}"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    tmp = C.tempdir("b9")
    images = photos(args.images)
    rows = []
    for family, shape in SHAPES.items():
        encoder = LocalEncoder(build(tmp / family, family), model=family)
        encoder.encode_images(images[: args.batch])  # warm-up: session start, first allocation
        start = time.perf_counter()
        for i in range(0, len(images), args.batch):
            emb = encoder.encode_images(images[i : i + args.batch])
        seconds = time.perf_counter() - start
        rate = len(images) / seconds
        rows.append([family, f"{shape.patch}", f"{shape.tokens}", f"{emb.shape[1]}", f"{rate:.2f}",
                     f"{1000 / rate:.0f}", f"{1000 / rate / 60:.1f}"])
    print(C.machine())
    print(C.table(["model", "patch", "tokens", "dim", "images/s", "ms/image", "min per 1000 images"], rows,
                  f"B9: vision-tower throughput, random weights at real layer sizes, {args.images} photos "
                  f"of 320x426 px in batches of {args.batch}"))


if __name__ == "__main__":
    main()
