"""WordNet nouns through nltk's `WordNetCorpusReader`, from whichever copy the machine has.

WordNet is looked for in `SEMSCALE_WORDNET_DIR`, in nltk's own data folders (`NLTK_DATA`, ~/nltk_data and
the rest of `nltk.data.path`, where `python -m nltk.downloader wordnet` puts it), in semscale's data home
(where `fetch` puts it) and in Debian's `wordnet-base` folders. Where names must be generated and no copy
is found, `fetch` gets it once with nltk's downloader. nltk reads only from its data roots and needs a
`lexnames` file Debian does not ship, so the first use copies the database files (27 MB) out of the copy
found (a folder or nltk's wordnet.zip) into a private folder under `paths.data_home()`, with the standard
`lexnames` table, and registers that folder as an nltk data root. The private copy is keyed by the source's
sizes and times, so an upgraded database is copied anew.

Besides the reader, this module holds the judgements every generated name depends on: which senses a
class word may take (physical things, never an insult, people only in a set about people), which sense
fits the dataset, and the domain word the classes share.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import shutil
import tempfile
import threading
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

from semscale.core import paths
from semscale.core.errors import SemscaleError

DEFAULT_DIRS = ("/usr/share/wordnet", "/usr/local/share/wordnet", "/usr/share/wordnet/dict")
_FILES = tuple(f"{kind}.{pos}" for kind in ("data", "index") for pos in ("noun", "verb", "adj", "adv")) + tuple(
    f"{pos}.exc" for pos in ("noun", "verb", "adj", "adv")) + ("cntlist.rev",)
# WordNet 3.0's lexicographer files, in lex_filenum order (the `lexnames` file of the Princeton release).
_LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
    "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location noun.motive "
    "noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process noun.quantity "
    "noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change verb.cognition "
    "verb.communication verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
_SYNTACTIC_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}

PHYSICAL, ARTIFACT = "physical_entity.n.01", "artifact.n.01"
# Usage domains (or, for 'dysphemism', a hypernym) that mark a sense (or one of its words) as an insult,
# vulgar or slang.
OFFENSIVE_DOMAINS = frozenset({"ethnic_slur.n.01", "disparagement.n.01", "obscenity.n.02", "vulgarism.n.01",
                               "slang.n.02", "derogation.n.01", "dysphemism.n.01"})
OFFENSIVE_GLOSS = ("offensive", "disparaging", "slur", "derogatory", "obscene", "vulgar", "contemptuous")
# Words that begin with one of those ('contemptuously'; not 'inoffensive', 'counteroffensive'), 'offensive' not in
# its senses of attack or smell ('the offensive team', 'an offensive odor'): what marks a gloss as a term of abuse.
OFFENSIVE_GLOSS_RE = re.compile(
    r"\b(?!offensive\s+(team|play|player|odor|odour|smell|back|end|line|lineman|tackle|guard|military|operation|"
    r"move|formation|against)\b)(" + "|".join(OFFENSIVE_GLOSS) + r")")
DOMINANCE = 4  # a word used this many times as often in one sense as in another means the first, whatever the set
# Hypernyms too general to say two classes belong together, or to serve as a domain word.
GENERIC = frozenset({"entity.n.01", "physical_entity.n.01", "object.n.01", "whole.n.02", "artifact.n.01",
                     "instrumentality.n.03", "living_thing.n.01", "organism.n.01", "matter.n.03",
                     "substance.n.01", "substance.n.07", "causal_agent.n.01", "natural_object.n.01",
                     "thing.n.12", "part.n.02", "unit.n.05", "abstraction.n.06", "container.n.01",
                     "structure.n.01", "commodity.n.01", "consumer_goods.n.01", "covering.n.02", "material.n.01",
                     "solid.n.01", "fluid.n.01"})


# `SEMSCALE_WORDNET_HIDE_SYSTEM=1` looks only in SEMSCALE_WORDNET_DIR, NLTK_DATA and semscale's data home:
# what a machine without Debian's package or a shared nltk folder has (used by the tests).
HIDE_SYSTEM = "SEMSCALE_WORDNET_HIDE_SYSTEM"
# Seconds the download index may take to answer before semscale calls the machine offline, and the
# longest pause in the download after that.
FETCH_DEADLINE, FETCH_STALL = 5.0, 60.0
WAYS_OUT = ("get it with `python -m nltk.downloader wordnet` (Debian/Ubuntu: `sudo apt-get install wordnet-base`), "
            "or point SEMSCALE_WORDNET_DIR at a folder with index.noun and data.noun")


_IMPORT_LOCK = threading.Lock()


def _import_nltk() -> None:
    """Import the nltk modules semscale uses, one thread at a time: the dashboard's background WordNet load
    and a page generating names imported nltk at the same moment, and one got a half-initialized module
    ("cannot import name 'load' from partially initialized module 'nltk.data'")."""
    with _IMPORT_LOCK:
        import nltk.corpus.reader.wordnet  # noqa: F401
        import nltk.data  # noqa: F401
        import nltk.downloader  # noqa: F401


def _own_root() -> Path:
    """The nltk data root `fetch` downloads into (and the private reader copies live under)."""
    return paths.data_home() / "nltk_data"


def _nltk_roots() -> list[Path]:
    """nltk data roots to search: NLTK_DATA's, semscale's own, then (unless hidden) nltk's defaults."""
    roots = [Path(p) for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p] + [_own_root()]
    if os.environ.get(HIDE_SYSTEM) != "1":
        _import_nltk()
        import nltk.data

        roots += [Path(p) for p in nltk.data.path]
    return list(dict.fromkeys(roots))


def find() -> Path | None:
    """The WordNet copy to read: a folder holding index.noun, or nltk's `corpora/wordnet.zip`; None if none."""
    env = os.environ.get("SEMSCALE_WORDNET_DIR")
    candidates = [Path(env)] if env else []
    for root in _nltk_roots():
        candidates += [root / "corpora" / "wordnet", root / "corpora" / "wordnet.zip"]
    if os.environ.get(HIDE_SYSTEM) != "1":
        candidates += [Path(d) for d in DEFAULT_DIRS]
    return next((c for c in candidates if (c / "index.noun").is_file() or (c.suffix == ".zip" and c.is_file())),
                None)


def wordnet_dir() -> Path:
    """The WordNet copy `find` gives, or one line that names the ways to get one."""
    found = find()
    if found is None:
        raise SemscaleError(f"WordNet data not found; {WAYS_OUT}")
    return found


def fetch(progress: Callable[[float], None] | None = None) -> Path:
    """Download WordNet once with nltk's downloader into semscale's data home (`NLTK_DOWNLOAD_URL`, as
    for nltk's own downloader, names a mirror's index); `progress` gets the fraction done. Offline, one
    line within FETCH_DEADLINE seconds names the ways out."""
    _import_nltk()
    _own_root().mkdir(parents=True, exist_ok=True)
    _follow(_download_in_background(), progress)
    found = find()
    if found is not None and progress is not None:
        progress(1.0)
    if found is None:
        raise SemscaleError(f"WordNet was fetched but {_own_root()} holds no corpora/wordnet; {WAYS_OUT}")
    return found


def _download_in_background() -> queue.Queue:
    """nltk's downloader fetching WordNet in a daemon thread, which puts each of its messages on the queue
    it returns, then None."""
    from nltk.downloader import Downloader, ErrorMessage

    messages: queue.Queue = queue.Queue()

    def download() -> None:
        try:
            for message in Downloader(server_index_url=os.environ.get("NLTK_DOWNLOAD_URL") or None).incr_download(
                    "wordnet", str(_own_root())):
                messages.put(message)
        except Exception as exc:  # noqa: BLE001 - nltk raises many kinds; each ends the fetch with one line
            messages.put(ErrorMessage(None, exc))
        messages.put(None)

    threading.Thread(target=download, daemon=True, name="wordnet fetch").start()
    return messages


def _follow(messages: queue.Queue, progress: Callable[[float], None] | None) -> None:
    """Wait for the download's end, passing its progress on; one line when it fails, is silent for
    FETCH_DEADLINE seconds at first or stalls for FETCH_STALL seconds later."""
    from nltk.downloader import ErrorMessage, ProgressMessage

    wait = FETCH_DEADLINE
    while True:
        try:
            message = messages.get(timeout=wait)
        except queue.Empty:
            raise SemscaleError(f"WordNet data not found, and fetching it got no answer in {wait:.0f} s "
                                f"(offline?); {WAYS_OUT}") from None
        wait = FETCH_STALL
        if message is None:
            return
        if isinstance(message, ErrorMessage):
            reason = " ".join(str(message.message).split())[:200]
            raise SemscaleError(f"WordNet data not found, and fetching it failed ({reason}); {WAYS_OUT}")
        if isinstance(message, ProgressMessage) and progress is not None:
            progress(message.progress / 100)

def ensure(progress: Callable[[float], None] | None = None) -> Path:
    """The WordNet copy to read, fetched first if the machine has none (see `fetch`)."""
    return find() or fetch(progress)


_WANTED = _FILES + ("lexnames",)


def _database_names(source: Path) -> dict[str, str]:
    """File name -> where it lies in `source`: a folder's files, or the members of nltk's zip under `wordnet/`."""
    if source.suffix != ".zip":
        return {name: name for name in _WANTED if (source / name).is_file()}
    with zipfile.ZipFile(source) as archive:
        return {PurePosixPath(m).name: m for m in archive.namelist()
                if PurePosixPath(m).parent.name == "wordnet" and PurePosixPath(m).name in _WANTED}


def _copy_database(source: Path, names: dict[str, str], into: Path) -> None:
    if source.suffix != ".zip":
        for name, where in names.items():
            shutil.copyfile(source / where, into / name)
        return
    with zipfile.ZipFile(source) as archive:
        for name, where in names.items():
            with archive.open(where) as src, open(into / name, "wb") as dst:
                shutil.copyfileobj(src, dst)


def _reader_folder(source: Path) -> Path:
    """A private copy of `source`'s database plus `lexnames`, where nltk agrees to read it (made once)."""
    names = _database_names(source)
    stats = [source.stat()] if source.suffix == ".zip" else [(source / n).stat() for n in sorted(names)]
    listing = source.name if source.suffix == ".zip" else sorted(names)
    key = repr([listing] + [(s.st_size, s.st_mtime_ns) for s in stats])
    folder = _own_root() / "corpora" / f"wordnet-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if (folder / "lexnames").is_file():
        return folder
    if not {"index.noun", "data.noun"} <= names.keys():
        raise SemscaleError(f"{source} holds no WordNet database (index.noun, data.noun); {WAYS_OUT}")
    folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    _copy_database(source, names, staging)
    if "lexnames" not in names:
        (staging / "lexnames").write_text(
            "".join(f"{i:02d}\t{name}\t{_SYNTACTIC_CATEGORY[name.split('.')[0]]}\n"
                    for i, name in enumerate(_LEXNAMES)), encoding="ascii")
    try:
        staging.rename(folder)
    except OSError:  # another process finished the same copy first
        shutil.rmtree(staging, ignore_errors=True)
    return folder


_READER_LOCK = threading.Lock()


def reader():
    """One nltk WordNet reader per process, loaded once even when many sessions ask at the same
    moment (each would load its own: about 1.4 s alone, 6 at once took 8.9 s on 2 cores), and safe
    to share between their threads."""
    if _load_reader.cache_info().currsize:  # loaded: every session's read goes on without the lock
        return _load_reader()
    with _READER_LOCK:
        return _load_reader()


@lru_cache(maxsize=1)
def _load_reader():
    _import_nltk()
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class Reader(WordNetCorpusReader):
        lock = threading.RLock()  # a satellite adjective reads its head synset inside the read

        def map_wn(self, version="wordnet"):
            return None  # the database is WordNet 3.0 itself: no mapping to another version to load

        def synset_from_pos_and_offset(self, pos, offset):
            """nltk seeks a shared file handle and reads a line; two sessions' threads interleaving
            there read each other's lines (garbled-line errors, or None for a sense that exists)."""
            with self.lock:
                return super().synset_from_pos_and_offset(pos, offset)

    folder = _reader_folder(wordnet_dir())
    root = str(folder.parent.parent)
    if root not in nltk.data.path:
        nltk.data.path.append(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available": not used here
        return Reader(str(folder), None)


@dataclass(frozen=True)
class Sense:
    """A WordNet noun sense as shown to a user: `id` like 'tiger.n.02', its head word and definition."""

    id: str
    lemma: str
    gloss: str


def sense(synset) -> Sense:
    return Sense(synset.name(), readable(synset.lemmas()[0].name()), synset.definition())


def synset(sense_id: str):
    """The synset behind a sense id; a clear error for an id WordNet does not have."""
    try:
        return reader().synset(sense_id)
    except Exception:
        raise SemscaleError(f"WordNet has no sense {sense_id!r}") from None


def readable(lemma: str) -> str:
    """WordNet joins words with '_' and marks some adjectives with '(a)'."""
    return lemma.split("(")[0].replace("_", " ")


def lookup_forms(name: str) -> list[str]:
    """Index spellings to try for a name: spaces as '_', hyphens kept, then hyphens as '_'."""
    base = name.strip().lower().replace(" ", "_")
    return list(dict.fromkeys([base, base.replace("-", "_"), base.replace("-", "")]))


def noun_synsets(name: str) -> list:
    """All noun senses of a name, most frequent first, with WordNet's morphology (plurals, exceptions)."""
    wn = reader()
    for form in lookup_forms(name):
        found = wn.synsets(form, "n")
        if found:
            return found
    return []


def is_lemma(word: str, pos: str = "n") -> bool:
    """True when `word` itself, spelled so (spaces as '_'), not a base form of it, is in WordNet's index."""
    return pos in reader()._lemma_pos_offset_map.get(word.strip().lower().replace(" ", "_"), {})


def base_forms(word: str) -> list[str]:
    """WordNet's noun base forms of a word ('daisies' -> ['daisy']; 'clams' -> ['clams', 'clam'])."""
    return [f.replace("_", " ") for f in reader()._morphy(word.strip().lower().replace(" ", "_"), "n")]


def latin_name(text: str) -> bool:
    """A genus-species name ('Panthera tigris'): a capitalised genus, then a word English does not have."""
    words = text.split(" ")
    if len(words) != 2 or not words[0][:1].isupper() or not words[1].islower():
        return False
    genus = any(lem.name().lower() == f"genus_{words[0].lower()}"
                for s in reader().synsets(words[0], "n") for lem in s.lemmas())
    return genus or not any(is_lemma(words[1], pos) for pos in ("n", "v", "a", "s", "r"))


def offensive(synset) -> bool:
    """An insult, slur, vulgarism or slang sense: by usage domain (of the sense or a word) or gloss."""
    domains = {d.name() for d in synset.usage_domains()} | {h.name() for h in synset.hypernyms()}
    for lemma in synset.lemmas():
        domains |= {d.name() for d in lemma.usage_domains()}
    if domains & OFFENSIVE_DOMAINS:
        return True
    return OFFENSIVE_GLOSS_RE.search(synset.definition().lower()) is not None


# Glosses of a person sense (or of a thing's own sense: 'an inferior dog') that make the word a term of abuse.
PEJORATIVE_GLOSS = re.compile(
    r"\b(despicable|contemptible|reprehensible|stupid|fool|foolish|incompetent|obnoxious|uncomplimentary|"
    r"deceitful|treacherous|spiteful|greedy|coarse|worthless|unpleasant|unattractive|cowardly|wishy-washy|"
    r"dishonest|shifty|ruthless|disreputable|insulting|abusive|slovenly|nasty|idiot|inferior|disgrace|"
    r"reprobate|unprincipled|scoundrel|rascal|villain|wretch|lout|boor|oaf|dolt|simpleton|blockhead|halfwit|"
    r"moron|imbecile)\b", re.IGNORECASE)
# A word whose first sense is used this often in WordNet's tagged texts is that sense first ('dog', 'pig',
# 'snake'), not the insult its later senses record; a rarer word with an insult in any of its senses
# ('cur', 'hound', 'jackass'), or a phrase whose first sense is an epithet for a person ('black sheep':
# 'a reckless and unprincipled reprobate'), is not generated.
SALIENT_COUNT = 5


def insult(synset) -> bool:
    """An offensive sense (see `offensive`), a person sense whose gloss abuses, or a sense that is itself
    a sneer at the thing ('cur': 'an inferior dog')."""
    return offensive(synset) or bool(PEJORATIVE_GLOSS.search(synset.definition()))


@lru_cache(maxsize=50000)
def insult_word(word: str) -> bool:
    """A word or phrase that is an insult or vulgar in some sense: any offensive sense; an abusive sense
    among its first two, or an epithet for a person anywhere among its senses, not only the one a name came
    from (unless its first sense is far more used, see SALIENT_COUNT); or an abusive first sense ('black
    sheep'). A later sense that only describes a thing unkindly ('a harsh unpleasant taste') is no insult."""
    key = word.lower().replace(" ", "_")
    senses = reader().synsets(key, "n")
    if any(offensive(s) for s in senses):
        return True
    first = max((lem.count() for lem in senses[0].lemmas() if lem.name().lower() == key), default=0) if senses else 0
    abusive = any(insult(s) and (i < 2 or is_person(s)) for i, s in enumerate(senses))
    return abusive and (first < SALIENT_COUNT or insult(senses[0]))


def offensive_word(text: str, own: frozenset[str] = frozenset()) -> bool:
    """A name with a word that is an insult in some sense ('kaffir cat', 'jackass penguin'), or which is one
    as a whole ('cur'); the class's `own` words (lower case) are the user's choice and do not count."""
    words = [w for w in text.lower().split(" ") if w not in own]
    return (text.lower() not in own and insult_word(text)) or any(insult_word(w) for w in words)


# Glosses of kinds nobody photographs as the thing today: extinct animals, historical objects, fossils,
# and the thing's remains (a shipwreck is not a photo of a ship).
PAST_GLOSS = re.compile(r"\b(extinct|ancient|formerly|fossil|prehistoric|archaic|obsolete|historical|medieval|"
                        r"Middle Ages|(Eo|Oligo|Mio|Plio|Pleisto|Paleo)cene|wrecked|destroyed|abandoned|"
                        r"derelict|sunken)\b", re.IGNORECASE)


def past_kind(synset) -> bool:
    """A kind of the past or a ruin ('eohippus', 'kylix', 'hulk'): its gloss says extinct, ancient, wrecked..."""
    return bool(PAST_GLOSS.search(synset.definition()))


def taxon_word(lemma, own: frozenset[str] = frozenset()) -> bool:
    """A lemma built on a taxon's name ('nymphalid' from Nymphalidae, 'helianthus' the genus) or a
    taxonomist's 'true X': a biologist's term, not what a person calls a photo. A word in `own` (the
    class's own word) is no taxon's: 'bison' names the genus Bison too, yet 'American bison' is plain."""
    words = lemma.name().lower().split("_")
    if words[0] == "true" and len(words) > 1:
        return True
    taxa = {t.name().lower().split("_", 1)[-1] for h in lemma.synset().member_holonyms() for t in h.lemmas()}
    return any(len(w) >= 5 and w not in own and t.startswith(w) for w in words for t in taxa)


# Taxonomic ranks above an order: a kind that is a whole phylum or class ('nematode worm', 'segmented worm')
# is a zoologist's grouping, no kind a person names from a photo.
HIGH_RANKS = frozenset({"phylum.n.02", "subphylum.n.01", "superclass.n.01", "class.n.07", "subclass.n.01",
                        "division.n.08"})


def high_taxon(synset) -> bool:
    """The sense is a whole phylum or class (its member holonym is one: Nematoda, a phylum)."""
    return any(rank.name() in HIGH_RANKS for taxon in synset.member_holonyms() for rank in taxon.hypernyms())


def heard_as_thing(lemma) -> bool:
    """Said alone, the word names a thing first: this sense, another thing, or a measure one holds ('a
    teaspoon'), not an act, an idea or a state ('fixing' is a repair first, 'trial balloon' a test of
    opinion, 'white elephant' a costly burden, 'fishbowl' a life without privacy)."""
    first = reader().synsets(lemma.name(), "n")[:1]
    return not first or first[0] == lemma.synset() or physical(first[0]) or first[0].lexname() == "noun.quantity"


def wild_kinds(synset) -> set:
    """Hyponyms of a sense that has a domestic kind which live in the wild ('wildcat' beside 'domestic
    cat' under 'cat'): a photo of a cat is a house cat, not a lynx or a cougar."""
    kinds = synset.hyponyms()
    if not any(lem.name().lower().startswith("domestic_") or "domesticated" in h.definition()
               for h in kinds for lem in h.lemmas()):
        return set()
    return {h for h in kinds if any("wild" in lem.name().lower() for lem in h.lemmas())
            or re.search(r"\b(in the )?wild\b", h.definition())}


def physical(synset) -> bool:
    return any(s.name() == PHYSICAL for path in synset.hypernym_paths() for s in path)


def artifact(synset) -> bool:
    """A made thing or a category of them ('ware', 'article'): artifact.n.01 is the sense or above it."""
    return any(s.name() == ARTIFACT for path in synset.hypernym_paths() for s in path)


def made(synset) -> bool:
    """A made thing: an artifact, or a food that is not produce ('a bagel', 'meatloaf'; not 'a strawberry',
    which WordNet files, as it does animals and plants, by what it is rather than by what it is for)."""
    return artifact(synset) or synset.lexname() == "noun.food" and not any(
        a.name() == "produce.n.01" for path in synset.hypernym_paths() for a in path)


def is_person(synset) -> bool:
    return synset.lexname() == "noun.person"


def plural_form(synset) -> bool:
    """WordNet marks senses named by a plural-only noun ('pants', 'glasses', 'jeans') with usage 'plural'."""
    return any(d.name() == "plural.n.01" for d in synset.usage_domains())


def _candidates(name: str) -> list:
    """Physical, inoffensive noun senses. A named individual ('Crane' the poet, the constellation Grus)
    counts only when the word names nothing else, and never when it is a person ('Tesla')."""
    found = [s for s in noun_synsets(name) if physical(s) and not offensive(s)]
    if len(base_forms(name.split(" ")[-1])) > 1:
        # Senses of different spellings ('pants': the underwear; 'pant': the trousers) came together:
        # the more used sense first, by WordNet's usage counts.
        found.sort(key=lambda s: -sum(lem.count() for lem in s.lemmas()))
    kinds = [s for s in found if not s.instance_hypernyms()]
    return kinds or [s for s in found if not is_person(s)]


def senses_of(name: str) -> list[Sense]:
    """The senses a class name may take (physical, inoffensive), for a user to pick from."""
    return [sense(s) for s in _candidates(name)]


@lru_cache(maxsize=20000)
def _ancestors(synset) -> dict[str, int]:
    """The sense and all its hypernyms (instance ones too), minus GENERIC ones, with their depth."""
    out = {}
    for path in synset.hypernym_paths():
        for s in path:
            if s.name() not in GENERIC:
                out[s.name()] = s.min_depth()
    return out


def closeness(a, b) -> int:
    """Depth of the deepest specific hypernym two senses share (0: nothing specific)."""
    shared = _ancestors(a).keys() & _ancestors(b).keys()
    return max((_ancestors(a)[k] for k in shared), default=0)


def _best(pool: list, others: list):
    """The sense in `pool` close to the most `others` (ties: shared hypernyms deeper by a level on average, rounded,
    then the more frequent sense); a less frequent sense must be close to at least
    half of them, so one chance match ('dog' as a frankfurter beside 'apple') never wins (see `doubtful`)."""
    support = [sum(1 for t in others if closeness(s, t)) for s in pool]
    depth = [sum(closeness(s, t) for t in others) for s in pool]  # then: kinship closer by a whole level
    best = max(range(len(pool)), key=lambda i: (support[i], round(depth[i] / max(1, len(others))), -i))
    return pool[best] if best == 0 or 2 * support[best] >= len(others) else pool[0]


def choose_senses(names: dict[str, str], fixed: dict[str, str] | None = None) -> dict[str, object | None]:
    """For each class key (-> name), the sense that fits the other classes best, or None if unknown.

    Candidates are physical, inoffensive senses; senses about people count only for a word about
    people (its usual meaning is a person, its physical senses are all people: 'doctor', not 'red' as a
    Bolshevik nor 'wasp') or, for every class, when at least half the classes are such words. A sense scores the
    number of other classes whose sense shares a specific (non-GENERIC) hypernym with it, first against
    their most frequent senses, then against the previous round's choices (see `_best`), so an unrelated
    set keeps each word's usual meaning and two rare senses cannot pull each other in ('dog' as a pawl
    beside 'shoe' as a brake shoe). A sense under another class's gives way where the word has another
    (see `_apart`). `fixed` pins a class to a sense id.
    """
    fixed = fixed or {}
    pools = {key: _candidates(name) for key, name in names.items()}
    about_people = {key for key, name in names.items()
                    if pools[key] and all(is_person(s) for s in pools[key]) and is_person(noun_synsets(name)[0])}
    if 2 * len(about_people) < len(names):
        # A word about people in a set of things names the thing WordNet calls by it and another
        # class's category: 'Persian' among cats is the 'Persian cat', not an Iranian.
        heads = sorted({a.split(".")[0].rsplit("_", 1)[-1] for k, p in pools.items() if k not in about_people
                        and p for a in _ancestors(p[0])})
        for key in sorted(about_people):
            things = [s for h in heads for s in _candidates(f"{names[key]} {h}") if not is_person(s)]
            if things:
                pools[key] = things
                about_people.discard(key)
    for key, pool in pools.items():
        if 2 * len(about_people) < len(names) and key not in about_people:
            pools[key] = [s for s in pool if not is_person(s)]
    for key, sense_id in fixed.items():
        if key in pools:
            pools[key] = [synset(sense_id)]
    known = {k: p for k, p in pools.items() if p}
    chosen: dict[str, object] = {}
    reference = {k: p[0] for k, p in known.items()}  # first round: the other words' usual meanings
    for _ in range(4):
        new = {key: _best(pool, [t for j, t in reference.items() if j != key]) for key, pool in known.items()}
        if new == chosen:
            break
        chosen = reference = new
    chosen.update(_one_reading({k: p for k, p in known.items() if k not in fixed}, chosen))
    chosen.update(_apart({k: p for k, p in known.items() if k not in fixed}, names, chosen))
    return {key: chosen.get(key) for key in names}


def _apart(pools: dict, names: dict, chosen: dict) -> dict:
    """The classes of a dataset are different things: a sense that is a kind of another class's sense
    ('girl' as 'a young woman' beside 'woman') gives way to the word's next sense that is not ('a youthful
    female person'), when WordNet's tagged texts use the word in it at least half as often, and it lies
    under every category the sense shares with the other classes. A word with no such sense keeps its
    own: shorts stay short trousers beside 'pants' (the underpants are never tagged), a dolphin the toothed
    whale beside 'whale' (the dolphinfish neither), a Siberian husky a husky."""
    out = {}
    for key, pool in pools.items():
        others = {t for j, t in chosen.items() if j != key}

        def above(s, others=others):
            return others & set(s.closure(lambda x: x.hypernyms() + x.instance_hypernyms()))

        if key not in chosen or not above(chosen[key]):
            continue
        word = names[key].lower().replace(" ", "_")

        def used(s, word=word):
            return sum(lem.count() for lem in s.lemmas() if lem.name().lower() == word)

        shared = set(_ancestors(chosen[key])).intersection(
            *(set(_ancestors(t)) for t in others if t not in above(chosen[key])))
        alternative = next((s for s in pool if s != chosen[key] and not above(s) and shared <= set(_ancestors(s))
                            and used(s) > 0 and 2 * used(s) >= used(chosen[key])), None)
        if alternative is not None:
            out[key] = alternative
    return out


def _one_reading(pools: dict, chosen: dict) -> dict:
    """Senses that read the whole set as one kind of thing when every class has a sense under one specific
    category deeper than any the chosen senses share: 'Clubs', 'Hearts', 'Spades', 'Diamonds' are playing
    cards, though each word's usual meaning (a stick, the organ, a gem) pulled them apart. Empty when no
    such category exists (at least 3 classes)."""
    if len(pools) < 3:
        return {}
    shared = set.intersection(*(set(_ancestors(s)) for s in chosen.values())) if chosen else set()
    deepest = max((_ancestors(next(iter(chosen.values())))[a] for a in shared), default=0)
    under = [{a: s for s in reversed(pool) for a in _ancestors(s)} for pool in pools.values()]
    common = set.intersection(*(set(u) for u in under))
    depth = {a: _ancestors(under[0][a])[a] for a in common}  # `under` keeps each pool's most used sense
    best = max(common, key=lambda a: (depth[a], a), default=None)
    if best is None or depth[best] <= deepest:
        return {}
    return {key: u[best] for key, u in zip(pools, under, strict=True)}


def _supported(chosen: dict) -> dict:
    """Class key -> how many other classes' senses share a specific category with its sense."""
    known = {k: s for k, s in chosen.items() if s is not None}
    return {k: sum(1 for j, t in known.items() if j != k and closeness(s, t)) for k, s in known.items()}


def unsupported(chosen: dict) -> set:
    """Classes whose chosen sense shares no specific category with any other class's, in a set of at
    least 3 known classes most of which do share one: no sense of the word fits the dataset ('Hearts'
    as the organ beside card suits), so WordNet's words for it would be wrong. In any set of 3 or more,
    so too a class read as a person or a named individual that shares nothing with the rest (a breed
    named after a nationality or a city: 'Iranian', 'Mumbai' are no names for a cat). Where most classes
    share a category, a named individual must share one with at least half the others: two breeds named
    after places ('Bengal', 'Bombay') read as the region and the city support only each other."""
    support = _supported(chosen)
    if len(support) < 3:
        return set()
    lone = {k for k, n in support.items() if n == 0}
    if 2 * sum(1 for n in support.values() if n) > len(support):
        return lone | {k for k, n in support.items() if chosen[k].instance_hypernyms() and 2 * n < len(support) - 1}
    return {k for k in lone if is_person(chosen[k]) or chosen[k].instance_hypernyms()}


def used_as(word: str, synset) -> int:
    """How often WordNet's tagged texts use `word` in this sense."""
    return max((lem.count() for lem in synset.lemmas() if lem.name().lower() == word.lower()), default=0)


def doubtful(names: dict[str, str], chosen: dict) -> dict:
    """Class key -> a rarer sense of its word, for classes whose chosen sense (the word's usual one) shares
    no specific category with any other class's while that rarer sense shares one: 'plate' beside bottle,
    bowl, can and cup is the baseball base by WordNet's counts, but the dish is kin to the cup; 'cake' beside
    COCO's foods is a cake of soap, while a patty is kin to the sandwich. Too little to pick the rarer sense
    (one chance match), too much to trust the usual one: its names would be another thing's. Unless WordNet's
    tagged texts use the word in its usual sense DOMINANCE times as often (at least DOMINANCE times): 'dog'
    beside 'apple' is the dog (42 uses), not the frankfurter (1)."""
    known = {k: s for k, s in chosen.items() if s is not None}
    out = {}
    for key, sense in known.items():
        others = [t for j, t in known.items() if j != key]
        if len(others) < 2 or any(closeness(sense, t) for t in others):
            continue
        word = names[key].strip().lower().replace(" ", "_")
        rival = next((s for s in _candidates(names[key]) if s != sense and not is_person(s)
                      and any(closeness(s, t) for t in others)
                      and used_as(word, sense) < DOMINANCE * max(1, used_as(word, s))), None)
        if rival is not None:
            out[key] = rival
    return out


def mostly_unknown(chosen: dict) -> bool:
    """WordNet knows at most half of a list's classes (3 or more): the words it knows may well be other
    things of the same name (a car model named after a horse), so none of its names can be trusted."""
    return len(chosen) >= 3 and 2 * sum(s is not None for s in chosen.values()) <= len(chosen)


def jargon(synset) -> bool:
    """A sense WordNet files under a discipline's topic ('(computer science) peripheral'): a term a lay
    labeller does not use to name a photo."""
    return any(any(a.name() in ("discipline.n.01", "science.n.01") for p in t.hypernym_paths() for a in p)
               for t in synset.topic_domains())


def label_phrase(lemma, person: bool = False) -> bool:
    """A lexicographer's label, not a name for a category: a phrase whose head word names, first, a
    vague or generic category ('writing implement', 'electronic device', 'body structure') unless WordNet's
    tagged texts use the phrase ('musical instrument'), a category at the top of the hierarchy ('physical
    phenomenon'), or, for a thing (`person` False), a person ('food turner')."""
    words = lemma.name().split("_")
    if len(words) < 2:
        return False
    head = reader().synsets(words[-1], "n")[:1]
    if not head:
        return False
    if head[0].min_depth() <= 3 or (is_person(head[0]) and not person):
        return True
    return (vague(head[0]) or head[0].name() in GENERIC) and lemma.count() == 0


def hypernyms_by_distance(synset) -> list:
    """The sense's hypernyms (instance ones too), nearest first, without GENERIC ones."""
    out, level, seen = [], [synset], {synset}
    while level:
        level = sorted({h for s in level for h in s.hypernyms() + s.instance_hypernyms()} - seen,
                       key=lambda h: h.name())
        seen |= set(level)
        out += [h for h in level if h.name() not in GENERIC]
    return out


# Categories too vague to name a photo's class or a dataset's domain, though their words are common.
VAGUE = frozenset({"land.n.04", "tract.n.01", "facility.n.01", "device.n.01", "instrument.n.01", "implement.n.01",
                   "produce.n.01", "nutriment.n.01", "body_part.n.01", "organ.n.01", "geological_formation.n.01",
                   "region.n.03", "location.n.01", "point.n.02", "area.n.05", "equipment.n.01", "conveyance.n.03",
                   "adult.n.01", "foodstuff.n.02", "food.n.02", "solid.n.01",
                   # categories of use, not of look: a trout is not photographed as food, a clock as an instrument
                   "food_fish.n.01", "measuring_instrument.n.01"})


# Of those, categories too vague for one photo's broader name that still name a dataset's domain: a
# pizza is a 'dish' before it is 'food', but a set of dishes, breads and cakes is the authors' 'Food'.
DOMAIN_ONLY = frozenset({"food.n.02"})


def vague(synset, domain: bool = False) -> bool:
    """In VAGUE (see DOMAIN_ONLY), or in the top levels of WordNet's hierarchy ('process', 'phenomenon')."""
    return synset.max_depth() < 4 or synset.name() in VAGUE and not (domain and synset.name() in DOMAIN_ONLY)


# Categories of places and buildings: what is above one in WordNet reads as another place to a person
# (a palace is no 'mansion', a river no 'stream', a railway station no 'terminal', a parking lot no 'lot').
PLACE_LEXNAMES = frozenset({"noun.location", "noun.object"})
PLACE_ROOTS = frozenset({"structure.n.01", "facility.n.01"})


def place(synset) -> bool:
    """A place, a building or a natural feature (lexicographer file, or a structure or facility above it)."""
    return synset.lexname() in PLACE_LEXNAMES or any(
        a.name() in PLACE_ROOTS for path in synset.hypernym_paths() for a in path)


# Glosses of a sense that is a way of addressing or calling someone, not a kind of them ('sir', 'guy', 'Miss').
TERM_GLOSS = re.compile(r"^(an? )?(\w+ )?(term|form) (of address )?(for|used)\b|\b(form|term) of address\b"
                        r"|\b(courtesy title|title of (address|respect)|title used"
                        r"|used (before the name )?as a title)\b",
                        re.IGNORECASE)


# Glosses of a category of people by race or descent: a kind under one ('white man', 'black woman') sorts
# people by how they look, which is no name a labeller should give a photo.
RACE_GLOSS = re.compile(r"\b(race|skin|ethnic|ancestry|descent)\b", re.IGNORECASE)


def race_kind(synset) -> bool:
    """'white man': 'a man who is White', under 'White', 'a member of the Caucasoid race'."""
    return is_person(synset) and any(RACE_GLOSS.search(h.definition()) for h in synset.hypernyms())


def term_of_address(synset) -> bool:
    """'sir': 'term of address for a man'; 'guy': 'an informal term for a youth or man'; 'Miss' (a title);
    'Monsieur': 'used as a French courtesy title'."""
    return bool(TERM_GLOSS.search(synset.definition())) or any(h.name() == "title.n.06" for h in synset.hypernyms())


def genus_name(lemma) -> bool:
    """A taxon's own name as a word ('Panthera', 'Canis'): a capitalised word of a sense that is a
    member of a taxonomic group, or a genus/family/order."""
    name = lemma.name()
    return name[:1].isupper() and bool(lemma.synset().member_holonyms()) and "_" not in name \
        or any(w in {"genus", "family", "order", "suborder", "subfamily"} for w in name.lower().split("_"))


# A gloss that says no more than "members of a genus": 'any of the numerous plants of the genus Viola'.
GENUS_GLOSS = re.compile(r"^(any of (the )?(numerous|various|several|many) )?(\w+ )?\w+ of the (genus|family) \w+$",
                         re.IGNORECASE)


def genus_gloss(synset) -> bool:
    """A category WordNet defines only as a genus's or family's members: a botanist's or zoologist's
    grouping, often named by the genus itself ('viola' for a pansy), not the word a person says."""
    return bool(GENUS_GLOSS.match(synset.definition().strip()))


def _gloss_genus(synset):
    """The category a sense's definition names first ('a vehicle carrying many passengers' -> vehicle):
    WordNet files some everyday members of a category elsewhere (the bus under 'public transport'), but
    its gloss still says what it is. The word's first noun sense; None when the gloss opens otherwise."""
    opening = r"^(an?|the|any of (various|several|numerous|many)|one of)\s+"
    words = re.sub(opening, "", synset.definition().lower()).split()
    head = words[0].strip(",;()") if words else ""
    if not head or any(is_lemma(head, pos) for pos in ("a", "s", "v", "r")):
        return None  # 'round yellow ... fruit', 'perennial', 'small': a description, not the category
    found = reader().synsets(head, "n")
    return found[0] if found else None


def _categories(synset) -> set:
    """Every specific category a class's sense falls under for a domain word: its hypernyms, its gloss's
    (see `_gloss_genus`), and, for a group of members ('a train': a locomotive and cars), those every member
    shares."""
    def above(s):
        return {a for path in s.hypernym_paths() for a in path if a != s and a.name() not in GENERIC}

    out = above(synset)
    genus = _gloss_genus(synset)
    if genus is not None and genus.name() not in GENERIC:
        out |= {genus} | above(genus)
    members = synset.member_meronyms()
    if members:
        out |= set.intersection(*({m} | above(m) for m in members))
    return out


@lru_cache(maxsize=20000)
def _domain_lemmas(category) -> tuple:
    """A category's everyday words that mean it among their first two senses and are heard as a thing
    (see `heard_as_thing`: not 'fixing' for fasteners, which says a repair first)."""
    from semscale.names import commonness

    return tuple(lem for lem in category.lemmas() if category in reader().synsets(lem.name(), "n")[:2]
                 and heard_as_thing(lem) and commonness.everyday(lem) and not label_phrase(lem, is_person(category)))


def _domain_words(synset) -> dict[str, tuple]:
    """Word -> (category, lemma) for every everyday word of a category the sense falls under (see
    `_categories`), at its nearest category. By word, not by sense: WordNet files bread under 'solid food'
    and soup under 'food, nutrient', and 'food' fits both."""
    out: dict[str, tuple] = {}
    for category in sorted(_categories(synset), key=lambda a: (-a.max_depth(), a.name())):
        if not vague(category, domain=True):
            for lem in _domain_lemmas(category):
                out.setdefault(readable(lem.name()).lower(), (category, lem))
    return out


def domain_word(synsets: list, total: int | None = None) -> tuple[str | None, str]:
    """The paper scheme's domain word D and the reason for it: the nearest everyday word for a category
    every sense falls under (named individuals do not count; see `_categories` and `_domain_words`) ('dog',
    'big cat', 'food', 'vehicle'); 'carnivore', 'placental' or 'conveyance' are passed over for a common
    word above them. None, with the reason, when the senses share nothing specific or nothing everyday, or
    when WordNet knows at most half of the `total` classes (the words it knows may be other things of the
    same name: a word for them would not fit the rest)."""
    kinds = [s for s in synsets if not s.instance_hypernyms()]
    if not kinds:
        return None, "WordNet knows none of the classes"
    if total is not None and 2 * len(kinds) <= total:
        return None, f"WordNet knows only {len(kinds)} of the {total} classes, so no word is known to fit them all"
    common = set.intersection(*(_categories(s) for s in kinds))
    found = [_domain_words(s) for s in kinds]
    from semscale.names import commonness

    shared = set.intersection(*(set(f) for f in found))
    if shared:
        def nearest(word):
            """The nearest category first; of its words, WordNet's headword ('frog', not 'toad'; 'plant', not
            'plant life'; 'food', not 'solid food'), then one that means it first, then the more common
            word ('retail store', not 'outlet')."""
            category, lem = found[0][word]
            depth = min(f[word][0].max_depth() for f in found)
            return (-depth, lem != category.lemmas()[0], reader().synsets(lem.name(), "n").index(category),
                    -commonness.zipf(word), word)

        word = min(shared, key=nearest)
        category = min((f[word][0] for f in found), key=lambda a: a.max_depth())
        return readable(found[0][word][1].name()), (
            f"the nearest everyday word for a category every class falls under ({category.name()}: "
            f"{category.definition()})")
    if not common:
        return None, "the classes share no WordNet category more specific than 'object', 'whole' or 'artifact'"
    nearest = max(common, key=lambda a: (a.max_depth(), a.min_depth(), a.name()))
    plain = vague(nearest) and any(commonness.everyday(lem) for lem in nearest.lemmas())
    what = "too vague to name a domain" if plain else "not everyday words"
    nearest_word = readable(nearest.lemmas()[0].name())
    return None, f"the classes share only categories that are {what} (nearest: '{nearest_word}')"
