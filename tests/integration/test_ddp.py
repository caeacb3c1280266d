"""Data-parallel pre-training: the same CLI command under torchrun with two CPU processes (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gate_core.models.checkpoint import load_checkpoint
from gate_core.training.pretrain import PRETRAINING_TASKS

from .conftest import ROOT, TINY_TABLE

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        not __import__("torch").distributed.is_available(), reason="torch.distributed unavailable"
    ),
]


def _torchrun(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "gate_core", "pretrain", "--table", str(TINY_TABLE), "--out", str(tmp_path / "ckpt"),
        "--quiet", "--threads", "1", "--device", "cpu", *extra,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _check_checkpoint(tmp_path, epochs_run: int) -> dict:
    model, meta = load_checkpoint(tmp_path / "ckpt")
    assert model.task_names == PRETRAINING_TASKS
    assert meta["pretraining"]["world_size"] == 2
    assert meta["pretraining"]["epochs_run"] == epochs_run
    history = json.loads((tmp_path / "ckpt" / "history.json").read_text())
    assert len(history) == epochs_run
    return meta


def test_torchrun_two_processes_aligned(tmp_path):
    result = _torchrun(tmp_path, "--epochs", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    meta = _check_checkpoint(tmp_path, epochs_run=1)
    assert meta["pretraining"]["config"]["weights"]["cons"] > 0  # the full GATE objective ran


def test_torchrun_no_alignment_and_time_limit(tmp_path):
    # without alignment T_k and T_k⁻¹ get no gradient (DDP must be told: find_unused_parameters);
    # the time limit must stop both ranks at the same epoch, or the next all-reduce hangs
    result = _torchrun(
        tmp_path, "--no-alignment", "--epochs", "3", "--max-minutes", "0.0001", "--batch-size", "32"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    meta = _check_checkpoint(tmp_path, epochs_run=1)
    assert meta["pretraining"]["config"]["weights"]["cons"] == 0


def test_torchrun_v2_with_memory_mapped_graph_store(tmp_path):
    """The GPU-scale path on the CPU: v2 corpus, graph store written by rank 0 and mapped by both ranks, loader workers."""
    corpus = ROOT / "tests" / "data" / "corpus_tiny"
    result = _torchrun(
        tmp_path,
        "--epochs",
        "1",
        "--corpus",
        str(corpus),
        "--families",
        "size,rings",
        "--graph-store",
        str(tmp_path / "store"),
        "--loader-workers",
        "1",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    model, meta = load_checkpoint(tmp_path / "ckpt")
    assert model.task_names == [*PRETRAINING_TASKS, "size", "rings"]
    assert meta["pretraining"]["world_size"] == 2
    assert (tmp_path / "store" / "store.json").is_file()
