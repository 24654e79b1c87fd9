"""How common and how plain a word is: wordfreq's Zipf frequency (its data ships in its wheel, nothing is
downloaded) beside WordNet's own marks of register (slang, colloquial, regional, trademark).

Zipf is log10 of a word's frequency per billion words: 'dog' 5.3, 'automobile' 3.9, 'mammal' 3.3,
'placental' 2.6, 'dolphinfish' 0. A phrase's Zipf comes from its words, so one rare word sinks it.
"""

from __future__ import annotations

from functools import lru_cache

# Floors by relation (see `synonyms`): a synonym or a kind may be a less common word than a broader
# category, which must be an everyday word ('mammal' passes, 'vertebrate' and 'carnivore' do not).
SYNONYM_ZIPF, KIND_ZIPF, BROADER_ZIPF = 2.5, 2.5, 3.5
# A synonym that is another word, not a short form or spelling of the class name, must be an everyday word
# ('infant', 'auto'; not 'serpent' 3.46, 'toad' 3.34 for frog, 'infield', 'seaport'). A category word
# between TAGGED_ZIPF and BROADER_ZIPF is everyday when WordNet's tagged texts use it in this sense
# ('reptile', 'mammal'; not 'canine', 'rodent', 'feline').
OTHER_WORD_ZIPF, TAGGED_ZIPF = 3.5, 3.2
KIND_WORD_ZIPF, EVERYDAY_WORD_ZIPF = 2.0, 4.0  # each word of a kind's name ('requiem shark' passes, 'gallinaceous
# bird' does not); each word of a two-word category ('big cat' passes, 'vascular plant' does not)
# WordNet usage and region marks of a word or sense that a lay labeller would not use for a photo.
MARKED_USAGE = frozenset({"slang", "colloquialism", "trademark", "archaism", "euphemism", "baby talk",
                          "dysphemism", "disparagement", "ethnic slur", "obscenity", "vulgarism", "jargon"})


@lru_cache(maxsize=50000)
def zipf(text: str) -> float:
    """wordfreq's Zipf frequency of a word in English (0 for a word it has never seen). For a phrase
    wordfreq combines its words' frequencies, which says nothing of the phrase ('funny wagon' 3.9): see
    `common`."""
    from wordfreq import zipf_frequency

    return zipf_frequency(text, "en")


def marked(lemma) -> bool:
    """A WordNet word, or its sense, marked slang, colloquial, archaic, a trademark..., or regional
    ('chips' is British for French fries, 'mahimahi' Hawaiian)."""
    names, regional = set(), bool(lemma.region_domains() or lemma.synset().region_domains())
    for domain in (*lemma.usage_domains(), *lemma.synset().usage_domains()):
        synset = domain.synset() if hasattr(domain, "synset") else domain  # a word's marks are words
        names |= {lem.name().lower().replace("_", " ") for lem in synset.lemmas()}
        regional |= synset.lexname() == "noun.location"  # nltk files a word's region ('Britain') as usage
    return bool(names & MARKED_USAGE) or regional


def common(lemma, floor: float, said: str | None = None) -> bool:
    """A word a lay labeller would use: unmarked (see `marked`), and a single word at least `floor` on
    wordfreq's scale (as `said`, where WordNet files it otherwise: 'trousers', not 'trouser'), or a phrase
    (or hyphenated word) that WordNet's tagged texts use in this sense; a category (`floor` >= BROADER_ZIPF)
    may also be two everyday words ('big cat', not 'edible fruit')."""
    text = said or lemma.name().replace("_", " ")
    if marked(lemma):
        return False
    if " " in text or "-" in text:
        words = text.split(" ")
        return lemma.count() > 0 or (floor >= BROADER_ZIPF and len(words) == 2
                                     and all(zipf(w) >= EVERYDAY_WORD_ZIPF for w in words))
    return zipf(text) >= floor


def everyday(lemma, tagged: bool = True) -> bool:
    """A word for a category a person uses (a broader name, a domain word): `common` at BROADER_ZIPF, or
    (with `tagged`) a single unmarked word at least TAGGED_ZIPF that WordNet's tagged texts use in this
    sense ('reptile')."""
    text = lemma.name().replace("_", " ")
    return common(lemma, BROADER_ZIPF) or (tagged and " " not in text and "-" not in text and not marked(lemma)
                                           and lemma.count() > 0 and zipf(text) >= TAGGED_ZIPF)
