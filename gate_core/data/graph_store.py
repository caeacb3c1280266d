"""Featurised molecules stored once on disk as flat, memory-mapped arrays.

Why: pre-training on the full MOSES corpus (1.6M molecules) on a GPU must neither re-featurise
every run nor hold 1.6M Python graph objects per data-loader worker. The store keeps every
graph's atoms, edges and fast descriptors in a few ``.npy`` files with offsets; they are opened
with ``mmap_mode="r"``, so loader workers share the pages and a molecule costs two slices.
It is featurised in worker processes, in chunks, and written once per molecule list.

Layout of a store folder: ``x.npy`` (atoms, ATOM_DIM) float32, ``edge_index.npy`` (2, edges)
int32 (indices local to their molecule), ``edge_attr.npy`` (edges, BOND_DIM) float32,
``atom_offsets.npy`` / ``edge_offsets.npy`` (N + 1,) int64, ``descriptors.npy`` (N, n) float32,
and ``store.json`` (molecule-list hash, featuriser and descriptor-set versions).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from gate_core.featurizers.descriptors import DESCRIPTOR_SET_VERSION
from gate_core.featurizers.graph import FEATURIZER_VERSION, MolGraph

ARRAYS = ("x", "edge_index", "edge_attr", "atom_offsets", "edge_offsets", "descriptors")
CHUNK = 4096


def molecule_list_hash(smiles: list[str]) -> str:
    return hashlib.sha256("\n".join(smiles).encode()).hexdigest()[:24]


def _featurise_chunk(smiles: list[str]) -> tuple[list[MolGraph], np.ndarray]:
    from gate_core.data.featurize import featurize_molecules

    return featurize_molecules(smiles, descriptors=True)


class GraphStore:
    """Read-only view of a store folder; ``store[i]`` is molecule i's :class:`MolGraph`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.info = json.loads((self.path / "store.json").read_text())
        arrays = {name: np.load(self.path / f"{name}.npy", mmap_mode="r") for name in ARRAYS}
        self.x, self.edge_index, self.edge_attr = (
            arrays["x"],
            arrays["edge_index"],
            arrays["edge_attr"],
        )
        self.atom_offsets, self.edge_offsets = (
            np.asarray(arrays["atom_offsets"]),
            np.asarray(arrays["edge_offsets"]),
        )
        self.descriptors = arrays["descriptors"]

    def __len__(self) -> int:
        return len(self.atom_offsets) - 1

    def __getitem__(self, i: int) -> MolGraph:
        a0, a1 = self.atom_offsets[i], self.atom_offsets[i + 1]
        e0, e1 = self.edge_offsets[i], self.edge_offsets[i + 1]
        return MolGraph(
            np.asarray(self.x[a0:a1]),
            np.asarray(self.edge_index[:, e0:e1], dtype=np.int64),
            np.asarray(self.edge_attr[e0:e1]),
        )

    def __getstate__(self) -> dict:
        return {"path": str(self.path)}  # loader workers reopen the maps instead of copying them

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"])

    def matches(self, smiles: list[str]) -> bool:
        return (
            self.info.get("molecules") == molecule_list_hash(smiles)
            and self.info.get("featurizer_version") == FEATURIZER_VERSION
            and self.info.get("descriptor_set_version") == DESCRIPTOR_SET_VERSION
        )


def build_graph_store(
    smiles: list[str], path: str | Path, workers: int = 1, progress: bool = True
) -> GraphStore:
    """Featurise ``smiles`` (canonical) into a store at ``path``; reuse it when it already matches."""
    path = Path(path)
    if (path / "store.json").is_file():
        existing = GraphStore(path)
        if existing.matches(smiles):
            return existing
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    chunks = [smiles[i : i + CHUNK] for i in range(0, len(smiles), CHUNK)]
    parts: dict[str, list[np.ndarray]] = {
        name: [] for name in ("x", "edge_index", "edge_attr", "descriptors")
    }
    atoms, edges = [0], [0]
    with get_context("spawn").Pool(workers) if workers > 1 else _Serial() as pool:
        for graphs, descriptors in tqdm(
            pool.imap(_featurise_chunk, chunks),
            total=len(chunks),
            desc="graph store",
            disable=not progress,
            leave=False,
        ):
            for g in graphs:
                parts["x"].append(g.x)
                parts["edge_index"].append(g.edge_index.astype(np.int32))
                parts["edge_attr"].append(g.edge_attr)
                atoms.append(atoms[-1] + g.x.shape[0])
                edges.append(edges[-1] + g.edge_index.shape[1])
            parts["descriptors"].append(descriptors)
    np.save(tmp / "x.npy", np.concatenate(parts["x"]))
    np.save(tmp / "edge_index.npy", np.concatenate(parts["edge_index"], axis=1))
    np.save(tmp / "edge_attr.npy", np.concatenate(parts["edge_attr"]))
    np.save(tmp / "descriptors.npy", np.concatenate(parts["descriptors"]))
    np.save(tmp / "atom_offsets.npy", np.asarray(atoms, dtype=np.int64))
    np.save(tmp / "edge_offsets.npy", np.asarray(edges, dtype=np.int64))
    info = {
        "molecules": molecule_list_hash(smiles),
        "n_molecules": len(smiles),
        "featurizer_version": FEATURIZER_VERSION,
        "descriptor_set_version": DESCRIPTOR_SET_VERSION,
    }
    (tmp / "store.json").write_text(json.dumps(info, indent=1))
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)
    return GraphStore(path)


class _Serial:
    """The one-process stand-in for a ``Pool`` (no spawn cost for small stores and tests)."""

    def __enter__(self) -> _Serial:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @staticmethod
    def imap(fn: Callable, items: Iterable) -> Iterator:
        return map(fn, items)


class GraphSubset:
    """Rows ``index`` of a graph sequence without materialising them (a store stays memory-mapped)."""

    def __init__(self, graphs: Sequence[MolGraph], index: np.ndarray) -> None:
        self.graphs, self.index = graphs, np.asarray(index)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> MolGraph:
        return self.graphs[int(self.index[i])]
