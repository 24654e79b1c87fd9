"""B7: are the generated names names a person would accept for a photo of the class? (not a timed test)

Ten class lists taken from public datasets across domains are run through both schemes; every name is
printed, and REJECTED holds, per list and scheme, the names a careful reader (the author of this file,
after reading the whole output) judged unacceptable as a name for a photo of that class: wrong meaning,
an obscure or technical term nobody would use for a photo, a misspelling, or an odd phrase. The share
accepted is printed per scheme. Re-rate by hand after any change to the generators.

    python benchmarks/b7_names.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from semscale import synonyms  # noqa: E402

LISTS = {  # name: (source, class keys as the dataset's folders spell them)
    "pets": ("Oxford-IIIT Pets (some breeds)", ["Abyssinian", "Bengal", "Persian", "Siamese", "beagle", "boxer",
                                                "chihuahua", "pug", "samoyed", "english_setter"]),
    "animals10": ("Animals-10", ["dog", "horse", "elephant", "butterfly", "chicken", "cat", "cow", "sheep",
                                 "spider", "squirrel"]),
    "food": ("Food-101 (subset)", ["apple_pie", "hot_dog", "pizza", "sushi", "tacos", "waffles", "donuts",
                                   "hamburger", "french_fries", "ice_cream"]),
    "vehicles": ("Vehicle classification sets", ["car", "bus", "truck", "motorcycle", "bicycle", "van", "taxi",
                                                 "ambulance", "tractor", "train"]),
    "clothing": ("Clothing dataset (small)", ["dress", "hat", "longsleeve", "outwear", "pants", "shirt", "shoes",
                                              "shorts", "skirt", "t-shirt"]),
    "sports": ("Sports balls / sports sets", ["basketball", "football", "tennis_ball", "golf_ball", "baseball",
                                              "volleyball", "bowling_ball", "rugby_ball"]),
    "flowers": ("Flowers recognition", ["daisy", "dandelion", "roses", "sunflowers", "tulips"]),
    "sea": ("Sea animals", ["CLAMS", "CRABS", "DOLPHIN", "JELLY_FISH", "LOBSTER", "OCTOPUS", "SEAL", "SHARKS",
                            "STARFISH", "WHALE"]),
    "brands": ("Car brands", ["Nissan", "Toyota", "Tesla", "BMW", "Audi", "Hyundai"]),
    "household": ("Household objects", ["chair", "table", "lamp", "cup", "knife", "fork", "spoon", "bottle",
                                        "clock", "pillow"]),
}

# Names judged unacceptable for a photo of their class, per list and scheme (see the module docstring).
REJECTED: dict[tuple[str, str], set[str]] = {
    ("pets", "paper"): {f"carnivore {n}" for c in ("Abyssinian", "Bengal", "Persian", "siamese", "beagle", "boxer",
                                                    "Chihuahua", "pug", "Samoyed", "English setter")
                        for n in (c, synonyms.plural(c))},  # a category no one puts before a pet's breed
    ("pets", "wordnet"): {"Irani", "Iranian", "Farsi"},  # 'Persian' the person: WordNet has the cat only as 'Persian cat'
    ("animals10", "wordnet"): {
        "eohippus", "protohippus", "stablemate", "gee-gee",  # extinct genera, not a kind, baby talk
        "mammoth", "gomphothere", "woolly mammoth", "columbian mammoth", "imperial mammoth",  # not elephants in a photo
        "nymphalid", "lycaenid", "danaid", "pierid", "peacock", "comma", "viceroy", "hairstreak", "banded purple",
        "cackler", "Dominique", "springer",
        "true cat", "ocelot", "lynx", "sand cat", "manul", "tiger cat", "jungle cat", "leopard cat", "cougar",
        "jaguarundi", "serval",  # wild cats for a house cat's photo ('tiger cat', now WordNet's striped house cat, still reads as wild)
        "coach dog", "post horse", "buckskin", "crowbait", "dun", "springing cow", "brush-footed butterfly",
        "longwool", "broadtail", "Cotswold", "Hampshire", "Exmoor", "Cheviot", "bellwether", "baronduki", "chickeree"},
    ("food", "paper"): {"sushis", "large sushis", "small sushis", "medium sushis", "tiny sushis"},
    ("food", "wordnet"): {"sinker", "fastnacht", "red hot"},
    ("vehicles", "paper"): {f"conveyance {n}" for c in ("car", "bus", "truck", "motorcycle", "bicycle", "van", "taxi",
                                                       "ambulance", "tractor", "train") for n in (c, c + "s")} | {
        "conveyance buses", "conveyance taxis"},
    ("vehicles", "wordnet"): {"charabanc", "jitney", "sound truck", "safety bicycle", "ordinary bicycle",
                              "pantechnicon", "gypsy cab", "funny wagon", "commuter", "car train", "freight liner",
                              "hospital train", "boat train", "wagon", "liner train"},
    ("clothing", "paper"): {"outwears", "large outwears", "small outwears", "medium outwears", "tiny outwears"},
    ("clothing", "wordnet"): {"polonaise", "kirtle", "Mother Hubbard", "millinery", "shovel hat", "bloomers",
                              "knickers", "camise", "hair shirt", "congress boot", "sabot", "flipper", "ghillie",
                              "balmoral", "anklet", "drawers", "underdrawers", "boxers", "boxershorts", "lavalava",
                              "turtleneck", "morning dress", "picture hat", "church hat", "congress shoe",
                              "spectator pump", "levis"},
    ("sports", "paper"): {f"ball {n}" for c in ("basketball", "football", "tennis ball", "golf ball", "baseball",
                                                 "volleyball", "bowling ball", "rugby ball") for n in (c, c + "s")},
    ("flowers", "wordnet"): {"multiflora", "sweetbrier", "helianthus", "Jerusalem artichoke", "blowball",
                             "Jerusalem artichoke sunflower"},
    ("sea", "wordnet"): {"dolphinfish", "mahimahi", "devilfish", "shipworm", "teredo", "giant northwest shipworm",
                         "Otaria Byronia", "thresher", "sand tiger", "porpoise", "cub shark"},
    ("household", "wordnet"): {"chair of state", "fighting chair", "tablet-armed chair", "counter", "booth", "platen",
                               "gueridon", "candle", "taillight", "photoflash", "discharge lamp", "sodium-vapor lamp",
                               "kylix", "scyphus", "grace cup", "chalice", "bolo", "parer", "parang", "barong",
                               "letter opener", "drawknife", "tea maker", "runcible spoon", "gourd", "smelling bottle",
                               "carboy", "demijohn", "phial", "system clock",
                               "tail lamp", "flash lamp", "flashlight", "paper knife", "canteen", "Erlenmeyer flask",
                               "communion table"},
}


def main() -> None:
    totals = {s: [0, 0] for s in synonyms.SCHEMES}
    for key, (source, classes) in LISTS.items():
        for scheme in synonyms.SCHEMES:
            made = synonyms.generate(classes, scheme)
            bad = REJECTED.get((key, scheme), set())
            print(f"\n## {key} ({source}) · {scheme} · domain {made.domain!r}")
            for c, names in made.labels.names.items():
                sense = made.senses.get(c)
                print(f"  {c} [{sense.id if sense else '-'}]: " + ", ".join(f"{n}{' (x)' if n in bad else ''}"
                                                                           for n in names))
                totals[scheme][0] += sum(n not in bad for n in names)
                totals[scheme][1] += len(names)
            for note in made.notes:
                print(f"  note: {note}")
    print("\n| scheme | names | accepted | share |\n|---|---|---|---|")
    for scheme, (ok, n) in totals.items():
        print(f"| {scheme} | {n} | {ok} | {100 * ok / n:.1f}% |")


if __name__ == "__main__":
    main()
