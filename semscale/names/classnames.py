"""Natural names for class keys: folder or manifest labels such as `AFRICAN_LEOPARDS` -> "African leopard".

The key stays the class's identity everywhere; the display name is what the name schemes start from (C).
Case and number follow WordNet: a word WordNet always writes capitalised keeps its capital ("French horn"),
a regular plural used as a folder convention becomes singular ("daisies" -> "daisy"), while a noun that
only exists in the plural ("pants", "jeans", "glasses") stays as it is.
"""

from __future__ import annotations

import re

from semscale.core.errors import SemscaleError
from semscale.names import wordnet
from semscale.names.labels import normalize_name

# Plural-only nouns WordNet 3.0 files under a singular lemma without marking them plural.
PLURAL_ONLY = frozenset({"trousers", "clothes", "leggings", "overalls", "tongs", "pyjamas", "pajamas"})
_NUMBER_PREFIX = re.compile(r"^\d+[._\- ]+(?=\D)")  # "001.Black_footed_Albatross", "03-cat"


def plural_only(word: str, use_wordnet: bool = True) -> bool:
    """A noun used only in the plural: listed above, or (`use_wordnet`) marked so in WordNet, itself or
    its base form."""
    low = word.lower()
    if low in PLURAL_ONLY:
        return True
    if not low.endswith("s") or not use_wordnet:
        return False
    if wordnet.is_lemma(low):
        return any(wordnet.plural_form(s) and any(lem.name().lower() == low for lem in s.lemmas())
                   for s in wordnet.noun_synsets(low))
    return any(wordnet.plural_form(s) for s in wordnet.noun_synsets(low))


def _own_plural(word: str) -> bool:
    """A plural that is a word of its own for a physical thing, first of its senses ('fries' the food, not
    'fry' a young fish or child; 'glasses'), not a slang use ('clams' as dollars) nor a state ('crabs')."""
    if not wordnet.is_lemma(word):
        return False
    first = wordnet.reader().synsets(word, "n")[0]
    singular = {s for b in wordnet.base_forms(word) if b != word for s in wordnet.reader().synsets(b, "n")}
    return first not in singular and wordnet.physical(first) and not wordnet.offensive(first)


def _singular(word: str) -> str:
    """The base form of a plural used as a folder convention ('lions' -> 'lion', 'clams' -> 'clam');
    a plural-only noun stays ('pants')."""
    low = word.lower()
    if plural_only(low) or _own_plural(low):
        return word
    base = [b for b in wordnet.base_forms(low) if b != low]
    return base[0] if base else word


def _word_case(word: str) -> str:
    """WordNet's spelling of one word when every noun or adjective lemma of it is capitalised."""
    spellings = {lem.name() for pos in ("n", "a") for s in wordnet.reader().synsets(word, pos)
                 for lem in s.lemmas() if lem.name().lower() == word}
    if spellings and all(sp[:1].isupper() for sp in spellings):
        return sorted(spellings)[0]
    return word


def _phrase_case(phrase: str) -> str | None:
    """WordNet's spelling of a whole multi-word lemma ('French_horn'), if it has one."""
    for form in wordnet.lookup_forms(phrase):
        for s in wordnet.reader().synsets(form, "n"):
            for lem in s.lemmas():
                if lem.name().lower() == form:
                    return wordnet.readable(lem.name())
    return None


def display_name(key: str) -> str:
    """The natural name of one class key."""
    text = normalize_name(_NUMBER_PREFIX.sub("", str(key)))
    # Hyphens that join a WordNet word ("t-shirt") stay; hyphens used as separators become spaces.
    text = " ".join(w if "-" not in w or wordnet.is_lemma(w) else w.replace("-", " ") for w in text.split(" "))
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise SemscaleError(f"class {key!r} has no letters to make a name from")
    letters = [ch for ch in text if ch.isalpha()]
    all_caps = bool(letters) and all(ch.isupper() for ch in letters if ch.lower() != ch.upper())
    words = text.split(" ")
    words[-1] = _singular(words[-1])
    known = wordnet.is_lemma(" ".join(words))
    out = []
    for w in words:
        low = w.lower()
        if wordnet.is_lemma(low) or wordnet.reader().synsets(low, "a") or known or all_caps:
            out.append(_word_case(low))
        else:
            out.append(w)  # a word WordNet does not know keeps the case it was given ("iPhone")
    phrase = " ".join(out)
    return (_phrase_case(phrase) or phrase) if len(out) > 1 else phrase


def cleaned_name(key: str) -> str:
    """A class key as a name without WordNet: number prefix dropped, separators as spaces ("AFRICAN LEOPARDS")."""
    return normalize_name(_NUMBER_PREFIX.sub("", str(key))) or normalize_name(str(key))


def display_names(classes: list[str]) -> tuple[dict[str, str], list[str]]:
    """Class key -> natural name, for every class in order, and notes. Natural names need WordNet, which
    is never fetched for them: without it the cleaned folder names, and a note saying so."""
    try:
        wordnet.reader()
    except SemscaleError as exc:
        return ({c: cleaned_name(c) for c in classes},
                [f"classes are shown by their cleaned folder names, not natural names: {exc}"])
    return {c: display_name(c) for c in classes}, []
