"""Seeded random and Bemis–Murcko scaffold splits, shared by training, task addition and bench.

Why scaffold splits: a random split puts near-duplicates of test molecules in training and
flatters every model; grouping by scaffold asks the question a chemist asks of a new series.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator
from rdkit.Chem.Scaffolds import MurckoScaffold
from rdkit.ML.Cluster import Butina

from gate_core.registries import Registry


def bemis_murcko_scaffold(smiles: str) -> str:
    """Generic Murcko scaffold SMILES; acyclic molecules get the empty scaffold ''."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return smiles
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)


def _check_fractions(fractions: tuple[float, float, float]) -> None:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(
            f"split fractions must be three non-negative numbers summing to 1, got {fractions}"
        )


def random_split(
    n: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle 0..n-1 with ``seed`` and cut into train/val/test index arrays."""
    _check_fractions(fractions)
    order = np.random.default_rng(seed).permutation(n)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    return (
        np.sort(order[:n_train]),
        np.sort(order[n_train : n_train + n_val]),
        np.sort(order[n_train + n_val :]),
    )


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
    return (
        np.sort(np.array(train, dtype=np.int64)),
        np.sort(np.array(val, dtype=np.int64)),
        np.sort(np.array(test, dtype=np.int64)),
    )


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


def _fingerprint_clusters(smiles: list[str], members: list[int], cutoff: float) -> list[list[int]]:
    """Butina clusters (Morgan radius 2, Tanimoto distance ≤ ``cutoff``) of ``members``."""
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fps = [generator.GetFingerprint(Chem.MolFromSmiles(smiles[i])) for i in members]
    distances: list[float] = []
    for i in range(1, len(fps)):
        distances.extend(1.0 - x for x in DataStructs.BulkTanimotoSimilarity(fps[i], fps[:i]))
    clusters = Butina.ClusterData(distances, len(fps), cutoff, isDistData=True)
    return [sorted(members[j] for j in c) for c in clusters]


def scaffold_cluster_split(
    smiles: list[str],
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    cutoff: float = 0.6,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scaffold groups in a seeded random order fill the test set first, then val, then train;
    a scaffold group too big for the test set is first broken into fingerprint clusters.

    Why: :func:`scaffold_split` sends big groups to training first. On the physical-chemistry
    targets most molecules are acyclic (one scaffold, ''), so every seed got nearly the same
    test set and the seeds measured nothing. Here every group has the same chance of being
    tested, and the acyclic (or benzene) family is split into Butina clusters of Morgan
    fingerprints (Tanimoto distance ``cutoff``), so near-duplicates still stay together. A unit
    larger than what is left of the test and val budgets goes to training. The task-addition
    benchmark's split.
    """
    _check_fractions(fractions)
    n = len(smiles)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, smi in enumerate(smiles):
        groups[bemis_murcko_scaffold(smi)].append(i)
    cap = max(fractions[1], fractions[2]) * n
    units: list[list[int]] = []
    for key in sorted(groups):
        units.extend(
            _fingerprint_clusters(smiles, groups[key], cutoff)
            if len(groups[key]) > cap
            else [groups[key]]
        )
    units = [units[i] for i in np.random.default_rng(seed).permutation(len(units))]
    budget = {"test": fractions[2] * n, "val": fractions[1] * n}
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for unit in units:
        fold = next((f for f in ("test", "val") if len(parts[f]) + len(unit) <= budget[f]), "train")
        parts[fold].extend(unit)
    return tuple(np.sort(np.array(parts[f], dtype=np.int64)) for f in ("train", "val", "test"))  # type: ignore[return-value]


Splitter = Callable[
    [list[str], tuple[float, float, float], int], tuple[np.ndarray, np.ndarray, np.ndarray]
]

#: Split name → splitter ``(smiles, fractions, seed) → (train, val, test)``.
SPLITS: Registry[Splitter] = Registry("split")
SPLITS.register(
    "random", lambda smiles, fractions, seed: random_split(len(smiles), fractions, seed)
)
SPLITS.register("scaffold", scaffold_split)
SPLITS.register("scaffold_cluster", scaffold_cluster_split)


def split(
    smiles: list[str],
    kind: str = "scaffold",
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dispatch by name (:data:`SPLITS`) so CLI options and code share one vocabulary."""
    return SPLITS.lookup(kind)(smiles, fractions, seed)


def holdout_split(
    smiles: list[str], test_fraction: float, kind: str = "scaffold", seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(fit, test) indices with ``test_fraction`` of the molecules held out by ``kind``.

    Why one function: task addition's optional test set and the zero-training preview's scoring
    set must be the same molecules for the same data, seed and fraction, so the trained result
    can be read against the preview. ``test_fraction`` 0 holds nothing out.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"the test fraction must be in [0, 1), got {test_fraction}")
    if test_fraction == 0.0:
        return np.arange(len(smiles), dtype=np.int64), np.zeros(0, dtype=np.int64)
    fit, val, test = split(smiles, kind, (1.0 - test_fraction, 0.0, test_fraction), seed)
    return np.sort(np.concatenate([fit, val])), test
