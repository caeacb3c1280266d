"""Seeded random and Bemis–Murcko scaffold splits, shared by training, task addition and bench.

Why scaffold splits: a random split puts near-duplicates of test molecules in training and
flatters every model; grouping by scaffold asks the question a chemist asks of a new series.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold


def bemis_murcko_scaffold(smiles: str) -> str:
    """Generic Murcko scaffold SMILES; acyclic molecules get the empty scaffold ''."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return smiles
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)


def _check_fractions(fractions: tuple[float, float, float]) -> None:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")


def random_split(
    n: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle 0..n-1 with ``seed`` and cut into train/val/test index arrays."""
    _check_fractions(fractions)
    order = np.random.default_rng(seed).permutation(n)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    return np.sort(order[:n_train]), np.sort(order[n_train : n_train + n_val]), np.sort(order[n_train + n_val :])


def scaffold_split(
    smiles: list[str], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Assign whole scaffold groups to train/val/test.

    Groups larger than half the test size go to training first (as chemprop's balanced scaffold
    split does), the rest are shuffled with ``seed``; so different seeds give different test
    sets while big scaffold families (e.g. all acyclic molecules) stay in training.
    """
    _check_fractions(fractions)
    n = len(smiles)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, smi in enumerate(smiles):
        groups[bemis_murcko_scaffold(smi)].append(i)
    n_train_target = fractions[0] * n
    n_val_target = fractions[1] * n
    big = [g for g in groups.values() if len(g) > fractions[2] * n / 2]
    small = [g for g in groups.values() if len(g) <= fractions[2] * n / 2]
    rng = np.random.default_rng(seed)
    rng.shuffle(big)
    small = [small[i] for i in rng.permutation(len(small))]
    train: list[int] = []
    val: list[int] = []
    test: list[int] = []
    for group in big + small:
        if len(train) + len(group) <= n_train_target:
            train.extend(group)
        elif len(val) + len(group) <= n_val_target:
            val.extend(group)
        else:
            test.extend(group)
    return np.sort(np.array(train, dtype=np.int64)), np.sort(np.array(val, dtype=np.int64)), np.sort(np.array(test, dtype=np.int64))


def scaffold_folds(smiles: list[str], k: int, seed: int = 0) -> list[np.ndarray]:
    """``k`` folds of whole scaffold groups, balanced in size, for out-of-fold predictions.

    Groups go, largest first (ties shuffled with ``seed``), to the currently smallest fold. A
    group larger than n/k (typically the acyclic molecules, whose scaffold is '') cannot fit in
    one fold without starving the others, so its molecules are dealt out one by one instead.
    """
    if k < 2:
        raise ValueError(f"scaffold folds need k ≥ 2, got {k}")
    n = len(smiles)
    if n < k:
        raise ValueError(f"{n} molecules cannot fill {k} folds")
    groups: dict[str, list[int]] = defaultdict(list)
    for i, smi in enumerate(smiles):
        groups[bemis_murcko_scaffold(smi)].append(i)
    rng = np.random.default_rng(seed)
    units: list[list[int]] = []
    for group in groups.values():
        units.extend([[i] for i in group] if len(group) > n / k else [group])
    units = [units[i] for i in rng.permutation(len(units))]
    units.sort(key=len, reverse=True)  # stable: equal sizes keep their shuffled order
    folds: list[list[int]] = [[] for _ in range(k)]
    for unit in units:
        min(folds, key=len).extend(unit)
    return [np.sort(np.array(f, dtype=np.int64)) for f in folds]


SPLITTERS = {"random": lambda smiles, fractions, seed: random_split(len(smiles), fractions, seed), "scaffold": scaffold_split}


def split(
    smiles: list[str], kind: str = "scaffold", fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dispatch by name (``random`` | ``scaffold``) so CLI options and code share one vocabulary."""
    if kind not in SPLITTERS:
        raise ValueError(f"unknown split {kind!r}; choose one of {sorted(SPLITTERS)}")
    return SPLITTERS[kind](smiles, fractions, seed)
