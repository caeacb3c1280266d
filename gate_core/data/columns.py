"""What a user's columns and typed text mean: ID-like and name columns, target candidates, units in
headers, suspicious target distributions, and lists of SMILES typed into one box.

Why here: the app's upload and predict forms, the CLI and the API must read a chemist's table
the same way, so each of these rules has one home below the interfaces.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from gate_core.text import plural

#: Header names that identify rows rather than measure anything (whole name, case-insensitive).
ID_NAME = re.compile(
    r"^(id|ids|idx|index|no|nr|num|number|row|rownum|row_?id|record|key|cas|cas_?(no|number|rn)?|"
    r"(compound|cmpd|mol|molecule|sample|substance|chembl|pubchem|zinc)[ _-]?(id|no|number|idx)?|unnamed: ?\d+)$"
    r"|[ _-](id|idx|index)$",
    re.IGNORECASE,
)
#: Header names of a column that names molecules for a person (whole name, case-insensitive).
NAME_HEADER = re.compile(
    r"^(names?|title|drug|compound|molecule"
    r"|(compound|cmpd|molecule|mol|chemical|drug|common|iupac|preferred)[ _-]?names?)$",
    re.IGNORECASE,
)
#: ``name (unit)`` or ``name [unit]`` at the end of a header.
UNIT_IN_HEADER = re.compile(r"^\s*(?P<name>.*?\S)\s*[\(\[]\s*(?P<unit>[^()\[\]]*?)\s*[\)\]]\s*$")
#: Separators between SMILES typed into one box; none of them can occur inside a SMILES.
SMILES_SEPARATORS = re.compile(r"[\s,]+")
NUMERIC_SHARE = 0.8  # a column is numeric when at least this share of its filled cells are numbers


def numeric_values(values: pd.Series) -> pd.Series:
    """The cells as floats (NaN where a cell is empty or not a number)."""
    return pd.to_numeric(values, errors="coerce")


def is_numeric_column(values: pd.Series) -> bool:
    """Mostly numbers among the filled cells."""
    filled = values[values.notna() & (values.astype(str).str.strip() != "")]
    return len(filled) > 0 and numeric_values(filled).notna().mean() >= NUMERIC_SHARE


def is_id_like(values: pd.Series, name: object) -> bool:
    """A column that numbers or names rows: called ID/index/CAS/..., or all-unique integers in sequence.

    "In sequence" means monotone, or the consecutive integers in any order: a row number,
    however shuffled, is never a measurement.
    """
    if ID_NAME.search(str(name).strip()):
        return True
    numbers = numeric_values(values).dropna()
    if (
        len(numbers) < 10 or len(numbers) < NUMERIC_SHARE * values.notna().sum()
    ):  # three values in a row prove nothing
        return False
    if not np.all(numbers == np.round(numbers)) or numbers.nunique() != len(numbers):
        return False
    consecutive = numbers.max() - numbers.min() + 1 == len(numbers)
    return bool(consecutive or numbers.is_monotonic_increasing or numbers.is_monotonic_decreasing)


def target_choices(frame: pd.DataFrame, smiles_column: str | None) -> list[str]:
    """Columns that can hold the measured value: numeric ones, ID-like columns last.

    The first entry is the default target; it is ID-like only when nothing else is numeric,
    and :func:`default_target` refuses that case.
    """
    numeric = [str(c) for c in frame.columns if c != smiles_column and is_numeric_column(frame[c])]
    ids = [c for c in numeric if is_id_like(frame[c], c)]
    return [c for c in numeric if c not in ids] + ids


def default_target(frame: pd.DataFrame, smiles_column: str | None) -> str | None:
    """The first numeric column that is not ID-like, a varying one before a constant one; ``None`` when there is none."""
    candidates = [c for c in target_choices(frame, smiles_column) if not is_id_like(frame[c], c)]
    return next(
        (c for c in candidates if numeric_values(frame[c]).nunique() > 1),
        next(iter(candidates), None),
    )


def name_column(
    frame: pd.DataFrame, smiles_column: str | None, target_column: str | None = None
) -> str | None:
    """The column that names the molecules for a person: one headed like a name (``name``,
    ``compound``...), else one headed like an ID (``ID``, ``CAS``...); ``None`` without either.

    Why: a map of molecules is read by name, not by SMILES, when the chemist's file has one.
    """
    others = [c for c in frame.columns if c not in (smiles_column, target_column)]
    named = [c for c in others if NAME_HEADER.match(str(c).strip())]
    ids = [c for c in others if ID_NAME.search(str(c).strip())]
    return next(iter(named + ids), None)


def split_unit(header: object) -> tuple[str, str]:
    """``"logS (mol/L)"`` → ``("logS", "mol/L")``; a header without a bracketed unit → ``(header, "")``."""
    text = str(header).strip()
    match = UNIT_IN_HEADER.match(text)
    if not match or not match["unit"]:
        return text, ""
    return match["name"], match["unit"]


def parse_smiles_text(text: str) -> list[str]:
    """Molecules typed into one box: one per line, or separated by commas, spaces or tabs."""
    return [s for s in SMILES_SEPARATORS.split(text.strip()) if s]


def target_warnings(values: np.ndarray, task_type: str) -> list[str]:
    """Reasons a regression target looks wrong before any training: an integer sequence, a
    spread over many orders of magnitude, far outliers, or few distinct values."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    n = len(values)
    if task_type == "classification" or n < 10:
        return []
    warnings: list[str] = []
    distinct = np.unique(values)
    if (
        np.all(values == np.round(values))
        and len(distinct) == n
        and distinct[-1] - distinct[0] + 1 == n
    ):
        warnings.append(
            f"the values are the integers {distinct[0]:.0f} to {distinct[-1]:.0f}, each once: this looks like a row number or ID, "
            "not a measurement; check the target column"
        )
        return warnings
    if distinct[0] > 0 and np.log10(distinct[-1] / distinct[0]) >= 4:
        warnings.append(
            f"the values span {np.log10(distinct[-1] / distinct[0]):.0f} orders of magnitude ({distinct[0]:.3g} to {distinct[-1]:.3g}); "
            "a property like this is usually modelled on a log scale (e.g. log10 of it)"
        )
    else:
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        spread = q3 - q1
        far = int(np.sum(np.abs(values - median) > 10 * spread)) if spread > 0 else 0
        if far:
            warnings.append(
                f"{plural(far, 'value')} {'lies' if far == 1 else 'lie'} more than 10 interquartile ranges from the median: check for typos or mixed units"
            )
    if len(distinct) < max(3, 0.2 * n):
        warnings.append(
            f"only {len(distinct)} distinct values among {n} molecules: the values look rounded or categorical "
            "(a class label needs the classification task type)"
        )
    return warnings
