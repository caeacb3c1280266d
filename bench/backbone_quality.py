"""Backbone quality on its own scaffold test split: GATE vs plain multi-task vs single-task vs RF.

Every method is scored on exactly the molecules the backbone was tested on: the split is rebuilt
as ``pretrain`` built it, its table hash and fold sizes checked against ``metadata.json``. The
methods, options and metrics are described in bench/README.md (``backbone_quality``).
"""

from __future__ import annotations

import argparse
import copy
import os
from pathlib import Path

import numpy as np

from bench.common import (
    REPO_ROOT,
    csv_rows,
    fmt,
    limit_threads,
    logger,
    md_table,
    settings,
    stopwatch,
    timed,
    write_results,
)
from bench.stats import interval, rmse_bootstrap
from gate_core.paths import DEFAULT_BACKBONE

NAME = "backbone_quality"
DESCRIPTION = "per-property test RMSE/R² on the backbone's scaffold split: GATE, multi-task w/o alignment, single-task, RF"
DEFAULT_TASKS = "Tm_K,Tb_K,logKow,Tc_K"
METHODS = ("gate", "multitask", "single_task", "rf")
METHOD_LABELS = {
    "gate": "GATE backbone",
    "multitask": "multi-task, no alignment",
    "single_task": "single-task D-MPNN",
    "rf": "RF on RDKit 2D",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--backbone", default=str(DEFAULT_BACKBONE))
    add("--noalign", default=str(REPO_ROOT / "bench/work/multitask_noalign"), help="no-alignment")
    add("--train-noalign", action="store_true", help="train --noalign here when it is missing")
    add("--table", help="pre-training table (default: the backbone's)")
    add("--tasks", default=DEFAULT_TASKS, help="properties of the single-task models and the RF")
    add("--epochs", type=int, default=30, help="max epochs per single-task model")
    add("--max-minutes", type=float, default=3.0, help="wall-clock cap per single-task model")
    add("--patience", type=int, help="early-stopping patience (default: the backbone's)")
    add("--threads", type=int, help="torch threads of the single-task models (default: all)")
    add("--rf-trees", type=int, default=500)
    add("--rf-jobs", type=int, default=2)
    add("--rf-max-features", type=float, default=1.0, help="fraction of descriptors per split")
    add("--skip-single-task", action="store_true")
    add("--skip-rf", action="store_true")
    add("--bootstrap", type=int, default=1000, help="bootstrap resamples of the RMSE intervals")
    add("--seed", type=int, default=0, help="seed of the single-task models, RF and bootstrap")


def _resolve(path: str) -> str:
    """Paths stored in metadata are relative to the repository root; accept both."""
    p = Path(path)
    return str(p if p.is_absolute() or p.exists() else REPO_ROOT / p)


_log = logger(NAME)


# ------------------------------------------------------------------------------------------ stats


MIN_TEST_FOR_VERDICT = 10


def compare_property(y: np.ndarray, preds: dict[str, np.ndarray], n_boot: int, seed: int) -> dict:
    """Metrics per method, the winner by RMSE, and a paired bootstrap against the runner-up.

    With fewer than ``MIN_TEST_FOR_VERDICT`` test molecules no winner is called distinguishable
    (a bootstrap of one or two points says nothing).
    """
    from gate_core.training.evaluate import regression_metrics

    draws = rmse_bootstrap(y, preds, n_boot, seed) if len(y) and n_boot else None
    methods = {}
    for name, pred in preds.items():
        m = regression_metrics(y, pred)
        if draws is not None:
            m["rmse_ci95"] = interval(draws[name])
        methods[name] = m
    ranked = sorted(methods, key=lambda k: methods[k]["rmse"])
    out = {
        "n_test": int(len(y)),
        "methods": methods,
        "ranking_by_rmse": ranked,
        "winner": ranked[0] if ranked else None,
    }
    if len(ranked) > 1 and draws is not None:
        best, second = ranked[0], ranked[1]
        lo, hi = interval(draws[second] - draws[best])
        out["runner_up"] = second
        out["rmse_gap_to_runner_up_ci95"] = [lo, hi]
        out["winner_distinguishable"] = bool(lo > 0 and len(y) >= MIN_TEST_FOR_VERDICT)
    return out


# ---------------------------------------------------------------------------------------- methods


def _checkpoint_predictions(
    path: Path, test_smiles: list[str], backbone_pre: dict
) -> tuple[np.ndarray, list[str], dict]:
    from gate_core.models.checkpoint import load_checkpoint
    from gate_core.training.evaluate import predict

    model, meta = load_checkpoint(path)
    pre = meta.get("pretraining", {})
    cfg, bcfg = pre.get("config", {}), backbone_pre["config"]
    same_split = pre.get("data_hash") == backbone_pre["data_hash"] and all(
        cfg.get(k) == bcfg.get(k) for k in ("split", "split_fractions", "seed", "max_molecules")
    )
    info = {
        "checkpoint": str(path),
        "data_hash": pre.get("data_hash"),
        "same_split_as_backbone": bool(same_split),
        "weights": cfg.get("weights"),
        "epochs_run": pre.get("epochs_run"),
        "best_epoch": pre.get("best_epoch"),
        "wall_seconds": pre.get("wall_seconds"),
    }
    return predict(model, test_smiles), list(model.task_names), info


def _train_noalign(config, path: Path, reference: dict[str, str]) -> None:
    from gate_core.training.objective import LossWeights
    from gate_core.training.pretrain import pretrain

    cfg = copy.deepcopy(config)
    cfg.weights = LossWeights(auto=0, cons=0, map=0, dis=0)
    _log(f"training the no-alignment multi-task model into {path} (≤ {cfg.max_minutes} min)")
    pretrain(cfg, out_dir=path, progress=False, split_reference=reference)


STOPPED_BY = {"epochs": "epoch limit", "patience": "early stopping", "time": "time limit"}


def _single_task(
    config, task: str, reference: dict[str, str], args: argparse.Namespace, test_smiles: list[str]
) -> tuple[np.ndarray, dict]:
    from gate_core.training.evaluate import predict
    from gate_core.training.objective import LossWeights
    from gate_core.training.pretrain import pretrain

    cfg = copy.deepcopy(config)
    cfg.tasks, cfg.weights = [task], LossWeights(auto=0, cons=0, map=0, dis=0)
    cfg.epochs, cfg.max_minutes, cfg.seed = args.epochs, args.max_minutes, args.seed
    if args.patience is not None:
        cfg.patience = args.patience
    cfg.threads = args.threads or len(os.sched_getaffinity(0))
    with timed() as t:
        result = pretrain(cfg, out_dir=None, progress=False, split_reference=reference)
    seconds = t.wall
    if result.split["test"] != len(test_smiles):
        raise RuntimeError(
            f"single-task {task}: {result.split['test']} test molecules, expected {len(test_smiles)}"
        )
    pred = predict(result.model, test_smiles)[:, 0]
    info = {
        k: getattr(result, k) for k in ("epochs_run", "best_epoch", "best_val_reg", "train_seconds")
    }
    stopped = STOPPED_BY[result.stopped_by]
    info |= {"wall_seconds": seconds, "split": result.split, "epochs_max": cfg.epochs}
    info |= {"max_minutes": cfg.max_minutes, "patience": cfg.patience, "threads": cfg.threads}
    info["stopped_by"] = stopped
    _log(
        f"single-task {task}: {info['epochs_run']} epochs (best {info['best_epoch']}, stopped by {stopped}), {seconds:.0f} s"
    )
    return pred, info


def _rf(task_data: dict[str, dict], args: argparse.Namespace) -> tuple[dict[str, np.ndarray], dict]:
    from rdkit import Chem
    from sklearn.ensemble import RandomForestRegressor

    from gate_core.featurizers.descriptors import all_rdkit_descriptors

    needed = sorted(
        {s for d in task_data.values() for s in (*d["train_smiles"], *d["test_smiles"])}
    )
    with timed() as t:
        features = {s: all_rdkit_descriptors(Chem.MolFromSmiles(s)) for s in needed}
    _log(f"RDKit 2D descriptors for {len(needed)} molecules: {t.wall:.0f} s")
    n_descriptors = len(next(iter(features.values()))) if features else 0
    preds, info = {}, {"descriptor_seconds": t.wall, "n_descriptors": n_descriptors, "tasks": {}}
    for task, d in task_data.items():
        X_train = np.stack([features[s] for s in d["train_smiles"]])
        X_test = np.stack([features[s] for s in d["test_smiles"]])
        forest = RandomForestRegressor(
            n_estimators=args.rf_trees,
            n_jobs=args.rf_jobs,
            max_features=args.rf_max_features,
            random_state=args.seed,
        )
        with timed() as t:
            forest.fit(X_train, d["train_y"])
            preds[task] = forest.predict(X_test)
        info["tasks"][task] = {"n_train": len(X_train), "fit_seconds": t.wall}
        _log(f"RF {task}: {len(X_train)} training molecules, {t.wall:.0f} s")
    return preds, info


# -------------------------------------------------------------------------------------------- run


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    from gate_core.models.checkpoint import read_metadata

    if args.threads:
        limit_threads(args.threads)
    elapsed = stopwatch()
    backbone = Path(_resolve(args.backbone))
    meta = read_metadata(backbone)
    pre = meta["pretraining"]
    from gate_core.training.backbone_split import rebuild_split

    config, table, (train_idx, val_idx, test_idx) = rebuild_split(meta, args.table)
    fold = np.empty(len(table), dtype=object)
    fold[train_idx], fold[val_idx], fold[test_idx] = "train", "val", "test"
    reference = dict(zip(table.smiles, fold.tolist()))
    test_smiles = [table.smiles[i] for i in test_idx]
    y_test = table.Y[test_idx]
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in table.tasks]
    if unknown:
        raise ValueError(f"tasks {unknown} are not backbone tasks ({', '.join(table.tasks)})")
    _log(
        f"backbone split rebuilt and checked: {len(train_idx)}/{len(val_idx)}/{len(test_idx)} molecules, hash {pre['data_hash']}"
    )

    # preds[method][task] = predictions on the test molecules that have a label for task
    known = {t: np.isfinite(y_test[:, j]) for j, t in enumerate(table.tasks)}
    preds: dict[str, dict[str, np.ndarray]] = {m: {} for m in METHODS}
    details: dict[str, dict] = {}

    with timed() as clock:
        p, names, info = _checkpoint_predictions(backbone, test_smiles, pre)
    for t in table.tasks:
        preds["gate"][t] = p[known[t], names.index(t)]
    details["gate"] = {**info, "predict_seconds": clock.wall}

    noalign = Path(_resolve(args.noalign))
    if not (noalign / "metadata.json").is_file() and args.train_noalign:
        _train_noalign(config, noalign, reference)
    if (noalign / "metadata.json").is_file():
        p, names, info = _checkpoint_predictions(noalign, test_smiles, pre)
        details["multitask"] = info
        if info["same_split_as_backbone"]:
            for t in table.tasks:
                if t in names:
                    preds["multitask"][t] = p[known[t], names.index(t)]
        else:
            _log(f"{noalign} was not trained on the backbone's split: left out")
    else:
        details["multitask"] = {"checkpoint": str(noalign), "missing": True}
        _log(
            f"{noalign} not found: multi-task-without-alignment column left out (use --train-noalign)"
        )

    if config.max_molecules and not (args.skip_single_task and args.skip_rf):
        raise ValueError(
            "the backbone was trained on a max_molecules subsample; single-task/RF baselines need the full table"
        )
    if not args.skip_single_task:
        details["single_task"] = {}
        for t in tasks:
            t_test = [s for s, k in zip(test_smiles, known[t]) if k]
            preds["single_task"][t], details["single_task"][t] = _single_task(
                config, t, reference, args, t_test
            )
    if not args.skip_rf:
        task_data = {}
        for t in tasks:
            j = table.tasks.index(t)
            tr = train_idx[np.isfinite(table.Y[train_idx, j])]
            task_data[t] = {
                "train_smiles": [table.smiles[i] for i in tr],
                "train_y": table.Y[tr, j],
                "test_smiles": [s for s, k in zip(test_smiles, known[t]) if k],
            }
        preds["rf"], details["rf"] = _rf(task_data, args)

    properties = {}
    for j, t in enumerate(table.tasks):
        y = y_test[known[t], j].astype(np.float64)
        if not len(y):
            continue
        available = {m: preds[m][t].astype(np.float64) for m in METHODS if t in preds[m]}
        properties[t] = compare_property(y, available, args.bootstrap, args.seed)

    results = {
        "what": "test-fold RMSE/MAE/R² (property units) on the backbone's scaffold split; rmse_ci95 and winner checks by bootstrap",
        "backbone": str(backbone),
        "split": {
            "kind": config.split,
            "fractions": list(config.split_fractions),
            "seed": config.seed,
            "data_hash": pre["data_hash"],
            "train": len(train_idx),
            "val": len(val_idx),
            "test": len(test_idx),
        },
        "settings": settings(args),
        "methods": {m: METHOD_LABELS[m] for m in METHODS},
        "details": details,
        "properties": properties,
        "wall_seconds": elapsed(),
    }
    return write_results(NAME, results, markdown, args.results_dir, rows=csv_rows(NAME, results))


def markdown(results: dict) -> str:
    """The result's one renderer (its .md, docs/benchmarks.md, the app page)."""
    props, settings_ = results["properties"], results["settings"]
    focus = [t for t in str(settings_["tasks"] or "").split(",") if t]

    def cell(t: str, m: str) -> str:
        r = props[t]["methods"].get(m)
        if r is None:
            return "—"
        bold = "**" if props[t]["winner"] == m else ""
        return f"{bold}{r['rmse']:.3g}{bold} / {fmt(r['r2'], '.3f', 'n/a')}"

    def verdict(t: str) -> str:
        p = props[t]
        if len(p["methods"]) < 2:
            return METHOD_LABELS[p["winner"]] + " (only method)"
        if p["n_test"] < MIN_TEST_FOR_VERDICT:
            sure = f"fewer than {MIN_TEST_FOR_VERDICT} test molecules: no verdict"
        elif p.get("winner_distinguishable"):
            sure = "clear"
        else:
            sure = "within noise of " + METHOD_LABELS[p["runner_up"]]
        return f"{METHOD_LABELS[p['winner']]} ({sure})"

    methods = [m for m in METHODS if any(m in props[t]["methods"] for t in props)]
    order = [t for t in focus if t in props] + [t for t in props if t not in focus]
    rows = [[t, props[t]["n_test"], *[cell(t, m) for m in methods], verdict(t)] for t in order]
    contested = [t for t in props if len(methods) > 1 and set(props[t]["methods"]) == set(methods)]
    wins = {m: sum(props[t]["winner"] == m for t in contested) for m in methods}
    gate_vs_mt = [t for t in props if {"gate", "multitask"} <= set(props[t]["methods"])]
    gate_better = sum(
        props[t]["methods"]["gate"]["rmse"] < props[t]["methods"]["multitask"]["rmse"]
        for t in gate_vs_mt
    )
    missing = results["details"].get("multitask", {}).get("missing")
    st = results["details"].get("single_task", {})
    st_line = "; ".join(
        f"{t}: {d['epochs_run']} epochs (best {d['best_epoch']}, stopped by {d['stopped_by']}), {d['wall_seconds']:.0f} s"
        for t, d in st.items()
    )
    split, details = results["split"], results["details"]
    st_text = (
        f"- Single-task models ({', '.join(focus)}): l_reg only, ≤ {settings_['epochs']} epochs and "
        f"≤ {settings_['max_minutes']} min each. {st_line}\n"
        if st
        else "- Single-task models: not run (--skip-single-task).\n"
    )
    rf_text = (
        f"- Random forest: {settings_['rf_trees']} trees (max_features "
        f"{settings_['rf_max_features']}) on all {details['rf']['n_descriptors']} RDKit 2D "
        "descriptors.\n"
        if "rf" in details
        else "- Random forest: not run (--skip-rf).\n"
    )
    return f"""# Backbone quality on its scaffold test split

Backbone `{results["backbone"]}`; split {split["kind"]} {split["fractions"]} seed {split["seed"]}
({split["train"]:,} / {split["val"]:,} / {split["test"]:,} molecules, data hash
`{split["data_hash"]}`). Cells: test **RMSE** (property units) / R²; bold = lowest RMSE; "clear" =
the paired-bootstrap 95 % interval of the gap to the runner-up excludes 0.

{md_table(["property", "n test", *[METHOD_LABELS[m] for m in methods], "winner"], rows)}

- Wins by lowest RMSE: {", ".join(f"{METHOD_LABELS[m]} {wins[m]}" for m in methods)} (on the {len(contested)} properties scored by every method: {", ".join(contested) or "none"}).
- {f"GATE vs the same network without alignment losses: lower RMSE on {gate_better} of {len(gate_vs_mt)} properties." if gate_vs_mt else "GATE vs the same network without alignment losses: not compared (" + ("checkpoint missing" if missing else "checkpoint not on the backbone's split") + ")."}
{st_text}{rf_text}"""
