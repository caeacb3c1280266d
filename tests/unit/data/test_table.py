"""gate_core.data.table: the sparse molecules × tasks matrix and its constructors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gate_core.data.table import MultiTaskTable
from gate_core.limits import MAX_ABS_LABEL

DATA = Path(__file__).resolve().parents[2] / "data"


def _long() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "smiles": ["CCO", "CCO", "CCN", "CCO", "CCC", "CCN"],
            "task": ["a", "a", "b", "b", "a", "a"],
            "value": [1.0, 3.0, 5.0, 7.0, np.nan, 4.0],
        }
    )


def test_from_long_pivots_with_median_and_nan():
    table = MultiTaskTable.from_long(_long())
    assert table.tasks == ["a", "b"]
    assert table.smiles == ["CCN", "CCO"]  # CCC has only a NaN value: dropped; sorted
    np.testing.assert_array_equal(table.Y, np.array([[4.0, 5.0], [2.0, 7.0]], dtype=np.float32))
    assert table.Y.dtype == np.float32
    np.testing.assert_array_equal(table.mask, [[True, True], [True, True]])


def test_from_long_task_order_and_missing():
    table = MultiTaskTable.from_long(_long(), tasks=["b", "a", "c"])
    assert table.tasks == ["b", "a", "c"]
    assert np.isnan(table.Y[:, 2]).all()
    np.testing.assert_array_equal(table.mask[:, :2], True)


def test_shape_is_validated():
    with pytest.raises(ValueError, match="shape"):
        MultiTaskTable(["C", "CC"], ["a"], np.zeros((3, 1)))


def test_subset_and_select_tasks():
    Y = np.array([[1.0, np.nan], [np.nan, 2.0], [3.0, 4.0]])
    table = MultiTaskTable(["A", "B", "C"], ["t1", "t2"], Y)
    sub = table.subset([2, 0])
    assert sub.smiles == ["C", "A"]
    np.testing.assert_array_equal(sub.Y, [[3.0, 4.0], [1.0, np.nan]])
    only = table.select_tasks(["t1"])
    assert only.smiles == ["A", "C"] and only.tasks == ["t1"]
    np.testing.assert_array_equal(only.Y[:, 0], [1.0, 3.0])


def test_content_hash_tracks_labels():
    Y = np.array([[1.0, np.nan], [2.0, 3.0]])
    a = MultiTaskTable(["A", "B"], ["t1", "t2"], Y)
    assert a.content_hash() == MultiTaskTable(["A", "B"], ["t1", "t2"], Y.copy()).content_hash()
    Y2 = Y.copy()
    Y2[1, 1] = 3.5
    assert a.content_hash() != MultiTaskTable(["A", "B"], ["t1", "t2"], Y2).content_hash()
    Y3 = Y.copy()
    Y3[0, 1] = 0.0  # a label where there was none
    assert a.content_hash() != MultiTaskTable(["A", "B"], ["t1", "t2"], Y3).content_hash()


def test_from_single_task_reports_bad_rows():
    table = MultiTaskTable.from_single_task(
        ["CCO", "bad(", "", "OCC", "CCN", "CCC", "c1ccccc1.[Na+]"],
        [1.0, 2.0, 3.0, 3.0, "x", float("nan"), 5.0],
        "logS",
    )
    # CCO and OCC are one molecule: median of 1 and 3
    assert table.tasks == ["logS"]
    assert dict(zip(table.smiles, table.Y[:, 0])) == {"CCO": 2.0, "c1ccccc1": 5.0}
    reasons = {r.row: r.reason for r in table.invalid}
    assert sorted(reasons) == [2, 3, 5, 6]
    assert "parse" in reasons[2] and "empty" in reasons[3]
    assert "not a number" in reasons[5] and "missing" in reasons[6]
    assert table.conflicts == {"CCO": [1.0, 3.0]}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1_000", "not a number"),
        ("1,5", "not a number"),
        ("inf", "not finite"),
        (1e39, "beyond"),
        ("1e308", "beyond"),
        (-1e30, "beyond"),
        ("", "missing"),
    ],
)
def test_labels_that_cannot_train_are_refused_per_row(value, reason):
    """pandas' reading of a cell decides (so the upload check agrees); float32 squares must stay finite."""
    table = MultiTaskTable.from_single_task(["CCO", "CCC"], [value, 1.0], "t")
    assert [r.row for r in table.invalid] == [1] and reason in table.invalid[0].reason
    assert table.smiles == ["CCC"]


def test_largest_allowed_label_keeps_float32_finite():
    table = MultiTaskTable.from_single_task(["CCO", "CCC"], [MAX_ABS_LABEL, -MAX_ABS_LABEL], "t")
    assert not table.invalid and np.isfinite(table.Y.astype(np.float32) ** 2).all()


def test_read_long_tiny_fixture():
    table = MultiTaskTable.read_long(DATA / "pretrain_tiny.csv.gz")
    frame = pd.read_csv(DATA / "pretrain_tiny.csv.gz")
    assert len(table) == frame["smiles"].nunique()
    assert sorted(table.tasks) == sorted(frame["task"].unique())
    assert table.mask.sum() == len(frame.drop_duplicates(["smiles", "task"]))
    assert table.mask.any(axis=1).all()
