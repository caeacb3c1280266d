"""Task addition against the alternatives, side by side on the same splits (DESIGN §8, issue 11).

For each target, seed and training size n, every method (``METHOD_LABELS``) trains on exactly
the same n molecules and is scored on the same scaffold-cluster test set, on the whole of it and
on its molecules the backbone did and did not see in pre-training; :func:`headline` compares
(e) learned λ with the best baseline per target group and test part (:mod:`bench.stats`). The
protocol, methods and options are in bench/README.md (``task_addition``). Results are written
after every cell, so a killed or budget-stopped run keeps what it finished; ``--resume`` runs
the rest, ``--shard``/``--merge`` split the grid over processes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import traceback
from pathlib import Path

import numpy as np

from bench.common import (
    csv_rows,
    fmt,
    limit_threads,
    logger,
    md_table,
    stopwatch,
    table,
    timed,
    write_results,
)
from gate_core.paths import BACKBONE_TABLE, DEFAULT_BACKBONE
from gate_core.paths import EXAMPLES_DIR as TARGETS_DIR

NAME = "task_addition"
MIN_PART = 10  # fewest test molecules for a seen/unseen part to be scored on its own
DESCRIPTION = "new-task test RMSE vs training size: task addition (learned/uniform ratios) vs single-task, probe, fine-tuning, RF; add-task time; prediction throughput"
DRUG_LIKE_TARGETS = tuple(
    "caco2 pk_vdss pk_cl pk_fu pk_thalf logp_fluorinated bbbp clintox".split()
)
DEFAULT_TARGETS = (
    *DRUG_LIKE_TARGETS,
    *"freesolv huuskonen_logS fuel_cn fuel_ysi fuel_ron pka_fluorinated permittivity".split(),
    *"Tflash_K Hfus_kJmol dipole_D surface_tension_mNm Tautoignition_K".split(),
    "log_viscosity298_Pas",
)
METHODS = ("single_task", "probe", "finetune", "uniform", "learned", "topk", "rf", "lgbm")
TOP_K = 5
BASELINES = ("single_task", "finetune", "rf", "lgbm")  # what GATE must beat; (b) is an ablation
GOAL_RATIO = 0.85
METHOD_LABELS = {
    "single_task": "(a) single-task D-MPNN",
    "probe": "(b) frozen + new head",
    "finetune": "(c) fine-tuned backbone",
    "uniform": "(d) GATE uniform λ",
    "learned": "(e) GATE learned λ",
    "topk": f"(e') GATE top-{TOP_K} sources by learned λ",
    "rf": "(f) RF on RDKit 2D",
    "lgbm": "(g) LightGBM on RDKit 2D",
}
SUMMARY_MAX_N = 300
ADD_TASK_TARGET_SECONDS = 20.0
THROUGHPUT_TARGET = 5000.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--backbone", default=str(DEFAULT_BACKBONE))
    add("--results-name", default=NAME, help="<results-dir>/<name>.json/.md/.csv")
    add(
        "--pretraining-table",
        default=str(BACKBONE_TABLE),
        help="its labelled molecules count as seen",
    )
    add("--corpus", default="", help="comma-separated further pre-training molecules (seen too)")
    add("--targets", default=",".join(DEFAULT_TARGETS), help="comma-separated target names")
    add("--sizes", default="50,100,300", help="training sizes n; 'all' = the whole pool")
    add("--seeds", default="0,1,2", help="split/subsample/model seeds")
    add("--methods", default=",".join(METHODS), help=f"subset of {','.join(METHODS)}")
    add("--budget-minutes", type=float, default=45.0, help="start no cell after (0: no limit)")
    add("--test-fraction", type=float, default=0.2, help="scaffold fraction held out as test")
    add("--val-fraction", type=float, default=0.2, help="early-stopping fold of (a), (c), (g)")
    add("--ensemble", type=int, default=5, help="K of task addition for (b), (d), (e)")
    add("--st-epochs", type=int, default=60, help="max epochs of (a)")
    add("--st-patience", type=int, default=10)
    add("--st-batch-size", type=int, default=32)
    add("--st-lr", type=float, default=1e-3)
    add("--ft-epochs", type=int, default=40, help="max epochs of (c)")
    add("--ft-patience", type=int, default=8)
    add("--ft-batch-size", type=int, default=32)
    add("--method-max-minutes", type=float, default=3.0, help="cap of one (a) or (c) training")
    add("--rf-trees", type=int, default=500)
    add("--rf-jobs", type=int, default=2, help="processes of (f) and threads of (g)")
    add("--lgbm-rounds", type=int, default=2000, help="most boosting rounds of (g)")
    add("--threads", type=int, help="torch/BLAS threads (default: every core)")
    add("--device", help="cpu | cuda (default: cuda when available)")
    add("--skip-speed", action="store_true", help="no add-task timing / throughput section")
    add("--speed-only", action="store_true", help="only the add-task timing and throughput")
    add("--speed-target", default="huuskonen_logS", help="target of the timed task addition")
    add("--speed-molecules", type=int, default=500)
    add("--speed-repeats", type=int, default=1, help="cold-cache repeats of the timed addition")
    add("--throughput-molecules", type=int, default=5000)
    add("--resume", action="store_true", help="keep the finished cells of the result, run the rest")
    add("--shard", metavar="K/N", help="run only every N-th cell from K (own --results-dir each)")
    add("--merge", metavar="DIR,...", help="no training: merge these result dirs' files")


_log = logger(NAME)


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in str(text).split(",") if t.strip()]


def parse_sizes(text: str) -> list[int | str]:
    out: list[int | str] = []
    for item in _csv_list(text):
        if item == "all":
            out.append("all")
        elif item.isdigit() and int(item) >= 20:
            out.append(int(item))
        else:
            raise ValueError(
                f"training size {item!r}: an integer ≥ 20 (task addition's minimum) or 'all'"
            )
    return out


# ------------------------------------------------------------------------------------ summary


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"K/N"`` → (K, N) with 0 ≤ K < N; None for no sharding."""
    if not text:
        return None
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected K/N, e.g. 0/4") from None
    if not (n >= 1 and 0 <= k < n):
        raise ValueError(f"--shard {text!r}: need 0 ≤ K < N")
    return k, n


def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(float(x))


def summarise(rows: list[dict], methods: list[str], max_n: int = SUMMARY_MAX_N) -> dict:
    """Mean normalised RMSE per method over regression cells with n ≤ ``max_n``.

    A row is one (target, seed, size, method) with ``nrmse`` = test RMSE / test-set std of the
    target under that seed's split. Only *complete* cells count (every method in ``methods``
    has a finite nRMSE there), so a method that failed or did not run in a hard cell cannot look
    better for it. Each target weighs the same: mean over its cells (seeds × sizes) first, then
    the mean over targets. ``size == "all"`` rows are left out (their n differs by target).
    """
    cells: dict[tuple, dict[str, float]] = {}
    for r in rows:
        size = r.get("size")
        if (
            size == "all"
            or not isinstance(size, int)
            or size > max_n
            or r.get("method") not in methods
        ):
            continue
        if not _finite(r.get("nrmse")):
            continue
        cells.setdefault((r["target"], r["seed"], size), {})[r["method"]] = float(r["nrmse"])
    complete = {k: v for k, v in cells.items() if all(m in v for m in methods)}

    def target_mean(keys: list[tuple]) -> dict[str, float]:
        per_target: dict[str, list[tuple]] = {}
        for k in keys:
            per_target.setdefault(k[0], []).append(k)
        if not per_target:
            return {}
        return {
            m: float(np.mean([np.mean([complete[k][m] for k in ks]) for ks in per_target.values()]))
            for m in methods
        }

    keys = sorted(complete, key=str)
    overall = target_mean(keys)
    sizes = sorted({k[2] for k in keys})
    by_size = {s: target_mean([k for k in keys if k[2] == s]) for s in sizes}
    targets = sorted({k[0] for k in keys})
    by_target = {t: target_mean([k for k in keys if k[0] == t]) for t in targets}
    wins = dict.fromkeys(methods, 0)
    for k in keys:
        wins[min(methods, key=lambda m: complete[k][m])] += 1
    head_to_head = {}
    if "learned" in methods:
        for m in methods:
            if m == "learned":
                continue
            diff = np.array([complete[k]["learned"] - complete[k][m] for k in keys])
            head_to_head[m] = {
                "learned_lower_in": int((diff < 0).sum()),
                "cells": len(diff),
                "mean_nrmse_difference": float(diff.mean()) if len(diff) else None,
                "targets_learned_lower": [
                    t for t in targets if by_target[t]["learned"] < by_target[t][m]
                ],
            }
    return {
        "max_n": max_n,
        "methods": list(methods),
        "n_complete_cells": len(keys),
        "n_incomplete_cells": len(cells) - len(keys),
        "n_targets": len(targets),
        "overall": overall,
        "best": min(overall, key=overall.get) if overall else None,
        "by_size": by_size,
        "best_by_size": {s: min(v, key=v.get) for s, v in by_size.items() if v},
        "by_target": by_target,
        "wins": wins,
        "learned_head_to_head": head_to_head,
    }


def per_target_means(
    rows: list[dict],
    methods: list[str],
    task_type: str,
    part: str,
    metric: str,
    targets: set[str] | None = None,
    max_n: int = SUMMARY_MAX_N,
) -> dict[str, dict[str, float]]:
    """Each target's mean ``metric`` per method over its complete cells (every method finite on
    that ``part``: "all", "seen" or "unseen"), sizes n ≤ ``max_n``."""
    cells: dict[tuple, dict[str, float]] = {}
    for r in rows:
        size = r.get("size")
        if (
            not isinstance(size, int)
            or size > max_n
            or r.get("method") not in methods
            or r.get("task_type") != task_type
            or (targets is not None and r["target"] not in targets)
        ):
            continue
        value = (r if part == "all" else (r.get("parts") or {}).get(part) or {}).get(metric)
        if _finite(value):
            cells.setdefault((r["target"], r["seed"], size), {})[r["method"]] = float(value)
    per: dict[str, list[dict[str, float]]] = {}
    for (target, _, _), v in sorted(cells.items(), key=str):
        if all(m in v for m in methods):
            per.setdefault(target, []).append(v)
    return {t: {m: float(np.mean([c[m] for c in cs])) for m in methods} for t, cs in per.items()}


def _methods_on_every_target(
    rows: list[dict], methods: list[str], task_type: str, members: set[str] | None
) -> list[str]:
    """The ``methods`` scored on every target of a group: a method run on one group only (learned
    λ on the drug-like targets, say) leaves the comparison over both groups instead of emptying it."""
    targets, scored = set(), {}
    for r in rows:
        if r.get("task_type") == task_type and (members is None or r["target"] in members):
            targets.add(r["target"])
            if "error" not in r:
                scored.setdefault(r["method"], set()).add(r["target"])
    return [m for m in methods if targets <= scored.get(m, set())]


def headline(
    rows: list[dict],
    methods: list[str],
    max_n: int = SUMMARY_MAX_N,
    baselines: tuple[str, ...] = BASELINES,
) -> dict:
    """(e) learned λ (and (d) uniform λ, the app's default) against the best of ``baselines``,
    per target group × part of the test set, with
    bootstrap 95 % intervals over targets and win counts (:mod:`bench.stats`); regression on
    nRMSE (lower is better), classification on ROC-AUC (PR-AUC alongside). Each comparison uses
    the methods scored on every target of its group."""
    from bench.stats import compare_over_targets, paired_difference, verdict
    from gate_core.data.builders.targets import TARGET_GROUPS, TARGETS

    ran = {r["target"] for r in rows}
    groups: dict[str, set[str] | None] = {
        g: {t for t, spec in TARGETS.items() if spec.group == g} for g in TARGET_GROUPS
    }
    if (
        sum(bool(members & ran) for members in groups.values()) > 1
    ):  # "all" only when it differs from one group
        groups["all"] = None
    out: dict = {
        "max_n": max_n,
        "baselines": [b for b in baselines if b in methods],
        "goal_ratio": GOAL_RATIO,
    }
    for task_type, metric in (("regression", "nrmse"), ("classification", "roc_auc")):
        higher = task_type == "classification"
        block = {}
        for group, members in groups.items():
            group_methods = _methods_on_every_target(rows, methods, task_type, members)
            group_baselines = [b for b in baselines if b in group_methods]
            for part in ("unseen", "seen", "all"):
                means = per_target_means(
                    rows, group_methods, task_type, part, metric, members, max_n
                )
                if not means:
                    continue
                entry: dict = {
                    "n_targets": len(means),
                    "per_target": means,
                    "mean": {
                        m: float(np.mean([v[m] for v in means.values()])) for m in group_methods
                    },
                }
                if "learned" in group_methods and group_baselines:
                    entry["learned_vs_best_baseline"] = compare_over_targets(
                        means, "learned", group_baselines, higher_is_better=higher
                    )
                    if not higher:
                        entry["verdict"] = verdict(
                            entry["learned_vs_best_baseline"]["ratio_ci95"], GOAL_RATIO
                        )
                if (
                    "uniform" in group_methods and group_baselines
                ):  # the app's default, for the summary
                    entry["uniform_vs_best_baseline"] = compare_over_targets(
                        means, "uniform", group_baselines, higher_is_better=higher
                    )
                for other in ("uniform", "probe"):
                    if {"learned", other} <= set(group_methods):
                        entry[f"learned_minus_{other}"] = paired_difference(means, "learned", other)
                if {"topk", "uniform"} <= set(group_methods):
                    entry["topk_minus_uniform"] = paired_difference(means, "topk", "uniform")
                if higher:
                    pr = per_target_means(
                        rows, group_methods, task_type, part, "pr_auc", members, max_n
                    )
                    entry["pr_auc_mean"] = (
                        {m: float(np.mean([v[m] for v in pr.values()])) for m in group_methods}
                        if pr
                        else {}
                    )
                block[f"{group}/{part}"] = entry
        out[task_type] = block
    return out


# ------------------------------------------------------------------------------------- data


def load_target(name: str) -> tuple[list[str], np.ndarray, str]:
    import pandas as pd

    from gate_core.data.builders.targets import TARGETS

    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; known: {', '.join(TARGETS)}")
    path = TARGETS_DIR / f"{name}.csv"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: build it with `python -m gate_core.data.builders`"
        )
    frame = pd.read_csv(path)
    return (
        frame["smiles"].astype(str).tolist(),
        frame["value"].to_numpy(dtype=np.float64),
        TARGETS[name].task_type,
    )


class TargetSplit:
    """One target under one seed: the test set, the permuted pool, cached test embedding, and
    which test molecules the backbone saw in pre-training (``seen``; all False without ``seen_keys``)."""

    def __init__(
        self, name: str, seed: int, test_fraction: float, seen_keys: frozenset[str] | None = None
    ) -> None:
        from gate_core.data.seen import seen_mask
        from gate_core.data.splits import scaffold_cluster_split

        self.name, self.seed = name, seed
        self.smiles, self.y, self.task_type = load_target(name)
        pool, _, test = scaffold_cluster_split(
            self.smiles, (1.0 - test_fraction, 0.0, test_fraction), seed
        )
        self.order = pool[np.random.default_rng(seed).permutation(len(pool))]
        self.test = test
        self.test_smiles = [self.smiles[i] for i in test]
        self.y_test = self.y[test]
        self.test_std = float(self.y_test.std())
        self.seen = (
            seen_mask(self.test_smiles, seen_keys)
            if seen_keys is not None
            else np.zeros(len(test), dtype=bool)
        )
        self.h_test = self.chart_test = None

    @property
    def pool_size(self) -> int:
        return len(self.order)

    def train_index(self, size: int | str) -> np.ndarray:
        return self.order if size == "all" else self.order[: int(size)]


# ---------------------------------------------------------------------------------- methods


def _metrics(task_type: str, y: np.ndarray, pred: np.ndarray, test_std: float) -> dict:
    from gate_core.training.evaluate import classification_metrics, regression_metrics

    if task_type == "classification":
        return classification_metrics(y, pred)
    m = regression_metrics(y, pred)
    m["nrmse"] = m["rmse"] / test_std if test_std > 0 else float("nan")
    return m


def part_metrics(task_type: str, y: np.ndarray, pred: np.ndarray, seen: np.ndarray) -> dict:
    """Metrics on the seen and the unseen test molecules apart (nRMSE against each part's own
    std); a part with fewer than :data:`MIN_PART` molecules is left out."""
    out = {}
    for part, mask in (("seen", seen), ("unseen", ~seen)):
        if mask.sum() >= MIN_PART:
            out[part] = _metrics(task_type, y[mask], pred[mask], float(y[mask].std()))
    return out


def _val_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(inner train, val) positions within the n training molecules, for (a) and (c)."""
    rng = np.random.default_rng([seed, n, 7])
    order = rng.permutation(n)
    n_val = min(max(2, int(round(fraction * n))), n - 2)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def run_single_task(
    ctx: dict, ts: TargetSplit, smiles: list[str], y: np.ndarray, inner: np.ndarray, val: np.ndarray
) -> tuple[np.ndarray, dict]:
    from gate_core.data.table import MultiTaskTable
    from gate_core.training.evaluate import predict
    from gate_core.training.objective import LossWeights
    from gate_core.training.pretrain import PretrainConfig, pretrain

    args, cfg = ctx["args"], ctx["backbone"].config
    config = PretrainConfig(
        tasks=[ts.name],
        weights=LossWeights(0, 0, 0, 0),
        descriptors=cfg.n_descriptors > 0,
        hidden=cfg.hidden,
        depth=cfg.depth,
        dropout=cfg.dropout,
        latent_dim=cfg.latent_dim,
        task_hidden=cfg.task_hidden,
        epochs=args.st_epochs,
        patience=args.st_patience,
        batch_size=args.st_batch_size,
        lr=args.st_lr,
        seed=ts.seed,
        device=str(ctx["device"]),
        max_minutes=args.method_max_minutes,
    )
    table = MultiTaskTable(list(smiles), [ts.name], y[:, None])
    reference = {smiles[i]: "val" for i in val} | {smiles[i]: "train" for i in inner}
    result = pretrain(config, progress=False, split_reference=reference, table=table)
    pred = predict(result.model, ts.test_smiles)[:, 0]
    return pred, {
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "n_inner_train": len(inner),
        "n_val": len(val),
    }


def run_finetune(
    ctx: dict, ts: TargetSplit, smiles: list[str], y: np.ndarray, inner: np.ndarray, val: np.ndarray
) -> tuple[np.ndarray, dict]:
    from gate_core.models.gate import TaskInfo
    from gate_core.training.finetune import FinetuneConfig, finetune

    args = ctx["args"]
    config = FinetuneConfig(
        epochs=args.ft_epochs,
        patience=args.ft_patience,
        batch_size=args.ft_batch_size,
        seed=ts.seed,
        max_minutes=args.method_max_minutes,
    )
    result = finetune(
        ctx["backbone"],
        [smiles[i] for i in inner],
        y[inner],
        [smiles[i] for i in val],
        y[val],
        TaskInfo(ts.name, task_type=ts.task_type),
        config,
    )
    return result.predict(ts.test_smiles), {
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "n_inner_train": len(inner),
        "n_val": len(val),
    }


def _test_embedding(ctx: dict, ts: TargetSplit) -> None:
    import torch

    from gate_core.training.evaluate import embed

    if ts.h_test is None:
        with torch.no_grad():
            ts.h_test = embed(ctx["backbone"], ts.test_smiles)
            ts.chart_test = ctx["backbone"].latents(ts.h_test)[1].mean(dim=0)


def _top_k_exclusions(ctx: dict, ts: TargetSplit, n_train: int) -> list[str]:
    """Sources outside the top ``TOP_K`` by the mean λ of this cell's (e) run (which must run first)."""
    learned = ctx.setdefault("learned_ratios", {}).get((ts.name, ts.seed, n_train))
    if learned is None:
        raise RuntimeError(
            "topk needs the (e) learned run of the same cell; run --methods with learned before topk"
        )
    ranked = sorted(learned, key=learned.get, reverse=True)
    return ranked[TOP_K:]


def run_task_addition(mode: str, top_k: bool = False):
    def run(
        ctx: dict,
        ts: TargetSplit,
        smiles: list[str],
        y: np.ndarray,
        inner: np.ndarray,
        val: np.ndarray,
    ) -> tuple[np.ndarray, dict]:
        from gate_core.models.gate import TaskInfo
        from gate_core.transfer.addition import TaskAdditionConfig, add_task
        from gate_core.transfer.ratios import RatioSettings

        excluded = _top_k_exclusions(ctx, ts, len(smiles)) if top_k else []
        ratios = RatioSettings(mode=mode, excluded=excluded)
        config = TaskAdditionConfig(
            ratios=ratios, ensemble=ctx["args"].ensemble, seed=ts.seed, task_type=ts.task_type
        )
        result = add_task(
            ctx["backbone"],
            list(smiles),
            list(y),
            TaskInfo(ts.name, task_type=ts.task_type),
            config,
        )
        _test_embedding(ctx, ts)  # normally done before the clock starts (see run)
        pred = result.task.predict_from_representation(ts.h_test, ts.chart_test)["mean"]
        meta = result.task.metadata
        info = {"steps": [m["steps"] for m in meta["members"]], "timings": result.timings}
        if mode != "off":
            info["ratio_share"] = {s: r["share"] for s, r in meta["ratios"].items()}
            info["ratio_mean"] = {s: r["ratio"] for s, r in meta["ratios"].items()}
        if mode == "learned":
            ctx.setdefault("learned_ratios", {})[(ts.name, ts.seed, len(smiles))] = info[
                "ratio_mean"
            ]
        if top_k:
            info["kept_sources"] = sorted(set(info.get("ratio_mean", {})) - set(excluded))
        return pred, info

    return run


def run_rf(
    ctx: dict, ts: TargetSplit, smiles: list[str], y: np.ndarray, inner: np.ndarray, val: np.ndarray
) -> tuple[np.ndarray, dict]:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    args, features = ctx["args"], ctx["rdkit_descriptors"]
    X = np.stack([features[s] for s in smiles])
    X_test = np.stack([features[s] for s in ts.test_smiles])
    if ts.task_type == "classification":
        forest = RandomForestClassifier(
            n_estimators=args.rf_trees, n_jobs=args.rf_jobs, random_state=ts.seed
        ).fit(X, y.astype(int))
        classes = list(forest.classes_)
        pred = (
            forest.predict_proba(X_test)[:, classes.index(1)]
            if 1 in classes
            else np.zeros(len(X_test))
        )
    else:
        forest = RandomForestRegressor(
            n_estimators=args.rf_trees, n_jobs=args.rf_jobs, random_state=ts.seed
        ).fit(X, y)
        pred = forest.predict(X_test)
    return pred, {"n_descriptors": int(X.shape[1])}


def run_lgbm(
    ctx: dict, ts: TargetSplit, smiles: list[str], y: np.ndarray, inner: np.ndarray, val: np.ndarray
) -> tuple[np.ndarray, dict]:
    """Gradient boosting on every RDKit 2D descriptor, early-stopped on the same fold as (a)/(c)."""
    import lightgbm

    args, features = ctx["args"], ctx["rdkit_descriptors"]
    X = np.stack([features[s] for s in smiles])
    X_test = np.stack([features[s] for s in ts.test_smiles])
    classification = ts.task_type == "classification"
    params = {
        "n_estimators": args.lgbm_rounds,
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_child_samples": 5,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.5,
        "random_state": ts.seed,
        "n_jobs": args.rf_jobs,
        "verbose": -1,
    }
    model = (
        lightgbm.LGBMClassifier(**params) if classification else lightgbm.LGBMRegressor(**params)
    )
    target = y.astype(int) if classification else y
    model.fit(
        X[inner],
        target[inner],
        eval_X=X[val],
        eval_y=target[val],
        callbacks=[lightgbm.early_stopping(50, verbose=False)],
    )
    pred = (
        model.predict_proba(X_test)[:, list(model.classes_).index(1)]
        if classification
        else model.predict(X_test)
    )
    return pred, {
        "n_descriptors": int(X.shape[1]),
        "best_iteration": int(model.best_iteration_ or args.lgbm_rounds),
    }


RUNNERS = {
    "single_task": run_single_task,
    "probe": run_task_addition("off"),
    "finetune": run_finetune,
    "uniform": run_task_addition("uniform"),
    "learned": run_task_addition("learned"),
    "topk": run_task_addition("uniform", top_k=True),
    "rf": run_rf,
    "lgbm": run_lgbm,
}


def warm_features(ctx: dict, ts: TargetSplit) -> dict:
    """Featurise every molecule of the target once (graphs, fast and all RDKit descriptors)."""
    from rdkit import Chem

    from gate_core.data.featurize import featurize_molecules
    from gate_core.featurizers.descriptors import all_rdkit_descriptors

    with timed() as t:
        featurize_molecules(ts.smiles, descriptors=ctx["backbone"].config.n_descriptors > 0)
    graph_seconds, rdkit_seconds = t.wall, 0.0
    if {"rf", "lgbm"} & set(ctx["methods"]):
        cache = ctx["rdkit_descriptors"]
        with timed() as t:
            for s in ts.smiles:
                if s not in cache:
                    cache[s] = all_rdkit_descriptors(Chem.MolFromSmiles(s))
        rdkit_seconds = t.wall
    return {
        "graph_and_fast_descriptor_seconds": graph_seconds,
        "all_rdkit_descriptor_seconds": rdkit_seconds,
    }


def run_cell(ctx: dict, ts: TargetSplit, size: int | str, methods: list[str]) -> list[dict]:
    """Every method on one (target, seed, n): the same training molecules, the same test set."""
    idx = ts.train_index(size)
    smiles = [ts.smiles[i] for i in idx]
    y = ts.y[idx]
    inner, val = _val_split(len(idx), ctx["args"].val_fraction, ts.seed)
    rows = []
    for method in methods:
        row = {
            "target": ts.name,
            "seed": ts.seed,
            "size": size,
            "n_train": len(idx),
            "n_test": len(ts.test),
            "test_std": ts.test_std,
            "task_type": ts.task_type,
            "method": method,
            "device": ctx["device_label"],
            "host": platform.node(),
        }
        try:
            with timed() as t:  # bound before the method runs: its time is kept if it fails
                pred, info = RUNNERS[method](ctx, ts, smiles, y, inner, val)
            row["wall_seconds"], row["cpu_seconds"] = t.wall, t.cpu
            pred = np.asarray(pred, dtype=np.float64)
            row.update(_metrics(ts.task_type, ts.y_test, pred, ts.test_std))
            row["n_test_seen"] = int(ts.seen.sum())
            row["parts"] = part_metrics(ts.task_type, ts.y_test, pred, ts.seen)
            row["info"] = info
        except Exception as exc:  # noqa: BLE001 - one failing method must not lose the cell
            row["wall_seconds"] = t.wall
            row["error"] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc(file=sys.stderr)
        rows.append(row)
        score = (
            f"RMSE {row['rmse']:.4g} (nRMSE {row['nrmse']:.3f})"
            if "rmse" in row
            else (f"AUC {row.get('roc_auc')}" if "roc_auc" in row else row.get("error"))
        )
        _log(
            f"  {ts.name} seed {ts.seed} n={size}: {method:<11} {score}  {row['wall_seconds']:.1f} s"
        )
    return rows


# ------------------------------------------------------------------------------------ speed


def clear_feature_caches() -> None:
    from gate_core.data import featurize

    featurize.clear_caches()


def measure_speed(ctx: dict) -> dict:
    """Time to add a task from raw SMILES (cold caches) and batch prediction throughput.

    Timed with learned ratios (the slower mode, with its look-ahead outer steps), so the figure
    bounds the default (uniform) too.
    """
    from gate_core.transfer.addition import TaskAdditionConfig, add_task
    from gate_core.transfer.ratios import RatioSettings

    args, backbone = ctx["args"], ctx["backbone"]
    smiles, y, task_type = load_target(args.speed_target)
    if len(smiles) < args.speed_molecules:
        raise ValueError(
            f"{args.speed_target} has {len(smiles)} molecules, fewer than --speed-molecules {args.speed_molecules}"
        )
    pick = np.sort(
        np.random.default_rng(0).choice(len(smiles), args.speed_molecules, replace=False)
    )
    runs = []
    task = None
    for r in range(args.speed_repeats):
        clear_feature_caches()
        elapsed = stopwatch()
        result = add_task(
            backbone,
            [smiles[i] for i in pick],
            [float(y[i]) for i in pick],
            f"speed_{args.speed_target}",
            TaskAdditionConfig(ratios=RatioSettings(mode="learned"), seed=r, task_type=task_type),
        )
        wall = elapsed()
        task = result.task
        runs.append(
            {
                "wall_seconds": wall,
                **result.timings,
                "member_steps": [m["steps"] for m in task.metadata["members"]],
            }
        )
        _log(
            f"add a {args.speed_molecules}-molecule task (learned λ, K={len(task.members)}, cold caches): {wall:.1f} s "
            f"(embedding + frozen sources {result.timings['featurize_seconds']:.1f} s, training {result.timings['train_seconds']:.1f} s)"
        )
    add = {
        "target": args.speed_target,
        "molecules": args.speed_molecules,
        "ratios": "learned",
        "ensemble": len(task.members),
        "runs": runs,
        "median_wall_seconds": float(np.median([r["wall_seconds"] for r in runs])),
        "target_seconds": ADD_TASK_TARGET_SECONDS,
    }
    add["passes"] = add["median_wall_seconds"] <= ADD_TASK_TARGET_SECONDS

    # throughput: a seeded sample of distinct molecules from every target table
    pool = sorted(
        {
            s
            for name in DEFAULT_TARGETS
            if (TARGETS_DIR / f"{name}.csv").is_file()
            for s in load_target(name)[0]
        }
    )
    n = min(args.throughput_molecules, len(pool))
    mols = [pool[i] for i in np.random.default_rng(1).choice(len(pool), n, replace=False)]
    from gate_core.data.featurize import featurize_molecules

    clear_feature_caches()
    with timed() as t:
        frame = task.predict(backbone, mols)
    cold, warm = t.wall, []
    for _ in range(3):
        with timed() as t:
            task.predict(backbone, mols)
        warm.append(t.wall)
    clear_feature_caches()
    with timed() as t:
        featurize_molecules(mols, descriptors=backbone.config.n_descriptors > 0)
    featurize_only = t.wall
    throughput = {
        "call": "AddedTask.predict(backbone, smiles) — parse, featurise, encoder, K heads, applicability domain",
        "molecules": n,
        "valid": int(frame["error"].isna().sum()),
        "cold_seconds": cold,
        "cold_per_second": n / cold,
        "warm_seconds": warm,
        "warm_per_second": n / float(np.median(warm)),
        "featurize_only_cold_seconds": featurize_only,
        "featurize_only_cold_per_second": n / featurize_only,
        "target_per_second": THROUGHPUT_TARGET,
    }
    throughput["cold_passes"] = throughput["cold_per_second"] >= THROUGHPUT_TARGET
    throughput["warm_passes"] = throughput["warm_per_second"] >= THROUGHPUT_TARGET
    _log(
        f"predict {n} molecules: cold {throughput['cold_per_second']:.0f} mol/s, warm {throughput['warm_per_second']:.0f} mol/s "
        f"(featurisation alone, cold: {throughput['featurize_only_cold_per_second']:.0f} mol/s)"
    )
    return {
        "add_task": add,
        "throughput": throughput,
        "device": str(ctx["device"]),
        "torch_threads": ctx["threads"],
    }


# -------------------------------------------------------------------------------------- run


def _settings(args: argparse.Namespace) -> dict:
    """The options a resumed or merged run must share (its rows are comparable only then)."""
    keys = "test_fraction val_fraction ensemble st_epochs st_patience st_batch_size st_lr"
    keys += " ft_epochs ft_patience ft_batch_size method_max_minutes rf_trees rf_jobs lgbm_rounds"
    return {"split": "scaffold_cluster", **{k: getattr(args, k) for k in keys.split()}}


def _load_previous(path: Path, backbone_id: str, settings: dict) -> tuple[list[dict], dict | None]:
    if not path.is_file():
        return [], None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError:
        _log(f"--resume: {path} is not readable JSON (killed while writing?); starting afresh")
        return [], None
    if data.get("backbone_id") != backbone_id or data.get("settings") != settings:
        _log(f"--resume: {path} was made with another backbone or other settings; starting afresh")
        return [], None
    return list(data.get("rows", [])), data.get("speed")


def device_label(device: object) -> str:
    """What a row's wall time was measured on: 'cpu (2 cores)' or 'cuda (<GPU name>)'."""
    import torch

    if str(device).startswith("cuda"):
        return f"cuda ({torch.cuda.get_device_name(torch.device(str(device)))})"
    return f"cpu ({os.cpu_count()} cores)"


def merged_rows_and_grid(states: list[dict]) -> tuple[list[dict], dict]:
    """The rows and grid of shard results together (this module's and chemprop_compare's).

    Rows are keyed by (target, seed, size, method); a finished row beats a failed one, and a
    later result beats an earlier one. Grid lists are unions in order; a cell any shard ran is
    no longer "not started".
    """
    rows: dict[tuple, dict] = {}
    for state in states:
        for r in state.get("rows", []):
            key = (r["target"], r["seed"], str(r["size"]), r["method"])
            if key not in rows or "error" in rows[key] or "error" not in r:
                rows[key] = r
    grid = dict(states[0]["grid"])
    for key in ("targets", "sizes", "seeds", "methods", "planned", "ran", "resumed", "skipped"):
        grid[key] = []
        for st in states:
            grid[key] += [c for c in st["grid"].get(key, []) if c not in grid[key]]
    ran = {json.dumps(c) for c in grid["ran"] + grid["resumed"]}
    not_started = {json.dumps(c): c for st in states for c in st["grid"].get("not_started", [])}
    grid["not_started"] = [c for k, c in not_started.items() if k not in ran]
    return list(rows.values()), grid


def merge(args: argparse.Namespace) -> tuple[Path, Path]:
    """Combine shard results (same backbone and settings) into one result file, no training.

    Rows are keyed by (target, seed, size, method); a finished row beats a failed one, and a
    later directory in the list beats an earlier one. The speed section of the first file that
    has one is kept.
    """
    results_dir = Path(args.results_dir)
    name = args.results_name
    sources = [results_dir / f"{name}.json"] + [
        Path(d) / f"{name}.json" for d in _csv_list(args.merge)
    ]
    states = []
    for path in sources:
        try:
            states.append(json.loads(path.read_text()))
        except FileNotFoundError:
            continue
        except json.JSONDecodeError:
            _log(f"--merge: {path} is not readable JSON (killed while writing?); left out")
    if not states:
        raise FileNotFoundError(f"nothing to merge: none of {', '.join(map(str, sources))} exists")
    base = states[0]
    for other in states[1:]:
        if other.get("backbone_id") != base.get("backbone_id") or other.get("settings") != base.get(
            "settings"
        ):
            raise ValueError("cannot merge results made with another backbone or other settings")
    rows, grid = merged_rows_and_grid(states)
    ran = {tuple(c) for c in grid["ran"]} | {tuple(c) for c in grid["resumed"]}
    targets = {}
    for state in states:
        for t, info in state.get("targets", {}).items():
            targets.setdefault(t, {**info, "splits": {}})["splits"].update(info.get("splits", {}))
    merged = {
        **base,
        "rows": rows,
        "grid": grid,
        "targets": targets,
        "speed": next((st["speed"] for st in states if st.get("speed")), None),
        "merged_from": [str(p) for p in sources if p.is_file()],
    }
    finished = ran | {tuple(x["cell"]) for x in grid["skipped"]}
    missing = [c for c in grid["planned"] if tuple(c) not in finished]
    merged["status"] = (
        "complete"
        if not missing
        else f"partial: {len(missing)} of {len(grid['planned'])} planned cells not run"
    )
    merged["summary"] = summarise(merged["rows"], grid["methods"])
    for key in ("benchmark", "command", "machine"):
        merged.pop(key, None)
    merged["headline"] = headline(merged["rows"], grid["methods"])
    paths = write_results(name, merged, markdown, results_dir, rows=csv_rows(NAME, merged))
    _log(f"merged {len(states)} result files: {len(rows)} rows, status {merged['status']}")
    return paths


def seen_molecule_keys(args: argparse.Namespace, tasks: list[str]) -> frozenset[str]:
    """Keys of the backbone's pre-training molecules: the table's molecules labelled for one of
    its ``tasks``, plus every molecule of the ``--corpus`` files."""
    import pandas as pd

    from gate_core.data.seen import pretraining_keys

    extra: list[str] = []
    for path in _csv_list(args.corpus):
        if path.endswith(".txt"):
            extra += [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
        else:
            frame = pd.read_csv(path)
            extra += frame["smiles" if "smiles" in frame.columns else "SMILES"].astype(str).tolist()
    return pretraining_keys(args.pretraining_table, tasks, extra)


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    if args.merge:
        return merge(args)
    from gate_core.models.checkpoint import load_checkpoint
    from gate_core.models.fingerprint import backbone_fingerprint
    from gate_core.training.distributed import select_device

    elapsed = stopwatch()
    threads = args.threads or len(os.sched_getaffinity(0))
    limit_threads(threads)
    targets, sizes, seeds, methods = (
        _csv_list(args.targets),
        parse_sizes(args.sizes),
        [int(s) for s in _csv_list(args.seeds)],
        _csv_list(args.methods),
    )
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
    for t in targets:
        load_target(t)  # fail now, not 30 minutes in
    device = select_device(args.device)
    backbone, _ = load_checkpoint(args.backbone, device)
    backbone_id = backbone_fingerprint(backbone)
    ctx = {
        "args": args,
        "backbone": backbone,
        "device": device,
        "device_label": device_label(device),
        "threads": threads,
        "methods": methods,
        "rdkit_descriptors": {},
    }
    with timed() as t:
        seen_keys = seen_molecule_keys(args, backbone.task_names)
    _log(f"{len(seen_keys):,} pre-training molecules to mark test molecules seen ({t.wall:.0f} s)")
    settings = _settings(args)
    results_dir = Path(args.results_dir)
    rows, speed = (
        _load_previous(results_dir / f"{args.results_name}.json", backbone_id, settings)
        if args.resume
        else ([], None)
    )
    done = {(r["target"], r["seed"], r["size"], r["method"]) for r in rows if "error" not in r}
    rows = [r for r in rows if (r["target"], r["seed"], r["size"], r["method"]) in done]

    cells = [
        (t, seed, size)
        for seed in seeds
        for size in ([] if args.speed_only else sizes)
        for t in targets
    ]
    shard = parse_shard(args.shard)
    if (
        shard is not None
    ):  # deal out only the cells with work left, so resumed cells don't unbalance the shards
        cells = [c for c in cells if any((*c, m) not in done for m in methods)][
            shard[0] :: shard[1]
        ]
    state = {
        "status": "running",
        "backbone": str(args.backbone),
        "backbone_id": backbone_id,
        "settings": settings,
        "grid": {
            "targets": targets,
            "sizes": sizes,
            "seeds": seeds,
            "methods": methods,
            "order": "seed, then size, then target",
            "planned": [list(c) for c in cells],
            "ran": [],
            "resumed": [],
            "skipped": [],
            "not_started": [],
        },
        "budget_minutes": args.budget_minutes,
        "targets": {},
        "rows": rows,
        "speed": speed,
        "device": str(device),
        "torch_threads": threads,
        "seen": {
            "pretraining_table": args.pretraining_table,
            "corpus": _csv_list(args.corpus),
            "molecules": len(seen_keys),
            "key": "InChIKey first block (no stereo, isotopes or protonation); gate_core.data.seen",
        },
    }

    def save() -> tuple[Path, Path]:
        state["wall_seconds"] = elapsed()
        state["summary"] = summarise(state["rows"], methods)
        state["headline"] = headline(state["rows"], methods)
        paths = write_results(
            args.results_name, state, markdown, results_dir, rows=csv_rows(NAME, state)
        )
        return paths

    if not args.skip_speed and speed is None:
        state["speed"] = measure_speed(ctx)
    save()

    splits: dict[tuple[str, int], TargetSplit] = {}
    for i, (t, seed, size) in enumerate(cells):
        if args.budget_minutes and elapsed() / 60 > args.budget_minutes:
            state["grid"]["not_started"] = [list(c) for c in cells[i:]]
            state["status"] = (
                f"stopped by the {args.budget_minutes:g}-minute budget: {len(cells) - i} of {len(cells)} cells not started"
            )
            _log(state["status"])
            break
        todo = [m for m in methods if (t, seed, size, m) not in done]
        if not todo:
            state["grid"]["resumed"].append([t, seed, size])
            continue
        if (t, seed) not in splits:
            splits[(t, seed)] = TargetSplit(t, seed, args.test_fraction, seen_keys)
        ts = splits[(t, seed)]
        if size != "all" and size > ts.pool_size:
            state["grid"]["skipped"].append(
                {
                    "cell": [t, seed, size],
                    "reason": f"training pool has only {ts.pool_size} molecules",
                }
            )
            _log(
                f"{t} seed {seed} n={size}: skipped, the training pool has only {ts.pool_size} molecules"
            )
            continue
        if t not in state["targets"]:
            state["targets"][t] = {
                "n_molecules": len(ts.smiles),
                "task_type": ts.task_type,
                **warm_features(ctx, ts),
                "splits": {},
            }
        _test_embedding(ctx, ts)
        state["targets"][t]["splits"][str(seed)] = {
            "pool": ts.pool_size,
            "test": len(ts.test),
            "test_std": ts.test_std,
            "test_seen": int(ts.seen.sum()),
        }
        _log(
            f"cell {i + 1}/{len(cells)}: {t} seed {seed} n={size} ({elapsed() / 60:.1f} min elapsed)"
        )
        state["rows"].extend(run_cell(ctx, ts, size, todo))
        state["grid"]["ran"].append([t, seed, size])
        save()
    else:
        state["status"] = "complete"
    state["backbone_unchanged"] = (
        backbone_fingerprint(backbone) == backbone_id
    )  # no method may alter the shared backbone
    return save()


# --------------------------------------------------------------------------------- markdown


def _bold_min(
    values: dict[str, float],
    methods: list[str],
    fmt: str = "{:.3f}",
    higher_is_better: bool = False,
) -> list[str]:
    finite = {m: v for m, v in values.items() if _finite(v)}
    best = (max if higher_is_better else min)(finite, key=finite.get) if finite else None
    return [
        ("**" + fmt.format(values[m]) + "**" if m == best else fmt.format(values[m]))
        if _finite(values.get(m))
        else "—"
        for m in methods
    ]


def _speed_text(speed: dict | None) -> str:
    if not speed:
        return "Not measured in this run (`--skip-speed`).\n"
    a, t = speed["add_task"], speed["throughput"]
    run0 = a["runs"][0]
    return (
        f"- **Adding a {a['molecules']}-molecule task** ({a['target']}, learned λ, K = {a['ensemble']}, from raw SMILES with cold "
        f"featurisation caches, on {speed['device']} with {speed['torch_threads']} threads): **{a['median_wall_seconds']:.1f} s** "
        f"(median of {len(a['runs'])}; first run: {run0['featurize_seconds']:.1f} s featurisation + frozen source quantities, "
        f"{run0['train_seconds']:.1f} s training) against the {a['target_seconds']:.0f} s target: **{'PASS' if a['passes'] else 'FAIL'}**.\n"
        f"- **Batch prediction** ({t['call']}) on {t['molecules']:,} molecules: cold caches **{t['cold_per_second']:,.0f} mol/s** "
        f"({'PASS' if t['cold_passes'] else 'FAIL'}), warm caches (molecules already featurised in this process) "
        f"**{t['warm_per_second']:,.0f} mol/s** ({'PASS' if t['warm_passes'] else 'FAIL'}) against the {t['target_per_second']:,.0f} mol/s target. "
        f"Featurisation alone (graphs + fast descriptors, cold) runs at {t['featurize_only_cold_per_second']:,.0f} mol/s, so it bounds the cold figure.\n"
    )


def _verdict(summary: dict) -> str:
    if not summary.get("overall") or "learned" not in summary["methods"]:
        return "No complete cells with learned ratios yet: no verdict.\n"
    ov, h2h, best = summary["overall"], summary["learned_head_to_head"], summary["best"]
    lines = []
    if best == "learned":
        lines.append(
            f"- (e) learned λ has the lowest mean normalised RMSE at n ≤ {summary['max_n']} ({ov['learned']:.3f})."
        )
    else:
        lines.append(
            f"- (e) learned λ does **not** have the lowest mean normalised RMSE at n ≤ {summary['max_n']}: "
            f"{METHOD_LABELS[best]} does ({ov[best]:.3f} vs {ov['learned']:.3f})."
        )
    for size, b in summary["best_by_size"].items():
        lines.append(
            f"- n = {size}: lowest is {METHOD_LABELS[b]} ({summary['by_size'][size][b]:.3f}; (e) {summary['by_size'][size]['learned']:.3f})."
        )
    for m, h in h2h.items():
        wins_t = h["targets_learned_lower"]
        lines.append(
            f"- (e) vs {METHOD_LABELS[m]}: lower nRMSE in {h['learned_lower_in']} of {h['cells']} cells "
            f"(mean difference {h['mean_nrmse_difference']:+.3f}); lower on {len(wins_t)} of {summary['n_targets']} targets"
            + (f" ({', '.join(wins_t)})" if 0 < len(wins_t) <= 6 else "")
            + "."
        )
    return "\n".join(lines) + "\n"


def _ci(mean: float, ci: list[float], fmt: str = "{:.3f}") -> str:
    return f"{fmt.format(mean)} [{fmt.format(ci[0])}, {fmt.format(ci[1])}]"


def headline_markdown(h: dict | None) -> str:
    """The headline tables (one renderer for the result's own .md and docs/benchmarks.md)."""
    if not h or not (h.get("regression") or h.get("classification")):
        return "No complete cells yet: no headline.\n"
    out = []
    rows, diffs, per_method = [], [], []
    for key, e in (h.get("regression") or {}).items():
        c = e.get("learned_vs_best_baseline") or {}
        if c.get("n_targets"):
            b = c["best_baseline"]
            rows.append(
                [
                    key,
                    c["n_targets"],
                    _ci(c["mean"]["learned"], c["ci95"]["learned"]),
                    f"{METHOD_LABELS[b]}: {_ci(c['mean'][b], c['ci95'][b])}",
                    _ci(c["ratio_to_best"], c["ratio_ci95"]),
                    f"{c['targets_won']} of {c['n_targets']}",
                    e.get("verdict", "—"),
                ]
            )
        for other in ("uniform", "probe"):
            d = e.get(f"learned_minus_{other}") or {}
            if d.get("n_targets"):
                diffs.append(
                    [
                        key,
                        f"(e) − {METHOD_LABELS[other]}",
                        _ci(d["mean_difference"], d["ci95"], "{:+.3f}"),
                        f"{d['a_lower_in']} of {d['n_targets']}",
                    ]
                )
        d = e.get("topk_minus_uniform") or {}
        if d.get("n_targets"):
            diffs.append(
                [
                    key,
                    f"(e') − {METHOD_LABELS['uniform']}",
                    _ci(d["mean_difference"], d["ci95"], "{:+.3f}"),
                    f"{d['a_lower_in']} of {d['n_targets']}",
                ]
            )
        per_method.append([key, e["n_targets"], e["mean"]])
    methods = list(dict.fromkeys(m for *_, means in per_method for m in means))
    per_method = [
        [k, n, *[fmt(means.get(m), ".3f") for m in methods]] for k, n, means in per_method
    ]
    if rows:
        out += [
            f"Regression targets, n ≤ {h['max_n']}: mean normalised RMSE (test RMSE / test-part std) over targets, each target the mean of its "
            "complete cells (seeds × sizes); 95 % intervals by bootstrap over targets; the best baseline is re-chosen in every resample. "
            f'Goal: ratio ≤ {h["goal_ratio"]} with the whole interval below it ("met"); "undecided" when the interval straddles it.\n',
            table(
                f"targets / test part | targets | (e) learned λ | best baseline | ratio (e) / best | targets won by (e) | goal ≤ {h['goal_ratio']}",
                rows,
            ),
            "",
        ]
    if diffs:
        out += [
            "Learned ratios (e), and the top-k sources they pick (e'), against uniform ratios and the frozen probe (negative = the first better):\n",
            table(
                "targets / test part | difference in nRMSE | mean [95 % CI] | targets where the first is lower",
                diffs,
            ),
            "",
        ]
    if per_method:
        out += [
            "Mean nRMSE per method:\n",
            md_table(
                ["targets / test part", "targets", *[METHOD_LABELS[m] for m in methods]], per_method
            ),
            "",
        ]
    cls = []
    for key, e in (h.get("classification") or {}).items():
        c = e.get("learned_vs_best_baseline") or {}
        if c.get("n_targets"):
            b = c["best_baseline"]
            pr = e.get("pr_auc_mean") or {}
            cls.append(
                [
                    key,
                    c["n_targets"],
                    _ci(c["mean"]["learned"], c["ci95"]["learned"]),
                    f"{METHOD_LABELS[b]}: {_ci(c['mean'][b], c['ci95'][b])}",
                    f"{c['targets_won']} of {c['n_targets']}",
                    f"{pr.get('learned', float('nan')):.3f} / {pr.get(b, float('nan')):.3f}",
                ]
            )
    if cls:
        out += [
            "Classification targets: ROC-AUC (higher is better), PR-AUC of (e) / the best baseline alongside:\n",
            table(
                "targets / test part | targets | (e) learned λ ROC-AUC | best baseline ROC-AUC | targets won by (e) | PR-AUC (e) / best",
                cls,
            ),
            "",
        ]
    return "\n".join(out) + "\n"


def markdown(state: dict) -> str:
    summary, grid = state["summary"], state["grid"]
    methods = summary["methods"]
    label = [METHOD_LABELS[m] for m in methods]
    by_size_rows = [[f"n = {s}", *_bold_min(v, methods)] for s, v in summary["by_size"].items()]
    if summary["overall"]:
        by_size_rows.append(
            [f"**all n ≤ {summary['max_n']}**", *_bold_min(summary["overall"], methods)]
        )
        by_size_rows.append(["cells won", *[str(summary["wins"][m]) for m in methods]])

    # per target and size: mean RMSE (units) and R² over seeds
    groups: dict[tuple, dict[str, list[dict]]] = {}
    for r in state["rows"]:
        groups.setdefault((r["target"], str(r["size"])), {}).setdefault(r["method"], []).append(r)
    target_rows = []
    for t in grid["targets"]:
        for size in [str(s) for s in grid["sizes"]]:
            g = groups.get((t, size))
            if not g:
                continue
            key = (
                "roc_auc"
                if state["targets"].get(t, {}).get("task_type") == "classification"
                else "rmse"
            )
            means = {
                m: float(np.mean([r[key] for r in g[m] if _finite(r.get(key))]))
                if any(_finite(r.get(key)) for r in g.get(m, []))
                else float("nan")
                for m in methods
            }
            r2 = {
                m: float(np.mean([r["r2"] for r in g[m] if _finite(r.get("r2"))]))
                if any(_finite(r.get("r2")) for r in g.get(m, []))
                else float("nan")
                for m in methods
            }
            if key == "roc_auc":
                cells = _bold_min(means, methods, "AUC {:.3f}", higher_is_better=True)
            else:
                cells = [
                    f"{c} ({r2[m]:.2f})" if _finite(r2[m]) else c
                    for c, m in zip(_bold_min(means, methods, "{:.3g}"), methods)
                ]
            n_seeds = max(len(v) for v in g.values())
            target_rows.append([t, size, n_seeds, *cells])
    time_rows = []
    row_devices = list(dict.fromkeys(r.get("device", state["device"]) for r in state["rows"]))
    for size in [str(s) for s in grid["sizes"]]:
        for dev in row_devices:
            vals = {
                m: [
                    r["wall_seconds"]
                    for r in state["rows"]
                    if str(r["size"]) == size
                    and r["method"] == m
                    and "error" not in r
                    and r.get("device", state["device"]) == dev
                ]
                for m in methods
            }
            if any(vals.values()):
                time_rows.append(
                    [
                        f"n = {size}",
                        dev,
                        *[f"{np.mean(v):.1f}" if v else "—" for v in vals.values()],
                    ]
                )
    errors = [r for r in state["rows"] if "error" in r]
    ratio_rows = []
    for t in grid["targets"]:
        shares = [
            r["info"]["ratio_share"]
            for r in state["rows"]
            if r["target"] == t and r["method"] == "learned" and "ratio_share" in r.get("info", {})
        ]
        if shares:
            mean = {s: float(np.mean([x[s] for x in shares])) for s in shares[0]}
            top = sorted(mean, key=mean.get, reverse=True)[:3]
            ratio_rows.append(
                [
                    t,
                    len(shares),
                    ", ".join(f"{s} {mean[s]:.1%}" for s in top),
                    f"{min(mean.values()):.1%}–{max(mean.values()):.1%}",
                ]
            )
    s = state["settings"]
    n_planned, n_ran = len(grid["planned"]), len(grid["ran"]) + len(grid["resumed"])
    seen = state.get("seen") or {}
    return f"""# Task addition vs the alternatives (new targets, scaffold-cluster splits)

Backbone `{state["backbone"]}` (fingerprint `{state["backbone_id"]}`), {state["device"]}, {state["torch_threads"]} torch threads.
Status: **{state["status"]}** — {n_ran} of {n_planned} planned cells ran{f", {len(grid['skipped'])} skipped (pool smaller than n)" if grid["skipped"] else ""}
(grid: targets {", ".join(grid["targets"])}; n ∈ {{{", ".join(map(str, grid["sizes"]))}}}; seeds {", ".join(map(str, grid["seeds"]))}; order {grid["order"]}).

Protocol: per target and seed a scaffold-cluster split (`gate_core.data.splits.scaffold_cluster_split`: scaffold groups in a
seeded random order, families too big for the test set broken into fingerprint clusters, so seeds give different test sets)
holds out {s["test_fraction"]:.0%} of the molecules as the test set; the n training molecules are the first n of a seeded
permutation of the rest; every method sees exactly those n and is scored on the same test set. (a), (c) and (g) hold out the
same {s["val_fraction"]:.0%} of the n for early stopping; (b), (d), (e) are task addition with K = {s["ensemble"]} members on
their own folds of the n; (f) uses all n. A test molecule is *seen* when it is among the backbone's {seen.get("molecules", 0):,}
pre-training molecules ({seen.get("key", "—")}), *unseen* otherwise; parts under {MIN_PART} molecules are not scored. (a): backbone architecture, l_reg only, ≤ {s["st_epochs"]} epochs
(patience {s["st_patience"]}, batch {s["st_batch_size"]}, lr {s["st_lr"]}); (c): encoder lr 1e-4, head lr 1e-3, ≤ {s["ft_epochs"]} epochs
(patience {s["ft_patience"]}, batch {s["ft_batch_size"]}); (f): {s["rf_trees"]} trees on every RDKit 2D descriptor; (g): LightGBM
on the same descriptors, ≤ {s.get("lgbm_rounds")} rounds, early stopping after 50.

## Headline: (e) learned λ against the best baseline, by target group and test part (unseen first)

{headline_markdown(state.get("headline"))}
## Mean normalised RMSE, every target (test RMSE / test-set std; lower is better)

Mean over targets of each target's mean over its cells; only cells where every method ran count
({summary["n_complete_cells"]} complete cells over {summary["n_targets"]} targets{f", {summary['n_incomplete_cells']} incomplete left out" if summary["n_incomplete_cells"] else ""}). Bold = lowest.

{md_table(["", *label], by_size_rows) if by_size_rows else "No complete cells yet."}

## Where (e) learned ratios does and does not win

{_verdict(summary)}
## Per target (test RMSE in the target's units, mean over seeds; R² in brackets; bold = lowest)

{md_table(["target", "n", "seeds", *label], target_rows) if target_rows else "No cells yet."}

## Wall time per method (s, mean over cells; featurisation done beforehand, not included)

{md_table(["", "measured on", *label], time_rows) if time_rows else "No cells yet."}

## Speed

{_speed_text(state.get("speed"))}
## Learned transfer ratios (share of the total λ, mean over cells; top 3 sources)

{table("target | cells | top sources | range over sources", ratio_rows) if ratio_rows else "None yet."}
{chr(10) + "Failed method runs: " + "; ".join(f"{r['target']}/{r['seed']}/{r['size']}/{r['method']}: {r['error']}" for r in errors) + chr(10) if errors else ""}"""
