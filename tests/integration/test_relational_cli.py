"""Relational prediction through the command line, on the tiny table (DESIGN §6).

pretrain (small) → ``pretrain-relational`` (seconds) → ``predict --known`` and per-row known
columns → the CSV says which known values were used; bad input exits 2 with one error line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gate_core.cli import main
from gate_core.training.pretrain import PretrainConfig, pretrain

from .conftest import ROOT, TINY_TABLE

pytestmark = pytest.mark.integration


def _cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "gate_core", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def backbone(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("relational_cli")
    out = root / "backbone"
    config = PretrainConfig(
        table=str(TINY_TABLE), epochs=1, hidden=32, depth=2, latent_dim=8, task_hidden=16, threads=1
    )
    pretrain(config, out_dir=out, progress=False)
    return out


@pytest.fixture(scope="module")
def head(backbone) -> Path:
    done = _cli(
        "pretrain-relational",
        "--backbone",
        str(backbone),
        "--epochs",
        "2",
        "--threads",
        "1",
        "--quiet",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout[done.stdout.index("{") :])
    out = backbone.with_name("backbone_relational")  # default: next to the backbone
    assert summary["out"] == str(out) and summary["epochs_run"] == 2
    assert (out / "relational.safetensors").is_file() and (out / "relational.json").is_file()
    return out


def _predict(backbone: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return _cli(
        "predict", "--backbone", str(backbone), "--data-dir", str(tmp_path / "registry"), *args
    )


def _predict_inprocess(backbone: Path, tmp_path: Path, capsys, *args: str) -> tuple[int, str, str]:
    """The same verb in this process (no interpreter start-up): exit code, stdout, stderr."""
    code = main(
        ["predict", "--backbone", str(backbone), "--data-dir", str(tmp_path / "registry"), *args]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_predict_with_known_values(backbone, head, tmp_path):
    out = tmp_path / "pred.csv"
    done = _predict(
        backbone,
        tmp_path,
        "--smiles",
        "CCO",
        "CCCCO",
        "nonsense",
        "--tasks",
        "Tm_K,Tc_K",
        "--known",
        "Tb_K=351.4,logKow=-0.31",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    frame = pd.read_csv(out)
    for col in ("Tm_K", "Tm_K_relational", "Tc_K", "Tc_K_relational", "known_used"):
        assert col in frame.columns
    assert frame["known_used"][0] == "Tb_K=351.4; logKow=-0.31"
    assert np.isfinite(frame["Tm_K_relational"][:2]).all() and np.isnan(frame["Tm_K_relational"][2])
    for task in (
        "Tm_K",
        "Tc_K",
    ):  # each pair is corrected, or refused (the plain value kept) with its reason
        corrected = not np.allclose(frame[f"{task}_relational"][:2], frame[task][:2])
        note = (
            str(frame[f"{task}_relational_note"][0])
            if f"{task}_relational_note" in frame.columns
            else ""
        )
        assert corrected != ("no reliable relation" in note), (task, note)


def test_known_columns_of_the_input_file(backbone, head, tmp_path, capsys):
    data = tmp_path / "in.csv"
    pd.DataFrame(
        {
            "smiles": ["CCO", "CCCCO", "c1ccccc1"],
            "Tb_K": [351.4, None, 353.2],
            "note": ["a", "b", "c"],
        }
    ).to_csv(data, index=False)
    out = tmp_path / "pred.csv"
    code, _, err = _predict_inprocess(
        backbone, tmp_path, capsys, "--data", str(data), "--tasks", "Tm_K", "--out", str(out)
    )
    assert code == 0, err
    assert "Tb_K" in err  # says which columns were used as known values
    frame = pd.read_csv(out, keep_default_na=False)
    assert list(frame["known_used"]) == ["Tb_K=351.4", "", "Tb_K=353.2"]
    assert float(frame["Tm_K_relational"][1]) == pytest.approx(
        float(frame["Tm_K"][1]), abs=1e-4
    )  # no known value: plain


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--known", "nope=1"), "unknown task"),
        (("--known", "Tb_K=abc"), "not a number"),
        (("--known", "Tb_K"), "TASK=VALUE"),
        (("--known", "Tm_K=300"), "also being predicted"),
    ],
)
def test_bad_known_values_exit_2_with_one_line(backbone, head, tmp_path, capsys, args, message):
    code, _, err = _predict_inprocess(
        backbone, tmp_path, capsys, "--smiles", "CCO", "--tasks", "Tm_K", *args
    )
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], err


def test_a_task_given_twice_is_refused(backbone, head, tmp_path, capsys):
    data = tmp_path / "in.csv"
    pd.DataFrame({"smiles": ["CCO"], "Tb_K": [351.4]}).to_csv(data, index=False)
    code, _, err = _predict_inprocess(
        backbone, tmp_path, capsys, "--data", str(data), "--tasks", "Tm_K", "--known", "Tb_K=300"
    )
    assert code == 2 and "give it once" in err


def test_out_of_range_known_value_warns(backbone, head, tmp_path, capsys):
    code, _, err = _predict_inprocess(
        backbone, tmp_path, capsys, "--smiles", "CCO", "--tasks", "Tm_K", "--known", "Tb_K=35000"
    )
    assert code == 0
    assert "warning:" in err and "far outside" in err


def test_missing_head_exits_2(backbone, tmp_path, capsys):
    code, _, err = _predict_inprocess(
        backbone,
        tmp_path,
        capsys,
        "--smiles",
        "CCO",
        "--tasks",
        "Tm_K",
        "--known",
        "Tb_K=300",
        "--relational-head",
        str(tmp_path / "none"),
    )
    assert code == 2 and "pretrain-relational" in err
