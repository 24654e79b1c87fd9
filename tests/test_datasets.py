"""Dataset loaders and image decoding, including the hostile inputs users actually send."""

import io
import os
import stat
import zipfile

import numpy as np
import pytest
from PIL import Image

from semscale import datasets
from semscale.errors import SemscaleError
from semscale.images import ImageRejected, decode


def _png(colour=(200, 10, 10), size=(20, 20), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, "PNG")
    return buf.getvalue()


def test_folder_classes_are_cleaned_and_bad_files_reported(tmp_path):
    (tmp_path / "golden_retriever").mkdir()
    (tmp_path / "golden_retriever" / "a.png").write_bytes(_png())
    (tmp_path / "golden_retriever" / "notes.txt").write_text("hello")
    (tmp_path / "golden_retriever" / "empty.jpg").write_bytes(b"")
    (tmp_path / "Cat").mkdir()
    (tmp_path / "Cat" / "c.png").write_bytes(_png())
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "d.png").write_bytes(_png())
    (tmp_path / "nothing_here").mkdir()
    ds = datasets.from_folder(tmp_path)
    assert sorted(ds.classes) == ["Cat", "golden retriever"]
    assert ds.counts() == {"Cat": 2, "golden retriever": 1}
    reasons = {r.item: r.reason for r in ds.rejected}
    assert "not an image file type" in reasons["golden_retriever/notes.txt"]
    assert "0 bytes" in reasons["golden_retriever/empty.jpg"]
    assert "differs only in case" in reasons["cat/"]
    assert "no usable images" in reasons["nothing_here/"]


def test_non_utf8_file_names_are_listed_safely(tmp_path):
    folder = tmp_path / "dog"
    folder.mkdir()
    raw = os.fsencode(folder) + b"/\xff\xfe-photo.png"
    with open(raw, "wb") as fh:
        fh.write(_png())
    ds = datasets.from_folder(tmp_path)
    assert len(ds.samples) == 1
    assert ds.display_name(ds.samples[0]) == "dog/\\xff\\xfe-photo.png"


def _zip(entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


def test_zip_with_unsafe_members_extracts_only_the_safe_ones(tmp_path):
    data = _zip(
        {"set/red/a.png": _png(), "set/blue/b.png": _png((0, 0, 200)), "../evil.png": _png(),
         "/etc/evil.png": _png(), "set/red/inner.zip": _zip({"x.png": _png()})},
        symlinks={"set/red/link.png": "/etc/passwd"},
    )
    ds = datasets.from_zip(data, cache=tmp_path / "cache")
    assert sorted(ds.classes) == ["blue", "red"] and len(ds.samples) == 2
    reasons = " | ".join(str(r) for r in ds.rejected)
    assert "../evil.png: path leaves the archive" in reasons
    assert "/etc/evil.png: absolute path" in reasons
    assert "symlink in zip" in reasons and "nested archive" in reasons
    assert not (tmp_path / "evil.png").exists() and not (tmp_path / "cache" / "evil.png").exists()


def test_zip_bomb_is_refused_before_extraction(tmp_path):
    data = _zip({"red/a.png": _png(), "red/huge.bmp": b"\0" * (20 * 1024 * 1024)})
    with pytest.raises(SemscaleError, match="over the .* limit"):
        datasets.extract_zip(data, tmp_path / "x", max_bytes=10 * 1024 * 1024)
    ds = datasets.from_zip(data, cache=tmp_path / "cache")  # default limit: the ratio guard catches it
    assert any("zip bomb guard" in r.reason for r in ds.rejected)


def test_not_a_zip(tmp_path):
    with pytest.raises(SemscaleError, match="not a valid zip"):
        datasets.from_zip(b"PK\x03\x04 but not really", cache=tmp_path)


def test_csv_manifest_refuses_paths_outside_its_folder(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.png").write_bytes(_png())
    (tmp_path / "outside.png").write_bytes(_png())
    manifest = tmp_path / "imgs" / "m.csv"
    manifest.write_text("path,label\na.png,fire_truck\n../outside.png,dog\n/etc/passwd,dog\nmissing.png,dog\n,dog\n")
    ds = datasets.from_csv(manifest)
    assert [s.label for s in ds.samples] == ["fire truck"]
    text = " | ".join(str(r) for r in ds.rejected)
    assert text.count("points outside the dataset folder") == 2
    assert "file does not exist" in text and "needs both a path and a label" in text


def test_uploads_are_kept_by_content_and_bad_ones_rejected(tmp_path):
    ds = datasets.from_uploads(
        [("../../x.png", _png(), "red"), ("b.txt", b"hi", "red"), ("c.png", b"", "red"), ("d.png", _png(), "")],
        cache=tmp_path)
    assert len(ds.samples) == 1 and ds.samples[0].path.is_relative_to(tmp_path)
    assert len(ds.rejected) == 3


def test_real_dataset_folder(shared_datasets):
    ds = datasets.from_folder(shared_datasets / "clothing")
    assert len(ds.classes) == 10 and len(ds.samples) == 713


# --- hostile images: each decodes or gets one clear reason -------------------------------

def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("make,reason", [
    (lambda: _save(Image.new("RGB", (50, 50), "red"), "JPEG")[:200] + b"\x00garbage", "corrupt or truncated"),
    (lambda: _png()[:60], "corrupt or truncated"),
    (lambda: b"", "empty file"),
    (lambda: b"this is a text file, not a jpeg\n" * 10, "not an image"),
])
def test_unusable_images_get_a_reason(make, reason):
    with pytest.raises(ImageRejected, match=reason):
        decode(make(), "x.jpg")


def test_decompression_bomb_is_refused():
    big = _save(Image.new("1", (40_000, 40_000)), "PNG")  # tiny file, 1.6 billion pixels
    with pytest.raises(ImageRejected, match="too large"):
        decode(big, "bomb.png")


def test_odd_but_valid_images_become_upright_rgb():
    frames = [Image.new("RGB", (10, 10), c) for c in ("red", "blue")]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    cmyk = _save(Image.new("CMYK", (10, 10), (0, 255, 255, 0)), "JPEG")
    deep = _save(Image.fromarray(np.full((10, 10), 65535, np.uint16)), "PNG")
    for data in (gif.getvalue(), cmyk, deep):
        img = decode(data)
        assert img.pixels.mode == "RGB" and img.pixels.size == (10, 10)
        assert decode(img.data).pixels.tobytes() == img.pixels.tobytes()  # what a server receives
    assert decode(deep).pixels.getpixel((0, 0)) == (255, 255, 255)


def test_exif_rotation_is_applied():
    img = Image.new("RGB", (40, 20), "red")
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    decoded = decode(_save(img, "JPEG", exif=exif))
    assert decoded.pixels.size == (20, 40) and decoded.normalized
