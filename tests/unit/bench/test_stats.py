"""bench.stats: headline means, intervals over targets, win counts and the goal verdict."""

from __future__ import annotations

import numpy as np
import pytest

from bench.stats import compare_over_targets, paired_difference, verdict
from bench.task_addition import headline, headline_markdown


def _per_target(
    gate: list[float], rf: list[float], lgbm: list[float]
) -> dict[str, dict[str, float]]:
    return {
        f"t{i}": {"learned": g, "rf": r, "lgbm": b}
        for i, (g, r, b) in enumerate(zip(gate, rf, lgbm))
    }


def test_ratio_to_best_baseline_interval_and_wins():
    rng = np.random.default_rng(0)
    rf = rng.uniform(0.6, 1.0, 12)
    per = _per_target(list(0.8 * rf), list(rf), list(rf + 0.1))
    per["t0"]["learned"] = per["t0"]["rf"] + 0.05  # one target lost
    c = compare_over_targets(per, "learned", ["rf", "lgbm"])
    assert c["best_baseline"] == "rf" and c["n_targets"] == 12
    assert c["targets_won"] == 11 and "t0" not in c["targets_won_list"]
    assert c["ratio_ci95"][0] <= c["ratio_to_best"] <= c["ratio_ci95"][1] < 1.0
    assert c["ci95"]["rf"][0] < c["mean"]["rf"] < c["ci95"]["rf"][1]


def test_higher_is_better_and_targets_missing_a_method_are_left_out():
    per = {
        "a": {"learned": 0.9, "rf": 0.8},
        "b": {"learned": 0.7, "rf": 0.75},
        "c": {"learned": 0.8, "rf": float("nan")},
    }
    c = compare_over_targets(per, "learned", ["rf"], higher_is_better=True)
    assert c["n_targets"] == 2 and c["targets_won_list"] == ["a"]
    assert c["ratio_to_best"] == pytest.approx(1.6 / 1.55)


def test_paired_difference_and_verdict():
    d = paired_difference({"a": {"x": 1.0, "y": 1.1}, "b": {"x": 2.0, "y": 2.3}}, "x", "y")
    assert d["mean_difference"] == pytest.approx(-0.2) and d["a_lower_in"] == 2 and d["ci95"][1] < 0
    assert verdict([0.7, 0.84], 0.85) == "met"
    assert verdict([0.8, 0.9], 0.85) == "undecided"
    assert verdict([0.86, 0.9], 0.85) == "not met"


def _headline_rows() -> list[dict]:
    """Three regression targets (two drug-like) and one classification target, three seeds:
    learned λ 0.5, uniform λ 0.6, RF 0.8 (nRMSE; ROC-AUC one minus it)."""
    rows = []
    for target, task_type in (
        ("caco2", "regression"),
        ("pk_cl", "regression"),
        ("freesolv", "regression"),
        ("bbbp", "classification"),
    ):
        for seed in range(3):
            for method, score in (("learned", 0.5), ("rf", 0.8), ("uniform", 0.6)):
                metric = "roc_auc" if task_type == "classification" else "nrmse"
                value = 1 - score if metric == "roc_auc" else score
                rows.append(
                    {
                        "target": target,
                        "seed": seed,
                        "size": 50,
                        "method": method,
                        "task_type": task_type,
                        metric: value,
                        "parts": {"unseen": {metric: value}} if target != "freesolv" else {},
                    }
                )
    return rows


def test_headline_splits_groups_and_parts():
    rows = _headline_rows()
    h = headline(rows, ["learned", "uniform", "rf"])
    reg = h["regression"]
    assert reg["drug-like/unseen"]["n_targets"] == 2 and "physchem/unseen" not in reg
    assert reg["all/all"]["n_targets"] == 3
    assert reg["all/all"]["learned_vs_best_baseline"]["ratio_to_best"] == pytest.approx(0.625)
    assert reg["all/all"]["uniform_vs_best_baseline"]["ratio_to_best"] == pytest.approx(0.75)
    assert (
        reg["all/all"]["verdict"] == "met"
        and reg["all/all"]["learned_minus_uniform"]["a_lower_in"] == 3
    )
    assert h["classification"]["drug-like/unseen"]["learned_vs_best_baseline"]["targets_won"] == 1
    drug_like_only = headline(
        [r for r in rows if r["target"] != "freesolv"], ["learned", "uniform", "rf"]
    )["regression"]
    assert (
        "drug-like/all" in drug_like_only and "all/all" not in drug_like_only
    )  # no copy of the one group


def test_headline_markdown_leads_with_the_default_uniform_then_learned():
    text = headline_markdown(headline(_headline_rows(), ["learned", "uniform", "rf"]))
    rows = [line for line in text.splitlines() if line.startswith("| all/all |")]
    assert rows[0].startswith("| all/all | (d) uniform λ (default) | 3 | 0.600 [0.600, 0.600] |")
    assert "| 0.750 [0.750, 0.750] | 3 of 3 | met |" in rows[0]
    assert rows[1].startswith("| all/all | (e) learned λ | 3 | 0.500 [0.500, 0.500] |")
    assert "| 0.625 [0.625, 0.625] | 3 of 3 | met |" in rows[1]
    auc = [line for line in text.splitlines() if line.startswith("| drug-like/unseen |")][-2:]
    assert [line.split(" | ")[1] for line in auc] == ["(d) uniform λ (default)", "(e) learned λ"]


def test_rmse_bootstrap_is_paired_and_brackets_the_rmse():
    from bench.stats import interval, rmse_bootstrap

    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    good, bad = y + rng.normal(scale=0.1, size=200), y + rng.normal(scale=1.0, size=200)
    draws = rmse_bootstrap(y, {"good": good, "same": good, "bad": bad}, n_bootstrap=500)
    assert interval(draws["good"] - draws["same"]) == [0.0, 0.0]  # the same resamples for both
    lo, hi = interval(draws["bad"])
    assert lo < float(np.sqrt(((bad - y) ** 2).mean())) < hi
    assert interval(draws["bad"] - draws["good"])[0] > 0.5
