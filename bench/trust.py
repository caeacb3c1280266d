"""Predictions a chemist can trust (issue 12): every molecule used, calibrated intervals, gated corrections.

Per target, seed and training size n on ``bench/task_addition.py``'s nested scaffold splits (the
test set never seen by any model): the new default (every molecule trains, out-of-fold quality)
against the old one (15 % internal test set), interval coverage, the recommended model, and on
the backbone's own split its property intervals and gated known-value pairs (bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.common import REPO_ROOT, records_table, write_results
from gate_core.paths import DEFAULT_BACKBONE

NAME = "trust"
DESCRIPTION = "every molecule used (OOF vs held-out error), 90 % interval coverage, model recommendation, backbone intervals, gated known-value corrections"
NOMINAL = 0.9
#: Task addition's default before every molecule trained the model: this share of scaffolds held out.
OLD_DEFAULT_TEST_FRACTION = 0.15
TOLERANCE = 0.05
WORK = REPO_ROOT / "bench" / "work"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--targets", default="huuskonen_logS,freesolv,Tflash_K", help="regression targets")
    add("--sizes", default="50,100,300")
    add("--seeds", default="0,1")
    add("--ensemble", type=int, default=5)
    add("--test-fraction", type=float, default=0.2, help="held-out scaffold fraction")
    add("--threads", type=int, default=1)
    add("--skip-backbone", action="store_true", help="skip the backbone-property and pair parts")
    add("--backbone", default=str(DEFAULT_BACKBONE))
    add("--calibration-dir", default=str(WORK / "calibration"), help="calibration cache")
    add("--only-finished", action="store_true", help="train nothing: summarise finished cells")
    add("--cells", default=str(WORK / "trust_cells.jsonl"), help="finished cells, reused on rerun")


def _rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y) - np.asarray(p)) ** 2)))


def _cover(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    return float(np.mean((lo <= y) & (y <= hi)))


def task_cell(studio, ts, n: int, ensemble: int) -> dict:
    """One (target, seed, n): new default vs old default, intervals, the three models."""
    import torch

    from gate_core.training.evaluate import embed
    from gate_core.transfer.addition import TaskAdditionConfig, add_task

    idx = ts.train_index(n)
    smiles, y = [ts.smiles[i] for i in idx], ts.y[idx]
    name = f"{ts.name}_{ts.seed}_{n}"
    frame = __import__("pandas").DataFrame({"smiles": smiles, "value": y})
    record, result = studio.add_task(
        frame,
        "smiles",
        "value",
        name,
        config=TaskAdditionConfig(ensemble=ensemble, seed=ts.seed, train_baseline=True),
    )
    task = studio.load_task(name)
    with torch.no_grad():
        h = embed(studio.backbone, ts.test_smiles)
        chart = studio.backbone.latents(h)[1].mean(dim=0)
    y_test = ts.y_test
    per_model = {}
    for model in task.available_models():
        preview = studio._preview_values(name, h, chart) if model == "preview" else None
        out = task.predict_from_representation(h, chart, model, preview)
        per_model[model] = {
            "rmse": _rmse(y_test, out["mean"]),
            "coverage90": _cover(y_test, out["lo"], out["hi"]),
            "width90": float(np.mean(out["hi"] - out["lo"])),
        }
    gate = task.predict_from_representation(h, chart, "gate")
    std = gate["std"]
    old = add_task(
        studio.backbone,
        smiles,
        y.tolist(),
        name,
        TaskAdditionConfig(
            ensemble=ensemble, seed=ts.seed, test_fraction=OLD_DEFAULT_TEST_FRACTION
        ),
    )
    old_out = old.task.predict_from_representation(h, chart, "gate")
    oof_rmse = record.metrics["comparison"]["gate"]["rmse"]
    recommended = record.metrics["recommended"]
    labels = gate["domain"]
    by_domain = {
        d: {
            "n": int((labels == d).sum()),
            "coverage90": _cover(
                y_test[labels == d], gate["lo"][labels == d], gate["hi"][labels == d]
            ),
        }
        for d in np.unique(labels)
    }
    return {
        "target": ts.name,
        "seed": ts.seed,
        "n": n,
        "n_test": len(y_test),
        "test_std": ts.test_std,
        "new_test_rmse": per_model["gate"]["rmse"],
        "new_oof_rmse": oof_rmse,
        "new_estimate_ratio": oof_rmse / per_model["gate"]["rmse"],
        "old_test_rmse": _rmse(y_test, old_out["mean"]),
        "old_n_trained": old.task.metadata["n_train"],
        "old_internal_test_rmse": (old.test_metrics or {}).get("rmse"),
        "old_estimate_ratio": (old.test_metrics or {}).get("rmse", np.nan)
        / _rmse(y_test, old_out["mean"]),
        "coverage90": per_model["gate"]["coverage90"],
        "width90": per_model["gate"]["width90"],
        "raw_std_coverage": _cover(y_test, gate["mean"] - std, gate["mean"] + std),
        "raw_std_width": float(np.mean(2 * std)),
        "coverage_by_domain": by_domain,
        "models": per_model,
        "recommended": recommended,
        "best_on_test": min(per_model, key=lambda m: per_model[m]["rmse"]),
        "recommended_test_rmse": per_model[recommended]["rmse"],
    }


def _mean_or_none(values: list) -> float | None:
    return float(np.mean(values)) if values else None


def backbone_part(studio) -> dict:
    """Coverage of the backbone properties' intervals on the backbone's test split; gated vs ungated pairs."""
    import torch

    from gate_core.reliability import held_out_split

    calibration = studio.backbone_calibration()
    held, _, _ = held_out_split(studio.backbone, studio.backbone_metadata, "test")
    properties = {}
    for k, task in enumerate(studio.backbone.property_names):
        rows = np.flatnonzero(np.isfinite(held.Y[:, k]))
        if task not in calibration.calibrations or not len(rows):
            continue
        ad = calibration.domains[task].score(held.chart[torch.as_tensor(rows)]).numpy()
        lo, hi = calibration.calibrations[task].interval.bounds(held.plain[rows, k], ad)
        properties[task] = {
            "n": len(rows),
            "coverage90": _cover(held.Y[rows, k], lo, hi),
            "width90": float(np.mean(hi - lo)),
            "test_rmse": _rmse(held.Y[rows, k], held.plain[rows, k]),
        }
    predictor = studio.relational()
    gate = studio.reliability.pair_gate(predictor)
    names = studio.backbone.property_names
    pairs = []
    for j, known in enumerate(names):
        rows = np.flatnonzero(np.isfinite(held.Y[:, j]))
        targets = [t for t in names if t != known]
        if not len(rows):
            continue
        with torch.no_grad():
            out = predictor.predict_scaled(
                held.h[torch.as_tensor(rows)], targets, [{known: float(v)} for v in held.Y[rows, j]]
            )
        for c, target in enumerate(targets):
            both = np.isfinite(held.Y[rows, names.index(target)])
            if both.sum() < 10:
                continue
            y = held.Y[rows[both], names.index(target)]
            plain, corrected = _rmse(y, out["plain"][both, c]), _rmse(y, out["relational"][both, c])
            pairs.append(
                {
                    "known": known,
                    "target": target,
                    "n": int(both.sum()),
                    "accepted": gate.accepted(known, target),
                    "test_gain": 1 - corrected / plain,
                }
            )
    accepted = [p for p in pairs if p["accepted"]]
    return {
        "properties": properties,
        "mean_coverage90": float(np.mean([p["coverage90"] for p in properties.values()])),
        "pairs": pairs,
        "n_pairs_judged": len(gate.verdicts),
        "n_pairs_accepted": sum(v.accepted for v in gate.verdicts.values()),
        "accepted_mean_test_gain": _mean_or_none([p["test_gain"] for p in accepted]),
        "accepted_share_helping_on_test": _mean_or_none([p["test_gain"] > 0 for p in accepted]),
        "ungated_mean_test_gain": _mean_or_none([p["test_gain"] for p in pairs]),
        "ungated_share_hurting_on_test": _mean_or_none([p["test_gain"] < 0 for p in pairs]),
    }


def _cached_backbone_part(studio, path: Path) -> dict:
    """:func:`backbone_part`, reused from ``path`` when it was measured on the same backbone and head."""
    from gate_core.models.fingerprint import backbone_fingerprint

    key = {
        "backbone_id": studio.backbone_id,
        "head_id": backbone_fingerprint(studio.relational().head),
    }
    if path.is_file() and (cached := json.loads(path.read_text())).get("key") == key:
        return cached["result"]
    result = backbone_part(studio)
    path.write_text(json.dumps({"key": key, "result": result}, default=float))
    return result


def _mean(cells: list[dict], value: Callable[[dict], float]) -> float:
    """Mean of ``value(cell)`` over ``cells``, NaN (a cell without the figure) left out."""
    return float(np.nanmean([value(c) for c in cells]))


def summarise(cells: list[dict]) -> dict:
    by_size = {}
    for n in sorted({c["n"] for c in cells}):
        cs = [c for c in cells if c["n"] == n]
        by_size[n] = {
            "cells": len(cs),
            "new_vs_old_test_rmse": _mean(cs, lambda c: c["new_test_rmse"] / c["old_test_rmse"]),
            "new_better_in": sum(c["new_test_rmse"] < c["old_test_rmse"] for c in cs),
            "oof_estimate_abs_log_error": _mean(cs, lambda c: abs(np.log(c["new_estimate_ratio"]))),
            "oof_estimate_ratio_mean": _mean(cs, lambda c: c["new_estimate_ratio"]),
            "old_estimate_abs_log_error": _mean(cs, lambda c: abs(np.log(c["old_estimate_ratio"]))),
            "coverage90": _mean(cs, lambda c: c["coverage90"]),
            "width90_over_raw_std_width": _mean(cs, lambda c: c["width90"] / c["raw_std_width"]),
            "raw_std_coverage": _mean(cs, lambda c: c["raw_std_coverage"]),
            "recommended_is_best_on_test": sum(c["recommended"] == c["best_on_test"] for c in cs),
            "recommended_vs_gate_test_rmse": _mean(
                cs, lambda c: c["recommended_test_rmse"] / c["new_test_rmse"]
            ),
        }
    coverage = _mean(cells, lambda c: c["coverage90"])
    return {
        "by_size": by_size,
        "coverage90": coverage,
        "coverage_within_tolerance": abs(coverage - NOMINAL) <= TOLERANCE,
        "new_vs_old_test_rmse": _mean(cells, lambda c: c["new_test_rmse"] / c["old_test_rmse"]),
    }


def markdown(results: dict) -> str:
    s = results["summary"]
    lines = [
        "# Predictions a chemist can trust (issue 12)",
        "",
        f"Targets {', '.join(results['settings']['targets'])}; seeds {results['settings']['seeds']}; K = {results['settings']['ensemble']}; "
        f"held-out test set: {results['settings']['test_fraction']:.0%} of scaffolds, never trained on. "
        "New default: every molecule trains the ensemble (K scaffold folds), quality = out-of-fold RMSE. Old default: 15 % of the n held out as an internal test set.",
        "",
        f"**90 % interval coverage on the held-out test sets: {s['coverage90']:.3f}** (target 0.90 ± 0.05: {'met' if s['coverage_within_tolerance'] else 'NOT met'}). "
        f"Held-out RMSE new / old default: {s['new_vs_old_test_rmse']:.3f}.",
        "",
        records_table(
            "n | cells | RMSE new/old | new better in | OOF/held-out RMSE | abs. log error OOF"
            " | abs. log error old internal test | coverage 90 % | width / raw 2·std"
            " | raw ±std coverage | recommended = test best | recommended/GATE RMSE",
            "n cells new_vs_old_test_rmse new_better_in oof_estimate_ratio_mean"
            " oof_estimate_abs_log_error old_estimate_abs_log_error coverage90"
            " width90_over_raw_std_width raw_std_coverage recommended_is_best_on_test"
            " recommended_vs_gate_test_rmse",
            [{"n": n, **v} for n, v in s["by_size"].items()],
        ),
    ]
    b = results.get("backbone")
    if b:
        lines += [
            "",
            f"## Backbone properties (interval calibrated on the validation split, scored on the test split): mean coverage {b['mean_coverage90']:.3f}",
            "",
            records_table(
                "property | n | coverage 90 % | mean width | test RMSE",
                "property n coverage90 width90 test_rmse",
                [{"property": t, **v} for t, v in b["properties"].items()],
            ),
            "",
            f"## Known-value corrections: {b['n_pairs_accepted']} of {b['n_pairs_judged']} pairs accepted on the validation split",
            "",
            f"On the test split: accepted pairs change RMSE by {-(b['accepted_mean_test_gain'] or 0):+.2%} on average and help in "
            f"{(b['accepted_share_helping_on_test'] or 0):.0%} of them; all pairs ungated: {-(b['ungated_mean_test_gain'] or 0):+.2%}, "
            f"worse than plain in {(b['ungated_share_hurting_on_test'] or 0):.0%}.",
        ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    from bench.task_addition import TargetSplit
    from gate_core.api import GateStudio
    from gate_core.threads import configure_threads

    configure_threads(args.threads)
    targets = [t for t in args.targets.split(",") if t]
    sizes = [int(n) for n in args.sizes.split(",") if n]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    cells_path = Path(args.cells)
    cells_path.parent.mkdir(parents=True, exist_ok=True)
    same_settings = {"ensemble": args.ensemble, "test_fraction": args.test_fraction}
    lines = cells_path.read_text().splitlines() if cells_path.is_file() else []
    done = {
        (c["target"], c["seed"], c["n"]): c
        for c in map(json.loads, lines)
        if all(c.get(k) == v for k, v in same_settings.items())
    }
    with tempfile.TemporaryDirectory(prefix="gate-trust-") as tmp:
        studio = GateStudio(args.backbone, tmp)
        # computed once per backbone and head, like the app's data folder
        studio.reliability.folder = Path(args.calibration_dir)
        cells = []
        for target in targets:
            for seed in seeds:
                ts = TargetSplit(target, seed, args.test_fraction)
                for n in sizes:
                    if n > ts.pool_size:
                        continue
                    if (target, seed, n) not in done and args.only_finished:
                        continue
                    if (target, seed, n) not in done:
                        cell = {**task_cell(studio, ts, n, args.ensemble), **same_settings}
                        with cells_path.open("a") as fh:
                            fh.write(json.dumps(cell, default=float) + "\n")
                        done[(target, seed, n)] = cell
                    cells.append(done[(target, seed, n)])
                    print(
                        f"[trust] {target} seed {seed} n {n}: test RMSE new {cells[-1]['new_test_rmse']:.3f} old {cells[-1]['old_test_rmse']:.3f} "
                        f"OOF {cells[-1]['new_oof_rmse']:.3f} coverage {cells[-1]['coverage90']:.2f}",
                        flush=True,
                    )
        backbone = (
            None
            if args.skip_backbone
            else _cached_backbone_part(studio, cells_path.with_name("trust_backbone.json"))
        )
    results = {
        "settings": {
            "targets": targets,
            "sizes": sizes,
            "seeds": seeds,
            "ensemble": args.ensemble,
            "test_fraction": args.test_fraction,
            "threads": args.threads,
            "nominal": NOMINAL,
        },
        "summary": summarise(cells),
        "cells": cells,
        "backbone": backbone,
    }
    rows = [{k: v for k, v in c.items() if not isinstance(v, dict)} for c in cells]
    return write_results(NAME, results, markdown, args.results_dir, rows=rows)
