"""Shared by the app and browser tests: a tiny backbone and its relational head, trained once per test session.

Why a real (tiny) checkpoint: the pages load it through the same ``GateStudio`` as in
production; 2 epochs on ``tests/data/pretrain_tiny.csv.gz`` take seconds on one CPU thread.
It is a v2 backbone like the shipped one: the tiny corpus (``tests/data/corpus_tiny``) adds
the descriptor families as computed source tasks, so every page and flow runs with them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY_TABLE = ROOT / "tests" / "data" / "pretrain_tiny.csv.gz"
TINY_CORPUS = ROOT / "tests" / "data" / "corpus_tiny"


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory) -> Path:
    """Path of a 2-epoch backbone checkpoint folder (model.safetensors + metadata.json)."""
    out = tmp_path_factory.mktemp("backbone") / "tiny"
    cmd = [
        sys.executable,
        "-m",
        "gate_core",
        "pretrain",
        "--table",
        str(TINY_TABLE),
        "--corpus",
        str(TINY_CORPUS),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--quiet",
        "--threads",
        "1",
    ]
    done = subprocess.run(
        cmd,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        pytest.fail(
            f"tiny backbone pre-training failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return out


@pytest.fixture(scope="session")
def tiny_relational(tiny_backbone) -> Path:
    """The relational head next to the tiny backbone (``<backbone>_relational``, 2 epochs, seconds), as a deployment has it."""
    out = tiny_backbone.with_name(tiny_backbone.name + "_relational")
    cmd = [
        sys.executable,
        "-m",
        "gate_core",
        "pretrain-relational",
        "--backbone",
        str(tiny_backbone),
        "--epochs",
        "2",
        "--threads",
        "1",
        "--quiet",
    ]
    done = subprocess.run(
        cmd,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        pytest.fail(
            f"tiny relational head training failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return out
