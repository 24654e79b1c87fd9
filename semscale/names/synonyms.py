"""Generators of redundant names per class, each name with its relation to the class (`RELATIONS`):
the authors' modifier scheme and WordNet's synonyms, broader categories and kinds (`REGISTRY`).

All start from each class's display name C (see `classnames`), never from the raw folder key, and both
and all say in `Generated.notes` everything a reader of the results should know about how the names came about.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from semscale.core.errors import SemscaleError
from semscale.names import classnames, commonness, wordnet
from semscale.names.labels import EQUIVALENT, LabelSet, name_key, normalize_name

MAX_WORDNET_NAMES = 16
MAX_BROADER, MAX_KINDS = 1, 4
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


def _own_words(class_name: str) -> frozenset[str]:
    """The class name's own words (lower case): the user's choice, never judged as an insult."""
    return frozenset(class_name.lower().split(" ")) | {class_name.lower()}


def _usable(lemma, chosen, own: frozenset[str] = frozenset()) -> bool:
    """A WordNet word a person would say for a photo: short, plain, not a Latin genus-species name nor a
    genus, no word of it an insult in any salient sense (see `wordnet.offensive_word`), and meaning this
    thing among its own first two senses ('machine' is not a name for a car)."""
    text = wordnet.readable(lemma.name())
    if (re.search(r"[\d()'.,/]", lemma.name()) or len(text) > MAX_GENERATED_CHARS
            or len(text.split(" ")) > MAX_GENERATED_WORDS):
        return False
    if wordnet.latin_name(text) or wordnet.genus_name(lemma) or wordnet.offensive_word(text, own):
        return False  # "Panthera tigris", "Panthera"; "kaffir cat", "jackass penguin"
    senses = wordnet.reader().synsets(lemma.name(), "n")
    return lemma.synset() in senses[:2] and (not wordnet.is_person(lemma.synset()) or wordnet.is_person(chosen))


def _squash(text: str) -> str:
    return re.sub(r"[\s_-]", "", text.lower())


def _familiar(lemma, heads: set[str]) -> bool:
    """A name a person would know: WordNet's tagged texts use the word in this sense (`count()`), or it
    says what it is by ending in the class's own word ('wine bottle', 'teacup', 'cheeseburger'), and no
    mark of register or rarity (`commonness.common`). Never a biologist's term."""
    if wordnet.taxon_word(lemma, frozenset(heads)) or commonness.marked(lemma):
        return False
    name = _squash(lemma.name())
    if any(name.endswith(h) and name != h for h in heads):
        return True
    return lemma.count() > 0 and commonness.common(lemma, commonness.KIND_ZIPF)


def _kind_name(kind, chosen, heads: set[str], own: frozenset[str]):
    """The word for a kind: the first usable one that names the class ('thresher shark', not
    'thresher'), else the first usable one; None when no usable word is familiar."""
    usable = [lem for lem in kind.lemmas() if _usable(lem, chosen, own) and wordnet.heard_as_thing(lem)]
    usable.sort(key=lambda lem: not any(_squash(lem.name()).endswith(h) for h in heads))
    return next((lem for lem in usable if _familiar(lem, heads)), None)


def _said_in_plural(lemma) -> bool:
    """WordNet files some plural-only garments under a singular ('trouser'); the plural is not this
    word when it names another sense ('buckskins' the breeches, not the buckskin horse)."""
    many = plural(wordnet.readable(lemma.name()))
    head, heads = wordnet.readable(lemma.name()).rsplit(" ", 1)[-1], many.rsplit(" ", 1)[-1]
    if not classnames.plural_only(heads) or commonness.zipf(heads) <= commonness.zipf(head):
        return False  # 'stations' names the Stations of the Cross, but 'station' is the word
    exact = many.lower().replace(" ", "_")
    return not any(lem.name().lower() == exact for s in wordnet.noun_synsets(many) if s != lemma.synset()
                   for lem in s.lemmas())


def _kind_order(synset) -> tuple[int, int, str]:
    """Everyday kinds first: WordNet's usage count of the sense's words, then how many kinds it has
    (then the sense id, so the order never depends on the reader's internals)."""
    return -max(lem.count() for lem in synset.lemmas()), -len(synset.hyponyms()), synset.name()


def _spoken(lemma) -> str:
    """A lemma as said: readable, and in the plural where WordNet files a plural-only noun under a
    singular ("blue jean", "trouser": said "blue jeans", "trousers")."""
    name = wordnet.readable(lemma.name())
    return plural(name) if _said_in_plural(lemma) else name


def synonym_names(class_name: str, chosen, others: tuple = ()) -> list[tuple[str, str]]:
    """Other words of the chosen sense, with its gloss: WordNet's headword of the sense ('doughnut' for
    'donut'), a familiar word, or a short form or spelling of the class name ('burger', 'aeroplane');
    each common and unmarked (not 'sinker', 'jitney', 'motorcar', 'mahimahi'), another word an everyday
    one (not 'toad' for frog, 'serpent', 'infield'), meaning this thing first and clearly (not 'Cardigan'
    for the corgi, 'castle' for palace: see `_dominant`), not a phrase naming a category above it
    ('railroad terminal'), nor the class name's head alone where it names other things too (`_head_alone`),
    none where the class name itself is split between senses (`_clearly`), never a form of address ('miss'),
    and more than a respelling of the class name ('icecream')."""
    own = _own_words(class_name)
    whole = _squash(class_name)
    heads = {_squash(class_name.rsplit(" ", 1)[-1])}
    out = []
    if not _clearly(class_name, chosen):
        return out
    for i, lemma in enumerate(chosen.lemmas()):
        word = _squash(lemma.name())
        spelled = (whole.endswith(word) or whole.startswith(word)
                   or len(os.path.commonprefix([whole[::-1], word[::-1]])) >= 4)  # 'basset', 'aeroplane'
        floor = commonness.SYNONYM_ZIPF if spelled else commonness.OTHER_WORD_ZIPF
        if (word != whole and _dominant(lemma, chosen) and _usable(lemma, chosen, own)
                and commonness.common(lemma, floor, _spoken(lemma)) and (i == 0 or lemma.count() > 0 or spelled)
                and not _names_above(lemma, chosen, heads) and not _head_alone(lemma, class_name)
                and not _rare_tail(lemma, class_name)
                and not any(wordnet.term_of_address(s) for s in wordnet.reader().synsets(lemma.name(), "n"))):
            out.append((_spoken(lemma), chosen.definition()))
    return out


def _clearly(class_name: str, chosen) -> bool:
    """The class name means the chosen sense clearly: WordNet's tagged texts use it DOMINANCE times as often
    there as in any other sense of the same kind. Else the sense's other words may name another thing:
    'castle' is the stately home 3 times, the fortress once, so no 'palace' for a castle."""
    if wordnet.is_person(chosen):
        return True  # WordNet splits people finely (a girl: a child, a young woman, a daughter); a person stays one
    word = class_name.strip().lower().replace(" ", "_")
    return all(wordnet.used_as(word, chosen) >= DOMINANCE * wordnet.used_as(word, other)
               for other in wordnet.noun_synsets(class_name) if other != chosen and other.lexname() == chosen.lexname())


def _head_alone(lemma, class_name: str) -> bool:
    """The class name without its modifier ('glove' for 'baseball glove', 'bonnet' for 'poke bonnet', 'bars'
    for 'parallel bars') where that word also names something else: said alone it is the wider thing or
    another one, whatever WordNet files under the kind. A word that names nothing else stays ('mower')."""
    words = class_name.strip().lower().split()
    return (len(words) > 1 and _squash(lemma.name()) == _squash(words[-1])
            and len(wordnet.reader().synsets(lemma.name(), "n")) > 1)


def _rare_tail(lemma, class_name: str) -> bool:
    """The end of a one-word class name clipped off ('berg' for iceberg, 'vane' for weathervane, 'drawers'
    for underdrawers) where that word also names something else: said alone it reads as the other thing
    unless it is an everyday word ('plane' for airplane). Words with one sense stay ('gator', 'slaw')."""
    whole, word = _squash(class_name), _squash(lemma.name())
    return (" " not in class_name.strip() and whole.endswith(word) and whole != word
            and len(wordnet.reader().synsets(lemma.name(), "n")) > 1
            and commonness.zipf(wordnet.readable(lemma.name())) < commonness.OTHER_WORD_ZIPF)


DOMINANCE = wordnet.DOMINANCE  # a synonym's sense is used this many times as often as its next of the same kind


def _dominant(lemma, chosen) -> bool:
    """The word means this sense first ('toad' is a toad first, 'cardigan' a sweater), and clearly: WordNet's
    tagged texts use it DOMINANCE times as often here as in another sense of the same kind ('castle': the
    stately home 3, the fortress 1), and at least DOMINANCE times when this is an animal or a plant and the
    other sense a kin of it: their common names wander between related species ('panther', used twice for
    the jaguar, is also the cougar and the black leopard)."""
    senses = wordnet.reader().synsets(lemma.name(), "n")
    if senses[:1] != [chosen]:
        return False
    count = {s: wordnet.used_as(lemma.name(), s) for s in senses}
    natural = chosen.lexname() in ("noun.animal", "noun.plant")
    return all(count[chosen] >= DOMINANCE * max(count[s], natural and wordnet.closeness(s, chosen) > 0)
               for s in senses[1:] if s.lexname() == chosen.lexname())


def _names_above(lemma, chosen, heads: set[str]) -> bool:
    """A phrase whose last word, other than the class name's, names a category above the sense in its
    first meaning ('railroad terminal' for a railway station, 'young woman' for a girl)."""
    head = lemma.name().rsplit("_", 1)[-1]
    if "_" not in lemma.name() or _squash(head) in heads:
        return False
    first = wordnet.reader().synsets(head, "n")[:1]
    return bool(first) and first[0] in wordnet.hypernyms_by_distance(chosen)


def broader_names(class_name: str, chosen, others: tuple = ()) -> list[tuple[str, str]]:
    """Everyday categories above the chosen sense, nearest first, at most MAX_BROADER (the nearest is the
    surest; higher ones drift to 'nutrition', 'implement'): a hypernym's headword that is common
    (`commonness.everyday`: 'dog', 'sandwich', 'animal'; not 'canine', 'placental', 'conveyance'),
    so it fits every photo of the class, and above no other class's sense in `others` ('dog' is no name
    for a beagle among other breeds: it fits them all). A place or building gets none (`wordnet.place`),
    and so does a class whose sense is a guess (`_sure_sense`). Fewer, surer: see `_category_word`."""
    own = _own_words(class_name)
    shared = {a for other in others for a in wordnet.hypernyms_by_distance(other)}
    out: list[tuple[str, str]] = []
    if wordnet.place(chosen) or not _sure_sense(class_name, chosen, others):
        return out  # see `wordnet.place`
    above_all = wordnet.hypernyms_by_distance(chosen)
    # from a grouping WordNet defines only by a genus up, the categories are a botanist's ('viola', 'herb')
    above_all = above_all[:next((i for i, a in enumerate(above_all) if wordnet.genus_gloss(a)), None)]
    allowed = [a for a in above_all if a not in shared and not wordnet.vague(a) and not wordnet.jargon(a)]
    for above in allowed:
        lemma = _category_word(class_name, chosen, above, own)
        if lemma is not None and _another_thing_first(lemma):
            break  # the nearest everyday category is not what its word says; one further up is too far off
        if lemma is not None:
            out.append((_spoken(lemma), above.definition()))
        if len(out) == MAX_BROADER:
            break
    return out


def _sure_sense(class_name: str, chosen, others: tuple) -> bool:
    """A broader name says what the thing is, so the class's sense must be sure: the name's only candidate
    sense, the one WordNet's tagged texts use it in DOMINANCE times as often as any other, or one the set
    supports (it shares a category with at least half the other classes). A guess among equals gets none
    ('dolphin' the fish, 'nautilus' the submarine, in a set of 100 unrelated things). A person is no rival
    for a thing: beside things a class is never read as one (`wordnet.choose_senses`), so the dog is
    the only reading of 'dalmatian' (the other: a native of Dalmatia)."""
    candidates = wordnet.senses_of(class_name)
    if len(candidates) <= 1:
        return True
    word = class_name.lower().replace(" ", "_")
    rivals = [wordnet.synset(c.id) for c in candidates if c.id != chosen.name()
              and (wordnet.is_person(chosen) or not wordnet.is_person(wordnet.synset(c.id)))]
    if not rivals or wordnet.used_as(word, chosen) > 0 and all(
            wordnet.used_as(word, chosen) >= DOMINANCE * wordnet.used_as(word, r) for r in rivals):
        return True
    return 2 * sum(1 for other in others if wordnet.closeness(chosen, other)) >= len(others) > 0


def _category_word(class_name: str, chosen, above, own: frozenset[str]):
    """The category's word for a broader name, or None. Only its headword: WordNet lists a sense's usual
    word first, and a later one is often another thing's name first ('claw' for an anchor's category,
    'bush' for the shrub). A made thing's category (an artifact's, the nearest too; a prepared food's
    nearest: see `wordnet.made`) must be named in the class's own gloss or name: WordNet files made things
    by function and mechanism, and their categories are often not what a person calls the thing ('lever'
    for scissors, 'holder' for a menorah, 'ware' for a cup, 'stereo' for an iPod, 'lamp' for a candle, 'bun'
    for a bagel, which its gloss calls a roll); a food's higher categories are broad enough to fit (a sorbet
    is still a 'dessert'; see `_called`). A phrase WordNet's tagged texts never use is none: some
    read as a person's ('passenger ship'), others as a lexicographer's ('sea boat', 'straight chair', 'bass
    horn', 'wall unit'), and nothing tells them apart; the next category up may take its place ('boat').
    A made thing's category must be an everyday word outright (`commonness.everyday` without its tagged
    texts' allowance): the rarer words for them are a trade's ('blower', 'pendulum'), while the rarer
    words for animals and plants are a schoolbook's ('reptile', 'ape')."""
    lemma = above.lemmas()[0]
    if not (_usable(lemma, above, own) and commonness.everyday(lemma, tagged=not wordnet.made(above))
            and _means_first(lemma)
            and not wordnet.label_phrase(lemma, wordnet.is_person(above))):
        return None
    word = wordnet.readable(lemma.name()).lower()
    named = wordnet.artifact(chosen) or above in chosen.hypernyms() + chosen.instance_hypernyms()
    if wordnet.made(chosen) and named and not _called(word, class_name, chosen):
        return None
    if "_" in lemma.name() and lemma.count() == 0:
        return None
    return lemma


def _called(word: str, class_name: str, chosen) -> bool:
    """The class is said to be a `word`: by its name or gloss, or by the words of a direct category its
    gloss names, as a word or a word's end ('a mobile radiotelephone', also 'wireless telephone': a
    telephone), by a word that means that category among its first two senses ('a woman's very brief bathing
    suit': a swimsuit; not 'a doughnut-shaped roll', since 'roll' is a turn or a list first, so no 'bun' for a
    bagel). Not by that category's own gloss: a moped is 'a motorbike', 'a small motorcycle', but no
    motorcycle to a person."""
    gloss = chosen.definition().lower()
    if re.search(rf"\b{re.escape(word)}", f"{class_name.lower()} | {gloss}"):
        return True
    for above in chosen.hypernyms() + chosen.instance_hypernyms():
        words = [wordnet.readable(lem.name()).lower() for lem in above.lemmas()]
        said = [lem for lem in above.lemmas() if above in wordnet.reader().synsets(lem.name(), "n")[:2]
                and re.search(rf"\b{re.escape(wordnet.readable(lem.name()).lower())}", gloss)]
        if said and any(_squash(w).endswith(_squash(word)) for w in words):
            return True
    return False


def _means_first(lemma) -> bool:
    """A category word a person hears in this sense: its first sense, or one WordNet's tagged texts use it
    in ('vessel' the ship; not 'fixing' the fastener, 'paw' the hand), unless they use it DOMINANCE times as
    often for another kind of thing ('brass' the alloy 11 times, the instrument 2: no 'brass' for a euphonium)."""
    senses = wordnet.reader().synsets(lemma.name(), "n")
    if senses[:1] == [lemma.synset()]:
        return True
    used = lemma.count()
    return used > 0 and not any(other.lexname() != lemma.synset().lexname()
                                and wordnet.used_as(lemma.name(), other) >= DOMINANCE * used for other in senses)


def _another_thing_first(lemma) -> bool:
    """Said alone, the category's word names another thing of the same kind, its first sense, at least as
    often: 'car' is an automobile before a railway car, 'belt' a drive belt as often as the one worn (no
    'belt' for a seat belt), 'shelter' a building before a bird's shelter."""
    first = wordnet.reader().synsets(lemma.name(), "n")[:1]
    return bool(first) and first[0] != lemma.synset() and first[0].lexname() == lemma.synset().lexname() and (
        wordnet.used_as(lemma.name(), first[0]) >= lemma.count())


def kind_names(class_name: str, chosen, others: tuple = ()) -> list[tuple[str, str]]:
    """Familiar kinds of the chosen sense (hyponyms, nearest and most used first), at most MAX_KINDS.
    Kinds of the past (extinct, ancient) and wild kinds of a sense with a domestic kind are left out with
    everything under them, and so are insults, ways of calling someone ('guy', 'sir'), people sorted by
    race ('white man') and people (unless the class is about people), and a kind that is another class's
    sense (no 'moving staircase' under stairway beside an escalator class: it names that class's photos).
    A body part gets none: its kinds judge someone's body ('pudding face', 'potbelly', 'hooknose'), and
    WordNet marks none of them; nor does a class whose sense is a guess (`_sure_sense`): the kinds of a
    wrong sense are all wrong (sunlight and moonlight for a lamp's 'light', air bases for a stand's 'base')."""
    if chosen.lexname() == "noun.body" or not _sure_sense(class_name, chosen, others):
        return []
    own = _own_words(class_name)
    heads = {_squash(class_name.rsplit(" ", 1)[-1])} | {_squash(lem.name().rsplit("_", 1)[-1])
                                                        for lem in chosen.lemmas() if _usable(lem, chosen, own)}
    out: list[tuple[str, str]] = []
    skip = wordnet.wild_kinds(chosen)
    level = [chosen]
    while level and len(out) < MAX_KINDS:
        level = sorted((h for s in level for h in s.hyponyms()  # `~` only: no instances, no members
                        if h not in skip and h not in others and not wordnet.past_kind(h) and not wordnet.insult(h)
                        and not wordnet.term_of_address(h) and not wordnet.race_kind(h)
                        and (not wordnet.is_person(h) or wordnet.is_person(chosen))),
                       key=_kind_order)
        for kind in level:
            lemma = None if wordnet.high_taxon(kind) else _kind_name(kind, chosen, heads, own)
            if (lemma is not None and len(out) < MAX_KINDS and _plain_words(lemma, own | heads)
                    and _squash(lemma.name()) not in {_squash(n) for n, _ in out}):
                out.append((_spoken(lemma), kind.definition()))
    return out


def _plain_words(lemma, own) -> bool:
    """Every word of a kind's name that is not the class's own is a word people use (wordfreq): not
    'gallinaceous bird', 'ornithischian dinosaur', 'arrowworm'."""
    words = re.split(r"[_-]", lemma.name().lower())
    return all(w in own or commonness.zipf(w) >= commonness.KIND_WORD_ZIPF for w in words)


_RELATED = {"synonym": synonym_names, "broader": broader_names, "kind": kind_names}


@dataclass(frozen=True)
class Scheme:
    """A way to generate names: the relations it adds, in order, and one line for users."""

    name: str
    relations: tuple[str, ...]
    summary: str

    @property
    def equivalent(self) -> bool:
        """Only names of the same thing (what semscale measures), or also other relations."""
        return set(self.relations) <= EQUIVALENT


REGISTRY = {scheme.name: scheme for scheme in (
    Scheme("paper", ("plural", "modifier"), "the authors' 12 names: C, Cs, large/small/medium/D/tiny C and Cs"),
    Scheme("synonyms", ("synonym",), "other words for the same thing (WordNet synonyms that are common "
                                     "and plain); a class with none keeps its own name"),
    Scheme("broader", ("broader",), "everyday categories above the class ('dog' for beagle): NOT equivalent names"),
    Scheme("kinds", ("kind",), "subtypes of the class, CHiLS-style ('tabby' for cat): NOT equivalent names"),
    Scheme("wordnet", ("synonym", "kind"), "the former WordNet scheme, kept for old commands: synonyms, then "
                                          "kinds (NOT equivalent names); use 'synonyms' for names of the same thing"),
)}
SCHEMES = tuple(REGISTRY)


def related_names(class_name: str, chosen, relations: tuple[str, ...],
                  others: tuple = ()) -> list[tuple[str, str, str]]:
    """(name, relation, gloss) for a class: its own name, then each relation's names in order, at most
    MAX_WORDNET_NAMES, a name said twice kept once (at its first relation). `others`: the other classes'
    senses (a broader name must not fit them)."""
    out = [(class_name, "name", chosen.definition())]
    keys = {name_key(class_name)}
    for relation in relations:
        for name, gloss in _RELATED[relation](class_name, chosen, others):
            if len(out) < MAX_WORDNET_NAMES and name_key(name) not in keys:
                out.append((name, relation, gloss))
                keys.add(name_key(name))
    return out


def wordnet_names(class_name: str, chosen) -> list[str]:
    """The former WordNet scheme's names (synonyms, then kinds), for callers that want names only."""
    return [name for name, _, _ in related_names(class_name, chosen, REGISTRY["wordnet"].relations)]


@dataclass(frozen=True)
class Generated:
    """A generated label set (keys = class keys) with what a reader needs to trust it: for each class and
    name its relation to the class (`relations`) and the WordNet gloss it came from (`glosses`)."""

    labels: LabelSet
    notes: list[str] = field(default_factory=list)
    senses: dict[str, wordnet.Sense] = field(default_factory=dict)
    domain: str | None = None
    display: dict[str, str] = field(default_factory=dict)
    relations: dict[str, dict[str, str]] = field(default_factory=dict)
    glosses: dict[str, dict[str, str]] = field(default_factory=dict)
    domain_note: str | None = None  # the paper scheme's domain word and why (or why none): shown before a run


def paper_relation(position: int) -> str:
    """The relation of the paper scheme's name at `position` (0-based): C, Cs, then modifiers."""
    return ("name", "plural")[position] if position < 2 else "modifier"


def _paper(classes, display, chosen, domain, notes, relations) -> dict[str, list[tuple[str, str, str]]]:
    """`chosen` is None without WordNet: plurals by inflect alone, and no word on senses."""
    same = [display[c] for c in classes if plural(display[c], chosen is not None) == display[c]]
    if same:
        notes.append(f"{', '.join(repr(s) for s in same)}: already plural, so each plural name repeats the "
                     "name before it; the repeats are kept, as the authors did, so every class has the same "
                     "number of names")
    for c in classes:
        if chosen is not None and chosen.get(c) is None:
            notes.append(f"WordNet does not know {display[c]!r}: its names are built from the name alone")
    return {c: [(n, paper_relation(i), "") for i, n in enumerate(paper_names(display[c], domain, chosen is not None))]
            for c in classes}


def _related(classes, display, chosen, domain, notes, relations) -> dict[str, list[tuple[str, str, str]]]:
    """WordNet names by relation; a class WordNet does not know, or whose senses do not fit beside the
    other classes, keeps only its own name, and so does every class of a list WordNet mostly does not know."""
    if wordnet.mostly_unknown(chosen):
        known = sum(s is not None for s in chosen.values())
        notes.append(f"WordNet knows only {known} of the {len(chosen)} classes: the words it knows may be other "
                     "things of the same name, so every class keeps only its own name")
        return {c: [(display[c], "name", "")] for c in classes}
    astray, unsure = wordnet.unsupported(chosen), wordnet.doubtful({c: display[c] for c in chosen}, chosen)
    for c in classes:
        if chosen.get(c) is None:
            notes.append(f"WordNet does not know {display[c]!r} (as a physical thing): it keeps only its own name")
        elif c in unsure and c not in astray:
            notes.append(f"{display[c]!r}: its usual WordNet sense ({chosen[c].name()}) shares no category with the "
                         f"other classes, a rarer one ({unsure[c].name()}) shares one with few: unsure which is "
                         "meant, it keeps only its own name")
        elif c in astray:
            notes.append(f"no WordNet sense of {display[c]!r} fits beside the other classes (the nearest, "
                         f"{chosen[c].name()}, shares no category with them): it keeps only its own name")
    senses = {c: chosen[c] for c in classes if chosen.get(c) is not None and c not in astray and c not in unsure}
    return {c: related_names(display[c], senses[c], relations, tuple(s for k, s in senses.items() if k != c))
            if c in senses else [(display[c], "name", "")] for c in classes}


_BUILDERS = {"paper": _paper}  # every other scheme builds its relations from WordNet with `_related`


def _generated(raw, classes, scheme, notes, senses, domain, shown, domain_note=None) -> Generated:
    """Clean the (name, relation, gloss) table into a Generated, each kept name with its relation and gloss."""
    labels = LabelSet.clean({c: [n for n, _, _ in rows] for c, rows in raw.items()}, classes,
                            keep_repeats=scheme == "paper",
                            relations={c: [r for _, r, _ in rows] for c, rows in raw.items()})
    relations = {c: {n: r for n, r, _ in reversed(rows)} for c, rows in raw.items()}
    glosses = {c: {n: g for n, _, g in reversed(rows) if g} for c, rows in raw.items()}
    kept = {c: set(names) for c, names in labels.names.items()}
    notes.extend(labels.warnings)
    return Generated(labels, notes, senses, domain, shown,
                     {c: {n: r for n, r in relations[c].items() if n in kept[c]} for c in classes},
                     {c: {n: g for n, g in glosses[c].items() if n in kept[c]} for c in classes}, domain_note)


def generate(classes: list[str], scheme: str, *, display: dict[str, str] | None = None,
             domain: str | None = None, senses: dict[str, str] | None = None,
             progress: Callable[[float], None] | None = None) -> Generated:
    """Names for `classes` (keys) by `scheme` (see REGISTRY), from display names (defaults: `classnames`),
    WordNet senses chosen for the whole set (`senses` pins some: class -> sense id) and, for the paper
    scheme, a domain word (default: an everyday word every class's sense falls under, see
    `wordnet.domain_word`). WordNet is fetched first where the machine has none (`progress` follows the
    download); the paper scheme also works without it, from the names alone."""
    if scheme not in REGISTRY:
        raise SemscaleError(f"unknown name scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    relations = REGISTRY[scheme].relations
    build = _BUILDERS.get(scheme, _related)
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
        return _generated(build(classes, shown, None, domain, notes, relations), classes, scheme, notes, {},
                          domain, shown, _domain_note(domain, "as given" if domain else "WordNet is missing"))
    shown, _ = classnames.display_names(classes)
    shown.update({c: normalize_name(v) for c, v in (display or {}).items() if c in shown and normalize_name(v)})
    chosen = wordnet.choose_senses(shown, senses)
    domain_note = None
    if scheme == "paper":
        reason = "as given"
        if domain is None:
            domain, reason = wordnet.domain_word([s for s in chosen.values() if s is not None], len(classes))
        domain_note = _domain_note(domain, reason)
        notes.append(domain_note)
    raw = build(classes, shown, chosen, domain, notes, relations)
    return _generated(raw, classes, scheme, notes, {c: wordnet.sense(s) for c, s in chosen.items() if s is not None},
                      domain if scheme == "paper" else None, shown, domain_note)


def _domain_note(domain: str | None, reason: str) -> str:
    """The paper scheme's domain word with its reason, or why there is none and what that leaves out."""
    return (f"domain word D: {domain!r}, {reason}" if domain else
            f"no domain word: {reason}; names 9-10 (D C, D Cs) are left out: give a domain word to add them")
