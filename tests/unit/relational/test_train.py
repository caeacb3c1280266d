"""gate_core.relational.train: the backbone's own split, no label leakage in training, a quick run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gate_core.data.splits import split
from gate_core.relational.head import RelationalConfig, RelationalHead
from gate_core.relational.train import (
    RelationalTrainConfig,
    backbone_features,
    scaled_labels,
    step_losses,
    train_relational,
)
from gate_core.training.backbone_split import backbone_split
from gate_core.training.pretrain import PretrainConfig, load_table


def test_backbone_split_is_the_pretraining_split(rel_backbone):
    model, meta = rel_backbone
    table, train, val, test = backbone_split(meta, model.task_names)
    config = PretrainConfig.from_dict(meta["pretraining"]["config"])
    again = load_table(config)
    assert table.smiles == again.smiles
    for a, b in zip(
        (train, val, test), split(again.smiles, config.split, config.split_fractions, config.seed)
    ):
        assert np.array_equal(a, b)
    assert (len(train), len(val), len(test)) == tuple(
        meta["pretraining"]["split"][k] for k in ("train", "val", "test")
    )


def test_backbone_split_refuses_another_table(rel_backbone, tmp_path):
    model, meta = rel_backbone
    import pandas as pd

    frame = pd.read_csv(meta["pretraining"]["config"]["table"])
    frame.iloc[:-5].to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(ValueError, match="not the table"):
        backbone_split(meta, model.task_names, str(tmp_path / "other.csv"))


def _batch(model, meta, n=128):
    table, train, _, _ = backbone_split(meta, model.task_names)
    idx = train[:n]
    chart, plain = backbone_features(model, [table.smiles[i] for i in idx])
    return chart, plain, scaled_labels(model, table.Y[idx])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hidden_labels_never_reach_a_prediction_in_training(rel_backbone, seed):
    """Change the value of every hidden label: no prediction of the training step may move.

    The reveal split depends only on which labels exist, so with the same seed both runs hide
    the same entries; if a hidden value leaked into an edge, a task node or a data node, some
    prediction (main, episode as added task, episode as preview) would change.
    """
    model, meta = rel_backbone
    chart, plain, y = _batch(model, meta)
    torch.manual_seed(0)
    head = RelationalHead(RelationalConfig(chart.shape[1], model.task_names, hidden=16)).eval()
    config = RelationalTrainConfig(zero_fraction=0.2, binarize_fraction=0.2)
    _, first = step_losses(
        head, chart, plain, y, model.classification, torch.Generator().manual_seed(seed), config
    )
    hidden = first["hidden"]
    assert hidden.any() and first["revealed"].any() and "episode_task" in first
    y2 = y.clone()
    y2[hidden] = y2[hidden] + 100.0 * torch.sign(torch.randn(int(hidden.sum())))
    _, second = step_losses(
        head, chart, plain, y2, model.classification, torch.Generator().manual_seed(seed), config
    )
    assert torch.equal(second["hidden"], hidden)
    for key in ("main", "episode_added", "episode_preview"):
        assert torch.equal(first[key], second[key]), (
            f"a hidden label leaked into the {key} prediction"
        )
    # the episode's support (revealed labels of its task) and query (hidden ones) are disjoint
    k = int(first["episode_task"])
    assert not (first["query"] & first["revealed"][:, k]).any()


def test_a_revealed_label_does_change_predictions(rel_backbone):
    """The converse: the leak test above is not vacuous — edges do move predictions."""
    model, meta = rel_backbone
    chart, plain, y = _batch(model, meta)
    torch.manual_seed(0)
    head = RelationalHead(RelationalConfig(chart.shape[1], model.task_names, hidden=16)).eval()
    config = RelationalTrainConfig(zero_fraction=0.0, binarize_fraction=0.0)
    _, first = step_losses(
        head, chart, plain, y, model.classification, torch.Generator().manual_seed(0), config
    )
    y2 = y.clone()
    y2[first["revealed"]] += 3.0
    _, second = step_losses(
        head, chart, plain, y2, model.classification, torch.Generator().manual_seed(0), config
    )
    assert not torch.equal(first["main"], second["main"])


def test_quick_training_run(rel_backbone):
    model, meta = rel_backbone
    result = train_relational(
        model, meta, RelationalTrainConfig(epochs=2, hidden=16, threads=1), progress=False
    )
    head = result.head
    assert result.epochs_run == 2 and result.best_epoch in (1, 2) and result.stopped_by == "epochs"
    assert result.val == result.history[result.best_epoch - 1]
    assert result.backbone_split["train"] == meta["pretraining"]["split"]["train"]
    assert set(result.label_ranges) <= set(model.task_names) and result.label_ranges
    for record in result.history:
        assert all(np.isfinite(v) for k, v in record.items() if k.startswith(("train_", "val_")))
    assert head.config.tasks == model.task_names and not head.training


def test_training_lowers_hidden_label_error_on_its_own_batches(rel_backbone):
    """Overfit check: on the training fold, the head's corrections beat the plain prediction."""
    from gate_core.relational.train import evaluate_hidden

    model, meta = rel_backbone
    config = RelationalTrainConfig(epochs=25, patience=100, hidden=32, threads=1, lr=3e-3)
    head = train_relational(model, meta, config, progress=False).head
    chart, plain, y = _batch(model, meta, n=300)
    scores = evaluate_hidden(head, chart, plain, y, model.classification)
    assert scores["relational_mse"] < scores["plain_mse"]
