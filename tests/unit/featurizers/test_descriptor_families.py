"""Descriptor families (backbone v2's computed source tasks): membership, values, transform."""

from __future__ import annotations

import numpy as np
from rdkit import Chem
from rdkit.Chem import Descriptors

from gate_core.featurizers.descriptor_families import (
    EXCLUDED_DESCRIPTORS,
    FAMILIES,
    FAMILY_DESCRIPTORS,
    RobustTransform,
    compute_family_descriptors,
    family_columns,
)

DRUGS = [
    "CC(=O)Nc1ccc(O)cc1",
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "OC(=O)c1ccccc1OC(C)=O",
    "CCN(CC)CCNC(=O)c1ccc(N)cc1",
    "Clc1ccc2c(c1)C(=NCc1nncn1-2)c1ccccc1F",
    "CCCCCCCCCCCCCCCC(=O)O",
]


def test_every_rdkit_descriptor_is_in_exactly_one_family_or_excluded_with_a_reason():
    names = [name for name, _ in Descriptors.descList]
    assert sorted(FAMILY_DESCRIPTORS) == sorted(set(FAMILY_DESCRIPTORS)), (
        "a descriptor sits in two families"
    )
    assert set(names) == set(FAMILY_DESCRIPTORS) | set(EXCLUDED_DESCRIPTORS)
    assert 10 <= len(FAMILIES) <= 25


def test_grouped_calculation_equals_rdkit_one_descriptor_at_a_time():
    functions = dict(Descriptors.descList)
    for smiles in DRUGS:
        mol = Chem.MolFromSmiles(smiles)
        expected = np.array([float(functions[name](mol)) for name in FAMILY_DESCRIPTORS])
        ipc = FAMILY_DESCRIPTORS.index("Ipc")
        expected[ipc] = np.log10(1.0 + expected[ipc])
        np.testing.assert_allclose(
            compute_family_descriptors(smiles), expected, rtol=1e-6, atol=1e-9
        )


def test_unparseable_smiles_gives_nan_not_an_exception():
    assert np.isnan(compute_family_descriptors("not a smiles")).all()


def test_robust_transform_centres_is_monotone_and_tames_heavy_tails():
    rng = np.random.default_rng(0)
    raw = np.column_stack(
        [rng.normal(5, 2, 1000), np.exp(rng.normal(0, 3, 1000))]
    )  # the second is log-normal
    t = RobustTransform.fit(raw)
    out = t(raw)
    assert abs(np.median(out[:, 0])) < 0.05 and abs(np.median(out[:, 1])) < 0.05
    order = np.argsort(raw[:, 1])
    assert np.all(np.diff(out[order, 1]) >= 0), "the transform must keep the order of values"
    assert np.abs(out).max() < 12, "asinh keeps a value 10^6 × the spread within ~14"
    constant = RobustTransform.fit(np.zeros((10, 1)))
    assert np.isfinite(constant(np.ones((2, 1)))).all()


def test_family_columns_keeps_family_order_and_drops_empty_families():
    grouped = family_columns(["MolWt", "TPSA", "MolLogP"])
    assert list(grouped) == ["lipophilicity", "polarity_hbond", "size"]
    assert grouped["size"] == ["MolWt"]
