"""Task addition through the Python API, the registry and the background worker, on a tiny backbone.

The guarantees checked here (DESIGN §4): adding a task never changes any existing task's
predictions, nor a single byte of the backbone; an added task survives export → import on the
same backbone with identical predictions, and is refused on any other backbone; a queued run
either ends ``done`` with its task registered, or ``failed`` / ``cancelled`` with a message and
nothing registered — never an exception escaping the worker.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from gate_core.api import GateStudio
from gate_core.registry import ArchiveError
from gate_core.training.pretrain import PretrainConfig, pretrain
from gate_core.transfer.added_task import AddedTaskError
from gate_core.transfer.addition import TaskAdditionConfig
from gate_core.transfer.ratios import RatioSettings
from gate_core.worker import TaskWorker

from .conftest import ROOT, TINY_TABLE

pytestmark = pytest.mark.integration

SOURCES = ["Tm_K", "Tb_K", "logKow", "density_kgm3"]
TINY = {"ensemble": 2, "max_steps": 20, "warmup_steps": 5, "outer_every": 5, "eval_every": 5}
QUERY = [
    "CCO",
    "not a smiles",
    "c1ccccc1O",
    "CC(=O)Oc1ccccc1C(=O)O",
    "",
    "CCCCCCCCCCCCCCCC",
    "OC(=O)c1ccccc1",
    "CCN(CC)CC",
]


def _pretrain(out: Path, seed: int) -> Path:
    config = PretrainConfig(
        table=str(TINY_TABLE),
        tasks=SOURCES,
        epochs=1,
        hidden=32,
        depth=2,
        latent_dim=8,
        task_hidden=16,
        threads=1,
        seed=seed,
    )
    pretrain(config, out_dir=out, progress=False)
    return out


@pytest.fixture(scope="module")
def backbones(tmp_path_factory) -> tuple[Path, Path]:
    """Two tiny backbones with the same architecture and different weights."""
    root = tmp_path_factory.mktemp("backbones")
    return _pretrain(root / "seed0", 0), _pretrain(root / "seed1", 1)


@pytest.fixture(scope="module")
def regression() -> pd.DataFrame:
    return pd.read_csv(ROOT / "tests" / "data" / "target_tiny.csv")


@pytest.fixture(scope="module")
def classification() -> pd.DataFrame:
    return pd.read_csv(ROOT / "tests" / "data" / "target_tiny_classification.csv")


def _config(**overrides) -> TaskAdditionConfig:
    return TaskAdditionConfig(**{**TINY, **overrides})


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_columns_identical(
    before: pd.DataFrame, after: pd.DataFrame, columns: list[str]
) -> None:
    for col in columns:
        a, b = before[col].to_numpy(), after[col].to_numpy()
        if a.dtype.kind == "f":
            assert np.array_equal(a, b, equal_nan=True), f"column {col} changed"
        else:
            assert a.tolist() == b.tolist(), f"column {col} changed"


# ---- adding a task never changes anything else ----------------------------------------------------


def test_adding_a_task_never_changes_other_predictions(
    backbones, regression, classification, tmp_path
):
    path, _ = backbones
    weights_sha = _sha256(path / "model.safetensors")
    studio = GateStudio(path, tmp_path / "data", device="cpu")
    studio.add_task(regression, "smiles", "value", "task_a", unit="log mol/L", config=_config())
    before = studio.predict(QUERY)
    assert list(before.columns[:4]) == ["input", "smiles", "error", "note"]
    assert {*SOURCES, "task_a", "task_a_std", "task_a_ad_score", "task_a_in_domain"} <= set(
        before.columns
    )
    state = {k: v.clone() for k, v in studio.backbone.state_dict().items()}
    files_a = dict(studio.registry.get_task("task_a").files)

    record_b, _ = studio.add_task(
        classification,
        "smiles",
        "value",
        "task_b",
        config=_config(test_fraction=0.2, train_baseline=True),
    )
    assert record_b.task_type == "classification"
    after = studio.predict(QUERY)

    assert {"task_b", "task_b_std"} <= set(after.columns)
    _assert_columns_identical(before, after, list(before.columns))
    # the backbone: every tensor, the fingerprint and the checkpoint file itself
    for name, tensor in studio.backbone.state_dict().items():
        assert torch.equal(tensor, state[name]), name
    assert all(p.grad is None and not p.requires_grad for p in studio.backbone.parameters())
    assert _sha256(path / "model.safetensors") == weights_sha
    # task A's files on disk
    assert studio.registry.get_task("task_a").files == files_a
    studio.registry.verify_task("task_a")

    # a fresh process state (task A loaded from disk, not from the cache) agrees exactly
    fresh = GateStudio(path, tmp_path / "data", device="cpu")
    assert fresh.backbone_id == studio.backbone_id
    _assert_columns_identical(after, fresh.predict(QUERY), list(after.columns))


def test_predict_output_contract(backbones, regression, tmp_path):
    path, _ = backbones
    studio = GateStudio(path, tmp_path / "data", device="cpu")
    studio.add_task(regression, "smiles", "value", "logS", config=_config())
    frame = studio.predict(QUERY, ["logS", "Tm_K"])
    assert frame["input"].tolist() == QUERY
    invalid = frame["error"].notna().to_numpy()
    assert invalid.tolist() == [q in ("not a smiles", "") for q in QUERY]
    assert (
        np.isnan(frame.loc[invalid, "logS"]).all()
        and np.isfinite(frame.loc[~invalid, "logS"]).all()
    )
    assert np.isnan(frame["Tm_K_std"]).all()  # a backbone property is one model: no ensemble spread
    assert (frame.loc[~invalid, "logS_std"] > 0).all()
    assert frame.loc[~invalid, "logS_in_domain"].map(type).eq(bool).all()
    with pytest.raises(ValueError, match="unknown task"):
        studio.predict(["CCO"], ["no_such_task"])


# ---- export / import ----------------------------------------------------------------------------


def test_export_import_round_trip_and_foreign_backbone_refused(backbones, regression, tmp_path):
    path, other_path = backbones
    studio = GateStudio(path, tmp_path / "data", device="cpu")
    studio.add_task(
        regression,
        "smiles",
        "value",
        "logS",
        unit="log mol/L",
        config=_config(ratios=RatioSettings(mode="learned")),
    )
    archive = tmp_path / "logS.zip"
    studio.registry.export_task("logS", archive)
    expected = studio.predict(QUERY, ["logS"])

    same = GateStudio(path, tmp_path / "data2", device="cpu")
    record = same.registry.import_task(archive, same.backbone_id)
    assert (
        record.name == "logS"
        and record.unit == "log mol/L"
        and record.backbone_id == studio.backbone_id
    )
    assert record.ratios == studio.registry.get_task("logS").ratios
    _assert_columns_identical(expected, same.predict(QUERY, ["logS"]), list(expected.columns))
    pd.testing.assert_frame_equal(
        same.registry.get_dataset("logS"), studio.registry.get_dataset("logS")
    )

    other = GateStudio(other_path, tmp_path / "data3", device="cpu")
    assert other.backbone_id != studio.backbone_id
    with pytest.raises(ArchiveError) as info:
        other.registry.import_task(archive, other.backbone_id)
    assert studio.backbone_id in str(info.value) and other.backbone_id in str(info.value)
    assert other.added_tasks() == []

    # even if the registry is tricked into taking it, the task is reported unusable on this backbone
    other.registry.import_task(archive, studio.backbone_id)
    assert "another backbone" in other.unusable_tasks()["logS"] and other.added_tasks() == []
    with pytest.raises(Exception, match="another backbone"):
        other.predict(["CCO"], ["logS"])
    with pytest.raises(AddedTaskError, match=other.backbone_id):  # and its model refuses to load
        other.load_task("logS")


def test_names_of_source_properties_and_existing_tasks_are_refused(backbones, regression, tmp_path):
    path, _ = backbones
    studio = GateStudio(path, tmp_path / "data", device="cpu")
    with pytest.raises(Exception, match="source property"):
        studio.add_task(regression, "smiles", "value", "Tm_K", config=_config())
    studio.add_task(regression, "smiles", "value", "logS", config=_config(ensemble=1))
    with pytest.raises(Exception, match="already exists"):
        studio.add_task(regression, "smiles", "value", "logS", config=_config(ensemble=1))
    with pytest.raises(ValueError, match="column 'y' not found"):
        studio.add_task(regression, "smiles", "y", "other", config=_config(ensemble=1))
    assert [r.name for r in studio.added_tasks()] == ["logS"]


# ---- the background worker ----------------------------------------------------------------------


def _options(**config) -> dict:
    return {
        "smiles_column": "smiles",
        "target_column": "value",
        "unit": "log mol/L",
        "config": {**TINY, **config},
    }


def test_worker_runs_a_queued_job_to_done(backbones, regression, tmp_path):
    path, _ = backbones
    studio = GateStudio(path, tmp_path / "data", device="cpu")
    options = _options(
        ratios="learned", pinned={"Tm_K": 0.5}, test_fraction=0.2, train_baseline=True
    )
    run_id = studio.registry.enqueue_run("worker_task", options, regression)
    worker = TaskWorker(studio)

    assert worker.run_once() is True
    run = studio.registry.get_run(run_id)
    assert run.status == "done", run.error
    assert run.error is None
    progress = run.progress
    assert progress["fraction"] == 1.0 and progress["stage"] == "done"
    assert progress["val_curve"] and all(
        len(point) == 3 and np.isfinite(point[2]) for point in progress["val_curve"]
    )
    assert {point[0] for point in progress["val_curve"]} == {0, 1}  # both ensemble members reported
    assert progress["ratio_trajectory"] and progress["sources"] == SOURCES
    assert progress["invalid"] == []
    assert (
        len(progress["test_predictions"]["mean"]) > 0 and "baseline" in progress["test_predictions"]
    )
    assert "registered task worker_task" in run.log

    record = studio.registry.get_task("worker_task")
    assert record.unit == "log mol/L" and record.backbone_id == studio.backbone_id
    assert record.ratios["Tm_K"]["ratio"] == pytest.approx(0.5)
    assert record.metrics["test"] and record.metrics["baseline_test"]
    assert np.isfinite(studio.predict(["CCO"], ["worker_task"])["worker_task"]).all()
    assert worker.run_once() is False  # nothing left in the queue


@pytest.mark.parametrize(
    ("name", "dataset", "options", "match"),
    [
        (
            "too_small",
            "five_rows",
            _options(),
            "only 5 valid molecules after cleaning; at least 20",
        ),
        (
            "no_column",
            "regression",
            {**_options(), "target_column": "pIC50"},
            "column 'pIC50' not found",
        ),
        ("Tm_K", "regression", _options(), "source property"),
        ("bad_mode", "regression", _options(ratios="sometimes"), "unknown transfer-ratio mode"),
        ("no_data", None, _options(), "no dataset"),
    ],
)
def test_worker_failures_end_failed_with_a_message(
    backbones, regression, tmp_path, name, dataset, options, match
):
    path, _ = backbones
    studio = GateStudio(path, tmp_path / "data", device="cpu")
    data = {"five_rows": regression.head(5), "regression": regression, None: None}[dataset]
    run_id = studio.registry.enqueue_run(name, options, data)
    assert TaskWorker(studio).run_once() is True  # no exception escapes
    run = studio.registry.get_run(run_id)
    assert run.status == "failed"
    assert run.error and re.search(match, run.error), run.error
    assert studio.added_tasks() == []


def test_cancelled_run_registers_nothing(backbones, regression, tmp_path):
    path, _ = backbones
    studio = GateStudio(path, tmp_path / "data", device="cpu")
    run_id = studio.registry.enqueue_run("cancel_me", _options(), regression)
    registry = studio.registry
    original = registry.update_progress
    calls = []

    def cancel_while_training(run, payload, log_line=None):
        calls.append(payload.get("stage"))
        if payload.get("stage") == "training":
            registry.cancel_run(run)
        return original(run, payload, log_line)

    registry.update_progress = cancel_while_training
    assert TaskWorker(studio).run_once() is True
    assert "training" in calls
    assert registry.get_run(run_id).status == "cancelled"
    assert not registry.has_task("cancel_me")


def test_worker_thread_picks_up_queued_runs(backbones, regression, tmp_path):
    path, _ = backbones
    studio = GateStudio(path, tmp_path / "data", device="cpu")
    worker = TaskWorker(studio, poll_seconds=0.05)
    worker.start()
    try:
        first = studio.registry.enqueue_run("first", _options(ensemble=1), regression)
        second = studio.registry.enqueue_run("second", _options(ensemble=1), regression.head(3))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(
            studio.registry.get_run(r).is_final for r in (first, second)
        ):
            time.sleep(0.05)
    finally:
        worker.stop()
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert studio.registry.get_run(first).status == "done"
    assert studio.registry.get_run(second).status == "failed"
    assert [r.name for r in studio.added_tasks()] == ["first"]
