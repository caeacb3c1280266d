"""Task addition against the alternatives, side by side on the same splits (DESIGN §8, issue 11).

For each target, seed and training size n, every method (``METHOD_LABELS``) trains on exactly
the same n molecules and is scored on the same scaffold-cluster test set, on the whole of it and
on its molecules the backbone did and did not see in pre-training; :func:`headline` compares
(d) uniform λ, the default, and (e) learned λ with the best baseline per target group and test
part (:mod:`bench.stats`). The protocol, methods and options are in bench/README.md
(``task_addition``). Results are written after every cell, so a killed or budget-stopped run
keeps what it finished; ``--resume`` runs the rest, ``--shard``/``--merge`` split the grid over
processes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import traceback
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

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
DESCRIPTION = "new-task test RMSE vs training size: task addition (learned/uniform ratios) vs single-task, probe, fine-tuning, RF; add-task time"
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
SPEED_MOLECULES = 500  # the size of the timed task addition
# (g)'s hyperparameters besides the rounds, the seed and the threads (bench/README.md)
LGBM_PARAMS = {
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 5,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.5,
    "verbose": -1,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--backbone", default=str(DEFAULT_BACKBONE))
    add("--results-name", default=NAME, help="<results-dir>/<name>.json/.md/.csv")
    add("--pretraining-table", default=str(BACKBONE_TABLE), help="its labelled molecules: seen")
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
    add("--skip-speed", action="store_true", help="no add-task timing section")
    add("--speed-only", action="store_true", help="only the add-task timing")
    add("--speed-target", default="huuskonen_logS", help="target of the timed task addition")
    add("--resume", action="store_true", help="keep the finished cells of the result, run the rest")
    add("--shard", metavar="K/N", help="run only every N-th cell from K (own --results-dir each)")
    add("--merge", metavar="DIR,...", help="no training: merge these result dirs' files")


_log = logger(NAME)


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in str(text).split(",") if t.strip()]


def parse_sizes(text: str) -> list[int | str]:
    """Training sizes: integers ≥ 20 (task addition's minimum) or ``all`` (the whole pool)."""
    sizes = [s if s == "all" or not s.isdigit() else int(s) for s in _csv_list(text)]
    if bad := [s for s in sizes if s != "all" and not (isinstance(s, int) and s >= 20)]:
        raise ValueError(f"training sizes {bad}: integers ≥ 20 (task addition's minimum) or 'all'")
    return sizes


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"K/N"`` → (K, N) with 0 ≤ K < N; None for no sharding."""
    if not text:
        return None
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and int(k) < int(n)):
        raise ValueError(f"--shard {text!r}: expected K/N with 0 ≤ K < N, e.g. 0/4")
    return int(k), int(n)


# ------------------------------------------------------------------------------------ summary


def _complete_cells(
    rows: list[dict],
    methods: list[str],
    metric: str = "nrmse",
    part: str = "all",
    max_n: int = SUMMARY_MAX_N,
    task_type: str | None = None,
    targets: set[str] | None = None,
) -> tuple[pd.DataFrame, int]:
    """``metric`` on the test ``part`` ("all", "seen" or "unseen") of every cell (target, seed,
    size) with an integer size ≤ ``max_n``: one row per *complete* cell (every method finite, so
    a method that failed in a hard cell cannot look better for it), one column per method; and
    how many cells were left out as incomplete."""

    def value(r: dict) -> object:
        return (r if part == "all" else (r.get("parts") or {}).get(part) or {}).get(metric)

    values = [
        (r["target"], r["seed"], r["size"], r["method"], value(r))
        for r in rows
        if isinstance(r.get("size"), int)
        and r["size"] <= max_n
        and r.get("method") in methods
        and (task_type is None or r.get("task_type") == task_type)
        and (targets is None or r["target"] in targets)
    ]
    frame = pd.DataFrame(values, columns=["target", "seed", "size", "method", "value"])
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").replace(
        [np.inf, -np.inf], np.nan
    )
    cells = frame.dropna().pivot_table("value", ["target", "seed", "size"], "method", "last")
    complete = cells.reindex(columns=list(methods)).dropna()
    return complete, len(cells) - len(complete)


def _target_means(cells: pd.DataFrame) -> pd.DataFrame:
    """Each target's mean over its cells (seeds × sizes), so every target weighs the same."""
    return cells.groupby(level="target").mean()


def summarise(rows: list[dict], methods: list[str], max_n: int = SUMMARY_MAX_N) -> dict:
    """Mean normalised RMSE per method over regression cells with n ≤ ``max_n``.

    A row is one (target, seed, size, method) with ``nrmse`` = test RMSE / test-set std of the
    target under that seed's split. Only complete cells count (:func:`_complete_cells`). Each
    target weighs the same: mean over its cells first, then the mean over targets.
    ``size == "all"`` rows are left out (their n differs by target).
    """
    methods = list(methods)
    cells, incomplete = _complete_cells(rows, methods, max_n=max_n)

    def overall(c: pd.DataFrame) -> dict[str, float]:
        return _target_means(c).mean().to_dict() if len(c) else {}

    by_target = _target_means(cells).to_dict("index")
    by_size = {int(s): overall(c) for s, c in cells.groupby(level="size")}
    winners = cells.idxmin(axis=1) if len(cells) else pd.Series(dtype=str)
    head_to_head = {}
    for m in [m for m in methods if "learned" in methods and m != "learned"]:
        diff = cells["learned"] - cells[m]
        head_to_head[m] = {
            "learned_lower_in": int((diff < 0).sum()),
            "cells": len(diff),
            "mean_nrmse_difference": float(diff.mean()) if len(diff) else None,
            "targets_learned_lower": [t for t, v in by_target.items() if v["learned"] < v[m]],
        }
    mean = overall(cells)
    return {
        "max_n": max_n,
        "methods": methods,
        "n_complete_cells": len(cells),
        "n_incomplete_cells": incomplete,
        "n_targets": len(by_target),
        "overall": mean,
        "best": min(mean, key=mean.get, default=None),
        "by_size": by_size,
        "best_by_size": {s: min(v, key=v.get) for s, v in by_size.items() if v},
        "by_target": by_target,
        "wins": {m: int((winners == m).sum()) for m in methods},
        "learned_head_to_head": head_to_head,
    }


def _methods_on_every_target(
    rows: list[dict], methods: list[str], task_type: str, members: set[str] | None
) -> list[str]:
    """The ``methods`` scored on every target of a group: a method run on one group only (learned
    λ on the drug-like targets, say) leaves the comparison over both groups instead of emptying it."""
    mine = [
        r
        for r in rows
        if r.get("task_type") == task_type and (members is None or r["target"] in members)
    ]
    targets = {r["target"] for r in mine}
    scored = {
        m: {r["target"] for r in mine if r["method"] == m and "error" not in r} for m in methods
    }
    return [m for m in methods if targets <= scored[m]]


def headline(
    rows: list[dict],
    methods: list[str],
    max_n: int = SUMMARY_MAX_N,
    baselines: tuple[str, ...] = BASELINES,
) -> dict:
    """(d) uniform λ (the app's default) and (e) learned λ against the best of ``baselines``,
    per target group × part of the test set, with bootstrap 95 % intervals over targets and win
    counts (:mod:`bench.stats`); regression on nRMSE (lower is better), classification on
    ROC-AUC (PR-AUC alongside). Each comparison uses the methods scored on every target of its
    group; each target is the mean of its complete cells with n ≤ ``max_n``."""
    from bench.stats import compare_over_targets, paired_difference, verdict
    from gate_core.data.builders.targets import TARGET_GROUPS, TARGETS

    ran = {r["target"] for r in rows}
    groups: dict[str, set[str] | None] = {
        g: {t for t, spec in TARGETS.items() if spec.group == g} for g in TARGET_GROUPS
    }
    if sum(bool(members & ran) for members in groups.values()) > 1:
        groups["all"] = None  # "all" only when it differs from one group
    out: dict = {
        "max_n": max_n,
        "baselines": [b for b in baselines if b in methods],
        "goal_ratio": GOAL_RATIO,
    }
    for task_type, metric in (("regression", "nrmse"), ("classification", "roc_auc")):
        higher, block = task_type == "classification", {}
        for group, members in groups.items():
            ms = _methods_on_every_target(rows, methods, task_type, members)
            group_baselines = [b for b in baselines if b in ms]
            for part in ("unseen", "seen", "all"):
                where = (part, max_n, task_type, members)
                per_target = _target_means(_complete_cells(rows, ms, metric, *where)[0])
                if per_target.empty:
                    continue
                means = per_target.to_dict("index")
                entry: dict = {
                    "n_targets": len(means),
                    "per_target": means,
                    "mean": per_target.mean().to_dict(),
                }
                for gate in ("learned", "uniform"):  # uniform: the app's default, for the summary
                    if gate in ms and group_baselines:
                        entry[f"{gate}_vs_best_baseline"] = c = compare_over_targets(
                            means, gate, group_baselines, higher_is_better=higher
                        )
                        if gate == "learned" and not higher:
                            entry["verdict"] = verdict(c["ratio_ci95"], GOAL_RATIO)
                for a, b in (("learned", "uniform"), ("learned", "probe"), ("topk", "uniform")):
                    if {a, b} <= set(ms):
                        entry[f"{a}_minus_{b}"] = paired_difference(means, a, b)
                if higher:
                    pr = _target_means(_complete_cells(rows, ms, "pr_auc", *where)[0])
                    entry["pr_auc_mean"] = pr.mean().to_dict() if len(pr) else {}
                block[f"{group}/{part}"] = entry
        out[task_type] = block
    return out


# ------------------------------------------------------------------------------------- data


def load_target(name: str) -> tuple[list[str], np.ndarray, str]:
    """(SMILES, values, task type) of one target table of ``gate_core.data.builders.targets``."""
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
        frame["value"].to_numpy(float),
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
        pool, _, self.test = scaffold_cluster_split(
            self.smiles, (1.0 - test_fraction, 0.0, test_fraction), seed
        )
        self.order = pool[np.random.default_rng(seed).permutation(len(pool))]
        self.test_smiles = [self.smiles[i] for i in self.test]
        self.y_test = self.y[self.test]
        self.test_std = float(self.y_test.std())
        self.seen = np.zeros(len(self.test), dtype=bool)
        if seen_keys is not None:
            self.seen = seen_mask(self.test_smiles, seen_keys)
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
    return {
        part: _metrics(task_type, y[mask], pred[mask], float(y[mask].std()))
        for part, mask in (("seen", seen), ("unseen", ~seen))
        if mask.sum() >= MIN_PART
    }


def _val_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(inner train, val) positions within the n training molecules, for (a), (c) and (g)."""
    order = np.random.default_rng([seed, n, 7]).permutation(n)
    n_val = min(max(2, int(round(fraction * n))), n - 2)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


class Train(NamedTuple):
    """A cell's n training molecules and the positions of its early-stopping fold."""

    smiles: list[str]
    y: np.ndarray
    inner: np.ndarray
    val: np.ndarray


def _folds(train: Train) -> dict:
    return {"n_inner_train": len(train.inner), "n_val": len(train.val)}


def run_single_task(ctx: dict, ts: TargetSplit, train: Train) -> tuple[np.ndarray, dict]:
    from gate_core.data.table import MultiTaskTable
    from gate_core.training.evaluate import predict
    from gate_core.training.objective import LossWeights
    from gate_core.training.pretrain import PretrainConfig, pretrain

    args, cfg = ctx["args"], ctx["backbone"].config
    architecture = {
        k: getattr(cfg, k) for k in "hidden depth dropout latent_dim task_hidden".split()
    }
    config = PretrainConfig(
        tasks=[ts.name],
        weights=LossWeights(0, 0, 0, 0),
        descriptors=cfg.n_descriptors > 0,
        **architecture,
        epochs=args.st_epochs,
        patience=args.st_patience,
        batch_size=args.st_batch_size,
        lr=args.st_lr,
        seed=ts.seed,
        device=str(ctx["device"]),
        max_minutes=args.method_max_minutes,
    )
    smiles, inner, val = train.smiles, train.inner, train.val
    data = MultiTaskTable(list(smiles), [ts.name], train.y[:, None])
    reference = {smiles[i]: "val" for i in val} | {smiles[i]: "train" for i in inner}
    result = pretrain(config, progress=False, split_reference=reference, table=data)
    pred = predict(result.model, ts.test_smiles)[:, 0]
    return pred, {"epochs_run": result.epochs_run, "best_epoch": result.best_epoch, **_folds(train)}


def run_finetune(ctx: dict, ts: TargetSplit, train: Train) -> tuple[np.ndarray, dict]:
    from gate_core.models.gate import TaskInfo
    from gate_core.training.finetune import FinetuneConfig, finetune

    args, (smiles, y, inner, val) = ctx["args"], train
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
    info = {"epochs_run": len(result.history), "best_epoch": result.best_epoch, **_folds(train)}
    return result.predict(ts.test_smiles), info


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
    return sorted(learned, key=learned.get, reverse=True)[TOP_K:]


def run_task_addition(mode: str, top_k: bool = False):
    """(b), (d), (e) and (e'): ``add_task`` with ratios ``mode``; (e') keeps only the
    :data:`TOP_K` sources of the same cell's (e) run."""

    def run(ctx: dict, ts: TargetSplit, train: Train) -> tuple[np.ndarray, dict]:
        from gate_core.models.gate import TaskInfo
        from gate_core.transfer.addition import TaskAdditionConfig, add_task
        from gate_core.transfer.ratios import RatioSettings

        n = len(train.smiles)
        excluded = _top_k_exclusions(ctx, ts, n) if top_k else []
        config = TaskAdditionConfig(
            ratios=RatioSettings(mode=mode, excluded=excluded),
            ensemble=ctx["args"].ensemble,
            seed=ts.seed,
            task_type=ts.task_type,
        )
        task_info = TaskInfo(ts.name, task_type=ts.task_type)
        result = add_task(ctx["backbone"], list(train.smiles), list(train.y), task_info, config)
        _test_embedding(ctx, ts)  # normally done before the clock starts (see run)
        pred = result.task.predict_from_representation(ts.h_test, ts.chart_test)["mean"]
        meta = result.task.metadata
        info = {"steps": [m["steps"] for m in meta["members"]], "timings": result.timings}
        if mode != "off":
            info["ratio_share"] = {s: r["share"] for s, r in meta["ratios"].items()}
            info["ratio_mean"] = {s: r["ratio"] for s, r in meta["ratios"].items()}
        if mode == "learned":
            ctx.setdefault("learned_ratios", {})[(ts.name, ts.seed, n)] = info["ratio_mean"]
        if top_k:
            info["kept_sources"] = sorted(set(info.get("ratio_mean", {})) - set(excluded))
        return pred, info

    return run


def _descriptors(ctx: dict, ts: TargetSplit, train: Train) -> tuple[np.ndarray, np.ndarray]:
    """Every RDKit 2D descriptor of the training and the test molecules (cached per target)."""
    features = ctx["rdkit_descriptors"]
    return tuple(
        np.stack([features[s] for s in smiles]) for smiles in (train.smiles, ts.test_smiles)
    )


def _predict(model, X: np.ndarray, classification: bool) -> np.ndarray:
    """Regression values, or the probability of class 1 (0 where training had no positive)."""
    if not classification:
        return model.predict(X)
    classes = list(model.classes_)
    return model.predict_proba(X)[:, classes.index(1)] if 1 in classes else np.zeros(len(X))


def run_rf(ctx: dict, ts: TargetSplit, train: Train) -> tuple[np.ndarray, dict]:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    args, (X, X_test) = ctx["args"], _descriptors(ctx, ts, train)
    classification = ts.task_type == "classification"
    forest = (RandomForestClassifier if classification else RandomForestRegressor)(
        n_estimators=args.rf_trees, n_jobs=args.rf_jobs, random_state=ts.seed
    )
    forest.fit(X, train.y.astype(int) if classification else train.y)
    return _predict(forest, X_test, classification), {"n_descriptors": int(X.shape[1])}


def run_lgbm(ctx: dict, ts: TargetSplit, train: Train) -> tuple[np.ndarray, dict]:
    """Gradient boosting on every RDKit 2D descriptor, early-stopped on the same fold as (a)/(c)."""
    import lightgbm

    args, (X, X_test) = ctx["args"], _descriptors(ctx, ts, train)
    classification = ts.task_type == "classification"
    model = (lightgbm.LGBMClassifier if classification else lightgbm.LGBMRegressor)(
        n_estimators=args.lgbm_rounds, random_state=ts.seed, n_jobs=args.rf_jobs, **LGBM_PARAMS
    )
    y, inner, val = train.y.astype(int) if classification else train.y, train.inner, train.val
    stop = [lightgbm.early_stopping(50, verbose=False)]
    model.fit(X[inner], y[inner], eval_X=X[val], eval_y=y[val], callbacks=stop)
    best = int(model.best_iteration_ or args.lgbm_rounds)
    return _predict(model, X_test, classification), {
        "n_descriptors": int(X.shape[1]),
        "best_iteration": best,
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

    with timed() as graphs:
        featurize_molecules(ts.smiles, descriptors=ctx["backbone"].config.n_descriptors > 0)
    with timed() as rdkit:
        if {"rf", "lgbm"} & set(ctx["methods"]):
            cache = ctx["rdkit_descriptors"]
            for s in set(ts.smiles) - set(cache):
                cache[s] = all_rdkit_descriptors(Chem.MolFromSmiles(s))
    return {
        "graph_and_fast_descriptor_seconds": graphs.wall,
        "all_rdkit_descriptor_seconds": rdkit.wall,
    }


def run_cell(ctx: dict, ts: TargetSplit, size: int | str, methods: list[str]) -> list[dict]:
    """Every method on one (target, seed, n): the same training molecules, the same test set."""
    idx = ts.train_index(size)
    train = Train(
        [ts.smiles[i] for i in idx],
        ts.y[idx],
        *_val_split(len(idx), ctx["args"].val_fraction, ts.seed),
    )
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
                pred, info = RUNNERS[method](ctx, ts, train)
            pred = np.asarray(pred, dtype=np.float64)
            row |= {"wall_seconds": t.wall, "cpu_seconds": t.cpu}
            row |= _metrics(ts.task_type, ts.y_test, pred, ts.test_std)
            row["n_test_seen"] = int(ts.seen.sum())
            row["parts"] = part_metrics(ts.task_type, ts.y_test, pred, ts.seen)
            row["info"] = info
            score = (
                f"RMSE {row['rmse']:.4g} (nRMSE {row['nrmse']:.3f})"
                if "rmse" in row
                else f"AUC {row.get('roc_auc')}"
            )
        except Exception as exc:  # noqa: BLE001 - one failing method must not lose the cell
            row |= {"wall_seconds": t.wall, "error": f"{type(exc).__name__}: {exc}"}
            traceback.print_exc(file=sys.stderr)
            score = row["error"]
        rows.append(row)
        _log(f"  {ts.name} seed {ts.seed} n={size}: {method:<11} {score}  {t.wall:.1f} s")
    return rows


# ------------------------------------------------------------------------------------ speed


def measure_speed(ctx: dict) -> dict:
    """Time to add a task from raw SMILES (cold caches).

    Timed with learned ratios (the slower mode, with its look-ahead outer steps), so the figure
    bounds the default (uniform) too. Prediction throughput has one home: ``bench screening``.
    """
    from gate_core.data.featurize import clear_caches
    from gate_core.transfer.addition import TaskAdditionConfig, add_task
    from gate_core.transfer.ratios import RatioSettings

    args, backbone = ctx["args"], ctx["backbone"]
    smiles, y, task_type = load_target(args.speed_target)
    pick = np.sort(np.random.default_rng(0).choice(len(smiles), SPEED_MOLECULES, replace=False))
    picked, name = [smiles[i] for i in pick], f"speed_{args.speed_target}"
    config = TaskAdditionConfig(ratios=RatioSettings(mode="learned"), seed=0, task_type=task_type)
    clear_caches()
    with timed() as t:
        result = add_task(backbone, picked, y[pick].tolist(), name, config)
    task, timings = result.task, result.timings
    steps = [m["steps"] for m in task.metadata["members"]]
    _log(
        f"add a {SPEED_MOLECULES}-molecule task (learned λ, K={len(task.members)}, cold caches): {t.wall:.1f} s "
        f"(embedding + frozen sources {timings['featurize_seconds']:.1f} s, training {timings['train_seconds']:.1f} s)"
    )
    add = {
        "target": args.speed_target,
        "molecules": SPEED_MOLECULES,
        "ratios": "learned",
        "ensemble": len(task.members),
        "runs": [{"wall_seconds": t.wall, **timings, "member_steps": steps}],
        "median_wall_seconds": t.wall,
        "target_seconds": ADD_TASK_TARGET_SECONDS,
        "passes": t.wall <= ADD_TASK_TARGET_SECONDS,
    }
    return {"add_task": add, "device": str(ctx["device"]), "torch_threads": ctx["threads"]}


# -------------------------------------------------------------------------------------- run


def _settings(args: argparse.Namespace) -> dict:
    """The options a resumed or merged run must share (its rows are comparable only then)."""
    keys = "test_fraction val_fraction ensemble st_epochs st_patience st_batch_size st_lr"
    keys += " ft_epochs ft_patience ft_batch_size method_max_minutes rf_trees rf_jobs lgbm_rounds"
    return {"split": "scaffold_cluster", **{k: getattr(args, k) for k in keys.split()}}


def _read(path: Path) -> dict | None:
    """A result file, or None when it is missing or unreadable (killed while writing)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError:
        _log(f"{path} is not readable JSON (killed while writing?): left out")
        return None


def _same_run(a: dict, b: dict) -> bool:
    """Whether two results share backbone and settings (their rows are comparable only then)."""
    return (a.get("backbone_id"), a.get("settings")) == (b.get("backbone_id"), b.get("settings"))


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
    for r in (r for state in states for r in state.get("rows", [])):
        key = (r["target"], r["seed"], str(r["size"]), r["method"])
        if key not in rows or "error" in rows[key] or "error" not in r:
            rows[key] = r

    def union(key: str) -> list:
        return list({json.dumps(c): c for st in states for c in st["grid"].get(key, [])}.values())

    grid = dict(states[0]["grid"])
    for key in ("targets", "sizes", "seeds", "methods", "planned", "ran", "resumed", "skipped"):
        grid[key] = union(key)
    ran = {json.dumps(c) for c in grid["ran"] + grid["resumed"]}
    grid["not_started"] = [c for c in union("not_started") if json.dumps(c) not in ran]
    return list(rows.values()), grid


def _status(grid: dict) -> str:
    finished = {json.dumps(c) for c in grid["ran"] + grid["resumed"]}
    finished |= {json.dumps(x["cell"]) for x in grid["skipped"]}
    missing = sum(json.dumps(c) not in finished for c in grid["planned"])
    return (
        f"partial: {missing} of {len(grid['planned'])} planned cells not run"
        if missing
        else "complete"
    )


def _write(state: dict, name: str, results_dir: Path) -> tuple[Path, Path]:
    """The result's JSON, Markdown and CSV, with its summary and headline brought up to date."""
    methods = state["grid"]["methods"]
    state["summary"] = summarise(state["rows"], methods)
    state["headline"] = headline(state["rows"], methods)
    return write_results(name, state, markdown, results_dir, rows=csv_rows(NAME, state))


def merge(args: argparse.Namespace) -> tuple[Path, Path]:
    """Combine shard results (same backbone and settings) into one result file, no training.

    Rows are keyed by (target, seed, size, method); a finished row beats a failed one, and a
    later directory in the list beats an earlier one. The speed section of the first file that
    has one is kept.
    """
    results_dir, name = Path(args.results_dir), args.results_name
    sources = [
        results_dir / f"{name}.json",
        *(Path(d) / f"{name}.json" for d in _csv_list(args.merge)),
    ]
    states = [s for s in map(_read, sources) if s is not None]
    if not states:
        raise FileNotFoundError(f"nothing to merge: none of {', '.join(map(str, sources))} exists")
    base = states[0]
    if not all(_same_run(base, s) for s in states):
        raise ValueError("cannot merge results made with another backbone or other settings")
    rows, grid = merged_rows_and_grid(states)
    targets = {}
    for t, info in ((t, info) for st in states for t, info in st.get("targets", {}).items()):
        targets.setdefault(t, {**info, "splits": {}})["splits"].update(info.get("splits", {}))
    merged = {k: v for k, v in base.items() if k not in ("benchmark", "command", "machine")}
    merged |= {
        "rows": rows,
        "grid": grid,
        "targets": targets,
        "speed": next((st["speed"] for st in states if st.get("speed")), None),
        "merged_from": [str(p) for p in sources if p.is_file()],
        "status": _status(grid),
    }
    paths = _write(merged, name, results_dir)
    _log(f"merged {len(states)} result files: {len(rows)} rows, status {merged['status']}")
    return paths


def seen_molecule_keys(args: argparse.Namespace, tasks: list[str]) -> frozenset[str]:
    """Keys of the backbone's pre-training molecules: the table's molecules labelled for one of
    its ``tasks``, plus every molecule of the ``--corpus`` files (``.txt``: one per line)."""
    from gate_core.data.seen import pretraining_keys

    extra: list[str] = []
    for path in _csv_list(args.corpus):
        if path.endswith(".txt"):
            extra += [s for line in Path(path).read_text().splitlines() if (s := line.strip())]
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
    targets, methods = _csv_list(args.targets), _csv_list(args.methods)
    sizes, seeds = parse_sizes(args.sizes), [int(s) for s in _csv_list(args.seeds)]
    if unknown := [m for m in methods if m not in METHODS]:
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
        "rdkit_descriptors": {},  # SMILES → every RDKit 2D descriptor, for (f) and (g)
    }
    with timed() as t:
        seen_keys = seen_molecule_keys(args, backbone.task_names)
    _log(f"{len(seen_keys):,} pre-training molecules to mark test molecules seen ({t.wall:.0f} s)")
    settings, results_dir = _settings(args), Path(args.results_dir)
    previous = (_read(results_dir / f"{args.results_name}.json") if args.resume else None) or {}
    if previous and not _same_run(previous, {"backbone_id": backbone_id, "settings": settings}):
        _log("--resume: the result was made with another backbone or settings; starting afresh")
        previous = {}
    rows = [r for r in previous.get("rows", []) if "error" not in r]
    done = {(r["target"], r["seed"], r["size"], r["method"]) for r in rows}

    cells = [
        (t, seed, size)
        for seed in seeds
        for size in ([] if args.speed_only else sizes)
        for t in targets
    ]
    if shard := parse_shard(args.shard):  # deal out only the cells with work left
        cells = [c for c in cells if any((*c, m) not in done for m in methods)][
            shard[0] :: shard[1]
        ]
    grid = {
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
    }
    state = {
        "status": "running",
        "backbone": str(args.backbone),
        "backbone_id": backbone_id,
        "settings": settings,
        "grid": grid,
        "budget_minutes": args.budget_minutes,
        "targets": {},
        "rows": rows,
        "speed": previous.get("speed"),
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
        return _write(state, args.results_name, results_dir)

    if not args.skip_speed and state["speed"] is None:
        state["speed"] = measure_speed(ctx)
    save()

    splits: dict[tuple[str, int], TargetSplit] = {}
    for i, (t, seed, size) in enumerate(cells):
        if args.budget_minutes and elapsed() / 60 > args.budget_minutes:
            grid["not_started"] = [list(c) for c in cells[i:]]
            state["status"] = (
                f"stopped by the {args.budget_minutes:g}-minute budget: {len(cells) - i} of {len(cells)} cells not started"
            )
            _log(state["status"])
            break
        todo = [m for m in methods if (t, seed, size, m) not in done]
        if not todo:
            grid["resumed"].append([t, seed, size])
            continue
        if (t, seed) not in splits:
            splits[(t, seed)] = TargetSplit(t, seed, args.test_fraction, seen_keys)
        ts = splits[(t, seed)]
        if size != "all" and size > ts.pool_size:
            reason = f"training pool has only {ts.pool_size} molecules"
            grid["skipped"].append({"cell": [t, seed, size], "reason": reason})
            _log(f"{t} seed {seed} n={size}: skipped, the {reason}")
            continue
        if t not in state["targets"]:
            info = {"n_molecules": len(ts.smiles), "task_type": ts.task_type}
            state["targets"][t] = {**info, **warm_features(ctx, ts), "splits": {}}
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
        grid["ran"].append([t, seed, size])
        save()
    else:
        state["status"] = "complete"
    # no method may alter the shared backbone
    state["backbone_unchanged"] = backbone_fingerprint(backbone) == backbone_id
    return save()


# --------------------------------------------------------------------------------- markdown


def _bold_best(
    values: dict, methods: list[str], template: str = "{:.3f}", higher_is_better: bool = False
) -> list[str]:
    """Each method's value in ``template`` ("—" where missing), the best one in bold."""
    finite = {m: v for m in methods if (v := values.get(m)) is not None and np.isfinite(v)}
    best = (max if higher_is_better else min)(finite, key=finite.get, default=None)
    return [
        "—"
        if m not in finite
        else ("**{}**" if m == best else "{}").format(template.format(finite[m]))
        for m in methods
    ]


def _speed_text(speed: dict | None) -> str:
    if not speed:
        return "Not measured in this run (`--skip-speed`).\n"
    a = speed["add_task"]
    run0 = a["runs"][0]

    def verdict(passes: bool) -> str:
        return "PASS" if passes else "FAIL"

    return (
        f"- **Adding a {a['molecules']}-molecule task** ({a['target']}, learned λ, K = {a['ensemble']}, from raw SMILES with cold "
        f"featurisation caches, on {speed['device']} with {speed['torch_threads']} threads): **{a['median_wall_seconds']:.1f} s** "
        f"(median of {len(a['runs'])}; first run: {run0['featurize_seconds']:.1f} s featurisation + frozen source quantities, "
        f"{run0['train_seconds']:.1f} s training) against the {a['target_seconds']:.0f} s target: **{verdict(a['passes'])}**.\n"
        "- Prediction throughput against the 5,000 mol/s target: `bench/results/screening.md`.\n"
    )


def _head_to_head(summary: dict) -> str:
    """(e) learned λ against every other method, cell by cell and target by target."""
    if not summary.get("overall") or "learned" not in summary["methods"]:
        return "No complete cells with learned ratios yet: no verdict.\n"
    rows = []
    for m, h in summary["learned_head_to_head"].items():
        won = h["targets_learned_lower"]
        names = f" ({', '.join(won)})" if 0 < len(won) <= 6 else ""
        rows.append(
            [METHOD_LABELS[m], f"{h['learned_lower_in']} of {h['cells']}"]
            + [
                fmt(h["mean_nrmse_difference"], "+.3f"),
                f"{len(won)} of {summary['n_targets']}{names}",
            ]
        )
    header = "(e) learned λ vs | cells where (e) is lower | mean nRMSE difference (e) − it"
    return table(header + " | targets where (e) is lower", rows) + "\n"


def _ci(mean: float, ci: list[float], spec: str = ".3f") -> str:
    return f"{mean:{spec}} [{ci[0]:{spec}}, {ci[1]:{spec}}]"


#: The GATEs the headline compares with the best baseline: the app's default, (d), first.
GATE_FIRST = {"uniform": "(d) uniform λ (default)", "learned": "(e) learned λ"}
#: The headline's paired differences: (key, first method's tag, second method).
DIFFERENCES = (
    ("learned_minus_uniform", "(e)", "uniform"),
    ("learned_minus_probe", "(e)", "probe"),
    ("topk_minus_uniform", "(e')", "uniform"),
)


def headline_markdown(h: dict | None) -> str:
    """The headline tables (one renderer for the result's own .md and docs/benchmarks.md)."""
    if not h or not (h.get("regression") or h.get("classification")):
        return "No complete cells yet: no headline.\n"
    from bench.stats import verdict

    reg, cls = h.get("regression") or {}, h.get("classification") or {}

    def compared(block: dict) -> list[tuple[str, str, dict, dict, str]]:
        """(part, GATE, entry, comparison, best baseline) where GATE met the baselines: (d) the
        default first, then (e)."""
        return [
            (k, g, e, c, c["best_baseline"])
            for k, e in block.items()
            for g in GATE_FIRST
            if (c := e.get(f"{g}_vs_best_baseline") or {}).get("n_targets")
        ]

    def vs(c: dict, b: str) -> str:
        return f"{METHOD_LABELS[b]}: {_ci(c['mean'][b], c['ci95'][b])}"

    def won(c: dict) -> str:
        return f"{c['targets_won']} of {c['n_targets']}"

    goal = h["goal_ratio"]
    rows = [
        [k, GATE_FIRST[g], c["n_targets"], _ci(c["mean"][g], c["ci95"][g]), vs(c, b)]
        + [_ci(c["ratio_to_best"], c["ratio_ci95"]), won(c), verdict(c["ratio_ci95"], goal)]
        for k, g, e, c, b in compared(reg)
    ]
    diffs = [
        [k, f"{tag} − {METHOD_LABELS[b]}", _ci(d["mean_difference"], d["ci95"], "+.3f")]
        + [f"{d['a_lower_in']} of {d['n_targets']}"]
        for k, e in reg.items()
        for key, tag, b in DIFFERENCES
        if (d := e.get(key) or {}).get("n_targets")
    ]
    methods = list(dict.fromkeys(m for e in reg.values() for m in e["mean"]))
    per_method = [
        [k, e["n_targets"], *[fmt(e["mean"].get(m), ".3f") for m in methods]]
        for k, e in reg.items()
    ]
    cls_rows = [
        [k, GATE_FIRST[g], c["n_targets"], _ci(c["mean"][g], c["ci95"][g]), vs(c, b), won(c)]
        + [" / ".join(fmt((e.get("pr_auc_mean") or {}).get(m), ".3f") for m in (g, b))]
        for k, g, e, c, b in compared(cls)
    ]
    sections = [  # (intro, header, rows) of each table, left out when it has no rows
        (
            f"Regression targets, n ≤ {h['max_n']}: mean normalised RMSE (test RMSE / test-part std) over targets, each target the mean of its "
            "complete cells (seeds × sizes); 95 % intervals by bootstrap over targets; the best baseline is re-chosen in every resample. "
            f'Goal: ratio ≤ {goal} with the whole interval below it ("met"); "undecided" when the interval straddles it. '
            "GATE: (d) uniform λ, the app's default, first; (e) learned λ below it.",
            "targets / test part | GATE | targets | GATE nRMSE | best baseline | ratio GATE / best"
            f" | targets won by GATE | goal ≤ {goal}",
            rows,
        ),
        (
            "Learned ratios (e), and the top-k sources they pick (e'), against uniform ratios and the frozen probe (negative = the first better):",
            "targets / test part | difference in nRMSE | mean [95 % CI] | targets where the first is lower",
            diffs,
        ),
        (
            "Mean nRMSE per method:",
            " | ".join(["targets / test part", "targets", *[METHOD_LABELS[m] for m in methods]]),
            per_method,
        ),
        (
            "Classification targets: ROC-AUC (higher is better), PR-AUC of GATE / the best baseline alongside:",
            "targets / test part | GATE | targets | GATE ROC-AUC | best baseline ROC-AUC"
            " | targets won by GATE | PR-AUC GATE / best",
            cls_rows,
        ),
    ]
    out = [f"{intro}\n\n{table(header, body)}\n" for intro, header, body in sections if body]
    return "\n".join(out) + "\n"


def _result_tables(state: dict, methods: list[str]) -> tuple[list, list, list]:
    """Per target and size (mean test RMSE and R², or ROC-AUC, over seeds), wall time per size
    and device, and the learned transfer ratios' top sources per target."""
    grid, rows = state["grid"], state["rows"]
    if not rows:
        return [], [], []
    columns = "target size method rmse r2 roc_auc wall_seconds device error info".split()
    frame = pd.DataFrame(rows).reindex(columns=columns)
    numbers = ["rmse", "r2", "roc_auc", "wall_seconds"]
    frame[numbers] = frame[numbers].apply(pd.to_numeric, errors="coerce")
    frame["size"] = frame["size"].astype(str)
    scores = frame.groupby(["target", "size", "method"])[numbers[:3]].mean()
    seeds = frame.groupby(["target", "size", "method"]).size().groupby(level=[0, 1]).max()
    target_rows = []
    for t, size in [(t, str(s)) for t in grid["targets"] for s in grid["sizes"]]:
        if (t, size) not in seeds.index:
            continue
        m = scores.loc[(t, size)].to_dict()
        if state["targets"].get(t, {}).get("task_type") == "classification":
            cells = _bold_best(m["roc_auc"], methods, "AUC {:.3f}", higher_is_better=True)
        else:
            r2 = m["r2"]
            cells = [
                f"{c} ({r2[k]:.2f})" if np.isfinite(r2.get(k, np.nan)) else c
                for c, k in zip(_bold_best(m["rmse"], methods, "{:.3g}"), methods)
            ]
        target_rows.append([t, size, seeds[(t, size)], *cells])

    wall = frame[frame["error"].isna()].groupby(["size", "device", "method"])["wall_seconds"].mean()
    time_rows = [
        [f"n = {size}", dev, *[fmt(wall.get((size, dev, m)), ".1f") for m in methods]]
        for size in map(str, grid["sizes"])
        for dev in dict.fromkeys(frame["device"])
        if any((size, dev, m) in wall.index for m in methods)
    ]

    ratio_rows = []
    learned = frame[frame["method"] == "learned"]
    for t in grid["targets"]:
        shares = [
            i["ratio_share"]
            for i in learned.loc[learned["target"] == t, "info"]
            if isinstance(i, dict) and "ratio_share" in i
        ]
        if shares:
            mean = pd.DataFrame(shares).mean().sort_values(ascending=False, kind="stable")
            top = ", ".join(f"{s} {v:.1%}" for s, v in mean[:3].items())
            ratio_rows.append([t, len(shares), top, f"{mean.min():.1%}–{mean.max():.1%}"])
    return target_rows, time_rows, ratio_rows


def markdown(state: dict) -> str:
    summary, grid, s = state["summary"], state["grid"], state["settings"]
    methods = summary["methods"]
    label = [METHOD_LABELS[m] for m in methods]
    by_size_rows = [[f"n = {n}", *_bold_best(v, methods)] for n, v in summary["by_size"].items()]
    if summary["overall"]:
        by_size_rows.append(
            [f"**all n ≤ {summary['max_n']}**", *_bold_best(summary["overall"], methods)]
        )
        by_size_rows.append(["cells won", *[str(summary["wins"][m]) for m in methods]])
    target_rows, time_rows, ratio_rows = _result_tables(state, methods)
    n_planned, n_ran = len(grid["planned"]), len(grid["ran"]) + len(grid["resumed"])
    skipped = f", {len(grid['skipped'])} skipped (pool smaller than n)" if grid["skipped"] else ""
    incomplete = summary["n_incomplete_cells"]
    seen = state.get("seen") or {}
    errors = "; ".join(
        f"{r['target']}/{r['seed']}/{r['size']}/{r['method']}: {r['error']}"
        for r in state["rows"]
        if "error" in r
    )
    return f"""# Task addition vs the alternatives (new targets, scaffold-cluster splits)

Backbone `{state["backbone"]}` (fingerprint `{state["backbone_id"]}`), {state["device"]}, {state["torch_threads"]} torch threads.
Status: **{state["status"]}** — {n_ran} of {n_planned} planned cells ran{skipped}
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

## Headline: GATE, (d) uniform λ (the default) and (e) learned λ, against the best baseline, by target group and test part (unseen first)

{headline_markdown(state.get("headline"))}
## Mean normalised RMSE, every target (test RMSE / test-set std; lower is better)

Mean over targets of each target's mean over its cells; only cells where every method ran count
({summary["n_complete_cells"]} complete cells over {summary["n_targets"]} targets{f", {incomplete} incomplete left out" if incomplete else ""}). Bold = lowest.

{md_table(["", *label], by_size_rows) if by_size_rows else "No complete cells yet."}

## (e) learned λ head to head with each method (the complete cells above)

{_head_to_head(summary)}
## Per target (test RMSE in the target's units, mean over seeds; R² in brackets; bold = lowest)

{md_table(["target", "n", "seeds", *label], target_rows) if target_rows else "No cells yet."}

## Wall time per method (s, mean over cells; featurisation done beforehand, not included)

{md_table(["", "measured on", *label], time_rows) if time_rows else "No cells yet."}

## Speed

{_speed_text(state.get("speed"))}
## Learned transfer ratios (share of the total λ, mean over cells; top 3 sources)

{table("target | cells | top sources | range over sources", ratio_rows) if ratio_rows else "None yet."}
{f"{chr(10)}Failed method runs: {errors}{chr(10)}" if errors else ""}"""
