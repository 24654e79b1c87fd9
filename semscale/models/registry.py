"""The vision-language models semscale runs: one registry entry each.

An entry names fastembed's image and text model, how texts are prepared before fastembed
tokenizes them, how its text embeddings are finished, and the head `probsum` scores with.
Download sizes and file names come from fastembed's own model descriptions, so they cannot drift
from what fastembed fetches; licences are the model cards' (fastembed lists nomic-embed-vision as
apache-2.0, its card says cc-by-nc-4.0). Adding a model is one `ModelSpec` in `REGISTRY`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semscale.core.errors import SemscaleError
from semscale.core.vectors import Head

DEFAULT_MODEL = "clip-vit-b32"


@dataclass(frozen=True)
class ModelSpec:
    name: str  # what users type: --model NAME, SEMSCALE_MODEL
    image_model: str  # fastembed ImageEmbedding name
    text_model: str  # fastembed TextEmbedding name
    dim: int
    licence: str
    head: Head  # how probsum turns cosines into probabilities (see vectors.Head)
    head_source: str  # where the head's numbers come from: a reader must be able to check them
    text_prefix: str = ""  # prepended to every text (fastembed adds no prefix itself)
    lowercase: bool = False  # lower-case texts first (the tokenizer does not, the model was trained so)
    text_layer_norm: bool = False  # centre and scale each text embedding over its dims before use
    id_tag: str = ""  # model_id prefix; default NAME-onnx (CLIP keeps clip-onnx: its caches stay valid)

    @property
    def id_prefix(self) -> str:
        return (self.id_tag or f"{self.name}-onnx") + ":"

    def prepare_texts(self, texts: list[str]) -> list[str]:
        """Texts as the model was trained to see them."""
        return [self.text_prefix + (t.lower() if self.lowercase else t) for t in texts]

    def finish_texts(self, emb: np.ndarray) -> np.ndarray:
        """Text embeddings as the model card finishes them (nomic: layer norm before L2)."""
        if not self.text_layer_norm:
            return emb
        emb = emb.astype(np.float64)
        centred = emb - emb.mean(axis=1, keepdims=True)
        return (centred / np.sqrt(centred.var(axis=1, keepdims=True) + 1e-5)).astype(np.float32)

    def descriptions(self) -> tuple:
        """fastembed's (image, text) model descriptions: model file names, sizes, HF sources."""
        from fastembed import ImageEmbedding, TextEmbedding

        return (_described(ImageEmbedding, self.image_model), _described(TextEmbedding, self.text_model))

    def download_gb(self) -> float:
        image, text = self.descriptions()
        return round(image.size_in_GB + text.size_in_GB, 2)

    def cached(self, cache_dir: str | None = None) -> bool:
        """Both model files are in fastembed's cache (nothing is downloaded to find out)."""
        from fastembed.common.utils import define_cache_dir
        from huggingface_hub import try_to_load_from_cache

        cache = str(define_cache_dir(cache_dir))
        return all(isinstance(try_to_load_from_cache(d.sources.hf, d.model_file, cache_dir=cache), str)
                   for d in self.descriptions())

    def local_layout(self) -> str:
        """The `--local DIR` layout for this model, for messages."""
        image, text = self.descriptions()
        return (f"DIR/vision/{image.model_file} + DIR/vision/preprocessor_config.json (from huggingface.co/"
                f"{image.sources.hf}); DIR/text/{text.model_file} + DIR/text/tokenizer.json, tokenizer_config.json, "
                f"special_tokens_map.json, config.json (from huggingface.co/{text.sources.hf})")


def _described(kind, name: str):
    for desc in kind._list_supported_models():
        if desc.model.lower() == name.lower():
            return desc
    raise SemscaleError(f"fastembed {kind.__name__} has no model {name!r}")


CLIP_SCALE = "CLIP's learned logit scale, clamped at 100 in training (exp 4.6052)"
REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec("clip-vit-b32", "Qdrant/clip-ViT-B-32-vision", "Qdrant/clip-ViT-B-32-text", 512, "MIT",
              Head(100.0), CLIP_SCALE, id_tag="clip-onnx"),
    ModelSpec("jina-clip-v1", "jinaai/jina-clip-v1", "jinaai/jina-clip-v1", 768, "Apache-2.0",
              Head(100.0), "assumed: CLIP's 100; the trained temperature is not in the ONNX files"),
    ModelSpec("siglip2-base", "google/siglip2-base-patch16-224", "google/siglip2-base-patch16-224", 768,
              "Apache-2.0", Head(112.0, -16.5),
              "approximate: SigLIP models end training near scale exp(4.72) = 112 and bias -16.5 (open_clip "
              "issue 746 for SO400M); siglip2-base's own values are not in the ONNX files fastembed fetches",
              lowercase=True),
    ModelSpec("nomic-v1.5", "nomic-ai/nomic-embed-vision-v1.5", "nomic-ai/nomic-embed-text-v1.5", 768,
              "vision CC-BY-NC-4.0, text Apache-2.0", Head(100.0),
              "assumed: CLIP's 100; nomic publishes no temperature for zero-shot use",
              text_prefix="search_query: ", text_layer_norm=True),
)}


def get(name: str | None = None) -> ModelSpec:
    """The registry entry `name` (default: $SEMSCALE_MODEL, else clip-vit-b32); unknown names list the known."""
    name = name or os.environ.get("SEMSCALE_MODEL") or DEFAULT_MODEL
    try:
        return REGISTRY[name]
    except KeyError:
        raise SemscaleError(f"unknown model {name!r}; known models: {', '.join(REGISTRY)}") from None


def display_name(model_id: str) -> str:
    """How a run's model is named to a user, as the model picker and the backend badge name it: the registry
    name (`clip-vit-b32` for `clip-onnx:<digest>`); an id of no registry model (a clip-as-service server's
    `server-probe:`) as it is."""
    return next((s.name for s in REGISTRY.values() if model_id.startswith(s.id_prefix)), model_id)


def for_model_id(model_id: str) -> ModelSpec:
    """The registry entry an encoder's `model_id` belongs to (`NAME-onnx:<digest>`, local or served by
    `semscale serve`); CLIP for any other id (`server-probe:` of a clip-as-service server)."""
    return next((s for s in REGISTRY.values() if model_id.startswith(s.id_prefix)), REGISTRY[DEFAULT_MODEL])


@dataclass(frozen=True)
class ModelRow:
    name: str
    image_model: str
    text_model: str
    dim: int
    licence: str
    download_gb: float
    cached: bool


def listing(cache_dir: str | Path | None = None) -> list[ModelRow]:
    """Every registry model with its download size and whether fastembed has it cached."""
    return [ModelRow(s.name, s.image_model, s.text_model, s.dim, s.licence, s.download_gb(),
                     s.cached(str(cache_dir) if cache_dir else None)) for s in REGISTRY.values()]


def format_listing(rows: list[ModelRow]) -> str:
    head = ("model", "image model", "text model", "dim", "licence", "download", "cached")
    body = [(r.name, r.image_model, r.text_model, str(r.dim), r.licence, f"{r.download_gb:.2f} GB",
             "yes" if r.cached else "no") for r in rows]
    widths = [max(len(row[i]) for row in (head, *body)) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in (head, *body))
