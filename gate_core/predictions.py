"""Prediction frames as a chemist reads them: readable column names with units, the user's own
columns kept beside the predictions, measured columns paired with predicted tasks, and
invalid entries listed by position.

Why here: the API returns machine names (``aq_logS_ad_score``) so that scripts can rely on
them; every interface that shows predictions to a person (the app's tables, a model card)
must name them the same way. Columns added later (intervals, domain words) get a readable
name from :data:`SUFFIX_LABELS`, or a generic one, without changes to the pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gate_core.data.columns import is_numeric_column, numeric_values

#: Per-row columns of :meth:`GateStudio.predict` that belong to no task.
ROW_LABELS = {
    "input": "input",
    "smiles": "canonical SMILES",
    "error": "error",
    "note": "note",
    "known_used": "known values used",
    "known_from_table": "recorded labels used",
    "known_warning": "known-value warning",
}
#: ``<task><suffix>`` → (words after the task name, whether the task's unit applies); a suffix may
#: also be ``_relational`` followed by one of these (the known-value correction's own columns).
SUFFIX_LABELS: dict[str, tuple[str, bool]] = {
    "": ("", True),
    "_std": ("± std (ensemble spread)", True),
    "_ad_score": ("domain distance (≤ 1: inside)", False),
    "_domain": ("domain", False),
    "_in_domain": ("in domain", False),
    "_note": ("note", False),
}
INTERVAL_SUFFIX = re.compile(r"_(lo|hi)(\d+)")
RELATIONAL = "_relational"
FROM_FILE = " (from file)"


def split_column(column: str, tasks: list[str]) -> tuple[str | None, str]:
    """``"aq_logS_ad_score"`` → ``("aq_logS", "_ad_score")``: the longest task name that prefixes it."""
    for task in sorted(tasks, key=len, reverse=True):
        if column == task or column.startswith(task + "_"):
            return task, column[len(task) :]
    return None, column


def suffix_words(suffix: str) -> tuple[str, bool]:
    """Words for a column suffix and whether the task's unit applies: ``"_lo90"`` → ``("90 % interval, low", True)``."""
    prefix = ""
    if suffix.startswith(RELATIONAL):
        prefix, suffix = "with known values", suffix[len(RELATIONAL) :]
    if (interval := INTERVAL_SUFFIX.fullmatch(suffix)) is not None:
        words, with_unit = (
            f"{interval[2]} % interval, {'low' if interval[1] == 'lo' else 'high'}",
            True,
        )
    else:
        words, with_unit = SUFFIX_LABELS.get(suffix, (suffix.lstrip("_").replace("_", " "), False))
    return ", ".join(w for w in (prefix, words) if w), with_unit


def column_label(column: str, tasks: list[str], units: dict[str, str]) -> str:
    """The header a person reads: ``"aq_logS (log mol/L)"``, ``"aq_logS 90 % interval, low (log mol/L)"``."""
    if column in ROW_LABELS:
        return ROW_LABELS[column]
    task, suffix = split_column(column, tasks)
    if task is None:
        return column
    words, with_unit = suffix_words(suffix)
    unit = units.get(task, "")
    return " ".join(
        part for part in (task, words, f"({unit})" if with_unit and unit else "") if part
    )


def blank_empty(frame: pd.DataFrame) -> pd.DataFrame:
    """Text and flag columns as text, "" where a cell is empty and yes/no for flags, so a table
    never shows "None" or "nan" and every column sorts."""
    out = frame.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]) or pd.api.types.is_bool_dtype(
            out[column]
        ):
            out[column] = out[column].map(_cell_text).astype(object)
    return out


def _cell_text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return str(value)


def readable(
    pred: pd.DataFrame, tasks: list[str], units: dict[str, str], keep: tuple[str, ...] = ()
) -> pd.DataFrame:
    """``pred`` with readable headers and blank empty text cells; ``keep`` columns keep their names."""
    return blank_empty(pred).rename(
        columns={c: c if c in keep else column_label(c, tasks, units) for c in pred.columns}
    )


def with_input_columns(
    pred: pd.DataFrame, frame: pd.DataFrame, smiles_column: str | None = None
) -> pd.DataFrame:
    """The user's columns (ID, name, measured values...) first, then the predictions, row for row.

    The SMILES column is the prediction's ``input`` already (``None``: ``frame`` has none); a
    user column whose name the predictions also use is kept as ``<name> (from file)``.
    """
    mine = frame.drop(columns=[smiles_column] if smiles_column else []).reset_index(drop=True)
    mine = mine.rename(columns={c: f"{c}{FROM_FILE}" for c in mine.columns if c in pred.columns})
    return pd.concat([mine, pred.reset_index(drop=True)], axis=1)


def measured_columns(frame: pd.DataFrame, smiles_column: str, tasks: list[str]) -> dict[str, str]:
    """``{task: column}`` for each predicted task whose name a numeric column of the file carries
    (the columns :func:`~gate_core.relational.known.task_columns` says are compared)."""
    from gate_core.relational.known import task_columns  # known.py imports the relational head

    compared = task_columns(frame.columns, smiles_column, tasks, tasks).compared
    return {t: t for t in compared if is_numeric_column(frame[t])}


@dataclass(frozen=True)
class InvalidEntry:
    """An input that could not be predicted: its 1-based position, the text given and why."""

    position: int
    text: str
    reason: str


def invalid_entries(pred: pd.DataFrame) -> list[InvalidEntry]:
    """The rows of a prediction frame with an ``error``, by position."""
    bad = pred.index[pred["error"].notna() & (pred["error"].astype(str) != "")]
    return [
        InvalidEntry(int(i) + 1, str(pred.at[i, "input"]), str(pred.at[i, "error"])) for i in bad
    ]


#: Distinct probabilities a streamed classification comparison keeps apart: rounded to 4
#: decimals, ``k / 10 000`` for ``k`` = 0 … 10 000 (one histogram bin each).
PROBABILITY_BINS = 10_001


def not_binary(measured: np.ndarray, column: str) -> str:
    """Why ``measured`` cannot be scored as classes ("" when every value is 0 or 1).

    Why refuse rather than threshold: a column named like a classification task but holding
    other numbers (a pIC50, a percentage) is a different measurement; scoring it would print
    a confident, meaningless ROC-AUC.
    """
    other = measured[(measured != 0) & (measured != 1)]
    if not len(other):
        return ""
    return (
        f"column {column} holds {other[0]:g}, not 0 or 1: "
        "a classification task is compared with measured classes 0 and 1"
    )


@dataclass(frozen=True)
class Comparison:
    """Predicted vs measured values of one task on the rows that have both; ``classification``
    (the caller knows the task's type): measured classes 0/1 against predicted probabilities."""

    task: str
    column: str
    measured: np.ndarray
    predicted: np.ndarray
    classification: bool = False

    def metrics(self) -> dict[str, float]:
        """:func:`~gate_core.training.evaluate.regression_metrics` (``n``, ``rmse``, ``mae``,
        ``r2``) or, for a classification task, ``classification_metrics`` (``n``, ``roc_auc``,
        ``pr_auc``, ``accuracy``). Raises ``ValueError`` (:func:`not_binary`) when a
        classification task's measured values are not all 0 or 1."""
        from gate_core.training.evaluate import classification_metrics, regression_metrics

        if not self.classification:
            return regression_metrics(self.measured, self.predicted)
        if problem := not_binary(self.measured, self.column):
            raise ValueError(problem)
        return classification_metrics(self.measured, self.predicted)


def compare(
    pred: pd.DataFrame, frame: pd.DataFrame, task: str, column: str, classification: bool = False
) -> Comparison:
    """Pair ``frame[column]`` (measured) with ``pred[task]`` row for row, keeping rows with both numbers."""
    measured = numeric_values(frame[column].reset_index(drop=True)).to_numpy(dtype=float)
    predicted = pd.to_numeric(pred[task].reset_index(drop=True), errors="coerce").to_numpy(
        dtype=float
    )
    both = np.isfinite(measured) & np.isfinite(predicted)
    return Comparison(task, column, measured[both], predicted[both], classification)


@dataclass
class RunningComparison:
    r"""Predicted vs measured of one task, added up chunk by chunk (a streamed prediction) in
    constant memory, so that :meth:`metrics` are those of all the rows at once.

    Regression: the row count, the sums of squared and absolute errors, and the mean and sum of
    squared deviations of the measured values, merged chunk by chunk as Chan, Golub and
    LeVeque (1979) merge variances. With :math:`e_i = \hat y_i - y_i` over the :math:`n` rows
    with both numbers: RMSE :math:`= \sqrt{\sum e_i^2 / n}`, MAE :math:`= \sum |e_i| / n`,
    R² :math:`= 1 - \sum e_i^2 / \sum (y_i - \bar y)^2`: the numbers
    :func:`~gate_core.training.evaluate.regression_metrics` gives on the whole columns.

    Classification: per class, a histogram of the predicted probability rounded to 4 decimals
    (:data:`PROBABILITY_BINS`), and the count of rows the 0.5 threshold classifies right
    (exact: from the unrounded probabilities). Both AUCs depend only on the order of the
    scores, so the histograms give exactly the ROC-AUC and PR-AUC of the rounded probabilities
    (rows in one bin are tied); rounding moves them by far less than their sampling error. A
    chunk whose measured values are not 0/1 stops the comparison with the reason
    (:func:`not_binary`), raised by :meth:`metrics`.
    """

    task: str
    column: str
    classification: bool = False
    n: int = 0
    sse: float = 0.0
    sae: float = 0.0
    mean: float = 0.0
    m2: float = 0.0
    correct: int = 0
    #: rows per probability bin, measured 0 (row 0) and 1 (row 1); classification only
    counts: np.ndarray | None = None
    problem: str = ""

    def __post_init__(self) -> None:
        if self.classification and self.counts is None:
            self.counts = np.zeros((2, PROBABILITY_BINS), dtype=np.int64)

    def add(self, part: Comparison) -> None:
        """Add one chunk's rows with both numbers (:func:`compare`)."""
        k = len(part.measured)
        if k == 0 or self.problem:
            return
        if self.counts is not None:
            self.problem = not_binary(part.measured, self.column)
            if self.problem:
                return
            top = PROBABILITY_BINS - 1
            bins = np.clip(np.rint(part.predicted * top), 0, top).astype(np.int64)
            positive = part.measured == 1
            for cls, rows in enumerate((~positive, positive)):
                self.counts[cls] += np.bincount(bins[rows], minlength=PROBABILITY_BINS)
            self.correct += int(((part.predicted >= 0.5) == positive).sum())
            self.n += k
            return
        err = part.predicted - part.measured
        mean = float(part.measured.mean())
        n = self.n + k
        delta = mean - self.mean
        self.m2 += float(((part.measured - mean) ** 2).sum()) + delta**2 * self.n * k / n
        self.mean += delta * k / n
        self.n = n
        self.sse += float((err**2).sum())
        self.sae += float(np.abs(err).sum())

    def metrics(self) -> dict[str, float]:
        """As :meth:`Comparison.metrics` (NaN where undefined): ``n``, ``rmse``, ``mae``, ``r2``,
        or ``n``, ``roc_auc``, ``pr_auc``, ``accuracy``; raises ``ValueError`` with the reason
        a classification column could not be compared."""
        n = self.n
        if self.problem:
            raise ValueError(self.problem)
        if self.counts is not None:
            roc_auc, pr_auc = _histogram_aucs(self.counts[0], self.counts[1])
            return {
                "n": n,
                "roc_auc": roc_auc,
                "pr_auc": pr_auc,
                "accuracy": self.correct / n if n else float("nan"),
            }
        return {
            "n": n,
            "rmse": float(np.sqrt(self.sse / n)) if n else float("nan"),
            "mae": self.sae / n if n else float("nan"),
            "r2": 1.0 - self.sse / self.m2 if n > 1 and self.m2 > 0 else float("nan"),
        }


def _histogram_aucs(neg: np.ndarray, pos: np.ndarray) -> tuple[float, float]:
    """ROC-AUC and average precision (PR-AUC) of scores given as counts per ascending bin, as
    sklearn scores tied values: a negative in the same bin as a positive counts half (ROC),
    and each bin is one threshold (PR). NaN unless both classes are present."""
    n_neg, n_pos = int(neg.sum()), int(pos.sum())
    if not n_neg or not n_pos:
        return float("nan"), float("nan")
    below = np.cumsum(neg) - neg  # negatives scored lower than the bin
    roc_auc = float((pos * (below + 0.5 * neg)).sum()) / (n_pos * n_neg)
    tp = np.cumsum(pos[::-1])[::-1]  # rows at or above each bin's score, per class
    fp = np.cumsum(neg[::-1])[::-1]
    hit = pos > 0
    pr_auc = float((pos[hit] * tp[hit] / (tp[hit] + fp[hit])).sum()) / n_pos
    return roc_auc, pr_auc
