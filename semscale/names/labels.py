"""Label sets: for each class an ordered list of names, base name first, then redundant names.

Stored as plain YAML a user can edit:

    classes:
      dog: [dog, dogs, large dog, puppy]
      cat: [cat, cats]
    relations:            # optional: each name's relation to its class (`RELATIONS`), same order
      dog: [name, plural, modifier, synonym]
      cat: [name, plural]

`LabelSet.clean` turns raw user input into a valid set and lists, in plain words, everything it
had to drop or fix, so neither the CLI nor the dashboard ever fails on a messy synonym table.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from semscale.core.errors import SemscaleError

MAX_NAME_CHARS = 200  # CLIP's text encoder sees 77 tokens; anything longer is a paste accident.
# A label file is classes x names: ImageNet's 1,000 classes with 20 names each is ~21,000 YAML nodes
# and ~260 KB (0.25 s to read). The caps bound what a hostile file can cost (under 1 s).
MAX_LABEL_BYTES = 1 << 20
MAX_LABEL_NODES = 50_000
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, when built with it: ~5x faster

# What a name is to its class. Names of the first four are names of the same thing; a name a user typed or
# loaded without relations is `user` (its relation is not known), the class's first name `name`.
RELATIONS = {
    "name": "the class's own name",
    "plural": "the plural of the class's name",
    "modifier": "the class's name with a size or domain word (the paper's)",
    "synonym": "another word for the same thing (same WordNet sense)",
    "broader": "an everyday category that fits every photo of the class: not a name of the class",
    "kind": "a narrower kind (subtype) that fits only some photos: not a name of the class",
    "user": "a name the user gave; its relation is not known",
}
EQUIVALENT = frozenset({"name", "plural", "modifier", "synonym"})


def _yaml_data(text: str, source: str):
    """`text` loaded as safe YAML once its events passed: no alias, at most `MAX_LABEL_NODES` nodes.

    The check walks the parser's events before anything is composed or constructed: an alias bomb
    (9 levels of 9 aliases, 400 bytes) would otherwise expand to 9^9 names and gigabytes. A label
    file has no use for aliases."""
    nodes = 0
    for event in yaml.parse(text, Loader=_YAML_LOADER):
        if isinstance(event, yaml.AliasEvent):
            raise SemscaleError(f"{source} uses a YAML alias (*{event.anchor}) at line {event.start_mark.line + 1}; "
                                "write the names out instead")
        if isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
            nodes += 1
            if nodes > MAX_LABEL_NODES:
                raise SemscaleError(f"{source} has more than {MAX_LABEL_NODES:,} YAML nodes; "
                                    "a label set needs far fewer")
    return yaml.load(text, Loader=_YAML_LOADER)


def normalize_name(raw: object) -> str:
    """Trim, NFC-normalize and collapse whitespace; underscores become spaces."""
    text = unicodedata.normalize("NFC", str(raw if raw is not None else ""))
    return re.sub(r"\s+", " ", text.replace("_", " ")).strip()


def name_key(name: str) -> str:
    """Two names are the same label when they differ only in case or spacing."""
    return normalize_name(name).casefold()


@dataclass(frozen=True)
class LabelSet:
    """Ordered classes, each with its ordered, de-duplicated names (base name first)."""

    names: dict[str, list[str]]
    warnings: tuple[str, ...] = field(default=(), compare=False)
    # class -> each name's relation to it (`RELATIONS`), in the order of `names`; empty: not known
    relations: dict[str, list[str]] = field(default_factory=dict, compare=False)

    @property
    def classes(self) -> list[str]:
        return list(self.names)

    @property
    def max_names(self) -> int:
        return max(len(v) for v in self.names.values())

    def active(self, n: int) -> dict[str, list[str]]:
        """The first `n` names of every class: the candidate labels at scale level n."""
        return {c: names[:n] for c, names in self.names.items()}

    def reordered(self, order: dict[str, list[int]]) -> "LabelSet":
        """A copy whose extra names follow `order[class]` (indices into the extra names)."""
        return LabelSet({c: [v[0]] + [v[1:][i] for i in order[c]] for c, v in self.names.items()})

    @classmethod
    def clean(cls, raw: dict[str, list[object]], classes: list[str] | None = None, *,
              keep_repeats: bool = False, relations: dict[str, list[str]] | None = None) -> "LabelSet":
        """Validate user input; drop empty, over-long and duplicate names with a warning each.

        `relations`: each raw name's relation (`RELATIONS`), in the order of `raw`; a kept name keeps its
        own, and without them a class's first name is `name` and the others `user`.

        `keep_repeats` keeps a name that repeats an earlier name of its class character for character:
        the paper scheme makes such repeats on purpose ('pants', 'pants': a plural-only noun), so that
        every class has the same number of names. Variants in case or spacing are still dropped.

        A name listed under two classes stays with the class where it comes earliest in the list
        (ties: the class listed first) and is removed from the others, so results never depend on
        dictionary order. `classes`, when given, are the dataset's classes: each gets at least its
        own name, and names for classes the dataset lacks are ignored with a warning.
        """
        warnings: list[str] = []
        table: dict[str, list[str]] = {}
        seen_class: dict[str, str] = {}
        for raw_class, raw_names in raw.items():
            cname = normalize_name(raw_class)
            if not cname:
                warnings.append("a class with an empty name was ignored")
                continue
            if name_key(cname) in seen_class:
                warnings.append(f"class '{cname}' repeats class '{seen_class[name_key(cname)]}'; its names were merged")
                cname = seen_class[name_key(cname)]
            seen_class.setdefault(name_key(cname), cname)
            if isinstance(raw_names, str):
                raw_names = [raw_names]
            _add_names(cname, raw_names or [], table.setdefault(cname, []), keep_repeats, warnings)
        if classes is not None:
            table = _align_to_dataset(table, classes, warnings)
        table = _resolve_shared_names(table, warnings)
        empty = [c for c, names in table.items() if not names]
        if empty:
            raise SemscaleError(f"class '{empty[0]}' has no usable name; give it at least one")
        if not table:
            raise SemscaleError("the label set has no classes")
        return cls(table, tuple(warnings), _kept_relations(raw, relations or {}, table))

    @classmethod
    def edited(cls, before: dict[str, list[str]], raw: dict[str, list[object]], classes: list[str], *,
               keep_repeats: bool = False, relations: dict[str, list[str]] | None = None) -> "LabelSet":
        """Clean a table in which a user changed some rows of `before`: a name typed into a changed row
        that another class already has stays with that class, so an edit never changes another class."""
        owners = {name_key(n): c for c, names in before.items() for n in names}
        warnings, table, kept = [], {}, {}
        for c, names in raw.items():
            rels = list((relations or {}).get(c) or [None] * len(names))
            if list(names) == list(before.get(c, [])):
                table[c], kept[c] = names, rels
                continue
            table[c], kept[c] = [], []
            for n, r in zip(names, rels, strict=True):
                owner = owners.get(name_key(normalize_name(n)), c)
                if owner != c:
                    warnings.append(f"class '{c}': '{normalize_name(n)}' is already a name of '{owner}'; not added")
                else:
                    table[c].append(n)
                    kept[c].append(r)
        out = cls.clean(table, classes, keep_repeats=keep_repeats, relations=kept)
        return cls(out.names, tuple(warnings) + out.warnings, out.relations)

    # --- files -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        classes = {"classes": {c: list(v) for c, v in self.names.items()}}
        return {**classes, "relations": {c: list(v) for c, v in self.relations.items()}} if self.relations else classes

    def save(self, path: str | Path) -> None:
        path = Path(path)
        if path.suffix.lower() == ".json":
            path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
        else:
            path.write_text(yaml.safe_dump(self.to_dict(), allow_unicode=True, sort_keys=False), encoding="utf-8")

    @classmethod
    def parse(cls, text: str, classes: list[str] | None = None, source: str = "label file", *,
              keep_repeats: bool = False) -> "LabelSet":
        """Read YAML or JSON text (`classes:` mapping, or the mapping on its own; `relations:` beside
        `classes:` gives each name's relation); names are scalars, and the text is refused past
        `MAX_LABEL_BYTES`, `MAX_LABEL_NODES` or at any alias. `keep_repeats`: as in `clean`."""
        _check_size(len(text), source)  # characters: as many bytes or more
        try:
            data = _yaml_data(text, source)  # YAML is a superset of JSON
        except yaml.YAMLError as exc:
            line = getattr(getattr(exc, "problem_mark", None), "line", None)
            where = f" at line {line + 1}" if line is not None else ""
            raise SemscaleError(f"{source} is not valid YAML/JSON{where}") from None
        relations = None
        if isinstance(data, dict) and isinstance(data.get("classes"), dict):
            relations = _file_relations(data.get("relations"), data["classes"], source)
            data = data["classes"]
        if not isinstance(data, dict) or not all(isinstance(v, (list, str)) for v in data.values()):
            raise SemscaleError(f"{source} must map each class to a list of names, e.g. 'dog: [dog, puppy]'")
        nested = next((c for c, v in data.items()
                       if isinstance(v, list) and any(isinstance(n, (list, dict)) for n in v)), None)
        if nested is not None:
            raise SemscaleError(f"{source}: class {str(nested)[:80]!r} has a list or mapping among its names; "
                                "each name must be plain text")
        return cls.clean(data, classes, keep_repeats=keep_repeats, relations=relations)

    @property
    def repeats(self) -> int:
        """How many names repeat an earlier name of their class exactly (the paper scheme's 'pants', 'pants')."""
        return sum(len(names) - len(set(names)) for names in self.names.values())

    @classmethod
    def load(cls, path: str | Path, classes: list[str] | None = None) -> "LabelSet":
        path = Path(path)
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_LABEL_BYTES + 1)
            _check_size(len(data), f"label file {path}")
            text = data.decode("utf-8")
        except FileNotFoundError:
            raise SemscaleError(f"label file {path} does not exist") from None
        except IsADirectoryError:
            raise SemscaleError(f"label file {path} is a folder; name a YAML or JSON file") from None
        except UnicodeDecodeError:
            raise SemscaleError(f"label file {path} is not UTF-8 text") from None
        return cls.parse(text, classes, source=f"label file {path}")


def name_rows(labels: LabelSet, glosses: dict[str, dict[str, str]] | None = None) -> list[dict]:
    """One row per name for a user to tick in or out (the dashboard's Synonyms page): class, name, its
    relation, whether it names the class (kind and broader do not), the WordNet gloss it came from, use."""
    return [{"class": c, "name": n, "relation": r, "same thing": "yes" if r in EQUIVALENT else
             ("unknown" if r == "user" else "NO: " + RELATIONS[r].split(": ")[0]),
             "meaning": (glosses or {}).get(c, {}).get(n, ""), "use": True}
            for c, names in labels.names.items() for n, r in zip(names, labels.relations[c], strict=True)]


def emptied_bases(rows: dict[int, dict], offered: list[dict]) -> list[str]:
    """The classes whose base name (their first offered row) a user emptied in `rows` (as in `ticked`): the
    next name must not silently become the base name. A row ticked out or deleted is left out on purpose."""
    first: dict[str, int] = {}
    for i, row in enumerate(offered):
        first.setdefault(row["class"], i)
    return [c for c, i in first.items() if i in rows and not _text(rows[i].get("name"))]


def ticked(rows: dict[int, dict], offered: list[dict], classes: list[str], *, keep_repeats: bool = False,
           current: LabelSet | None = None) -> LabelSet:
    """The label set of the ticked rows of `name_rows(...)` = `offered` as a user edited them (row number ->
    row; new rows numbered past the offered ones): a name typed or moved is the user's (`user`), and an
    edit never takes a name from another class (`LabelSet.edited`). A class whose base name is emptied
    (`emptied_bases`) keeps its names and relations in `current`, the names kept before this edit."""
    held = set(emptied_bases(rows, offered)) & set(current.names if current else ())
    raw: dict[str, list[str]] = {c: list(current.names[c]) for c in held}
    relations: dict[str, list[str]] = {c: list(current.relations[c]) for c in held}
    for i, row in rows.items():
        name, cls_ = row.get("name"), row.get("class")
        if not row.get("use") or not _text(name) or not isinstance(cls_, str) or cls_ in held:
            continue
        same = i < len(offered) and (offered[i]["class"], offered[i]["name"]) == (cls_, name)
        raw.setdefault(cls_, []).append(name)
        relations.setdefault(cls_, []).append(offered[i]["relation"] if same else "user")
    before: dict[str, list[str]] = {}
    for row in offered:
        before.setdefault(row["class"], []).append(row["name"])
    return LabelSet.edited(before, raw, classes, keep_repeats=keep_repeats, relations=relations)


def as_left(rows: dict[int, dict], offered: list[dict]) -> list[dict]:
    """The table a user left: the rows `offered` (`name_rows`) with their edits `rows` (as in `ticked`) folded
    in, to offer again when the editor is drawn afresh (after another page or a reload), which forgets its
    edits. An unchanged row keeps its relation and gloss; a typed or moved one is the user's (`user`, as
    `ticked` counts it); a tick box stays as it was left; an offered row emptied stays (empty) and a new
    row without a name is left out."""
    out = []
    for i, row in sorted(rows.items()):
        cls_, name = (row.get(k) if isinstance(row.get(k), str) else None for k in ("class", "name"))
        use = bool(row.get("use"))
        if i < len(offered) and (offered[i]["class"], offered[i]["name"]) == (cls_, name):
            out.append({**offered[i], "use": use})
        elif i < len(offered) or _text(name):
            out.append({"class": cls_, "name": name, "relation": "user", "same thing": "unknown", "meaning": "",
                        "use": use})
    return out


def _text(value: object) -> bool:
    """Whether an editor cell holds a name (an emptied cell reads None, '' or blanks)."""
    return isinstance(value, str) and bool(value.strip())


def _check_size(size: int, source: str) -> None:
    if size > MAX_LABEL_BYTES:
        raise SemscaleError(f"{source} is larger than {MAX_LABEL_BYTES >> 20} MB; a label set needs far less")


def _file_relations(raw: object, classes: dict, source: str) -> dict[str, list[str]] | None:
    """A label file's `relations:` section, checked: one known relation per name of the class."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise SemscaleError(f"{source}: 'relations' must map each class to a list of relations, one per name")
    for c, rels in raw.items():
        names = classes.get(c)
        names = [names] if isinstance(names, str) else names
        rels = [rels] if isinstance(rels, str) else rels
        if not isinstance(rels, list) or not isinstance(names, list) or len(rels) != len(names):
            raise SemscaleError(f"{source}: class {str(c)[:80]!r} needs one relation per name under 'relations'")
        unknown = next((r for r in rels if r not in RELATIONS), None)
        if unknown is not None:
            raise SemscaleError(f"{source}: class {str(c)[:80]!r} has the relation {str(unknown)[:40]!r}; "
                                f"use one of {', '.join(RELATIONS)}")
    return {c: [rels] if isinstance(rels, str) else rels for c, rels in raw.items()}


def _kept_relations(raw: dict, relations: dict[str, list[str]], table: dict[str, list[str]]) -> dict[str, list[str]]:
    """The relation of every name `clean` kept: the first raw name of its class (merged, as in `clean`)
    that reads the same, in order; a name with none given (or the class's name put in by the dataset) is
    `name` first and `user` after."""
    given: dict[str, list[tuple[str, str]]] = {}
    for raw_class, raw_names in raw.items():
        raw_names = [raw_names] if isinstance(raw_names, str) else list(raw_names or [])
        rels = list(relations.get(raw_class) or [])
        rels += [None] * (len(raw_names) - len(rels))
        given.setdefault(name_key(normalize_name(raw_class)), []).extend(
            (normalize_name(n), r) for n, r in zip(raw_names, rels, strict=True))
    out = {}
    for c, names in table.items():
        pairs, at, kept = given.get(name_key(c), []), 0, []
        for position, name in enumerate(names):
            while at < len(pairs) and pairs[at][0] != name:
                at += 1
            found = pairs[at][1] if at < len(pairs) else None
            at += 1
            kept.append(found or ("name" if position == 0 else "user"))
        out[c] = kept
    return out


def _add_names(cname: str, raw_names: list[object], kept: list[str], keep_repeats: bool, warnings: list[str]) -> None:
    """Append to `kept` (class `cname`'s names so far) each usable raw name; a warning for each dropped one."""
    keys = {name_key(n) for n in kept}
    exact = set(kept)
    for position, raw_name in enumerate(raw_names):
        name = normalize_name(raw_name)
        if not name:
            warnings.append(f"class '{cname}': empty name #{position + 1} was dropped")
        elif len(name) > MAX_NAME_CHARS:
            warnings.append(f"class '{cname}': a name of {len(name)} characters was dropped "
                            f"(limit {MAX_NAME_CHARS}): '{name[:40]}...'")
        elif name_key(name) in keys and not (keep_repeats and name in exact):
            warnings.append(f"class '{cname}': duplicate name '{name}' was dropped")
        else:
            kept.append(name)
            keys.add(name_key(name))
            exact.add(name)


def _align_to_dataset(table: dict[str, list[str]], classes: list[str], warnings: list[str]) -> dict[str, list[str]]:
    by_key = {name_key(c): c for c in table}
    aligned: dict[str, list[str]] = {}
    for c in classes:
        names = table.get(by_key.get(name_key(c), ""), [])
        if not names:
            warnings.append(f"class '{c}' had no names in the label set; its class name is used")
            names = [normalize_name(c)]
        aligned[c] = names
    extra = [c for c in table if name_key(c) not in {name_key(k) for k in classes}]
    if extra:
        warnings.append(f"names for classes not in the dataset were ignored: {', '.join(extra)}")
    return aligned


def _resolve_shared_names(table: dict[str, list[str]], warnings: list[str]) -> dict[str, list[str]]:
    owner: dict[str, tuple[int, int, str]] = {}
    for class_index, (cname, names) in enumerate(table.items()):
        for position, name in enumerate(names):
            claim = (position, class_index, cname)
            key = name_key(name)
            if key not in owner or claim < owner[key]:
                owner[key] = claim
    resolved: dict[str, list[str]] = {}
    for cname, names in table.items():
        kept = []
        for name in names:
            winner = owner[name_key(name)][2]
            if winner == cname:
                kept.append(name)
            else:
                warnings.append(f"name '{name}' is listed under '{winner}' and '{cname}'; kept for '{winner}' only")
        resolved[cname] = kept
    return resolved
