"""The evaluation set for generated names: public class lists, split once into a development and a test half,
and a third, held-out split.

`name_lists.json` holds every list with its source and licence, and the split. The split was drawn once,
before any generator was tuned, by `split(names)`: the list names sorted, shuffled with `SEED`, the first
half (rounded up) for development. Tune on the development half only; the test half is rated once, at the
end (see benchmarks/b7_names.py). The test half was rated once (issue 24) and is used up.

`name_lists_heldout.json` holds 20 more lists in neither half, frozen before the tuning that followed that
rating; `HELDOUT_SHA256` pins the file so that an edit made after seeing its names cannot pass unnoticed.
Only the rating step reads it. It was rated once and is used up too.

`name_lists_fresh.json` holds 34 more lists (401 classes) in none of the above, frozen (and pinned by
`FRESH_SHA256`) before the tuning that followed the held-out rating. It was rated once and is used up too.

`name_lists_fresh2.json` holds 60 more lists (1,014 classes: LVIS by WordNet hypernym, whole segmentation and
fashion datasets, CUB bird groups, SUN397 scenes) with no class of any list above, frozen (and pinned by
`FRESH2_SHA256`) before the tuning that followed the fresh rating. It was rated once and is used up too.

`name_lists_fresh3.json` holds 41 more lists (836 classes: ImageNet-21K-P by WordNet hypernym, the unused
classes of Open Images, Objects365, LVIS, CUB-200 and Places365, Pascal Context, ILSVRC DET) with no class of
any list above, frozen (and pinned by `FRESH3_SHA256`) before the tuning that follows the second fresh rating;
`build_name_lists_fresh3.py` rebuilds it from pinned PyPI wheels. Every earlier list, both fresh splits
included, is development data now (`half("rated")`); only the rating step reads the fresh3 lists.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

DATA = Path(__file__).with_name("name_lists.json")
HELDOUT = Path(__file__).with_name("name_lists_heldout.json")
HELDOUT_SHA256 = "b7f51d73d1b450011937e6951fed9e2d3ce5440b1ef5322125b9cf000e829855"  # as frozen
FRESH = Path(__file__).with_name("name_lists_fresh.json")
FRESH_SHA256 = "f627aa62303c10a6122d779eb435913080c468e46a6b0d89f89e74c27af50875"  # as frozen
FRESH2 = Path(__file__).with_name("name_lists_fresh2.json")
FRESH2_SHA256 = "71905cc1d0359e4992b6d4699fb818812d3e4830ee85953ad6db2487dcb4a9ab"  # as frozen
FRESH3 = Path(__file__).with_name("name_lists_fresh3.json")
FRESH3_SHA256 = "8fb0650c1be76a590b5ed25b9403d2d9f01f21e36b74628cd23a303833ec781b"  # as frozen
SEED = 24  # the number; fixed before the split was drawn
HALVES = ("development", "test", "heldout", "fresh", "fresh2", "fresh3", "rated")
# splits frozen for a blind rater: their names go to a file, never to the screen
BLIND = ("heldout", "fresh", "fresh2", "fresh3")


def split(names: list[str], seed: int = SEED) -> tuple[list[str], list[str]]:
    """(development, test) list names: a seeded shuffle of the sorted names, halved (development rounds up)."""
    order = sorted(names)
    random.Random(seed).shuffle(order)
    half = (len(order) + 1) // 2
    return sorted(order[:half]), sorted(order[half:])


def load() -> dict:
    """The data file, checked: its stored split is the one `split` draws."""
    data = json.loads(DATA.read_text(encoding="utf-8"))
    dev, test = split(list(data["lists"]))
    if (dev, test) != (data["split"]["development"], data["split"]["test"]):
        raise ValueError(f"{DATA.name}: the stored split is not the seeded one")
    return data


def _frozen(path: Path, sha256: str) -> dict[str, dict]:
    """A frozen split's lists, checked unchanged since it was frozen: name -> {source, classes, ...}."""
    raw = path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise ValueError(f"{path.name} changed after it was frozen")
    return json.loads(raw)["lists"]


def heldout() -> dict[str, dict]:
    """The held-out lists, checked unchanged since they were frozen."""
    return _frozen(HELDOUT, HELDOUT_SHA256)


def fresh() -> dict[str, dict]:
    """The fresh lists, checked unchanged since they were frozen."""
    return _frozen(FRESH, FRESH_SHA256)


def fresh2() -> dict[str, dict]:
    """The second fresh lists, checked unchanged since they were frozen."""
    return _frozen(FRESH2, FRESH2_SHA256)


def fresh3() -> dict[str, dict]:
    """The third fresh lists, checked unchanged since they were frozen."""
    return _frozen(FRESH3, FRESH3_SHA256)


def half(which: str) -> dict[str, dict]:
    """The lists of one split ('development', 'test', 'heldout', 'fresh', 'fresh2', 'fresh3', or 'rated': every list
    rated so far, all development data now): name -> {source, classes}."""
    if which == "rated":
        return {**half("development"), **half("test"), **heldout(), **fresh(), **fresh2()}
    if which in BLIND:
        return {"heldout": heldout, "fresh": fresh, "fresh2": fresh2, "fresh3": fresh3}[which]()
    data = load()
    return {name: data["lists"][name] for name in data["split"][which]}
