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
    add("--tasks", default=DEFAULT_TASKS, help="properties of the single-task models and the RF")
    add("--epochs", type=int, default=30, help="max epochs per single-task model")
    add("--max-minutes", type=float, default=3.0, help="wall-clock cap per single-task model")
    add("--patience", type=int, help="early-stopping patience (default: the backbone's)")
    add("--threads", type=int, help="torch threads of the single-task models (default: all)")
    add("--rf-trees", type=int, default=500)
    add("--rf-jobs", type=int, default=2)
    add("--rf-max-features", type=float, default=1.0, help="fraction of descriptors per split")
    add("--bootstrap", type=int, default=1000, help="bootstrap resamples of the RMSE intervals")
    add("--seed", type=int, default=0, help="seed of the single-task models, RF and bootstrap")


def _resolve(path: str) -> Path:
    """Paths stored in metadata are relative to the repository root; accept both."""
    return Path(path) if Path(path).exists() else REPO_ROOT / path


_log = logger(NAME)
MIN_TEST_FOR_VERDICT = 10


def compare_property(y: np.ndarray, preds: dict[str, np.ndarray], n_boot: int, seed: int) -> dict:
    """Metrics per method, the winner by RMSE, and a paired bootstrap against the runner-up.

    With fewer than ``MIN_TEST_FOR_VERDICT`` test molecules no winner is called distinguishable
    (a bootstrap of one or two points says nothing).
    """
    from gate_core.training.evaluate import regression_metrics

    draws = rmse_bootstrap(y, preds, n_boot, seed) if len(y) and n_boot else None
    methods = {name: regression_metrics(y, pred) for name, pred in preds.items()}
    for name in methods if draws is not None else ():
        methods[name]["rmse_ci95"] = interval(draws[name])
    ranked = sorted(methods, key=lambda k: methods[k]["rmse"])
    out = {"n_test": int(len(y)), "methods": methods, "ranking_by_rmse": ranked}
    out["winner"] = ranked[0] if ranked else None
    if len(ranked) > 1 and draws is not None:
        lo, hi = interval(draws[ranked[1]] - draws[ranked[0]])
        out["runner_up"] = ranked[1]
        out["rmse_gap_to_runner_up_ci95"] = [lo, hi]
        out["winner_distinguishable"] = bool(lo > 0 and len(y) >= MIN_TEST_FOR_VERDICT)
    return out


# ---------------------------------------------------------------------------------------- methods


def _checkpoint_predictions(path: Path, test_smiles: list[str], backbone_pre: dict) -> tuple:
    """(test predictions, output names, what the checkpoint is and whether it shares the split)."""
    from gate_core.models.checkpoint import load_checkpoint
    from gate_core.models.fingerprint import backbone_fingerprint
    from gate_core.training.evaluate import predict

    model, meta = load_checkpoint(path)
    pre = meta.get("pretraining", {})
    cfg, bcfg = pre.get("config", {}), backbone_pre["config"]
    same_split = pre.get("data_hash") == backbone_pre["data_hash"] and all(
        cfg.get(k) == bcfg.get(k) for k in ("split", "split_fractions", "seed", "max_molecules")
    )
    info = {"checkpoint": str(path), "data_hash": pre.get("data_hash")}
    info["backbone_id"] = backbone_fingerprint(model)
    info |= {"same_split_as_backbone": bool(same_split), "weights": cfg.get("weights")}
    info |= {k: pre.get(k) for k in ("epochs_run", "best_epoch", "wall_seconds")}
    return predict(model, test_smiles), list(model.output_names), info


def _property_names(path: Path) -> list[str]:
    """The backbone's measured properties (a v2 backbone's tasks also include descriptor families)."""
    from gate_core.models.checkpoint import read_metadata
    from gate_core.models.gate import GATEConfig

    return GATEConfig.from_dict(read_metadata(path)["config"]).property_names


def _regression_only(config, reference: dict[str, str], out_dir: Path | None = None, **changes):
    """``pretrain`` of the backbone's config with every alignment loss off (l_reg only), its folds
    pinned to the backbone's split: the no-alignment multi-task model, or a single-task one."""
    from gate_core.training.objective import LossWeights
    from gate_core.training.pretrain import pretrain

    cfg = dataclasses.replace(config, weights=LossWeights(auto=0, cons=0, map=0, dis=0), **changes)
    return pretrain(cfg, out_dir=out_dir, progress=False, split_reference=reference)


STOPPED_BY = {"epochs": "epoch limit", "patience": "early stopping", "time": "time limit"}


def _single_task(config, task, reference, args, test_smiles) -> tuple[np.ndarray, dict]:
    from gate_core.training.evaluate import predict

    # corpus=None: a single-task model learns the property alone, not a v2 backbone's
    # descriptor families beside it
    changes = {"tasks": [task], "corpus": None, "epochs": args.epochs}
    changes |= {"max_minutes": args.max_minutes}
    changes |= {"seed": args.seed, "threads": args.threads or len(os.sched_getaffinity(0))}
    if args.patience is not None:
        changes["patience"] = args.patience
    with timed() as t:
        result = _regression_only(config, reference, **changes)
    if result.split["test"] != len(test_smiles):
        raise RuntimeError(
            f"single-task {task}: {result.split['test']} test molecules, expected {len(test_smiles)}"
        )
    info = {
        k: getattr(result, k) for k in ("epochs_run", "best_epoch", "best_val_reg", "train_seconds")
    }
    info |= {"wall_seconds": t.wall, "split": result.split, "epochs_max": args.epochs}
    info |= {"max_minutes": args.max_minutes, "patience": changes.get("patience", config.patience)}
    info |= {"threads": changes["threads"], "stopped_by": STOPPED_BY[result.stopped_by]}
    _log(f"single-task {task}: {info['epochs_run']} epochs, stopped by {info['stopped_by']}")
    return predict(result.model, test_smiles)[:, 0], info


def _rf(table, train_idx: np.ndarray, test_smiles: dict[str, list[str]], args) -> tuple[dict, dict]:
    """A random forest per task on all RDKit 2D descriptors, trained on the backbone's training
    fold (its molecules labelled for the task) and scored on ``test_smiles[task]``."""
    from rdkit import Chem
    from sklearn.ensemble import RandomForestRegressor

    from gate_core.featurizers.descriptors import all_rdkit_descriptors

    column = {t: table.tasks.index(t) for t in test_smiles}
    train = {t: train_idx[np.isfinite(table.Y[train_idx, j])] for t, j in column.items()}
    needed = {table.smiles[i] for idx in train.values() for i in idx}
    needed |= {s for smiles in test_smiles.values() for s in smiles}
    with timed() as t:
        features = {s: all_rdkit_descriptors(Chem.MolFromSmiles(s)) for s in sorted(needed)}
    _log(f"RDKit 2D descriptors for {len(needed)} molecules: {t.wall:.0f} s")
    n_descriptors = len(next(iter(features.values()))) if features else 0
    preds, info = {}, {"descriptor_seconds": t.wall, "n_descriptors": n_descriptors, "tasks": {}}
    for task, idx in train.items():
        X_train = np.stack([features[table.smiles[i]] for i in idx])
        X_test = np.stack([features[s] for s in test_smiles[task]])
        forest = RandomForestRegressor(
            n_estimators=args.rf_trees,
            n_jobs=args.rf_jobs,
            max_features=args.rf_max_features,
            random_state=args.seed,
        )
        with timed() as t:
            preds[task] = forest.fit(X_train, table.Y[idx, column[task]]).predict(X_test)
        info["tasks"][task] = {"n_train": len(X_train), "fit_seconds": t.wall}
    return preds, info


# -------------------------------------------------------------------------------------------- run


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    from gate_core.models.checkpoint import read_metadata
    from gate_core.training.backbone_split import rebuild_split

    if args.threads:
        limit_threads(args.threads)
    elapsed = stopwatch()
    backbone = _resolve(args.backbone)
    meta = read_metadata(backbone)
    pre = meta["pretraining"]
    config, table, (train_idx, val_idx, test_idx) = rebuild_split(meta)
    if config.max_molecules:
        raise ValueError(
            "the backbone was trained on a max_molecules subsample; the baselines need the full table"
        )
    fold = np.empty(len(table), dtype=object)
    fold[train_idx], fold[val_idx], fold[test_idx] = "train", "val", "test"
    reference = dict(zip(table.smiles, fold.tolist()))
    test_smiles = np.array([table.smiles[i] for i in test_idx], dtype=object)
    y_test = table.Y[test_idx]
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if unknown := [t for t in tasks if t not in _property_names(backbone)]:
        raise ValueError(
            f"tasks {unknown} are not the backbone's properties ({', '.join(_property_names(backbone))})"
        )
    _log(f"split rebuilt and checked: {len(train_idx)}/{len(val_idx)}/{len(test_idx)} molecules")

    # preds[method][task] = predictions on the test molecules that have a label for task
    known = {t: np.isfinite(y_test[:, j]) for j, t in enumerate(table.tasks)}
    preds: dict[str, dict[str, np.ndarray]] = {m: {} for m in METHODS}
    with timed() as clock:
        p, names, info = _checkpoint_predictions(backbone, list(test_smiles), pre)
    # the measured properties; a v2 backbone's table also has its descriptor-family columns
    measured = [t for t in table.tasks if t in _property_names(backbone)]
    preds["gate"] = {t: p[known[t], names.index(t)] for t in measured}
    details = {"gate": info | {"predict_seconds": clock.wall}}

    noalign = _resolve(args.noalign)
    if not (noalign / "metadata.json").is_file() and args.train_noalign:
        _log(f"training the no-alignment multi-task model into {noalign}")
        _regression_only(config, reference, out_dir=noalign)
    if (noalign / "metadata.json").is_file():
        p, names, details["multitask"] = _checkpoint_predictions(noalign, list(test_smiles), pre)
        if details["multitask"]["same_split_as_backbone"]:
            preds["multitask"] = {t: p[known[t], names.index(t)] for t in measured if t in names}
    else:
        details["multitask"] = {"checkpoint": str(noalign), "missing": True}
    test_of = {t: list(test_smiles[known[t]]) for t in tasks}  # the task's labelled test molecules
    details["single_task"] = {}
    for t in tasks:
        preds["single_task"][t], details["single_task"][t] = _single_task(
            config, t, reference, args, test_of[t]
        )
    preds["rf"], details["rf"] = _rf(table, train_idx, test_of, args)

    properties = {}
    for j, t in enumerate(table.tasks):
        if t in measured and known[t].any():
            available = {m: preds[m][t].astype(np.float64) for m in METHODS if t in preds[m]}
            y = y_test[known[t], j].astype(np.float64)
            properties[t] = compare_property(y, available, args.bootstrap, args.seed)

    results = {
        "what": "test-fold RMSE/MAE/R² (property units) on the backbone's scaffold split; rmse_ci95 and winner checks by bootstrap",
        "backbone": str(backbone),
        "backbone_id": details["gate"]["backbone_id"],
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
        "methods": METHOD_LABELS,
        "details": details,
        "properties": properties,
        "wall_seconds": elapsed(),
    }
    return write_results(NAME, results, markdown, args.results_dir, rows=csv_rows(NAME, results))


def markdown(results: dict) -> str:
    """The result's one renderer (its .md, docs/benchmarks.md, the app page)."""
    props, s, split, details = (results[k] for k in ("properties", "settings", "split", "details"))
    focus = [t for t in str(s["tasks"] or "").split(",") if t]
    methods = [m for m in METHODS if any(m in props[t]["methods"] for t in props)]

    def cell(t: str, m: str) -> str:
        r, bold = props[t]["methods"].get(m), "**" * (props[t]["winner"] == m)
        return "—" if r is None else f"{bold}{r['rmse']:.3g}{bold} / {fmt(r['r2'], '.3f', 'n/a')}"

    def verdict(p: dict) -> str:
        if len(p["methods"]) < 2:
            sure = "only method"
        elif p["n_test"] < MIN_TEST_FOR_VERDICT:
            sure = f"fewer than {MIN_TEST_FOR_VERDICT} test molecules: no verdict"
        else:
            sure = (
                "clear"
                if p.get("winner_distinguishable")
                else f"within noise of {METHOD_LABELS[p['runner_up']]}"
            )
        return f"{METHOD_LABELS[p['winner']]} ({sure})"

    order = [t for t in focus if t in props] + [t for t in props if t not in focus]
    rows = [
        [t, props[t]["n_test"], *[cell(t, m) for m in methods], verdict(props[t])] for t in order
    ]
    contested = [t for t in props if len(methods) > 1 and set(props[t]["methods"]) == set(methods)]
    wins = ", ".join(
        f"{METHOD_LABELS[m]} {sum(props[t]['winner'] == m for t in contested)}" for m in methods
    )
    rmse = {t: {m: r["rmse"] for m, r in props[t]["methods"].items()} for t in props}
    vs_mt = [t for t in props if {"gate", "multitask"} <= set(rmse[t])]
    gate_better = sum(rmse[t]["gate"] < rmse[t]["multitask"] for t in vs_mt)
    why = (
        "checkpoint missing"
        if details["multitask"].get("missing")
        else "checkpoint not on the backbone's split"
    )
    single = "; ".join(
        f"{t}: {d['epochs_run']} epochs (best {d['best_epoch']}, stopped by {d['stopped_by']}), {d['wall_seconds']:.0f} s"
        for t, d in details["single_task"].items()
    )
    return f"""# Backbone quality on its scaffold test split

Backbone `{results["backbone"]}`; split {split["kind"]} {split["fractions"]} seed {split["seed"]}
({split["train"]:,} / {split["val"]:,} / {split["test"]:,} molecules, data hash
`{split["data_hash"]}`). Cells: test **RMSE** (property units) / R²; bold = lowest RMSE; "clear" =
the paired-bootstrap 95 % interval of the gap to the runner-up excludes 0.

{md_table(["property", "n test", *[METHOD_LABELS[m] for m in methods], "winner"], rows)}

- Wins by lowest RMSE: {wins} (on the {len(contested)} properties scored by every method: {", ".join(contested) or "none"}).
- GATE vs the same network without alignment losses: {f"lower RMSE on {gate_better} of {len(vs_mt)} properties" if vs_mt else f"not compared ({why})"}.
- Single-task models ({", ".join(focus)}): l_reg only, ≤ {s["epochs"]} epochs and ≤ {s["max_minutes"]} min each. {single}
- Random forest: {s["rf_trees"]} trees (max_features {s["rf_max_features"]}) on all {details["rf"]["n_descriptors"]} RDKit 2D descriptors.
"""
