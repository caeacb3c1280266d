"""Which molecules a backbone saw in pre-training ("seen"), matched without stereochemistry.

Why: a new *property* of a molecule the backbone was trained on is an easier question than the
same property of a new molecule — its representation already carries that molecule's labelled
(and often strongly correlated) properties. Benchmarks therefore mark every test molecule seen
or unseen and headline the unseen ones.

The key is the InChIKey's first block: the connectivity layer, blind to stereochemistry,
isotopes and protonation state, so a salt's parent, a zwitterion or a stereoisomer of a
pre-training molecule still counts as seen. Molecules InChI cannot handle fall back to their
non-isomeric canonical SMILES.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem, RDLogger


def molecule_key(smiles: str) -> str | None:
    """Stereo-free identity of one molecule; None when RDKit cannot parse it."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    RDLogger.DisableLog("rdApp.*")  # InChI warnings (e.g. undefined stereo) say nothing here
    try:
        key = Chem.MolToInchiKey(mol)
    finally:
        RDLogger.EnableLog("rdApp.*")
    return key.split("-")[0] if key else Chem.MolToSmiles(mol, isomericSmiles=False)


def molecule_keys(smiles: Iterable[str]) -> frozenset[str]:
    """The set of keys of ``smiles`` (unparsable entries are left out)."""
    return frozenset(k for k in map(molecule_key, smiles) if k is not None)


def pretraining_keys(
    table: str | Path, tasks: Sequence[str], extra_smiles: Iterable[str] = ()
) -> frozenset[str]:
    """Keys of every molecule with a label for one of ``tasks`` in the long pre-training
    ``table`` (``smiles,task,value,...``), plus ``extra_smiles`` (e.g. an unlabelled corpus the
    backbone's computed source tasks were trained on)."""
    frame = pd.read_csv(table, usecols=["smiles", "task"])
    labelled = frame.loc[frame["task"].isin(list(tasks)), "smiles"].unique()
    return molecule_keys([*labelled, *extra_smiles])


def seen_mask(smiles: Sequence[str], keys: frozenset[str] | set[str]) -> np.ndarray:
    """Boolean (N,): True where the molecule's key is in ``keys`` (the pre-training molecules)."""
    return np.array([molecule_key(s) in keys for s in smiles], dtype=bool)
