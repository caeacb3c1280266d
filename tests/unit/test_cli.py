"""gate_core.cli: the comparison line ``predict --data`` prints for a column named like a predicted
task (regression or classification, or why it was not compared), and add-task's options refused as the Add-a-task page refuses them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gate_core.cli import _say_comparison, main

TARGET = Path(__file__).resolve().parents[1] / "data" / "target_tiny.csv"

METRICS = {"n": 4, "rmse": 3.4791, "mae": 2.9781, "r2": 0.86}


def test_a_regression_comparison_gives_rows_rmse_mae_and_r2(capsys):
    _say_comparison("Tb_K", METRICS, "k.csv")
    assert capsys.readouterr().err == (
        "Tb_K predicted vs column Tb_K of k.csv: 4 rows with both numbers, RMSE 3.479, MAE 2.978, R² 0.860\n"
    )


def test_a_classification_comparison_gives_roc_auc_pr_auc_and_accuracy(capsys):
    _say_comparison("toxic", {"n": 7, "roc_auc": 0.8125, "pr_auc": 0.7, "accuracy": 5 / 7}, "k.csv")
    assert capsys.readouterr().err == (
        "toxic predicted vs column toxic of k.csv: 7 rows with both numbers, ROC-AUC 0.812, "
        "PR-AUC 0.700, accuracy 0.714\n"
    )
    nan = float("nan")
    _say_comparison("toxic", {"n": 3, "roc_auc": nan, "pr_auc": nan, "accuracy": 1.0}, "k.csv")
    assert "ROC-AUC n/a (one class only), PR-AUC n/a" in capsys.readouterr().err


def test_a_comparison_not_made_says_why(capsys):
    _say_comparison("toxic", "column toxic holds 6.5, not 0 or 1", "k.csv")
    assert capsys.readouterr().err == (
        "toxic predicted vs column toxic of k.csv: not compared: column toxic holds 6.5, not 0 or 1\n"
    )


def test_no_row_with_both_numbers_says_so(capsys):
    _say_comparison("Tb_K", {**METRICS, "n": 0}, "k.csv")
    assert "Tb_K of k.csv: no row has both numbers" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--ensemble", "11"], "the ensemble size must be a whole number from 1 to 10, got 11"),
        (["--test-fraction", "0.6"], "the test fraction must be from 0 to 0.5, got 0.6"),
        (["--max-steps", "0"], "training steps per member must be a whole number from 1 to 5000"),
        (["--pin", "Tb_K=50"], "pinned ratio for Tb_K: a pinned ratio must be from 0 to 10"),
    ],
    ids=["ensemble", "test-fraction", "max-steps", "pin"],
)
def test_add_task_refuses_what_the_page_does_not_offer(flags, message, tmp_path, capsys):
    """The page's widgets stop at the ranges of gate_core.transfer.options; the CLI refuses
    beyond them with the library's words, before loading any backbone (none exists here)."""
    argv = ["add-task", "--data", str(TARGET), "--smiles-col", "smiles", "--target-col", "value"]
    argv += ["--name", "t", "--backbone", str(tmp_path / "none"), "--data-dir", str(tmp_path)]
    assert main([*argv, *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err


def test_add_task_refuses_a_target_column_of_mostly_text(tiny_backbone, tmp_path, capsys):
    """The Add-a-task page never trains on such a column (its upload check refuses it); the CLI
    trained on the few numbers among the text."""
    frame = pd.read_csv(TARGET)
    frame["value"] = ["see note"] * 35 + frame["value"].tolist()[35:]
    data = tmp_path / "noted.csv"
    frame.to_csv(data, index=False)
    argv = ["add-task", "--data", str(data), "--smiles-col", "smiles", "--target-col", "value"]
    argv += ["--name", "t", "--backbone", str(tiny_backbone), "--data-dir", str(tmp_path)]
    assert main([*argv, "--ensemble", "1", "--max-steps", "5", "--quiet"]) == 2
    assert "error: the target column holds text, not numbers" in capsys.readouterr().err


def test_add_task_keeps_the_column_that_names_the_molecules(tiny_backbone, tmp_path):
    """As the Add-a-task page does (data.columns.name_column): a task added by the CLI from a
    file with a name column shows the names on the maps too; without it, it had none."""
    from gate_core.registry import TaskRegistry

    frame = pd.read_csv(TARGET)
    frame.insert(0, "compound", [f"mol {i}" for i in range(len(frame))])
    data = tmp_path / "named.csv"
    frame.to_csv(data, index=False)
    argv = ["add-task", "--data", str(data), "--smiles-col", "smiles", "--target-col", "value"]
    argv += ["--name", "t", "--backbone", str(tiny_backbone), "--data-dir", str(tmp_path / "r")]
    assert main([*argv, "--ensemble", "1", "--max-steps", "5", "--quiet"]) == 0
    dataset = TaskRegistry(tmp_path / "r").get_dataset("t")
    assert dataset["name"].tolist() == frame["compound"].tolist()


def test_predict_smiles_obeys_the_row_limit_of_an_uploaded_file(tmp_path, capsys, monkeypatch):
    """Typed molecules follow the same GATE_MAX_ROWS as a file, refused before any backbone
    loads (none exists here), with the streamed route named."""
    monkeypatch.setenv("GATE_MAX_ROWS", "2")
    argv = ["predict", "--smiles", "CCO", "CCN", "CCC", "--backbone", str(tmp_path / "none")]
    assert main([*argv, "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "3 molecules were typed or pasted; the limit is 2" in err and "--data FILE" in err
