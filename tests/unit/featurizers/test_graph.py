"""gate_core.featurizers.graph: features must agree with RDKit's own per-atom/per-bond calls."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from gate_core.featurizers import graph as G
from gate_core.featurizers.graph import (
    AROMATIC_COL,
    ATOM_DIM,
    BOND_DIM,
    MASS_COL,
    RING_COL,
    GraphFeaturizer,
    mol_to_graph,
)

DIVERSE = [
    "C",  # methane: one atom, no bonds
    "[NH4+]",  # single charged atom
    "CCO",
    "C[C@H](N)C(=O)O",  # chiral (CCW)
    "C[C@@H](N)C(=O)O",  # chiral (CW)
    "F/C=C/F",  # E
    "F/C=C\\F",  # Z
    "c1ccncc1",  # aromatic heterocycle
    "c1cc[nH]c1",  # pyrrole
    "O=c1cc[nH]cc1",  # pyridone: exocyclic C=O on an aromatic ring
    "CC(=O)[O-]",  # anion
    "C[N+](C)(C)C",  # cation
    "[O-][N+](=O)c1ccccc1",  # zwitterionic nitro
    "C#N",  # sp
    "C=C=C",  # allene, sp
    "c1ccc2ccccc2c1",  # fused aromatic
    "C1CC12CC2",  # spiro, rings without aromaticity
    "CS(=O)(=O)C",
    "FS(F)(F)(F)(F)F",  # SF6: S is SP3D2
    "ClP(Cl)(Cl)(Cl)Cl",  # PCl5: P is SP3D
    "C[Sn](C)(C)C",  # element outside the list → "other"
    "[2H]C([2H])([2H])[2H]",  # explicit hydrogen atoms
    "OB(O)c1ccccc1",
    "C[Si](C)(C)C",
    "[Se]1C=CC=C1",
    "BrC(I)Cl",
    "[CH2-2]",  # charge -2
    "[Fe+3]",  # charge outside -2..2, element other
]

_HYBRID = {
    Chem.HybridizationType.S: 0,
    Chem.HybridizationType.SP: 1,
    Chem.HybridizationType.SP2: 2,
    Chem.HybridizationType.SP3: 3,
    Chem.HybridizationType.SP3D: 4,
    Chem.HybridizationType.SP3D2: 5,
}
_BOND_TYPE = {
    Chem.BondType.SINGLE: 0,
    Chem.BondType.DOUBLE: 1,
    Chem.BondType.TRIPLE: 2,
    Chem.BondType.AROMATIC: 3,
}


def _block(x: np.ndarray, name: str) -> np.ndarray:
    names = [n for n, _ in G._BLOCKS]
    i = names.index(name)
    return x[:, G._OFFSETS[i] : G._OFFSETS[i + 1]]


def _expected_atom_slots(atom: Chem.Atom) -> dict[str, int]:
    z = atom.GetAtomicNum()
    degree = atom.GetTotalDegree()
    charge = atom.GetFormalCharge()
    hs = atom.GetTotalNumHs()
    return {
        "element": G.ELEMENTS.index(z) if z in G.ELEMENTS else len(G.ELEMENTS),
        "degree": degree if degree <= 5 else 6,
        "formal_charge": charge + 2 if -2 <= charge <= 2 else 5,
        "chirality": min(int(atom.GetChiralTag()), 3),
        "num_hs": min(hs, 5),
        "hybridisation": _HYBRID.get(atom.GetHybridization(), 6),
    }


def test_dimensions():
    assert ATOM_DIM == int(G._OFFSETS[-1]) + 3
    assert BOND_DIM == 12
    assert GraphFeaturizer.atom_dim == ATOM_DIM and GraphFeaturizer.bond_dim == BOND_DIM


@pytest.mark.parametrize("smiles", DIVERSE)
def test_shapes_and_dtypes(smiles):
    mol = Chem.MolFromSmiles(smiles)
    g = mol_to_graph(mol, smiles)
    n, b = mol.GetNumAtoms(), mol.GetNumBonds()
    assert g.x.shape == (n, ATOM_DIM) and g.x.dtype == np.float32
    assert g.edge_index.shape == (2, 2 * b) and g.edge_index.dtype == np.int64
    assert g.edge_attr.shape == (2 * b, BOND_DIM) and g.edge_attr.dtype == np.float32


def test_methane_has_no_edges():
    g = mol_to_graph(Chem.MolFromSmiles("C"), "C")
    assert g.x.shape == (1, ATOM_DIM)
    assert g.edge_index.shape == (2, 0) and g.edge_attr.shape == (0, BOND_DIM)
    assert _block(g.x, "degree")[0].argmax() == 4  # 4 implicit H
    assert _block(g.x, "num_hs")[0].argmax() == 4


@pytest.mark.parametrize("smiles", DIVERSE)
def test_one_hot_blocks_sum_to_one(smiles):
    g = mol_to_graph(Chem.MolFromSmiles(smiles), smiles)
    for name, _ in G._BLOCKS:
        np.testing.assert_array_equal(_block(g.x, name).sum(axis=1), 1.0, err_msg=name)
    bonds = g.edge_attr
    np.testing.assert_array_equal(bonds[:, 0:4].sum(axis=1), 1.0)
    np.testing.assert_array_equal(bonds[:, 6:12].sum(axis=1), 1.0)


@pytest.mark.parametrize("smiles", DIVERSE)
def test_atom_features_match_rdkit(smiles):
    mol = Chem.MolFromSmiles(smiles)
    g = mol_to_graph(mol, smiles)
    for atom in mol.GetAtoms():
        row = g.x[atom.GetIdx()][None]
        for name, slot in _expected_atom_slots(atom).items():
            assert _block(row, name)[0].argmax() == slot, (smiles, atom.GetIdx(), name)
        assert row[0, AROMATIC_COL] == float(atom.GetIsAromatic()), (smiles, atom.GetIdx())
        assert row[0, RING_COL] == float(atom.IsInRing()), (smiles, atom.GetIdx())
        assert (
            row[0, MASS_COL] == pytest.approx(atom.GetMass() / 100.0, rel=1e-3) or atom.GetIsotope()
        )


@pytest.mark.parametrize("smiles", DIVERSE)
def test_bond_features_match_rdkit(smiles):
    mol = Chem.MolFromSmiles(smiles)
    g = mol_to_graph(mol, smiles)
    for bond in mol.GetBonds():
        b = bond.GetIdx()
        u, v = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        assert tuple(g.edge_index[:, 2 * b]) == (u, v)
        assert tuple(g.edge_index[:, 2 * b + 1]) == (v, u)
        for e in (2 * b, 2 * b + 1):
            attr = g.edge_attr[e]
            assert attr[0:4].argmax() == _BOND_TYPE.get(bond.GetBondType(), 0)
            assert attr[4] == float(bond.GetIsConjugated())
            assert attr[5] == float(bond.IsInRing())
            assert attr[6:12].argmax() == min(int(bond.GetStereo()), 5)


def test_stereo_and_chirality_are_distinguished():
    e, z = (mol_to_graph(Chem.MolFromSmiles(s), s) for s in ("F/C=C/F", "F/C=C\\F"))
    assert not np.array_equal(e.edge_attr, z.edge_attr)
    r, s_ = (
        mol_to_graph(Chem.MolFromSmiles(s), s) for s in ("C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O")
    )
    assert not np.array_equal(r.x, s_.x)


def test_charge_is_read():
    g = mol_to_graph(Chem.MolFromSmiles("C[N+](C)(C)C"), "C[N+](C)(C)C")
    assert _block(g.x, "formal_charge")[1].argmax() == 3  # +1


@pytest.mark.parametrize("smiles", DIVERSE)
def test_smiles_shortcut_does_not_change_features(smiles):
    mol = Chem.MolFromSmiles(smiles)
    fast, full = mol_to_graph(mol, smiles), mol_to_graph(mol, None)
    for a, b in zip(fast, full):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("smiles", DIVERSE)
def test_shortcut_on_canonical_smiles(smiles):
    canonical = Chem.MolToSmiles(Chem.MolFromSmiles(smiles))
    mol = Chem.MolFromSmiles(canonical)
    for a, b in zip(mol_to_graph(mol, canonical), mol_to_graph(mol, None)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("smiles", DIVERSE)
def test_reverse_edge_is_xor_one(smiles):
    g = mol_to_graph(Chem.MolFromSmiles(smiles), smiles)
    e = np.arange(g.edge_index.shape[1])
    np.testing.assert_array_equal(g.edge_index[:, e ^ 1], g.edge_index[::-1])
    np.testing.assert_array_equal(g.edge_attr[e ^ 1], g.edge_attr)


def test_featurizer_caches_identical_object():
    feat = GraphFeaturizer()
    first = feat("CCO")
    assert feat("CCO") is first
    assert len(feat) == 1


def test_featurizer_cache_shared_across_spellings():
    feat = GraphFeaturizer()
    a = feat.from_smiles("OCC")
    b = feat.from_smiles("CCO")
    assert a is b
    assert len(feat) == 1
    c = feat.from_smiles("C(O)C")
    assert c is a and len(feat) == 1
    feat.from_smiles("CCN")
    assert len(feat) == 2


def test_featurizer_uses_given_mol_and_matches_parse():
    feat = GraphFeaturizer()
    mol = Chem.MolFromSmiles("c1ccncc1")
    g = feat("c1ccncc1", mol)
    ref = mol_to_graph(mol, None)
    for a, b in zip(g, ref):
        np.testing.assert_array_equal(a, b)


def test_featurizer_errors():
    feat = GraphFeaturizer()
    with pytest.raises(ValueError, match="could not parse"):
        feat.from_smiles("C1CC(")
    with pytest.raises(ValueError, match="empty"):
        feat.from_smiles("")
    with pytest.raises(ValueError, match="not a valid canonical SMILES"):
        feat("C1CC(")
    assert len(feat) == 0
