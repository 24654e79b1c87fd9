"""The evaluation set for generated names: public class lists, split once into a development and a test half.

`name_lists.json` holds every list with its source and licence, and the split. The split was drawn once,
before any generator was tuned, by `split(names)`: the list names sorted, shuffled with `SEED`, the first
half (rounded up) for development. Tune on the development half only; the test half is rated once, at the
end (see benchmarks/b7_names.py).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

DATA = Path(__file__).with_name("name_lists.json")
SEED = 24  # the number; fixed before the split was drawn


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


def half(which: str) -> dict[str, dict]:
    """The lists of one half ('development' or 'test'): name -> {source, classes}."""
    data = load()
    return {name: data["lists"][name] for name in data["split"][which]}
