"""gate_core.data.splits.scaffold_folds: the K scaffold folds of an added task's ensemble (out-of-fold predictions)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from gate_core.data.splits import bemis_murcko_scaffold, scaffold_folds

from .conftest import check_partition


def _groups(smiles):
    groups = defaultdict(list)
    for i, s in enumerate(smiles):
        groups[bemis_murcko_scaffold(s)].append(i)
    return groups


def test_scaffold_folds_partition_by_whole_groups_and_balance(smiles):
    folds = scaffold_folds(smiles, 5, seed=0)
    check_partition(folds, len(smiles))
    groups = _groups(smiles)
    small = {s: g for s, g in groups.items() if len(g) <= len(smiles) / 5}
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= max(len(g) for g in small.values())
    fold_of = {i: k for k, f in enumerate(folds) for i in f.tolist()}
    for members in small.values():  # a scaffold group that fits never straddles two folds
        assert len({fold_of[i] for i in members}) == 1


def test_scaffold_folds_are_seeded(smiles):
    same = zip(scaffold_folds(smiles, 3, seed=4), scaffold_folds(smiles, 3, seed=4))
    assert all(np.array_equal(a, b) for a, b in same)
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(scaffold_folds(smiles, 3, seed=4), scaffold_folds(smiles, 3, seed=5))
    )


def test_scaffold_folds_deal_out_a_dominant_group():
    rings = [("C" * k) + "C1" + "C" * (size - 1) + "1" for size in range(3, 8) for k in range(2)]
    smiles = [
        "C" * k + "O" for k in range(1, 41)
    ] + rings  # 40 acyclic (scaffold '') and 5 ring families of 2
    folds = scaffold_folds(smiles, 4, seed=1)
    check_partition(folds, len(smiles))
    assert max(len(f) for f in folds) - min(len(f) for f in folds) <= 2
    with pytest.raises(ValueError):
        scaffold_folds(smiles[:3], 4)
    with pytest.raises(ValueError):
        scaffold_folds(smiles, 1)
