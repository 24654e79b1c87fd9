"""A minimal reader of WordNet's noun database files (Debian's `wordnet-base`), no NLTK, no downloads."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from semscale.errors import SemscaleError

DEFAULT_DIRS = ("/usr/share/wordnet", "/usr/local/share/wordnet", "/usr/share/wordnet/dict")


def wordnet_dir() -> Path:
    """`SEMSCALE_WORDNET_DIR` if set, else the first system folder that holds index.noun."""
    env = os.environ.get("SEMSCALE_WORDNET_DIR")
    for candidate in ([env] if env else []) + list(DEFAULT_DIRS):
        if (Path(candidate) / "index.noun").is_file():
            return Path(candidate)
    raise SemscaleError(
        "WordNet data not found; install it (Debian: apt-get install wordnet-base) "
        "or point SEMSCALE_WORDNET_DIR at a folder with index.noun and data.noun"
    )


class WordNet:
    """Noun synsets by lemma: `synsets(word)` gives senses, most frequent first."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder or wordnet_dir()
        self._index: dict[str, list[int]] = {}
        with open(self.folder / "index.noun", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(" "):
                    continue  # licence header
                parts = line.split()
                synset_count = int(parts[2])
                self._index[parts[0]] = [int(o) for o in parts[-synset_count:]]
        self._data = open(self.folder / "data.noun", "rb")

    def _record(self, offset: int) -> tuple[list[str], list[tuple[str, int]]]:
        """Lemmas and (pointer symbol, target offset) of the noun synset at `offset`."""
        self._data.seek(offset)
        fields = self._data.readline().decode("utf-8", "replace").split(" | ")[0].split()
        word_count = int(fields[3], 16)
        lemmas = [fields[4 + 2 * i] for i in range(word_count)]
        pos = 4 + 2 * word_count
        pointer_count = int(fields[pos])
        pointers = []
        for i in range(pointer_count):
            symbol, target, target_pos = fields[pos + 1 + 4 * i : pos + 4 + 4 * i]
            if target_pos == "n":
                pointers.append((symbol, int(target)))
        return [_readable(lemma) for lemma in lemmas], pointers

    def synsets(self, word: str) -> list[int]:
        return self._index.get(word.strip().lower().replace(" ", "_"), [])

    def synonyms(self, word: str, include_hyponyms: bool = True) -> list[str]:
        """Lemmas of the word's most frequent sense, then (optionally) of its direct hyponyms."""
        senses = self.synsets(word)
        if not senses:
            return []
        lemmas, pointers = self._record(senses[0])
        names = list(lemmas)
        if include_hyponyms:
            for symbol, target in pointers:
                if symbol in ("~", "~i"):
                    names.extend(self._record(target)[0])
        return _unique(names)

    def hypernym(self, word: str) -> str | None:
        """First lemma of the most frequent sense's first hypernym: a broader category."""
        senses = self.synsets(word)
        if not senses:
            return None
        for symbol, target in self._record(senses[0])[1]:
            if symbol in ("@", "@i"):
                return self._record(target)[0][0]
        return None


def _readable(lemma: str) -> str:
    # Adjective markers such as "(a)" follow some lemmas; WordNet joins words with "_".
    return lemma.split("(")[0].replace("_", " ")


def _unique(names: list[str]) -> list[str]:
    seen, out = set(), []
    for n in names:
        if n.lower() not in seen:
            seen.add(n.lower())
            out.append(n)
    return out


@lru_cache(maxsize=1)
def shared() -> WordNet:
    """One parsed index per process (about a second to read)."""
    return WordNet()
