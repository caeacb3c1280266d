"""gate_core.data.collate: many graphs → one disconnected graph, and the dataset wrapper."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rdkit import Chem

from gate_core.data.collate import MoleculeDataset, collate_graphs
from gate_core.featurizers.graph import ATOM_DIM, BOND_DIM, mol_to_graph

SMILES = ["CCO", "C", "c1ccncc1", "[NH4+]", "CC(=O)O"]


def _graphs():
    return [mol_to_graph(Chem.MolFromSmiles(s), s) for s in SMILES]


def test_offsets_and_batch_vector():
    graphs = _graphs()
    batch = collate_graphs(graphs)
    n_atoms = [g.x.shape[0] for g in graphs]
    assert batch.num_graphs == len(graphs)
    assert batch.x.shape == (sum(n_atoms), ATOM_DIM)
    assert batch.edge_attr.shape == (sum(g.edge_index.shape[1] for g in graphs), BOND_DIM)
    np.testing.assert_array_equal(batch.batch.numpy(), np.repeat(np.arange(len(graphs)), n_atoms))
    atom_start, edge_start = 0, 0
    for g in graphs:
        n_e = g.edge_index.shape[1]
        np.testing.assert_array_equal(
            batch.edge_index[:, edge_start : edge_start + n_e].numpy(), g.edge_index + atom_start
        )
        np.testing.assert_array_equal(batch.x[atom_start : atom_start + g.x.shape[0]].numpy(), g.x)
        np.testing.assert_array_equal(
            batch.edge_attr[edge_start : edge_start + n_e].numpy(), g.edge_attr
        )
        atom_start += g.x.shape[0]
        edge_start += n_e
    # every edge stays inside its own molecule
    src, dst = batch.edge_index
    assert torch.equal(batch.batch[src], batch.batch[dst])
    assert batch.edge_index.dtype == torch.int64 and batch.batch.dtype == torch.int64


def test_reverse_edge_property_after_batching():
    batch = collate_graphs(_graphs())
    e = torch.arange(batch.edge_index.shape[1])
    assert torch.equal(batch.edge_index[:, e ^ 1], batch.edge_index.flip(0))
    assert torch.equal(batch.edge_attr[e ^ 1], batch.edge_attr)


def test_single_atom_only_batch():
    batch = collate_graphs([mol_to_graph(Chem.MolFromSmiles("C"), "C")] * 3)
    assert batch.edge_index.shape == (2, 0)
    assert batch.batch.tolist() == [0, 1, 2]


def test_dataset_mask_and_collate():
    graphs = _graphs()
    desc = np.arange(len(graphs) * 2, dtype=np.float32).reshape(-1, 2)
    y = np.array(
        [[1.0, np.nan], [np.nan, np.nan], [0.5, -1.0], [2.0, np.nan], [np.nan, 3.0]],
        dtype=np.float32,
    )
    ds = MoleculeDataset(graphs, desc, y)
    assert len(ds) == 5 and ds[3] == 3
    batch = ds.collate([4, 0, 2])
    assert batch.index.tolist() == [4, 0, 2]
    assert batch.graph.num_graphs == 3
    assert batch.mask.tolist() == [[False, True], [True, False], [True, True]]
    assert torch.isfinite(batch.y).all()
    assert batch.y.tolist() == [[0.0, 3.0], [1.0, 0.0], [0.5, -1.0]]
    np.testing.assert_array_equal(batch.descriptors.numpy(), desc[[4, 0, 2]])
    np.testing.assert_array_equal(
        batch.graph.x.numpy(), np.concatenate([graphs[i].x for i in (4, 0, 2)])
    )
    moved = batch.to("cpu")
    assert moved.graph.num_graphs == 3


def test_dataset_length_mismatch():
    with pytest.raises(ValueError, match="same length"):
        MoleculeDataset(_graphs(), np.zeros((2, 1)), np.zeros((5, 1)))
