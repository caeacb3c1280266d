"""gate_core.app_support: the app's pure helpers (upload report, display tables, projections)."""

import numpy as np
import pandas as pd
import pytest

from gate_core.app_support import (
    example_datasets,
    fit_projection,
    metrics_comparison,
    prediction_rows,
    ratio_frame,
    run_curves,
    trajectory_frame,
    validate_upload,
)

SMILES = ["CCO", "CCC", "CCN", "CCCl", "c1ccccc1", "CC(=O)O", "CCOC", "CCCC", "CCCN", "OCCO", "CC(C)O", "C1CCCCC1"] * 2
UNIQUE = SMILES[:12] + ["CCCCC", "CCCCO", "CCCCN", "c1ccncc1", "Oc1ccccc1", "Nc1ccccc1", "CC#N", "C=CC", "ClCCl", "BrCC", "ICC", "FCC"]


def test_report_lists_invalid_rows_and_merges_duplicates_by_median():
    frame = pd.DataFrame({"smiles": ["CCO", "OCC", "bad(", *UNIQUE[1:22]], "y": [1.0, 3.0, 2.0, "x", *range(20)]})
    report = validate_upload(frame, "smiles", "y")
    assert [(r.row, r.reason.split()[0]) for r in report.invalid] == [(3, "RDKit"), (4, "value")]
    assert report.n_duplicates_merged == 1
    dup = report.duplicate_groups.iloc[0]
    assert (dup["smiles"], dup["rows"], dup["median"]) == ("CCO", 2, 2.0)
    assert report.n_valid == 21 and report.ok, report.errors


def test_conflicting_duplicates_are_reported_as_such():
    """Each molecule measured as 0 and 1 merges to 0.5: that is a conflict, not identical labels."""
    frame = pd.DataFrame({"smiles": UNIQUE * 2, "y": [0.0] * len(UNIQUE) + [1.0] * len(UNIQUE)})
    report = validate_upload(frame, "smiles", "y")
    assert "24 molecule(s) appear more than once with conflicting labels" in report.errors[0]
    assert any("conflicting labels" in w for w in report.warnings)


def test_underscore_numbers_count_the_same_in_the_report_and_in_training():
    frame = pd.DataFrame({"smiles": UNIQUE, "y": ["1_000", *map(str, range(23))]})
    report = validate_upload(frame, "smiles", "y")
    assert report.n_non_numeric_values == 1 and [r.row for r in report.invalid] == [1] and report.n_valid == 23


def test_report_refuses_text_targets_same_columns_and_tiny_tables():
    frame = pd.DataFrame({"smiles": UNIQUE, "y": ["high"] * len(UNIQUE)})
    assert "holds text" in validate_upload(frame, "smiles", "y").errors[0]
    assert "must be different" in validate_upload(frame, "smiles", "smiles").errors[0]
    assert "at least 20" in validate_upload(frame.head(3).assign(y=[1, 2, 3]), "smiles", "y").errors[0]


def test_report_detects_classification_and_counts_classes():
    frame = pd.DataFrame({"smiles": UNIQUE, "y": [0, 1] * 12})
    report = validate_upload(frame, "smiles", "y")
    assert report.task_type == "classification" and report.class_counts() == {"0": 12, "1": 12}
    assert validate_upload(frame, "smiles", "y", task_type="regression").class_counts() is None


def test_ratio_tables():
    ratios = {"a": {"ratio": 0.5, "ratio_std": 0.1, "share": 0.25, "share_std": 0.0}, "b": {"ratio": 1.5, "ratio_std": 0.2, "share": 0.75, "share_std": 0.0}}
    assert list(ratio_frame(ratios)["source"]) == ["b", "a"]
    traj = trajectory_frame([[{"step": 10, "ratios": [1.0, 2.0]}], [{"step": 10, "ratios": [3.0, 4.0]}]], ["a", "b"])
    assert traj.shape == (4, 4) and traj.query("member == 1 and source == 'b'")["ratio"].item() == 4.0
    val, lam = run_curves({"sources": ["a", "b"], "val_curve": [[0, 10, 0.5]], "ratio_trajectory": [[0, 10, [1.0, 0.5]]]})
    assert val["val_loss"].tolist() == [0.5] and lam["source"].tolist() == ["a", "b"]


def test_metrics_comparison_keeps_missing_baseline_as_none():
    table = metrics_comparison({"test": {"rmse": 1.0, "mae": 0.5, "r2": float("nan")}}, "regression")
    assert table["metric"].tolist() == ["RMSE", "MAE", "R²"]
    assert table["GATE (new task)"].tolist()[:2] == [1.0, 0.5] and pd.isna(table["GATE (new task)"][2])
    assert table["baseline (frozen backbone + new head)"].isna().all()


def test_prediction_rows_long_table():
    pred = pd.DataFrame({
        "t": [1.5], "t_std": [0.1], "t_lo90": [1.0], "t_hi90": [2.25], "t_ad_score": [0.3], "t_domain": ["inside"], "t_in_domain": [True],
        "p": [2.0], "p_std": [np.nan], "p_lo90": [np.nan], "p_hi90": [np.nan], "p_domain": [""],
    })
    rows = prediction_rows(pred, 0, ["t", "p"], {"t": "K", "p": "bar"})
    assert rows.to_dict("records") == [
        {"task": "t", "value": 1.5, "90 % interval": "1 … 2.25", "± std": "0.1", "unit": "K", "domain": "inside", "in domain": True},
        {"task": "p", "value": 2.0, "90 % interval": "", "± std": "", "unit": "bar", "domain": "", "in domain": None},
    ]


def test_relational_rows_show_the_correction_its_interval_and_why():
    from gate_core.app_support import relational_rows

    pred = pd.DataFrame({
        "t": [1.5], "t_lo90": [1.0], "t_hi90": [2.0], "t_relational": [1.2], "t_relational_lo90": [0.9], "t_relational_hi90": [1.5],
        "t_relational_note": ["corrected by Tb_K"],
    })
    rows = relational_rows(pred, 0, ["t"], {})
    assert rows.loc[0, "with known values"] == 1.2 and rows.loc[0, "90 % interval, with known values"] == "0.9 … 1.5"
    assert rows.loc[0, "known values"] == "corrected by Tb_K"


@pytest.mark.parametrize("n", [0, 1, 5, 40])
def test_pca_projection_shapes(n):
    points = np.random.default_rng(0).normal(size=(n, 6))
    projection = fit_projection(points, "PCA")
    assert projection.coords.shape == (n, 2) and projection.transform(points[:2]).shape == (min(n, 2), 2)


@pytest.mark.parametrize("method", ["PCA", "UMAP"])
def test_new_points_are_placed_on_the_fitted_map_without_refitting(method):
    points = np.random.default_rng(0).normal(size=(60, 6)).astype(np.float32)
    projection = fit_projection(points, method)
    before = projection.coords.copy()
    placed = projection.transform(points[:3] + 0.01)
    assert placed.shape == (3, 2) and np.array_equal(projection.coords, before)
    assert np.linalg.norm(placed - before[:3], axis=1).max() < np.ptp(before, axis=0).max() / 2  # lands near its neighbours


def test_example_datasets_exist_on_disk():
    examples = example_datasets()
    assert examples and all(e.path.is_file() for e in examples)
    assert {"freesolv", "bbbp"} <= {e.name for e in examples}


def test_shares_follow_lambda_and_close_ratios_are_marked():
    # stored per-member shares averaged can disagree with λ's order (omega 1.83 / 8.25 %, hansen_dH 1.76 / 8.81 %)
    ratios = {
        "omega": {"ratio": 1.83, "ratio_std": 0.05, "share": 0.0825},
        "hansen_dH": {"ratio": 1.76, "ratio_std": 0.05, "share": 0.0881},
        "Tb_K": {"ratio": 0.5, "ratio_std": 0.1, "share": 0.03},
    }
    frame = ratio_frame(ratios)
    assert list(frame["source"]) == ["omega", "hansen_dH", "Tb_K"]
    assert frame["share"].is_monotonic_decreasing and abs(frame["share"].sum() - 1) < 1e-9
    assert list(frame["vs_next"]) == ["within the spread", "clearly higher", ""]


def test_ratio_frame_and_bars_group_sources_by_kind():
    """A v2 backbone has experimental and computed sources; the table names the kind, the chart colours by it."""
    from gate_app.charts import ratio_bars
    from gate_core.app_support import ratio_frame

    ratios = {"Tb_K": {"ratio": 1.5, "ratio_std": 0.1}, "lipophilicity": {"ratio": 2.0, "ratio_std": 0.1}, "logKow": {"ratio": 0.5, "ratio_std": 0.1}}
    kinds = {"Tb_K": "experimental", "logKow": "experimental", "lipophilicity": "computed descriptors"}
    frame = ratio_frame(ratios, kinds)
    assert list(frame["source"]) == ["lipophilicity", "Tb_K", "logKow"]
    assert list(frame["kind"]) == ["computed descriptors", "experimental", "experimental"]
    fig = ratio_bars(frame)
    assert sorted(trace.name for trace in fig.data) == ["computed descriptors", "experimental"]
    assert list(fig.layout.yaxis.categoryarray)[-1].startswith("lipophilicity")  # the largest λ on top
    assert "kind" not in ratio_frame(ratios).columns
