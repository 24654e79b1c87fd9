"""Builds a tiny CLIP-shaped ONNX model pair that fastembed loads exactly like Qdrant's ViT-B/32.

Same inputs and outputs as the production model (pixel_values -> image_embeds; input_ids +
attention_mask -> text_embeds), 32x32 pixels and 16 dimensions. The weights are built so the
model is not arbitrary: the first three embedding dimensions carry an image's mean colour, and
colour words ("red", "green", ...) point at their colour, so "a red square" really is nearest
to the word red. Everything else is seeded noise, identical on every machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DIM = 16
SIZE = 32
CELLS = 3 * 4 * 4  # the vision model sees 8x8-pixel blocks: 4x4 of them per channel
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)
COLOURS = {
    "red": (255, 0, 0), "green": (0, 160, 0), "blue": (0, 0, 255), "yellow": (255, 230, 0),
    "black": (0, 0, 0), "white": (255, 255, 255), "purple": (128, 0, 160), "orange": (255, 140, 0),
}
WORDS = ["a", "photo", "of", "the", "an", "large", "small", "medium", "colour", "color", "thing"]
CHARS = list("abcdefghijklmnopqrstuvwxyz0123456789-'")


def colour_direction(rgb: tuple[int, int, int]) -> np.ndarray:
    """The normalized pixel value of a flat image of this colour: where its embedding points."""
    return (np.array(rgb, np.float32) / 255.0 - MEAN) / STD


def _vision(path: Path, rng: np.random.Generator) -> None:
    proj = np.zeros((CELLS, DIM), np.float32)
    for c in range(3):  # colour means into dims 0..2 (average of the 16 cells per channel)
        proj[c * 16 : (c + 1) * 16, c] = 1.0 / 16
    proj[:, 3:] = rng.normal(0, 0.05, (CELLS, DIM - 3))  # a little spatial detail elsewhere
    write_vision(path, proj)


def write_vision(path: Path, proj: np.ndarray, mean: np.ndarray = MEAN, std: np.ndarray = STD) -> None:
    """A vision model whose embedding is `cells @ proj`: `cells` (B, 48) are the pixel values
    (x / 255 - mean) / std averaged over 8x8 blocks, channel-major (R cells 0..15 row by row, then
    G, then B)."""
    pool = helper.make_node("AveragePool", ["pixel_values"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8])
    flat = helper.make_node("Flatten", ["pooled"], ["flat"], axis=1)  # (B, 3*4*4)
    matmul = helper.make_node("MatMul", ["flat", "proj"], ["image_embeds"])
    graph = helper.make_graph(
        [pool, flat, matmul], "tiny_clip_vision",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", proj.shape[1]])],
        [numpy_helper.from_array(proj.astype(np.float32), "proj")],
    )
    _save(graph, path / "model.onnx")
    (path / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "CLIPImageProcessor", "do_resize": True, "size": {"shortest_edge": SIZE},
        "do_center_crop": True, "crop_size": {"height": SIZE, "width": SIZE}, "do_rescale": True,
        "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": np.asarray(mean).tolist(),
        "image_std": np.asarray(std).tolist(),
        "resample": 3, "do_convert_rgb": True,
    }))


def _text(path: Path, rng: np.random.Generator) -> None:
    vocab = SPECIAL + list(COLOURS) + WORDS + CHARS + ["##" + c for c in CHARS]
    table = rng.normal(0, 0.3, (len(vocab), DIM)).astype(np.float32)
    for i, word in enumerate(vocab):
        if word in COLOURS:
            table[i, :3] = 12 * colour_direction(COLOURS[word])
            table[i, 3:] *= 0.1
    write_text(path, vocab, table)


def write_text(path: Path, vocab: list[str], table: np.ndarray) -> None:
    """A text model whose embedding is the mean of its tokens' rows of `table` (one row per `vocab`
    entry, SPECIAL first), with a lower-casing WordPiece tokenizer and no [CLS]/[SEP]: a one-word
    text that is in `vocab` embeds to exactly that word's row."""
    assert vocab[: len(SPECIAL)] == SPECIAL and len(vocab) == len(table)
    gather = helper.make_node("Gather", ["table", "input_ids"], ["tokens"], axis=0)  # (B, L, D)
    mask_f = helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT)
    mask_3d = helper.make_node("Unsqueeze", ["mask_f", "axis2"], ["mask_3d"])
    masked = helper.make_node("Mul", ["tokens", "mask_3d"], ["masked"])
    summed = helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0)
    count = helper.make_node("ReduceSum", ["mask_3d", "axis1"], ["count"], keepdims=0)
    mean = helper.make_node("Div", ["summed", "count"], ["text_embeds"])
    graph = helper.make_graph(
        [gather, mask_f, mask_3d, masked, summed, count, mean], "tiny_clip_text",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch", table.shape[1]])],
        [numpy_helper.from_array(table.astype(np.float32), "table"), numpy_helper.from_array(np.array([2], np.int64), "axis2"),
         numpy_helper.from_array(np.array([1], np.int64), "axis1")],
    )
    _save(graph, path / "model.onnx")
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i, t in enumerate(SPECIAL)],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": True, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": None, "decoder": None,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": {w: i for i, w in enumerate(vocab)}},
    }
    (path / "tokenizer.json").write_text(json.dumps(tokenizer))
    (path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 77, "pad_token": "[PAD]"}))
    (path / "special_tokens_map.json").write_text(json.dumps({"pad_token": "[PAD]", "unk_token": "[UNK]"}))
    (path / "config.json").write_text(json.dumps({"pad_token_id": 0, "max_position_embeddings": 77}))


def _save(graph, path: Path) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="semscale-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def build(folder: str | Path, seed: int = 0) -> Path:
    """Write `folder/vision` and `folder/text`; returns `folder` (use it as SEMSCALE_MODEL_DIR)."""
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    for part, make in (("vision", _vision), ("text", _text)):
        (folder / part).mkdir(parents=True, exist_ok=True)
        make(folder / part, rng)
    return folder


if __name__ == "__main__":
    import sys

    print(build(sys.argv[1] if len(sys.argv) > 1 else "tiny-clip"))
