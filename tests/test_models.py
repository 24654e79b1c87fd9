"""Every registry model loads through fastembed's real classes, on a tiny model with its family's
real file layout, input/output names, tokenizer and preprocessor (tests/tinyclip.py)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tinyclip
from PIL import Image

from semscale.core.errors import SemscaleError
from semscale.data.images import decode
from semscale.models import registry
from semscale.models.encoders import EncoderUnavailable, LocalEncoder

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = list(tinyclip.FAMILIES)


def flat(rgb) -> object:
    buf = io.BytesIO()
    Image.new("RGB", (48, 48), rgb).save(buf, format="PNG")
    return decode(buf.getvalue(), f"flat {rgb}")


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    built = {}

    def get(family: str, seed: int = 0) -> Path:
        if (family, seed) not in built:
            built[family, seed] = tinyclip.build(tmp_path_factory.mktemp(f"tiny-{family}-{seed}"), seed, family)
        return built[family, seed]
    return get


def test_registry_matches_fastembed():
    """Names, sizes and dims as fastembed 0.9.1 knows them; the default is CLIP ViT-B/32."""
    assert list(registry.REGISTRY) == ["clip-vit-b32", "jina-clip-v1", "siglip2-base", "nomic-v1.5"]
    assert registry.get().name == "clip-vit-b32"
    for spec in registry.REGISTRY.values():
        image, text = spec.descriptions()
        assert image.dim == text.dim == spec.dim
    assert registry.get("clip-vit-b32").download_gb() == 0.59
    assert registry.get("siglip2-base").download_gb() == 1.5


def test_unknown_model_lists_the_known_ones(monkeypatch):
    with pytest.raises(SemscaleError, match="unknown model 'clip-vit-l14'; known models: clip-vit-b32, jina-clip-v1"):
        registry.get("clip-vit-l14")
    monkeypatch.setenv("SEMSCALE_MODEL", "nomic-v1.5")
    assert registry.get().name == "nomic-v1.5"


@pytest.mark.parametrize("family", FAMILIES)
def test_family_loads_and_encodes_through_fastembed(tiny, family):
    """Shapes, determinism (a text alone equals it in a batch) and the designed colours."""
    folder = tiny(family)
    encoder = LocalEncoder(folder, model=family)
    dim = tinyclip.FAMILIES[family].dim
    assert encoder.model_id.startswith(registry.get(family).id_prefix) and encoder.spec.name == family
    images = encoder.encode_images([flat(rgb) for rgb in tinyclip.COLOURS.values()])
    texts = encoder.encode_texts(list(tinyclip.COLOURS))
    assert images.shape == texts.shape == (len(tinyclip.COLOURS), dim) and images.dtype == np.float32
    assert np.isfinite(images).all() and np.isfinite(texts).all()
    nearest = (unit(images) @ unit(texts).T).argmax(axis=1)
    assert nearest.tolist() == list(range(len(tinyclip.COLOURS)))  # each colour image nearest its word
    again = LocalEncoder(folder, model=family)
    np.testing.assert_array_equal(again.encode_images([flat((255, 0, 0))])[0], images[0])
    in_batch = again.encode_texts(["a photo of a large red thing of the colour red", "red"])[1]
    np.testing.assert_allclose(unit(in_batch[None]), unit(texts[:1]), atol=1e-6)


def test_model_id_follows_the_files(tiny):
    a = LocalEncoder(tiny("siglip2-base"), model="siglip2-base").model_id
    b = LocalEncoder(tiny("siglip2-base", seed=1), model="siglip2-base").model_id
    assert a != b and a.startswith("siglip2-base-onnx:")


def test_siglip_texts_are_lower_cased_before_its_case_keeping_tokenizer(tiny):
    encoder = LocalEncoder(tiny("siglip2-base"), model="siglip2-base")
    np.testing.assert_array_equal(encoder.encode_texts(["Red"]), encoder.encode_texts(["red"]))
    raw = np.asarray(list(encoder._text.embed(["Red", "red"])))
    assert not np.allclose(raw[0], raw[1])  # the tokenizer alone would tell them apart


def test_nomic_texts_get_the_query_prefix_once_and_a_layer_norm(tiny):
    encoder = LocalEncoder(tiny("nomic-v1.5"), model="nomic-v1.5")
    got = encoder.encode_texts(["red"])[0]
    raw = np.asarray(list(encoder._text.embed(["search_query: red"])))[0].astype(np.float64)
    expected = (raw - raw.mean()) / np.sqrt(raw.var() + 1e-5)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    tokens = encoder._text.model.tokenizer.encode("search_query: red").tokens
    assert tokens == ["[CLS]", "search", "_", "query", ":", "red", "[SEP]"]


def test_a_folder_for_another_family_is_refused_with_the_layout(tiny):
    with pytest.raises(EncoderUnavailable, match=r"has no vision/onnx/vision_model.onnx for jina-clip-v1; "
                                                 r"expected DIR/vision/onnx/vision_model.onnx"):
        LocalEncoder(tiny("clip-vit-b32"), model="jina-clip-v1")


def fake_cache(root: Path, spec: registry.ModelSpec) -> None:
    """The Hugging Face cache layout fastembed downloads into, with empty files."""
    for desc in spec.descriptions():
        repo = root / ("models--" + desc.sources.hf.replace("/", "--"))
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text("0" * 40)
        target = repo / "snapshots" / ("0" * 40) / desc.model_file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"")


def test_listing_says_what_is_cached_without_downloading(tmp_path):
    fake_cache(tmp_path, registry.get("jina-clip-v1"))
    rows = {r.name: r for r in registry.listing(tmp_path)}
    assert {n: r.cached for n, r in rows.items()} == {"clip-vit-b32": False, "jina-clip-v1": True,
                                                      "siglip2-base": False, "nomic-v1.5": False}
    assert rows["nomic-v1.5"].licence == "vision CC-BY-NC-4.0, text Apache-2.0"


def test_models_command_lists_the_registry(tmp_path):
    fake_cache(tmp_path, registry.get("siglip2-base"))
    env = {**os.environ, "FASTEMBED_CACHE_PATH": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "semscale", "models"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].split() == ["model", "image", "model", "text", "model", "dim", "licence", "download", "cached"]
    by_name = {line.split()[0]: line.split() for line in lines[1:]}
    assert by_name["siglip2-base"][-1] == "yes" and by_name["clip-vit-b32"][-1] == "no"
    assert by_name["clip-vit-b32"][1:4] == ["Qdrant/clip-ViT-B-32-vision", "Qdrant/clip-ViT-B-32-text", "512"]
    assert "0.59 GB" in lines[1] and "MIT" in lines[1]


def test_serve_model_serves_a_non_clip_family_and_ping_names_it(tiny, tmp_path):
    """`semscale serve --model siglip2-base` on loopback: /model names it, /encode equals the in-process
    encoder, /rank puts the right colour word first, `ping` names the model."""
    from docarray import Document, DocumentArray
    from test_server import Server, semscale

    from semscale.models.encoders import ClipServerEncoder

    folder = tiny("siglip2-base")
    local = LocalEncoder(folder, model="siglip2-base")
    srv = Server(folder, tmp_path / "logs", extra=["--model", "siglip2-base"]).start()
    try:
        assert "siglip2-base" in srv.out.read_text()
        remote = ClipServerEncoder(srv.url, timeout=20, retries=0)
        info = remote.server_model()
        assert (info["name"], info["model"], info["dim"]) == ("siglip2-base", local.model_id, 768)
        assert remote.model_id == local.model_id
        red = flat((255, 0, 0))
        np.testing.assert_allclose(remote.encode_images([red]), local.encode_images([red]), atol=1e-6)
        np.testing.assert_allclose(remote.encode_texts(["Red", "blue"]), local.encode_texts(["red", "blue"]), atol=1e-6)
        query = Document(blob=red.data, mime_type="image")
        query.matches = DocumentArray([Document(text=t) for t in ("blue", "green", "red")])
        ranked = remote.rank(DocumentArray([query]))[0].matches
        assert [m.text for m in ranked][0] == "red"
        out = semscale("ping", srv.url, cwd=tmp_path)
        assert out.returncode == 0 and f"model {local.model_id}, 768-d" in out.stdout, out.stderr
    finally:
        srv.stop()
        srv.kill()


def test_an_encoders_model_id_names_its_registry_entry(tiny):
    for family in FAMILIES:
        model_id = LocalEncoder(tiny(family), model=family).model_id
        assert registry.for_model_id(model_id).name == family
    assert registry.for_model_id("server-probe:0123456789ab").name == "clip-vit-b32"
    assert registry.for_model_id("siglip2-base-onnx:0123456789ab").head.bias == -16.5


def test_the_sessions_are_created_by_the_first_encode_once_whichever_thread_comes_first(tiny, monkeypatch):
    """Construction finds the files and names the model; the ONNX sessions come with the first encode,
    once even when several threads encode at the same moment, and encode as an eagerly loaded model does."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    folder = tiny("clip-vit-b32")
    encoder = LocalEncoder(folder)
    assert encoder.model_id == LocalEncoder(folder).load().model_id
    loads = []
    for part in (encoder._vision.model, encoder._text.model):
        def slow_load(real=part.load_onnx_model):
            loads.append(threading.current_thread().name)
            time.sleep(0.2)  # a real session takes seconds: every thread arrives while the first loads
            real()
        monkeypatch.setattr(part, "load_onnx_model", slow_load)
    red = flat((255, 0, 0))
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: encoder.encode_texts(["red"]) if i % 2 else encoder.encode_images([red]),
                            range(8)))
    assert len(loads) == 2
    reference = LocalEncoder(folder).load()
    np.testing.assert_array_equal(got[0], reference.encode_images([red]))
    np.testing.assert_array_equal(got[1], reference.encode_texts(["red"]))


def test_a_model_file_that_cannot_be_loaded_fails_the_first_encode_in_one_sentence(tiny, tmp_path):
    import shutil

    folder = shutil.copytree(tiny("clip-vit-b32"), tmp_path / "broken")
    encoder = LocalEncoder(folder)
    (folder / "text" / "model.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(EncoderUnavailable, match="^could not load the model clip-vit-b32: "):
        encoder.encode_texts(["red"])
