"""What task addition would make of a user's table, said before any training starts.

Why here, beside task addition: the report parses and merges the rows with the very calls
:func:`~gate_core.transfer.addition.add_task` makes, so it cannot disagree with training; the
page, the fuzz tests and the benchmarks read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gate_core.data.columns import split_unit, target_warnings
from gate_core.data.table import InvalidRow, MultiTaskTable
from gate_core.featurizers.molecule import parse_smiles
from gate_core.registry.names import suggest_task_name
from gate_core.text import plural
from gate_core.transfer.addition import (
    MIN_ROWS,
    TaskDataError,
    detect_task_type,
    text_target_problem,
    validate_task_table,
)

#: Target headers that say nothing about the property: the file's name names the task instead.
GENERIC_TARGET_HEADERS = frozenset({"value", "target", "y", "label"})


def task_name_and_unit(target_column: object, filename: str) -> tuple[str, str]:
    """A valid task name and its unit read from the target column's header: ``"logS (mol/L)"``
    → ``("logS", "mol/L")``; a generic header (``value``, ``y``…) names the task after the file.

    Why here: the Add-a-task page and ``add-task`` without ``--name``/``--unit`` must name a
    task the same way.
    """
    name, unit = split_unit("value" if target_column in (None, "") else target_column)
    if name.lower() in GENERIC_TARGET_HEADERS:
        name = Path(filename).name.rsplit(".", 1)[0]
    return suggest_task_name(name), unit


@dataclass
class UploadReport:
    """What training would make of a table, said before any training starts.

    ``values`` holds one (median-merged) label per valid molecule; ``errors`` are the reasons
    the table cannot train a task (empty when it can); ``warnings`` never block.
    """

    n_rows: int
    n_valid: int
    invalid: list[InvalidRow]
    n_duplicates_merged: int
    duplicate_groups: pd.DataFrame
    task_type: str
    values: np.ndarray
    n_missing_values: int = 0
    n_non_numeric_values: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    target_warnings: list[str] = field(
        default_factory=list
    )  # the values look wrong (see data.columns.target_warnings)

    @property
    def ok(self) -> bool:
        return not self.errors

    def invalid_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "row": [r.row for r in self.invalid],
                "smiles": [r.smiles for r in self.invalid],
                "reason": [r.reason for r in self.invalid],
            }
        )

    def class_counts(self) -> dict[str, int] | None:
        if self.task_type != "classification" or not len(self.values):
            return None
        return {"0": int((self.values == 0).sum()), "1": int((self.values == 1).sum())}


def validate_upload(
    frame: pd.DataFrame,
    smiles_column: str,
    target_column: str,
    task_type: str | None = None,
    min_rows: int = MIN_ROWS,
) -> UploadReport:
    """Check a user's table the way task addition will see it (same parser, same merge)."""
    errors: list[str] = []
    warnings: list[str] = []
    n_rows = len(frame)
    empty = UploadReport(
        n_rows,
        0,
        [],
        0,
        pd.DataFrame(columns=["smiles", "rows", "min", "max", "median"]),
        task_type or "regression",
        np.zeros(0),
        errors=errors,
    )
    for col in (smiles_column, target_column):
        if col not in frame.columns:
            errors.append(f"column '{col}' is not in the table")
    if errors:
        return empty
    if smiles_column == target_column:
        errors.append("the SMILES column and the target column must be different columns")
        return empty

    raw = frame[target_column]
    numeric = pd.to_numeric(raw, errors="coerce")
    present = raw.notna() & (raw.astype(str).str.strip() != "")
    n_missing = int((~present).sum())
    n_non_numeric = int((present & numeric.isna()).sum())
    if problem := text_target_problem(raw.tolist(), target_column):
        errors.append(problem)

    # The same call task addition makes, on the same raw values: the report cannot disagree with training.
    table = MultiTaskTable.from_single_task(frame[smiles_column].tolist(), raw.tolist(), "new")
    invalid = table.invalid
    invalid_rows = {r.row for r in invalid}
    ok_index = [i for i in range(n_rows) if i + 1 not in invalid_rows]
    canonical = {
        s: parse_smiles(s).smiles for s in frame[smiles_column].iloc[ok_index].astype(str).unique()
    }
    ok = pd.DataFrame(
        {
            "smiles": frame[smiles_column].iloc[ok_index].astype(str).map(canonical).to_numpy(),
            "value": numeric.iloc[ok_index].to_numpy(dtype=float),
        }
    )
    groups = (
        ok.groupby("smiles")["value"]
        .agg(rows="size", min="min", max="max", median="median")
        .reset_index()
    )
    duplicates = (
        groups[groups["rows"] > 1].sort_values("rows", ascending=False).reset_index(drop=True)
    )
    n_merged = int(len(ok) - len(groups))

    values = table.Y[:, 0].astype(float)
    detected = task_type or (detect_task_type(values) if len(values) else "regression")
    if not errors:
        try:
            validate_task_table(table, detected, min_rows)
        except TaskDataError as exc:
            errors.append(str(exc))
    if invalid:
        warnings.append(
            f"{len(invalid)} of {plural(n_rows, 'row')} cannot be used and will be skipped (listed below)"
        )
    if n_merged:
        warnings.append(
            f"{plural(n_merged, 'duplicate row')} of {plural(len(duplicates), 'molecule')} will be merged into one row each (median value)"
        )
    if table.conflicts:
        warnings.append(
            f"{len(table.conflicts)} of the duplicated molecules have conflicting labels (min and max are listed below); each is merged to its median"
        )
    if detected == "classification" and task_type is None:
        warnings.append(
            "all values are 0 or 1, so the task is treated as classification (change it in the options)"
        )
    if not errors and len(table) < 50:
        warnings.append(f"only {len(table)} molecules: expect a wide uncertainty")
    suspicious = target_warnings(values, detected) if not errors else []
    return UploadReport(
        n_rows,
        len(table),
        invalid,
        n_merged,
        duplicates,
        detected,
        values,
        n_missing,
        n_non_numeric,
        errors,
        warnings,
        suspicious,
    )
