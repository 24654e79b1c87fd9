"""Scale levels: how many names per class are active at each step of a sweep."""

from __future__ import annotations

from semscale.core.errors import SemscaleError

KINDS = ("exponential", "linear", "explicit")


def levels(kind: str, max_names: int, step: int = 1, explicit: list[int] | None = None) -> list[int]:
    """Names per class at each level, ascending, capped at `max_names` (the longest class list).

    exponential: 1, 2, 4, 8, ... and finally `max_names` if it is not a power of two, so the
    full lists are always measured. linear: 1, 1+step, ... explicit: the given numbers.
    """
    if max_names < 1:
        raise SemscaleError("every class needs at least one name")
    if kind == "exponential":
        out, n = [], 1
        while n < max_names:
            out.append(n)
            n *= 2
        out.append(max_names)
    elif kind == "linear":
        if step < 1:
            raise SemscaleError(f"linear schedule step must be >= 1, got {step}")
        out = list(range(1, max_names + 1, step))
        if out[-1] != max_names:
            out.append(max_names)
    elif kind == "explicit":
        if not explicit:
            raise SemscaleError("an explicit schedule needs at least one level, e.g. 1,3,5")
        bad = [n for n in explicit if n < 1]
        if bad:
            raise SemscaleError(f"schedule levels must be >= 1, got {bad}")
        out = sorted({min(n, max_names) for n in explicit})
    else:
        raise SemscaleError(f"unknown schedule {kind!r}; choose one of {', '.join(KINDS)}")
    return out


def cut_note(spec: str, max_names: int) -> str | None:
    """Why an explicit schedule measures fewer levels than asked: its levels above the longest name
    list are all measured at the full lists. None when nothing was cut."""
    try:
        asked = [int(p) for p in spec.split(",") if p.strip()]
    except ValueError:
        return None  # a named schedule (exponential, linear) always stops at the longest list
    above = sorted({n for n in asked if n > max_names})
    if not above:
        return None
    names = f"{max_names} name{'s' if max_names != 1 else ''}"
    return (f"level{'s' if len(above) > 1 else ''} {', '.join(map(str, above))} {'were' if len(above) > 1 else 'was'} "
            f"cut to {max_names}: the longest name list has {names}")


def parse(spec: str, max_names: int) -> list[int]:
    """Parse a CLI schedule: 'exponential', 'linear', 'linear:2' or an explicit list '1,2,3,5'."""
    spec = spec.strip().lower()
    if spec in ("exponential", "exp"):
        return levels("exponential", max_names)
    if spec.startswith("linear"):
        _, _, step = spec.partition(":")
        try:
            return levels("linear", max_names, step=int(step or 1))
        except ValueError:
            raise SemscaleError(f"bad linear step in schedule {spec!r}; use e.g. linear:2") from None
    try:
        return levels("explicit", max_names, explicit=[int(p) for p in spec.split(",") if p.strip()])
    except ValueError:
        raise SemscaleError(
            f"bad schedule {spec!r}; use exponential, linear, linear:STEP or a list like 1,2,4"
        ) from None
