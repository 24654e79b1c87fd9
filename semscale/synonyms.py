"""Generators of redundant names per class: the paper's variation scheme and WordNet synonyms."""

from __future__ import annotations

from semscale import wordnet
from semscale.errors import SemscaleError
from semscale.labels import LabelSet, name_key

SCHEMES = ("paper", "wordnet")

_IRREGULAR = {"man": "men", "woman": "women", "child": "children", "mouse": "mice", "goose": "geese",
              "foot": "feet", "tooth": "teeth", "person": "people", "ox": "oxen", "deer": "deer",
              "sheep": "sheep", "fish": "fish", "shorts": "shorts", "pants": "pants", "trousers": "trousers",
              "jeans": "jeans", "glasses": "glasses", "clothes": "clothes"}


def plural(name: str) -> str:
    """English plural of the last word: enough for class names, not a full inflector."""
    head, _, last = name.rpartition(" ")
    low = last.lower()
    if low in _IRREGULAR:
        word = _IRREGULAR[low]
    elif low.endswith("s") and not low.endswith(("ss", "us", "is")):
        word = last  # already plural: shoes, pants, shorts
    elif low.endswith(("s", "x", "z", "ch", "sh")):
        word = last + "es"
    elif low.endswith("y") and low[-2:-1] not in tuple("aeiou"):
        word = last[:-1] + "ies"
    else:
        word = last + "s"
    return f"{head} {word}".strip()


def paper_names(class_name: str, broad: str | None = None) -> list[str]:
    """The paper's scheme: C, plural C, large C, small C, medium C, then a broader category."""
    names = [class_name, plural(class_name), f"large {class_name}", f"small {class_name}", f"medium {class_name}"]
    if broad:
        names.append(broad)
    return names


def wordnet_names(class_name: str) -> list[str]:
    """Base name, then WordNet synonyms of its most frequent sense, then its direct hyponyms."""
    found = wordnet.shared().synonyms(class_name)
    return [class_name] + [n for n in found if name_key(n) != name_key(class_name)]


def generate(classes: list[str], scheme: str, broad: dict[str, str] | None = None) -> LabelSet:
    """A label set for `classes` by `scheme`; broad categories come from `broad` or WordNet."""
    if scheme == "paper":
        broad = dict(broad or {})
        raw = {}
        for c in classes:
            category = broad.get(c)
            if category is None:
                try:
                    category = wordnet.shared().hypernym(c)
                except SemscaleError:
                    category = None
            raw[c] = paper_names(c, category)
    elif scheme == "wordnet":
        raw = {c: wordnet_names(c) for c in classes}
    else:
        raise SemscaleError(f"unknown name scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    return LabelSet.clean(raw, classes)
