"""Shared by the unit tests: one CPU thread for torch, and a tiny GATE model and batch.

Why one thread: with one OpenMP thread per core, torch's threads spin against any other busy
process on the machine and a 10 ms forward pass can take seconds. It is set before torch is
first imported; torch itself is imported lazily so the registry tests never pay for it.
"""

import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

TINY_SMILES = [
    "CCO",
    "c1ccncc1",
    "CC(=O)O",
    "C",
    "C[C@H](N)C(=O)O",
    "F/C=C/F",
    "Oc1ccccc1",
    "CCN(CC)CC",
]


@pytest.fixture
def tiny_model():
    """``make(tasks=("a", "b", "c"), descriptors=True, classification=()) -> GATEModel``, small and seeded."""
    import torch

    from gate_core.featurizers.descriptors import DESCRIPTOR_SET_VERSION, FAST_DESCRIPTOR_NAMES
    from gate_core.featurizers.graph import ATOM_DIM, BOND_DIM, FEATURIZER_VERSION
    from gate_core.models.gate import GATEConfig, GATEModel, TaskInfo

    def make(tasks=("a", "b", "c"), descriptors=True, classification=(), seed=0):
        torch.manual_seed(seed)
        infos = [
            TaskInfo(
                t, unit="u", task_type="classification" if t in classification else "regression"
            )
            for t in tasks
        ]
        config = GATEConfig(
            ATOM_DIM,
            BOND_DIM,
            infos,
            hidden=16,
            depth=2,
            latent_dim=8,
            task_hidden=12,
            n_descriptors=len(FAST_DESCRIPTOR_NAMES) if descriptors else 0,
            featurizer_version=FEATURIZER_VERSION,
            descriptor_set_version=DESCRIPTOR_SET_VERSION if descriptors else "",
        )
        return GATEModel(config)

    return make


@pytest.fixture
def tiny_batch():
    """``make(n_tasks=3, seed=0) -> MoleculeBatch`` of 8 molecules with a sparse label mask."""
    import numpy as np

    from gate_core.data.collate import MoleculeDataset
    from gate_core.data.featurize import featurize_molecules

    def make(n_tasks=3, seed=0):
        graphs, descriptors = featurize_molecules(TINY_SMILES)
        rng = np.random.default_rng(seed)
        y = rng.normal(size=(len(TINY_SMILES), n_tasks)).astype(np.float32)
        y[rng.random(y.shape) < 0.4] = np.nan
        y[0] = rng.normal(size=n_tasks)  # every task has a label
        dataset = MoleculeDataset(graphs, descriptors, y)
        return dataset.collate(list(range(len(TINY_SMILES))))

    return make
