"""Counted nouns for messages ("1 invalid row", "3 invalid rows").

Why one helper: the library's messages and the app's captions all count things, and a
hand-written "row(s)" or "1 rows" reads as careless to the chemist.
"""

from __future__ import annotations


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``plural(1, "row")`` → ``"1 row"``; ``plural(3, "entry")`` → ``"3 entries"``; ``many`` for irregular nouns."""
    if n == 1:
        return f"{n:,} {noun}"
    if many is None:
        many = noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"
    return f"{n:,} {many}"
