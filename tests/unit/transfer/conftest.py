"""Shared by the task-addition tests: one tiny pre-trained backbone and its frozen cache.

The backbone is pre-trained for one epoch on the tiny table with four source tasks (under a
second on one CPU thread) and shared by the whole session; a test that changes it works on a
``copy.deepcopy``. ``task_hidden = 2 · latent_dim`` so a chart can be set to the exact identity
(see ``test_objective.py``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[2] / "data"
SOURCE_TASKS = ["Tm_K", "Tb_K", "logKow", "density_kgm3"]


@pytest.fixture(scope="session")
def backbone():
    """A frozen GATE backbone with 4 source tasks, latent 8, task hidden 16 (do not mutate)."""
    import torch

    from gate_core.training.pretrain import PretrainConfig, pretrain

    torch.set_num_threads(1)
    config = PretrainConfig(
        table=str(DATA / "pretrain_tiny.csv.gz"),
        tasks=SOURCE_TASKS,
        epochs=1,
        hidden=32,
        depth=2,
        latent_dim=8,
        task_hidden=16,
        threads=1,
    )
    model = pretrain(config, progress=False).model
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


@pytest.fixture(scope="session")
def target_frame() -> pd.DataFrame:
    """60 molecules with a regression label (``smiles``, ``value``)."""
    return pd.read_csv(DATA / "target_tiny.csv")


@pytest.fixture(scope="session")
def canonical_targets(target_frame) -> list[str]:
    from gate_core.featurizers.molecule import canonical_smiles

    return [canonical_smiles(s) for s in target_frame["smiles"]]


@pytest.fixture(scope="session")
def as_double():
    """``as_double(frozen)``: a float64 copy of a :class:`FrozenSources` cache."""

    def convert(frozen):
        return type(frozen)(*(getattr(frozen, f.name).double() for f in dataclasses.fields(frozen)))

    return convert
