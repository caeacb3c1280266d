"""Backbone v2 against v1: what the drug-like, many-source foundation changed.

Nothing is trained here; every section reads checkpoints and result files. Inputs and sections:
bench/README.md (``backbone_v2``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import REPO_ROOT, fmt, records_table, write_results
from bench.stats import compare_over_targets, interval, rmse_bootstrap
from gate_core.paths import DEFAULT_BACKBONE

NAME = "backbone_v2"
DESCRIPTION = "backbone v2 vs v1: shared-source test error, family R², build throughput, descriptor-input ablation, task addition"
#: what the result keeps of a build's ``pretraining`` metadata
BUILD_KEYS = "n_molecules epochs_run best_epoch train_molecules_per_second featurize_seconds device world_size"
GATE_METHODS = ("probe", "uniform", "learned")
BASELINES = ("rf", "lgbm", "single_task")
#: each comparison: a method against (the best of) the others; per target, mean over its cells
COMPARISONS = {f"v2_vs_v1_{m}": (f"v2_{m}", [f"v1_{m}"]) for m in GATE_METHODS} | {
    "v2_learned_vs_best_baseline": ("v2_learned", [f"v1_{b}" for b in BASELINES]),
    "v2_learned_vs_v2_uniform": ("v2_learned", ["v2_uniform"]),
}
METRICS = {"nrmse": "nRMSE", "roc_auc": "ROC-AUC"}  # regression, classification


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add, work, results = parser.add_argument, REPO_ROOT / "bench/work", REPO_ROOT / "bench/results"
    add("--v1", default=str(work / "v1/assets/backbone"), help="v1: git archive 69cb01a")
    add("--v2", default=str(DEFAULT_BACKBONE))
    add("--gpu-run", help="a v2 checkpoint pre-trained on a GPU (for the GPU figure)")
    add("--ablation-on", default=str(work / "ablation_desc_on"))
    add("--ablation-off", default=str(work / "ablation_desc_off"))
    add("--task-addition-v1", default=str(results / "task_addition_v1.json"))
    add("--task-addition-v2", default=str(results / "task_addition_v2.json"))
    add("--bootstrap", type=int, default=2000)
    add("--min-molecules", type=int, default=10, help="labelled common test molecules per source")


def shared_sources(v1_path: str, v2_path: str, n_boot: int, min_molecules: int = 10) -> dict:
    """Test RMSE of v1 and v2 per shared measured source on the molecules in both test folds."""
    from bench.backbone_quality import load_with_split
    from gate_core.training.evaluate import predict

    (v1, _, _, table, (_, _, test1)), (v2, _, _, table2, (_, _, test2)) = (
        load_with_split(v1_path),
        load_with_split(v2_path),
    )
    labels = pd.DataFrame(table.Y, index=table.smiles, columns=table.tasks)
    common = sorted({table.smiles[i] for i in test1} & {table2.smiles[i] for i in test2})
    preds = {
        name: pd.DataFrame(predict(m, common), index=common, columns=m.output_names)
        for name, m in (("v1", v1), ("v2", v2))
    }
    per_source = {}
    for task in (t for t in v1.property_names if t in v2.property_names):
        y = labels.loc[common, task].dropna()
        if len(y) < min_molecules:
            continue
        p = {name: v.loc[y.index, task].to_numpy() for name, v in preds.items()}
        draws = rmse_bootstrap(y.to_numpy(), p, n_boot)
        per_source[task] = {"n": len(y)} | {
            f"rmse_{name}": float(np.sqrt(np.mean((v - y.to_numpy()) ** 2)))
            for name, v in p.items()
        }
        per_source[task]["v1_minus_v2_ci95"] = interval(draws["v1"] - draws["v2"])
    ratios = {t: {"v2": m["rmse_v2"] / m["rmse_v1"], "v1": 1.0} for t, m in per_source.items()}
    return {
        "test_molecules_v1": len(test1),
        "test_molecules_v2": len(test2),
        "common_test_molecules": len(common),
        "per_source": per_source,
        "ratio_v2_to_v1": compare_over_targets(ratios, "v2", ["v1"], n_bootstrap=n_boot),
    }


def _build(path: str) -> dict:
    """How a backbone was built: molecules, tasks, epochs, minutes, molecules/s, MB on disk."""
    from gate_core.models.checkpoint import read_metadata

    pre = read_metadata(path).get("pretraining", {})
    size = sum(f.stat().st_size for f in Path(path).iterdir() if f.is_file())
    return {k: pre.get(k) for k in BUILD_KEYS.split()} | {
        "n_tasks": len(pre.get("tasks", [])),
        "wall_minutes": (pre.get("wall_seconds") or 0) / 60,
        "size_mb": size / 2**20,
        "max_minutes": pre.get("config", {}).get("max_minutes"),
    }


def descriptor_input(on_path: str, off_path: str) -> dict:
    """The reduced-scale builds with and without the input descriptors, per family and source."""
    from gate_core.models.checkpoint import read_metadata

    if not (Path(on_path).is_dir() and Path(off_path).is_dir()):
        return {"status": "not run", "how": "bench/README.md, section backbone_v2"}
    on, off = (read_metadata(p)["pretraining"] for p in (on_path, off_path))

    def both(block: str, metric: str, name: str) -> dict:  # {key: {<name>_with_input, ...}}
        a, b = on.get(block, {}), off.get(block, {})
        return {
            k: {f"{name}_with_input": a[k][metric], f"{name}_without_input": b[k][metric]}
            for k in a
            if k in b
        }

    families = both("family_test_metrics", "r2_mean", "r2")
    sources = both("test_metrics", "rmse", "rmse")
    return {
        "status": "run",
        "same_split": all(on.get(k) == off.get(k) for k in ("data_hash", "split")),
        "n_molecules": on.get("n_molecules"),
        "epochs_run": [on.get("epochs_run"), off.get("epochs_run")],
        "families": families,
        "sources": sources,
        "mean_family_r2": np.mean([list(v.values()) for v in families.values()], 0).tolist()
        if families
        else None,
        "sources_better_with_input": sum(
            v["rmse_with_input"] < v["rmse_without_input"] for v in sources.values()
        ),
        "n_sources": len(sources),
    }


def task_addition(v1_file: str, v2_file: str, n_boot: int = 2000) -> dict:
    """v1 vs v2 per GATE method over targets, and v2 against the best backbone-free baseline
    (cells of the v1 run), on the cells (target, seed, n) both runs scored on the same test set.

    Regression by nRMSE, classification by ROC-AUC, on the whole test set and on its molecules
    neither backbone saw ("unseen" is judged per backbone; v2 saw more).
    """
    if not (Path(v1_file).is_file() and Path(v2_file).is_file()):
        return {"status": "not run", "files": [v1_file, v2_file]}
    frames = []
    for version, path in (("v1", v1_file), ("v2", v2_file)):
        rows = pd.json_normalize(json.loads(Path(path).read_text())["rows"])
        frames.append(rows.assign(method=version + "_" + rows["method"], version=version))
    rows = pd.concat(frames, ignore_index=True).astype({"size": str})
    cell = ["target", "seed", "size"]
    n_test = rows.groupby([*cell, "version"])["n_test"].first().unstack()
    common = n_test[n_test["v1"] == n_test["v2"]].index
    rows = rows[rows.set_index(cell).index.isin(common)]
    out: dict = {"status": "run", "cells": len(common)}
    for metric in METRICS:
        for part, column in (("all", metric), ("unseen", f"parts.unseen.{metric}")):
            per_target = (
                rows.pivot_table(column, "target", "method") if column in rows else pd.DataFrame()
            )
            merged = {t: v.dropna().to_dict() for t, v in per_target.iterrows()}
            out[f"{metric}_{part}"] = {"per_target": merged} | {
                name: compare_over_targets(
                    merged, method, others, higher_is_better=metric == "roc_auc", n_bootstrap=n_boot
                )
                for name, (method, others) in COMPARISONS.items()
            }
    return out


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    from gate_core.models.checkpoint import read_metadata

    gpu = _build(args.gpu_run) if args.gpu_run else "not measured: no GPU was lent to this session"
    results = {
        "sources": shared_sources(args.v1, args.v2, args.bootstrap, args.min_molecules),
        "families": read_metadata(args.v2)["pretraining"].get("family_test_metrics", {}),
        "pretraining": {"cpu": _build(args.v2), "gpu": gpu},
        "descriptor_input": descriptor_input(args.ablation_on, args.ablation_off),
        "task_addition": task_addition(
            args.task_addition_v1, args.task_addition_v2, args.bootstrap
        ),
    }
    return write_results(NAME, results, markdown, args.results_dir)


def markdown(r: dict) -> str:
    """The result's one renderer (its .md, docs/benchmarks.md, the app page)."""
    s, cpu, gpu = r["sources"], r["pretraining"]["cpu"], r["pretraining"]["gpu"]
    o, d, t = s["ratio_v2_to_v1"], r["descriptor_input"], r["task_addition"]
    out = [
        "# Backbone v2 vs v1",
        f"## Shared measured sources ({s['common_test_molecules']} molecules in both test folds)",
        records_table(
            "source | n | RMSE v1 | RMSE v2 | v1 − v2 (95 % CI)",
            "source n rmse_v1:.3f rmse_v2:.3f ci",
            [
                m | {"source": k, "ci": "[{:.3f}, {:.3f}]".format(*m["v1_minus_v2_ci95"])}
                for k, m in s["per_source"].items()
            ],
        ),
        f"Mean RMSE ratio v2 / v1 over {o['n_targets']} sources: {o['mean']['v2']:.3f} "
        f"(95 % CI {o['ci95']['v2'][0]:.3f}–{o['ci95']['v2'][1]:.3f}); v2 lower on {o['targets_won']}."
        if o["n_targets"]
        else "No shared source with enough common test molecules.",
        "## Descriptor families (v2 test fold, transformed labels)",
        records_table(
            "family | columns | R² mean | R² worst",
            "family columns r2_mean:.3f r2_min:.3f",
            [{"family": f, **m} for f, m in r["families"].items()],
        ),
        "## Pre-training",
        f"CPU: {cpu['n_molecules']} molecules, {cpu['n_tasks']} tasks, {cpu['epochs_run']} epochs "
        f"(best {cpu['best_epoch']}) in {cpu['wall_minutes']:.1f} min (budget {cpu['max_minutes']} "
        f"min), {fmt(cpu['train_molecules_per_second'], '.0f')} molecules/s, {cpu['size_mb']:.1f} "
        "MB. GPU: "
        + (
            gpu
            if isinstance(gpu, str)
            else f"{fmt(gpu['train_molecules_per_second'], '.0f')} molecules/s"
        )
        + ".",
        "## Descriptor input to h (ablation, reduced scale)",
    ]
    if d["status"] == "run":
        with_input, without = (fmt(x, ".3f") for x in d["mean_family_r2"] or [None, None])
        out += [
            f"{d['n_molecules']} molecules, epochs {d['epochs_run']}, same split: "
            f"{d['same_split']}. Mean family R² with / without the 19 input descriptors: "
            f"{with_input} / {without}; measured sources better with them: "
            f"{d['sources_better_with_input']} of {d['n_sources']}.",
            records_table(
                "family | R² with input | R² without",
                "family r2_with_input:.3f r2_without_input:.3f",
                [{"family": f, **v} for f, v in d["families"].items()],
            ),
        ]
    else:
        out.append("not run")
    out.append("## Task addition, v1 vs v2 (same cells)")
    if t["status"] != "run":
        out.append("not run")
    else:
        rows = [
            c
            | {"metric": f"{label}, {'all test' if part == 'all' else part}"}
            | {"comparison": name.replace("_", " ")}
            | {"ci": "{:.3f}–{:.3f}".format(*c["ratio_ci95"])}
            | {"won": f"{c['targets_won']}/{c['n_targets']} ({c['best_baseline']})"}
            for metric, label in METRICS.items()
            for part in ("all", "unseen")
            for name in COMPARISONS
            if (c := t[f"{metric}_{part}"][name]).get("n_targets")
        ]
        out += [
            f"{t['cells']} cells in both runs (same targets, seeds, n and test sets).",
            records_table(
                "metric | comparison | targets | ratio | 95 % CI | won vs",
                "metric comparison n_targets ratio_to_best:.3f ci won",
                rows,
            ),
        ]
    return "\n\n".join(out)
