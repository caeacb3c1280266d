"""The shipped backbone still loads and predicts what it predicted when it was built.

Why pinned numbers: a change of the encoder's plumbing (e.g. moving its aggregation onto PyG's
``MessagePassing``) must not change the shipped weights' meaning. The values were computed with
the encoder as shipped (``scatter``-based, commit 8f63e37) on one CPU thread.
"""

from __future__ import annotations

import numpy as np
import pytest

from gate_core.models.checkpoint import load_checkpoint
from gate_core.paths import DEFAULT_BACKBONE as BACKBONE
from gate_core.training.evaluate import predict

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CN1CCC[C@H]1c1cccnc1", "O=C(O)c1ccccc1OC(C)=O"]
TASKS = ["Tm_K", "Tb_K", "Tc_K", "Pc_bar"]
PINNED = [
    [151.375778, 356.177124, 525.710205, 69.437027],
    [273.201782, 469.477295, 682.070435, 57.798752],
    [441.245911, 517.137573, 800.677002, 41.682556],
    [346.707367, 476.939178, 747.250732, 33.041153],
    [393.864288, 575.81842, 819.923462, 32.734779],
]


@pytest.mark.skipif(not (BACKBONE / "model.safetensors").is_file(), reason="no shipped backbone")
def test_shipped_backbone_predicts_its_pinned_values():
    model, _ = load_checkpoint(BACKBONE, "cpu")
    assert model.property_names[: len(TASKS)] == TASKS
    pred = predict(model, SMILES)
    columns = [model.output_names.index(t) for t in TASKS]
    np.testing.assert_allclose(pred[:, columns], np.array(PINNED), rtol=1e-5, atol=1e-4)


def test_shipped_backbone_knows_every_source_skill_from_its_test_fold():
    """Task addition leaves out sources without held-out skill: the shipped backbone must carry a
    skill for each of its sources, and every one of them is real (none would be left out)."""
    model, meta = load_checkpoint(BACKBONE)
    assert sorted(model.source_skill) == sorted(model.task_names)
    assert model.source_skill["logKow"] == meta["pretraining"]["test_metrics"]["logKow"]["r2"]
    assert min(model.source_skill.values()) > 0.0
