"""gate_core.api: the recommendation among the trained task, the probe and the preview."""

from __future__ import annotations

from gate_core.api import recommend


def test_recommend_picks_the_lowest_rmse_or_highest_auc():
    assert (
        recommend({"gate": {"rmse": 0.7}, "probe": {"rmse": 0.6}, "preview": {"rmse": 0.9}}, False)
        == "probe"
    )
    assert (
        recommend(
            {"gate": {"roc_auc": 0.8}, "probe": {"roc_auc": 0.7}, "preview": {"roc_auc": 0.85}},
            True,
        )
        == "preview"
    )


def test_ties_and_missing_scores_keep_the_trained_task():
    assert recommend({"probe": {"rmse": 0.5}, "gate": {"rmse": 0.5}}, False) == "gate"
    assert recommend({"gate": {"rmse": float("nan")}, "probe": {}}, False) == "gate"
    assert recommend({}, False) == "gate"
