"""One way to build a run: the CLI, the dashboard's pages and demo, and the scripts all turn a user's choices
into a `RunConfig` with `build`, so the same choices give the same run wherever they are made.

`build` owns the decisions every caller used to make on its own: the built-in dataset's domain word, the
preset's fixed settings and the options that clash with them, name generation (or the record of where
hand-edited names came from), the display-name fallback without WordNet, and the notes a user should read
before the run starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from semscale.core.errors import SemscaleError
from semscale.data import datasets
from semscale.names import synonyms
from semscale.run import presets, schedule
from semscale.run.config import RunConfig

ONE_NAME_NOTE = ("every class has one name, so the curve has one point; give the classes more names with the "
                 "paper or WordNet scheme (--scheme, or the dashboard's Synonyms page) or a label file (--labels)")


@dataclass
class NameRecord:
    """Where a table of names came from when the user may have edited it (the dashboard's Synonyms page):
    the scheme that generated it (None: the user's own), its domain word and why, display names, senses and notes."""

    scheme: str | None = None
    domain: str | None = None
    domain_note: str | None = None
    class_names: dict[str, str] | None = None
    senses: dict[str, str] | None = None
    notes: list[str] = field(default_factory=list)
    keep_repeats: bool = False  # the table repeats names on purpose (a loaded paper-scheme file)


def domain_word(dataset: str, domain: str | None = None) -> str | None:
    """The paper scheme's domain word D: the one given (checked), else the built-in dataset's own, else None
    (the generator then looks for the classes' shared WordNet category)."""
    builtin = datasets.BUILTINS.get(dataset)
    return synonyms.validate_domain(domain) or (builtin.domain if builtin else None)


def build(dataset: str, classes: list[str], *, preset: str | None = None, scheme: str | None = None,
          labels: dict[str, list[str]] | None = None, relations: dict[str, list[str]] | None = None,
          record: NameRecord | None = None, domain: str | None = None,
          progress: Callable[[float], None] | None = None, **settings) -> tuple[RunConfig, list[str]]:
    """The run's config and the notes to show before it starts: `configure`, then `name` (see both)."""
    config = configure(dataset, preset=preset, domain=domain, **settings)
    return config, name(config, classes, scheme=scheme, labels=labels, relations=relations, record=record,
                        progress=progress)


def configure(dataset: str, *, preset: str | None = None, domain: str | None = None, **settings) -> RunConfig:
    """A checked RunConfig without its names yet (the CLI refuses bad settings before listing the data).

    `settings`: other RunConfig fields (schedule, aggregations, templates, repeats, seed, batch_size, ...);
    None means not given. A preset fixes its settings: given ones that differ are refused, extra
    aggregations join its own."""
    given = {key: value for key, value in settings.items() if value is not None}
    config = RunConfig(dataset=dataset, domain=synonyms.validate_domain(domain), **given)
    if preset:
        chosen = presets.get(preset)
        clashes = presets.conflicts(chosen, given.get("schedule"), given.get("templates") or [], given.get("repeats"))
        if clashes:
            raise SemscaleError(f"the {chosen.name} preset fixes these settings; drop them or the preset: "
                                + "; ".join(clashes))
        presets.apply(chosen, config)
    config.validate()
    return config


def name(config: RunConfig, classes: list[str], *, scheme: str | None = None,
         labels: dict[str, list[str]] | None = None, relations: dict[str, list[str]] | None = None,
         record: NameRecord | None = None, progress: Callable[[float], None] | None = None) -> list[str]:
    """Give `config` its names and return the notes to show before the run, the domain word and its reason
    first (the paper scheme's D: a reader should see it before trusting the run).

    `labels`: names from a file or a table, with each name's `relations` where known (`record` says where
    a table's came from; without one they are the user's own). Without them `scheme`, or the preset's,
    generates names for `classes` (WordNet is fetched first where missing: `progress`), and with neither
    each class has its display name."""
    notes: list[str] = []
    preset_scheme, config.scheme = config.scheme, None
    if labels is not None:
        config.labels, config.relations = labels, relations
        if record is not None:
            config.scheme, config.domain, config.class_names = record.scheme, record.domain, record.class_names
            config.senses, config.name_notes = record.senses, list(record.notes)
            config.keep_repeats = record.keep_repeats
            notes += [record.domain_note] if record.domain_note else []
        elif config.preset:
            notes.append(f"the names come from your label set, not the {config.preset} preset's scheme")
    elif scheme or preset_scheme:
        chosen = scheme or preset_scheme
        made = synonyms.generate(classes, chosen, domain=domain_word(config.dataset, config.domain), progress=progress)
        config.use_names(made, chosen)
        notes += [made.domain_note] if made.domain_note else []
    longest = max((len(names) for names in (config.labels or {}).values()), default=1)
    notes += [n for n in [schedule.cut_note(config.schedule, longest)] if n]
    if longest == 1:
        notes.append(ONE_NAME_NOTE)
    return notes
