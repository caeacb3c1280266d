"""Fixtures for the registry tests: a fresh registry in a temp dir and small task factories."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from gate_core.registry import TaskRecord, TaskRegistry

BACKBONE = "gate-backbone-test-v1"


@pytest.fixture
def registry(tmp_path: Path) -> TaskRegistry:
    reg = TaskRegistry(tmp_path / "gate_data")
    yield reg
    reg.close()


@pytest.fixture
def make_record() -> Callable[..., TaskRecord]:
    def make(name: str = "logS", **fields) -> TaskRecord:
        fields.setdefault("task_type", "regression")
        fields.setdefault("unit", "log mol/L")
        fields.setdefault("backbone_id", BACKBONE)
        fields.setdefault("metrics", {"test": {"rmse": 0.71, "r2": 0.8}})
        fields.setdefault("sizes", {"n_train": 80, "n_valid": 100, "n_test": 10})
        fields.setdefault("ratios", {"logP": {"ratio": 0.4}, "MW": {"ratio": 0.1}})
        return TaskRecord(name=name, **fields)

    return make


@pytest.fixture
def model_files() -> Callable[[int], dict[str, bytes]]:
    def make(version: int = 1) -> dict[str, bytes]:
        return {
            "model.safetensors": bytes([version % 256]) * 5000 + b"weights",
            "config.json": f'{{"version": {version}}}'.encode(),
            "heads/head_0.pt": bytes(range(256)) * 4 + bytes([version % 256]),
        }

    return make


@pytest.fixture
def dataset() -> pd.DataFrame:
    return pd.DataFrame({"smiles": ["CCO", "c1ccccc1", "CC(=O)O"], "logS": [0.5, -1.6, 1.1]})


def disk_versions(data_dir: Path) -> set[str]:
    """Every ``tasks/<name>/<version>`` folder on disk, as relative paths."""
    root = data_dir / "tasks"
    return (
        {p.relative_to(data_dir).as_posix() for p in root.glob("*/*")} if root.is_dir() else set()
    )


@pytest.fixture
def assert_clean() -> Callable[[TaskRegistry], None]:
    """Assert no staging leftovers and exactly one folder per registered task."""

    def check(reg: TaskRegistry) -> None:
        assert list((reg.data_dir / "tmp").iterdir()) == []
        rows = {t.model_dir for t in reg.list_tasks(include_broken=True)}
        assert disk_versions(reg.data_dir) == rows

    return check
