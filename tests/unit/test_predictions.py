"""Prediction frames for people: readable headers with units, blank cells, the file's columns,
measured-column pairing, invalid entries by position."""

import numpy as np
import pandas as pd
import pytest

from gate_core.predictions import (
    Comparison,
    RunningComparison,
    column_label,
    compare,
    invalid_entries,
    measured_columns,
    readable,
    with_input_columns,
)

TASKS = ["aq_logS", "aq_logS_v2", "Tm_K"]
UNITS = {"aq_logS": "log mol/L", "Tm_K": "K"}


@pytest.mark.parametrize(
    ("column", "label"),
    [
        ("aq_logS", "aq_logS (log mol/L)"),
        ("aq_logS_std", "aq_logS ± std (ensemble spread) (log mol/L)"),
        ("aq_logS_ad_score", "aq_logS domain distance (≤ 1: inside)"),
        ("aq_logS_lo90", "aq_logS 90 % interval, low (log mol/L)"),
        ("Tm_K_relational_hi90", "Tm_K with known values, 90 % interval, high (K)"),
        ("Tm_K_relational", "Tm_K with known values (K)"),
        ("aq_logS_v2_in_domain", "aq_logS_v2 in domain"),  # the longest task name wins
        ("aq_logS_some_new_thing", "aq_logS some new thing"),  # columns added later still read
        ("smiles", "canonical SMILES"),
        ("known_used", "known values used"),
        ("compound", "compound"),
    ],
)
def test_column_label(column, label):
    assert column_label(column, TASKS, UNITS) == label


def pred_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "input": ["CCO", "xx", "c1ccccc1O"],
            "smiles": ["CCO", None, "Oc1ccccc1"],
            "error": [None, "RDKit could not parse SMILES 'xx'", None],
            "note": [None, None, "kept the largest fragment"],
            "Tm_K": [160.0, np.nan, 300.0],
            "Tm_K_in_domain": [True, None, False],
        }
    )


def test_readable_blanks_empty_cells_and_words_flags():
    shown = readable(pred_frame(), TASKS, UNITS)
    assert list(shown.columns) == [
        "input",
        "canonical SMILES",
        "error",
        "note",
        "Tm_K (K)",
        "Tm_K in domain",
    ]
    assert shown["error"].tolist()[0] == "" and shown["note"].tolist() == [
        "",
        "",
        "kept the largest fragment",
    ]
    assert shown["Tm_K in domain"].tolist() == ["yes", "", "no"] and np.isnan(shown["Tm_K (K)"][1])


def test_input_columns_come_first_and_clashes_are_renamed():
    frame = pd.DataFrame(
        {"id": [1, 2, 3], "structure": ["CCO", "xx", "c1ccccc1O"], "Tm_K": [159.0, None, 314.0]}
    )
    full = with_input_columns(pred_frame(), frame, "structure")
    assert list(full.columns[:3]) == ["id", "Tm_K (from file)", "input"] and full[
        "id"
    ].tolist() == [1, 2, 3]
    assert measured_columns(frame, "structure", ["Tm_K", "aq_logS"]) == {"Tm_K": "Tm_K"}
    result = compare(pred_frame(), frame, "Tm_K", "Tm_K")
    assert result.measured.tolist() == [159.0, 314.0] and result.metrics()["n"] == 2


def test_invalid_entries_by_position():
    (entry,) = invalid_entries(pred_frame())
    assert (entry.position, entry.text) == (2, "xx") and "could not parse" in entry.reason


def test_running_comparison_over_chunks_equals_the_whole_columns():
    from gate_core.training.evaluate import regression_metrics

    rng = np.random.default_rng(0)
    measured = 350.0 + 40.0 * rng.standard_normal(101)  # far from 0: R² from merged deviations
    predicted = measured + 5.0 * rng.standard_normal(101)
    running = RunningComparison("Tb_K", "Tb_K")
    for lo, hi in [(0, 1), (1, 1), (1, 40), (40, 41), (41, 101)]:  # one row, none, many
        running.add(Comparison("Tb_K", "Tb_K", measured[lo:hi], predicted[lo:hi]))
    whole = regression_metrics(measured, predicted)
    assert running.metrics()["n"] == whole["n"] == 101
    for key in ("rmse", "mae", "r2"):
        assert running.metrics()[key] == pytest.approx(whole[key], rel=1e-9)
    empty = RunningComparison("Tb_K", "Tb_K").metrics()
    assert empty["n"] == 0 and np.isnan(empty["rmse"]) and np.isnan(empty["r2"])
