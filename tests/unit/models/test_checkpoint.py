"""gate_core.models.checkpoint: round trip, and a clear CheckpointError for every broken file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from gate_core.models.checkpoint import (
    METADATA_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
)
from gate_core.training.evaluate import predict

SMILES = ["CCO", "c1ccncc1", "CC(=O)O", "C[C@H](N)C(=O)O", "C"]


@pytest.fixture
def saved(tiny_model, tmp_path):
    model = tiny_model(classification=("c",))
    model.set_scalers(
        np.array([5.0, -3.0, 7.0]),
        np.array([2.0, 0.5, 9.0]),
        np.linspace(1, 2, 19),
        np.linspace(3, 4, 19),
    )
    model.eval()
    path = save_checkpoint(model, tmp_path / "ckpt", {"pretraining": {"world_size": 1}})
    return model, path


def test_round_trip_identical_predictions_and_scalers(saved):
    model, path = saved
    loaded, meta = load_checkpoint(path)
    assert not loaded.training
    np.testing.assert_array_equal(predict(loaded, SMILES), predict(model, SMILES))
    for name in ("y_mean", "y_std", "descriptor_mean", "descriptor_std", "classification"):
        assert torch.equal(getattr(loaded, name), getattr(model, name)), name
    assert loaded.task_names == ["a", "b", "c"]
    assert loaded.config == model.config
    assert meta["scalers"] == {
        "a": {"mean": 5.0, "std": 2.0},
        "b": {"mean": -3.0, "std": 0.5},
        "c": {"mean": 0.0, "std": 1.0},
    }
    assert meta["pretraining"] == {"world_size": 1}
    preds = predict(loaded, SMILES)
    assert (
        (preds[:, 2] > 0) & (preds[:, 2] < 1)
    ).all()  # classification comes back as a probability


def test_save_replaces_existing_checkpoint(saved, tiny_model):
    _, path = saved
    other = tiny_model(tasks=("x",), descriptors=False, seed=5)
    save_checkpoint(other, path)
    loaded, _ = load_checkpoint(path)
    assert loaded.task_names == ["x"]
    assert not any(
        p.name.startswith(".tmp-") or p.name.endswith(".old") for p in path.parent.iterdir()
    )


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="metadata.json is missing"):
        load_checkpoint(tmp_path / "nowhere")


def test_missing_weights(saved):
    _, path = saved
    (path / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError, match="model.safetensors is missing"):
        load_checkpoint(path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_weights(saved, damage):
    _, path = saved
    weights = path / WEIGHTS_FILE
    data = weights.read_bytes()
    if damage == "truncate":
        weights.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        weights.write_bytes(np.random.default_rng(0).bytes(len(data)))
    else:
        weights.write_bytes(b"")
    with pytest.raises(CheckpointError, match="corrupt") as info:
        load_checkpoint(path)
    assert str(weights) in str(info.value)


@pytest.mark.parametrize("text", ["{not json", "\xff\xfe", "[1, 2]", '{"format_version": 1}'])
def test_corrupt_metadata(saved, text):
    _, path = saved
    (path / METADATA_FILE).write_bytes(text.encode("latin-1"))
    with pytest.raises(CheckpointError, match="corrupt|not GATE checkpoint metadata"):
        load_checkpoint(path)


def _edit_meta(path, **changes):
    meta = json.loads((path / METADATA_FILE).read_text())
    meta.update(changes)
    (path / METADATA_FILE).write_text(json.dumps(meta))
    return meta


def test_featurizer_version_mismatch(saved):
    _, path = saved
    _edit_meta(path, featurizer_version="graph-v0")
    with pytest.raises(CheckpointError, match="featuriser 'graph-v0'"):
        read_metadata(path)
    with pytest.raises(CheckpointError, match="rebuild the backbone"):
        load_checkpoint(path)


def test_format_version_mismatch(saved):
    _, path = saved
    _edit_meta(path, format_version=99)
    with pytest.raises(CheckpointError, match="format 99"):
        load_checkpoint(path)


def test_unbuildable_config(saved):
    _, path = saved
    meta = json.loads((path / METADATA_FILE).read_text())
    meta["config"]["no_such_field"] = 1
    (path / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="cannot be rebuilt"):
        load_checkpoint(path)


def test_bad_task_type_in_config(saved):
    _, path = saved
    meta = json.loads((path / METADATA_FILE).read_text())
    meta["config"]["tasks"][0]["task_type"] = "ranking"
    (path / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="cannot be rebuilt"):
        load_checkpoint(path)


def test_state_dict_shape_mismatch(saved):
    model, path = saved
    meta = json.loads((path / METADATA_FILE).read_text())
    meta["config"]["hidden"] = 32  # weights were saved with hidden 16
    (path / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="does not match its config"):
        load_checkpoint(path)


def test_state_dict_missing_key(saved):
    model, path = saved
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("tasks.b.")}
    save_file(state, str(path / WEIGHTS_FILE))
    with pytest.raises(CheckpointError, match="does not match its config"):
        load_checkpoint(path)


def test_source_skill_reads_r2_auc_and_family_means():
    from gate_core.models.checkpoint import source_skill

    skill = source_skill(
        {
            "test_metrics": {"Tm_K": {"r2": 0.7}, "bbbp": {"roc_auc": 0.9}, "x": {"rmse": 1.0}},
            "family_test_metrics": {"rings": {"r2_mean": 0.95}, "empty": {"r2_mean": float("nan")}},
        }
    )
    assert skill == pytest.approx({"Tm_K": 0.7, "bbbp": 0.8, "rings": 0.95})
    assert source_skill({}) == {}
