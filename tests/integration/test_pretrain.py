"""Pre-training end to end on the tiny table: CLI pretrain → evaluate, an overfit check, CLI errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from gate_core.cli import main
from gate_core.data.splits import split
from gate_core.data.table import MultiTaskTable
from gate_core.models.checkpoint import load_checkpoint
from gate_core.training.objective import LossWeights
from gate_core.training.pretrain import PRETRAINING_TASKS, PretrainConfig, load_table, pretrain

from .conftest import ROOT, SMALL, TINY_TABLE

pytestmark = pytest.mark.integration


def _json_from_stdout(text: str) -> dict:
    return json.loads(text[text.index("{") :])


def test_cli_pretrain_then_evaluate(tmp_path, small_config, capsys):
    out = tmp_path / "ckpt"
    log = tmp_path / "train.jsonl"
    args = [
        "pretrain",
        "--config",
        str(small_config),
        "--table",
        str(TINY_TABLE),
        "--out",
        str(out),
    ]
    assert main([*args, "--epochs", "3", "--quiet", "--log", str(log)]) == 0
    summary = _json_from_stdout(capsys.readouterr().out)
    assert summary["epochs_run"] == 3 and summary["n_molecules"] == 400

    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3]
    for record in lines:
        for term in ("reg", "auto", "cons", "map", "dis", "total"):
            assert np.isfinite(record[f"train_{term}"]), term

    model, meta = load_checkpoint(out)
    assert model.task_names == PRETRAINING_TASKS
    assert meta["pretraining"]["world_size"] == 1
    assert meta["config"]["hidden"] == SMALL["hidden"]

    metrics_path = tmp_path / "metrics.json"
    assert (
        main(["evaluate", "--checkpoint", str(out), "--subset", "test", "--out", str(metrics_path)])
        == 0
    )
    printed = capsys.readouterr().out
    metrics = json.loads(metrics_path.read_text())

    table = MultiTaskTable.read_long(TINY_TABLE, PRETRAINING_TASKS)
    _, _, test = split(table.smiles, "scaffold", (0.8, 0.1, 0.1), 0)
    test_table = table.subset(test)
    with_labels = {t for j, t in enumerate(test_table.tasks) if test_table.mask[:, j].any()}
    assert with_labels and set(metrics) == with_labels
    for task in with_labels:
        j = test_table.tasks.index(task)
        assert metrics[task]["n"] == int(test_table.mask[:, j].sum())
        assert np.isfinite(metrics[task]["rmse"]) and np.isfinite(metrics[task]["mae"])
        assert task in printed
    # the CLI's test metrics are the run's own test metrics
    for task, m in summary["test_metrics"].items():
        assert metrics[task]["n"] == m["n"]
        assert metrics[task]["rmse"] == pytest.approx(m["rmse"], rel=1e-5)


def test_evaluate_uses_the_runs_subsample(tmp_path, small_config, capsys):
    """--max-molecules changes the table, so `evaluate --subset test` must rebuild that table."""
    out = tmp_path / "ckpt"
    args = [
        "pretrain",
        "--config",
        str(small_config),
        "--table",
        str(TINY_TABLE),
        "--out",
        str(out),
    ]
    assert main([*args, "--epochs", "1", "--quiet", "--max-molecules", "150", "--seed", "3"]) == 0
    summary = _json_from_stdout(capsys.readouterr().out)
    metrics_path = tmp_path / "metrics.json"
    assert main(["evaluate", "--checkpoint", str(out), "--out", str(metrics_path)]) == 0
    metrics = json.loads(metrics_path.read_text())
    assert set(metrics) == set(summary["test_metrics"])
    for task, m in summary["test_metrics"].items():
        assert metrics[task]["n"] == m["n"], task
        assert metrics[task]["rmse"] == pytest.approx(m["rmse"], rel=1e-5), task


@pytest.mark.parametrize(
    "form, weights",
    [("mean", LossWeights()), ("pairwise", LossWeights()), ("mean", LossWeights(0, 0, 0, 0))],
    ids=["aligned-mean", "aligned-pairwise", "no-alignment"],
)
def test_overfit_small_set(form, weights):
    """On ~32 molecules the training error must collapse; if it does not, something is mis-wired."""
    config = PretrainConfig(
        table=str(TINY_TABLE),
        tasks=["Tm_K", "Tb_K", "logKow", "density_kgm3"],
        max_molecules=35,
        epochs=60,
        patience=1000,
        batch_size=32,
        lr=3e-3,
        hidden=64,
        depth=2,
        latent_dim=16,
        task_hidden=32,
        alignment_form=form,
        weights=weights,
        threads=1,
        seed=0,
    )
    smiles = load_table(config).smiles
    reference = {smiles[0]: "val", smiles[1]: "val", smiles[2]: "test"}  # everything else trains
    result = pretrain(config, progress=False, split_reference=reference)
    assert result.split["train"] == len(smiles) - 3
    history = result.history
    first, last = history[0]["train_reg"], history[-1]["train_reg"]
    assert np.isfinite(first) and last < 0.3 * first, (first, last)
    if weights.aligned:
        assert history[-1]["train_auto"] < history[0]["train_auto"]


def test_cli_help_for_every_verb(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    top = capsys.readouterr().out
    for verb in ("pretrain", "evaluate"):
        assert verb in top
        with pytest.raises(SystemExit) as info:
            main([verb, "--help"])
        assert info.value.code == 0
        assert f"usage: python -m gate_core {verb}" in capsys.readouterr().out


@pytest.mark.slow  # a fresh interpreter importing torch
def test_cli_missing_table_is_one_line_error(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gate_core",
            "pretrain",
            "--table",
            str(tmp_path / "absent.csv.gz"),
            "--out",
            str(tmp_path / "o"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: table not found"), result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_cli_evaluate_missing_checkpoint(tmp_path, capsys):
    assert main(["evaluate", "--checkpoint", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "not a GATE checkpoint" in err[0]


def test_cli_unknown_verb_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train-everything"])
    assert info.value.code == 2


def test_evaluate_refuses_a_table_the_backbone_was_not_trained_on(tmp_path, small_config, capsys):
    """Another table's "test fold" could hold molecules the model trained on: the split is rebuilt
    in one place, which checks the table's content hash against the backbone's."""
    out = tmp_path / "ckpt"
    args = [
        "pretrain",
        "--config",
        str(small_config),
        "--table",
        str(TINY_TABLE),
        "--out",
        str(out),
    ]
    assert main([*args, "--epochs", "1", "--quiet"]) == 0
    capsys.readouterr()
    other = tmp_path / "shifted.csv"
    frame = pd.read_csv(TINY_TABLE)
    frame["value"] += 0.5  # same molecules and folds, other labels
    frame.to_csv(other, index=False)
    assert main(["evaluate", "--checkpoint", str(out), "--table", str(other)]) == 2
    assert "is not the table the backbone was trained on" in capsys.readouterr().err
    assert (
        main(["evaluate", "--checkpoint", str(out), "--table", str(other), "--subset", "all"]) == 0
    )
