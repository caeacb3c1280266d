"""Masked per-column standardisation (targets and descriptors).

Why masked: in a sparse multi-task table most entries are NaN; the mean and std of each task
must come from its own labels only. The fitted numbers are stored inside the model
(:class:`gate_core.models.gate.GATEModel` buffers), never beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StandardScaler:
    """``(x - mean) / std`` per column; std of a constant or empty column is 1."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> StandardScaler:
        values = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(values)
        count = finite.sum(axis=0)
        filled = np.where(finite, values, 0.0)
        mean = np.divide(filled.sum(axis=0), count, out=np.zeros(values.shape[1]), where=count > 0)
        var = np.divide(
            (np.where(finite, values - mean, 0.0) ** 2).sum(axis=0),
            count,
            out=np.zeros(values.shape[1]),
            where=count > 0,
        )
        std = np.sqrt(var)
        std = np.where(std > 1e-8, std, 1.0)
        return cls(mean.astype(np.float32), std.astype(np.float32))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return ((np.asarray(values, dtype=np.float32) - self.mean) / self.std).astype(np.float32)

    def inverse_transform(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float32) * self.std + self.mean).astype(np.float32)
