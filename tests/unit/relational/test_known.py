"""gate_core.relational.known: typed text, form rows and file columns refuse the same mistakes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gate_core.relational.known import (
    TaskColumns,
    known_from_columns,
    known_from_form,
    known_value_columns,
    parse_known_text,
    task_columns,
)
from gate_core.relational.predict import KnownValueError


def test_text_and_form_give_the_same_values():
    text = parse_known_text(" Tb_K = 351.4 , logKow=-0.31,")
    form = known_from_form(
        pd.DataFrame({"property": ["Tb_K", "logKow", "Tc_K"], "value": ["351.4", -0.31, None]})
    )
    assert text == {"Tb_K": "351.4", "logKow": "-0.31"}
    assert form == {"Tb_K": "351.4", "logKow": "-0.31"}  # a row without a value: not measured
    assert parse_known_text(None) == parse_known_text("") == {}


@pytest.mark.parametrize(
    ("text", "rows", "match"),
    [
        ("Tb_K=1,Tb_K=2", [("Tb_K", "1"), ("Tb_K", "2")], "'Tb_K' is given twice"),
        ("=2.5", [(None, "2.5")], "has a value \\(2.5\\) but no property|written TASK=VALUE"),
    ],
)
def test_text_and_form_refuse_the_same_mistakes(text, rows, match):
    with pytest.raises(KnownValueError, match=match):
        parse_known_text(text)
    names, values = zip(*rows)
    with pytest.raises(KnownValueError, match=match):
        known_from_form(pd.DataFrame({"property": names, "value": values}))


def test_text_without_an_equals_sign_says_how_to_write_it():
    with pytest.raises(KnownValueError, match=r"TASK=VALUE\[,TASK=VALUE...\].*got 'Tb_K'"):
        parse_known_text("Tb_K")


def test_file_columns_named_after_a_task_hold_per_row_values():
    frame = pd.DataFrame(
        {
            "smiles": ["CCO", "CCC"],
            "Tb_K": [351.4, np.nan],
            "logKow": [np.nan, np.nan],
            "note": ["a", "b"],
        }
    )
    columns = known_value_columns(frame, "smiles", ["Tb_K", "logKow", "smiles", "Tm_K"], ["Tm_K"])
    assert columns == ["Tb_K"]  # an all-empty column gives nothing; the SMILES column is never one
    assert known_from_columns(frame, columns) == [{"Tb_K": 351.4}, {}]


TASKS = ["Tb_K", "logKow", "Tm_K"]


@pytest.mark.parametrize(
    ("predicted", "known", "compared"),
    [
        (["Tm_K"], ["Tb_K", "logKow"], []),  # neither predicted: both known values
        (["Tb_K", "Tm_K"], ["logKow"], ["Tb_K"]),  # Tb_K predicted: compared, not known
        (["Tb_K", "logKow"], [], ["Tb_K", "logKow"]),
        (None, [], ["Tb_K", "logKow"]),  # no tasks named: every task predicted
    ],
)
def test_a_column_named_like_a_task_is_known_unless_that_task_is_predicted(
    predicted, known, compared
):
    columns = ["id", "Tb_K", "smiles", "logKow", "tb_k", "Tb_K "]  # exact names only
    assert task_columns(columns, "smiles", TASKS, predicted) == TaskColumns(known, compared)


def test_the_smiles_column_is_never_a_task_column_and_names_count_once():
    assert task_columns(["Tb_K", "Tb_K", "x"], "Tb_K", TASKS, ["Tm_K"]) == TaskColumns([], [])
    assert task_columns(["logKow", "logKow"], None, TASKS, []) == TaskColumns(["logKow"], [])


def test_frame_columns_of_a_predicted_task_are_not_known_values():
    frame = pd.DataFrame({"smiles": ["CCO"], "Tb_K": [351.4], "logKow": [-0.31]})
    assert known_value_columns(frame, "smiles", TASKS, ["Tb_K"]) == ["logKow"]
    assert known_value_columns(frame, "smiles", TASKS) == []  # every task predicted
