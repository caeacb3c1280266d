"""gate_core.transfer.task_check: a saved task is vetted (schema, tensor shapes, trial prediction) before use."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from gate_core.models.fingerprint import backbone_fingerprint
from gate_core.transfer.added_task import METADATA_FILE, WEIGHTS_FILE, AddedTaskError
from gate_core.transfer.addition import TaskAdditionConfig, add_task
from gate_core.transfer.task_check import check_task_folder

TINY = {"ensemble": 2, "max_steps": 10, "warmup_steps": 5, "outer_every": 5, "eval_every": 5}


@pytest.fixture(scope="module")
def saved(backbone, target_frame, tmp_path_factory):
    task = add_task(
        backbone,
        target_frame["smiles"].tolist(),
        target_frame["value"].tolist(),
        "logS",
        TaskAdditionConfig(**TINY),
    ).task
    return task.save(tmp_path_factory.mktemp("task") / "logS")


@pytest.fixture
def copy(saved, tmp_path):
    return shutil.copytree(saved, tmp_path / "task")


def _edit_meta(path, change) -> None:
    meta = json.loads((path / METADATA_FILE).read_text())
    change(meta)
    (path / METADATA_FILE).write_text(json.dumps(meta))


def test_a_trained_task_passes(saved, backbone):
    task = check_task_folder(saved, backbone, backbone_fingerprint(backbone))
    assert task.info.name == "logS"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda m: m["info"].update(colour="red"),
            "info.*colour",
        ),  # an extra keyword broke every prediction
        (
            lambda m: m["architecture"].update(hidden=10**12),
            "architecture/hidden",
        ),  # a 4 TB allocation
        (lambda m: m["architecture"].update(latent_dim=5), "does not fit the backbone"),
        (lambda m: m.update(n_members="2"), "n_members"),
        (lambda m: m.update(y_std=0), "y_std"),
        (lambda m: m["domain"].update(neighbours=-1), "domain/neighbours"),
        (lambda m: m.pop("architecture"), "architecture"),
    ],
    ids=[
        "extra-info-key",
        "huge-width",
        "wrong-latent",
        "count-as-text",
        "zero-std",
        "negative-neighbours",
        "no-architecture",
    ],
)
def test_bad_metadata_is_refused_before_loading(copy, backbone, change, message):
    _edit_meta(copy, change)
    with pytest.raises(AddedTaskError, match=message):
        check_task_folder(copy, backbone, backbone_fingerprint(backbone))


def test_more_members_declared_than_stored_is_refused(copy, backbone):
    _edit_meta(copy, lambda m: m.update(n_members=m["n_members"] + 1))
    with pytest.raises(AddedTaskError, match="weights do not match its architecture"):
        check_task_folder(copy, backbone, backbone_fingerprint(backbone))


def test_a_task_that_predicts_nan_is_refused(copy, backbone):
    """What training on labels beyond float32 produced; such a task must never be marked ready."""
    tensors = load_file(str(copy / WEIGHTS_FILE))
    tensors = {
        k: torch.full_like(v, float("nan")) if k.startswith("member") else v
        for k, v in tensors.items()
    }
    save_file(tensors, str(copy / WEIGHTS_FILE))
    with pytest.raises(AddedTaskError, match="not a finite number"):
        check_task_folder(copy, backbone, backbone_fingerprint(backbone))


def test_corrupt_weights_are_refused(copy, backbone):
    (copy / WEIGHTS_FILE).write_bytes(b"\x00" * 64)
    with pytest.raises(AddedTaskError, match="missing or corrupt"):
        check_task_folder(copy, backbone, backbone_fingerprint(backbone))
