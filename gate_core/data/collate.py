"""Batching many :class:`MolGraph` into one disconnected graph, plus the dataset wrapper.

Why our own collate instead of ``torch_geometric.data.Batch.from_data_list``: the graphs are
NumPy tuples (cheap to cache) and concatenating them directly is far faster than PyG's batching;
the result carries exactly what the D-MPNN needs. Measured (1,024 corpus molecules in batches
of 256, one thread, best of 7, shared 2-core CPU): ``collate_graphs`` 21 µs per molecule
(47,000 mol/s); ``Batch.from_data_list`` on cached ``Data`` objects 288 µs (3,500 mol/s); building
``Data`` per step too 446 µs (2,200 mol/s). The three give the same ``x``, ``edge_index`` and
``batch``. PyG's batching alone would sit below the 5,000 mol/s prediction target, so not here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from gate_core.featurizers.graph import MolGraph


@dataclass
class BatchMolGraph:
    """A batch of molecules as one graph.

    Shapes: ``x`` (n_atoms, atom_dim); ``edge_index`` (2, n_edges) with reverse edge ``e ^ 1``;
    ``edge_attr`` (n_edges, bond_dim); ``batch`` (n_atoms,) molecule index of each atom.
    """

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    batch: torch.Tensor
    num_graphs: int

    def to(self, device: torch.device | str) -> BatchMolGraph:
        return BatchMolGraph(
            self.x.to(device),
            self.edge_index.to(device),
            self.edge_attr.to(device),
            self.batch.to(device),
            self.num_graphs,
        )


def collate_graphs(graphs: list[MolGraph]) -> BatchMolGraph:
    """Concatenate graphs, shifting each graph's atom indices by the atoms before it."""
    n_atoms = np.fromiter((g.x.shape[0] for g in graphs), dtype=np.int64, count=len(graphs))
    offsets = np.concatenate([[0], np.cumsum(n_atoms)[:-1]])
    n_edges = np.fromiter(
        (g.edge_index.shape[1] for g in graphs), dtype=np.int64, count=len(graphs)
    )
    edge_index = np.concatenate([g.edge_index for g in graphs], axis=1) + np.repeat(
        offsets, n_edges
    )
    return BatchMolGraph(
        x=torch.from_numpy(np.concatenate([g.x for g in graphs])),
        edge_index=torch.from_numpy(edge_index),
        edge_attr=torch.from_numpy(np.concatenate([g.edge_attr for g in graphs])),
        batch=torch.from_numpy(np.repeat(np.arange(len(graphs)), n_atoms)),
        num_graphs=len(graphs),
    )


@dataclass
class MoleculeBatch:
    """What one training step sees: graphs, raw descriptors, standardised labels and mask."""

    graph: BatchMolGraph
    descriptors: torch.Tensor  # (B, n_descriptors), raw (the model standardises)
    y: torch.Tensor  # (B, T) standardised, 0 where unknown
    mask: torch.Tensor  # (B, T) bool, True where a label exists
    index: torch.Tensor  # (B,) row indices into the dataset

    def to(self, device: torch.device | str) -> MoleculeBatch:
        return MoleculeBatch(
            self.graph.to(device),
            self.descriptors.to(device),
            self.y.to(device),
            self.mask.to(device),
            self.index.to(device),
        )


class MoleculeDataset(Dataset):
    """Featurised molecules with their (already standardised) label matrix.

    ``__getitem__`` returns the row index; :meth:`collate` builds the batch, so a plain
    ``DataLoader`` (and ``DistributedSampler``) can drive it.
    """

    def __init__(
        self, graphs: list[MolGraph], descriptors: np.ndarray, y_scaled: np.ndarray
    ) -> None:
        if not (len(graphs) == len(descriptors) == len(y_scaled)):
            raise ValueError("graphs, descriptors and labels must have the same length")
        self.graphs = graphs
        self.descriptors = torch.as_tensor(descriptors, dtype=torch.float32)
        y = torch.as_tensor(y_scaled, dtype=torch.float32)
        self.mask = torch.isfinite(y)
        self.y = torch.where(self.mask, y, torch.zeros_like(y))

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, i: int) -> int:
        return i

    def collate(self, indices: list[int]) -> MoleculeBatch:
        index = torch.as_tensor(indices, dtype=torch.long)
        return MoleculeBatch(
            collate_graphs([self.graphs[i] for i in indices]),
            self.descriptors[index],
            self.y[index],
            self.mask[index],
            index,
        )
