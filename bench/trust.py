"""Predictions a chemist can trust (issue 12): every molecule used, calibrated intervals, gated corrections.

Per target, seed and training size n on ``bench/task_addition.py``'s nested scaffold splits (the
test set never seen by any model): the new default (every molecule trains, out-of-fold quality)
against the old one (15 % internal test set), interval coverage, the recommended model, and on
the backbone's own split its property intervals and gated known-value pairs (bench/README.md).
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import REPO_ROOT, fmt, logger, records_table, write_results
from gate_core.paths import DEFAULT_BACKBONE

NAME = "trust"
DESCRIPTION = "every molecule used (OOF vs held-out error), 90 % interval coverage, model recommendation, backbone intervals, gated known-value corrections"
NOMINAL = 0.9
#: Task addition's default before every molecule trained the model: this share of scaffolds held out.
OLD_DEFAULT_TEST_FRACTION = 0.15
TOLERANCE = 0.05
WORK = REPO_ROOT / "bench" / "work"
SETTINGS = ("targets", "sizes", "seeds", "ensemble", "test_fraction", "threads")


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--targets", default="huuskonen_logS,freesolv,Tflash_K", type=lambda s: s.split(","))
    add("--sizes", default="50,100,300", type=_ints)
    add("--seeds", default="0,1", type=_ints)
    add("--ensemble", type=int, default=5)
    add("--test-fraction", type=float, default=0.2, help="held-out scaffold fraction")
    add("--threads", type=int, default=1)
    add("--skip-backbone", action="store_true", help="skip the backbone-property and pair parts")
    add("--backbone", default=str(DEFAULT_BACKBONE))
    add("--calibration-dir", default=str(WORK / "calibration"), help="calibration cache")
    add("--cells", default=str(WORK / "trust_cells.jsonl"), help="finished cells, reused on rerun")


_log = logger(NAME)


def _rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y) - np.asarray(p)) ** 2)))


def _interval(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> dict[str, float]:
    """How often ``y`` falls in [lo, hi] and the interval's mean width."""
    return {"coverage90": float(np.mean((lo <= y) & (y <= hi))), "width90": float(np.mean(hi - lo))}


def task_cell(studio, ts, n: int, ensemble: int) -> dict:
    """One (target, seed, n): new default vs old default, intervals, the three models."""
    import torch

    from gate_core.training.evaluate import embed
    from gate_core.transfer.addition import TaskAdditionConfig, add_task

    idx = ts.train_index(n)
    smiles, y = [ts.smiles[i] for i in idx], ts.y[idx]
    name = f"{ts.name}_{ts.seed}_{n}"
    frame = pd.DataFrame({"smiles": smiles, "value": y})
    config = TaskAdditionConfig(ensemble=ensemble, seed=ts.seed, train_baseline=True)
    record, _ = studio.add_task(frame, "smiles", "value", name, config=config)
    task = studio.load_task(name)
    with torch.no_grad():
        h = embed(studio.backbone, ts.test_smiles)
        chart = studio.backbone.latents(h)[1].mean(dim=0)
    y_test, out = ts.y_test, {}
    for model in task.available_models():
        preview = studio._preview_values(name, h, chart) if model == "preview" else None
        out[model] = task.predict_from_representation(h, chart, model, preview)
    models = {
        m: {"rmse": _rmse(y_test, o["mean"]), **_interval(y_test, o["lo"], o["hi"])}
        for m, o in out.items()
    }
    new, gate, recommended = models["gate"], out["gate"], record.metrics["recommended"]
    old_config = TaskAdditionConfig(
        ensemble=ensemble, seed=ts.seed, test_fraction=OLD_DEFAULT_TEST_FRACTION
    )
    old = add_task(studio.backbone, smiles, y.tolist(), name, old_config)
    old_rmse = _rmse(y_test, old.task.predict_from_representation(h, chart, "gate")["mean"])
    old_internal = (old.test_metrics or {}).get("rmse", np.nan)  # none when nothing was held out
    oof_rmse = record.metrics["comparison"]["gate"]["rmse"]
    inside = pd.Series((gate["lo"] <= y_test) & (y_test <= gate["hi"]))
    raw = _interval(y_test, gate["mean"] - gate["std"], gate["mean"] + gate["std"])
    return {
        "target": ts.name,
        "seed": ts.seed,
        "n": n,
        "n_test": len(y_test),
        "test_std": ts.test_std,
        "new_test_rmse": new["rmse"],
        "new_oof_rmse": oof_rmse,
        "new_estimate_ratio": oof_rmse / new["rmse"],
        "old_test_rmse": old_rmse,
        "old_n_trained": old.task.metadata["n_train"],
        "old_internal_test_rmse": old_internal,
        "old_estimate_ratio": old_internal / old_rmse,
        "coverage90": new["coverage90"],
        "width90": new["width90"],
        "raw_std_coverage": raw["coverage90"],
        "raw_std_width": raw["width90"],
        "coverage_by_domain": {
            d: {"n": len(g), "coverage90": g.mean()} for d, g in inside.groupby(gate["domain"])
        },
        "models": models,
        "recommended": recommended,
        "best_on_test": min(models, key=lambda m: models[m]["rmse"]),
        "recommended_test_rmse": models[recommended]["rmse"],
    }


def backbone_part(studio) -> dict:
    """Coverage of the backbone properties' intervals on the backbone's test split; gated vs ungated pairs."""
    import torch

    from gate_core.reliability import held_out_split

    calibration = studio.backbone_calibration()
    held, _, _ = held_out_split(studio.backbone, studio.backbone_metadata, "test")
    names = studio.backbone.property_names
    labelled = [np.flatnonzero(np.isfinite(held.Y[:, k])) for k in range(len(names))]
    properties = {}
    for k, (task, rows) in enumerate(zip(names, labelled)):
        if task not in calibration.calibrations or not len(rows):
            continue
        ad = calibration.domains[task].score(held.chart[torch.as_tensor(rows)]).numpy()
        lo, hi = calibration.calibrations[task].interval.bounds(held.plain[rows, k], ad)
        y, plain = held.Y[rows, k], held.plain[rows, k]
        properties[task] = {"n": len(rows), **_interval(y, lo, hi), "test_rmse": _rmse(y, plain)}
    predictor = studio.relational()
    gate = studio.reliability.pair_gate(predictor)
    pairs = []
    for j, (known, rows) in enumerate(zip(names, labelled)):
        if len(rows) < 10:  # no pair can have 10 test molecules labelled with both
            continue
        targets = [t for t in names if t != known]
        revealed = [{known: float(v)} for v in held.Y[rows, j]]
        with torch.no_grad():
            out = predictor.predict_scaled(held.h[torch.as_tensor(rows)], targets, revealed)
        for c, target in enumerate(targets):
            y = held.Y[rows, names.index(target)]
            both = np.isfinite(y)
            if both.sum() < 10:  # pairs labelled on at least 10 test molecules
                continue
            plain, corrected = (_rmse(y[both], out[m][both, c]) for m in ("plain", "relational"))
            pair = {"known": known, "target": target, "n": int(both.sum())}
            pair |= {"accepted": gate.accepted(known, target), "test_gain": 1 - corrected / plain}
            pairs.append(pair)
    table = pd.DataFrame(pairs, columns=["known", "target", "n", "accepted", "test_gain"])
    gain = table.test_gain
    accepted = gain[table.accepted]  # NaN when none is accepted (null in the JSON)
    return {
        "properties": properties,
        "mean_coverage90": pd.DataFrame(properties).loc["coverage90"].mean(),
        "pairs": pairs,
        "n_pairs_judged": len(gate.verdicts),
        "n_pairs_accepted": sum(v.accepted for v in gate.verdicts.values()),
        "accepted_mean_test_gain": accepted.mean(),
        "accepted_share_helping_on_test": (accepted > 0).mean(),
        "ungated_mean_test_gain": gain.mean(),
        "ungated_share_hurting_on_test": (gain < 0).mean(),
    }


def summarise(cells: list[dict]) -> dict:
    """Per n, means over cells (NaN left out) of each comparison; counts where it says "in"/"is"."""
    c = pd.DataFrame(cells)
    per_cell = pd.DataFrame(
        {
            "new_vs_old_test_rmse": c.new_test_rmse / c.old_test_rmse,
            "new_better_in": c.new_test_rmse < c.old_test_rmse,
            "oof_estimate_abs_log_error": np.log(c.new_estimate_ratio).abs(),
            "oof_estimate_ratio_mean": c.new_estimate_ratio,
            "old_estimate_abs_log_error": np.log(c.old_estimate_ratio).abs(),
            "coverage90": c.coverage90,
            "width90_over_raw_std_width": c.width90 / c.raw_std_width,
            "raw_std_coverage": c.raw_std_coverage,
            "recommended_is_best_on_test": c.recommended == c.best_on_test,
            "recommended_vs_gate_test_rmse": c.recommended_test_rmse / c.new_test_rmse,
        }
    )
    counts = ["new_better_in", "recommended_is_best_on_test"]
    by_size = {
        int(n): {"cells": len(g), **g.mean().to_dict(), **g[counts].sum().astype(int).to_dict()}
        for n, g in per_cell.groupby(c["n"])
    }
    coverage = float(per_cell["coverage90"].mean())
    return {
        "by_size": by_size,
        "coverage90": coverage,
        "coverage_within_tolerance": abs(coverage - NOMINAL) <= TOLERANCE,
        "new_vs_old_test_rmse": float(per_cell["new_vs_old_test_rmse"].mean()),
    }


def markdown(results: dict) -> str:
    s, settings = results["summary"], results["settings"]
    blocks = [
        "# Predictions a chemist can trust (issue 12)",
        f"Targets {', '.join(settings['targets'])}; seeds {settings['seeds']}; K = {settings['ensemble']}; "
        f"held-out test set: {settings['test_fraction']:.0%} of scaffolds. New default: every molecule "
        "trains, quality = out-of-fold RMSE; old: 15 % of the n held out as an internal test set.",
        f"**90 % interval coverage on the held-out test sets: {s['coverage90']:.3f}** (target 0.90 ± 0.05: {'met' if s['coverage_within_tolerance'] else 'NOT met'}). "
        f"Held-out RMSE new / old default: {s['new_vs_old_test_rmse']:.3f}.",
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
    if b := results.get("backbone"):

        def change(key: str) -> str:  # a gain of +x % in RMSE is a change of −x %
            return fmt(None if b[key] is None else -b[key], "+.2%")

        blocks += [
            f"## Backbone properties (interval calibrated on the validation split, scored on the test split): mean coverage {b['mean_coverage90']:.3f}",
            records_table(
                "property | n | coverage 90 % | mean width | test RMSE",
                "property n coverage90 width90 test_rmse",
                [{"property": t, **v} for t, v in b["properties"].items()],
            ),
            f"## Known-value corrections: {b['n_pairs_accepted']} of {b['n_pairs_judged']} pairs accepted on the validation split",
            f"On the test split: accepted pairs change RMSE by {change('accepted_mean_test_gain')} on average and help in "
            f"{fmt(b['accepted_share_helping_on_test'], '.0%')} of them; all pairs ungated: {change('ungated_mean_test_gain')}, "
            f"worse than plain in {fmt(b['ungated_share_hurting_on_test'], '.0%')}.",
        ]
    return "\n\n".join(blocks)


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    from bench.task_addition import TargetSplit
    from gate_core.api import GateStudio
    from gate_core.models.fingerprint import backbone_fingerprint
    from gate_core.threads import configure_threads

    configure_threads(args.threads)
    cells_path = Path(args.cells)
    cells_path.parent.mkdir(parents=True, exist_ok=True)
    same = {"ensemble": args.ensemble, "test_fraction": args.test_fraction}
    lines = cells_path.read_text().splitlines() if cells_path.is_file() else []
    # cells finished under the same ensemble and test fraction, by (target, seed, n)
    done = {
        (c["target"], c["seed"], c["n"]): c
        for c in map(json.loads, lines)
        if same.items() <= c.items()
    }
    cells, backbone = [], None
    with tempfile.TemporaryDirectory(prefix="gate-trust-") as tmp:
        studio = GateStudio(args.backbone, tmp)
        # computed once per backbone and head, like the app's data folder
        studio.reliability.folder = Path(args.calibration_dir)
        for target, seed in itertools.product(args.targets, args.seeds):
            ts = TargetSplit(target, seed, args.test_fraction)
            for key in [(target, seed, n) for n in args.sizes if n <= ts.pool_size]:
                if key not in done:
                    done[key] = {**task_cell(studio, ts, key[2], args.ensemble), **same}
                    with cells_path.open("a") as fh:
                        fh.write(json.dumps(done[key], default=float) + "\n")
                if c := done.get(key):
                    cells.append(c)
                    _log(
                        f"{target} seed {seed} n {key[2]}: held-out RMSE new {c['new_test_rmse']:.3f} old {c['old_test_rmse']:.3f}, coverage {c['coverage90']:.2f}"
                    )
        if not args.skip_backbone:  # kept beside the cells per backbone and relational head
            head = backbone_fingerprint(studio.relational().head)
            cache = cells_path.with_name(f"trust_backbone_{studio.backbone_id}_{head}.json")
            if not cache.is_file():
                cache.write_text(json.dumps(backbone_part(studio), default=float))
            backbone = json.loads(cache.read_text())
    results = {
        "backbone_id": studio.backbone_id,
        "settings": {k: vars(args)[k] for k in SETTINGS} | {"nominal": NOMINAL},
        "summary": summarise(cells),
        "cells": cells,
        "backbone": backbone,
    }
    rows = [{k: v for k, v in c.items() if not isinstance(v, dict)} for c in cells]
    return write_results(NAME, results, markdown, args.results_dir, rows=rows)
