"""Dataset loaders on ordinary input; hostile files, archives and names are in test_hostile_input.py."""

import io

import pytest
from PIL import Image

from semscale.core.errors import SemscaleError
from semscale.data import datasets


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


def test_uploads_are_kept_by_content_and_bad_ones_rejected(tmp_path):
    ds = datasets.from_uploads(
        [("../../x.png", _png(), "red"), ("b.txt", b"hi", "red"), ("c.png", b"", "red"), ("d.png", _png(), ""),
         ("e.png", _png(), "blue")], cache=tmp_path)
    assert len(ds.samples) == 2 and all(s.path.is_relative_to(tmp_path) for s in ds.samples)
    assert len(ds.rejected) == 3


def test_an_upload_is_named_as_the_user_named_it_and_another_upload_of_that_name_gets_a_number(tmp_path):
    first = datasets.from_uploads([("a.png", _png(), "red"), ("b.png", _png((0, 0, 255)), "blue")], name="my pets!",
                                  cache=tmp_path)
    assert first.name == first.root.name == "my_pets" and datasets.load(str(first.root)).name == "my_pets"
    again = datasets.from_uploads([("b.png", _png((0, 0, 255)), "blue"), ("a.png", _png(), "red")], name="my pets!",
                                  cache=tmp_path)
    assert again.root == first.root  # the same upload: the same folder, nothing written twice
    other = datasets.from_uploads([("c.png", _png(), "red"), ("b.png", _png((0, 0, 255)), "blue")], name="my pets!",
                                  cache=tmp_path)
    assert other.name == "my_pets-2" and len(list((tmp_path / "my_pets").rglob("*.png"))) == 2
    assert datasets.upload_name(["cat_01.jpg", "dog.jpg"]) == "cat_01"
    assert datasets.upload_name(["cat_01.jpg", "pets.CSV"]) == "pets"


def test_an_uploaded_manifest_labels_images_by_file_name():
    labels, unlabelled = datasets.manifest_labels(
        "\ufeffPath,Label\nimgs/cat/a.jpg,cat\nb.png,\nc:\\photos\\c.jpg,Golden_Retriever\n".encode(), "m.csv")
    assert labels == {"a.jpg": "cat", "c.jpg": "Golden Retriever"}
    assert [str(r) for r in unlabelled] == ["m.csv line 3: needs both a path and a label"]
    with pytest.raises(SemscaleError, match="manifest m.csv needs a header line with columns path,label"):
        datasets.manifest_labels(b"a.jpg,cat\n", "m.csv")
    with pytest.raises(SemscaleError, match="manifest m.csv is not UTF-8 text"):
        datasets.manifest_labels(b"path,label\n\xff.jpg,cat\n", "m.csv")


def test_real_dataset_folder(shared_datasets):
    ds = datasets.from_folder(shared_datasets / "clothing")
    assert len(ds.classes) == 10 and len(ds.samples) == 713


def _class(folder, *files):
    folder.mkdir(parents=True)
    for f in files:
        (folder / f).write_bytes(_png())
    return folder


def test_symlinked_class_folder_outside_the_root_is_rejected_like_a_symlinked_file(tmp_path):
    root = tmp_path / "set"
    _class(root / "cat", "c.png")
    _class(root / "owl", "o.png")
    secret = _class(tmp_path / "elsewhere" / "private", "p1.png", "p2.png")
    (root / "dog").symlink_to(secret, target_is_directory=True)
    ds = datasets.from_folder(root)
    assert ds.counts() == {"cat": 1, "owl": 1}
    assert not any(s.path.resolve().is_relative_to(secret) for s in ds.samples)
    assert {r.item: r.reason for r in ds.rejected} == {"dog/": "symlink pointing outside the dataset; class skipped"}


def test_symlinked_class_folder_inside_the_root(tmp_path):
    """Allowed when its images are used nowhere else (e.g. a class kept in a hidden store folder);
    refused when it aliases another class folder, whose images would then count under two classes."""
    root = tmp_path / "set"
    _class(root / "cat", "c.png")
    _class(root / ".store" / "dogs", "d1.png", "d2.png")
    (root / "dog").symlink_to(root / ".store" / "dogs", target_is_directory=True)
    (root / "kitty").symlink_to(root / "cat", target_is_directory=True)
    (root / "tabby").symlink_to("cat/", target_is_directory=True)  # relative, as `ln -s` makes them
    ds = datasets.from_folder(root)
    assert ds.counts() == {"cat": 1, "dog": 2}
    reasons = {r.item: r.reason for r in ds.rejected}
    assert reasons == {"kitty/": "symlink to class folder 'cat/', whose images would count twice; class skipped",
                       "tabby/": "symlink to class folder 'cat/', whose images would count twice; class skipped"}
