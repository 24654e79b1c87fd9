"""Numbers that agree with their nouns, and names shown safely, for every message the CLI and the dashboard print."""

import re


def count(n: int, one: str, many: str | None = None) -> str:
    """'1 image', '2 images', '1 class', '3 classes' (give `many` when adding an s is wrong)."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


# Control characters (NUL, ESC of ANSI sequences, C1) and the marks that reorder bidirectional text.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str, keep: str = "") -> str:
    """`text` with control characters and bidi marks written out (\\x1b, \\u202e, ...), so a name or
    path cannot rewrite a terminal or reorder what is shown around it; `keep`: controls to leave
    (the CLI's own line breaks)."""
    return _UNSAFE.sub(lambda m: m.group() if m.group() in keep else m.group().encode("unicode_escape").decode(),
                       text)
