"""Builds tiny ONNX model pairs that fastembed loads exactly like the real ones, one per registry family.

Each family (`FAMILIES`, keyed by `semscale.models.registry` name) has its real model's input and output
names, file paths, tokenizer kind and preprocessor config: CLIP (pixel_values -> image_embeds;
input_ids + attention_mask -> text_embeds), jina-clip-v1 (text takes input_ids only), SigLIP 2
(pooler_output beside last_hidden_state, a SentencePiece-style tokenizer padded to 64 tokens),
nomic v1.5 (last_hidden_state whose first token is the image embedding, 768-d as fastembed
reshapes by it; text tokens mean-pooled by fastembed). 32x32 pixels. The weights are built so the
model is not arbitrary: the first three embedding dimensions carry an image's mean colour, and
colour words ("red", "green", ...) point at their colour, so "a red square" really is nearest to
the word red. Everything else is seeded noise, identical on every machine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DIM = 16
SIZE = 32
CELLS = 3 * 4 * 4  # the vision model sees 8x8-pixel blocks: 4x4 of them per channel
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
PIECE_SPECIAL = ["<pad>", "</s>", "<unk>"]  # SentencePiece-style vocabularies start so
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)
COLOURS = {
    "red": (255, 0, 0), "green": (0, 160, 0), "blue": (0, 0, 255), "yellow": (255, 230, 0),
    "black": (0, 0, 0), "white": (255, 255, 255), "purple": (128, 0, 160), "orange": (255, 140, 0),
}
WORDS = ["a", "photo", "of", "the", "an", "large", "small", "medium", "colour", "color", "thing"]
CHARS = list("abcdefghijklmnopqrstuvwxyz0123456789-'")


def _clip_processor(mean, std, size: int = SIZE) -> dict:
    return {"image_processor_type": "CLIPImageProcessor", "do_resize": True, "size": {"shortest_edge": size},
            "do_center_crop": True, "crop_size": {"height": size, "width": size}, "do_rescale": True,
            "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": list(map(float, mean)),
            "image_std": list(map(float, std)), "resample": 3, "do_convert_rgb": True}


def _jina_processor(mean, std, size: int = SIZE) -> dict:
    return {"image_processor_type": "JinaCLIPImageProcessor", "size": size, "resize_mode": "shortest",
            "interpolation": "bicubic", "fill_color": 0, "mean": list(map(float, mean)), "std": list(map(float, std))}


def _siglip_processor(mean, std, size: int = SIZE) -> dict:
    return {"image_processor_type": "SiglipImageProcessor", "do_resize": True, "size": {"height": size, "width": size},
            "resample": 2, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
            "image_mean": list(map(float, mean)), "image_std": list(map(float, std))}


@dataclass(frozen=True)
class Tiny:
    """What a family's real ONNX files look like to fastembed (file paths come from fastembed itself)."""

    name: str  # semscale.models.registry registry name
    dim: int
    processor: object  # (mean, std, size) -> preprocessor_config.json
    mean: tuple = tuple(MEAN)
    std: tuple = tuple(STD)
    vision_out: str = "embeds"  # embeds: image_embeds | pooled: last_hidden_state, pooler_output | tokens: CLS first
    text_inputs: tuple = ("input_ids", "attention_mask")
    text_out: str = "embeds"  # embeds: text_embeds (masked mean) | pooled: as vision | tokens: per-token rows
    # wordpiece (lower-casing) | wordpiece-cls ([CLS] .. [SEP]) | pieces (SentencePiece-style)
    tokenizer: str = "wordpiece"
    max_length: int = 77
    extra_words: tuple = field(default=())

    def files(self) -> tuple[str, str]:
        from semscale.models.registry import get

        image, text = get(self.name).descriptions()
        return image.model_file, text.model_file


FAMILIES = {t.name: t for t in (
    Tiny("clip-vit-b32", DIM, _clip_processor),
    Tiny("jina-clip-v1", 768, _jina_processor, text_inputs=("input_ids",), tokenizer="wordpiece-cls", max_length=512),
    Tiny("siglip2-base", 768, _siglip_processor, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), vision_out="pooled",
         text_inputs=("input_ids",), text_out="pooled", tokenizer="pieces", max_length=64),
    Tiny("nomic-v1.5", 768, _clip_processor, vision_out="tokens",
         text_inputs=("input_ids", "token_type_ids", "attention_mask"),
         text_out="tokens", tokenizer="wordpiece-cls", max_length=512, extra_words=("search", "query", "_", ":")),
)}
CLIP = FAMILIES["clip-vit-b32"]


def colour_direction(rgb: tuple[int, int, int], mean=MEAN, std=STD) -> np.ndarray:
    """The normalized pixel value of a flat image of this colour: where its embedding points."""
    return (np.array(rgb, np.float32) / 255.0 - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


def _projection(rng: np.random.Generator, dim: int) -> np.ndarray:
    proj = np.zeros((CELLS, dim), np.float32)
    for c in range(3):  # colour means into dims 0..2 (average of the 16 cells per channel)
        proj[c * 16 : (c + 1) * 16, c] = 1.0 / 16
    # a little spatial detail elsewhere, as much in total whatever the width
    proj[:, 3:] = rng.normal(0, 0.05 * np.sqrt((DIM - 3) / (dim - 3)), (CELLS, dim - 3))
    return proj


def _vision(path: Path, rng: np.random.Generator, family: Tiny) -> None:
    write_vision(path, _projection(rng, family.dim), np.asarray(family.mean), np.asarray(family.std), family)


def _outputs(emb: str, dim: int, style: str, prefix: str) -> tuple[list, list]:
    """Nodes and outputs that present the (B, D) tensor `emb` as a family's model does. `pooled` and
    `tokens` put a decoy (-emb) where a reader taking the wrong output or token would look."""
    out = helper.make_tensor_value_info
    if style == "embeds":
        return ([helper.make_node("Identity", [emb], [f"{prefix}_embeds"])],
                [out(f"{prefix}_embeds", TensorProto.FLOAT, ["batch", dim])])
    nodes = [helper.make_node("Neg", [emb], ["decoy"]),
             helper.make_node("Unsqueeze", [emb, "axis1"], ["emb_3d"]),
             helper.make_node("Unsqueeze", ["decoy", "axis1"], ["decoy_3d"])]
    if style == "pooled":
        nodes += [helper.make_node("Identity", ["decoy_3d"], ["last_hidden_state"]),
                  helper.make_node("Identity", [emb], ["pooler_output"])]
        return nodes, [out("last_hidden_state", TensorProto.FLOAT, ["batch", 1, dim]),
                       out("pooler_output", TensorProto.FLOAT, ["batch", dim])]
    nodes.append(helper.make_node("Concat", ["emb_3d", "decoy_3d"], ["last_hidden_state"], axis=1))
    return nodes, [out("last_hidden_state", TensorProto.FLOAT, ["batch", 2, dim])]


def write_vision(path: Path, proj: np.ndarray, mean: np.ndarray = MEAN, std: np.ndarray = STD,
                 family: Tiny = CLIP) -> None:
    """A vision model whose embedding is `cells @ proj`: `cells` (B, 48) are the pixel values
    (x / 255 - mean) / std averaged over 8x8 blocks, channel-major (R cells 0..15 row by row, then
    G, then B), presented as `family`'s real model presents its embedding."""
    model_file = path / family.files()[0]
    model_file.parent.mkdir(parents=True, exist_ok=True)
    _save(_vision_graph(proj, family), model_file)
    (path / "preprocessor_config.json").write_text(json.dumps(family.processor(mean, std)))


def _vision_graph(proj: np.ndarray, family: Tiny = CLIP, size: int = SIZE):
    """`cells @ proj` over `size` x `size` pixels: blocks of size/4 pixels, 4x4 of them per channel."""
    block = size // 4
    pool = helper.make_node("AveragePool", ["pixel_values"], ["pooled"], kernel_shape=[block, block],
                            strides=[block, block])
    flat = helper.make_node("Flatten", ["pooled"], ["flat"], axis=1)  # (B, 3*4*4)
    matmul = helper.make_node("MatMul", ["flat", "proj"], ["emb"])
    nodes, outputs = _outputs("emb", proj.shape[1], family.vision_out, "image")
    inits = [numpy_helper.from_array(proj.astype(np.float32), "proj"),
             numpy_helper.from_array(np.array([1], np.int64), "axis1")]
    used = {i for n in nodes for i in n.input} | {"proj"}
    return helper.make_graph(
        [pool, flat, matmul, *nodes], "tiny_vision",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, size, size])], outputs,
        [i for i in inits if i.name in used],
    )


def _vocab(family: Tiny) -> list[str]:
    words = list(COLOURS) + WORDS + list(family.extra_words)
    if family.tokenizer == "pieces":
        return PIECE_SPECIAL + ["\u2581" + w for w in words] + ["\u2581"] + CHARS
    return SPECIAL + words + CHARS + ["##" + c for c in CHARS]


def _text(path: Path, rng: np.random.Generator, family: Tiny) -> None:
    vocab = _vocab(family)
    table = rng.normal(0, 0.3, (len(vocab), family.dim)).astype(np.float32)
    for i, word in enumerate(vocab):
        if word.lstrip("\u2581") in COLOURS:
            table[i, :3] = 12 * colour_direction(COLOURS[word.lstrip("\u2581")], family.mean, family.std)
            table[i, 3:] *= 0.1
    if family.text_out == "pooled":  # padding enters SigLIP's mean: small, but enough to show a wrong pad length
        table[0] *= 0.005
    write_text(path, vocab, table, family)


def _text_graph(table: np.ndarray, family: Tiny, ids: int = TensorProto.INT64, seq: int | str = "seq"):
    """Token rows of `table`, pooled as `family`'s model pools: a masked mean (the mask an input, or
    for models fed input_ids only, ids != pad), or SigLIP's mean over every position, padding
    included, which is why its tokenizer must pad to a fixed length."""
    dim, nodes = table.shape[1], [helper.make_node("Gather", ["table", "input_ids"], ["tokens"], axis=0)]  # (B, L, D)
    if "token_type_ids" in family.text_inputs:  # BERT-style: a (zero) token-type row per token
        nodes += [helper.make_node("Gather", ["type_table", "token_type_ids"], ["types"], axis=0),
                  helper.make_node("Add", ["tokens", "types"], ["rows"])]
    else:
        nodes.append(helper.make_node("Identity", ["tokens"], ["rows"]))
    if family.text_out == "tokens":
        emb_nodes, outputs = [helper.make_node("Identity", ["rows"], ["last_hidden_state"])], [
            helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", dim])]
    elif family.text_out == "pooled":
        nodes.append(helper.make_node("ReduceMean", ["rows"], ["emb"], axes=[1], keepdims=0))
        emb_nodes, outputs = _outputs("emb", dim, "pooled", "text")
    else:
        if "attention_mask" in family.text_inputs:
            nodes.append(helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT))
        else:
            nodes += [helper.make_node("Equal", ["input_ids", "pad_id"], ["is_pad"]),
                      helper.make_node("Not", ["is_pad"], ["not_pad"]),
                      helper.make_node("Cast", ["not_pad"], ["mask_f"], to=TensorProto.FLOAT)]
        nodes += [helper.make_node("Unsqueeze", ["mask_f", "axis2"], ["mask_3d"]),
                  helper.make_node("Mul", ["rows", "mask_3d"], ["masked"]),
                  helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
                  helper.make_node("ReduceSum", ["mask_3d", "axis1"], ["count"], keepdims=0),
                  helper.make_node("Div", ["summed", "count"], ["emb"])]
        emb_nodes, outputs = _outputs("emb", dim, "embeds", "text")
    inits = [numpy_helper.from_array(table.astype(np.float32), "table"),
             numpy_helper.from_array(np.array([2], np.int64), "axis2"),
             numpy_helper.from_array(np.array([1], np.int64), "axis1"),
             numpy_helper.from_array(np.array(0, np.int64), "pad_id"),
             numpy_helper.from_array(np.zeros((2, dim), np.float32), "type_table")]
    used = {i for n in nodes + emb_nodes for i in n.input}
    return helper.make_graph(
        nodes + emb_nodes, "tiny_text",
        [helper.make_tensor_value_info(name, ids, ["batch", seq]) for name in family.text_inputs], outputs,
        [i for i in inits if i.name in used])


def _tokenizer(vocab: list[str], family: Tiny) -> dict:
    if family.tokenizer == "pieces":  # SentencePiece-style: case kept, words start with U+2581
        special = PIECE_SPECIAL
        model = {"type": "Unigram", "unk_id": vocab.index("<unk>"), "byte_fallback": False,
                 "vocab": [[w, 0.0 if w in special else (-1.0 if w.startswith("\u2581") and len(w) > 1 else -10.0)]
                           for w in vocab]}
        normalizer, pre = None, {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always",
                                 "split": True}
        post = None
    else:
        special = SPECIAL
        model = {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                 "max_input_chars_per_word": 100, "vocab": {w: i for i, w in enumerate(vocab)}}
        normalizer = {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                      "strip_accents": True, "lowercase": True}
        pre = {"type": "BertPreTokenizer"}
        post = None if family.tokenizer == "wordpiece" else {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {t: {"id": t, "ids": [vocab.index(t)], "tokens": [t]} for t in ("[CLS]", "[SEP]")}}
    return {"version": "1.0", "truncation": None, "padding": None,
            "added_tokens": [{"id": vocab.index(t), "content": t, "single_word": False, "lstrip": False,
                              "rstrip": False,
                              "normalized": False, "special": True} for t in special],
            "normalizer": normalizer, "pre_tokenizer": pre, "post_processor": post, "decoder": None, "model": model}


def write_text(path: Path, vocab: list[str], table: np.ndarray, family: Tiny = CLIP) -> None:
    """A text model over one row of `table` per `vocab` entry (special tokens first), tokenized and
    pooled as `family`'s model is. CLIP's: the mean of its tokens' rows with a lower-casing WordPiece
    tokenizer and no [CLS]/[SEP], so a one-word text in `vocab` embeds to exactly that word's row."""
    special = PIECE_SPECIAL if family.tokenizer == "pieces" else SPECIAL
    assert vocab[: len(special)] == special and len(vocab) == len(table)
    model_file = path / family.files()[1]
    model_file.parent.mkdir(parents=True, exist_ok=True)
    _save(_text_graph(table, family), model_file)
    (path / "tokenizer.json").write_text(json.dumps(_tokenizer(vocab, family)))
    pad, unk = special[0], special[-1] if family.tokenizer == "pieces" else special[1]
    (path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": family.max_length, "pad_token": pad}))
    (path / "special_tokens_map.json").write_text(json.dumps({"pad_token": pad, "unk_token": unk}))
    (path / "config.json").write_text(json.dumps({"pad_token_id": 0, "max_position_embeddings": family.max_length}))


def _save(graph, path: Path) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="semscale-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def build(folder: str | Path, seed: int = 0, family: str = "clip-vit-b32") -> Path:
    """Write `folder/vision` and `folder/text` for the registry model `family`; returns `folder`
    (use it as SEMSCALE_MODEL_DIR or --local with --model FAMILY)."""
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    for part, make in (("vision", _vision), ("text", _text)):
        (folder / part).mkdir(parents=True, exist_ok=True)
        make(folder / part, rng, FAMILIES[family])
    return folder


CLIP_SERVER_SIZE, CLIP_SERVER_VOCAB, CLIP_SERVER_CONTEXT = 224, 49408, 77


def build_clip_server(folder: str | Path, seed: int = 0) -> Path:
    """Write `folder/visual.onnx` and `folder/textual.onnx` as upstream clip_server's ONNX executor loads
    them for `CLIPEncoder(name="ViT-B-32::openai", model_path=folder)`: pixel_values float32 [B, 3, 224, 224]
    (its own torchvision preprocessing) and input_ids + attention_mask int32 [B, 77] (its own BPE
    tokenizer, 49,408 ids), one output each. Images carry their mean colour as `build`'s model does;
    text rows are seeded noise, since which id is which word is the server's tokenizer's business."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    _save(_vision_graph(_projection(rng, DIM), size=CLIP_SERVER_SIZE), folder / "visual.onnx")
    table = rng.normal(0, 0.3, (CLIP_SERVER_VOCAB, DIM)).astype(np.float32)
    _save(_text_graph(table, CLIP, ids=TensorProto.INT32, seq=CLIP_SERVER_CONTEXT), folder / "textual.onnx")
    return folder


if __name__ == "__main__":
    import sys

    print(build(sys.argv[1] if len(sys.argv) > 1 else "tiny-clip",
                family=sys.argv[2] if len(sys.argv) > 2 else "clip-vit-b32"))
