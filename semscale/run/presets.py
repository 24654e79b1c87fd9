"""Presets: named bundles of run settings, and a plain statement of which settings are whose.

`paper` is the protocol of the study semscale reproduces (arXiv 2503.12617, as its authors' code
ran it; see ../shared/reference/paper-protocol.md): the 12 modifier names per class, one more name
per class at each level (k = 1, 2, 3 ...), the raw names with no prompt template, the `max` rule,
one name order, and images squashed to 224 x 224 with Lanczos before CLIP's own preprocessing.
Everything else semscale offers (exponential schedules, templates, other aggregations, name-order
repeats, WordNet names) is its extension, and `protocol_lines` says so wherever a run is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

from semscale.core.errors import SemscaleError


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    scheme: str  # name scheme that generates the label set (see semscale.names.synonyms)
    schedule: str
    aggregations: tuple[str, ...]
    templates: tuple[str, ...]
    repeats: int
    image_prep: str  # see semscale.data.images.PREPARATIONS
    decode: str  # see semscale.data.images.DECODES: "exact", as the authors' tool decoded every pixel


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("paper", "the authors' protocol: 12 modifier names, k = 1, 2, 3 ..., raw names, max rule",
               scheme="paper", schedule="linear", aggregations=("max",), templates=(), repeats=1,
               image_prep="paper", decode="exact"),
    )
}


# How images are prepared, by whether the paper's squash is used.
PREP_WORDS = {True: "squashed to 224x224 (Lanczos), then CLIP preprocessing",
              False: "CLIP preprocessing (resize shorter side, centre crop)"}

def get(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise SemscaleError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None


def conflicts(preset: Preset, schedule: str | None, templates: list[str], repeats: int | None) -> list[str]:
    """Options a user gave that the preset fixes otherwise (extra aggregations are allowed beside it)."""
    out = []
    if schedule is not None and schedule.strip().lower() not in (preset.schedule, "linear:1"):
        out.append(f"--schedule {schedule} (the {preset.name} preset uses {preset.schedule})")
    if templates and list(templates) != list(preset.templates):
        uses = "the raw names" if not preset.templates else preset.templates
        out.append(f"--template (the {preset.name} preset uses {uses})")
    if repeats is not None and repeats != preset.repeats:
        out.append(f"--repeats {repeats} (the {preset.name} preset uses {preset.repeats})")
    return out


def apply(preset: Preset, config) -> None:
    """Set a RunConfig to the preset; aggregations the user asked for stay beside the preset's."""
    config.preset, config.scheme, config.schedule = preset.name, preset.scheme, preset.schedule
    config.templates, config.repeats, config.image_prep = list(preset.templates), preset.repeats, preset.image_prep
    config.decode = preset.decode
    config.aggregations = list(dict.fromkeys([*preset.aggregations, *config.aggregations]))


def protocol_lines(config: dict) -> list[str]:
    """Each setting of a stored run config, marked as the paper's or as semscale's extension."""
    paper = PRESETS["paper"]

    def mark(is_paper: bool) -> str:
        return "as in the paper" if is_paper else "semscale extension"

    schedule = str(config.get("schedule", ""))
    templates = list(config.get("templates") or [])
    aggregations = list(config.get("aggregations") or [])
    repeats = int(config.get("repeats", 1))
    scheme = config.get("scheme")
    prep = config.get("image_prep", "clip")
    decode = config.get("decode", "exact")  # runs stored before draft decoding decoded every pixel
    domain = config.get("domain")
    lines = [
        f"preset: {config.get('preset') or 'none'}",
        f"names: {scheme or 'your own label set'}"
        + (f" (domain word: {domain})" if scheme == "paper" and domain else
           " (no domain word: names 9-10 left out)" if scheme == "paper" else "")
        + f" - {mark(scheme == paper.scheme) if scheme else 'user-defined'}",
        f"schedule: {schedule} - {mark(schedule.strip().lower() in ('linear', 'linear:1'))}",
        f"prompt template: {', '.join(repr(t) for t in templates) if templates else 'none (raw names)'} - "
        f"{mark(not templates)}",
        "aggregation: " + ", ".join(f"{a} ({mark(a == 'max')})" for a in aggregations),
        f"name orders: {repeats} - {mark(repeats == 1)}",
        f"images: {PREP_WORDS[prep == 'paper']} - {mark(prep == paper.image_prep)}",
        f"decode: {'JPEGs at a reduced DCT scale' if decode == 'draft' else 'every pixel'} "
        f"- {mark(decode == paper.decode)}",
    ]
    return lines
