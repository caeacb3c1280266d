"""Counted nouns."""

from gate_core.text import duration, plural


def test_plural():
    assert plural(1, "invalid row") == "1 invalid row"
    assert plural(0, "row") == "0 rows"
    assert plural(2, "entry") == "2 entries" and plural(2, "key") == "2 keys"
    assert plural(1234, "molecule") == "1,234 molecules"
    assert plural(3, "datum", "data") == "3 data"


def test_duration():
    assert [duration(x) for x in (0.2, 7.4, 42, 89, 150, 3900)] == [
        "1 s",
        "7 s",
        "40 s",
        "90 s",
        "2 min",
        "1 h 5 min",
    ]


def test_plain_disarms_markdown_links_images_html_and_directives():
    from gate_core.text import plain

    assert plain("[click](http://evil.example)") == r"\[click\](http\://evil.example)"
    assert plain("![x](http://evil.example/p.png)") == r"!\[x\](http\://evil.example/p.png)"
    assert plain("<img src=x onerror=alert(1)>") == r"\<img src=x onerror=alert(1)\>"
    assert plain(":red[alarm] `code` $x$") == r"\:red\[alarm\] \`code\` \$x\$"
    assert plain("mol/L\n# heading\n- item") == "mol/L # heading - item"
    assert plain("kcal/mol") == "kcal/mol" and plain("log_S (mol/L)") == "log_S (mol/L)"
