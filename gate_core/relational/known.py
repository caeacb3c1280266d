"""Known values as a chemist gives them: typed ``TASK=VALUE`` text, rows of a form, columns of a file.

Why one module: the CLI's ``--known``, the Predict page's form and a file's task-named columns
are three ways of saying the same thing, and each must refuse the same mistakes (a value without
a property, a property given twice) with the same words. Values stay text here; whether they
are numbers, and plausible ones, is checked where they are used
(:func:`gate_core.relational.predict.normalise_known`, :func:`~gate_core.relational.predict.check_known`).
Which columns of a file are known values is decided here once (:func:`task_columns`), for the
Predict page, ``predict --data`` and the streamed ``predict --data --out`` alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class TaskColumns:
    """The columns of a prediction file named exactly like a task, by what they hold.

    ``known``: tasks not being predicted; each row's cell is a known measured value of that task
    (blank: not measured), which refines the other predictions (the relational head).
    ``compared``: tasks being predicted; the cells are measured values of that task, compared
    with its prediction and never used as known values (a task cannot be both given and asked).
    """

    known: list[str]
    compared: list[str]


def task_columns(
    columns: Iterable[object],
    smiles_column: str | None,
    task_names: Iterable[str],
    predicted: Iterable[str] | None = None,
) -> TaskColumns:
    """Which columns of a file hold known values and which are compared with the predictions.

    ``columns``: the file's column names, in order; ``task_names``: every task that can be
    predicted (the backbone's properties and the added tasks); ``predicted``: the tasks being
    predicted (``None``: every task, so no column holds known values). A column is a task's
    only when named exactly like it; the SMILES column never is. Which of these columns are
    empty is the caller's to check (a frame's cells, a streamed file's scan).
    """
    every = set(task_names)
    asked = every if predicted is None else set(predicted)
    named = [c for c in dict.fromkeys(str(c) for c in columns) if c in every and c != smiles_column]
    return TaskColumns(
        known=[c for c in named if c not in asked], compared=[c for c in named if c in asked]
    )


def known_value_columns(
    frame: pd.DataFrame,
    smiles_column: str | None,
    task_names: Iterable[str],
    predicted: Iterable[str] | None = None,
) -> list[str]:
    """The known-value columns of ``frame`` (:func:`task_columns`) that are not empty."""
    known = task_columns(frame.columns, smiles_column, task_names, predicted).known
    return [c for c in known if frame[c].notna().any()]


def known_from_columns(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, object]]:
    """One ``{task: value}`` per row from the known-value columns; blank cells are "not measured"."""
    return [
        {c: v for c, v in row.items() if not pd.isna(v)}
        for row in frame[columns].to_dict("records")
    ]
