"""RDKit 2D descriptors: a small fast set that feeds the backbone, and the full set for baselines.

Why feed descriptors to the backbone: at 100–300 training molecules a random forest on RDKit
descriptors beats a from-scratch D-MPNN (DESIGN §8). Concatenating a handful of cheap,
physically meaningful descriptors to the graph readout keeps that information available to
every task. The set is fixed and versioned because the checkpoint's scaler depends on it.
"""

from __future__ import annotations

import numpy as np
from rdkit import Chem
from rdkit.Chem import Crippen, Descriptors, Lipinski, rdMolDescriptors

DESCRIPTOR_SET_VERSION = "fast-v1"

FAST_DESCRIPTORS: tuple[tuple[str, object], ...] = (
    ("MolWt", Descriptors.MolWt),
    ("HeavyAtomCount", Lipinski.HeavyAtomCount),
    ("MolLogP", Crippen.MolLogP),
    ("MolMR", Crippen.MolMR),
    ("TPSA", rdMolDescriptors.CalcTPSA),
    ("LabuteASA", rdMolDescriptors.CalcLabuteASA),
    ("NumHDonors", rdMolDescriptors.CalcNumHBD),
    ("NumHAcceptors", rdMolDescriptors.CalcNumHBA),
    ("NumRotatableBonds", rdMolDescriptors.CalcNumRotatableBonds),
    ("RingCount", rdMolDescriptors.CalcNumRings),
    ("NumAromaticRings", rdMolDescriptors.CalcNumAromaticRings),
    ("FractionCSP3", rdMolDescriptors.CalcFractionCSP3),
    ("NumHeteroatoms", rdMolDescriptors.CalcNumHeteroatoms),
    ("NumValenceElectrons", Descriptors.NumValenceElectrons),
    ("Chi0v", rdMolDescriptors.CalcChi0v),
    ("Chi1v", rdMolDescriptors.CalcChi1v),
    ("Kappa1", rdMolDescriptors.CalcKappa1),
    ("Kappa2", rdMolDescriptors.CalcKappa2),
    ("HallKierAlpha", rdMolDescriptors.CalcHallKierAlpha),
)
FAST_DESCRIPTOR_NAMES = tuple(name for name, _ in FAST_DESCRIPTORS)


def fast_descriptors(mol: Chem.Mol) -> np.ndarray:
    """(len(FAST_DESCRIPTORS),) float32 vector; non-finite values become 0."""
    values = np.array([float(fn(mol)) for _, fn in FAST_DESCRIPTORS], dtype=np.float64)
    values[~np.isfinite(values)] = 0.0
    return values.astype(np.float32)


def all_rdkit_descriptors(mol: Chem.Mol) -> np.ndarray:
    """Every RDKit 2D descriptor (~210), the usual input of the descriptor random forest."""
    values = np.array(
        list(Descriptors.CalcMolDescriptors(mol, missingVal=0.0).values()), dtype=np.float64
    )
    values[~np.isfinite(values)] = 0.0
    return np.clip(values, -1e6, 1e6).astype(np.float32)
