"""Known values as a chemist gives them: typed ``TASK=VALUE`` text, rows of a form, columns of a file.

Why one module: the CLI's ``--known``, the Predict page's form and a file's task-named columns
are three ways of saying the same thing, and each must refuse the same mistakes (a value without
a property, a property given twice) with the same words. Values stay text here; whether they
are numbers, and plausible ones, is checked where they are used
(:func:`gate_core.relational.predict.normalise_known`, :func:`~gate_core.relational.predict.check_known`).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from gate_core.relational.predict import KnownValueError

TEXT_FORMAT = "TASK=VALUE[,TASK=VALUE...] (e.g. Tb_K=351.4,logKow=-0.31)"


def _blank(value: object) -> str:
    return (
        ""
        if value is None or (not isinstance(value, str) and pd.isna(value))
        else str(value).strip()
    )


def parse_known(pairs: Iterable[tuple[object, object]]) -> dict[str, str]:
    """``(property, value)`` pairs, numbered from 1, → ``{property: value}``.

    A pair without a value is "not measured" and skipped; a value without a property, or one
    property given twice, is refused (:class:`KnownValueError`) rather than guessed at.
    """
    known: dict[str, str] = {}
    for r, (name, value) in enumerate(pairs, start=1):
        name, value = _blank(name), _blank(value)
        if not value:
            continue
        if not name:
            raise KnownValueError(
                f"row {r} of the known values has a value ({value}) but no property"
            )
        if name in known:
            raise KnownValueError(f"'{name}' is given twice in the known values; give it once")
        known[name] = value
    return known


def parse_known_text(text: str | None) -> dict[str, str]:
    """``"Tb_K=351.4,logKow=-0.31"`` → ``{"Tb_K": "351.4", "logKow": "-0.31"}`` (see :func:`parse_known`)."""
    pairs = []
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise KnownValueError(f"known values are written {TEXT_FORMAT}; got {item.strip()!r}")
        pairs.append((name, value))
    return parse_known(pairs)


def known_from_form(rows: pd.DataFrame) -> dict[str, str]:
    """The filled rows of a known-values form (columns ``property``, ``value``)."""
    return parse_known(zip(rows["property"], rows["value"]))


def known_value_columns(frame: pd.DataFrame, smiles_column: str, tasks: list[str]) -> list[str]:
    """Columns of a prediction file named exactly like a task and not empty: they hold known values."""
    return [
        str(c)
        for c in frame.columns
        if c in tasks and c != smiles_column and frame[c].notna().any()
    ]


def known_from_columns(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, object]]:
    """One ``{task: value}`` per row from the known-value columns; blank cells are "not measured"."""
    return [
        {c: v for c, v in row.items() if not pd.isna(v)}
        for row in frame[columns].to_dict("records")
    ]
