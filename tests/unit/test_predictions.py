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


CHUNKS = [(0, 1), (1, 1), (1, 300), (300, 301), (301, 1000)]  # one row, none, many


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_streamed_classification_equals_the_rounded_probabilities(seed):
    """ROC-AUC and PR-AUC from the per-class histograms are those of the probabilities rounded
    to 4 decimals (many ties: sklearn's half-counting), accuracy that of the raw ones."""
    from gate_core.training.evaluate import classification_metrics

    rng = np.random.default_rng(seed)
    measured = (rng.random(1000) < 0.3).astype(float)
    predicted = np.clip(0.3 * measured + 0.7 * rng.random(1000), 0, 1)
    predicted[:50] = rng.choice([0.0, 1.0, 0.25, 0.49996, 0.50004], 50)  # ties, edges, near 0.5
    predicted[50:200] = np.round(predicted[50:200], 2)  # more ties within bins
    running = RunningComparison("toxic", "toxic", classification=True)
    for lo, hi in CHUNKS:
        running.add(Comparison("toxic", "toxic", measured[lo:hi], predicted[lo:hi], True))
    streamed = running.metrics()
    rounded = classification_metrics(measured, np.round(predicted, 4))
    assert streamed["n"] == 1000
    for key in ("roc_auc", "pr_auc"):
        assert streamed[key] == pytest.approx(rounded[key], abs=1e-12)
    assert streamed["accuracy"] == classification_metrics(measured, predicted)["accuracy"]
    assert rounded["accuracy"] != streamed["accuracy"]  # 0.49996 rounds up: the raw one is used
    whole = Comparison("toxic", "toxic", measured, predicted, True).metrics()
    assert whole == classification_metrics(measured, predicted)


def test_one_class_has_no_auc_and_no_rows_no_accuracy():
    running = RunningComparison("toxic", "toxic", classification=True)
    assert running.metrics()["n"] == 0 and np.isnan(running.metrics()["accuracy"])
    running.add(Comparison("toxic", "toxic", np.ones(3), np.array([0.9, 0.2, 0.7]), True))
    m = running.metrics()
    assert np.isnan(m["roc_auc"]) and np.isnan(m["pr_auc"]) and m["accuracy"] == 2 / 3


def test_a_classification_column_of_other_numbers_is_not_scored():
    """A column named like a classification task but holding, say, pIC50 values is another
    measurement: both paths refuse it with the value and the rule, never score it."""
    frame = pd.DataFrame({"toxic": [1, 0, 6.5, 1]})
    pred = pd.DataFrame({"toxic": [0.9, 0.1, 0.8, 0.6]})
    with pytest.raises(ValueError, match=r"column toxic holds 6.5, not 0 or 1: .*classes 0 and 1"):
        compare(pred, frame, "toxic", "toxic", classification=True).metrics()
    assert compare(pred, frame, "toxic", "toxic").metrics()["n"] == 4  # regression: any number
    running = RunningComparison("toxic", "toxic", classification=True)
    running.add(compare(pred[:2], frame[:2], "toxic", "toxic", classification=True))
    running.add(compare(pred[2:], frame[2:], "toxic", "toxic", classification=True))
    running.add(compare(pred[:2], frame[:2], "toxic", "toxic", classification=True))
    with pytest.raises(ValueError, match="column toxic holds 6.5"):
        running.metrics()
