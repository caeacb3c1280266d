"""Task addition against the alternatives, side by side on the same splits (DESIGN §8, issue 11).

For each target, seed and training size n, every method (``METHOD_LABELS``) trains on exactly
the same n molecules and is scored on the same scaffold-cluster test set, on the whole of it and
on its molecules the backbone did and did not see in pre-training; :func:`headline` compares
(d) uniform λ, the default, and (e) learned λ with the best baseline per target group and test
part (:mod:`bench.stats`). The protocol, methods and options are in bench/README.md
(``task_addition``). Results are written after every cell, so a killed or budget-stopped run
keeps what it finished; ``--resume`` runs the rest.
"""

from __future__ import annotations

import argparse
import functools
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
DEFAULT_TARGETS = tuple(  # the drug-like targets, then the physchem ones
    "caco2 pk_vdss pk_cl pk_fu pk_thalf logp_fluorinated bbbp clintox freesolv huuskonen_logS "
    "fuel_cn fuel_ysi fuel_ron pka_fluorinated permittivity Tflash_K Hfus_kJmol dipole_D "
    "surface_tension_mNm Tautoignition_K log_viscosity298_Pas".split()
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
SPEED_TARGET, SPEED_MOLECULES = "huuskonen_logS", 500  # the timed task addition's data
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
#: The options a resumed run must share (its rows are comparable only then), each an
#: option ``--test-fraction`` etc. with this default. (a) = ``st_``, (c) = ``ft_``, (f) = ``rf_``,
#: (g) = ``lgbm_``; ``method_max_minutes`` caps one (a) or (c) training.
SETTINGS = {
    "test_fraction": 0.2,  # scaffold fraction held out as test
    "val_fraction": 0.2,  # the early-stopping fold of (a), (c), (g)
    "ensemble": 5,  # K of task addition for (b), (d), (e)
    "st_epochs": 60,
    "st_patience": 10,
    "st_batch_size": 32,
    "st_lr": 1e-3,
    "ft_epochs": 40,
    "ft_patience": 8,
    "ft_batch_size": 32,
    "method_max_minutes": 3.0,
    "rf_trees": 500,
    "rf_jobs": 2,  # processes of (f) and threads of (g)
    "lgbm_rounds": 2000,
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
    for key, default in SETTINGS.items():
        text = f"default {default}; see bench/README.md"
        add(f"--{key.replace('_', '-')}", type=type(default), default=default, help=text)
    add("--threads", type=int, help="torch/BLAS threads (default: every core)")
    add("--device", help="cpu | cuda (default: cuda when available)")
    add("--skip-speed", action="store_true", help="no add-task timing section")
    add("--speed-only", action="store_true", help="only the add-task timing")
    add("--resume", action="store_true", help="keep the finished cells of the result, run the rest")


_log = logger(NAME)


def csv_list(text: str) -> list[str]:
    """The non-empty, stripped items of a comma-separated option (``--targets a, b``)."""
    return [t.strip() for t in str(text).split(",") if t.strip()]


def parse_sizes(text: str) -> list[int | str]:
    """Training sizes: integers ≥ 20 (task addition's minimum) or ``all`` (the whole pool)."""
    sizes = [s if s == "all" or not s.isdigit() else int(s) for s in csv_list(text)]
    if bad := [s for s in sizes if s != "all" and not (isinstance(s, int) and s >= 20)]:
        raise ValueError(f"training sizes {bad}: integers ≥ 20 (task addition's minimum) or 'all'")
    return sizes


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"K/N"`` → (K, N) with 0 ≤ K < N; None for no sharding (``chemprop_compare --shard``)."""
    if not text:
        return None
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and int(k) < int(n)):
        raise ValueError(f"--shard {text!r}: expected K/N with 0 ≤ K < N, e.g. 0/4")
    return int(k), int(n)


# ------------------------------------------------------------------------------------ summary


def _complete_cells(
    rows: list[dict], methods: list[str], metric: str, part: str, max_n: int
) -> tuple[pd.DataFrame, int]:
    """``metric`` on the test ``part`` ("all", "seen" or "unseen") of every cell (target, seed,
    size) with an integer size ≤ ``max_n``: one row per *complete* cell (every method finite, so
    a method that failed in a hard cell cannot look better for it), one column per method; and
    how many cells were left out as incomplete."""
    values = [
        (r["target"], r["seed"], r["size"], r["method"])
        + ((r if part == "all" else r.get("parts", {}).get(part, {})).get(metric),)
        for r in rows
        if isinstance(r.get("size"), int) and r["size"] <= max_n and r.get("method") in methods
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
    cells, incomplete = _complete_cells(rows, methods, "nrmse", "all", max_n)
    by_target = _target_means(cells).to_dict("index")
    by_size = {int(s): _target_means(c).mean().to_dict() for s, c in cells.groupby(level="size")}
    mean = _target_means(cells).mean().to_dict() if len(cells) else {}
    wins = cells.idxmin(axis=1).value_counts()
    head_to_head = {}
    for m in [m for m in methods if "learned" in methods and m != "learned"]:
        diff = cells["learned"] - cells[m]
        head_to_head[m] = {
            "learned_lower_in": int((diff < 0).sum()),
            "cells": len(diff),
            "mean_nrmse_difference": float(diff.mean()),  # NaN (null) without cells
            "targets_learned_lower": [t for t, v in by_target.items() if v["learned"] < v[m]],
        }
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
        "wins": {m: int(wins.get(m, 0)) for m in methods},
        "learned_head_to_head": head_to_head,
    }


def _methods_on_every_target(rows: list[dict], methods: list[str]) -> list[str]:
    """The ``methods`` scored on every target of ``rows`` (one group's): a method run on one
    group only (learned λ on the drug-like targets, say) leaves the comparison over both groups
    instead of emptying it."""
    targets = {r["target"] for r in rows}
    scored = [(r["method"], r["target"]) for r in rows if "error" not in r]
    return [m for m in methods if targets <= {t for method, t in scored if method == m}]


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
    groups = {g: {t for t, spec in TARGETS.items() if spec.group == g} for g in TARGET_GROUPS}
    if sum(bool(members & ran) for members in groups.values()) > 1:
        groups["all"] = ran  # "all" only when it differs from one group
    out: dict = {
        "max_n": max_n,
        "baselines": [b for b in baselines if b in methods],
        "goal_ratio": GOAL_RATIO,
    }
    for task_type, metric in (("regression", "nrmse"), ("classification", "roc_auc")):
        higher, block = task_type == "classification", {}
        for group, members in groups.items():
            mine = [r for r in rows if r.get("task_type") == task_type and r["target"] in members]
            ms = _methods_on_every_target(mine, methods)
            group_baselines = [b for b in baselines if b in ms]
            for part in ("unseen", "seen", "all"):
                per_target = _target_means(_complete_cells(mine, ms, metric, part, max_n)[0])
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
                    pr = _target_means(_complete_cells(mine, ms, "pr_auc", part, max_n)[0])
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
    frame, spec = pd.read_csv(TARGETS_DIR / f"{name}.csv"), TARGETS[name]
    return frame["smiles"].astype(str).tolist(), frame["value"].to_numpy(float), spec.task_type


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
        self.pool_size = len(self.order)
        self.test_smiles = [self.smiles[i] for i in self.test]
        self.y_test = self.y[self.test]
        self.test_std = float(self.y_test.std())
        self.seen = np.zeros(len(self.test), dtype=bool)
        if seen_keys is not None:
            self.seen = seen_mask(self.test_smiles, seen_keys)
        self.h_test = self.chart_test = None

    def train_index(self, size: int | str) -> np.ndarray:
        return self.order if size == "all" else self.order[: int(size)]


# ---------------------------------------------------------------------------------- methods


def cell_metrics(task_type: str, y: np.ndarray, pred: np.ndarray, test_std: float) -> dict:
    """One method's test metrics in a cell, nRMSE = RMSE / the test set's std (chemprop's rows
    are scored by the same function)."""
    from gate_core.training.evaluate import classification_metrics, regression_metrics

    if task_type == "classification":
        return classification_metrics(y, pred)
    m = regression_metrics(y, pred)
    return m | {"nrmse": m["rmse"] / test_std if test_std > 0 else float("nan")}


def part_metrics(task_type: str, y: np.ndarray, pred: np.ndarray, seen: np.ndarray) -> dict:
    """Metrics on the seen and the unseen test molecules apart (nRMSE against each part's own
    std); a part with fewer than :data:`MIN_PART` molecules is left out."""
    return {
        part: cell_metrics(task_type, y[mask], pred[mask], float(y[mask].std()))
        for part, mask in (("seen", seen), ("unseen", ~seen))
        if mask.sum() >= MIN_PART
    }


def val_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
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

    def folds(self) -> dict:
        return {"n_inner_train": len(self.inner), "n_val": len(self.val)}


def run_single_task(ctx: dict, ts: TargetSplit, train: Train) -> tuple[np.ndarray, dict]:
    """(a): ``pretrain`` of the backbone's architecture on the target alone, l_reg only."""
    from gate_core.data.table import MultiTaskTable
    from gate_core.training.evaluate import predict
    from gate_core.training.objective import LossWeights
    from gate_core.training.pretrain import PretrainConfig, pretrain

    args, cfg, smiles = ctx["args"], ctx["backbone"].config, train.smiles
    config = PretrainConfig(
        tasks=[ts.name],
        weights=LossWeights(0, 0, 0, 0),
        descriptors=cfg.n_descriptors > 0,
        **{k: getattr(cfg, k) for k in "hidden depth dropout latent_dim task_hidden".split()},
        epochs=args.st_epochs,
        patience=args.st_patience,
        batch_size=args.st_batch_size,
        lr=args.st_lr,
        seed=ts.seed,
        device=str(ctx["device"]),
        max_minutes=args.method_max_minutes,
    )
    reference = {smiles[i]: "val" for i in train.val} | {smiles[i]: "train" for i in train.inner}
    data = MultiTaskTable(list(smiles), [ts.name], train.y[:, None])
    result = pretrain(config, progress=False, split_reference=reference, table=data)
    info = {"epochs_run": result.epochs_run, "best_epoch": result.best_epoch, **train.folds()}
    return predict(result.model, ts.test_smiles)[:, 0], info


def run_finetune(ctx: dict, ts: TargetSplit, train: Train) -> tuple[np.ndarray, dict]:
    """(c): ``gate_core.training.finetune`` of the whole encoder with a new head."""
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
    info = {"epochs_run": len(result.history), "best_epoch": result.best_epoch, **train.folds()}
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
            info["kept_sources"] = sorted(set(info["ratio_mean"]) - set(excluded))
        return pred, info

    return run


def run_trees(ctx: dict, ts: TargetSplit, train: Train, boosted: bool) -> tuple[np.ndarray, dict]:
    """On every RDKit 2D descriptor (cached per target): (f) a random forest trained on all n, or
    (g) LightGBM early-stopped on the fold of (a)/(c). Classification predicts the probability of
    class 1 (0 where training had no positive)."""
    import lightgbm
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    args, features = ctx["args"], ctx["rdkit_descriptors"]
    X, X_test = (
        np.stack([features[s] for s in smiles]) for smiles in (train.smiles, ts.test_smiles)
    )
    classification, info = ts.task_type == "classification", {"n_descriptors": int(X.shape[1])}
    y, inner, val = train.y.astype(int) if classification else train.y, train.inner, train.val
    if boosted:
        model = (lightgbm.LGBMClassifier if classification else lightgbm.LGBMRegressor)(
            n_estimators=args.lgbm_rounds, random_state=ts.seed, n_jobs=args.rf_jobs, **LGBM_PARAMS
        )
        stop = [lightgbm.early_stopping(50, verbose=False)]
        model.fit(X[inner], y[inner], eval_X=X[val], eval_y=y[val], callbacks=stop)
        info["best_iteration"] = int(model.best_iteration_ or args.lgbm_rounds)
    else:
        model = (RandomForestClassifier if classification else RandomForestRegressor)(
            n_estimators=args.rf_trees, n_jobs=args.rf_jobs, random_state=ts.seed
        )
        model.fit(X, y)
    if not classification:
        return model.predict(X_test), info
    classes = list(model.classes_)
    return model.predict_proba(X_test)[:, classes.index(1)] if 1 in classes else np.zeros(
        len(X_test)
    ), info


RUNNERS = {
    "single_task": run_single_task,
    "probe": run_task_addition("off"),
    "finetune": run_finetune,
    "uniform": run_task_addition("uniform"),
    "learned": run_task_addition("learned"),
    "topk": run_task_addition("uniform", top_k=True),
    "rf": functools.partial(run_trees, boosted=False),
    "lgbm": functools.partial(run_trees, boosted=True),
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
    folds = val_split(len(idx), ctx["args"].val_fraction, ts.seed)
    train = Train([ts.smiles[i] for i in idx], ts.y[idx], *folds)
    cell = {"target": ts.name, "seed": ts.seed, "size": size, "n_train": len(idx)}
    cell |= {"n_test": len(ts.test), "test_std": ts.test_std, "task_type": ts.task_type}
    rows = []
    for method in methods:
        row = cell | {"method": method, "device": ctx["device_label"], "host": platform.node()}
        try:
            with timed() as t:  # bound before the method runs: its time is kept if it fails
                pred, info = RUNNERS[method](ctx, ts, train)
            pred = np.asarray(pred, dtype=np.float64)
            row |= {"wall_seconds": t.wall, "cpu_seconds": t.cpu}
            row |= cell_metrics(ts.task_type, ts.y_test, pred, ts.test_std)
            parts = part_metrics(ts.task_type, ts.y_test, pred, ts.seen)
            row |= {"n_test_seen": int(ts.seen.sum()), "parts": parts, "info": info}
            score = f"nRMSE {row['nrmse']:.3f}" if "nrmse" in row else f"AUC {row['roc_auc']:.3f}"
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

    smiles, y, task_type = load_target(SPEED_TARGET)
    name = f"speed_{SPEED_TARGET}"
    pick = np.sort(np.random.default_rng(0).choice(len(smiles), SPEED_MOLECULES, replace=False))
    config = TaskAdditionConfig(ratios=RatioSettings(mode="learned"), seed=0, task_type=task_type)
    clear_caches()
    with timed() as t:
        result = add_task(
            ctx["backbone"], [smiles[i] for i in pick], y[pick].tolist(), name, config
        )
    steps = [m["steps"] for m in result.task.metadata["members"]]
    _log(f"add a {SPEED_MOLECULES}-molecule task (learned λ, cold caches): {t.wall:.1f} s")
    add = {
        "target": SPEED_TARGET,
        "molecules": SPEED_MOLECULES,
        "ratios": "learned",
        "ensemble": len(result.task.members),
        "runs": [{"wall_seconds": t.wall, **result.timings, "member_steps": steps}],
        "median_wall_seconds": t.wall,
        "target_seconds": ADD_TASK_TARGET_SECONDS,
        "passes": t.wall <= ADD_TASK_TARGET_SECONDS,
    }
    return {"add_task": add, "device": str(ctx["device"]), "torch_threads": ctx["threads"]}


# -------------------------------------------------------------------------------------- run


def read_result(path: Path) -> dict | None:
    """A result file, or None when it is missing or unreadable (killed while writing)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError:
        _log(f"{path} is not readable JSON (killed while writing?): left out")
        return None


def merged_rows_and_grid(states: list[dict]) -> tuple[list[dict], dict]:
    """The rows and grid of shard results together (``chemprop_compare --merge``).

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
    ran = grid["ran"] + grid["resumed"]
    grid["not_started"] = [c for c in union("not_started") if c not in ran]
    return list(rows.values()), grid


def seen_molecule_keys(args: argparse.Namespace, tasks: list[str]) -> frozenset[str]:
    """Keys of the backbone's pre-training molecules: the table's molecules labelled for one of
    its ``tasks``, plus every molecule of the ``--corpus`` files (``.txt``: one per line)."""
    from gate_core.data.seen import pretraining_keys

    extra: list[str] = []
    for path in csv_list(args.corpus):
        if path.endswith(".txt"):
            extra += [s for line in Path(path).read_text().splitlines() if (s := line.strip())]
        else:
            frame = pd.read_csv(path)
            extra += frame["smiles" if "smiles" in frame.columns else "SMILES"].astype(str).tolist()
    return pretraining_keys(args.pretraining_table, tasks, extra)


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    import torch

    from gate_core.models.checkpoint import load_checkpoint
    from gate_core.models.fingerprint import backbone_fingerprint
    from gate_core.training.distributed import select_device

    elapsed = stopwatch()
    threads = args.threads or len(os.sched_getaffinity(0))
    limit_threads(threads)
    targets, methods = csv_list(args.targets), csv_list(args.methods)
    sizes, seeds = parse_sizes(args.sizes), [int(s) for s in csv_list(args.seeds)]
    if unknown := [m for m in methods if m not in METHODS]:
        raise ValueError(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
    for t in targets:
        load_target(t)  # fail now, not 30 minutes in
    device = select_device(args.device)
    backbone, _ = load_checkpoint(args.backbone, device)
    ctx = {"args": args, "backbone": backbone, "device": device, "threads": threads}
    gpu = device.type == "cuda" and torch.cuda.get_device_name(device)  # rows say where they ran
    ctx |= {"device_label": f"cuda ({gpu})" if gpu else f"cpu ({os.cpu_count()} cores)"}
    ctx["methods"] = methods
    ctx["rdkit_descriptors"] = {}  # SMILES → every RDKit 2D descriptor, for (f) and (g)
    with timed() as t:
        seen_keys = seen_molecule_keys(args, backbone.task_names)
    _log(f"{len(seen_keys):,} pre-training molecules to mark test molecules seen ({t.wall:.0f} s)")
    state = {
        "status": "running",
        "backbone": str(args.backbone),
        "backbone_id": backbone_fingerprint(backbone),
        "settings": {"split": "scaffold_cluster", **{k: getattr(args, k) for k in SETTINGS}},
        "grid": {"targets": targets, "sizes": sizes, "seeds": seeds, "methods": methods},
        "budget_minutes": args.budget_minutes,
        "targets": {},
        "rows": [],
        "speed": None,
        "device": str(device),
        "torch_threads": threads,
        "seen": {
            "pretraining_table": args.pretraining_table,
            "corpus": csv_list(args.corpus),
            "molecules": len(seen_keys),
            "key": "InChIKey first block (no stereo, isotopes or protonation); gate_core.data.seen",
        },
    }
    results_dir, grid = Path(args.results_dir), state["grid"]
    previous = read_result(results_dir / f"{args.results_name}.json") if args.resume else None
    same = ("backbone_id", "settings")  # the rows of a resumed run are comparable only then
    if previous and all(previous.get(k) == state[k] for k in same):
        state["rows"] = [r for r in previous["rows"] if "error" not in r]
        state["speed"] = previous.get("speed")
    elif previous:
        _log("--resume: the result was made with another backbone or settings; starting afresh")
    done = {(r["target"], r["seed"], r["size"], r["method"]) for r in state["rows"]}
    cells = [(t, seed, size) for seed in seeds for size in sizes for t in targets]
    cells = [] if args.speed_only else cells
    grid |= {"order": "seed, then size, then target", "planned": [list(c) for c in cells]}
    grid |= {"ran": [], "resumed": [], "skipped": [], "not_started": []}

    def save() -> tuple[Path, Path]:
        """The result's JSON, Markdown and CSV, with its summary and headline brought up to date."""
        state["wall_seconds"] = elapsed()
        state["summary"] = summarise(state["rows"], methods)
        state["headline"] = headline(state["rows"], methods)
        rows = csv_rows(NAME, state)
        return write_results(args.results_name, state, markdown, results_dir, rows=rows)

    if not args.skip_speed and state["speed"] is None:
        state["speed"] = measure_speed(ctx)
    save()

    split = functools.cache(lambda t, seed: TargetSplit(t, seed, args.test_fraction, seen_keys))
    for i, (t, seed, size) in enumerate(cells):
        if args.budget_minutes and elapsed() / 60 > args.budget_minutes:
            grid["not_started"] = [list(c) for c in cells[i:]]
            left = f"{len(cells) - i} of {len(cells)} cells not started"
            state["status"] = f"stopped by the {args.budget_minutes:g}-minute budget: {left}"
            _log(state["status"])
            break
        if not (todo := [m for m in methods if (t, seed, size, m) not in done]):
            grid["resumed"].append([t, seed, size])
            continue
        ts = split(t, seed)
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
        _log(f"cell {i + 1}/{len(cells)}: {t} seed {seed} n={size} ({elapsed() / 60:.1f} min)")
        state["rows"].extend(run_cell(ctx, ts, size, todo))
        grid["ran"].append([t, seed, size])
        save()
    else:
        state["status"] = "complete"
    # no method may alter the shared backbone
    state["backbone_unchanged"] = backbone_fingerprint(backbone) == state["backbone_id"]
    return save()


# --------------------------------------------------------------------------------- markdown


def bold_best(frame: pd.DataFrame, spec: str = ".3f", best: str = "min") -> pd.DataFrame:
    """``frame``'s values in ``spec`` ("—" where missing), each row's ``best`` ("min" or "max")
    in bold."""
    text = frame.map(lambda v: fmt(v, spec))
    return text.where(frame.ne(frame.agg(best, axis=1), axis=0), "**" + text + "**")


def _methods_table(first: str, text: pd.DataFrame) -> str:
    """``text`` (one column per method) as a table, its index the first columns (``first``)."""
    header = " | ".join([first, *[METHOD_LABELS[m] for m in text.columns]])
    return table(header, text.reset_index().values.tolist())


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
    """The headline tables: GATE against the best baseline per target group and test part."""
    if not h or not (h.get("regression") or h.get("classification")):
        return "No complete cells yet: no headline.\n"
    from bench.stats import verdict

    reg, cls, goal = h.get("regression") or {}, h.get("classification") or {}, h["goal_ratio"]

    def compared(block: dict) -> list[tuple[str, str, dict, dict]]:
        """(part, GATE, entry, comparison) where GATE met the baselines: (d) the default first,
        then (e)."""
        return [
            (k, g, e, c)
            for k, e in block.items()
            for g in GATE_FIRST
            if (c := e.get(f"{g}_vs_best_baseline") or {}).get("n_targets")
        ]

    def gate_vs(k: str, g: str, c: dict) -> list:
        """The columns both comparison tables share: part, GATE, targets, GATE's and the best
        baseline's mean."""
        b = c["best_baseline"]
        best = f"{METHOD_LABELS[b]}: {_ci(c['mean'][b], c['ci95'][b])}"
        return [k, GATE_FIRST[g], c["n_targets"], _ci(c["mean"][g], c["ci95"][g]), best]

    def won(c: dict) -> str:
        return f"{c['targets_won']} of {c['n_targets']}"

    rows = [
        gate_vs(k, g, c)
        + [_ci(c["ratio_to_best"], c["ratio_ci95"]), won(c), verdict(c["ratio_ci95"], goal)]
        for k, g, _, c in compared(reg)
    ]
    diffs = [
        [k, f"{tag} − {METHOD_LABELS[b]}", _ci(d["mean_difference"], d["ci95"], "+.3f")]
        + [f"{d['a_lower_in']} of {d['n_targets']}"]
        for k, e in reg.items()
        for key, tag, b in DIFFERENCES
        if (d := e.get(key) or {}).get("n_targets")
    ]
    cls_rows = [
        gate_vs(k, g, c)
        + [won(c), " / ".join(fmt(e["pr_auc_mean"].get(m), ".3f") for m in (g, c["best_baseline"]))]
        for k, g, e, c in compared(cls)
    ]
    part = "targets / test part | GATE | targets"
    sections = [  # (intro, header, rows) of each table, left out when it has no rows
        (
            f"Regression targets, n ≤ {h['max_n']}: mean nRMSE over targets, each the mean of its "
            "complete cells; 95 % bootstrap intervals over targets, the best baseline re-chosen in "
            f'every resample; goal: ratio ≤ {goal} over the whole interval ("met").',
            f"{part} | GATE nRMSE | best baseline | ratio GATE / best | targets won by GATE"
            f" | goal ≤ {goal}",
            rows,
        ),
        (
            "Learned ratios (e) and their top-k sources (e') against uniform ratios and the frozen "
            "probe (negative = the first better):",
            "targets / test part | difference in nRMSE | mean [95 % CI] | targets where the first is lower",
            diffs,
        ),
        (
            "Classification targets: ROC-AUC (higher is better), PR-AUC alongside:",
            f"{part} | GATE ROC-AUC | best baseline ROC-AUC | targets won by GATE | PR-AUC GATE / best",
            cls_rows,
        ),
    ]
    out = [f"{intro}\n\n{table(header, body)}\n" for intro, header, body in sections if body]
    if reg:  # after the regression tables
        means = pd.DataFrame({k: e["mean"] for k, e in reg.items()}).T
        targets = pd.Series({k: e["n_targets"] for k, e in reg.items()}, name="targets")
        per_method = _methods_table(
            "targets / test part | targets", bold_best(means).set_index(targets, append=True)
        )
        out.insert(
            bool(rows) + bool(diffs), f"Mean nRMSE per method (bold = lowest):\n\n{per_method}\n"
        )
    return "\n".join(out)


def _summary_tables(summary: dict) -> str:
    """Mean nRMSE per n and over all n ≤ max_n, cells won; (e) learned λ head to head with each
    method (cells and targets where (e) is lower, mean difference)."""
    if not summary["overall"]:
        return "No complete cells yet."
    methods, n_targets = summary["methods"], summary["n_targets"]
    means = {f"n = {n}": v for n, v in summary["by_size"].items()}
    means[f"**all n ≤ {summary['max_n']}**"] = summary["overall"]
    text = bold_best(pd.DataFrame(means).T.reindex(columns=methods))
    text.loc["cells won"] = [str(summary["wins"][m]) for m in methods]
    rows = []
    for m, h in summary["learned_head_to_head"].items():
        won = h["targets_learned_lower"]
        names = f" ({', '.join(won)})" if 0 < len(won) <= 6 else ""
        rows.append([METHOD_LABELS[m], f"{h['learned_lower_in']} of {h['cells']}"])
        rows[-1] += [fmt(h["mean_nrmse_difference"], "+.3f"), f"{len(won)} of {n_targets}{names}"]
    header = "(e) learned λ vs | cells where (e) is lower | mean nRMSE difference (e) − it"
    versus = table(header + " | targets where (e) is lower", rows) if rows else ""
    return f"{_methods_table('', text)}\n\n{versus}"


def _frame(rows: list[dict]) -> pd.DataFrame:
    """The rows' columns the tables read, numbers as floats and the size as text."""
    columns = "target size method rmse r2 roc_auc wall_seconds device error info".split()
    frame = pd.DataFrame(rows).reindex(columns=columns)
    numbers = ["rmse", "r2", "roc_auc", "wall_seconds"]
    frame[numbers] = frame[numbers].apply(pd.to_numeric, errors="coerce")
    return frame.assign(size=frame["size"].astype(str))


def _target_table(state: dict, frame: pd.DataFrame, methods: list[str]) -> str:
    """Per target and size: mean test RMSE (R²) or ROC-AUC over seeds, bold = best."""
    by_cell = frame.groupby(["target", "size", "method"])
    seeds = by_cell.size().groupby(level=[0, 1]).max().rename("seeds")
    grid = state["grid"]
    cells = [(t, str(s)) for t in grid["targets"] for s in grid["sizes"] if (t, str(s)) in seeds]
    if not cells:
        return "No cells yet."
    mean = by_cell[["rmse", "r2", "roc_auc"]].mean().unstack("method").reindex(cells)
    r2 = mean["r2"].reindex(columns=methods).map(lambda v: "" if pd.isna(v) else f" ({v:.2f})")
    text = bold_best(mean["rmse"].reindex(columns=methods), ".3g") + r2
    auc = bold_best(mean["roc_auc"].reindex(columns=methods), ".3f", "max")
    kind = pd.Series([state["targets"].get(t, {}).get("task_type") for t, _ in cells], mean.index)
    text = text.mask(kind == "classification", auc, axis=0)
    return _methods_table("target | n | seeds", text.set_index(seeds.reindex(cells), append=True))


def _time_table(frame: pd.DataFrame, sizes: list, methods: list[str]) -> str:
    """Mean wall seconds per method, size and device (CPU and GPU times never averaged)."""
    wall = frame[frame["error"].isna()].groupby(["size", "device", "method"])["wall_seconds"]
    wall = wall.mean().unstack("method").reindex(columns=methods)
    order = [
        (s, d) for s in map(str, sizes) for d in frame["device"].unique() if (s, d) in wall.index
    ]
    if not order:
        return "No cells yet."
    text = wall.reindex(order).map(lambda v: fmt(v, ".1f"))
    return _methods_table(" | measured on", text.rename(index=lambda s: f"n = {s}", level=0))


def _ratio_table(frame: pd.DataFrame, targets: list[str]) -> str:
    """The learned ratios' top 3 sources per target (share of the total λ, mean over cells)."""
    learned = frame[frame["method"] == "learned"]
    rows = []
    for t in targets:
        infos = learned.loc[learned["target"] == t, "info"]
        shares = [i["ratio_share"] for i in infos if isinstance(i, dict) and "ratio_share" in i]
        if shares:
            mean = pd.DataFrame(shares).mean().sort_values(ascending=False, kind="stable")
            top = ", ".join(f"{s} {v:.1%}" for s, v in mean[:3].items())
            rows.append([t, len(shares), top, f"{mean.min():.1%}–{mean.max():.1%}"])
    header = "target | cells | top sources | range over sources"
    return table(header, rows) if rows else "None: (e) learned λ did not run in this grid."


def _speed_text(speed: dict | None) -> str:
    if not speed:
        return "Not measured in this run (`--skip-speed`)."
    a, on = speed["add_task"], f"on {speed['device']} with {speed['torch_threads']} threads"
    run0, verdict = a["runs"][0], "PASS" if a["passes"] else "FAIL"
    return (
        f"- **Adding a {a['molecules']}-molecule task** ({a['target']}, learned λ, K = {a['ensemble']}, "
        f"from raw SMILES with cold featurisation caches, {on}): **{a['median_wall_seconds']:.1f} s** "
        f"(median of {len(a['runs'])}; first run: {run0['featurize_seconds']:.1f} s featurisation + "
        f"frozen source quantities, {run0['train_seconds']:.1f} s training) against the "
        f"{a['target_seconds']:.0f} s target: **{verdict}**.\n"
        "- Prediction throughput against the 5,000 mol/s target: `bench/results/screening.md`."
    )


def markdown(state: dict) -> str:
    summary, grid, rows = state["summary"], state["grid"], state["rows"]
    methods, seen = summary["methods"], state.get("seen") or {}
    frame = _frame(rows)
    n_ran = len(grid["ran"]) + len(grid["resumed"])
    skipped = f", {len(grid['skipped'])} skipped (pool smaller than n)" if grid["skipped"] else ""
    incomplete = summary["n_incomplete_cells"]
    incomplete = f", {incomplete} incomplete left out" if incomplete else ""
    settings = ", ".join(f"{k} {v}" for k, v in state["settings"].items())
    sections = {
        "Headline: GATE, (d) uniform λ (the default) and (e) learned λ, against the best "
        "baseline, by target group and test part (unseen first)": headline_markdown(
            state.get("headline")
        ),
        "Mean normalised RMSE, every target (test RMSE / test-set std, each target the mean of "
        f"its cells; bold = lowest), over the {summary['n_complete_cells']} cells where every "
        f"method ran ({summary['n_targets']} targets{incomplete})"
        + ("; (e) head to head" if "learned" in methods else ""): (_summary_tables(summary)),
        "Per target, mean over seeds: test RMSE in the target's units (R² in brackets; bold = "
        "lowest), or ROC-AUC of a classification target (bold = highest)": _target_table(
            state, frame, methods
        ),
        "Wall time per method (s, mean over cells; featurisation done beforehand, not "
        "included)": _time_table(frame, grid["sizes"], methods),
        "Speed": _speed_text(state.get("speed")),
        "Learned transfer ratios (share of the total λ, mean over cells; top 3 sources)": (
            _ratio_table(frame, grid["targets"])
        ),
    }
    errors = [
        f"{r['target']}/{r['seed']}/{r['size']}/{r['method']}: {r['error']}"
        for r in rows
        if "error" in r
    ]
    return (
        "# Task addition vs the alternatives (new targets, scaffold-cluster splits)\n\n"
        f"Backbone `{state['backbone']}` (fingerprint `{state['backbone_id']}`), {state['device']}, "
        f"{state['torch_threads']} torch threads. Status: **{state['status']}** — {n_ran} of "
        f"{len(grid['planned'])} planned cells ran{skipped} (grid: targets {', '.join(grid['targets'])}; "
        f"n ∈ {{{', '.join(map(str, grid['sizes']))}}}; seeds {', '.join(map(str, grid['seeds']))}; "
        f"order {grid['order']}). Protocol: bench/README.md (`task_addition`); settings: {settings}. "
        f"Test molecules *seen*: among the backbone's {seen.get('molecules', 0):,} pre-training "
        f"molecules ({seen.get('key', '—')}); parts under {MIN_PART} molecules are not scored.\n"
        + "".join(f"\n## {title}\n\n{body.rstrip()}\n" for title, body in sections.items())
        + (f"\nFailed method runs: {'; '.join(errors)}\n" if errors else "")
    )
