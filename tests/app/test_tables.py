"""gate_app.tables: the app's display tables (metrics, ratios, predictions) without a browser."""

import numpy as np
import pandas as pd

from gate_app.tables import (
    PROBE,
    metrics_comparison,
    prediction_rows,
    relational_rows,
    run_curves,
    tasks_frame,
    trajectory_frame,
)
from gate_app.views import preview_held_out
from gate_core.registry import TaskRecord
from gate_core.transfer.ratio_table import ratio_frame


def test_ratio_tables():
    ratios = {
        "a": {"ratio": 0.5, "ratio_std": 0.1, "share": 0.25, "share_std": 0.0},
        "b": {"ratio": 1.5, "ratio_std": 0.2, "share": 0.75, "share_std": 0.0},
    }
    assert list(ratio_frame(ratios)["source"]) == ["b", "a"]
    traj = trajectory_frame(
        [[{"step": 10, "ratios": [1.0, 2.0]}], [{"step": 10, "ratios": [3.0, 4.0]}]], ["a", "b"]
    )
    assert (
        traj.shape == (4, 4) and traj.query("member == 1 and source == 'b'")["ratio"].item() == 4.0
    )
    val, lam = run_curves(
        {
            "sources": ["a", "b"],
            "val_curve": [[0, 10, 0.5]],
            "ratio_trajectory": [[0, 10, [1.0, 0.5]]],
        }
    )
    assert val["val_loss"].tolist() == [0.5] and lam["source"].tolist() == ["a", "b"]


def test_metrics_comparison_keeps_missing_baseline_as_none():
    table = metrics_comparison(
        {"test": {"rmse": 1.0, "mae": 0.5, "r2": float("nan")}}, "regression"
    )
    assert table["metric"].tolist() == ["RMSE", "MAE", "R²"]
    assert table["GATE (new task)"].tolist()[:2] == [1.0, 0.5] and pd.isna(
        table["GATE (new task)"][2]
    )
    assert table["baseline (frozen backbone + new head)"].isna().all()


def test_prediction_rows_long_table():
    pred = pd.DataFrame(
        {
            "t": [1.5],
            "t_std": [0.1],
            "t_lo90": [1.0],
            "t_hi90": [2.25],
            "t_ad_score": [0.3],
            "t_domain": ["inside"],
            "t_in_domain": [True],
            "p": [2.0],
            "p_std": [np.nan],
            "p_lo90": [np.nan],
            "p_hi90": [np.nan],
            "p_domain": [""],
        }
    )
    rows = prediction_rows(pred, 0, ["t", "p"], {"t": "K", "p": "bar"})
    assert rows.to_dict("records") == [
        {
            "task": "t",
            "value": 1.5,
            "90 % interval": "1 … 2.25",
            "± std": "0.1",
            "unit": "K",
            "domain": "inside",
            "in domain": True,
        },
        {
            "task": "p",
            "value": 2.0,
            "90 % interval": "",
            "± std": "",
            "unit": "bar",
            "domain": "",
            "in domain": None,
        },
    ]


def test_relational_rows_show_the_correction_its_interval_and_why():
    pred = pd.DataFrame(
        {
            "t": [1.5],
            "t_lo90": [1.0],
            "t_hi90": [2.0],
            "t_relational": [1.2],
            "t_relational_lo90": [0.9],
            "t_relational_hi90": [1.5],
            "t_relational_note": ["corrected by Tb_K"],
        }
    )
    rows = relational_rows(pred, 0, ["t"], {})
    assert (
        rows.loc[0, "with known values"] == 1.2
        and rows.loc[0, "90 % interval, with known values"] == "0.9 … 1.5"
    )
    assert rows.loc[0, "known values"] == "corrected by Tb_K"


def test_ratio_frame_and_bars_group_sources_by_kind():
    """A v2 backbone has experimental and computed sources; the table names the kind, the chart colours by it."""
    from gate_app.charts import ratio_bars

    ratios = {
        "Tb_K": {"ratio": 1.5, "ratio_std": 0.1},
        "lipophilicity": {"ratio": 2.0, "ratio_std": 0.1},
        "logKow": {"ratio": 0.5, "ratio_std": 0.1},
    }
    kinds = {
        "Tb_K": "experimental",
        "logKow": "experimental",
        "lipophilicity": "computed descriptors",
    }
    frame = ratio_frame(ratios, kinds)
    assert list(frame["source"]) == ["lipophilicity", "Tb_K", "logKow"]
    assert list(frame["kind"]) == ["computed descriptors", "experimental", "experimental"]
    fig = ratio_bars(frame)
    assert sorted(trace.name for trace in fig.data) == ["computed descriptors", "experimental"]
    assert list(fig.layout.yaxis.categoryarray)[-1].startswith(
        "lipophilicity"
    )  # the largest λ on top
    assert "kind" not in ratio_frame(ratios).columns


def record(name: str, task_type: str, metrics: dict) -> TaskRecord:
    return TaskRecord(
        name=name, task_type=task_type, sizes={"n_valid": 50}, metrics={"model": "gate", **metrics}
    )


def test_headings_say_which_score_on_which_molecules_against_which_model():
    scores = {"gate": {"rmse": 1.2, "r2": 0.5}, "probe": {"rmse": 1.4, "r2": 0.4}}
    table = tasks_frame([record("sol", "regression", {"comparison": scores})])
    assert list(table.columns) == [
        "task",
        "type",
        "unit",
        "molecules",
        "answering model",
        "out-of-fold RMSE, new task",
        f"out-of-fold RMSE, {PROBE}",
        "out-of-fold R², new task",
        f"out-of-fold R², {PROBE}",
        "status",
        "added",
        "description",
    ]  # no test-set columns: no task held a test set out
    assert table.loc[0, f"out-of-fold RMSE, {PROBE}"] == 1.4
    assert table.loc[0, "answering model"] == "trained task (GATE)"


def test_test_set_and_classification_scores_appear_only_where_a_task_has_them():
    regression = record(
        "sol",
        "regression",
        {
            "comparison": {"gate": {"rmse": 1.2}},
            "test": {"rmse": 1.3},
            "baseline_test": {"rmse": float("nan")},
        },
    )
    scores = {"gate": {"roc_auc": 0.8}, "probe": {"roc_auc": 0.7}}
    classification = record("tox", "classification", {"comparison": scores})
    table = tasks_frame([regression, classification])
    assert "test-set RMSE, new task" in table.columns
    assert f"test-set RMSE, {PROBE}" not in table.columns  # NaN only
    assert table["out-of-fold ROC-AUC, new task"].tolist()[1] == 0.8
    assert table.columns[-3:].tolist() == ["status", "added", "description"]


def test_preview_caption_says_what_training_will_do_with_the_held_out_molecules():
    assert "training will use every molecule" in preview_held_out(True, 0.15, 0.0)
    assert "will be tested on" not in preview_held_out(True, 0.15, 0.0)
    same = preview_held_out(True, 0.15, 0.15)
    assert same == "the held-out scaffolds the trained task will be tested on"
    assert "its own 20% of the scaffolds as a test set" in preview_held_out(True, 0.15, 0.2)
    # a random split (too few scaffolds, or a sample of a big file) is not the trained task's
    assert preview_held_out(False, 0.15, 0.15).startswith("15% of the molecules")
