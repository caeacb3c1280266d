"""Backbone quality on its own scaffold test split: GATE vs plain multi-task vs single-task vs RF.

Every method is scored on exactly the molecules the backbone was tested on: the split is rebuilt
as ``pretrain`` built it, its table hash and fold sizes checked against ``metadata.json``. The
methods, options and metrics are described in bench/README.md (``backbone_quality``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import (
    REPO_ROOT,
    csv_rows,
    fmt,
    limit_threads,
    logger,
    settings,
    stopwatch,
    table,
    timed,
    write_results,
)
from bench.stats import interval, rmse_bootstrap
from gate_core.paths import DEFAULT_BACKBONE

NAME = "backbone_quality"
DESCRIPTION = "per-property test RMSE/R² on the backbone's scaffold split: GATE, multi-task w/o alignment, single-task, RF"
METHOD_LABELS = {
    "gate": "GATE backbone",
    "multitask": "multi-task, no alignment",
    "single_task": "single-task D-MPNN",
    "rf": "RF on RDKit 2D",
}
MIN_TEST_FOR_VERDICT = 10
SPLIT_KEYS = ("split", "split_fractions", "seed", "max_molecules")
STOPPED_BY = {"epochs": "epoch limit", "patience": "early stopping", "time": "time limit"}
_log = logger(NAME)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--backbone", default=str(DEFAULT_BACKBONE))
    add("--noalign", default=str(REPO_ROOT / "bench/work/multitask_noalign"), help="no-alignment")
    add("--tasks", default="Tm_K,Tb_K,logKow,Tc_K", help="properties of single-task models and RF")
    add("--epochs", type=int, default=30, help="max epochs per single-task model")
    add("--max-minutes", type=float, default=3.0, help="wall-clock cap per single-task model")
    add("--threads", type=int, help="torch threads of the single-task models (default: all)")
    add("--rf-trees", type=int, default=500)
    add("--rf-jobs", type=int, default=2)
    add("--rf-max-features", type=float, default=1.0, help="fraction of descriptors per split")
    add("--bootstrap", type=int, default=1000, help="bootstrap resamples of the RMSE intervals")
    add("--seed", type=int, default=0, help="seed of the single-task models, RF and bootstrap")


def compare_property(y: np.ndarray, preds: dict[str, np.ndarray], n_boot: int, seed: int) -> dict:
    """Metrics per method, the winner by RMSE, and a paired bootstrap against the runner-up.

    With fewer than ``MIN_TEST_FOR_VERDICT`` test molecules no winner is called distinguishable
    (a bootstrap of one or two points says nothing).
    """
    from gate_core.training.evaluate import regression_metrics

    methods = {name: regression_metrics(y, pred) for name, pred in preds.items()}
    ranked = sorted(methods, key=lambda k: methods[k]["rmse"])
    out = {"n_test": len(y), "methods": methods, "ranking_by_rmse": ranked, "winner": ranked[0]}
    if not n_boot:
        return out
    draws = rmse_bootstrap(y, preds, n_boot, seed)
    for name in methods:
        methods[name]["rmse_ci95"] = interval(draws[name])
    if len(ranked) > 1:
        lo, hi = interval(draws[ranked[1]] - draws[ranked[0]])
        out |= {"runner_up": ranked[1], "rmse_gap_to_runner_up_ci95": [lo, hi]}
        out["winner_distinguishable"] = bool(lo > 0 and len(y) >= MIN_TEST_FOR_VERDICT)
    return out


def _checkpoint_predictions(path: Path, smiles: list[str], backbone_pre: dict) -> tuple:
    """(predictions, a column per output; what the checkpoint is and whether it shares the split)."""
    from gate_core.models.checkpoint import load_checkpoint
    from gate_core.models.fingerprint import backbone_fingerprint
    from gate_core.training.evaluate import predict

    model, meta = load_checkpoint(path)
    pre = meta.get("pretraining", {})
    cfg, bcfg = pre.get("config", {}), backbone_pre["config"]
    same = pre.get("data_hash") == backbone_pre["data_hash"]
    info = {"checkpoint": str(path), "data_hash": pre.get("data_hash")}
    info["backbone_id"] = backbone_fingerprint(model)
    info["same_split_as_backbone"] = same and all(cfg.get(k) == bcfg.get(k) for k in SPLIT_KEYS)
    info |= {"weights": cfg.get("weights")}
    info |= {k: pre.get(k) for k in ("epochs_run", "best_epoch", "wall_seconds")}
    return pd.DataFrame(predict(model, smiles), index=smiles, columns=model.output_names), info


def _single_task(config, task, reference, args, test_smiles) -> tuple[np.ndarray, dict]:
    """``pretrain`` of the backbone's config on ``task`` alone (not a v2 backbone's descriptor
    families beside it), l_reg only (every alignment loss off), folds pinned to its split."""
    from gate_core.training.evaluate import predict
    from gate_core.training.objective import LossWeights
    from gate_core.training.pretrain import pretrain

    threads = args.threads or len(os.sched_getaffinity(0))
    changes = dict(tasks=[task], corpus=None, epochs=args.epochs, max_minutes=args.max_minutes)
    weights = LossWeights(auto=0, cons=0, map=0, dis=0)
    cfg = dataclasses.replace(config, weights=weights, seed=args.seed, threads=threads, **changes)
    with timed() as t:
        result = pretrain(cfg, progress=False, split_reference=reference)
    if result.split["test"] != len(test_smiles):
        raise RuntimeError(
            f"single-task {task}: {result.split['test']} test molecules, expected {len(test_smiles)}"
        )
    info = {
        k: getattr(result, k) for k in ("epochs_run", "best_epoch", "best_val_reg", "train_seconds")
    }
    info |= {"wall_seconds": t.wall, "split": result.split, "epochs_max": args.epochs}
    info |= {"max_minutes": args.max_minutes, "patience": config.patience, "threads": threads}
    info["stopped_by"] = STOPPED_BY[result.stopped_by]
    _log(f"single-task {task}: {info['epochs_run']} epochs, stopped by {info['stopped_by']}")
    return predict(result.model, test_smiles)[:, 0], info


def _rf(labels, train_smiles: list[str], test_of: dict[str, list[str]], args) -> tuple:
    """A random forest per task on all RDKit 2D descriptors, trained on the backbone's training
    fold (its molecules labelled for the task) and scored on ``test_of[task]``."""
    from rdkit import Chem
    from sklearn.ensemble import RandomForestRegressor

    from gate_core.featurizers.descriptors import all_rdkit_descriptors

    train = {t: labels.loc[train_smiles, t].dropna() for t in test_of}
    needed = {s for y in train.values() for s in y.index} | {s for v in test_of.values() for s in v}
    with timed() as t:
        X = pd.DataFrame(
            {s: all_rdkit_descriptors(Chem.MolFromSmiles(s)) for s in sorted(needed)}
        ).T
    _log(f"RDKit 2D descriptors for {len(needed)} molecules: {t.wall:.0f} s")
    preds, info = {}, {"descriptor_seconds": t.wall, "n_descriptors": X.shape[1], "tasks": {}}
    for task, y in train.items():
        forest = RandomForestRegressor(
            n_estimators=args.rf_trees,
            n_jobs=args.rf_jobs,
            max_features=args.rf_max_features,
            random_state=args.seed,
        )
        with timed() as t:
            forest.fit(X.loc[y.index].to_numpy(), y.to_numpy())
            preds[task] = forest.predict(X.loc[test_of[task]].to_numpy())
        info["tasks"][task] = {"n_train": len(y), "fit_seconds": t.wall}
    return preds, info


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    from gate_core.models.checkpoint import load_checkpoint
    from gate_core.training.backbone_split import rebuild_split

    if args.threads:
        limit_threads(args.threads)
    elapsed = stopwatch()
    model, meta = load_checkpoint(args.backbone)
    config, table, folds = rebuild_split(meta)  # as ``pretrain`` made it, hash and sizes checked
    if config.max_molecules:
        raise ValueError(
            "the backbone was trained on a max_molecules subsample; the baselines need the full table"
        )
    pre, measured, tasks = meta["pretraining"], model.property_names, args.tasks.split(",")
    if unknown := set(tasks) - set(measured):  # a v2 table also has descriptor families
        raise ValueError(f"tasks {unknown} are not the backbone's properties {measured}")
    labels = pd.DataFrame(table.Y, index=table.smiles, columns=table.tasks)
    train, val, test = (labels.iloc[f] for f in folds)
    _log(f"split rebuilt and checked: {len(train)}/{len(val)}/{len(test)} molecules")
    reference = dict.fromkeys(val.index, "val") | dict.fromkeys(test.index, "test")  # rest: train
    y = {t: test[t].dropna() for t in measured}  # each property's labelled test molecules

    preds: dict[str, dict[str, np.ndarray]] = {m: {} for m in METHOD_LABELS}  # [method][property]
    details = {}
    for method, path in (("gate", args.backbone), ("multitask", args.noalign)):
        if not Path(path, "metadata.json").is_file():
            details[method] = {"checkpoint": str(path), "missing": True}
            continue
        with timed() as clock:
            p, details[method] = _checkpoint_predictions(path, list(test.index), pre)
        details[method]["predict_seconds"] = clock.wall
        if details[method]["same_split_as_backbone"]:
            preds[method] = {t: p.loc[v.index, t].to_numpy() for t, v in y.items() if t in p}
    details["single_task"] = {}
    for t in tasks:
        preds["single_task"][t], details["single_task"][t] = _single_task(
            config, t, reference, args, list(y[t].index)
        )
    preds["rf"], details["rf"] = _rf(
        labels, list(train.index), {t: list(y[t].index) for t in tasks}, args
    )
    properties = {
        t: compare_property(
            v.to_numpy(np.float64),
            {m: p[t].astype(np.float64) for m, p in preds.items() if t in p},
            args.bootstrap,
            args.seed,
        )
        for t, v in y.items()
        if len(v)
    }
    split = {"kind": config.split, "fractions": list(config.split_fractions), "seed": config.seed}
    split["data_hash"] = pre["data_hash"]
    split |= {"train": len(train), "val": len(val), "test": len(test)}
    results = {
        "what": "test-fold RMSE/MAE/R² (property units) on the backbone's scaffold split; rmse_ci95 and winner checks by bootstrap",
        "backbone": str(args.backbone),
        "backbone_id": details["gate"]["backbone_id"],
        "split": split,
        "settings": settings(args),
        "methods": METHOD_LABELS,
        "details": details,
        "properties": properties,
        "wall_seconds": elapsed(),
    }
    return write_results(NAME, results, markdown, args.results_dir, rows=csv_rows(NAME, results))


def markdown(results: dict) -> str:
    """The result's one renderer (its .md, docs/benchmarks.md, the app page)."""
    props, s, split, details = (results[k] for k in ("properties", "settings", "split", "details"))
    methods = [m for m in METHOD_LABELS if any(m in p["methods"] for p in props.values())]

    def cell(p: dict, m: str) -> str:
        r, bold = p["methods"].get(m), "**" * (p["winner"] == m)
        return "—" if r is None else f"{bold}{r['rmse']:.3g}{bold} / {fmt(r['r2'], '.3f', 'n/a')}"

    def verdict(p: dict) -> str:
        if len(p["methods"]) < 2:
            sure = "only method"
        elif p["n_test"] < MIN_TEST_FOR_VERDICT:
            sure = f"fewer than {MIN_TEST_FOR_VERDICT} test molecules: no verdict"
        elif p.get("winner_distinguishable"):
            sure = "clear"
        else:
            sure = f"within noise of {METHOD_LABELS[p['runner_up']]}"
        return f"{METHOD_LABELS[p['winner']]} ({sure})"

    focus = s["tasks"].split(",")
    order = [t for t in focus if t in props] + [t for t in props if t not in focus]
    rows = [
        [t, props[t]["n_test"], *[cell(props[t], m) for m in methods], verdict(props[t])]
        for t in order
    ]
    every = [t for t, p in props.items() if len(methods) > 1 and set(p["methods"]) == set(methods)]
    wins = ", ".join(
        f"{METHOD_LABELS[m]} {sum(props[t]['winner'] == m for t in every)}" for m in methods
    )
    rmse = {t: {m: r["rmse"] for m, r in p["methods"].items()} for t, p in props.items()}
    vs = [t for t in props if {"gate", "multitask"} <= set(rmse[t])]
    why = "missing" if details["multitask"].get("missing") else "not on the backbone's split"
    versus = f"lower RMSE on {sum(rmse[t]['gate'] < rmse[t]['multitask'] for t in vs)} of {len(vs)} properties"
    single = "; ".join(
        f"{t}: {d['epochs_run']} epochs (best {d['best_epoch']}, stopped by {d['stopped_by']}), {d['wall_seconds']:.0f} s"
        for t, d in details["single_task"].items()
    )
    return f"""# Backbone quality on its scaffold test split

Backbone `{results["backbone"]}`; split {split["kind"]} {split["fractions"]} seed {split["seed"]}
({split["train"]:,} / {split["val"]:,} / {split["test"]:,} molecules, data hash
`{split["data_hash"]}`). Cells: test **RMSE** (property units) / R²; bold = lowest RMSE; "clear" =
the paired-bootstrap 95 % interval of the gap to the runner-up excludes 0.

{table(f"property | n test | {' | '.join(METHOD_LABELS[m] for m in methods)} | winner", rows)}

- Wins by lowest RMSE: {wins} (on the {len(every)} properties scored by every method: {", ".join(every) or "none"}).
- GATE vs the same network without alignment losses: {versus if vs else f"not compared (checkpoint {why})"}.
- Single-task models ({", ".join(focus)}): l_reg only, ≤ {s["epochs"]} epochs and ≤ {s["max_minutes"]} min each. {single}
- Random forest: {s["rf_trees"]} trees (max_features {s["rf_max_features"]}) on all {details["rf"]["n_descriptors"]} RDKit 2D descriptors.
"""
