"""Generated names on the real WordNet files (Debian's wordnet-base through nltk): order, plurals, display
names, sense choice, domain word, and never an insult."""

import pytest

from semscale.core.errors import SemscaleError
from semscale.names import classnames, synonyms, wordnet

FLOWERS = ["daisy", "sunflower", "orchid", "marigold", "carnation"]
BIG_CATS = ["tiger", "lion", "leopard", "cheetah", "jaguar"]


def sense_of(classes, name):
    return synonyms.generate(classes, "paper").senses[name]


@pytest.mark.parametrize("classes,domain", [(BIG_CATS, "big cat"), (FLOWERS, "flower")])
def test_paper_scheme_is_the_authors_twelve_names_in_their_order(classes, domain):
    made = synonyms.generate(classes, "paper")
    assert made.domain == domain
    for c in classes:
        p = synonyms.plural(c)
        assert made.labels.names[c] == [c, p, f"large {c}", f"large {p}", f"small {c}", f"small {p}",
                                        f"medium {c}", f"medium {p}", f"{domain} {c}", f"{domain} {p}",
                                        f"tiny {c}", f"tiny {p}"]


def test_a_given_domain_word_is_used_as_typed_and_a_bad_one_is_refused():
    made = synonyms.generate(["rose", "tulip"], "paper", domain="Flower")
    assert made.labels.names["rose"][8:10] == ["Flower rose", "Flower roses"]
    for bad in ("{c} flower", 'the "flower"', "x" * 200, "!!!"):
        with pytest.raises(SemscaleError, match="domain word"):
            synonyms.generate(["rose"], "paper", domain=bad)


@pytest.mark.parametrize("singular,expected", [
    ("knife", "knives"), ("wolf", "wolves"), ("potato", "potatoes"), ("lens", "lenses"), ("bus", "buses"),
    ("mouse", "mice"), ("deer", "deer"), ("sheep", "sheep"), ("fish", "fish"), ("series", "series"),
    ("jeans", "jeans"), ("trousers", "trousers"), ("pants", "pants"), ("shorts", "shorts"), ("glasses", "glasses"),
    ("chain saw", "chain saws"), ("garbage truck", "garbage trucks"), ("French horn", "French horns"),
    ("butterfly", "butterflies"), ("box", "boxes"),
])
def test_plurals(singular, expected):
    assert synonyms.plural(singular) == expected


def test_an_already_plural_class_keeps_its_repeats_and_a_note_says_so():
    made = synonyms.generate(["pants", "shirt"], "paper", domain="apparel")
    assert made.labels.names["pants"][:4] == ["pants", "pants", "large pants", "large pants"]
    assert len(made.labels.names["pants"]) == len(made.labels.names["shirt"]) == 12
    assert any("'pants'" in n and "repeat" in n for n in made.notes)


@pytest.mark.parametrize("key,name", [
    ("LIONS", "lion"), ("CHEETAHs", "cheetah"), ("daisies", "daisy"), ("AFRICAN_LEOPARDS", "African leopard"),
    ("french_horn", "French horn"), ("ENGLISH-SPRINGER", "English springer"), ("garbage_truck", "garbage truck"),
    ("chain-saw", "chain saw"), ("t-shirt", "T-shirt"), ("pants", "pants"), ("JEANS", "jeans"),
    ("trousers", "trousers"), ("glasses", "glasses"), ("Clams", "clam"), ("mice", "mouse"),
    ("001.Black_footed_Albatross", "black footed albatross"), ("iPhone", "iPhone"),
])
def test_display_names(key, name):
    assert classnames.display_name(key) == name


def test_the_class_key_stays_the_key():
    made = synonyms.generate(["LIONS", "TIGERS"], "paper")
    assert list(made.labels.names) == ["LIONS", "TIGERS"]
    assert made.labels.names["LIONS"][:2] == ["lion", "lions"] and made.display["TIGERS"] == "tiger"


@pytest.mark.parametrize("word,classes,sense", [
    ("tiger", BIG_CATS, "tiger.n.02"),
    ("church", ["church", "house", "car", "bridge", "tree"], "church.n.02"),
    ("crane", ["crane", "heron", "stork", "pelican"], "crane.n.05"),
    ("crane", ["crane", "bulldozer", "forklift", "excavator"], "crane.n.04"),
    ("mouse", ["mouse", "keyboard", "monitor", "printer"], "mouse.n.04"),
    ("mouse", ["mouse", "rat", "squirrel", "hamster"], "mouse.n.01"),
    ("dog", ["dog", "car", "apple", "shoe"], "dog.n.01"),  # an unrelated set keeps the usual meaning
])
def test_sense_choice_fits_the_dataset(word, classes, sense):
    assert sense_of(classes, word).id == sense


def test_a_user_can_pin_a_sense():
    made = synonyms.generate(["crane", "heron"], "wordnet", senses={"crane": "crane.n.04"})
    assert made.senses["crane"].id == "crane.n.04" and "lift" in made.senses["crane"].gloss
    with pytest.raises(SemscaleError, match="no sense"):
        synonyms.generate(["crane"], "wordnet", senses={"crane": "crane.n.99"})


def test_domain_words_for_vehicles_and_none_for_an_unrelated_set():
    assert synonyms.generate(["car", "truck", "motorcycle", "bicycle", "tractor"], "paper").domain == "vehicle"
    # WordNet files the bus under 'public transport' (its hypernyms share only the too vague 'conveyance'),
    # but its gloss says what it is, 'a vehicle carrying many passengers'; a train is 'public transport'
    # too, a group whose members (a locomotive, railway cars) are all vehicles (issue 24).
    for classes in (["car", "bus", "truck", "motorcycle", "bicycle"], ["car", "train", "bicycle", "motorcycle"]):
        assert synonyms.generate(classes, "paper").domain == "vehicle", classes
    made = synonyms.generate(["train", "bus", "elevator"], "paper")  # shared: 'conveyance', 'device'
    assert made.domain is None and any("too vague" in n for n in made.notes)
    # Weather shares only the top of the hierarchy ('physical process', 'phenomenon') and WordNet's labels
    # for it ('atmospheric phenomenon'): no domain word.
    weather = ["rain", "snow", "fog", "lightning", "rainbow", "hail", "cloud", "frost", "storm"]
    assert synonyms.generate(weather, "paper").domain is None
    # WordNet files rose under shrub and tulip under bulbous plant: the shared category is the plant.
    assert synonyms.generate(["rose", "tulip", "daisy", "sunflower", "dandelion"], "paper").domain == "plant"
    made = synonyms.generate(["dog", "car", "apple", "shoe"], "paper")
    assert made.domain is None and len(made.labels.names["dog"]) == 10
    assert made.labels.names["dog"][8:] == ["tiny dog", "tiny dogs"]
    assert any("names 9-10" in n for n in made.notes)


INSULTS = {"Taco": {"greaser", "wetback", "spic"}, "wasp": {"WASP", "White Anglo-Saxon Protestant"},
           "Hot Dog": {"exhibitionist", "show-off"}, "Whale": {"giant", "hulk", "heavyweight", "large person"},
           "Clams": {"dollar", "buck", "dollar bill", "one dollar bill"},
           "Crabs": {"pediculosis pubis", "crab louse", "pubic louse"}}


@pytest.mark.parametrize("scheme", synonyms.SCHEMES)
def test_never_an_insult_nor_a_person_for_a_thing(scheme):
    classes = ["Taco", "Hot Dog", "Clams", "Crabs", "Whale", "wasp", "Nissan", "Tesla"]
    made = synonyms.generate(classes, scheme)
    for c, bad in INSULTS.items():
        got = {n.casefold() for n in made.labels.names[c][1:]}
        assert not got & {b.casefold() for b in bad}, (c, got)
    ids = {c: s.id for c, s in made.senses.items()}
    assert ids["Taco"] == "taco.n.02" and ids["wasp"] == "wasp.n.02" and ids["Whale"] == "whale.n.02"
    assert ids["Hot Dog"] == "hotdog.n.02" and ids["Clams"] == "clam.n.01" and ids["Crabs"] == "crab.n.01"
    assert "Nissan" not in ids and "Tesla" not in ids  # a month, a flux unit, a person: none is the class
    assert any("does not know 'Nissan'" in n for n in made.notes)
    if scheme == "wordnet":
        assert made.labels.names["Nissan"] == ["Nissan"]


@pytest.mark.parametrize("classes,cls,insult,kept", [
    (["rustic", "peasant"], "rustic", "coon", None),  # 'coon' also has an ethnic-slur sense (and is rare here)
    # marked disparagement: left out by the kind filter and by the word filter
    (["donor", "recipient"], "donor", "Indian giver", "philanthropist"),
    # under 'skin flick', marked slang (the kind filter); 'movie' fills its 4 kinds before reaching it today
    (["film", "movie"], "film", "peepshow", "feature film"),
    (["dog", "cat", "horse", "bird"], "dog", "cur", "puppy"),  # insult_word: 'a cowardly and despicable person'
    # insult_word: 'jackass', 'a stupid incompetent fool'
    (["penguin", "gull", "pelican"], "penguin", "jackass penguin", "emperor penguin"),
    # kind filter alone: 'funny house' ('pejorative terms for an insane asylum') is a kind of 'mental hospital'
    # ('a hospital for mentally incompetent...'), an insult kind left out with everything under it
    (["hospital", "school", "church"], "hospital", "funny house", "field hospital"),
    # a body part's kinds judge someone's body, unmarked in WordNet: 'pudding face' ('a large fat human face'),
    # found by the blind rating of the second fresh split (DeepFashion's 'face')
    (["face", "hair", "shirt", "hat"], "face", "pudding face", None),
])
def test_wordnet_scheme_leaves_out_insults_that_wordnet_lists_as_names(classes, cls, insult, kept):
    """Each insult is a WordNet word or kind of the class, and comes out as its name without its filter
    (the word filter for a name with an insulting word, the kind filter for an insulting kind)."""
    made = synonyms.generate(classes, "wordnet").labels.names
    names = made[cls] + [n for c in classes if c != cls for n in made[c]]  # a name two classes share is kept once
    assert insult not in names and (kept is None or kept in names), names


def test_wordnet_scheme_gives_kinds_of_the_building_not_churches_as_institutions():
    names = synonyms.generate(["church", "house", "car", "bridge", "tree"], "wordnet").labels.names["church"]
    assert "cathedral" in names and not any("Catholic" in n or "Armenian" in n for n in names)
    assert len(names) <= synonyms.MAX_WORDNET_NAMES


def test_wordnet_scheme_drops_latin_names_and_says_plural_only_words_in_the_plural():
    made = synonyms.generate(BIG_CATS + ["jeans"], "wordnet")
    assert not any("Panthera" in n for names in made.labels.names.values() for n in names)
    assert "jean" not in made.labels.names["jeans"]


@pytest.mark.parametrize("classes,word,sense", [
    (["pants", "dress", "shirt", "skirt", "shoes"], "pants", "trouser.n.01"),  # not the underwear 'pants'
    (["shorts", "pants", "dress", "shirt", "skirt"], "shorts", "short_pants.n.01"),  # not the men's underpants
    (["DOLPHIN", "WHALE", "SEAL", "SHARKS", "CLAMS"], "DOLPHIN", "dolphin.n.02"),  # the toothed whale, not the fish
    # WordNet's 'Persian cat', not an Iranian
    (["Persian", "Abyssinian", "Siamese", "beagle", "pug"], "Persian", "persian_cat.n.01"),
])
def test_sense_choice_weighs_base_forms_usage_and_the_sets_category(classes, word, sense):
    assert sense_of(classes, word).id == sense


@pytest.mark.parametrize("classes,word,obscure", [
    (["dog", "horse", "cat", "cow", "sheep"], "horse",
     {"stablemate", "eohippus", "protohippus", "gee-gee", "buckskins"}),
    (["dog", "horse", "cat", "cow", "sheep"], "cat",
     {"lynx", "cougar", "serval", "ocelot", "true cat", "wildcat", "European wildcat", "jungle cat"}),
    (["elephant", "horse", "butterfly"], "elephant", {"mammoth", "woolly mammoth", "gomphothere"}),
    (["elephant", "horse", "butterfly"], "butterfly", {"nymphalid", "lycaenid", "pierid", "nymphalid butterfly"}),
    (["chair", "cup", "knife", "bottle"], "cup", {"kylix", "scyphus"}),
    (["chair", "cup", "knife", "bottle"], "bottle", {"carboy", "demijohn"}),
    (["ship", "car", "train", "plane"], "ship", {"shipwreck", "wreck", "hulk", "galleon"}),
])
def test_wordnet_scheme_leaves_out_obscure_extinct_wild_and_taxon_names(classes, word, obscure):
    names = synonyms.generate(classes, "wordnet").labels.names[word]
    assert not set(names) & obscure, set(names) & obscure
    assert len(names) >= 3  # still some names a person knows


def test_wordnet_scheme_names_trousers_for_pants_and_familiar_kinds():
    made = synonyms.generate(["pants", "dress", "shirt", "skirt", "shoes"], "wordnet").labels.names
    assert "trousers" in made["pants"] and not {"bloomers", "knickers"} & set(made["pants"])
    assert {"gown", "cocktail dress"} <= set(made["dress"])


def test_sessions_asking_for_wordnet_at_once_share_one_reader():
    """Each Streamlit session is a thread: a classroom opening the Run page together asked for the
    reader at once, and each loaded its own (6 at once took 8.9 s instead of 1.4 s)."""
    from concurrent.futures import ThreadPoolExecutor

    from semscale.names import wordnet

    wordnet._load_reader.cache_clear()
    with ThreadPoolExecutor(6) as pool:
        readers = list(pool.map(lambda _: wordnet.reader(), range(6)))
    assert all(r is readers[0] for r in readers)
    assert wordnet._load_reader.cache_info().misses == 1


def test_a_loaded_reader_is_handed_out_without_waiting_for_the_load_lock():
    """Once loaded, every session's WordNet read goes on at once: here the load lock is held (as by
    a slow load elsewhere) and the reader still comes back."""
    import threading

    from semscale.names import wordnet

    loaded, got = wordnet.reader(), []
    with wordnet._READER_LOCK:
        asker = threading.Thread(target=lambda: got.append(wordnet.reader()), daemon=True)
        asker.start()
        asker.join(2)
    assert got == [loaded]


def test_sessions_looking_up_wordnet_at_once_get_the_senses_one_alone_gets():
    """nltk reads a synset by seeking one shared file handle and reading a line; threads interleaving
    there read each other's lines, so a sense came back garbled (an error) or as None (silently
    fewer names). The reader serialises those reads."""
    from concurrent.futures import ThreadPoolExecutor

    from semscale.names import wordnet

    with open(wordnet._reader_folder(wordnet.wordnet_dir()) / "index.noun") as fh:
        words = [line.split()[0] for line in fh if not line.startswith(" ")][:4000]

    def senses(reader, some):
        return {w: [s.name() for s in reader.synsets(w, "n")] for w in some}

    alone = senses(wordnet._load_reader.__wrapped__(), words)
    shared = wordnet._load_reader.__wrapped__()  # a fresh reader: nothing cached, every sense read from the file
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda i: senses(shared, words[i::4]), range(4)))
    assert {w: s for part in together for w, s in part.items()} == alone


# Issue 24: the cases a strict rater rejected on lists nobody tuned to.
FAST_FOOD = ["hamburger", "pizza", "Fries", "hot_dog", "sushi", "tacos"]
CARD_SUITS = ["Clubs", "Hearts", "Spades", "Diamonds"]
SEA = ["DOLPHIN", "SHARKS", "WHALE", "OCTOPUS", "SEAL"]


def test_fries_among_burgers_and_pizza_are_the_food_not_children():
    made = synonyms.generate(FAST_FOOD, "synonyms")
    assert made.display["Fries"] == "fries" and made.senses["Fries"].id == "french_fries.n.01"
    assert not {"child", "kid", "youngster", "urchin", "orphan"} & set(made.labels.names["Fries"])


@pytest.mark.parametrize("scheme", ["synonyms", "broader", "kinds"])
def test_clubs_and_hearts_among_card_suits_are_the_suits(scheme):
    made = synonyms.generate(CARD_SUITS, scheme)
    assert made.senses["Clubs"].id == "club.n.06" and made.senses["Hearts"].id == "heart.n.10"
    names = {n for names in made.labels.names.values() for n in names}
    assert not names & {"bludgeon", "billy club", "Indian club", "biauriculate heart", "organ", "stick"}


def test_dolphin_among_sea_animals_is_not_the_dolphinfish():
    made = synonyms.generate(SEA, "wordnet")
    assert made.senses["DOLPHIN"].id == "dolphin.n.02"
    assert not {"dolphinfish", "mahimahi"} & set(made.labels.names["DOLPHIN"])


def test_tiger_is_the_big_cat_with_no_latin_and_no_person():
    made = synonyms.generate(BIG_CATS, "wordnet")
    assert made.senses["tiger"].id == "tiger.n.02"
    assert not any("Panthera" in n for n in made.labels.names["tiger"])


def test_no_insult_in_any_salient_sense_nor_a_compound_of_one():
    assert wordnet.offensive_word("cur") and wordnet.offensive_word("jackass penguin")
    assert not wordnet.offensive_word("dog") and not wordnet.offensive_word("domestic dog")
    # 'black sheep': its own sense is a sheep with a black coat, its first an epithet for a person
    # ('a reckless and unprincipled reprobate'); a kind of sheep in WordNet, never generated.
    assert wordnet.offensive_word("black sheep")
    kinds = synonyms.generate(["sheep", "goat", "cow", "horse"], "kinds").labels.names["sheep"]
    assert "black sheep" not in kinds and "merino sheep" in kinds, kinds
    # An unkind later sense of a thing is no insult: 'bitter' is also 'a harsh unpleasant taste'.
    assert not wordnet.offensive_word("bitter orange")
    kinds = synonyms.generate(["apple", "mushroom", "orange", "pear", "sweet pepper"], "kinds").labels.names
    assert "bitter orange" in kinds["orange"], kinds["orange"]
    made = synonyms.generate(["dog", "cat", "horse", "penguin"], "wordnet")
    names = {n.casefold() for names in made.labels.names.values() for n in names}
    assert not names & {"cur", "mongrel", "mutt", "jackass penguin", "hound"}


@pytest.mark.parametrize("word,why", [
    ("pansy", "any offensive sense, not only the first: the flower's third sense is a slur"),
    ("gringo", "the gloss alone ('a Latin American (disparaging) term for foreigners'): no usage domain"),
    ("pommy", "the gloss alone ('a disparaging term for a British person')"),
    ("hillbilly", "the gloss alone ('a disparaging term for an unsophisticated person')"),
    ("lump", "an epithet for a person beyond the first two senses ('an awkward stupid person', the third)"),
    ("cop", "an abusive first sense however common ('uncomplimentary terms for a policeman', tagged 20 times)"),
    ("hound", "a rarely tagged first sense (3 < 5) before 'someone who is morally reprehensible'"),
    ("baggage", "the word's own count (1), not its sense's other words ('luggage'): 'a worthless or immoral woman'"),
])
def test_each_way_the_word_filter_finds_an_insult(word, why):
    """Each of `insult_word`'s paths catches an insult no other path does (found by switching each off
    over WordNet's single-word nouns; mutmut skips `insult_word`, which is cached)."""
    assert wordnet.offensive_word(word), why


def test_the_word_filter_keeps_a_salient_thing_and_the_class_own_words():
    # 'rat' is first the rodent, tagged exactly SALIENT_COUNT (5) times; its 'a despicable person' is third
    assert not wordnet.offensive_word("rat")
    # a class's own words are the user's choice, whole or word by word
    assert not wordnet.offensive_word("black sheep", frozenset({"black", "sheep", "black sheep"}))
    assert not wordnet.offensive_word("jackass penguin", frozenset({"jackass"}))
    assert wordnet.offensive_word("jackass penguin", frozenset({"penguin"}))
    # a title is a way of calling someone, not a kind of person, though its gloss says no 'term of address'
    assert wordnet.term_of_address(wordnet.synset("reverend.n.02"))  # 'a title of respect for a clergyman'


@pytest.mark.parametrize("classes,domain", [
    (FAST_FOOD, "food"), (["car", "truck", "motorcycle", "bicycle", "tractor"], "vehicle"),
    (["apple", "banana", "orange", "pear", "strawberry"], "fruit")])
def test_the_domain_word_is_an_everyday_word_with_its_reason(classes, domain):
    made = synonyms.generate(classes, "paper")
    assert made.domain == domain
    assert any(n.startswith(f"domain word D: {domain!r}") for n in made.notes)


def test_every_name_carries_its_relation():
    made = synonyms.generate(["dog", "cat", "horse"], "wordnet")
    for c, names in made.labels.names.items():
        assert made.relations[c][names[0]] == "name"
        assert {made.relations[c][n] for n in names[1:]} <= {"synonym", "kind"}
    paper = synonyms.generate(["dog"], "paper", domain="animal")
    assert [paper.relations["dog"][n] for n in paper.labels.names["dog"][:3]] == ["name", "plural", "modifier"]


# Issue 24, tuned on the development half of benchmarks/name_lists.json: each fix with its failing case.
PEOPLE = ["baby", "boy", "girl", "man", "woman"]
ANIMALS_AND_VEHICLES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
AERIAL = ["palace", "church", "stadium", "railway station", "airport", "harbor", "parking lot", "baseball diamond",
          "river", "lake", "ship", "airplane"]


def names_by(classes, scheme):
    return synonyms.generate(classes, scheme).labels.names


def test_a_synonym_is_an_everyday_word_meaning_the_class_first_and_clearly():
    made = names_by(ANIMALS_AND_VEHICLES, "synonyms")
    assert made["frog"] == ["frog"]  # 'toad' (wordfreq 3.34) is another word: under OTHER_WORD_ZIPF
    assert made["airplane"] == ["airplane", "aeroplane", "plane"]
    assert made["automobile"] == ["automobile", "car", "auto"]
    aerial = names_by(AERIAL, "synonyms")
    # 'castle' is the stately home 3 times in the tagged texts, the fortress once
    assert "castle" not in aerial["palace"]
    assert "infield" not in aerial["baseball diamond"] and "seaport" not in aerial["harbor"]  # not everyday words


def test_another_word_for_the_class_is_an_everyday_word_a_spelling_may_be_rarer():
    made = names_by(["crocodile", "dinosaur", "lizard", "snake", "turtle"], "synonyms")
    assert made["snake"] == ["snake"]  # 'serpent': wordfreq 3.46, under OTHER_WORD_ZIPF
    assert names_by(PEOPLE, "synonyms")["baby"] == ["baby", "infant"]  # 'infant' 3.99
    assert names_by(["pants", "dress", "shirt", "skirt", "shoes"], "synonyms")["pants"][:2] == ["pants", "trousers"]


def test_no_form_of_address_and_no_phrase_naming_a_category_above():
    made = names_by(PEOPLE, "wordnet")
    assert made["girl"] == ["girl", "female child", "schoolgirl", "Campfire Girl", "farm girl", "flower girl"]
    assert not {"miss", "young woman", "young lady"} & set(made["girl"])
    assert "young man" in made["man"] and not {"sir", "guy", "white man"} & set(made["man"])
    station = names_by(AERIAL, "synonyms")["railway station"]
    assert "railroad station" in station and "railroad terminal" not in station


def test_a_class_is_not_a_kind_of_another_class_where_its_word_has_another_sense():
    made = synonyms.generate(PEOPLE, "synonyms")
    assert made.senses["girl"].id == "female_child.n.01"  # not 'a young woman', a kind of woman
    assert made.senses["boy"].id == "male_child.n.01"  # not 'a friendly informal reference to a grown man'
    assert made.senses["woman"].id == "woman.n.01" and made.senses["man"].id == "man.n.01"


def test_broader_names_are_everyday_categories_and_places_get_none():
    made = names_by(ANIMALS_AND_VEHICLES, "broader")
    assert made["airplane"] == ["airplane", "aircraft"] and made["ship"] == ["ship", "vessel"]
    assert "canine" not in made["dog"]  # wordfreq 3.33 and never in WordNet's tagged texts
    aerial = names_by(AERIAL, "broader")
    assert aerial.pop("ship") == ["ship", "vessel"] and aerial.pop("airplane") == ["airplane", "aircraft"]
    assert all(names == [names[0]] for names in aerial.values()), aerial  # no 'mansion', 'stream', 'lot', 'terminal'
    # not 'food fish'
    assert names_by(["aquarium fish", "flatfish", "ray", "shark", "trout"], "broader")["trout"] == ["trout"]
    assert "measuring instrument" not in names_by(["clock", "keyboard", "lamp", "telephone", "television"],
                                                  "broader")["clock"]


def test_the_domain_word_is_the_categorys_own_word_and_a_word_may_span_two_senses_of_it():
    """'toad' is a word of WordNet's frog sense (and used more often in it), but 'frog' is its headword;
    bread and cookies are 'solid food', soup and salad 'food, nutrient': one word, 'food', fits them all."""
    assert synonyms.generate(["bullfrog", "tree frog", "leopard frog"], "paper").domain == "frog"
    dishes = ["pancake", "omelet", "sandwich", "soup", "salad", "stew", "pie", "bread", "cookie"]
    assert synonyms.generate(dishes, "paper").domain == "food"


def test_a_domain_word_names_its_category_as_a_thing_and_the_more_common_word_wins():
    """'fixing' means fasteners only second, after a repair (an act, no thing): a person hears the repair,
    so fasteners get no domain word. Of a category's words that mean it equally, the more common one:
    'retail store' (Zipf 4.4), not 'outlet' (4.0, and a power socket to most readers)."""
    made = synonyms.generate(["buckle", "padlock", "safety pin", "screw", "nail"], "paper")
    assert made.domain is None and any("nearest: 'fastener'" in n for n in made.notes), made.notes
    shops = ["bakery", "bookstore", "grocery store", "toy store", "shoe store"]
    assert synonyms.generate(shops, "paper").domain == "retail store"
    assert synonyms.generate(["bakery", "bookstore", "toy store"], "paper").domain == "shop"  # all under 'shop'


def test_no_domain_word_when_wordnet_knows_at_most_half_the_classes():
    """Model names WordNet does not know, and two it knows as something else (a horse, an insect): a word
    that fits the two would be wrong for the rest, so none, and the note says why."""
    classes = ["Mustang", "Beetle", "Corolla 2012", "Civic Type R", "Model S 2012", "Golf GTI"]
    made = synonyms.generate(classes, "paper")
    assert made.domain is None and any("knows only 2 of the 6 classes" in n for n in made.notes), made.notes
    assert synonyms.generate(["Mustang", "Beetle", "pony"], "paper").domain == "animal"  # 3 of 3 known


@pytest.mark.parametrize("classes,domain", [
    (["crocodile", "dinosaur", "lizard", "snake", "turtle"], "reptile"),  # 3.25, and used in the tagged texts
    (["hamster", "mouse", "rabbit", "shrew", "squirrel"], "mammal"),
    (PEOPLE, "person"),
    (["tiger", "lion", "wolf", "bear"], "mammal"),  # not 'carnivore': 2.68, jargon
])
def test_the_domain_word_is_the_nearest_everyday_category(classes, domain):
    assert synonyms.generate(classes, "paper").domain == domain


def test_a_regional_word_is_marked_and_never_common():
    """'chips' for French fries is British in WordNet (nltk files the region 'Britain' among its usage marks):
    marked, so never common however frequent (Zipf 4.2 against the synonym floor 2.5); 'fries' (3.8) is plain."""
    from semscale.names import commonness

    lemmas = {lem.name(): lem for lem in wordnet.reader().synset("french_fries.n.01").lemmas()}
    chips, fries = lemmas["chips"], lemmas["fries"]
    assert commonness.zipf("chips") > 4 and commonness.marked(chips) and not commonness.marked(fries)
    assert not commonness.common(chips, commonness.SYNONYM_ZIPF) and commonness.common(fries, commonness.SYNONYM_ZIPF)


def test_a_category_may_be_two_everyday_words_and_a_kind_may_not():
    """Phrases WordNet's tagged texts never use (count 0): as a category (floor BROADER_ZIPF) 'big cat' passes,
    both words at least 4.0 on wordfreq's scale ('big' 5.7, 'cat' 4.8), and 'edible fruit' does not ('edible'
    3.6); as a synonym or kind (lower floor, but no such rule) neither does."""
    from semscale.names import commonness

    big_cat = wordnet.reader().synset("big_cat.n.01").lemmas()[0]
    edible_fruit = wordnet.reader().synset("edible_fruit.n.01").lemmas()[0]
    assert (big_cat.count(), edible_fruit.count()) == (0, 0)
    assert commonness.common(big_cat, commonness.BROADER_ZIPF) and not commonness.common(big_cat, commonness.KIND_ZIPF)
    assert not commonness.common(edible_fruit, commonness.BROADER_ZIPF)
    # three everyday words are a phrase, not two words: 'sport utility vehicle' (4.7, 4.3, 4.8) is no category
    suv = next(lem for lem in wordnet.reader().synset("sport_utility.n.01").lemmas()
               if lem.name() == "sport_utility_vehicle")
    assert suv.count() == 0 and not commonness.common(suv, commonness.BROADER_ZIPF)


OFFICE = ["stapler", "scissors", "envelope", "pencil", "eraser", "calculator", "paper clip", "notebook", "ruler",
          "printer"]
KITCHEN = ["kettle", "toaster", "blender", "ladle", "whisk", "colander", "spatula", "teapot", "frying pan",
           "cutting board"]


def test_a_broader_name_is_a_word_people_use_for_the_category_not_a_lexicographers_label():
    """Each rejected name is WordNet's word for a category above the class, and comes out without its
    filter: a label whose head names a vague category ('writing implement') or, for a thing, a person
    ('food turner'); a word not meant that way first nor used so in the tagged texts ('fixing', the
    fastener); a discipline's term ('(computer science) peripheral'). Everyday categories stay."""
    office, kitchen = names_by(OFFICE, "broader"), names_by(KITCHEN, "broader")
    assert office["pencil"] == ["pencil"] and office["paper clip"] == ["paper clip"], office
    assert "peripheral" not in office["printer"] and kitchen["spatula"] == ["spatula"], (office, kitchen)
    assert kitchen["frying pan"] == ["frying pan", "pan"], kitchen
    desserts = names_by(["pudding", "brownie", "cupcake", "sorbet", "custard"], "broader")
    assert desserts["sorbet"] == ["sorbet", "dessert"], desserts
    lemma = {w: wordnet.reader().synsets(w, "n")[0].lemmas()[0] for w in ("musical_instrument", "writing_implement")}
    assert not wordnet.label_phrase(lemma["musical_instrument"])  # the tagged texts use it
    assert wordnet.label_phrase(lemma["writing_implement"])


def test_a_broader_name_is_its_categorys_headword():
    """WordNet lists a sense's usual word first; a later one is often another thing's name first: the
    anchor's category 'claw, hook' (an animal's claw first), the rose's 'shrub, bush'. Neither is said."""
    assert names_by(["anchor", "apple", "chair", "piano"], "broader")["anchor"] == ["anchor"]
    assert names_by(["orchid", "poppy", "rose", "sunflower", "tulip"], "broader")["rose"] == ["rose"]


def test_a_category_of_artifacts_far_above_must_be_what_the_class_is_called():
    """Two or more levels up WordNet files artifacts by function: scissors under 'lever', a menorah under
    'holder', a cup under 'ware' (then 'article'), none in the class's gloss. A food keeps its category
    ('dessert' for sorbet, three levels up), and a direct category stays ('aircraft' for airplane)."""
    made = names_by(["scissors", "menorah", "cup", "apple", "piano"], "broader")
    assert [made[c] for c in ("scissors", "menorah", "cup")] == [["scissors"], ["menorah"], ["cup"]], made
    assert names_by(["sorbet", "apple", "chair"], "broader")["sorbet"] == ["sorbet", "dessert"]


def test_a_broader_name_needs_a_sure_sense():
    """'nautilus' (a submarine, two molluscs) and 'dolphin' (the fish, the whale) beside unrelated things:
    WordNet's first sense is a guess (no tagged use decides, no other class supports it), so no 'submarine'
    and no 'fish'. Beside boats the submarine is supported; 'dog' is sure by its tagged uses (42 to 1)."""
    made = names_by(["nautilus", "dolphin", "apple", "chair", "piano", "lamp"], "broader")
    assert made["nautilus"] == ["nautilus"] and made["dolphin"] == ["dolphin"], made
    assert names_by(["nautilus", "ferry", "canoe", "airplane"], "broader")["nautilus"] == ["nautilus", "submarine"]
    assert names_by(["dog", "apple", "chair", "piano"], "broader")["dog"] == ["dog", "domestic animal"]


def test_a_category_phrase_nobody_uses_goes_and_its_head_word_may_take_its_place():
    """Phrases WordNet's tagged texts never use go: 'sea boat' (the next category up, 'boat', takes its
    place), 'bass horn' (a horn is an animal's first), 'wall unit'. Where the head word fits another class
    too ('ship' beside a container ship) nothing takes its place: no 'passenger ship', 'cargo ship' (the
    development lists' raters took some such phrases and rejected others, 'sea boat', 'straight chair')."""
    made = names_by(["lifeboat", "euphonium", "entertainment center", "apple"], "broader")
    assert made["lifeboat"] == ["lifeboat", "boat"] and made["apple"] == ["apple", "fruit"], made
    assert "bass horn" not in made["euphonium"] and made["entertainment center"] == ["entertainment center"]
    ships = names_by(["ocean liner", "container ship", "apple"], "broader")
    assert ships["ocean liner"] == ["ocean liner"] and ships["container ship"] == ["container ship"], ships


def test_a_category_word_heard_first_as_another_kind_of_thing_is_no_broader_name():
    """'brass' is the euphonium's category (brass instruments), but WordNet's tagged texts use the word 11
    times for the alloy and twice for the instruments: no 'brass'. 'vessel' (a ship 6 times, a container 6)
    stays for a ship."""
    assert names_by(["euphonium", "apple", "chair"], "broader")["euphonium"] == ["euphonium"]
    assert names_by(["ship", "apple", "chair"], "broader")["ship"] == ["ship", "vessel"]


def test_no_broader_name_from_a_grouping_defined_only_by_its_genus():
    """'viola' ('any of the numerous plants of the genus Viola') is the pansy's nearest category, and
    'herb' above it a botanist's word to a lay labeller: the wild pansy gets neither. A lily keeps 'lily'
    (its gloss says more than its genus)."""
    assert wordnet.genus_gloss(wordnet.synset("viola.n.01")) and not wordnet.genus_gloss(wordnet.synset("lily.n.01"))
    made = names_by(["wild pansy", "tiger lily", "apple", "chair", "piano"], "broader")
    assert made["wild pansy"] == ["wild pansy"] and made["tiger lily"] == ["tiger lily", "lily"], made


def test_a_far_artifact_category_may_be_named_by_the_direct_category_the_gloss_names():
    """A cellphone is 'a hand-held mobile radiotelephone': its direct category, named in its gloss, is a
    kind of telephone by its word, so 'telephone' (two levels up) is what the class is called. A moped is
    'a motorbike', whose own gloss says 'a small motorcycle': one word further, and no 'motorcycle'."""
    made = names_by(["cellphone", "moped", "apple", "chair"], "broader")
    assert made["cellphone"] == ["cellphone", "telephone"] and made["moped"] == ["moped"], made


def test_a_person_is_no_rival_sense_for_a_thing():
    """'dalmatian' is a dog and a native of Dalmatia; beside things a class is never read as a person, so
    the dog is sure and gets 'dog' even among unrelated classes (no tagged use decides between the two)."""
    assert names_by(["dalmatian", "apple", "chair", "piano"], "broader")["dalmatian"] == ["dalmatian", "dog"]


def test_a_named_place_supported_only_by_another_place_keeps_its_own_name():
    """Cat and dog breeds, two named after places: 'Bengal' and 'Bombay' read as the region and the city
    share a category only with each other, not with half the set: no 'Mumbai' for the cat."""
    classes = ["Bengal", "Bombay", "Persian", "Siamese", "beagle", "pug", "boxer"]
    made = synonyms.generate(classes, "synonyms")
    assert made.labels.names["Bombay"] == ["Bombay"], made.labels.names
    assert any("'Bombay' fits beside" in n for n in made.notes), made.notes


def test_a_list_wordnet_mostly_does_not_know_keeps_its_own_names():
    """Car models, two of which WordNet knows as other things (a horse, an insect): no WordNet name for
    any class, whatever the relation, and a note says why."""
    classes = ["Mustang", "Beetle", "Corolla 2012", "Civic Type R", "Model S 2012", "Golf GTI"]
    for scheme in ("synonyms", "broader", "kinds"):
        made = synonyms.generate(classes, scheme)
        assert all(names == [names[0]] for names in made.labels.names.values()), made.labels.names
        assert any("knows only 2 of the 6 classes" in n for n in made.notes)
    assert len(synonyms.generate(["Mustang", "Beetle", "pony"], "kinds").labels.names["Beetle"]) > 1



def test_a_class_read_as_a_person_or_a_place_beside_nothing_of_its_kind_keeps_its_own_name():
    """Vehicle models named after a people and a city, in a list that shares no category as a whole:
    'Dakota' read as the people has nothing in common with the other classes, so no 'Sioux'."""
    classes = ["Lincoln", "Mustang", "Dakota", "Cherokee", "Durango", "Tahoe"]
    made = synonyms.generate(classes, "broader")
    assert made.labels.names["Dakota"] == ["Dakota"], made.labels.names
    assert any("'Dakota' fits beside" in n for n in made.notes), made.notes


def test_a_gloss_marks_abuse_by_its_words_not_by_letters_inside_others():
    """'inoffensive' (the tapir's gloss), 'counteroffensive' and the offensive team or odor are no insult: the
    tapir kept no WordNet sense at all while the gloss words were matched as substrings."""
    assert [s.id for s in wordnet.senses_of("tapir")] == ["tapir.n.01"]
    for sense in ("tapir.n.01", "running_back.n.01", "tight_end.n.01", "skunkweed.n.01", "zhukov.n.01"):
        assert not wordnet.offensive(wordnet.synset(sense)), sense
    for sense in ("gringo.n.01", "hillbilly.n.01", "kike.n.01", "disparagement.n.02"):  # 'contemptuously' too
        assert wordnet.offensive(wordnet.synset(sense)), sense


# Issue 24, fresh split: the blind rater's rejections, each pinned with a case that must stay right beside it.
CLOTHING = ["Christmas stocking", "seat belt", "sock", "mitten", "apron", "cowboy hat", "gown"]


def test_a_compound_keeps_its_own_sense_and_gets_no_category_its_head_word_reads_as_alone():
    """'Christmas stocking' and 'seat belt' are read as their own synsets, not the hosiery or the belt worn,
    and get no 'stocking' (WordNet files it under hosiery; a made thing's category must be an everyday word
    outright) nor 'belt' ('belt' alone is a drive belt as often as the one worn: no farther category is
    tried); a cowboy hat is still a 'hat', a gown a 'dress'."""
    made = synonyms.generate(CLOTHING, "broader")
    assert made.senses["Christmas stocking"].id == "christmas_stocking.n.01"
    assert made.senses["seat belt"].id == "seat_belt.n.01"
    names = made.labels.names
    assert names["Christmas stocking"] == ["Christmas stocking"] and names["seat belt"] == ["seat belt"], names
    assert names["cowboy hat"] == ["cowboy hat", "hat"] and names["gown"] == ["gown", "dress"], names
    vehicles = names_by(["freight car", "birdhouse", "airliner", "iPod", "candle"], "broader")
    assert vehicles["freight car"] == ["freight car"] and vehicles["birdhouse"] == ["birdhouse"], vehicles
    assert len(vehicles["iPod"]) == 1 and vehicles["candle"] == ["candle"], vehicles  # no 'stereo', no 'lamp'
    assert vehicles["airliner"] == ["airliner", "airplane"], vehicles


def test_a_prepared_foods_nearest_category_is_the_one_its_gloss_names():
    """A bagel is 'a doughnut-shaped roll' and WordNet files it under 'bun' (also 'roll', but 'roll' is a
    turn or a list first): no 'bun'. A pretzel gets no 'cracker' (a made thing's category must be an
    everyday word outright). Higher food categories stay, and so do ones the gloss names."""
    made = names_by(["bagel", "pretzel", "cheeseburger", "espresso", "consomme"], "broader")
    assert made["bagel"] == ["bagel"] and made["pretzel"] == ["pretzel"], made
    assert made["cheeseburger"] == ["cheeseburger", "sandwich"] and made["espresso"] == ["espresso", "coffee"]
    assert made["consomme"] == ["consomme", "soup"]


def test_no_synonym_that_is_the_class_names_head_alone_or_a_kin_species_name():
    """'glove', 'bonnet', 'bars' alone name more than the baseball glove, the poke bonnet, the parallel bars
    ('mower' names nothing else and stays); 'panther' (twice the jaguar in WordNet's tagged texts) is also
    the cougar and the black leopard; 'chimp' is only the chimpanzee."""
    made = names_by(["baseball glove", "poke bonnet", "parallel bars", "lawn mower", "hatchet", "power drill",
                     "chainsaw"], "synonyms")
    assert made["baseball glove"] == ["baseball glove"] and made["poke bonnet"] == ["poke bonnet"], made
    assert made["parallel bars"] == ["parallel bars"] and made["lawn mower"] == ["lawn mower", "mower"], made
    apes_and_cats = names_by(["chimpanzee", "gorilla", "jaguar", "lion", "tiger", "leopard"], "synonyms")
    assert apes_and_cats["jaguar"] == ["jaguar"] and apes_and_cats["chimpanzee"] == ["chimpanzee", "chimp"]


def test_no_synonyms_where_the_class_name_is_split_between_senses_or_its_sense_is_unsure():
    """'castle' is the stately home 3 times in WordNet's tagged texts and the fortress once: no 'palace'
    ('car' is the automobile 71 times to 2: 'auto' stays). 'plate' beside bottle, bowl, can and cup: its
    usual sense (the baseball base) shares nothing with them, the dish shares a category with the cup only;
    unsure, it keeps its own name, with a note."""
    made = names_by(["airplane", "castle", "house", "ship", "car"], "synonyms")
    assert made["castle"] == ["castle"] and "auto" in made["car"], made
    containers = synonyms.generate(["bottle", "bowl", "can", "cup", "plate"], "synonyms")
    assert containers.labels.names["plate"] == ["plate"]
    assert any("'plate'" in n and "unsure" in n for n in containers.notes), containers.notes


def test_a_compound_without_a_synset_of_its_own_gets_none_of_its_head_words_names():
    """WordNet has no 'graduation cap': it keeps its own name in every scheme (no 'cap', no kinds of cap),
    while 'baseball cap' has its own synset and is a 'cap'."""
    for scheme in ("synonyms", "broader", "kinds"):
        made = synonyms.generate(["graduation cap", "cowboy hat", "apron", "sock", "baseball cap"], scheme)
        assert "graduation cap" not in made.senses and made.labels.names["graduation cap"] == ["graduation cap"]
    assert names_by(["graduation cap", "cowboy hat", "baseball cap", "sock"], "broader")["baseball cap"] == [
        "baseball cap", "cap"]


def test_a_kind_heard_first_as_no_thing_or_a_whole_phylum_is_no_kind_name():
    """'white elephant' is a costly burden first, 'trial balloon' a test of opinion, 'fifth wheel' someone
    unneeded: no kinds. 'teaspoon' is a measure first, but a measure the spoon holds, so it stays. The
    worms under a whole phylum ('nematode worm', 'segmented worm') are a zoologist's grouping; the kinds
    below them ('hookworm') are named instead."""
    assert names_by(["elephant", "lion", "zebra"], "kinds")["elephant"] == [
        "elephant", "Indian elephant", "African elephant"]
    balloon = names_by(["balloon", "airship", "airliner"], "kinds")["balloon"]
    assert "hot-air balloon" in balloon and "trial balloon" not in balloon
    assert names_by(["car wheel", "hook", "gear"], "kinds")["car wheel"] == ["car wheel"]
    assert {"teaspoon", "tablespoon"} <= set(names_by(["spoon", "fork", "knife"], "kinds")["spoon"])
    worm = names_by(["worm", "snail", "crab", "spider"], "kinds")["worm"]
    assert "hookworm" in worm and not {"nematode worm", "segmented worm", "beard worm"} & set(worm), worm


def test_the_class_word_is_no_taxon_word_in_its_own_kinds():
    """'bison' and 'gorilla' also name their genus, so a kind built on the genus's name would be a
    biologist's term; but the class's own word is the lay word: 'American bison' (not the rejected
    'buffalo', which is mostly read as the water buffalo), 'mountain gorilla'."""
    assert names_by(["bison", "zebra", "camel"], "kinds")["bison"] == ["bison", "American bison"]
    assert "mountain gorilla" in names_by(["gorilla", "chimpanzee", "orangutan"], "kinds")["gorilla"]


def test_a_kind_that_is_another_class_of_the_list_is_no_kind_name():
    """ADE20K has 'stairway' and 'escalator', LVIS 'bracelet' and 'anklet': a kind that is another class's
    sense ('moving staircase', 'ankle bracelet') would name that class's photos too. Without that class it
    is a kind like any other."""
    assert "moving staircase" not in names_by(["stairway", "escalator", "door", "window"], "kinds")["stairway"]
    assert "moving staircase" in names_by(["stairway", "door", "window"], "kinds")["stairway"]
    assert "ankle bracelet" not in names_by(["bracelet", "anklet", "necklace", "ring"], "kinds")["bracelet"]
    assert "ankle bracelet" in names_by(["bracelet", "necklace", "ring"], "kinds")["bracelet"]


def test_no_kinds_for_a_class_whose_sense_is_a_guess():
    """COCO-Stuff's 'light' beside a cupboard, a rug, a floor and a wall is a lamp, but WordNet's most used
    'light' is the radiation, so its kinds were sunlight and moonlight; ADE20K's 'base' (a stand) got
    military bases. A sense that is neither the name's clear first nor shared with half the set gets no
    kinds; a sure class of the same list keeps them."""
    made = names_by(["light", "cupboard", "rug", "floor", "wall", "painting"], "kinds")
    assert made["light"] == ["light"]
    assert "oil painting" in made["painting"]
    assert names_by(["base", "mirror", "painting", "floor", "wall"], "kinds")["base"] == ["base"]


def test_a_clipped_end_of_a_one_word_class_is_said_alone_only_when_it_is_an_everyday_word():
    """'berg' (iceberg), 'vane' (weathervane) and 'drawers' (underdrawers) name other things too and are
    rare words: no synonym. 'plane' also names other things but is an everyday word; 'slaw' and 'gator'
    name nothing else; 'curler' ends a two-word name (see `_head_alone`)."""
    assert names_by(["iceberg", "glacier", "mountain", "volcano"], "synonyms")["iceberg"] == ["iceberg"]
    made = names_by(["weathervane", "hair curler", "airplane", "coleslaw", "underdrawers"], "synonyms")
    assert made["weathervane"] == ["weathervane"] and made["underdrawers"] == ["underdrawers"]
    assert made["airplane"] == ["airplane", "aeroplane", "plane"]
    assert made["coleslaw"] == ["coleslaw", "slaw"] and made["hair curler"] == ["hair curler", "curler"]


def test_a_courtesy_title_is_no_kind_of_person():
    """'Monsieur' ('used as a French courtesy title') and 'Madame' are ways of addressing someone, like
    'sir'; a man's kinds name men ('young man')."""
    assert wordnet.term_of_address(wordnet.synset("monsieur.n.01"))
    assert wordnet.term_of_address(wordnet.synset("madame.n.01"))
    assert not wordnet.term_of_address(wordnet.synset("young_man.n.01"))
    assert "Monsieur" not in names_by(["man", "woman", "boy", "girl"], "kinds")["man"]


@pytest.mark.parametrize("classes,cls,scheme,wrong", [
    # 'shade' is a shadow and a window blind before it is a lampshade (its third sense)
    (["lampshade", "lens cap", "thimble", "scabbard", "holster", "shield"], "lampshade", "broader", "shade"),
    # closets are kinds of the wardrobe that is a small room, the word's third sense, not the furniture
    (["bed", "chair", "couch", "table", "wardrobe"], "wardrobe", "kinds", "clothes closet"),
])
def test_a_word_names_the_class_only_in_its_first_two_senses(classes, cls, scheme, wrong):
    """Killed mutation: a usable word's sense among its first three instead of two (`_usable`)."""
    assert wrong not in synonyms.generate(classes, scheme).labels.names[cls]
