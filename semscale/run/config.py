"""What defines a run (`RunConfig`, stored as JSON with it) and the checks a config must pass before
anything is stored: its aggregations, prompt templates, counts, interval and image preparation."""

from __future__ import annotations

import string
from dataclasses import dataclass, field

from semscale.core.errors import SemscaleError
from semscale.data.images import DECODES, DRAFT_SIDE, PREPARATIONS
from semscale.run import aggregations as rules

PROBE_NAMES = ("first probe name", "second probe name")


def template_error(template: str) -> str | None:
    """Why `template` cannot carry a class name into a prompt, or None when it can.

    Parsed, not counted: exactly one plain {} field and no other field, format spec, conversion
    or stray brace; and two different names must give two different prompts.
    """
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template)
                  if name is not None]
    except ValueError as exc:
        return f"has a stray brace ({exc}); write {{{{ or }}}} for a literal one"
    named = [name for name, _, _ in fields if name]
    if named:
        return f"uses another field {{{named[0]}}}; only a plain {{}} is allowed"
    if any(spec or conv for _, spec, conv in fields):
        return "has a format spec or conversion; only a plain {} is allowed"
    if len(fields) != 1:
        if not fields:
            return "has no {} field for the name"
        return f"has {len(fields)} {{}} fields; exactly one {{}} is allowed"
    if template.format(PROBE_NAMES[0]) == template.format(PROBE_NAMES[1]):
        return "gives the same prompt for every name"
    return None


@dataclass
class RunConfig:
    """Everything that defines a run; stored as JSON with it. Never holds a server token."""

    dataset: str
    labels: dict[str, list[str]] | None = None  # None: each class's display name only
    schedule: str = "exponential"
    aggregations: list[str] = field(default_factory=lambda: ["max"])
    templates: list[str] = field(default_factory=list)  # e.g. ["a photo of a {}."]
    repeats: int = 1  # 1 = the given name order; R > 1 adds R-1 seeded random orders
    seed: int = 0
    batch_size: int = 32
    interval: str = "wilson"  # or "bootstrap": percentile bootstrap over images, computed at the end
    backend: dict = field(default_factory=dict)  # server URL, batch size, timeout; no secrets
    # Where the settings and names came from, stored so a report can say what is the paper's:
    preset: str | None = None  # a key of semscale.run.presets.PRESETS
    scheme: str | None = None  # the name scheme that generated `labels`; None: the user's own names
    domain: str | None = None  # the paper scheme's domain word D
    class_names: dict[str, str] | None = None  # class key -> the display name its names were built from
    senses: dict[str, str] | None = None  # class key -> WordNet sense id the names came from
    relations: dict[str, list[str]] | None = None  # class key -> each name's relation (labels.RELATIONS); None: unknown
    name_notes: list[str] = field(default_factory=list)  # what the name generator had to say
    keep_repeats: bool = False  # keep names that repeat an earlier one exactly (a loaded paper-scheme file)
    image_prep: str = "clip"  # a key of semscale.data.images.PREPARATIONS
    decode: str = "draft"  # a key of semscale.data.images.DECODES; runs stored without it decoded "exact"

    def use_names(self, generated, scheme: str) -> None:
        """Take a name generator's output (a `semscale.names.synonyms.Generated` made by `scheme`) as the run's
        names, with the record of where they came from."""
        self.labels, self.scheme, self.domain = generated.labels.names, scheme, generated.domain
        self.class_names, self.name_notes = dict(generated.display), list(generated.notes)
        self.senses = {c: s.id for c, s in generated.senses.items()}
        self.keep_repeats = scheme == "paper"  # as the dashboard records a generated paper table
        self.relations = generated.labels.relations

    def validate(self) -> None:
        bad = [a for a in self.aggregations if a not in rules.names()]
        if bad or not self.aggregations:
            raise SemscaleError(f"unknown aggregation {bad[0] if bad else '(none)'}; "
                                f"choose from {', '.join(rules.names())}")
        for t in self.templates:
            problem = template_error(t)
            if problem:
                raise SemscaleError(f"prompt template {t!r} must contain exactly one {{}} for the name: it {problem}")
        if self.repeats < 1:
            raise SemscaleError("repeats must be at least 1")
        if self.batch_size < 1:
            raise SemscaleError("batch size must be at least 1")
        if self.interval not in ("wilson", "bootstrap"):
            raise SemscaleError(f"unknown interval {self.interval!r}; choose wilson or bootstrap")
        if self.image_prep not in PREPARATIONS:
            raise SemscaleError(f"unknown image preparation {self.image_prep!r}; choose {', '.join(PREPARATIONS)}")
        if self.decode not in DECODES:
            raise SemscaleError(f"unknown decode {self.decode!r}; choose {', '.join(DECODES)}")

    @property
    def draft_side(self) -> int | None:
        """The side a JPEG is draft-decoded to (see semscale.data.images.DRAFT_SIDE); None: every pixel."""
        return DRAFT_SIDE if self.decode == "draft" else None

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

