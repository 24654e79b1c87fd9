"""Numbers that agree with their nouns, for every message the CLI and the dashboard print."""


def count(n: int, one: str, many: str | None = None) -> str:
    """'1 image', '2 images', '1 class', '3 classes' (give `many` when adding an s is wrong)."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"
