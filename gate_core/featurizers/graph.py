"""RDKit molecule → graph arrays with the atom and bond features of DESIGN §1.

Why it looks the way it does: RDKit's Python wrappers cost ~1 µs per call, and a per-atom loop
that builds one-hot lists runs at ~2,600 mol/s here. We call RDKit only for what cannot be
derived (atomic number, H count, hybridisation, and charge/chirality/stereo only when the
SMILES contains the characters that can produce them), derive degree, ring membership and
aromaticity from the bond arrays, and one-hot everything with one NumPy fancy-index.

Graphs are stored as :class:`MolGraph` NumPy tuples (as chemprop v2 does) and batched by
:func:`gate_core.data.collate.collate_graphs`; the cache holds these light tuples.

Directed edges are interleaved (bond b gives edges 2b: u→v and 2b+1: v→u), so the reverse of
edge ``e`` is ``e ^ 1`` — also after batching, because every graph has an even edge count.
The D-MPNN encoder relies on this.
"""

from __future__ import annotations

from itertools import chain
from typing import NamedTuple

import numpy as np
from rdkit import Chem

from gate_core.featurizers.lru import LRUCache
from gate_core.featurizers.molecule import parse_smiles

FEATURIZER_VERSION = "graph-v2"  # v2: hybridisation slots built from RDKit enum names (SP2D shift)
#: Graphs the process-wide featuriser keeps: ≈ 8 KB each for a drug-like molecule (mean over
#: 1,000 BBBP molecules), so ≈ 0.4 GB when full; more than the backbone's measured table and
#: than an upload's rows (``limits.DEFAULT_MAX_ROWS``), which the isolated parse caches whole.
GRAPH_CACHE_SIZE = 50_000

ELEMENTS = (1, 5, 6, 7, 8, 9, 14, 15, 16, 17, 34, 35, 53)  # H B C N O F Si P S Cl Se Br I
_PT = Chem.GetPeriodicTable()
_MASS = np.array([0.0] + [_PT.GetAtomicWeight(z) for z in range(1, 119)], dtype=np.float32)

# One-hot blocks (name, slots). Every block whose value can fall outside its list has a final
# "other" slot. Aromatic and in-ring are single 0/1 columns; scaled mass is the last column.
_BLOCKS = (
    ("element", len(ELEMENTS) + 1),
    ("degree", 7),  # total degree 0..5, other
    ("formal_charge", 6),  # -2..2, other
    ("chirality", 4),  # unspecified, CW, CCW, other
    ("num_hs", 6),  # 0..4, other
    ("hybridisation", 7),  # S, SP, SP2, SP3, SP3D, SP3D2, other/unspecified
)
_OFFSETS = np.cumsum([0] + [size for _, size in _BLOCKS])
AROMATIC_COL = int(_OFFSETS[-1])
RING_COL = AROMATIC_COL + 1
MASS_COL = AROMATIC_COL + 2
ATOM_DIM = MASS_COL + 1
BOND_DIM = 4 + 1 + 1 + 6  # type (single, double, triple, aromatic), conjugated, in ring, stereo

_ELEMENT_SLOT = np.full(128, len(ELEMENTS), dtype=np.int64)
_ELEMENT_SLOT[list(ELEMENTS)] = np.arange(len(ELEMENTS))
# Built from RDKit's enum by name, not by value: the values moved between RDKit releases
# (SP2D=5 was inserted before SP3D), and a hard-coded table then mislabels SP3D/SP3D2 atoms.
_HYBRID_SLOT = np.full(max(int(v) for v in Chem.HybridizationType.values) + 1, 6, dtype=np.int64)
for _slot, _name in enumerate(("S", "SP", "SP2", "SP3", "SP3D", "SP3D2")):
    _HYBRID_SLOT[int(getattr(Chem.HybridizationType, _name))] = _slot
del _slot, _name
# RDKit BondType values: SINGLE=1, DOUBLE=2, TRIPLE=3, AROMATIC=12; anything else → single slot
_BOND_SLOT = np.zeros(32, dtype=np.int64)
_BOND_SLOT[[1, 2, 3, 12]] = [0, 1, 2, 3]


class MolGraph(NamedTuple):
    """One molecule's graph as NumPy arrays.

    Shapes: ``x`` (n_atoms, ATOM_DIM) float32; ``edge_index`` (2, 2·n_bonds) int64, interleaved
    so that edge ``e ^ 1`` is the reverse of ``e``; ``edge_attr`` (2·n_bonds, BOND_DIM) float32.
    """

    x: np.ndarray
    edge_index: np.ndarray
    edge_attr: np.ndarray


def _bond_arrays(mol: Chem.Mol, stereo: bool) -> np.ndarray:
    """(n_bonds, 6) int64: begin, end, type, conjugated, in_ring, stereo."""
    bonds = mol.GetBonds()
    n = len(bonds)
    if n == 0:
        return np.zeros((0, 6), dtype=np.int64)
    if stereo:
        it = (
            (
                b.GetBeginAtomIdx(),
                b.GetEndAtomIdx(),
                b.GetBondType(),
                b.GetIsConjugated(),
                b.IsInRing(),
                b.GetStereo(),
            )
            for b in bonds
        )
        return np.fromiter(chain.from_iterable(it), dtype=np.int64, count=6 * n).reshape(n, 6)
    it = (
        (b.GetBeginAtomIdx(), b.GetEndAtomIdx(), b.GetBondType(), b.GetIsConjugated(), b.IsInRing())
        for b in bonds
    )
    codes = np.zeros((n, 6), dtype=np.int64)
    codes[:, :5] = np.fromiter(chain.from_iterable(it), dtype=np.int64, count=5 * n).reshape(n, 5)
    return codes


def _atom_arrays(mol: Chem.Mol, smiles: str | None) -> np.ndarray:
    """(n_atoms, 5) int64: atomic number, total H, hybridisation, formal charge, chiral tag.

    ``smiles`` (the string ``mol`` was parsed from) lets us skip RDKit calls that can only
    return the default: no ``@`` means no chiral tags, no ``+``/``-`` means no formal charges.
    """
    atoms = mol.GetAtoms()
    n = len(atoms)
    codes = np.zeros((n, 5), dtype=np.int64)
    codes[:, :3] = np.fromiter(
        chain.from_iterable(
            (a.GetAtomicNum(), a.GetTotalNumHs(), a.GetHybridization()) for a in atoms
        ),
        dtype=np.int64,
        count=3 * n,
    ).reshape(n, 3)
    if smiles is None or "+" in smiles or "-" in smiles:
        codes[:, 3] = np.fromiter((a.GetFormalCharge() for a in atoms), dtype=np.int64, count=n)
    if smiles is None or "@" in smiles:
        codes[:, 4] = np.fromiter((a.GetChiralTag() for a in atoms), dtype=np.int64, count=n)
    return codes


class PackedGraphs(NamedTuple):
    """Many molecules' graphs as chunk arrays, one after the other: what a worker process sends
    back (five arrays pickle far faster than three per molecule).

    Shapes (N molecules, A atoms, E directed edges in all): ``x`` (A, ATOM_DIM) float32;
    ``edge_index`` (2, E) int64, each molecule's own atom indices; ``edge_attr`` (E, BOND_DIM)
    float32; ``n_atoms`` and ``n_edges`` (N,) int64.
    """

    x: np.ndarray
    edge_index: np.ndarray
    edge_attr: np.ndarray
    n_atoms: np.ndarray
    n_edges: np.ndarray

    def graphs(self) -> list[MolGraph]:
        """One :class:`MolGraph` per molecule (views into the chunk arrays)."""
        if not len(self.n_atoms):
            return []
        atom_cuts, edge_cuts = np.cumsum(self.n_atoms)[:-1], np.cumsum(self.n_edges)[:-1]
        parts = zip(
            np.split(self.x, atom_cuts),
            np.split(self.edge_index, edge_cuts, axis=1),
            np.split(self.edge_attr, edge_cuts),
        )
        return [MolGraph(xi, ei, ai) for xi, ei, ai in parts]


def mols_to_graphs(mols: list[Chem.Mol], smiles: list[str | None] | None = None) -> list[MolGraph]:
    """Featurise many molecules (see :func:`mols_to_packed`); the graphs are views into chunk arrays."""
    return mols_to_packed(mols, smiles).graphs()


def mols_to_packed(mols: list[Chem.Mol], smiles: list[str | None] | None = None) -> PackedGraphs:
    """Featurise many molecules: RDKit is read per molecule, NumPy runs once for the whole chunk.

    Degree, ring membership and aromaticity are derived from the bond arrays (an atom is in a
    ring or aromatic iff one of its bonds is).
    """
    if not mols:
        empty = np.zeros(0, dtype=np.int64)
        return PackedGraphs(
            np.zeros((0, ATOM_DIM), np.float32),
            np.zeros((2, 0), np.int64),
            np.zeros((0, BOND_DIM), np.float32),
            empty,
            empty,
        )
    smiles = smiles if smiles is not None else [None] * len(mols)
    atom_codes = [_atom_arrays(m, s) for m, s in zip(mols, smiles)]
    bond_codes = [_bond_arrays(m, s is None or "/" in s or "\\" in s) for m, s in zip(mols, smiles)]
    n_atoms = np.array([a.shape[0] for a in atom_codes], dtype=np.int64)
    n_bonds = np.array([b.shape[0] for b in bond_codes], dtype=np.int64)
    atoms = np.concatenate(atom_codes) if atom_codes else np.zeros((0, 5), dtype=np.int64)
    bonds = np.concatenate(bond_codes) if bond_codes else np.zeros((0, 6), dtype=np.int64)
    total = int(n_atoms.sum())
    atom_offset = np.repeat(np.concatenate([[0], np.cumsum(n_atoms)[:-1]]), n_bonds)
    begin, end = bonds[:, 0] + atom_offset, bonds[:, 1] + atom_offset

    heavy_degree = np.bincount(begin, minlength=total) + np.bincount(end, minlength=total)
    ring_bonds, aromatic_bonds = bonds[:, 4] == 1, bonds[:, 2] == 12
    in_ring = np.zeros(total, dtype=np.float32)
    in_ring[begin[ring_bonds]] = 1.0
    in_ring[end[ring_bonds]] = 1.0
    aromatic = np.zeros(total, dtype=np.float32)
    aromatic[begin[aromatic_bonds]] = 1.0
    aromatic[end[aromatic_bonds]] = 1.0

    slots = np.empty((total, 6), dtype=np.int64)
    slots[:, 0] = _ELEMENT_SLOT[np.minimum(atoms[:, 0], 127)]
    degree = heavy_degree + atoms[:, 1]
    slots[:, 1] = np.where(degree <= 5, degree, 6)
    charge = atoms[:, 3] + 2
    slots[:, 2] = np.where((charge >= 0) & (charge <= 4), charge, 5)
    slots[:, 3] = np.minimum(atoms[:, 4], 3)
    slots[:, 4] = np.minimum(atoms[:, 1], 5)
    slots[:, 5] = _HYBRID_SLOT[np.minimum(atoms[:, 2], len(_HYBRID_SLOT) - 1)]
    x = np.zeros((total, ATOM_DIM), dtype=np.float32)
    x[np.repeat(np.arange(total), 6), (slots + _OFFSETS[:6]).ravel()] = 1.0
    x[:, AROMATIC_COL] = aromatic
    x[:, RING_COL] = in_ring
    x[:, MASS_COL] = _MASS[np.minimum(atoms[:, 0], 118)] / 100.0

    nb = bonds.shape[0]
    rows = np.arange(nb)
    attr = np.zeros((nb, BOND_DIM), dtype=np.float32)
    attr[rows, _BOND_SLOT[np.minimum(bonds[:, 2], 31)]] = 1.0
    attr[:, 4] = bonds[:, 3]
    attr[:, 5] = bonds[:, 4]
    attr[rows, 6 + np.minimum(bonds[:, 5], 5)] = 1.0
    edge_index = np.empty((2, 2 * nb), dtype=np.int64)  # local atom indices, interleaved
    edge_index[0, 0::2], edge_index[1, 0::2] = bonds[:, 0], bonds[:, 1]
    edge_index[0, 1::2], edge_index[1, 1::2] = bonds[:, 1], bonds[:, 0]
    edge_attr = np.repeat(attr, 2, axis=0)
    return PackedGraphs(x, edge_index, edge_attr, n_atoms, 2 * n_bonds)


def mol_to_graph(mol: Chem.Mol, smiles: str | None = None) -> MolGraph:
    """Featurise one molecule (see :func:`mols_to_graphs`; pass ``smiles`` to skip idle calls)."""
    return mols_to_graphs([mol], [smiles])[0]


class GraphFeaturizer:
    """Canonical SMILES → :class:`MolGraph`, cached so no molecule is featurised twice.

    The cache is keyed by canonical SMILES (callers parse first, see
    :func:`gate_core.featurizers.molecule.parse_smiles`), so two spellings share one entry. It
    holds at most ``cache_size`` graphs (least recently used dropped first), so a long-running
    server does not keep every molecule it was ever asked about.
    """

    version = FEATURIZER_VERSION
    atom_dim = ATOM_DIM
    bond_dim = BOND_DIM

    def __init__(self, cache_size: int = GRAPH_CACHE_SIZE) -> None:
        self._cache: LRUCache[str, MolGraph] = LRUCache(cache_size)

    def __len__(self) -> int:
        return len(self._cache)

    def __call__(self, canonical: str, mol: Chem.Mol | None = None) -> MolGraph:
        graph = self._cache.get(canonical)
        if graph is None:
            if mol is None:
                mol = Chem.MolFromSmiles(canonical)
                if mol is None:
                    raise ValueError(f"not a valid canonical SMILES: {canonical!r}")
            graph = mol_to_graph(mol, canonical)
            self._cache[canonical] = graph
        return graph

    def many(
        self, canonical: list[str], mols: list[Chem.Mol | None] | None = None
    ) -> list[MolGraph]:
        """Graphs for many canonical SMILES; the uncached ones are featurised as one chunk."""
        mols = mols if mols is not None else [None] * len(canonical)
        found: dict[str, MolGraph] = {}
        for smiles in canonical:
            if smiles not in found and (graph := self._cache.get(smiles)) is not None:
                found[smiles] = graph
        missing = {s: m for s, m in zip(canonical, mols) if s not in found}
        if missing:
            keys = list(missing)
            parsed = [missing[k] if missing[k] is not None else Chem.MolFromSmiles(k) for k in keys]
            for key, mol in zip(keys, parsed):
                if mol is None:
                    raise ValueError(f"not a valid canonical SMILES: {key!r}")
            # own copies, not views into the chunk's arrays: one cached graph must not keep its
            # whole chunk alive, or the bound on entries would not bound memory
            new = {
                k: MolGraph(*(a.copy() for a in g))
                for k, g in zip(keys, mols_to_graphs(parsed, keys))
            }
            self._cache.update(new)
            found.update(new)  # a chunk larger than the cache is still returned whole
        return [found[s] for s in canonical]

    def from_smiles(self, smiles: str) -> MolGraph:
        """Parse, canonicalise and featurise; raises ``ValueError`` with the parse reason."""
        parsed = parse_smiles(smiles)
        if not parsed.ok:
            raise ValueError(parsed.error)
        return self(parsed.smiles, parsed.mol)


DEFAULT_FEATURIZER = GraphFeaturizer()
