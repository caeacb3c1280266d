"""Shared by the relational-head tests: a small backbone checkpoint on the tiny table and a head trained on it.

The backbone is pre-trained in-process (1 epoch, small sizes, one thread) and saved with its
metadata, because the head's training recomputes the backbone's split from that metadata.
Both are session-scoped and must not be mutated.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="session")
def rel_backbone_path(tmp_path_factory) -> Path:
    import torch

    from gate_core.training.pretrain import PretrainConfig, pretrain

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("rel_backbone") / "backbone"
    config = PretrainConfig(
        table=str(DATA / "pretrain_tiny.csv.gz"),
        epochs=1,
        hidden=32,
        depth=2,
        latent_dim=8,
        task_hidden=16,
        threads=1,
    )
    pretrain(config, out_dir=out, progress=False)
    return out


@pytest.fixture(scope="session")
def rel_backbone(rel_backbone_path):
    from gate_core.models.checkpoint import load_checkpoint

    model, meta = load_checkpoint(rel_backbone_path)
    for p in model.parameters():
        p.requires_grad_(False)
    return model, meta


@pytest.fixture(scope="session")
def rel_head_path(rel_backbone_path) -> Path:
    """A head trained for a few epochs and saved next to the backbone (``<backbone>_relational``)."""
    from gate_core.relational.train import RelationalTrainConfig, pretrain_relational

    out = rel_backbone_path.with_name("backbone_relational")
    pretrain_relational(
        rel_backbone_path,
        out,
        RelationalTrainConfig(epochs=4, hidden=16, threads=1),
        progress=False,
    )
    return out


@pytest.fixture(scope="session")
def rel_head(rel_head_path):
    from gate_core.relational.io import load_relational

    return load_relational(rel_head_path)
