"""gate_core.featurizers.descriptors: fixed-length, finite vectors whatever the molecule."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import Crippen, Descriptors

from gate_core.featurizers.descriptors import (
    DESCRIPTOR_SET_VERSION,
    FAST_DESCRIPTOR_NAMES,
    FAST_DESCRIPTORS,
    all_rdkit_descriptors,
    fast_descriptors,
)

MOLECULES = [
    "C",
    "CCO",
    "c1ccncc1",
    "C[C@H](N)C(=O)O",
    "[Na+]",
    "[Fe+3]",
    "FS(F)(F)(F)(F)F",
    "CC(=O)[O-]",
    "C1CC12CC2",
]


def test_names_unique_and_version_set():
    assert len(set(FAST_DESCRIPTOR_NAMES)) == len(FAST_DESCRIPTOR_NAMES) == len(FAST_DESCRIPTORS)
    assert DESCRIPTOR_SET_VERSION


@pytest.mark.parametrize("smiles", MOLECULES)
def test_fast_descriptors_finite_fixed_length(smiles):
    values = fast_descriptors(Chem.MolFromSmiles(smiles))
    assert values.shape == (len(FAST_DESCRIPTOR_NAMES),)
    assert values.dtype == np.float32
    assert np.isfinite(values).all()


def test_fast_descriptors_values_are_rdkit_values():
    mol = Chem.MolFromSmiles("CCO")
    values = dict(zip(FAST_DESCRIPTOR_NAMES, fast_descriptors(mol)))
    assert values["MolWt"] == pytest.approx(Descriptors.MolWt(mol), rel=1e-5)
    assert values["MolLogP"] == pytest.approx(Crippen.MolLogP(mol), rel=1e-5)
    assert values["HeavyAtomCount"] == 3
    assert values["NumHDonors"] == 1


def test_fast_descriptors_distinguish_molecules():
    a = fast_descriptors(Chem.MolFromSmiles("CCO"))
    b = fast_descriptors(Chem.MolFromSmiles("CCCCO"))
    assert not np.allclose(a, b)


def test_non_finite_values_become_zero(monkeypatch):
    import gate_core.featurizers.descriptors as D

    monkeypatch.setattr(
        D,
        "FAST_DESCRIPTORS",
        (("a", lambda m: float("nan")), ("b", lambda m: float("inf")), ("c", lambda m: 2.0)),
    )
    np.testing.assert_array_equal(D.fast_descriptors(Chem.MolFromSmiles("C")), [0.0, 0.0, 2.0])


@pytest.mark.parametrize("smiles", ["C", "CCO", "c1ccncc1", "[Fe+3]"])
def test_all_rdkit_descriptors_finite_fixed_length(smiles):
    values = all_rdkit_descriptors(Chem.MolFromSmiles(smiles))
    expected = len(Descriptors.CalcMolDescriptors(Chem.MolFromSmiles("C")))
    assert values.shape == (expected,)
    assert expected > 100
    assert np.isfinite(values).all()
    assert np.abs(values).max() <= 1e6
