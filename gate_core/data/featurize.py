"""Featurise a list of canonical SMILES into graphs and descriptor rows, with a progress bar.

Why a separate step: task addition, pre-training and prediction all start here, and the
per-process caches (graphs in :class:`GraphFeaturizer`, descriptors here) make sure a molecule
seen by any of them is never featurised twice.
"""

from __future__ import annotations

import numpy as np
from rdkit import Chem
from tqdm.auto import tqdm

from gate_core.featurizers.descriptors import FAST_DESCRIPTOR_NAMES, fast_descriptors
from gate_core.featurizers.graph import DEFAULT_FEATURIZER, GraphFeaturizer, MolGraph
from gate_core.featurizers.lru import LRUCache
from gate_core.featurizers.molecule import clear_parse_cache

#: Descriptor rows kept per process (a few hundred bytes each), least recently used dropped first.
DESCRIPTOR_CACHE_SIZE = 200_000
_DESCRIPTOR_CACHE: LRUCache[str, np.ndarray] = LRUCache(DESCRIPTOR_CACHE_SIZE)


def clear_caches() -> None:
    """Empty every per-process featurisation cache (parses, graphs, descriptors): cold timings start here."""
    clear_parse_cache()
    DEFAULT_FEATURIZER._cache.clear()
    _DESCRIPTOR_CACHE.clear()


def prime_caches(graphs: dict[str, MolGraph], descriptors: dict[str, np.ndarray]) -> None:
    """Store graphs and descriptor rows computed elsewhere (the isolated worker,
    :mod:`gate_core.data.untrusted`), so featurising those canonical SMILES here calls no RDKit."""
    DEFAULT_FEATURIZER._cache.update(graphs)
    _DESCRIPTOR_CACHE.update(descriptors)


def featurize_molecules(
    smiles: list[str],
    *,
    descriptors: bool = True,
    featurizer: GraphFeaturizer = DEFAULT_FEATURIZER,
    progress: bool = False,
    chunk_size: int = 1024,
) -> tuple[list[MolGraph], np.ndarray]:
    """Graphs and (N, n_descriptors) raw descriptors for canonical SMILES (cached per process).

    Work goes in chunks: the graph featuriser amortises its NumPy calls over a chunk.
    """
    graphs: list[MolGraph] = []
    rows: list[np.ndarray] = []
    n_desc = len(FAST_DESCRIPTOR_NAMES) if descriptors else 0
    empty = np.zeros(0, dtype=np.float32)
    with tqdm(
        total=len(smiles), desc="featurising", unit="mol", disable=not progress, mininterval=1.0
    ) as bar:
        for start in range(0, len(smiles), chunk_size):
            chunk = smiles[start : start + chunk_size]
            mols: list[Chem.Mol | None] = [None] * len(chunk)
            for i, smi in enumerate(chunk):
                if not descriptors:
                    rows.append(empty)
                    continue
                row = _DESCRIPTOR_CACHE.get(smi)
                if row is None:
                    mols[i] = mol = Chem.MolFromSmiles(smi)
                    if mol is None:
                        raise ValueError(f"not a valid canonical SMILES: {smi!r}")
                    row = _DESCRIPTOR_CACHE[smi] = fast_descriptors(mol)
                rows.append(row)
            graphs.extend(featurizer.many(chunk, mols))
            bar.update(len(chunk))
    return graphs, np.stack(rows) if rows else np.zeros((0, n_desc), dtype=np.float32)
