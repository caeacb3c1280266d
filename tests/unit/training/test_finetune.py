"""finetune: trains encoder + new head, falls in loss, leaves the backbone alone, predicts in user units."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gate_core.models.gate import TaskInfo
from gate_core.training.finetune import FinetuneConfig, finetune, new_task_model

SMILES = [
    "CCO",
    "CCCO",
    "CCCCO",
    "CCCCCO",
    "c1ccccc1",
    "Cc1ccccc1",
    "CCc1ccccc1",
    "Oc1ccccc1",
    "CC(=O)O",
    "CCC(=O)O",
    "CCN",
    "CCCN",
    "CCCCN",
    "ClCCl",
    "ClC(Cl)Cl",
    "CC(C)O",
    "CC(C)(C)O",
    "C1CCCCC1",
    "C1CCCC1",
    "OCCO",
]
VAL = ["CCCCCCO", "Clc1ccccc1", "CCCCCN", "CC(C)CO"]


def _labels(smiles: list[str]) -> np.ndarray:
    """A smooth, learnable property in 'user units' (offset and scale far from 0/1)."""
    from rdkit import Chem
    from rdkit.Chem import Crippen

    return np.array([300.0 + 40.0 * Crippen.MolLogP(Chem.MolFromSmiles(s)) for s in smiles])


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_finetune_trains_encoder_and_head_without_touching_backbone(tiny_model):
    backbone = tiny_model()
    before = _state(backbone)
    config = FinetuneConfig(
        epochs=40, patience=40, batch_size=8, encoder_lr=1e-3, head_lr=3e-3, seed=0
    )
    result = finetune(
        backbone, SMILES, _labels(SMILES), VAL, _labels(VAL), TaskInfo("logp_like", "K"), config
    )

    # the backbone is untouched, weights and buffers alike, and shares no tensor with the result
    after = backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(
        p.data_ptr() != q.data_ptr()
        for p in backbone.parameters()
        for q in result.model.parameters()
    )
    # the result is a one-task model whose encoder really trained (not a frozen probe)
    assert result.model.task_names == ["logp_like"]
    assert any(
        not torch.equal(before[f"encoder.{k}"], v)
        for k, v in result.model.encoder.state_dict().items()
    )
    # the training loss falls clearly (standardised units, starts near 1)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.3 * losses[0], losses
    assert 1 <= result.best_epoch <= len(result.history)
    # predictions come back in the user's units
    pred = result.predict(SMILES)
    y = _labels(SMILES)
    assert pred.shape == (len(SMILES),)
    assert np.sqrt(np.mean((pred - y) ** 2)) < 0.6 * y.std()


def test_new_task_model_copies_encoder_and_descriptor_scaler(tiny_model):
    backbone = tiny_model()
    backbone.descriptor_mean.fill_(2.0)
    model = new_task_model(backbone, TaskInfo("t"))
    for k, v in backbone.encoder.state_dict().items():
        assert torch.equal(v, model.encoder.state_dict()[k])
    assert torch.equal(model.descriptor_mean, backbone.descriptor_mean)
    assert all(p.requires_grad for p in model.parameters())


def test_finetune_rejects_bad_input(tiny_model):
    backbone = tiny_model()
    with pytest.raises(ValueError, match="validation"):
        finetune(backbone, SMILES, _labels(SMILES), [], [], "t", FinetuneConfig(epochs=1))
    with pytest.raises(ValueError, match="row 2"):
        finetune(
            backbone,
            ["CCO", "not-a-smiles"],
            [1.0, 2.0],
            VAL,
            _labels(VAL),
            "t",
            FinetuneConfig(epochs=1),
        )
