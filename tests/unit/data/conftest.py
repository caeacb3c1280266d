"""Shared by the split and fold tests: the tiny table's molecules and the partition check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gate_core.data.table import MultiTaskTable

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def smiles() -> list[str]:
    return MultiTaskTable.read_long(DATA / "pretrain_tiny.csv.gz").smiles


def check_partition(parts, n: int) -> None:
    """Every index 0..n-1 in exactly one part."""
    joined = np.concatenate(parts)
    assert len(joined) == n and len(np.unique(joined)) == n
    assert set(joined.tolist()) == set(range(n))
