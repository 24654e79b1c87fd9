"""Generators of redundant names per class: the authors' modifier scheme and WordNet synonyms.

Both start from each class's display name C (see `classnames`), never from the raw folder key, and both
say in `Generated.notes` everything a reader of the results should know about how the names came about.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from semscale import classnames, wordnet
from semscale.errors import SemscaleError
from semscale.labels import LabelSet, name_key, normalize_name

MAX_WORDNET_NAMES = 16
MAX_DOMAIN_CHARS = 40
MAX_GENERATED_WORDS, MAX_GENERATED_CHARS = 3, 30


@lru_cache(maxsize=1)
def _inflector():
    import inflect

    return inflect.engine()


def plural(name: str, use_wordnet: bool = True) -> str:
    """English plural of a name's head noun ('chain saws', 'French horns', 'knives'); a plural-only
    noun ('pants', 'jeans') is its own plural (known from WordNet with `use_wordnet`)."""
    head = name.rsplit(" ", 1)[-1]
    if classnames.plural_only(head, use_wordnet):
        return name
    out = _inflector().plural_noun(name)
    # inflect adds an 's' to a word that is already plural ("pantss"): such a word is its own plural.
    if head.lower().endswith("s") and out.lower().endswith(head.lower() + "s"):
        return name
    return out


def paper_names(class_name: str, domain: str | None = None, use_wordnet: bool = True) -> list[str]:
    """The authors' order: C, Cs, large C, large Cs, small C, small Cs, medium C, medium Cs, D C, D Cs,
    tiny C, tiny Cs (the D pair only with a domain word)."""
    forms = (class_name, plural(class_name, use_wordnet))
    modifiers = ("", "large ", "small ", "medium ", f"{domain} " if domain else None, "tiny ")
    return [f"{m}{form}" for m in modifiers if m is not None for form in forms]


def validate_domain(word: str | None) -> str | None:
    """A domain word as typed (spaces tidied), None when blank; refuses what cannot be a word."""
    if word is None or not str(word).strip():
        return None
    text = normalize_name(word)
    if len(text) > MAX_DOMAIN_CHARS:
        raise SemscaleError(f"the domain word has {len(text)} characters; give a word of at most "
                            f"{MAX_DOMAIN_CHARS}, such as 'flower' or 'vehicle'")
    if re.search(r"[{}\[\]<>\"'`\\|]|[\x00-\x1f\x7f]", text):
        raise SemscaleError(f"the domain word {text!r} has braces, brackets or quotes; give plain words "
                            "such as 'flower' or 'big cat'")
    if not any(ch.isalpha() for ch in text):
        raise SemscaleError(f"the domain word {text!r} has no letters; give a word such as 'flower'")
    return text


def _usable(lemma, chosen) -> bool:
    """A WordNet word a person would say for a photo: short, plain, not a Latin genus-species name, no
    word of it an insult, and meaning this thing among its own first two senses
    ('machine' is not a name for a car)."""
    text = wordnet.readable(lemma.name())
    if (re.search(r"[\d()'.,/]", lemma.name()) or len(text) > MAX_GENERATED_CHARS
            or len(text.split(" ")) > MAX_GENERATED_WORDS):
        return False
    if wordnet.latin_name(text) or wordnet.offensive_word(text):
        return False  # "Panthera tigris"; "kaffir cat"
    senses = wordnet.reader().synsets(lemma.name(), "n")
    return lemma.synset() in senses[:2] and (not wordnet.is_person(lemma.synset()) or wordnet.is_person(chosen))


def _squash(text: str) -> str:
    return re.sub(r"[\s_-]", "", text.lower())


def _familiar(lemma, heads: set[str]) -> bool:
    """A name a person would know: WordNet's tagged texts use the word in this sense (`count()`), or it
    says what it is by ending in the class's own word ('wine bottle', 'teacup', 'cheeseburger'). A
    rare single word ('kylix', 'serval', 'stablemate') is not; neither is a biologist's term."""
    if wordnet.taxon_word(lemma):
        return False
    name = _squash(lemma.name())
    return lemma.count() > 0 or any(name.endswith(h) and name != h for h in heads)


def _kind_name(kind, chosen, heads: set[str]):
    """The word for a kind: the first usable one that names the class ('thresher shark', not
    'thresher'), else the first usable one; None when no usable word is familiar."""
    usable = [lem for lem in kind.lemmas() if _usable(lem, chosen)]
    usable.sort(key=lambda lem: not any(_squash(lem.name()).endswith(h) for h in heads))
    return next((lem for lem in usable if _familiar(lem, heads)), None)


def _said_in_plural(lemma) -> bool:
    """WordNet files some plural-only garments under a singular ('trouser'); the plural is not this
    word when it names another sense ('buckskins' the breeches, not the buckskin horse)."""
    many = plural(wordnet.readable(lemma.name()))
    if not classnames.plural_only(many.rsplit(" ", 1)[-1]):
        return False
    exact = many.lower().replace(" ", "_")
    return not any(lem.name().lower() == exact for s in wordnet.noun_synsets(many) if s != lemma.synset()
                   for lem in s.lemmas())


def _kind_order(synset) -> tuple[int, int, str]:
    """Everyday kinds first: WordNet's usage count of the sense's words, then how many kinds it has
    (then the sense id, so the order never depends on the reader's internals)."""
    return -max(lem.count() for lem in synset.lemmas()), -len(synset.hyponyms()), synset.name()


def wordnet_names(class_name: str, chosen) -> list[str]:
    """C, the chosen sense's familiar other words, then familiar kinds of it (hyponyms, nearest and most
    used first), at most 16. Kinds of the past (extinct, ancient) and wild kinds of a sense with a
    domestic kind are left out with everything under them."""
    names = [class_name]
    keys = {name_key(class_name)}
    heads = {_squash(class_name.rsplit(" ", 1)[-1])} | {_squash(lem.name().rsplit("_", 1)[-1])
                                                        for lem in chosen.lemmas() if _usable(lem, chosen)}

    def add(lemma) -> None:
        name = wordnet.readable(lemma.name())
        if _said_in_plural(lemma):
            name = plural(name)  # WordNet's "blue jean", "trouser": said "blue jeans", "trousers"
        if len(names) < MAX_WORDNET_NAMES and name_key(name) not in keys:
            names.append(name)
            keys.add(name_key(name))

    whole, head = _squash(class_name), _squash(re.split(r"[\s-]", class_name)[-1])
    for i, lemma in enumerate(chosen.lemmas()):
        # WordNet's headword of the sense ('doughnut' for 'donut'), a familiar word ('tee shirt'), a
        # short form or a spelling of the class name ('burger', 'aeroplane'); not 'sinker', 'jitney'.
        word = _squash(lemma.name())
        same_end = whole.endswith(word) or len(os.path.commonprefix([whole[::-1], word[::-1]])) >= 4
        if _usable(lemma, chosen) and (i == 0 or _familiar(lemma, {head}) or same_end):
            add(lemma)
    skip = wordnet.wild_kinds(chosen)
    level = [chosen]
    while level and len(names) < MAX_WORDNET_NAMES:
        level = sorted((h for s in level for h in s.hyponyms()  # `~` only: no instances, no members
                        if h not in skip and not wordnet.past_kind(h) and not wordnet.offensive(h)
                        and (not wordnet.is_person(h) or wordnet.is_person(chosen))),
                       key=_kind_order)
        for kind in level:
            lemma = _kind_name(kind, chosen, heads)
            if lemma is not None:
                add(lemma)
    return names


@dataclass(frozen=True)
class Generated:
    """A generated label set (keys = class keys) with what a reader needs to trust it."""

    labels: LabelSet
    notes: list[str] = field(default_factory=list)
    senses: dict[str, wordnet.Sense] = field(default_factory=dict)
    domain: str | None = None
    display: dict[str, str] = field(default_factory=dict)


def _paper(classes, display, chosen, domain, notes) -> dict[str, list[str]]:
    """`chosen` is None without WordNet: plurals by inflect alone, and no word on senses."""
    if domain is None and chosen is not None:
        notes.append("the classes share no WordNet category more specific than 'object', 'whole' or "
                     "'artifact', so names 9-10 (D C, D Cs) are left out: give a domain word to add them")
    same = [display[c] for c in classes if plural(display[c], chosen is not None) == display[c]]
    if same:
        notes.append(f"{', '.join(repr(s) for s in same)}: already plural, so each plural name repeats the "
                     "name before it; the repeats are kept, as the authors did, so every class has the same "
                     "number of names")
    for c in classes:
        if chosen is not None and chosen.get(c) is None:
            notes.append(f"WordNet does not know {display[c]!r}: its names are built from the name alone")
    return {c: paper_names(display[c], domain, chosen is not None) for c in classes}


def _wordnet(classes, display, chosen, domain, notes) -> dict[str, list[str]]:
    for c in classes:
        if chosen.get(c) is None:
            notes.append(f"WordNet does not know {display[c]!r} (as a physical thing): it keeps only its own name")
    return {c: wordnet_names(display[c], chosen[c]) if chosen.get(c) is not None else [display[c]]
            for c in classes}


_GENERATORS = {"paper": _paper, "wordnet": _wordnet}
SCHEMES = tuple(_GENERATORS)


def generate(classes: list[str], scheme: str, *, display: dict[str, str] | None = None,
             domain: str | None = None, senses: dict[str, str] | None = None,
             progress: Callable[[float], None] | None = None) -> Generated:
    """Names for `classes` (keys) by `scheme`, from display names (defaults: `classnames`), WordNet senses
    chosen for the whole set (`senses` pins some: class -> sense id) and a domain word (default: the
    classes' shared WordNet category). WordNet is fetched first where the machine has none (`progress`
    follows the download); the paper scheme also works without it, from the names alone."""
    if scheme not in _GENERATORS:
        raise SemscaleError(f"unknown name scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    domain = validate_domain(domain)
    notes: list[str] = []
    try:
        wordnet.ensure(progress)
        wordnet.reader()
    except SemscaleError as exc:
        if scheme != "paper":
            raise
        notes.append(f"{exc}. The paper scheme's names are built from the class names alone (plurals by inflect)"
                     + ("" if domain else "; names 9-10 (D C, D Cs) are left out: give a domain word to add them"))
        shown = {c: normalize_name((display or {}).get(c) or "") or classnames.cleaned_name(c) for c in classes}
        return Generated(LabelSet.clean(_paper(classes, shown, None, domain, notes), classes, keep_repeats=True),
                         notes, {}, domain, shown)
    shown, _ = classnames.display_names(classes)
    shown.update({c: normalize_name(v) for c, v in (display or {}).items() if c in shown and normalize_name(v)})
    chosen = wordnet.choose_senses(shown, senses)
    if domain is None and scheme == "paper":
        common = wordnet.shared_hypernym([s for s in chosen.values() if s is not None])
        domain = wordnet.plain_name(common) if common is not None else None
    raw = _GENERATORS[scheme](classes, shown, chosen, domain, notes)
    labels = LabelSet.clean(raw, classes, keep_repeats=scheme == "paper")
    notes.extend(labels.warnings)
    return Generated(labels, notes, {c: wordnet.sense(s) for c, s in chosen.items() if s is not None},
                     domain if scheme == "paper" else None, shown)
