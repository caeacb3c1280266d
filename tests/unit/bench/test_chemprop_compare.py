"""bench.chemprop_compare: exact split export, the comparison math, merging, and (if .venv-bench exists) a tiny runner fit.

chemprop is not installed in the main venv, so nothing here imports it; the runner test starts
the bench venv's Python as a subprocess and is skipped when ``.venv-bench`` is missing.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.chemprop_compare import (
    BASELINES,
    DEFAULT_BENCH_PYTHON,
    RUNNER,
    _settings,
    add_arguments,
    check_splits,
    comparison,
    export_cell,
    make_row,
    merge,
    parse_shard,
    reference_rows,
    reference_seen_keys,
)
from bench.common import REPO_ROOT
from bench.task_addition import TargetSplit, val_split

TARGET = "pka_fluorinated"  # the smallest shipped target table (fast scaffold split)


@pytest.fixture(scope="module")
def split() -> TargetSplit:
    return TargetSplit(TARGET, 1, 0.2)


@pytest.mark.parametrize("size", [50, "all"])
def test_split_export_equals_target_split(tmp_path, split, size):
    path = export_cell(tmp_path, split, size)
    frame = pd.read_csv(path)
    idx = split.train_index(size)
    inner, val = val_split(len(idx), 0.2, split.seed)
    expected = {
        "train": idx[inner],
        "val": idx[val],
        "test": split.test,
    }
    for fold, index in expected.items():
        part = frame[frame["fold"] == fold]
        assert part["smiles"].tolist() == [split.smiles[i] for i in index], fold
        assert np.array_equal(part["value"].to_numpy(), split.y[index]), (
            fold
        )  # exact round trip, no rounding
    assert len(frame) == len(idx) + len(split.test)
    # train + val are exactly the n training molecules; none of them is in the test set
    assert sorted(frame.loc[frame["fold"] != "test", "smiles"]) == sorted(
        split.smiles[i] for i in idx
    )
    assert not set(frame.loc[frame["fold"] != "test", "smiles"]) & set(split.test_smiles)
    assert np.isclose(frame.loc[frame["fold"] == "test", "value"].std(ddof=0), split.test_std)


def test_nested_sizes_share_test_set(tmp_path, split):
    small, big = (pd.read_csv(export_cell(tmp_path, split, n)) for n in (50, 100))
    test_small, test_big = small[small.fold == "test"], big[big.fold == "test"]
    assert test_small["smiles"].tolist() == test_big["smiles"].tolist()
    assert np.array_equal(test_small["value"].to_numpy(), test_big["value"].to_numpy())
    assert set(small[small.fold != "test"].smiles) <= set(big[big.fold != "test"].smiles)


# ------------------------------------------------------------------------------ comparison


def _row(target, seed, size, method, nrmse, unseen=None, **extra):
    return {
        "target": target,
        "seed": seed,
        "size": size,
        "method": method,
        "task_type": "regression",
        "nrmse": nrmse,
        "rmse": nrmse,
        "r2": 0.5,
        "n_test": 10,
        "test_std": 1.0,
        "wall_seconds": 1.0,
        "parts": {"unseen": {"nrmse": nrmse if unseen is None else unseen}},
        **extra,
    }


METHODS = ("uniform", "learned", *BASELINES)
NAN = float("nan")


def _cell(target, seed, size, values, unseen=None, methods=METHODS):
    """One (target, seed, n) cell: a row per method, in ``methods`` order."""
    unseen = unseen or [None] * len(values)
    return [_row(target, seed, size, m, v, u) for m, v, u in zip(methods, values, unseen)]


def test_comparison_means_intervals_and_ratio():
    assert BASELINES == ("finetune", "rf", "lgbm", "chemprop_single", "chemprop_finetuned")
    rows = [
        #                       uniform learned finetune rf lgbm single fine
        *_cell("caco2", 0, 100, (0.4, 0.5, 0.9, 0.8, 0.9, 1.0, 0.6)),
        *_cell("caco2", 1, 100, (0.6, 0.5, 0.9, 0.8, 0.9, 1.0, 0.8)),  # uniform 0.5, fine 0.7
        *_cell("pk_vdss", 0, 300, (0.3, 0.3, 0.5, 0.5, 0.4, 0.6, 0.4)),  # uniform 0.3, best 0.4
        # incomplete (chemprop_finetuned failed) and n > 300: never counted
        *_cell("pk_vdss", 1, 100, (0.1, 0.1, 0.9, 0.9, 0.9, 0.9, NAN)),
        *_cell("caco2", 0, "all", (0.1, 0.1, 9.0, 9.0, 9.0, 9.0, 9.0)),
    ]
    c = comparison(rows)
    assert c["max_n"] == 300 and c["goal_ratio"] == 0.85 and c["baselines"] == list(BASELINES)
    entry = c["regression"]["drug-like/all"]
    assert entry["n_targets"] == 2 and list(entry["mean"]) == list(METHODS)
    assert entry["mean"]["uniform"] == pytest.approx((0.5 + 0.3) / 2)
    assert entry["mean"]["chemprop_finetuned"] == pytest.approx((0.7 + 0.4) / 2)
    versus = entry["uniform_vs_best_baseline"]
    assert versus["best_baseline"] == "chemprop_finetuned"
    assert versus["ratio_to_best"] == pytest.approx(0.4 / 0.55)
    lo, hi = versus["ratio_ci95"]
    assert lo <= 0.4 / 0.55 <= hi and versus["targets_won"] == 2
    assert c["regression"]["drug-like/unseen"]["n_targets"] == 2
    assert not any(k.startswith("all/") for k in c["regression"])  # one group: no "together"
    assert c["classification"] == {}
    json.dumps(c)  # JSON-ready


def test_groups_apart_and_together_with_the_methods_run_on_every_target():
    ran_on_both = ("uniform", "rf", "lgbm", "chemprop_single", "chemprop_finetuned")
    rows = [
        *_cell("caco2", 0, 100, (0.5, 0.4, 0.9, 0.8, 0.9, 1.0, 0.7)),
        *_cell("freesolv", 0, 100, (0.3, 0.6, 0.5, 0.4, 0.5), methods=ran_on_both),
    ]
    c = comparison(rows)["regression"]
    assert set(c["drug-like/all"]["mean"]) == set(METHODS)  # learned λ and fine-tuning ran here
    assert list(c["physchem/all"]["mean"]) == list(ran_on_both)
    together = c["all/all"]
    assert list(together["mean"]) == list(ran_on_both) and together["n_targets"] == 2
    assert together["mean"]["uniform"] == pytest.approx(0.4)
    # the drug-like best baseline is chemprop fine-tuned (0.7), not the absent-elsewhere finetune
    assert c["drug-like/all"]["uniform_vs_best_baseline"]["best_baseline"] == "chemprop_finetuned"


def test_classification_targets_compare_roc_auc_higher_is_better():
    rows = [
        {**r, "task_type": "classification", "roc_auc": r["nrmse"], "pr_auc": 0.5}
        for r in [
            *_cell("bbbp", 0, 100, (0.7, 0.7, 0.6, 0.75, 0.8, 0.65, 0.7)),
            *_cell("clintox", 0, 100, (0.9, 0.9, 0.6, 0.7, 0.8, 0.65, 0.7)),
        ]
    ]
    entry = comparison(rows)["classification"]["drug-like/all"]
    versus = entry["uniform_vs_best_baseline"]
    assert versus["higher_is_better"] and versus["best_baseline"] == "lgbm"
    assert versus["ratio_to_best"] == pytest.approx(0.8 / 0.8) and versus["targets_won"] == 1
    assert entry["pr_auc_mean"]["uniform"] == pytest.approx(0.5)


def test_the_unseen_part_is_reported_apart():
    rows = [
        *_cell("caco2", 0, 100, (0.5,) * 7, unseen=(0.9, 0.9, 0.9, 0.6, 0.7, 0.8, 0.7)),
        *_cell("pk_cl", 0, 100, (0.5,) * 7, unseen=(0.8, 0.8, 0.9, 0.5, 0.6, 0.9, 0.9)),
    ]
    c = comparison(rows)["regression"]
    assert c["drug-like/all"]["uniform_vs_best_baseline"]["ratio_to_best"] == pytest.approx(1.0)
    unseen = c["drug-like/unseen"]["uniform_vs_best_baseline"]
    assert unseen["best_baseline"] == "rf" and unseen["ratio_to_best"] == pytest.approx(0.85 / 0.55)


def test_comparison_without_complete_cells():
    c = comparison([_row("caco2", 0, 50, "chemprop_single", 0.5)])
    assert c["regression"] == {} or not any(
        e.get("uniform_vs_best_baseline") for e in c["regression"].values()
    )


def _reference(rows: list[dict], backbone_id: str = "x") -> dict:
    return {
        "settings": {"test_fraction": 0.2},
        "backbone_id": backbone_id,
        "status": "complete",
        "rows": rows,
    }


def _ref_row(target, seed, method, nrmse, n_test=10, test_std=1.0):
    return {
        "target": target,
        "seed": seed,
        "size": 50,
        "method": method,
        "nrmse": nrmse,
        "n_test": n_test,
        "test_std": test_std,
    }


def test_reference_rows_and_split_check(tmp_path):
    drug = tmp_path / "task_addition_drug.json"
    drug.write_text(
        json.dumps(
            _reference(
                [
                    _ref_row("a", 0, "learned", 0.5),
                    _ref_row("a", 0, "rf", 0.6),
                    _ref_row("a", 0, "single_task", 0.7),  # not a reference method
                    {"target": "a", "seed": 1, "size": 50, "method": "rf", "error": "boom"},
                ]
            )
        )
    )
    phys = tmp_path / "task_addition_phys.json"
    phys.write_text(
        json.dumps(
            _reference([_ref_row("b", 0, "rf", 0.6, 11, 2.0), _ref_row("b", 0, "finetune", 0.4)])
        )
    )
    rows, info = reference_rows(f"{drug},{phys}")
    assert [f["available"] for f in info["files"]] == [True, True] and info["backbone_id"] == "x"
    assert sorted(r["method"] for r in rows) == ["finetune", "learned", "rf", "rf"]
    ours = [_row("a", 0, 50, "chemprop_single", 0.7), _row("b", 0, 50, "chemprop_single", 0.7)]
    check = check_splits(ours, rows)
    assert check["checked"] == 2 and check["mismatched"] == [["b", 0]]
    assert reference_rows(tmp_path / "missing.json")[1]["files"][0]["available"] is False
    phys.write_text(json.dumps(_reference([_ref_row("b", 0, "rf", 0.6)], backbone_id="y")))
    with pytest.raises(ValueError, match="different backbones"):
        reference_rows(f"{drug},{phys}")


def test_seen_keys_come_from_the_one_seen_block_of_the_references():
    assert reference_seen_keys([{"path": "a"}, {"path": "b", "seen": None}]) is None
    files = [{"path": "a", "seen": {"molecules": 1}}, {"path": "b", "seen": {"molecules": 2}}]
    with pytest.raises(ValueError, match="differently"):
        reference_seen_keys(files)


# ---------------------------------------------------------------------------------- shards


def test_parse_shard():
    assert parse_shard(None) is None
    assert parse_shard("0/4") == (0, 4) and parse_shard("3/4") == (3, 4)
    for bad in ("4/4", "-1/2", "1/0", "x/2", "1"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def _default_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args([])


SETTINGS = _settings("p")


def _results(rows, sha="abc"):
    return {
        "status": "complete",
        "settings": SETTINGS,
        "rows": rows,
        "grid": {
            "targets": ["a"],
            "sizes": [50],
            "seeds": sorted({r["seed"] for r in rows}),
            "methods": ["chemprop_single", "chemprop_finetuned"],
            "planned": [["a", r["seed"], 50] for r in rows],
            "ran": [["a", r["seed"], 50] for r in rows],
            "resumed": [],
            "skipped": [],
            "not_started": [],
        },
        "pretrain": {"model_sha256": sha, "table": {"split": {"test_left_out": 1}}},
    }


def test_merge_combines_shards(tmp_path):
    main, s1, s2 = tmp_path / "main", tmp_path / "s1", tmp_path / "s2"
    for d in (main, s1, s2):
        d.mkdir()
    failed = _row("a", 1, 50, "chemprop_single", None, error="boom")
    (s1 / "chemprop_compare.json").write_text(
        json.dumps(_results([_row("a", 0, 50, "chemprop_single", 0.5), failed]))
    )
    (s2 / "chemprop_compare.json").write_text(
        json.dumps(_results([_row("a", 1, 50, "chemprop_single", 0.6)]))
    )
    args = argparse.Namespace(
        results_dir=str(main),
        merge=f"{s1},{s2}",
        reference=str(tmp_path / "none.json"),
    )
    merge(args)
    out = json.loads((main / "chemprop_compare.json").read_text())
    assert len(out["rows"]) == 2 and not any(
        "error" in r for r in out["rows"]
    )  # the finished row replaced the failed one
    assert sorted(out["grid"]["ran"]) == [["a", 0, 50], ["a", 1, 50]]
    assert (main / "chemprop_compare.csv").is_file() and (main / "chemprop_compare.md").is_file()
    assert {"max_n", "baselines", "goal_ratio", "regression"} <= set(out["comparison"])

    (s2 / "chemprop_compare.json").write_text(
        json.dumps(_results([_row("a", 1, 50, "chemprop_single", 0.6)], sha="other"))
    )
    with pytest.raises(ValueError, match="pre-trained"):
        merge(args)


def test_defaults_follow_the_protocol():
    args = _default_args()
    assert args.seeds == "0,1,2" and args.sizes == "100" and args.accelerator == "cpu"
    assert [Path(p).name for p in args.reference.split(",")] == [
        "task_addition_v2_n100.json",
        "task_addition_v2_physchem.json",
    ]
    # what a re-run records (and --resume / --merge compare): task_addition's split fractions,
    # then the runner's fit protocol
    assert SETTINGS == {
        "test_fraction": 0.2,
        "val_fraction": 0.2,
        "st_epochs": 60,
        "st_patience": 10,
        "ft_epochs": 40,
        "ft_patience": 8,
        "batch_size": 32,
        "method_max_minutes": 3.0,
        "aggregation": "norm",
        "descriptors": "rdkit2d",
        "ensemble": 5,
        "pretrain_id": "p",
        "descriptor_range": "training fold",
    }


# --------------------------------------------------------------------- runner (bench venv)


@pytest.mark.slow
@pytest.mark.skipif(
    not DEFAULT_BENCH_PYTHON.exists(), reason=".venv-bench is missing (make bench-venv)"
)
def test_runner_tiny_fit(tmp_path, split):
    data = export_cell(tmp_path, split, 50)
    out = tmp_path / "out"
    cmd = [
        str(DEFAULT_BENCH_PYTHON),
        str(RUNNER),
        "fit",
        "--data",
        str(data),
        "--out-dir",
        str(out),
        "--methods",
        "chemprop_single",
        "--st-epochs",
        "2",
        "--threads",
        "1",
        "--seed",
        "1",
        "--ensemble",
        "2",
    ]
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads((out / "chemprop_single.json").read_text())
    assert len(result["predictions"]) == len(split.test) and all(
        math.isfinite(p) for p in result["predictions"]
    )
    assert result["epochs_run"] == 2 and result["n_inner_train"] + result["n_val"] == 50
    assert len(result["members"]) == 2 and result["n_descriptors"] > 200  # rdkit2d by default
    assert result["device"].startswith("cpu") and result["host"] and result["wall_seconds"] > 0


@pytest.mark.slow
@pytest.mark.skipif(
    not DEFAULT_BENCH_PYTHON.exists(), reason=".venv-bench is missing (make bench-venv)"
)
def test_runner_fits_a_classifier_on_a_classification_target(tmp_path):
    from sklearn.metrics import roc_auc_score

    split = TargetSplit("bbbp", 0, 0.2)
    data = export_cell(tmp_path, split, 50)
    cmd = [str(DEFAULT_BENCH_PYTHON), str(RUNNER), "fit", "--data", str(data)]
    cmd += ["--out-dir", str(tmp_path / "out"), "--methods", "chemprop_single"]
    cmd += ["--task-type", "classification", "--st-epochs", "2", "--threads", "1"]
    cmd += ["--ensemble", "1", "--descriptors", "none"]
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads((tmp_path / "out" / "chemprop_single.json").read_text())
    prob = np.asarray(result["predictions"])
    assert len(prob) == len(split.test) and result["n_descriptors"] == 0
    assert ((prob > 0) & (prob < 1)).all()  # sigmoid probabilities, not standardised labels
    row = make_row(("bbbp", 0, 50), "chemprop_single", result, split, 50)  # scored here
    assert row["roc_auc"] == pytest.approx(roc_auc_score(split.y_test, prob))


def test_markdown_reports_classification_with_pr_auc_and_each_group_once():
    from bench.chemprop_compare import markdown

    rows = [
        {**r, "task_type": "classification", "roc_auc": r["nrmse"], "pr_auc": 0.25}
        for r in _cell("bbbp", 0, 100, (0.7, 0.7, 0.6, 0.75, 0.8, 0.65, 0.7))
    ] + _cell("freesolv", 0, 100, (0.3, 0.3, 0.5, 0.4, 0.5, 0.6, 0.5))
    state = {
        "comparison": comparison(rows),
        "grid": {"targets": ["bbbp", "freesolv"], "sizes": [100], "seeds": [0], "ran": []},
        "settings": SETTINGS,
        "rows": rows,
        "status": "complete",
        "pretrain": None,
    }
    state["grid"]["resumed"] = []
    text = markdown(state)
    classification = text[text.index("### Classification") :]
    assert "0.700 (0.700–0.700); PR 0.250" in classification  # ROC-AUC, its interval, PR-AUC
    assert "| drug-like/all | 1 |" in classification
    assert "| all/" not in classification  # both groups together = the drug-like one here
    assert "(n = 100)" in text and "n ≤" not in text
