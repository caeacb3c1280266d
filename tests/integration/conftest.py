"""Shared by the integration tests: the tiny pre-training table and a small architecture.

Torch runs on one CPU thread here (set before torch is imported): the tests train tiny
models, and one OpenMP thread per core only spins against other busy processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[2]
TINY_TABLE = ROOT / "tests" / "data" / "pretrain_tiny.csv.gz"
SMALL = {
    "hidden": 32,
    "depth": 2,
    "latent_dim": 8,
    "task_hidden": 16,
    "batch_size": 64,
    "patience": 50,
    "threads": 1,
}


@pytest.fixture
def small_config(tmp_path: Path) -> Path:
    """A PretrainConfig JSON with small hidden sizes, for ``pretrain --config``."""
    path = tmp_path / "small_config.json"
    path.write_text(json.dumps(SMALL))
    return path


def run_bench(name: str, *options: str, results_dir: Path) -> dict:
    """``python -m bench <name> <options>`` in a fresh interpreter, as its documented command
    runs it, into ``results_dir``; returns the result JSON it wrote (its stderr on failure)."""
    cmd = [sys.executable, "-m", "bench", name, *options, "--results-dir", str(results_dir)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((results_dir / f"{name}.json").read_text())
