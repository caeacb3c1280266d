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

    def __post_init__(self) -> None:
        self.Y = np.asarray(self.Y, dtype=np.float32)
        if self.Y.shape != (len(self.smiles), len(self.tasks)):
            raise ValueError(f"Y has shape {self.Y.shape}, expected ({len(self.smiles)}, {len(self.tasks)})")

    def __len__(self) -> int:
        return len(self.smiles)

    @property
    def mask(self) -> np.ndarray:
        return np.isfinite(self.Y)

    def subset(self, index: np.ndarray | list[int]) -> "MultiTaskTable":
        index = np.asarray(index, dtype=np.int64)
        return MultiTaskTable([self.smiles[i] for i in index], list(self.tasks), self.Y[index])

    def select_tasks(self, tasks: list[str]) -> "MultiTaskTable":
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
    def from_long(cls, frame: pd.DataFrame, tasks: list[str] | None = None) -> "MultiTaskTable":
        """Pivot a (smiles, task, value) table; SMILES are assumed canonical already."""
        frame = frame[np.isfinite(frame["value"].astype(float))]
        if tasks is not None:
            frame = frame[frame["task"].isin(tasks)]
        wide = frame.pivot_table(index="smiles", columns="task", values="value", aggfunc="median")
        order = tasks if tasks is not None else sorted(wide.columns)
        wide = wide.reindex(columns=order).sort_index()
        return cls(list(wide.index), list(order), wide.to_numpy(dtype=np.float32))

    @classmethod
    def read_long(cls, path: str | Path, tasks: list[str] | None = None) -> "MultiTaskTable":
        return cls.from_long(pd.read_csv(path), tasks)

    @classmethod
    def from_single_task(cls, smiles: list[object], values: list[object], task: str) -> "MultiTaskTable":
        """One task from raw user columns: invalid SMILES/values are kept in ``invalid`` by row."""
        ok_smiles: list[str] = []
        ok_values: list[float] = []
        invalid: list[InvalidRow] = []
        for row, (smi, value) in enumerate(zip(smiles, values), start=1):
            parsed = parse_smiles(smi)
            if not parsed.ok:
                invalid.append(InvalidRow(row, str(smi), parsed.error or "invalid"))
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                invalid.append(InvalidRow(row, str(smi), f"value {value!r} is not a number"))
                continue
            if not np.isfinite(number):
                invalid.append(InvalidRow(row, str(smi), f"value {value!r} is missing or not finite"))
                continue
            ok_smiles.append(parsed.smiles)  # type: ignore[arg-type]
            ok_values.append(number)
        frame = pd.DataFrame({"smiles": ok_smiles, "value": ok_values})
        merged = frame.groupby("smiles", sort=True)["value"].median()
        table = cls(list(merged.index), [task], merged.to_numpy(dtype=np.float32)[:, None], invalid)
        return table
