"""Vision models with a real ViT's shape and cost but random weights, for timing only.

Same input and output as Qdrant's clip-ViT-B-32-vision (pixel_values 224x224 -> image_embeds
512), same compute: a 32x32 patch embedding to width 768, 12 pre-norm transformer blocks (12 heads,
MLP 3072), a final norm and a projection to 512 (~8.3 GFLOP per image; the real model has one
more token). Its embeddings mean nothing; it exists so B2 can measure semscale's overhead against
an encoder that costs what the real one costs, on a machine without the real weights. The text
side is the tiny test model's tokenizer and token-mean graph widened to 512 dimensions (a run
encodes a few dozen names against hundreds of images, so its cost hardly matters).

`Shape` generalises the tower (patch size, width, depth, MLP, token count) for B9, which times
each registry family's vision tower at its real layer sizes (`vision_graph`).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Shape:
    """A pre-norm ViT: `layers` blocks of width `width`, `heads` heads, a `mlp`-wide MLP, mean-pooled
    and projected to `out`."""

    patch: int = 32
    size: int = 224
    width: int = 768
    heads: int = 12
    layers: int = 12
    mlp: int = 3072
    out: int = 512

    @property
    def tokens(self) -> int:
        return (self.size // self.patch) ** 2


VIT_B32 = Shape()
WIDTH, HEADS, LAYERS, MLP, OUT, PATCH, SIZE = (VIT_B32.width, VIT_B32.heads, VIT_B32.layers, VIT_B32.mlp,
                                               VIT_B32.out, VIT_B32.patch, VIT_B32.size)
TOKENS = VIT_B32.tokens  # 49


def vision_graph(shape: Shape, rng: np.random.Generator) -> tuple[list, list]:
    """Nodes and initializers from `pixel_values` (B, 3, size, size) to `emb` (B, out)."""
    from onnx import helper, numpy_helper

    WIDTH, HEADS, LAYERS, MLP, OUT, PATCH, TOKENS = (shape.width, shape.heads, shape.layers, shape.mlp, shape.out,
                                                     shape.patch, shape.tokens)
    nodes, inits = [], []

    def w(name, shape, scale=0.02):
        inits.append(numpy_helper.from_array((rng.standard_normal(shape, dtype=np.float32) * scale), name))
        return name

    def c(name, values, dtype=np.int64):
        inits.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), name))
        return name

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def layer_norm(x, p):
        mean = node("ReduceMean", [x], f"{p}_mean", axes=[-1])
        d = node("Sub", [x, mean], f"{p}_d")
        var = node("ReduceMean", [node("Mul", [d, d], f"{p}_d2")], f"{p}_var", axes=[-1])
        std = node("Sqrt", [node("Add", [var, c(f"{p}_eps", 1e-5, np.float32)], f"{p}_ve")], f"{p}_std")
        return node("Add", [node("Mul", [node("Div", [d, std], f"{p}_n"), w(f"{p}_g", [WIDTH], 1.0)], f"{p}_s"),
                            w(f"{p}_b", [WIDTH])], f"{p}_out")

    c("heads_shape", [0, TOKENS, HEADS, WIDTH // HEADS])
    c("width_shape", [0, TOKENS, WIDTH])
    c("tokens_shape", [0, WIDTH, TOKENS])
    x = node("Conv", ["pixel_values", w("patch_w", [WIDTH, 3, PATCH, PATCH])], "patches",
             kernel_shape=[PATCH, PATCH], strides=[PATCH, PATCH])
    x = node("Transpose", [node("Reshape", [x, "tokens_shape"], "flat")], "tokens", perm=[0, 2, 1])
    x = node("Add", [x, w("pos", [TOKENS, WIDTH])], "x0")
    for i in range(LAYERS):
        p = f"l{i}"
        h = layer_norm(x, f"{p}_ln1")
        qkv = [node("MatMul", [h, w(f"{p}_w{k}", [WIDTH, WIDTH])], f"{p}_{k}") for k in "qkv"]
        q, k, v = (node("Transpose", [node("Reshape", [t, "heads_shape"], f"{t}_r")], f"{t}_t", perm=[0, 2, 1, 3])
                   for t in qkv)
        att = node("Softmax", [node("Mul", [node("MatMul", [q, node("Transpose", [k], f"{p}_kT", perm=[0, 1, 3, 2])],
                                                  f"{p}_qk"), c(f"{p}_sc", 0.125, np.float32)], f"{p}_qks")],
                   f"{p}_att", axis=-1)
        o = node("Reshape", [node("Transpose", [node("MatMul", [att, v], f"{p}_av")], f"{p}_avt", perm=[0, 2, 1, 3]),
                             "width_shape"], f"{p}_o")
        x = node("Add", [x, node("MatMul", [o, w(f"{p}_wo", [WIDTH, WIDTH])], f"{p}_proj")], f"{p}_x1")
        h = node("MatMul", [layer_norm(x, f"{p}_ln2"), w(f"{p}_w1", [WIDTH, MLP])], f"{p}_h1")
        h = node("Mul", [h, node("Sigmoid", [node("Mul", [h, c(f"{p}_gk", 1.702, np.float32)], f"{p}_hk")], f"{p}_sg")],
                 f"{p}_gelu")
        x = node("Add", [x, node("MatMul", [h, w(f"{p}_w2", [MLP, WIDTH])], f"{p}_h2")], f"{p}_x2")
    pooled = node("ReduceMean", [layer_norm(x, "final")], "pooled", axes=[1], keepdims=0)
    node("MatMul", [pooled, w("proj", [WIDTH, OUT])], "emb")
    return nodes, inits


def build(folder: Path, tiny_text: Path, seed: int = 0) -> Path:
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    nodes, inits = vision_graph(VIT_B32, rng)
    nodes.append(helper.make_node("Identity", ["emb"], ["image_embeds"]))
    graph = helper.make_graph(
        nodes, "vit_b32_shaped",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", OUT])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="semscale-benchmarks")
    model.ir_version = 8
    (folder / "vision").mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "vision" / "model.onnx"))
    (folder / "vision" / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "CLIPImageProcessor", "do_resize": True, "size": {"shortest_edge": SIZE},
        "do_center_crop": True, "crop_size": {"height": SIZE, "width": SIZE}, "do_rescale": True,
        "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "do_convert_rgb": True}))
    _text(folder / "text", tiny_text, rng)
    return folder


def _text(path: Path, tiny_text: Path, rng: np.random.Generator) -> None:
    """The tiny test model's text side (same tokenizer, masked mean of token vectors), widened to 512."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    shutil.copytree(tiny_text, path, dirs_exist_ok=True)
    vocab = len(json.loads((path / "tokenizer.json").read_text())["model"]["vocab"])
    table = rng.standard_normal((vocab, OUT), dtype=np.float32)
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["tokens"], axis=0),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "axis2"], ["mask_3d"]),
        helper.make_node("Mul", ["tokens", "mask_3d"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask_3d", "axis1"], ["count"], keepdims=0),
        helper.make_node("Div", ["summed", "count"], ["text_embeds"]),
    ]
    graph = helper.make_graph(
        nodes, "text_512",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch", OUT])],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(np.array([2], np.int64), "axis2"),
         numpy_helper.from_array(np.array([1], np.int64), "axis1")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="semscale-benchmarks")
    model.ir_version = 8
    onnx.save(model, str(path / "model.onnx"))
