"""Backbone v2 against v1: what the drug-like, many-source foundation changed.

Nothing is trained here; every section reads checkpoints and result files: shared-source test
error on both backbones' common test molecules, v2's family R², how v2 was built, the
descriptor-input ablation and task addition v1 vs v2. Inputs and sections: bench/README.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench.common import REPO_ROOT, fmt, records_table, table, write_results
from bench.stats import compare_over_targets, interval, rmse_bootstrap
from gate_core.paths import DEFAULT_BACKBONE

NAME = "backbone_v2"
DESCRIPTION = "backbone v2 vs v1: shared-source test error, family R², build throughput, descriptor-input ablation, task addition"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add, work, results = parser.add_argument, REPO_ROOT / "bench/work", REPO_ROOT / "bench/results"
    add(
        "--v1", default=str(work / "v1/assets/backbone"), help="git archive 69cb01a assets/backbone"
    )
    add("--v2", default=str(DEFAULT_BACKBONE))
    add("--gpu-run", help="a v2 checkpoint pre-trained on a GPU (for the GPU figure)")
    add("--ablation-on", default=str(work / "ablation_desc_on"))
    add("--ablation-off", default=str(work / "ablation_desc_off"))
    add("--task-addition-v1", default=str(results / "task_addition_v1.json"))
    add("--task-addition-v2", default=str(results / "task_addition_v2.json"))
    add("--bootstrap", type=int, default=2000)
    add("--min-molecules", type=int, default=10, help="labelled common test molecules per source")


def _test_fold(path: str) -> tuple:
    """(model, metadata, test-fold SMILES, the rebuilt table)."""
    from gate_core.models.checkpoint import load_checkpoint
    from gate_core.training.backbone_split import rebuild_split

    model, meta = load_checkpoint(path)
    _, table, (_, _, test) = rebuild_split(meta, None)
    return model, meta, [table.smiles[i] for i in test], table


def _column_predictions(model, smiles: list[str], names: list[str]) -> np.ndarray:  # noqa: ANN001 - a GATEModel
    from gate_core.training.evaluate import predict

    values = predict(model, smiles)
    return values[:, [model.output_names.index(n) for n in names]]


def _paired_rmse(y: np.ndarray, a: np.ndarray, b: np.ndarray, n_boot: int, seed: int = 0) -> dict:
    draws = rmse_bootstrap(y, {"v1": a, "v2": b}, n_boot, seed)
    return {
        "n": int(len(y)),
        "rmse_v1": float(np.sqrt(((a - y) ** 2).mean())),
        "rmse_v2": float(np.sqrt(((b - y) ** 2).mean())),
        "v1_minus_v2_ci95": interval(draws["v1"] - draws["v2"]),
    }


def shared_sources(v1_path: str, v2_path: str, n_boot: int, min_molecules: int = 10) -> dict:
    v1, _, test1, table1 = _test_fold(v1_path)
    v2, _, test2, table2 = _test_fold(v2_path)
    common = sorted(set(test1) & set(test2))
    shared = [t for t in v1.property_names if t in v2.property_names]
    row1 = {s: i for i, s in enumerate(table1.smiles)}
    labels = (
        np.array([table1.Y[row1[s], [table1.tasks.index(t) for t in shared]] for s in common])
        if common
        else np.zeros((0, len(shared)))
    )
    p1, p2 = _column_predictions(v1, common, shared), _column_predictions(v2, common, shared)
    per_source, ratios = {}, {}
    for j, task in enumerate(shared):
        known = np.isfinite(labels[:, j])
        if known.sum() < min_molecules:
            continue
        per_source[task] = _paired_rmse(labels[known, j], p1[known, j], p2[known, j], n_boot)
        ratios[task] = {"v2": per_source[task]["rmse_v2"] / per_source[task]["rmse_v1"], "v1": 1.0}
    overall = (
        compare_over_targets(ratios, "v2", ["v1"], n_bootstrap=n_boot)
        if ratios
        else {"n_targets": 0}
    )
    return {
        "test_molecules_v1": len(test1),
        "test_molecules_v2": len(test2),
        "common_test_molecules": len(common),
        "per_source": per_source,
        "ratio_v2_to_v1": overall,
    }


def _pretraining(meta: dict, path: str) -> dict:
    pre = meta.get("pretraining", {})
    size = sum(f.stat().st_size for f in Path(path).iterdir() if f.is_file())
    return {
        "n_molecules": pre.get("n_molecules"),
        "n_tasks": len(pre.get("tasks", [])),
        "epochs_run": pre.get("epochs_run"),
        "best_epoch": pre.get("best_epoch"),
        "wall_minutes": (pre.get("wall_seconds") or 0) / 60,
        "train_molecules_per_second": pre.get("train_molecules_per_second"),
        "featurize_seconds": pre.get("featurize_seconds"),
        "device": pre.get("device"),
        "world_size": pre.get("world_size"),
        "size_mb": size / 2**20,
        "max_minutes": pre.get("config", {}).get("max_minutes"),
    }


def pretraining(v2_path: str, gpu_run: str | None) -> dict:
    from gate_core.models.checkpoint import read_metadata

    out = {"cpu": _pretraining(read_metadata(v2_path), v2_path)}
    out["gpu"] = (
        _pretraining(read_metadata(gpu_run), gpu_run)
        if gpu_run
        else "not measured: no GPU was lent to this session"
    )
    return out


def descriptor_input(on_path: str, off_path: str) -> dict:
    from gate_core.models.checkpoint import read_metadata

    if not (Path(on_path).is_dir() and Path(off_path).is_dir()):
        return {"status": "not run", "how": "bench/README.md, section backbone_v2"}
    on, off = read_metadata(on_path)["pretraining"], read_metadata(off_path)["pretraining"]
    families = {
        f: {
            "r2_with_input": on["family_test_metrics"][f]["r2_mean"],
            "r2_without_input": off["family_test_metrics"][f]["r2_mean"],
        }
        for f in on.get("family_test_metrics", {})
        if f in off.get("family_test_metrics", {})
    }
    sources = {
        t: {
            "rmse_with_input": on["test_metrics"][t]["rmse"],
            "rmse_without_input": off["test_metrics"][t]["rmse"],
        }
        for t in on.get("test_metrics", {})
        if t in off.get("test_metrics", {})
    }
    same_split = on.get("data_hash") == off.get("data_hash") and on.get("split") == off.get("split")
    return {
        "status": "run",
        "same_split": same_split,
        "n_molecules": on.get("n_molecules"),
        "epochs_run": [on.get("epochs_run"), off.get("epochs_run")],
        "families": families,
        "sources": sources,
        "mean_family_r2": [
            float(np.mean([v["r2_with_input"] for v in families.values()])),
            float(np.mean([v["r2_without_input"] for v in families.values()])),
        ]
        if families
        else None,
        "sources_better_with_input": sum(
            v["rmse_with_input"] < v["rmse_without_input"] for v in sources.values()
        ),
        "n_sources": len(sources),
    }


GATE_METHODS = ("probe", "uniform", "learned")
BASELINES = ("rf", "lgbm", "single_task")
#: v2 learned λ against (the best of) these, beside v2 vs v1 per GATE method
COMPARISONS = {
    "v2_learned_vs_best_baseline": ("v2_learned", [f"v1_{b}" for b in BASELINES]),
    "v2_learned_vs_v2_uniform": ("v2_learned", ["v2_uniform"]),
}


def _per_target(rows: list[dict], metric: str, part: str | None) -> dict[str, dict[str, float]]:
    """target → method → mean over its cells of ``metric`` (on the ``part`` of the test set, or all of it)."""
    values: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        value = (row.get("parts", {}).get(part, {}) if part else row).get(metric)
        if value is not None and np.isfinite(value):
            values.setdefault(row["target"], {}).setdefault(row["method"], []).append(float(value))
    return {t: {m: float(np.mean(v)) for m, v in ms.items()} for t, ms in values.items()}


def task_addition(v1_file: str, v2_file: str, n_boot: int = 2000) -> dict:
    """v1 vs v2 per GATE method over targets, and v2 against the best backbone-free baseline (cells of the v1 run).

    Regression targets by nRMSE (lower is better), classification by ROC-AUC, each on the whole
    test set and on its molecules neither backbone saw ("unseen" is judged per backbone; v2 saw more).
    """
    if not (Path(v1_file).is_file() and Path(v2_file).is_file()):
        return {"status": "not run", "files": [v1_file, v2_file]}
    rows1, rows2 = (
        json.loads(Path(v1_file).read_text())["rows"],
        json.loads(Path(v2_file).read_text())["rows"],
    )
    cells1 = {(r["target"], r["seed"], str(r["size"])): r["n_test"] for r in rows1}
    cells2 = {(r["target"], r["seed"], str(r["size"])): r["n_test"] for r in rows2}
    common = {c for c in cells1 if c in cells2 and cells1[c] == cells2[c]}
    rows1 = [r for r in rows1 if (r["target"], r["seed"], str(r["size"])) in common]
    rows2 = [r for r in rows2 if (r["target"], r["seed"], str(r["size"])) in common]
    out: dict = {"status": "run", "cells": len(common)}
    for metric, higher in (("nrmse", False), ("roc_auc", True)):
        for part in (None, "unseen"):
            t1, t2 = _per_target(rows1, metric, part), _per_target(rows2, metric, part)
            merged = {
                t: {
                    **{f"v1_{m}": v for m, v in t1[t].items()},
                    **{f"v2_{m}": v for m, v in t2.get(t, {}).items()},
                }
                for t in t1
            }
            versus = {f"v2_vs_v1_{m}": (f"v2_{m}", [f"v1_{m}"]) for m in GATE_METHODS}
            out[f"{metric}_{part or 'all'}"] = {"per_target": merged} | {
                name: compare_over_targets(
                    merged, method, baselines, higher_is_better=higher, n_bootstrap=n_boot
                )
                for name, (method, baselines) in (versus | COMPARISONS).items()
            }
    return out


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    from gate_core.models.checkpoint import read_metadata

    results = {
        "sources": shared_sources(args.v1, args.v2, args.bootstrap, args.min_molecules),
        "families": read_metadata(args.v2)["pretraining"].get("family_test_metrics", {}),
        "pretraining": pretraining(args.v2, args.gpu_run),
        "descriptor_input": descriptor_input(args.ablation_on, args.ablation_off),
        "task_addition": task_addition(
            args.task_addition_v1, args.task_addition_v2, args.bootstrap
        ),
    }
    return write_results(NAME, results, markdown, getattr(args, "results_dir", None))


def _f(x: object, digits: int = 3) -> str:
    return fmt(x, f".{digits}f", "–") if x is None or isinstance(x, float) else str(x)


def markdown(r: dict) -> str:
    s = r["sources"]
    lines = [
        "# Backbone v2 vs v1",
        "",
        f"## Shared measured sources ({s['common_test_molecules']} molecules in both test folds)",
        "",
    ]
    per_source = [{"source": t, **m} for t, m in s["per_source"].items()]
    for m in per_source:
        m["ci"] = f"[{_f(m['v1_minus_v2_ci95'][0])}, {_f(m['v1_minus_v2_ci95'][1])}]"
    lines.append(
        records_table(
            "source | n | RMSE v1 | RMSE v2 | v1 − v2 (95 % CI)",
            "source n rmse_v1:.3f rmse_v2:.3f ci",
            per_source,
        )
    )
    o = s["ratio_v2_to_v1"]
    if o.get("n_targets"):
        lines += [
            "",
            f"Mean RMSE ratio v2 / v1 over {o['n_targets']} sources: {o['mean']['v2']:.3f} "
            f"(95 % CI {o['ci95']['v2'][0]:.3f}–{o['ci95']['v2'][1]:.3f}); v2 lower on {o['targets_won']}.",
        ]
    lines += [
        "",
        "## Descriptor families (v2 test fold, transformed labels)",
        "",
        records_table(
            "family | columns | R² mean | R² worst",
            "family columns r2_mean:.3f r2_min:.3f",
            [{"family": f, **m} for f, m in r["families"].items()],
        ),
    ]
    cpu = r["pretraining"]["cpu"]
    lines += [
        "",
        "## Pre-training",
        "",
        f"CPU: {cpu['n_molecules']} molecules, {cpu['n_tasks']} tasks, {cpu['epochs_run']} epochs (best {cpu['best_epoch']}) "
        f"in {cpu['wall_minutes']:.1f} min (budget {cpu['max_minutes']} min), {_f(cpu['train_molecules_per_second'], 0)} molecules/s, "
        f"{cpu['size_mb']:.1f} MB. GPU: {r['pretraining']['gpu'] if isinstance(r['pretraining']['gpu'], str) else _f(r['pretraining']['gpu']['train_molecules_per_second'], 0) + ' molecules/s'}.",
    ]
    d = r["descriptor_input"]
    lines += ["", "## Descriptor input to h (ablation, reduced scale)", ""]
    if d["status"] == "run":
        lines.append(
            f"{d['n_molecules']} molecules, epochs {d['epochs_run']}, same split: {d['same_split']}. "
            f"Mean family R² with / without the 19 input descriptors: {_f(d['mean_family_r2'][0])} / {_f(d['mean_family_r2'][1])}; "
            f"measured sources better with them: {d['sources_better_with_input']} of {d['n_sources']}."
        )
        lines += [
            "",
            records_table(
                "family | R² with input | R² without",
                "family r2_with_input:.3f r2_without_input:.3f",
                [{"family": f, **v} for f, v in d["families"].items()],
            ),
        ]
    else:
        lines.append("not run")
    t = r["task_addition"]
    lines += ["", "## Task addition, v1 vs v2 (same cells)", ""]
    if t["status"] != "run":
        lines.append("not run")
        return "\n".join(lines)
    labels = {"nrmse_all": "nRMSE, all test", "nrmse_unseen": "nRMSE, unseen"}
    labels |= {"roc_auc_all": "ROC-AUC, all test", "roc_auc_unseen": "ROC-AUC, unseen"}
    names = [*(f"v2_vs_v1_{m}" for m in GATE_METHODS), *COMPARISONS]
    rows = [
        [label, name.replace("_", " "), c["n_targets"], f"{c['ratio_to_best']:.3f}"]
        + [f"{c['ratio_ci95'][0]:.3f}–{c['ratio_ci95'][1]:.3f}"]
        + [f"{c['targets_won']}/{c['n_targets']} ({c['best_baseline']})"]
        for key, label in labels.items()
        for name in names
        if (c := t[key][name]).get("n_targets")
    ]
    lines.append(f"{t['cells']} cells in both runs (same targets, seeds, n and test sets).")
    lines += ["", table("metric | comparison | targets | ratio | 95 % CI | won vs", rows)]
    return "\n".join(lines)
