"""The multi-task label table: molecules × tasks with NaN where a label is unknown.

Why a matrix with NaN rather than a list of (molecule, task, value): the losses need a label
mask per batch, and the mask is just ``isfinite(Y)``. The long format (smiles, task, value) is
what is stored on disk; :meth:`MultiTaskTable.from_long` pivots it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gate_core.featurizers.molecule import parse_smiles
from gate_core.limits import MAX_ABS_LABEL


@dataclass
class InvalidRow:
    """A row that could not be used, with its 1-based row number in the user's file."""

    row: int
    smiles: str
    reason: str


@dataclass
class MultiTaskTable:
    """Canonical SMILES (N,), task names (T,), labels ``Y`` (N, T) float32 with NaN = unknown."""

    smiles: list[str]
    tasks: list[str]
    Y: np.ndarray
    invalid: list[InvalidRow] = field(default_factory=list)
    conflicts: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.Y = np.asarray(self.Y, dtype=np.float32)
        if self.Y.shape != (len(self.smiles), len(self.tasks)):
            raise ValueError(
                f"Y has shape {self.Y.shape}, expected ({len(self.smiles)}, {len(self.tasks)})"
            )

    def __len__(self) -> int:
        return len(self.smiles)

    @property
    def mask(self) -> np.ndarray:
        return np.isfinite(self.Y)

    def subset(self, index: np.ndarray | list[int]) -> MultiTaskTable:
        index = np.asarray(index, dtype=np.int64)
        return MultiTaskTable([self.smiles[i] for i in index], list(self.tasks), self.Y[index])

    def select_tasks(self, tasks: list[str]) -> MultiTaskTable:
        """Keep only ``tasks`` and drop molecules left without any label."""
        cols = [self.tasks.index(t) for t in tasks]
        Y = self.Y[:, cols]
        keep = np.isfinite(Y).any(axis=1)
        return MultiTaskTable([s for s, k in zip(self.smiles, keep) if k], list(tasks), Y[keep])

    def content_hash(self) -> str:
        """Stable hash of the labels, stored in checkpoints so results trace back to their data."""
        h = hashlib.sha256()
        h.update("\n".join(self.tasks).encode())
        h.update("\n".join(self.smiles).encode())
        h.update(np.nan_to_num(self.Y, nan=-1e30).tobytes())
        return h.hexdigest()[:16]

    @classmethod
    def from_long(cls, frame: pd.DataFrame, tasks: list[str] | None = None) -> MultiTaskTable:
        """Pivot a (smiles, task, value) table; SMILES are assumed canonical already."""
        frame = frame[np.isfinite(frame["value"].astype(float))]
        if tasks is not None:
            frame = frame[frame["task"].isin(tasks)]
        wide = frame.pivot_table(index="smiles", columns="task", values="value", aggfunc="median")
        order = tasks if tasks is not None else sorted(wide.columns)
        wide = wide.reindex(columns=order).sort_index()
        return cls(list(wide.index), list(order), wide.to_numpy(dtype=np.float32))

    @classmethod
    def read_long(cls, path: str | Path, tasks: list[str] | None = None) -> MultiTaskTable:
        return cls.from_long(pd.read_csv(path), tasks)

    @classmethod
    def from_single_task(
        cls, smiles: list[object], values: list[object], task: str
    ) -> MultiTaskTable:
        """One task from raw user columns: invalid SMILES/values are kept in ``invalid`` by row.

        Values are read as pandas reads a column (:func:`label_numbers`), so the upload check
        and training count the same rows; a molecule given several times gets its median, and
        those whose rows disagree are listed in ``conflicts`` (canonical SMILES → values).
        """
        ok_smiles: list[str] = []
        ok_values: list[float] = []
        invalid: list[InvalidRow] = []
        numbers = label_numbers(values)
        for row, (smi, value, number) in enumerate(zip(smiles, values, numbers), start=1):
            parsed = parse_smiles(smi)
            if not parsed.ok:
                invalid.append(InvalidRow(row, str(smi)[:200], parsed.error or "invalid"))
                continue
            if reason := label_error(value, number):
                invalid.append(InvalidRow(row, str(smi)[:200], reason))
                continue
            ok_smiles.append(parsed.smiles)  # type: ignore[arg-type]
            ok_values.append(number)
        frame = pd.DataFrame({"smiles": ok_smiles, "value": ok_values})
        grouped = frame.groupby("smiles", sort=True)["value"]
        merged = grouped.median()
        spread = grouped.agg(lambda v: sorted(set(v.tolist())))
        conflicts = {s: v for s, v in spread.items() if len(v) > 1}
        return cls(
            list(merged.index),
            [task],
            merged.to_numpy(dtype=np.float32)[:, None],
            invalid,
            conflicts,
        )


def label_numbers(values: list[object]) -> np.ndarray:
    """Label cells as float64 the way pandas reads a column (``1_000`` and ``1,5`` are text: NaN)."""
    return pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(
        dtype=np.float64
    )


def label_error(value: object, number: float) -> str | None:
    """Why one label cell cannot train a task: missing, not a number, not finite or too large."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return "value is missing"
    if np.isnan(number):
        return f"value {str(value)[:40]!r} is not a number"
    if not np.isfinite(number):
        return f"value {str(value)[:40]!r} is not finite"
    if abs(number) > MAX_ABS_LABEL:
        return f"value {number:.3g} is beyond ±{MAX_ABS_LABEL:.0e}; give it in another unit (e.g. log10)"
    return None
