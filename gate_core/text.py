"""Counted nouns and durations for messages ("1 invalid row", "3 invalid rows", "about 2 min").

Why one helper: the library's messages and the app's captions all count things and times, and a
hand-written "row(s)" or "1 rows" reads as careless to the chemist. :func:`plain` is the one
escape for user-supplied text shown through Streamlit's Markdown.
"""

from __future__ import annotations

import re


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``plural(1, "row")`` → ``"1 row"``; ``plural(3, "entry")`` → ``"3 entries"``; ``many`` for irregular nouns."""
    if n == 1:
        return f"{n:,} {noun}"
    if many is None:
        many = (
            noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"
        )
    return f"{n:,} {many}"


def duration(seconds: float) -> str:
    """A rounded, readable duration: ``"40 s"``, ``"3 min"``, ``"1 h 5 min"``."""
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{max(1, round(seconds / 5) * 5) if seconds >= 10 else max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


#: What makes Markdown (and Streamlit's extensions of it) reach outside the text: links and
#: images need ``[``, HTML and autolinks ``<`` or ``:``, colour directives and icons ``:``, maths
#: ``$``, code a backtick. Line breaks are flattened, so headings and lists never start a line;
#: emphasis (``*``, ``_``) is left alone, since task names are full of underscores.
_MARKDOWN_ACTIVE = re.compile(r"([\\`\[\]<>:$])")


def plain(text: object) -> str:
    """``text`` escaped so that Streamlit's Markdown (``st.markdown``, captions, alerts) shows it
    literally: user-supplied units, names, descriptions and file names can carry no link, image,
    HTML, colour directive or formula."""
    return _MARKDOWN_ACTIVE.sub(r"\\\1", " ".join(str(text).splitlines()))
