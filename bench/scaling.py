"""Scaling curves, each from one run (issue #6): how cost grows with the size of the problem.

The curves and what one point measures are in bench/README.md (``scaling``). Points whose peak
memory counts run in a fresh interpreter (``python -m bench.scaling worker``), so nothing an
earlier point allocated is reused or counted; :class:`bench.common.PeakMemory` reads the peak.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    REPO_ROOT,
    PeakMemory,
    csv_rows,
    fmt,
    limit_threads,
    logger,
    records_table,
    stopwatch,
    table,
    timed,
    write_results,
)
from gate_core.paths import BACKBONE_TABLE, DEFAULT_BACKBONE

NAME = "scaling"
DESCRIPTION = "scaling curves: add-task time/memory vs sources, n and existing tasks; pre-training step vs tasks (pairwise vs mean); predict and featurise throughput vs batch"
X_NAME = {  # curve → the name of its x (every point is one row of the long CSV)
    "add_task_vs_sources": "n_sources",
    "add_task_vs_n": "n",
    "add_task_vs_existing": "existing_tasks",
    "pretrain_step_vs_tasks": "n_tasks",
    "predict_vs_batch": "batch_size",
    "featurize_vs_batch": "molecules",
}
CURVES = tuple(X_NAME)

#: grid option → (its value in the full run, with --quick, what it sets)
GRID = {
    "sources": ("1,2,4,8,16", "1,2", "source-task counts S for add_task_vs_sources"),
    "sizes": ("50,200,1000,5000", "30,60", "training sizes n for add_task_vs_n"),
    "existing": (8, 2, "tasks added one after another in add_task_vs_existing"),
    "tasks": ("2,4,8,16", "2,4", "task counts T for pretrain_step_vs_tasks"),
    "batch_sizes": ("1,8,64,512,4096", "1,16", "molecules per predict call"),
    "featurize_sizes": ("1,8,64,512,4096", "1,16", "molecules per featurize call"),
    "add_molecules": (500, 40, "molecules of --add-target"),
    "pretrain_molecules": (2000, 64, "molecules of the pre-training step curve"),
    "pretrain_steps": (20, 2, "timed steps per (T, form) point"),
    "pretrain_warmup": (3, 1, "untimed steps before them"),
    "pretrain_batch_size": (64, 16, "batch of a pre-training step"),
    "max_calls": (256, 8, "predict/featurise points make at most this many calls"),
    "ensemble": (5, 2, "K of every task addition"),
}
FULL = {key: full for key, (full, _, _) in GRID.items()}  # ≈ 10–15 min on a 2-core CPU
QUICK = {key: quick for key, (_, quick, _) in GRID.items()}  # tests / CI smoke
# --quick trains each member for a few steps only, with the learned-ratio outer step still exercised
QUICK_ADD_CONFIG = {"max_steps": 6, "warmup_steps": 2, "outer_every": 3, "eval_every": 3}
# the task that predict_vs_batch times: K members, trained briefly (prediction cost does not depend on training length)
PREDICT_TASK_CONFIG = {"max_steps": 20, "warmup_steps": 5, "outer_every": 5, "eval_every": 10}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch/BLAS threads of every measuring process"
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny grid: a smoke test of every curve"
    )
    parser.add_argument("--curves", default=",".join(CURVES), help="comma-separated subset")
    parser.add_argument("--results-name", help="default: scaling, or scaling_cuda on CUDA")
    parser.add_argument("--backbone", default=str(DEFAULT_BACKBONE))
    parser.add_argument("--table", default=str(BACKBONE_TABLE), help="pre-training long table")
    g = parser.add_argument_group("grid (defaults: the full run, or tiny ones with --quick)")
    for key, (full, _, text) in GRID.items():
        kind = int if isinstance(full, int) else str
        g.add_argument("--" + key.replace("_", "-"), type=kind, help=f"{text} (full: {full})")
    g.add_argument("--add-target", default="huuskonen_logS", help="the task the curves add")
    g.add_argument("--n-property", default="Tm_K", help="--table property for add_task_vs_n")
    parser.add_argument("--flat-tolerance", type=float, default=0.2, help="max growth of 'flat'")
    parser.add_argument(
        "--isolation",
        choices=("process", "none"),
        help="process (default): each memory point in a fresh interpreter; none (--quick): here",
    )
    parser.add_argument("--worker-timeout", type=float, default=900.0, help="seconds per point")


_log = logger(NAME)


def _ints(text: str) -> list[int]:
    out = [int(t) for t in str(text).split(",") if t.strip()]
    if not out or any(v < 1 for v in out):
        raise ValueError(f"expected positive integers, got {text!r}")
    return out


# ------------------------------------------------------------------------------------------ math


def flat_check(x: list[float], y: list[float], tolerance: float = 0.2) -> dict[str, Any]:
    """Does ``y`` stay flat in ``x`` (no growth)? Least-squares line y ≈ a + b·x over the points.

    ``slope`` = b; ``relative_change_first_to_last`` = (fit(x_last) − fit(x_first)) / fit(x_first),
    i.e. the change across the whole range read off the fitted line (one noisy end point does
    not decide it); ``flat`` = that change ≤ +``tolerance``. One-sided on purpose: the question is
    whether the cost grows with x; a cost that falls (the first points still warming the process
    up) is not growth. ``raw_relative_change`` uses the two measured end points. Fewer than two
    distinct x: everything None.
    """
    x_arr, y_arr = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    out: dict[str, Any] = {
        "n_points": len(x_arr),
        "tolerance": tolerance,
        "criterion": "fitted change over the range ≤ +tolerance",
        **dict.fromkeys(("slope", "intercept", "relative_change_first_to_last")),
        **dict.fromkeys(("raw_relative_change", "flat")),
    }
    if len(x_arr) != len(y_arr):
        raise ValueError("x and y must have the same length")
    if len(x_arr) < 2 or np.unique(x_arr).size < 2:
        return out
    slope, intercept = np.polyfit(x_arr, y_arr, 1)
    first, last = intercept + slope * x_arr.min(), intercept + slope * x_arr.max()
    out.update(slope=float(slope), intercept=float(intercept))
    if first > 0:
        out["relative_change_first_to_last"] = float((last - first) / first)
        out["flat"] = bool(out["relative_change_first_to_last"] <= tolerance)
    lo, hi = y_arr[np.argmin(x_arr)], y_arr[np.argmax(x_arr)]
    if lo > 0:
        out["raw_relative_change"] = float((hi - lo) / lo)
    return out


def loglog_slope(x: list[float], y: list[float]) -> float | None:
    """Exponent p of y ∝ x^p by least squares on log–log (None for < 2 positive points)."""
    pairs = [(a, b) for a, b in zip(x, y) if a and b and a > 0 and b > 0]
    if len({a for a, _ in pairs}) < 2:
        return None
    lx, ly = np.log([a for a, _ in pairs]), np.log([b for _, b in pairs])
    return float(np.polyfit(lx, ly, 1)[0])


def call_sizes(batch: int, pool: int, max_calls: int) -> tuple[int, int]:
    """(molecules, calls) of one throughput point: ``batch`` molecules per call, at most
    ``max_calls`` calls and at most ``pool`` molecules, but always at least one full call."""
    molecules = max(batch, min(pool, batch * max_calls))
    return molecules, -(-molecules // batch)


def long_rows(curves: dict[str, list[dict]], device: str) -> list[dict]:
    """Long CSV rows (curve, x_name, x, metric, value, device): one per numeric field of each point;
    nested dicts become dotted metric names (``excluded.wall_seconds``), lists and text are left out."""

    def numeric(prefix: str, point: dict) -> Iterator[tuple[str, float]]:
        for key, value in point.items():
            if isinstance(value, dict):
                yield from numeric(f"{prefix}{key}.", value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                yield prefix + key, value

    return [
        {"curve": curve, "x_name": X_NAME[curve], "x": point[X_NAME[curve]], "metric": metric}
        | {"value": value, "device": point.get("device", device)}
        for curve, points in curves.items()
        for point in points
        for metric, value in numeric("", point)
        if metric != X_NAME[curve]
    ]


# ------------------------------------------------------------------------------ pre-training step


def step_batches(n_molecules: int, batch_size: int, n_steps: int, seed: int = 0) -> list[list[int]]:
    """Row indices of ``n_steps`` batches: consecutive seeded permutations of the molecules."""
    rng = np.random.default_rng(seed)
    order = np.concatenate(
        [rng.permutation(n_molecules) for _ in range(n_steps * batch_size // n_molecules + 1)]
    )
    return [order[i * batch_size : (i + 1) * batch_size].tolist() for i in range(n_steps)]


def build_form(config, tasks: list, y_scaler, d_scaler, form: str, device: str = "cpu") -> dict:  # noqa: ANN001 - PretrainConfig and scalers
    """A fresh seeded model + GATE objective of one alignment form (``mean``, O(T), or
    ``pairwise``, exact, O(T²); the loss refuses others) + Adam, for :func:`gate_step`."""
    import torch

    from gate_core.training.objective import GATEObjective, LossWeights
    from gate_core.training.pretrain import build_model

    torch.manual_seed(0)
    model = build_model(config, tasks)
    model.set_scalers(y_scaler.mean, y_scaler.std, d_scaler.mean, d_scaler.std)
    model = model.to(device).train()
    return {
        "objective": GATEObjective(model, LossWeights(), form),
        "optimizer": torch.optim.Adam(model.parameters(), lr=config.lr),
        "device": torch.device(device),
    }


def gate_step(run: dict, dataset, index: list[int]) -> None:  # noqa: ANN001 - MoleculeDataset
    """One optimiser step of a :func:`build_form` run: collate, device copy, full objective,
    backward, Adam (the caller's :func:`bench.common.timed` clocks it, CUDA synchronised)."""
    device = run["device"]
    batch = dataset.collate(index)
    terms = run["objective"](batch if device.type == "cpu" else batch.to(device))
    run["optimizer"].zero_grad(set_to_none=True)
    terms["total"].backward()
    run["optimizer"].step()


# --------------------------------------------------------------------------------------- helpers


def subset_backbone(backbone, names: list[str]):  # noqa: ANN001, ANN201 - GATEModel → GATEModel
    """A copy of ``backbone`` with only the source tasks ``names`` (in that order): same encoder,
    descriptor scalers and those tasks' modules and target scalers — a backbone with fewer sources."""
    import copy

    from gate_core.models.gate import GATEModel

    unknown = [n for n in names if n not in backbone.task_names]
    if unknown or not names:
        raise ValueError(f"unknown or no source tasks: {unknown or names}")
    config = copy.deepcopy(backbone.config)
    config.tasks = [t for n in names for t in backbone.config.tasks if t.name == n]
    keep = [backbone.task_names.index(n) for n in names]
    state = {}
    for key, value in backbone.state_dict().items():
        if key.startswith("tasks."):
            if key.split(".")[1] in names:
                state[key] = value
        elif key in ("y_mean", "y_std", "classification"):
            state[key] = value[keep]
        else:
            state[key] = value
    model = GATEModel(config)
    model.load_state_dict(state, strict=True)
    device = next(backbone.parameters()).device
    return model.to(device).eval()


def _add_config(task_type: str | None, ensemble: int, config: dict, excluded: Any = ()):  # noqa: ANN202 - TaskAdditionConfig
    from gate_core.transfer.addition import TaskAdditionConfig
    from gate_core.transfer.ratios import RatioSettings

    ratios = RatioSettings(mode="learned", excluded=list(excluded))
    return TaskAdditionConfig(
        ratios=ratios, seed=0, task_type=task_type, ensemble=ensemble, **config
    )


def _steps_summary(result) -> dict:  # noqa: ANN001 - TaskAdditionResult
    steps = [m["steps"] for m in result.task.metadata["members"]]
    return {
        "member_steps": steps,
        "total_steps": int(sum(steps)),
        "train_seconds_per_step": result.timings["train_seconds"] / max(1, sum(steps)),
    }


def _load_add_target(name: str, molecules: int) -> tuple[list[str], list[float], str]:
    """The first ``molecules`` of a seeded pick from assets/data/targets/<name>.csv (same pick as task_addition's speed section)."""
    from bench.task_addition import load_target

    smiles, y, task_type = load_target(name)
    if len(smiles) < molecules:
        raise ValueError(f"{name} has {len(smiles)} molecules, fewer than {molecules}")
    pick = np.sort(np.random.default_rng(0).choice(len(smiles), molecules, replace=False))
    return [smiles[i] for i in pick], [float(y[i]) for i in pick], task_type


def _outcome(r: dict, text: str) -> str:
    """A point's log line: ``text`` filled in from its result, or its error."""
    return r["error"] if "error" in r else text.format(**r)


# ---------------------------------------------------------------------------------------- workers
#
# ``python -m bench.scaling worker SPEC.json OUT.json``: one measured point in a fresh interpreter.


def _worker_add_task(spec: dict) -> dict:
    from gate_core.models.checkpoint import load_checkpoint
    from gate_core.transfer.addition import add_task

    device = spec["device"]
    backbone, _ = load_checkpoint(spec["backbone"], device)
    if spec.get("sources"):
        backbone = subset_backbone(backbone, spec["sources"])
    for p in backbone.parameters():
        p.requires_grad_(False)
    excluded = spec.get("excluded", [])
    config = _add_config(spec.get("task_type"), spec["ensemble"], spec["config"], excluded)
    load = os.getloadavg()[0]
    with PeakMemory(device) as mem, timed(device) as t:
        result = add_task(backbone, spec["smiles"], spec["values"], spec["name"], config)
    featurize, train = result.timings["featurize_seconds"], result.timings["train_seconds"]
    return {
        "wall_seconds": t.wall,
        "cpu_seconds": t.cpu,
        "load_1min": load,
        "featurize_seconds": featurize,
        "train_seconds": train,
        "other_seconds": t.wall - featurize - train,
        **_steps_summary(result),
        **mem.result,
        "sources_computed": len(backbone.task_names),
        "sources_active": len(backbone.task_names) - len(excluded),
        "n_train": result.task.metadata["n_train"],
    }


def _worker_pretrain_step(spec: dict) -> dict:
    import pickle

    from gate_core.data.collate import MoleculeDataset
    from gate_core.data.scaler import StandardScaler
    from gate_core.models.gate import TaskInfo
    from gate_core.training.pretrain import PretrainConfig

    data = pickle.loads(Path(spec["features"]).read_bytes())
    t, warmup = spec["n_tasks"], spec["warmup"]
    y = data["Y"][:, :t]
    y_scaler, d_scaler = StandardScaler.fit(y), StandardScaler.fit(data["descriptors"])
    dataset = MoleculeDataset(data["graphs"], data["descriptors"], y_scaler.transform(y))
    config = PretrainConfig(batch_size=spec["batch_size"], seed=0)
    tasks = [TaskInfo(name) for name in data["tasks"][:t]]
    batches = step_batches(len(dataset), spec["batch_size"], warmup + spec["steps"])
    run = build_form(config, tasks, y_scaler, d_scaler, spec["form"], spec["device"])
    load = os.getloadavg()[0]
    with PeakMemory(spec["device"]) as mem:
        timings = []
        for index in batches:
            with timed(spec["device"]) as step:
                gate_step(run, dataset, index)
            timings.append(step)
    seconds = [s.wall for s in timings[warmup:]]
    median = statistics.median(seconds)
    return {
        "step_ms": 1000 * median,
        "step_cpu_ms": 1000 * statistics.median(s.cpu for s in timings[warmup:]),
        "load_1min": load,
        "step_ms_p10": 1000 * float(np.percentile(seconds, 10)),
        "step_ms_p90": 1000 * float(np.percentile(seconds, 90)),
        "mol_per_s": spec["batch_size"] / median,
        "steps": len(seconds),
        **mem.result,
        "labels_in_timed_batches": int(sum(int(dataset.mask[i].sum()) for i in batches[warmup:])),
    }


WORKERS = {"add_task": _worker_add_task, "pretrain_step": _worker_pretrain_step}


def worker_main(spec_path: str, out_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    limit_threads(spec["threads"])
    result = WORKERS[spec["kind"]](spec)
    Path(out_path).write_text(json.dumps(result))
    return 0


def run_worker(spec: dict, work_dir: Path, timeout: float) -> dict:
    """Run one point in a fresh interpreter; returns its result dict (or ``{"error": ...}``)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    fd, spec_path = tempfile.mkstemp(suffix=".json", dir=work_dir)
    os.close(fd)
    out_path = spec_path[:-5] + ".out.json"
    Path(spec_path).write_text(json.dumps(spec))
    threads = str(spec["threads"])
    env = os.environ | {f"{lib}_NUM_THREADS": threads for lib in ("OMP", "MKL", "OPENBLAS")}
    elapsed = stopwatch()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.scaling", "worker", spec_path, out_path],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"worker timed out after {timeout:.0f} s"}
    process_seconds = elapsed()
    if done.returncode != 0 or not Path(out_path).is_file():
        tail = (done.stderr or done.stdout or "").strip().splitlines()[-5:]
        return {"error": f"worker exit {done.returncode}: " + " | ".join(tail)}
    result = json.loads(Path(out_path).read_text())
    result["process_seconds"] = process_seconds  # interpreter start + imports + loading + the point
    return result


def measure(ctx: dict, spec: dict) -> dict:
    """One memory-measured point: in a fresh interpreter, or here with ``--isolation none``."""
    if ctx["isolation"] == "process":
        return run_worker(spec, ctx["work_dir"], ctx["args"].worker_timeout)
    try:
        return WORKERS[spec["kind"]](spec)
    except Exception as exc:  # noqa: BLE001 - record the failure as a worker process would
        import traceback

        traceback.print_exc(file=sys.stderr)
        return {"error": f"{type(exc).__name__}: {exc}"}


# ----------------------------------------------------------------------------------------- curves


#: what an ``exclude`` point keeps beside the ``subset`` one (its ``excluded`` block)
EXCLUDED_KEYS = (
    *("wall_seconds", "cpu_seconds", "load_1min", "featurize_seconds", "train_seconds"),
    *("peak_memory_mb", "total_steps", "train_seconds_per_step", "sources_computed"),
    *("sources_active", "error"),
)


def _add_spec(ctx: dict, name: str, task_type: str | None, **data: Any) -> dict:
    """The worker spec of one ``add_task`` point (molecules and values in ``data``)."""
    spec = {"kind": "add_task", "backbone": ctx["args"].backbone, "device": ctx["device"]}
    spec.update(threads=ctx["threads"], name=name, task_type=task_type)
    return {**spec, "ensemble": ctx["grid"]["ensemble"], "config": ctx["add_config"], **data}


def curve_add_task_vs_sources(ctx: dict) -> list[dict]:
    """S sources two ways: a backbone copy with its first S sources (top level), and the full
    backbone with the others excluded (``excluded``; the same run when S is every source)."""
    args, g, names = ctx["args"], ctx["grid"], ctx["source_names"]
    smiles, values, task_type = _load_add_target(args.add_target, g["add_molecules"])
    base = _add_spec(ctx, f"scaling_{args.add_target}", task_type, smiles=smiles, values=values)
    done = "{wall_seconds:.1f} s, peak +{peak_memory_mb:.0f} MB, {total_steps} steps"
    points = []
    for k in _ints(g["sources"]):
        if k > len(names):
            _log(f"sources: S = {k} skipped, the backbone has {len(names)} sources")
            continue
        r = measure(ctx, {**base, "sources": names[:k]} if k < len(names) else base)
        _log(f"sources: S = {k} (subset): " + _outcome(r, done))
        point = {"n_sources": k, "n": len(smiles), **r, "sources_via": "subset"}
        if k < len(names):
            r = measure(ctx, {**base, "excluded": names[k:]})
            _log(f"sources: S = {k} (exclude): " + _outcome(r, done))
        point["excluded"] = {key: r[key] for key in EXCLUDED_KEYS if r.get(key) is not None}
        if k == len(names):  # nothing to exclude: the full backbone
            point["excluded"]["same_run_as_subset"] = True
        points.append(point)
    return points


def curve_add_task_vs_n(ctx: dict) -> list[dict]:
    from gate_core.data.table import MultiTaskTable

    args, g = ctx["args"], ctx["grid"]
    table = MultiTaskTable.read_long(args.table, [args.n_property])
    order = np.random.default_rng(0).permutation(len(table))
    ctx["data"]["add_task_vs_n"] = {
        "property": args.n_property,
        "table": str(args.table),
        "distinct_molecules": len(table),
        "pick": "first n of one seeded permutation (nested sets)",
    }
    base = _add_spec(ctx, f"scaling_{args.n_property}", "regression")
    points = []
    for n in _ints(g["sizes"]):
        if n > len(table):
            _log(f"n: {n} skipped, {args.n_property} has {len(table)} distinct molecules")
            continue
        idx = np.sort(order[:n])
        smiles, values = [table.smiles[i] for i in idx], [float(table.Y[i, 0]) for i in idx]
        r = measure(ctx, {**base, "smiles": smiles, "values": values})
        points.append({"n": n, **r})
        done = "{wall_seconds:.1f} s (featurise {featurize_seconds:.1f} s, train {train_seconds:.1f} s), peak +{peak_memory_mb:.0f} MB"
        _log(f"n = {n}: " + _outcome(r, done))
    return points


def curve_add_task_vs_existing(ctx: dict) -> list[dict]:
    import pandas as pd

    from gate_core.api import GateStudio
    from gate_core.data.featurize import clear_caches, featurize_molecules
    from gate_core.transfer.addition import add_task

    args, g = ctx["args"], ctx["grid"]
    smiles, values, task_type = _load_add_target(args.add_target, g["add_molecules"])
    frame = pd.DataFrame({"smiles": smiles, "value": values})
    query = ctx["pool"][: min(512, len(ctx["pool"]))]
    points = []
    with tempfile.TemporaryDirectory(prefix="gate-scaling-registry-") as data_dir:
        studio = GateStudio(args.backbone, data_dir=data_dir, device=ctx["device"])
        # warm-up outside the clock (torch/autograd first-call costs would land on i = 0); its
        # settings reach the hypergradient and evaluation paths too
        warm = dict(max_steps=40, warmup_steps=5, outer_every=5, eval_every=10)
        add_task(studio.backbone, smiles, values, "warmup", _add_config(task_type, 1, warm))
        config = _add_config(task_type, g["ensemble"], ctx["add_config"])
        for i in range(g["existing"]):
            name = f"scaling_task_{i}"
            clear_caches()  # every addition starts from raw SMILES, as a user's does
            gc.collect()
            load = os.getloadavg()[0]
            with timed(ctx["device"]) as add:
                _, result = studio.add_task(frame, "smiles", "value", name, config=config)
            # warm the features: the prediction below times the model, not featurisation
            featurize_molecules(query, descriptors=studio.backbone.config.n_descriptors > 0)
            with timed() as one:
                studio.predict(query, tasks=[name])
            with timed() as every:
                out = studio.predict(query)
            n_added = sum(c.startswith("scaling_task_") and c.endswith("_ad_score") for c in out)
            point = {
                "existing_tasks": i,
                "wall_seconds": add.wall,
                "cpu_seconds": add.cpu,
                "predict_seconds": one.wall,
                "predict_cpu_seconds": one.cpu,
                "predict_all_seconds": every.wall,
                "load_1min": load,
                "featurize_seconds": result.timings["featurize_seconds"],
                "train_seconds": result.timings["train_seconds"],
                "register_seconds": add.wall - result.timings["total_seconds"],
                **_steps_summary(result),
                "predict_molecules": len(query),
                "predict_all_tasks": len(studio.backbone.property_names) + n_added,
            }
            points.append(point)
            _log(
                f"existing = {i}: add {add.wall:.1f} s, {add.cpu:.1f} CPU-s ({point['total_steps']} steps, register {point['register_seconds']:.2f} s), "
                f"predict it {one.wall * 1000:.0f} ms, predict all {point['predict_all_tasks']} tasks {every.wall * 1000:.0f} ms"
            )
    return points


def curve_pretrain_step_vs_tasks(ctx: dict) -> list[dict]:
    import pickle

    from gate_core.data.featurize import featurize_molecules
    from gate_core.training.pretrain import PretrainConfig, load_table

    args, g = ctx["args"], ctx["grid"]
    table = load_table(
        PretrainConfig(table=args.table, max_molecules=g["pretrain_molecules"], seed=0)
    )
    graphs, descriptors = featurize_molecules(table.smiles)
    features = ctx["work_dir"] / "pretrain_features.pkl"
    data = {"graphs": graphs, "descriptors": descriptors, "Y": table.Y, "tasks": table.tasks}
    features.write_bytes(pickle.dumps(data))
    ctx["data"]["pretrain_step_vs_tasks"] = {
        "table": str(args.table),
        "molecules": len(table),
        "tasks_in_order": list(table.tasks),
        "pick": "the same deterministic subsample for every T; T tasks = the first T of the backbone's task list",
    }
    spec = {"kind": "pretrain_step", "features": str(features), "device": ctx["device"]}
    spec.update(threads=ctx["threads"], steps=g["pretrain_steps"], warmup=g["pretrain_warmup"])
    batch = spec["batch_size"] = g["pretrain_batch_size"]
    points = []
    for t in _ints(g["tasks"]):
        if t > len(table.tasks) or t < 2:
            _log(f"pretrain: T = {t} skipped (2 ≤ T ≤ {len(table.tasks)})")
            continue
        for form in ("pairwise", "mean"):
            r = measure(ctx, {**spec, "n_tasks": t, "form": form})
            points.append({"n_tasks": t, "alignment": form, "batch_size": batch, **r})
            done = "{step_ms:.0f} ms/step, peak +{peak_memory_mb:.0f} MB"
            _log(f"pretrain: T = {t} {form}: " + _outcome(r, done))
    return points


def _throughput(pool: list[str], per_call: int, max_calls: int, fn: Callable) -> dict:
    """``fn(chunk)`` over ``per_call``-molecule chunks of ``pool`` from cold feature caches:
    molecules, calls and the clock of the pass (:func:`call_sizes`)."""
    from gate_core.data.featurize import clear_caches

    molecules, calls = call_sizes(per_call, len(pool), max_calls)
    chunks = [pool[s : s + per_call] for s in range(0, molecules, per_call)]
    clear_caches()
    gc.collect()
    with timed() as t:
        for chunk in chunks:
            fn(chunk)
    return {"molecules": molecules, "calls": calls, "chunks": chunks, "timing": t}


def curve_predict_vs_batch(ctx: dict) -> list[dict]:
    from gate_core.transfer.addition import add_task

    args, g, backbone = ctx["args"], ctx["grid"], ctx["backbone"]
    smiles, values, task_type = _load_add_target(args.add_target, g["add_molecules"])
    config = _add_config(task_type, g["ensemble"], PREDICT_TASK_CONFIG)
    task = add_task(backbone, smiles, values, "scaling_predict", config).task
    points = []
    for b in _ints(g["batch_sizes"]):
        cold = _throughput(ctx["pool"], b, g["max_calls"], lambda c: task.predict(backbone, c))
        molecules, calls = cold["molecules"], cold["calls"]
        with timed() as warm:  # the same calls again
            for chunk in cold["chunks"]:
                task.predict(backbone, chunk)
        c, w = cold["timing"].wall, warm.wall
        points.append(
            {
                "batch_size": b,
                "mol_per_s": molecules / c,
                "warm_mol_per_s": molecules / w,
                "molecules": molecules,
                "calls": calls,
                "cold_seconds": c,
                "warm_seconds": w,
                "ms_per_call": 1000 * c / calls,
                "warm_ms_per_call": 1000 * w / calls,
            }
        )
        _log(
            f"predict: batch {b}: {molecules / c:,.0f} mol/s cold, {molecules / w:,.0f} mol/s warm ({calls} calls)"
        )
    return points


def curve_featurize_vs_batch(ctx: dict) -> list[dict]:
    from gate_core.data.featurize import featurize_molecules

    descriptors = ctx["n_descriptors"] > 0
    points = []
    for m in _ints(ctx["grid"]["featurize_sizes"]):
        r = _throughput(
            ctx["pool"],
            m,
            ctx["grid"]["max_calls"],
            lambda c: featurize_molecules(c, descriptors=descriptors),
        )
        molecules, wall, cpu = r["molecules"], r["timing"].wall, r["timing"].cpu
        points.append(
            {
                "molecules": m,
                "mol_per_s": molecules / wall,
                "mol_per_cpu_s": molecules / cpu if cpu > 0 else None,
                "total_molecules": molecules,
                "calls": r["calls"],
                "seconds": wall,
                "device": "cpu",
            }
        )
        _log(f"featurise: {m} per call: {molecules / wall:,.0f} mol/s ({r['calls']} calls)")
    return points


RUNNERS = {
    "add_task_vs_sources": curve_add_task_vs_sources,
    "add_task_vs_n": curve_add_task_vs_n,
    "add_task_vs_existing": curve_add_task_vs_existing,
    "pretrain_step_vs_tasks": curve_pretrain_step_vs_tasks,
    "predict_vs_batch": curve_predict_vs_batch,
    "featurize_vs_batch": curve_featurize_vs_batch,
}


# ----------------------------------------------------------------------------------------- summary

#: growth exponent → (curve, its y, the alignment its points must have)
EXPONENTS = {
    "add_task_seconds_vs_sources": ("add_task_vs_sources", "wall_seconds", None),
    "add_task_cpu_seconds_vs_sources": ("add_task_vs_sources", "cpu_seconds", None),
    "add_task_seconds_per_step_vs_sources": ("add_task_vs_sources", "train_seconds_per_step", None),
    "add_task_seconds_vs_n": ("add_task_vs_n", "wall_seconds", None),
    "add_task_cpu_seconds_vs_n": ("add_task_vs_n", "cpu_seconds", None),
    "add_task_featurize_seconds_vs_n": ("add_task_vs_n", "featurize_seconds", None),
    "add_task_peak_memory_vs_n": ("add_task_vs_n", "peak_memory_mb", None),
    "pretrain_step_vs_tasks_pairwise": ("pretrain_step_vs_tasks", "step_ms", "pairwise"),
    "pretrain_step_vs_tasks_mean": ("pretrain_step_vs_tasks", "step_ms", "mean"),
    "pretrain_step_cpu_vs_tasks_pairwise": ("pretrain_step_vs_tasks", "step_cpu_ms", "pairwise"),
    "pretrain_step_cpu_vs_tasks_mean": ("pretrain_step_vs_tasks", "step_cpu_ms", "mean"),
}


def summarise(curves: dict[str, list[dict]], tolerance: float) -> dict:
    """Flat check of add-task (and predict) cost in the number of existing tasks; growth exponents.

    The verdict uses the process CPU seconds of each addition (identical work every time), which
    other jobs on a shared machine inflate far less than wall seconds; the wall-clock check is
    kept beside it (``flat_check.wall``). Points without CPU times fall back to wall seconds.
    """
    ex = [p for p in curves.get("add_task_vs_existing", []) if "wall_seconds" in p]
    x = [p["existing_tasks"] for p in ex]
    use_cpu = bool(ex) and all(p.get("cpu_seconds") for p in ex)
    key = "cpu_seconds" if use_cpu else "wall_seconds"
    flat = flat_check(x, [p[key] for p in ex], tolerance)
    flat["slope_seconds_per_existing_task"] = flat.pop("slope")
    flat["metric"] = f"{key} of GateStudio.add_task (same data, seed and settings at every i)"
    flat["wall"] = flat_check(x, [p["wall_seconds"] for p in ex], tolerance)
    cpu = use_cpu and all(p.get("predict_cpu_seconds") for p in ex)
    pkey = "predict_cpu_seconds" if cpu else "predict_seconds"
    flat["predict"] = flat_check(x, [p[pkey] for p in ex], tolerance)
    flat["predict"]["metric"] = f"{pkey} (GateStudio.predict of the new task only)"
    exponents = {}
    for name, (curve, y, alignment) in EXPONENTS.items():
        pts = [p for p in curves.get(curve, []) if y in p]
        pts = [p for p in pts if alignment is None or p.get("alignment") == alignment]
        exponents[name] = loglog_slope([p[X_NAME[curve]] for p in pts], [p[y] for p in pts])
    return {"flat_check": flat, "loglog_exponents": exponents}


def _scaled(points: list[dict], factor: float, *keys: str) -> list[dict]:
    """The points with ``<key>_ms`` = ``factor`` × ``key`` beside each key they have."""
    return [p | {f"{k}_ms": factor * p[k] for k in keys if p.get(k) is not None} for p in points]


def _ratio(a: dict, b: dict, key: str) -> float | None:
    return a[key] / b[key] if a.get(key) and b.get(key) else None


def _error_column(points: list[dict], header: str, keys: str) -> tuple[str, str]:
    """An ``error`` column on the table only where a point failed."""
    failed = any("error" in p for p in points)
    return (header + " | error", keys + " error") if failed else (header, keys)


def _change(check: dict, unit: str, scale: float = 1.0) -> str:
    """A flat check's slope (times ``scale``, in ``unit``) and change over the range, in words."""
    slope, change = check["slope"], check["relative_change_first_to_last"]
    spec = "+.3f" if scale == 1 else "+.2f"
    return f"slope {fmt(slope and scale * slope, spec)} {unit}, change {fmt(change and 100 * change, '+.1f')} %"


def markdown(state: dict) -> str:
    """The result's one renderer; what each curve measures is in bench/README.md."""
    c, s, d, dev = state["curves"], state["settings"], state["data"], state["device"]
    fresh = s.get("isolation") == "process"
    mem = (
        "GPU memory allocated above the level before the call"
        if dev.startswith("cuda")
        else "peak RSS growth during the call"
    )
    mem += (
        ", each point in a fresh process"
        if fresh
        else " (in the benchmark's own process: a lower bound)"
    )
    add = (
        f"quick settings {json.dumps(s['add_config'])}"
        if s["add_config"]
        else "task addition's defaults"
    )
    parts = [
        f"# Scaling curves ({dev})\n\n{state['status']}. One measurement per point, {s['threads']} "
        f"torch thread(s); add-task points: learned λ, K = {s['ensemble']}, {add}. Peak memory = "
        f"{mem}. Grid: {json.dumps(s['grid'])}.\n"
    ]
    if c.get("add_task_vs_sources"):
        pts = _scaled(c["add_task_vs_sources"], 1000, "train_seconds_per_step")
        header, keys = _error_column(
            pts,
            "S | wall s | CPU s | ms / training step | steps (K members) | peak MB | load"
            " | excluded: wall s | excluded: CPU s | excluded: peak MB",
            "n_sources wall_seconds:.1f cpu_seconds:.1f train_seconds_per_step_ms:.1f total_steps"
            " peak_memory_mb:.0f load_1min:.1f excluded.wall_seconds:.1f excluded.cpu_seconds:.1f"
            " excluded.peak_memory_mb:.0f",
        )
        parts.append(
            f"## Add a task vs number of source tasks S\n\n{d.get('add_target', '')}; *excluded*: "
            f"the full backbone with the other sources excluded.\n\n{records_table(header, keys, pts)}\n"
        )
    if c.get("add_task_vs_n"):
        pts = _scaled(c["add_task_vs_n"], 1000, "train_seconds_per_step")
        header, keys = _error_column(
            pts,
            "n | wall s | CPU s | featurise s | train s | steps | ms / step | peak MB | load",
            "n wall_seconds:.1f cpu_seconds:.1f featurize_seconds:.1f train_seconds:.1f total_steps"
            " train_seconds_per_step_ms:.1f peak_memory_mb:.0f load_1min:.1f",
        )
        nd = d.get("add_task_vs_n", {})
        parts.append(
            f"## Add a task vs training size n\n\nThe backbone property `{nd.get('property')}` "
            f"({nd.get('distinct_molecules', '?'):,} distinct molecules in "
            f"`{Path(str(nd.get('table', ''))).name}`; {nd.get('pick')}): only the cost means "
            f"anything here.\n\n{records_table(header, keys, pts)}\n"
        )
    if c.get("add_task_vs_existing"):
        f = state["flat_check"]
        keys = ("predict_seconds", "predict_cpu_seconds", "predict_all_seconds")
        pts = _scaled(c["add_task_vs_existing"], 1000, *keys)
        rows = records_table(
            "i (existing) | add wall s | add CPU s | of which register s | steps"
            " | predict new task ms | its CPU ms | tasks predicted | predict all ms | load",
            "existing_tasks wall_seconds:.2f cpu_seconds:.2f register_seconds:.2f total_steps"
            " predict_seconds_ms:.0f predict_cpu_seconds_ms:.0f predict_all_tasks"
            " predict_all_seconds_ms:.0f load_1min:.1f",
            pts,
        )
        flat = {True: "**flat**", False: "**not flat**", None: "n/a"}
        slope = f | {"slope": f["slope_seconds_per_existing_task"]}
        parts.append(
            f"## Cost per added task vs tasks already added\n\n`GateStudio.add_task` of the same "
            f"{d.get('add_molecules')} molecules into a registry holding i tasks, then "
            f"`GateStudio.predict` of {pts[0]['predict_molecules']} molecules for the new task and "
            f"for every task.\n\n{rows}\n\nFlat check on {f['metric']} (flat = growth ≤ "
            f"+{f['tolerance']:.0%}): {_change(slope, 's per existing task')}: {flat[f['flat']]}. "
            f"On wall seconds: {_change(f['wall'], 's per task')} ({flat[f['wall']['flat']]}; wall "
            f"time follows the machine's load). Prediction of the new task alone "
            f"({f['predict']['metric']}): {_change(f['predict'], 'ms per task', 1000)}.\n"
        )
    if c.get("pretrain_step_vs_tasks"):
        by_t: dict[int, dict] = {}
        for p in c["pretrain_step_vs_tasks"]:
            by_t.setdefault(p["n_tasks"], {})[p["alignment"]] = p
        records = [
            {"t": t, "pw": (pw := f.get("pairwise", {})), "mn": (mn := f.get("mean", {}))}
            | {"ratio": _ratio(pw, mn, "step_ms"), "cpu": _ratio(pw, mn, "step_cpu_ms")}
            for t, f in sorted(by_t.items())
        ]
        pd_, grid = d.get("pretrain_step_vs_tasks", {}), s["grid"]
        parts.append(
            f"## Pre-training step vs number of tasks T: pairwise vs mean alignment\n\n"
            f"{pd_.get('molecules')} molecules of `{Path(str(pd_.get('table', ''))).name}` "
            f"({pd_.get('pick')}), batch {grid['pretrain_batch_size']}, median of "
            f"{grid['pretrain_steps']} steps after {grid['pretrain_warmup']} warm-up steps"
            f"{', each (T, form) in a fresh process' if fresh else ''}.\n\n"
            + records_table(
                "T | pairwise ms/step | mean ms/step | pairwise / mean | pairwise CPU ms"
                " | mean CPU ms | CPU ratio | pairwise peak MB | mean peak MB",
                "t pw.step_ms:.0f mn.step_ms:.0f ratio:.2f pw.step_cpu_ms:.0f mn.step_cpu_ms:.0f"
                " cpu:.2f pw.peak_memory_mb:.0f mn.peak_memory_mb:.0f",
                records,
            )
            + "\n"
        )
    if c.get("predict_vs_batch"):
        parts.append(
            f"## Prediction throughput vs batch size\n\n`AddedTask.predict` (K = {s['ensemble']});"
            " cold = feature caches cleared first, warm = the same calls again.\n\n"
            + records_table(
                "molecules / call | calls | cold mol/s | warm mol/s | cold ms / call",
                "batch_size calls mol_per_s:,.0f warm_mol_per_s:,.0f ms_per_call:.1f",
                c["predict_vs_batch"],
            )
            + "\n"
        )
    if c.get("featurize_vs_batch"):
        parts.append(
            f"## Featurisation throughput vs molecules per call\n\n`featurize_molecules` (CPU), "
            f"cold caches, {s['threads']} thread(s).\n\n"
            + records_table(
                "molecules / call | calls | mol/s | mol per CPU-s",
                "molecules calls mol_per_s:,.0f mol_per_cpu_s:,.0f",
                c["featurize_vs_batch"],
            )
            + "\n"
        )
    e = {k: v for k, v in (state.get("loglog_exponents") or {}).items() if v is not None}
    if e:
        rows = table("quantity | exponent", [[k, fmt(v, ".2f")] for k, v in e.items()])
        parts.append(f"## Growth exponents (least squares on log–log; 1 = linear)\n\n{rows}\n")
    runs = state["curve_runs"].items()
    parts.append(
        "Per-curve wall time and load average (1 min, before → after): "
        + "; ".join(
            f"{k} {v['seconds']:.0f} s, load {v['load_before'][0]:.2f} → {v['load_after'][0]:.2f}"
            for k, v in runs
        )
        + ".\n"
    )
    return "\n".join(parts)


# -------------------------------------------------------------------------------------------- run


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    import pandas as pd
    import torch

    from gate_core.models.checkpoint import load_checkpoint

    elapsed = stopwatch()
    curves = [c.strip() for c in args.curves.split(",") if c.strip()]
    unknown = [c for c in curves if c not in CURVES]
    if unknown:
        raise ValueError(f"unknown curves {unknown}; choose from {', '.join(CURVES)}")
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda, but torch sees no CUDA device")
    threads = args.threads if args.threads and args.threads > 0 else len(os.sched_getaffinity(0))
    limit_threads(threads)
    name = args.results_name or (NAME + "_cuda" if device.startswith("cuda") else NAME)
    base = QUICK if args.quick else FULL
    grid = {k: v if getattr(args, k) is None else getattr(args, k) for k, v in base.items()}
    backbone, _ = load_checkpoint(args.backbone, device)
    for p in backbone.parameters():
        p.requires_grad_(False)
    add_config = dict(QUICK_ADD_CONFIG) if args.quick else {}
    work = tempfile.TemporaryDirectory(prefix="gate-scaling-")
    pool_size = max([*_ints(grid["batch_sizes"]), *_ints(grid["featurize_sizes"]), 512])
    distinct = sorted(pd.read_csv(args.table, usecols=["smiles"])["smiles"].astype(str).unique())
    pick = np.random.default_rng(1).choice(len(distinct), min(pool_size, len(distinct)), False)
    pool = [distinct[i] for i in pick]
    isolation = args.isolation or ("none" if args.quick else "process")
    data = {
        "add_target": f"{grid['add_molecules']} molecules of `{args.add_target}` (seeded pick, as in task_addition's speed section)",
        "add_molecules": grid["add_molecules"],
        "throughput_pool": f"{len(pool)} distinct molecules of {Path(args.table).name} (seeded sample)",
    }
    ctx = {"args": args, "grid": grid, "device": device, "threads": threads}
    ctx.update(backbone=backbone, isolation=isolation, source_names=list(backbone.task_names))
    ctx.update(n_descriptors=backbone.config.n_descriptors, add_config=add_config)
    ctx.update(work_dir=Path(work.name), pool=pool, data=data)
    state: dict[str, Any] = {
        "device": device,
        "status": "running",
        "settings": dict(backbone=args.backbone, threads=threads, quick=args.quick)
        | dict(isolation=isolation, curves=curves, sources_mode="both", ensemble=grid["ensemble"])
        | dict(add_config=add_config, grid=grid, flat_tolerance=args.flat_tolerance),
        "curves": {c: [] for c in CURVES},
        "curve_runs": {},
        "data": data,
    }

    def save() -> tuple[Path, Path]:
        state.update(summarise(state["curves"], args.flat_tolerance))
        state["wall_seconds"] = elapsed()
        return write_results(name, state, markdown, args.results_dir, rows=csv_rows(name, state))

    quick = " (quick)" if args.quick else ""
    _log(f"{device}, {threads} thread(s), curves {', '.join(curves)}{quick}; → {name}.*")
    with work:
        for i, curve in enumerate(curves):
            load_before, curve_elapsed = list(os.getloadavg()), stopwatch()
            _log(f"curve {i + 1}/{len(curves)}: {curve}")
            state["curves"][curve] = RUNNERS[curve](ctx)
            state["curve_runs"][curve] = {
                "seconds": curve_elapsed(),
                "load_before": load_before,
                "load_after": list(os.getloadavg()),
            }
            state["status"] = f"Running: {i + 1} of {len(curves)} curves done"
            save()
        state["status"] = f"Complete: {len(curves)} curve(s) in {elapsed() / 60:.1f} min"
    return save()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "worker":
        sys.exit(worker_main(sys.argv[2], sys.argv[3]))
    sys.exit(
        "usage: python -m bench.scaling worker SPEC.json OUT.json (the benchmark: python -m bench scaling)"
    )
