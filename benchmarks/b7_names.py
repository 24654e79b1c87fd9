"""B7: are the generated names names a person would accept for a photo of the class? (not a timed test)

The evaluation set is `name_lists.json` (39 public class lists, 1,025 classes), split once before any
tuning into a development half and a test half (see `_name_lists.py`; the test half was rated once and is
used up), `name_lists_heldout.json` (20 more lists, 368 classes, frozen before the tuning that followed; rated
once and used up too), `name_lists_fresh.json` (34 more lists, 401 classes, frozen before the tuning that
followed the held-out rating; rated once and used up too), `name_lists_fresh2.json` (60 more lists, 1,014
classes, frozen before the tuning that followed the fresh rating; rated once and used up too) and
`name_lists_fresh3.json` (41 more lists, 836 classes, frozen before the tuning that follows the second fresh
rating). Every list rated so far is development data now; tune on those only:

    python benchmarks/b7_names.py rated                # every rated list's names with their relations
    python benchmarks/b7_names.py development          # the same for the first development half only
    python benchmarks/b7_names.py test --write FILE    # the test half's names, to a file for rating (not shown)
    python benchmarks/b7_names.py heldout --blind-out FILE   # the held-out names, for a blind rater (never shown)
    python benchmarks/b7_names.py fresh --blind-out FILE     # the fresh names, for a blind rater (never shown)
    python benchmarks/b7_names.py fresh2 --blind-out FILE    # the second fresh names, for a blind rater (never shown)
    python benchmarks/b7_names.py fresh3 --blind-out FILE    # the third fresh names, for a blind rater (never shown)
    python benchmarks/b7_names.py score                # acceptance per half, scheme and relation
    python benchmarks/b7_names.py score --ratings FILE # the same for another ratings file (the held-out rater's)
    python benchmarks/b7_names.py domains              # today's domain word D on every rated list vs its rater's
    python benchmarks/b7_names.py ceiling              # how far word statistics can sort right names from wrong

A ratings file maps each rated split to {"names_file": the file the --write/--blind-out run made
(relative to the ratings file), "rated_by", "domain": {list: [the domain words a person would choose, null
for none]}, "rejected": [{"list", "scheme", "class", "name", "reason"}, ...]}: every rejected name with its
reason (an insult's reason starts with "insult"), so the figures can be re-checked. `b7_ratings.json` holds
the ratings so far. The rubric
(issue 24): yes = a true synonym or common alternative name, an inoffensive informal synonym, or a correct
everyday category that fits every photo of the class; no = wrong sense, a narrower kind (for synonyms and
broader), Latin, scientific or technical terms a lay labeller would not use, slang, archaic or jocular
terms, anything offensive, nonsense. A kind is accepted when it is a correct subtype of the class.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _name_lists  # noqa: E402

from semscale.names import synonyms  # noqa: E402

SCHEMES = ("synonyms", "broader", "kinds")  # the WordNet relations; the paper scheme's D is printed beside them
SELF_RATED = ("development, before tuning", "development")  # rated by the helper that tuned: not for `ceiling`
RATINGS = Path(__file__).with_name("b7_ratings.json")


def names_of(half: str) -> dict:
    """list -> {domain, domain_note, schemes: {scheme: {class: [[name, relation, gloss], ...]}}} for one half."""
    out = {}
    for key, entry in _name_lists.half(half).items():
        classes = entry["classes"]
        paper = synonyms.generate(classes, "paper")
        made = {}
        for scheme in SCHEMES:
            g = synonyms.generate(classes, scheme)
            made[scheme] = {c: [[n, g.relations[c][n], g.glosses[c].get(n, "")] for n in names[1:]]
                            for c, names in g.labels.names.items()}
        out[key] = {"domain": paper.domain, "domain_note": next((n for n in paper.notes if "domain word" in n), ""),
                    "schemes": made}
    return out


def show(half: str) -> None:
    for key, entry in names_of(half).items():
        print(f"\n## {key} · paper D = {entry['domain']!r} ({entry['domain_note']})")
        for scheme, table in entry["schemes"].items():
            rows = [f"{c}: " + ", ".join(f"{n} [{r}]" for n, r, _ in names) for c, names in table.items() if names]
            print(f"  ### {scheme}: {len(rows)} of {len(table)} classes gained names")
            for row in rows:
                print(f"    {row}")


def score(path: Path = RATINGS) -> None:
    """Per rated names file, scheme and relation: names generated, rejected, share accepted; insults;
    classes gained; then how often the paper scheme's domain word D is one a person would choose."""
    ratings = json.loads(path.read_text(encoding="utf-8"))
    print("| half | scheme | relation | names | rejected | accepted | insults | classes gained a name |")
    print("|---|---|---|---|---|---|---|---|")
    for half, rated in ratings.items():
        generated = json.loads((path.parent / rated["names_file"]).read_text(encoding="utf-8"))
        rejected = {(r["list"], r["scheme"], r["class"], r["name"]): r["reason"] for r in rated["rejected"]}
        made = {(key, scheme, c, n) for key, entry in generated.items() for scheme in SCHEMES
                for c, names in entry["schemes"][scheme].items() for n, _, _ in names}
        stray = sorted(set(rejected) - made)
        if stray:  # a typo in the ratings would silently count as accepted
            raise SystemExit(f"{half}: {len(stray)} rejected names are not in {rated['names_file']}, e.g. {stray[0]}")
        for scheme in SCHEMES:
            total, bad, gained, classes = Counter(), Counter(), 0, 0
            insults = 0
            for key, entry in generated.items():
                for c, names in entry["schemes"][scheme].items():
                    classes += 1
                    gained += bool(names)
                    for n, relation, _ in names:
                        total[relation] += 1
                        reason = rejected.get((key, scheme, c, n))
                        bad[relation] += reason is not None
                        insults += bool(reason and reason.startswith("insult"))
            if not total:
                print(f"| {half} | {scheme} | - | 0 | 0 | - | 0 | {gained} of {classes} |")
            for relation in total:
                n, b = total[relation], bad[relation]
                print(f"| {half} | {scheme} | {relation} | {n} | {b} | {100 * (n - b) / n:.1f}% | {insults} | "
                      f"{gained} of {classes} |")
    print("\n| half | lists | domain word D agrees with an everyday word (or none where none fits) |")
    print("|---|---|---|")
    for half, rated in ratings.items():
        generated = json.loads((path.parent / rated["names_file"]).read_text(encoding="utf-8"))
        accept = rated.get("domain", {})
        misses = sorted(k for k, e in generated.items() if k in accept and e["domain"] not in accept[k])
        # the test and blind lists stay unseen: only a count for them
        shown = "" if half.startswith(("test", *_name_lists.BLIND)) else f" (misses: {', '.join(misses) or 'none'})"
        print(f"| {half} | {len(accept)} | {len(accept) - len(misses)} of {len(accept)}{shown} |")


def domains(path: Path = RATINGS) -> None:
    """The paper scheme's domain word D as generated now, on every rated list (all development data now),
    against the words its rater would choose (None: no word fits every class)."""
    accept = {}
    for rated in json.loads(path.read_text(encoding="utf-8")).values():
        accept.update(rated.get("domain", {}))
    lists, agree = _name_lists.half("rated"), 0
    for key in sorted(accept):
        made = synonyms.generate(lists[key]["classes"], "paper")
        agree += made.domain in accept[key]
        print(f"{'ok  ' if made.domain in accept[key] else 'MISS'} {key}: {made.domain!r} (accepted: {accept[key]})")
    print(f"\ndomain word D agrees on {agree} of {len(accept)} rated lists")


def _features(class_name: str, name: str, gloss: str) -> list[float]:
    """What word statistics say of one generated name: its Zipf (and its rarest word's), words, WordNet's tagged
    uses in its sense and in all, the sense's rank and how many senses the word has, the class name's Zipf,
    whether its sense has kinds of its own, capitals, whether it is in the class name or holds its head word,
    and the sense's lexicographer file (one of `LEXNAMES`)."""
    from semscale.names import wordnet
    from semscale.names.commonness import zipf

    senses = wordnet.noun_synsets(name)
    rank = next((i for i, s in enumerate(senses) if s.definition() == gloss), len(senses))
    sense = senses[rank] if rank < len(senses) else None
    word = name.replace(" ", "_")
    uses = wordnet.used_as(word, sense) if sense else 0
    all_uses = sum(wordnet.used_as(word, s) for s in senses)
    words = name.replace("-", " ").split()
    lexname = sense.lexname() if sense else ""
    return [zipf(name), min(zipf(w) for w in words), len(words), math.log1p(uses), math.log1p(all_uses),
            uses / all_uses if all_uses else 0.5, rank, len(senses), zipf(class_name),
            bool(sense and sense.hyponyms()), name[:1].isupper(), name.lower() in class_name.lower(),
            class_name.lower().split()[-1] in name.lower(), *(lexname == x for x in LEXNAMES)]


LEXNAMES = ("noun.artifact", "noun.animal", "noun.food", "noun.plant", "noun.object", "noun.location",
            "noun.substance", "noun.act", "noun.phenomenon", "noun.body", "noun.group", "noun.person")


def ceiling(path: Path = RATINGS, folds: int = 5) -> None:
    """How far word statistics alone can tell the names blind raters accepted from those they rejected: a
    logistic regression on `_features`, fitted per relation on the blind-rated lists with whole lists held
    out (`folds`-fold), then the share accepted among the names it scores highest, keeping fewer and fewer."""
    rows = []
    for half, rated in json.loads(path.read_text(encoding="utf-8")).items():
        if half in SELF_RATED:
            continue
        generated = json.loads((path.parent / rated["names_file"]).read_text(encoding="utf-8"))
        rejected = {(r["list"], r["scheme"], r["class"], r["name"]) for r in rated["rejected"]}
        rows += [(f"{half}/{key}", relation, _features(c, n, gloss), (key, scheme, c, n) not in rejected)
                 for key, entry in generated.items() for scheme in SCHEMES
                 for c, names in entry["schemes"][scheme].items() for n, relation, gloss in names]
    print("| relation | blind-rated names | accepted | keeping the best 80% | 60% | 40% | 20% |")
    print("|---|---|---|---|---|---|---|")
    for relation in ("synonym", "broader", "kind"):
        mine = [r for r in rows if r[1] == relation]
        x = np.array([r[2] for r in mine], float)
        y = np.array([r[3] for r in mine], float)
        lists = sorted({r[0] for r in mine})
        fold = dict(zip(np.random.default_rng(24).permutation(lists), np.arange(len(lists)) % folds, strict=True))
        held = np.array([fold[r[0]] for r in mine])
        score = np.zeros(len(mine))
        for k in range(folds):
            fit = held != k
            mean, sd = x[fit].mean(0), x[fit].std(0) + 1e-9
            w, b = _logistic((x[fit] - mean) / sd, y[fit])
            score[~fit] = (x[~fit] - mean) / sd @ w + b
        kept = [y[score >= np.quantile(score, 1 - share)] for share in (0.8, 0.6, 0.4, 0.2)]
        print(f"| {relation} | {len(y)} | {100 * y.mean():.1f}% | "
              + " | ".join(f"{100 * k.mean():.1f}% ({len(k)})" for k in kept) + " |")


def _logistic(x, y, steps: int = 2000, rate: float = 0.1, l2: float = 1.0):
    """Weights and bias of an L2-regularised logistic regression by gradient descent (numpy only)."""
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        error = 1 / (1 + np.exp(-(x @ w + b))) - y
        w -= rate * (x.T @ error + l2 * w) / len(y)
        b -= rate * error.mean()
    return w, b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("half", choices=(*_name_lists.HALVES, "score", "domains", "ceiling"))
    parser.add_argument("--write", type=Path, help="write the half's names to this JSON file instead of printing")
    parser.add_argument("--blind-out", "--heldout-out", type=Path, dest="blind_out",
                        help=f"write a blind split's names ({', '.join(_name_lists.BLIND)}) to this JSON file for a "
                             "blind rater; they are never printed")
    parser.add_argument("--ratings", type=Path, default=RATINGS, help="the ratings file `score` reads")
    args = parser.parse_args()
    out = args.blind_out or args.write
    blind = args.half in _name_lists.BLIND
    if args.half == "score":
        score(args.ratings)
    elif args.half == "domains":
        domains(args.ratings)
    elif args.half == "ceiling":
        ceiling(args.ratings)
    elif blind and not args.blind_out:
        parser.error(f"the {args.half} names are for a blind rater: write them with --blind-out FILE, never print them")
    elif args.blind_out and not blind:
        parser.error(f"--blind-out writes a blind split only ({', '.join(_name_lists.BLIND)})")
    elif out:
        made = names_of(args.half)
        out.write_text(json.dumps(made, indent=1, ensure_ascii=False), encoding="utf-8")
        print(f"wrote the names of {len(made)} lists to {out}")
    else:
        show(args.half)


if __name__ == "__main__":
    main()
