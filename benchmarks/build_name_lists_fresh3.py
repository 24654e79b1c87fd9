"""Build `name_lists_fresh3.json`, the third fresh split of public class lists (issue 24): class lists only.

Nothing here generates names: the split is frozen before anyone generates or reads names for it. Every input
is a file inside a PyPI wheel, checked by its sha256 (`WHEELS`), read straight from the zip, plus WordNet 3.0
(semscale's reader, e.g. Debian's wordnet-base). Get the wheels once, then build:

    pip download --no-deps -d WHEELS mmdet==3.3.0 mmsegmentation==1.2.2 mmpretrain==1.2.0 \\
        tensorflow-datasets==4.9.10 timm==1.0.31
    python benchmarks/build_name_lists_fresh3.py WHEELS   # writes benchmarks/name_lists_fresh3.json

The rule is `METHOD` below, fixed before any name was generated for these classes (it was settled on the class
lists alone); the output is the same on every run.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import random
import re
import zipfile
from functools import lru_cache
from pathlib import Path

from semscale.names import wordnet as W

HERE = Path(__file__).parent
EARLIER = ("name_lists.json", "name_lists_heldout.json", "name_lists_fresh.json", "name_lists_fresh2.json")
OUT = HERE / "name_lists_fresh3.json"
SEED, SMALLEST, LARGEST_GROUP, SAMPLE = 24, 8, 40, 60

WHEELS = {
    "mmdet": ("mmdet-3.3.0-py3-none-any.whl", "2e23e291281ac57e7dccf8678e957da45fbe560ce78a1f5ded6afeccd3730f17"),
    "mmseg": ("mmsegmentation-1.2.2-py3-none-any.whl",
              "dadf62bba00a65947d71b08471bc1fe2fee8e2d6eb740381eecd03991e204b47"),
    "mmpretrain": ("mmpretrain-1.2.0-py2.py3-none-any.whl",
                   "96156327c509cbf17fdc5867f7bc89142df6f63be38ecd67e91b41dc5e538933"),
    "tfds": ("tensorflow_datasets-4.9.10-py3-none-any.whl",
             "7ec065f0a628e28152b487ba9cbe72fa36d3854705d9f3abd04c6cf5d7a91527"),
    "timm": ("timm-1.0.31-py3-none-any.whl", "5bd50f7d0fe6d09bf9285ac2523234a1b7e6bf075c0be3e7aed09139fcb617c7"),
}

SOURCES = {
    key: {"what": what + f" ({WHEELS[key][0]} from PyPI, sha256 {WHEELS[key][1]})", "url": url, "licence": licence}
    for key, what, url, licence in (
        ("mmdet", "OpenMMLab mmdet 3.3.0: mmdet/evaluation/functional/class_names.py (oid_v6_classes, "
                  "objects365v1_classes, imagenet_det_classes, lvis_classes)",
         "https://github.com/open-mmlab/mmdetection", "Apache-2.0; each dataset's terms in the list's note"),
        ("mmseg", "OpenMMLab mmsegmentation 1.2.2: mmseg/datasets/pascal_context.py PascalContextDataset59.METAINFO",
         "https://github.com/open-mmlab/mmsegmentation", "Apache-2.0; the dataset's terms in the list's note"),
        ("mmpretrain", "OpenMMLab mmpretrain 1.2.0: mmpretrain/datasets/categories.py CUB_CATEGORIES",
         "https://github.com/open-mmlab/mmpretrain", "Apache-2.0; the dataset's terms in the list's note"),
        ("tfds", "TensorFlow Datasets 4.9.10: tensorflow_datasets/image_classification/categories_places365.txt "
                 "(Places365-Standard's 365 categories in label order, without the '/x/' prefix)",
         "https://github.com/tensorflow/datasets", "Apache-2.0; the dataset's terms in the list's note"),
        ("timm", "timm 1.0.31: timm/data/_info/imagenet21k_miil_w21_synsets.txt (ImageNet-21K-P, winter 2021, "
                 "10,450 wnids; Ridnik et al. 2021, ImageNet-21K Pretraining for the Masses), "
                 "imagenet_synset_to_lemma.txt (each wnid's WordNet lemmas; the class name is the first) and "
                 "imagenet_synsets.txt (the ImageNet-1k wnids, left out); a wnid is 'n' + the WordNet 3.0 noun "
                 "offset, so its hypernyms are read from WordNet 3.0",
         "https://github.com/huggingface/pytorch-image-models",
         "Apache-2.0; wnids and lemmas are WordNet 3.0 identifiers and words (WordNet licence, Princeton "
         "University); ImageNet's terms in the list's note"),
    )
}

METHOD = (
    "One script (benchmarks/build_name_lists_fresh3.py, its inputs PyPI wheels pinned by sha256 and WordNet 3.0), "
    "rules fixed before any name was generated for these classes; class lists only, nobody generated, printed or "
    "read names for them. Names are compared as in the earlier fresh splits (lower case, letters only, also with "
    "a final s dropped), and a name is also compared by each '/'-separated alternative ('cabinet/shelf': "
    "'cabinet', 'shelf') and without a parenthesised part ('Organ (Musical Instrument)': 'Organ'): a class is "
    "left out when one of these matches a class of an earlier split (name_lists.json, name_lists_heldout.json, "
    "name_lists_fresh.json, name_lists_fresh2.json), of a list built before it here, or an earlier class of its "
    "own source, so no class is in two lists. Names are as published (surrounding spaces removed), underscores "
    "(and the '/' of Places365's 'arena/hockey') shown as spaces. A list keeps its source's class order; a list "
    "with fewer than 8 classes is not made; one with more than 60 keeps sorted(random.Random(24).sample(its "
    "classes sorted, 60)), in source order. Lists are built in this order. (1) Two whole datasets: Pascal "
    "Context's 59 classes and ILSVRC DET's 200. (2) The unused classes of three detection vocabularies, one list "
    "each: Open Images V6's 601 boxable classes, Objects365 v1's 365, LVIS v1's 1,203 (lvis-other: most are the "
    "227 no group of the second fresh split took). (3) The unused classes of CUB-200-2011 (cub200-other: the "
    "second fresh split took the warblers, sparrows and gulls) and of Places365-Standard's 365 scenes (SUN397 "
    "scenes of earlier lists match many). (4) ImageNet-21K-P (winter 2021, 10,450 classes, each a WordNet 3.0 "
    "noun synset by its wnid), less the ImageNet-1k wnids, less every synset under person.n.01 (mostly roles "
    "and characters a photo does not show), and less every synset whose first lemma WordNet 3.0's sense counts "
    "(cntlist, SemCor) never tagged in that sense (WordNet's rare leaves: 'crossjack', 'cullis'), named by its "
    "first lemma; grouped by WordNet hypernym as the second fresh split grouped LVIS: a candidate group is a noun "
    "synset under physical_entity.n.01, not in semscale.names.wordnet.GENERIC, that is the synset or an "
    "(instance) hypernym of 8 to 40 of the classes not yet grouped; the candidates, sorted by synset name, are "
    "shuffled with random.Random(24) and taken in that order when none of their classes is in a group taken in "
    "the same pass; passes repeat on the classes still ungrouped until no candidate is left. A list holds every "
    "such class under its synset, named in21k-<first lemma> (in21k-<synset> when that name is taken); classes in "
    "no group are in no list. Nothing in these rules reads a generated name or the generator's sense choices."
)


def wheel(folder: Path, key: str) -> zipfile.ZipFile:
    """One input wheel, checked against its pinned sha256."""
    name, sha = WHEELS[key]
    path = folder / name
    if hashlib.sha256(path.read_bytes()).hexdigest() != sha:
        raise SystemExit(f"{name}: sha256 differs from the pinned one")
    return zipfile.ZipFile(path)


def returned_list(source: str, function: str) -> list[str]:
    """The literal list a module-level function returns (mmdet's class_names.py), read without importing it."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            for statement in node.body:
                if isinstance(statement, ast.Return):
                    return list(ast.literal_eval(statement.value))
    raise SystemExit(f"{function} not found")


def assigned(source: str, name: str):
    """A module-level constant's literal value."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return ast.literal_eval(node.value)
    raise SystemExit(f"{name} not found")


def metainfo_classes(source: str, cls: str) -> list[str]:
    """A dataset class's METAINFO['classes'] (mmseg's `METAINFO = dict(classes=...)`), read without importing it."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for statement in node.body:
                if isinstance(statement, ast.Assign) and getattr(statement.targets[0], "id", None) == "METAINFO":
                    fields = {kw.arg: kw.value for kw in statement.value.keywords}  # METAINFO = dict(classes=...)
                    return list(ast.literal_eval(fields["classes"]))
    raise SystemExit(f"{cls}.METAINFO not found")


def keys(name: str) -> set[str]:
    """The forms a class name is compared by (see METHOD)."""
    forms = {name, re.sub(r"\s*\(.*?\)", "", name), *name.split("/")}
    out = set()
    for form in forms:
        letters = re.sub("[^a-z]", "", form.lower())
        if letters:
            out |= {letters, letters[:-1] if letters.endswith("s") else letters}
    return out


class Used:
    """Every class compared against so far."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        for name in EARLIER:
            for entry in json.loads((HERE / name).read_text(encoding="utf-8"))["lists"].values():
                for cls in entry["classes"]:
                    self.keys |= keys(cls)

    def fresh(self, items: list, name=lambda item: item) -> list:
        """The items whose class matches nothing used and no earlier item (source order kept)."""
        seen, out = set(), []
        for item in items:
            k = keys(name(item))
            if not k & (self.keys | seen):
                out.append(item)
                seen |= k
        return out

    def add(self, classes: list[str]) -> None:
        for cls in classes:
            self.keys |= keys(cls)


def sample(items: list) -> list:
    """At most SAMPLE items: a seeded sample of the sorted items, back in their order."""
    if len(items) <= SAMPLE:
        return list(items)
    chosen = set(random.Random(SEED).sample(sorted(items), SAMPLE))
    return [item for item in items if item in chosen]


@lru_cache(maxsize=None)
def physical(synset) -> bool:
    """Whether the synset is a physical thing (physical_entity.n.01 on one of its hypernym paths)."""
    return any(s.name() == W.PHYSICAL for path in synset.hypernym_paths() for s in path)


def ancestors(synset) -> set:
    """The synset and its (instance) hypernyms that may name a group."""
    return {s for path in synset.hypernym_paths() for s in path if s.name() not in W.GENERIC}


def groups(members: dict) -> list[tuple]:
    """[(group synset, [member keys])]: the seeded, non-overlapping hypernym groups of METHOD, pass after pass."""
    left, taken = dict(members), []
    while True:
        cover: dict = {}
        for key, synset in left.items():
            for a in ancestors(synset):
                if physical(a):
                    cover.setdefault(a, []).append(key)
        candidates = sorted((a for a, ks in cover.items() if SMALLEST <= len(ks) <= LARGEST_GROUP),
                            key=lambda s: s.name())
        if not candidates:
            return taken
        random.Random(SEED).shuffle(candidates)
        done: set = set()
        for a in candidates:
            if not done & set(cover[a]):
                taken.append((a, cover[a]))
                done |= set(cover[a])
        left = {key: synset for key, synset in left.items() if key not in done}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheels", type=Path, help="the folder the wheels were downloaded to")
    args = parser.parse_args()
    wn = W.reader()
    if not wn.synset("dog.n.01").lemmas()[0].count():
        raise SystemExit("this WordNet copy has no sense counts (cntlist.rev): the ImageNet-21K-P rule needs them")
    zips = {key: wheel(args.wheels, key) for key in WHEELS}

    def text(key: str, member: str) -> str:
        return zips[key].read(member).decode("utf-8")

    class_names = text("mmdet", "mmdet/evaluation/functional/class_names.py")
    used, lists = Used(), {}

    def add(name: str, source: str, note: str, classes: list[str], **extra) -> None:
        if len(classes) < SMALLEST:
            return
        if name in lists:
            raise SystemExit(f"list name {name} twice")
        lists[name] = {"source": source, "note": note, **extra, "classes": classes}
        used.add(classes)

    def whole(name, source, what, classes, terms, shown=lambda c: c):
        """One list: a dataset's classes that match nothing used, sampled when more than SAMPLE."""
        left = used.fresh([shown(c).strip() for c in classes])
        kept = sample(left)
        tail = (f"; {len(classes)} classes as published, {len(classes) - len(left)} of them left out as in an "
                f"earlier list or a list above" + (f", the seeded sample of {SAMPLE} of the {len(left)} left"
                                                   if len(kept) < len(left) else ""))
        add(name, source, f"{what}{tail}; {terms}, class names are facts, no images used", kept)

    # (1) whole datasets
    whole("pascal-context", "mmseg", "Pascal Context's 59 classes (Mottaghi et al. 2014), read from "
          "mmseg/datasets/pascal_context.py PascalContextDataset59.METAINFO",
          metainfo_classes(text("mmseg", "mmseg/datasets/pascal_context.py"), "PascalContextDataset59"),
          "dataset for research (PASCAL VOC terms)")
    whole("imagenet-det", "mmdet", "ILSVRC DET's 200 object classes (Russakovsky et al. 2015), read from "
          "mmdet/evaluation/functional/class_names.py imagenet_det_classes(), underscores as spaces",
          returned_list(class_names, "imagenet_det_classes"), "dataset under ImageNet's terms of access",
          shown=lambda c: c.replace("_", " "))

    # (2) the unused classes of three detection vocabularies and (3) of a bird and a scene dataset, sampled
    whole("openimages", "mmdet", "Open Images V6's 601 boxable classes (Kuznetsov et al. 2020) in no list above, "
          "read from mmdet/evaluation/functional/class_names.py oid_v6_classes()",
          returned_list(class_names, "oid_v6_classes"), "Open Images annotations CC BY 4.0 (Google)")
    whole("objects365", "mmdet", "Objects365 v1's 365 classes (Shao et al. 2019) in no list above, read from "
          "mmdet/evaluation/functional/class_names.py objects365v1_classes()",
          returned_list(class_names, "objects365v1_classes"), "dataset under the Objects365 terms (objects365.org)")
    whole("lvis-other", "mmdet", "LVIS v1's categories (Gupta et al. 2019) in no list above, read from "
          "mmdet/evaluation/functional/class_names.py lvis_classes(), underscores as spaces",
          returned_list(class_names, "lvis_classes"), "LVIS annotations CC BY 4.0",
          shown=lambda c: c.replace("_", " "))
    whole("cub200-other", "mmpretrain", "CUB-200-2011 species (Wah et al. 2011) in no list above, read from "
          "mmpretrain/datasets/categories.py CUB_CATEGORIES, underscores as spaces",
          list(assigned(text("mmpretrain", "mmpretrain/datasets/categories.py"), "CUB_CATEGORIES")),
          "dataset for non-commercial research", shown=lambda c: c.replace("_", " "))
    whole("places365", "tfds", "Places365-Standard's scene categories (Zhou et al. 2017) in no list above, read "
          "from tensorflow_datasets/image_classification/categories_places365.txt, '_' and '/' as spaces",
          text("tfds", "tensorflow_datasets/image_classification/categories_places365.txt").split(),
          "dataset for non-commercial research and education (MIT CSAIL)",
          shown=lambda c: c.replace("_", " ").replace("/", " "))

    # (4) ImageNet-21K-P groups by WordNet hypernym
    info = "timm/data/_info/"
    lemmas = dict(line.split("\t", 1) for line in text("timm", info + "imagenet_synset_to_lemma.txt").splitlines())
    in1k = set(text("timm", info + "imagenet_synsets.txt").split())
    person = wn.synset("person.n.01")
    wnids = []
    for wnid in text("timm", info + "imagenet21k_miil_w21_synsets.txt").split():
        synset = wn.synset_from_pos_and_offset("n", int(wnid[1:]))
        if wnid not in in1k and synset.lemmas()[0].count() and \
                person not in {s for path in synset.hypernym_paths() for s in path}:
            wnids.append((wnid, lemmas[wnid].split(",")[0].strip(), synset))
    pool = used.fresh(wnids, name=lambda item: item[1])
    members = {wnid: synset for wnid, _, synset in pool}
    for group, chosen in groups(members):
        lemma = group.lemma_names()[0].replace("_", "-").lower()
        name = f"in21k-{lemma}" if f"in21k-{lemma}" not in lists else \
            f"in21k-{group.name().replace('.', '-').replace('_', '-')}"
        rows = [(wnid, cls) for wnid, cls, _ in pool if wnid in chosen]
        add(name, "timm", f"ImageNet-21K-P (winter 2021) classes whose wnid is {group.name()} or under it "
            "(see 'method'), named by the first lemma of timm's imagenet_synset_to_lemma.txt; dataset under "
            "ImageNet's terms of access, class names are facts, no images used",
            [cls for _, cls in rows], hypernym=group.name(), wnids=[wnid for wnid, _ in rows])

    total = sum(len(entry["classes"]) for entry in lists.values())
    about = (f"A third fresh split of public class lists for rating generated names (issue 24): {len(lists)} "
             f"lists, {total} classes, none of them a class of name_lists.json, name_lists_heldout.json, "
             "name_lists_fresh.json or name_lists_fresh2.json (every one of those has been rated or tuned on and "
             "is development data now). Frozen before any tuning that follows the second fresh rating: nobody "
             "generated, printed or read names for these lists before they were frozen (only the class lists "
             "were built). Only the rating step reads them (benchmarks/b7_names.py fresh3 --blind-out FILE); "
             "rate once, blind, at the end.")
    data = {"about": about, "method": METHOD, "sources": SOURCES, "lists": lists}
    OUT.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{OUT.name}: {len(lists)} lists, {total} classes, sha256 "
          f"{hashlib.sha256(OUT.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
