"""gate_core.cli: the comparison line ``predict --data`` prints for a column named like a predicted task."""

from __future__ import annotations

from gate_core.cli import _say_comparison

METRICS = {"n": 4, "rmse": 3.4791, "mae": 2.9781, "r2": 0.86}


def test_a_regression_comparison_gives_rows_rmse_mae_and_r2(capsys):
    _say_comparison("Tb_K", METRICS, "regression", "k.csv")
    assert capsys.readouterr().err == (
        "Tb_K predicted vs column Tb_K of k.csv: 4 rows with both numbers, RMSE 3.479, MAE 2.978, R² 0.860\n"
    )


def test_a_classification_comparison_gives_the_row_count_only(capsys):
    _say_comparison("toxic", {**METRICS, "n": 7}, "classification", "k.csv")
    err = capsys.readouterr().err
    assert "7 rows with both numbers (classification: not scored)" in err and "RMSE" not in err


def test_no_row_with_both_numbers_says_so(capsys):
    _say_comparison("Tb_K", {**METRICS, "n": 0}, "regression", "k.csv")
    assert "Tb_K of k.csv: no row has both numbers" in capsys.readouterr().err
