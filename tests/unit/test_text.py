"""Counted nouns."""

from gate_core.text import plural


def test_plural():
    assert plural(1, "invalid row") == "1 invalid row"
    assert plural(0, "row") == "0 rows"
    assert plural(2, "entry") == "2 entries" and plural(2, "key") == "2 keys"
    assert plural(1234, "molecule") == "1,234 molecules"
    assert plural(3, "datum", "data") == "3 data"
