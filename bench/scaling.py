"""Scaling curves, each from one run (issue #6): how cost grows with the size of the problem.

The curves and what one point measures are in bench/README.md (``scaling``). Points whose peak
memory counts run in a fresh interpreter (:func:`measure`), so nothing an earlier point allocated
is reused or counted; :class:`bench.common.PeakMemory` reads the peak.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import multiprocessing
import os
import signal
import tempfile
import traceback
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    PeakMemory,
    csv_rows,
    fmt,
    limit_threads,
    loadavg,
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
# --quick trains each member for a few steps only, with the learned-ratio outer step still exercised
QUICK_ADD_CONFIG = {"max_steps": 6, "warmup_steps": 2, "outer_every": 3, "eval_every": 3}
#: seconds a measuring process may take to exit after it answered, before it is killed
EXIT_GRACE_SECONDS = 30
# the task that predict_vs_batch times: K members, trained briefly (prediction cost does not depend on training length)
PREDICT_TASK_CONFIG = {"max_steps": 20, "warmup_steps": 5, "outer_every": 5, "eval_every": 10}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--device", default="cpu", help="cpu | cuda | auto")
    add("--threads", type=int, default=1, help="torch/BLAS threads of every measuring process")
    add("--quick", action="store_true", help="tiny grid: a smoke test of every curve")
    add("--curves", default=",".join(CURVES), help="comma-separated subset")
    add("--results-name", help="default: scaling, or scaling_cuda on CUDA")
    add("--backbone", default=str(DEFAULT_BACKBONE))
    add("--table", default=str(BACKBONE_TABLE), help="pre-training long table")
    add("--flat-tolerance", type=float, default=0.2, help="max growth of 'flat'")
    add(
        "--point-timeout",
        type=float,
        default=1800.0,
        help="seconds a point's process may run; then it is killed and the point failed",
    )
    add(
        "--isolation",
        choices=("process", "none"),
        help="process (default): a fresh interpreter per memory point; none (--quick): here",
    )
    g = parser.add_argument_group("grid (defaults: the full run, or tiny ones with --quick)")
    for key, (full, _, text) in GRID.items():
        g.add_argument("--" + key.replace("_", "-"), type=type(full), help=f"{text} (full: {full})")
    g.add_argument("--add-target", default="huuskonen_logS", help="the task the curves add")
    g.add_argument("--n-property", default="Tm_K", help="--table property for add_task_vs_n")


_log = logger(NAME)


def _ints(text: str) -> list[int]:
    return [int(t) for t in str(text).split(",") if t.strip()]


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
    if len(x_arr) != len(y_arr):
        raise ValueError("x and y must have the same length")
    out: dict[str, Any] = {
        "n_points": len(x_arr),
        "tolerance": tolerance,
        "criterion": "fitted change over the range ≤ +tolerance",
        **dict.fromkeys(("slope", "intercept", "relative_change_first_to_last")),
        **dict.fromkeys(("raw_relative_change", "flat")),
    }
    if np.unique(x_arr).size < 2:
        return out
    slope, intercept = np.polyfit(x_arr, y_arr, 1)
    first, last = intercept + slope * x_arr.min(), intercept + slope * x_arr.max()
    lo, hi = y_arr[np.argmin(x_arr)], y_arr[np.argmax(x_arr)]
    out.update(slope=float(slope), intercept=float(intercept))
    if first > 0:
        change = float((last - first) / first)
        out.update(relative_change_first_to_last=change, flat=change <= tolerance)
    if lo > 0:
        out["raw_relative_change"] = float((hi - lo) / lo)
    return out


def loglog_slope(x: list[float], y: list[float]) -> float | None:
    """Exponent p of y ∝ x^p by least squares on log–log (None for < 2 positive points)."""
    xy = np.array([(a, b) for a, b in zip(x, y) if a and b and a > 0 and b > 0], dtype=float)
    if np.unique(xy.reshape(-1, 2)[:, 0]).size < 2:
        return None
    return float(np.polyfit(*np.log(xy).T, 1)[0])


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
    model = GATEModel(config)
    state = {
        key: value[keep] if key in ("y_mean", "y_std", "classification") else value
        for key, value in backbone.state_dict().items()
        if not key.startswith("tasks.") or key.split(".")[1] in names
    }
    model.load_state_dict(state, strict=True)
    return model.to(next(backbone.parameters()).device).eval()


def _add_config(task_type: str | None, ensemble: int, config: dict, excluded: Any = ()):  # noqa: ANN202 - TaskAdditionConfig
    from gate_core.transfer.addition import TaskAdditionConfig
    from gate_core.transfer.ratios import RatioSettings

    ratios = RatioSettings(mode="learned", excluded=list(excluded))
    return TaskAdditionConfig(
        ratios=ratios, seed=0, task_type=task_type, ensemble=ensemble, **config
    )


def _steps_summary(result) -> dict:  # noqa: ANN001 - TaskAdditionResult
    steps = [m["steps"] for m in result.task.metadata["members"]]
    seconds = result.timings["train_seconds"]
    return {
        "member_steps": steps,
        "total_steps": sum(steps),
        "train_seconds_per_step": seconds / max(1, sum(steps)),
    }


def _load_add_target(name: str, molecules: int) -> tuple[list[str], list[float], str]:
    """The first ``molecules`` of a seeded pick from assets/data/targets/<name>.csv (same pick as task_addition's speed section)."""
    from bench.task_addition import load_target

    smiles, y, task_type = load_target(name)
    pick = np.sort(np.random.default_rng(0).choice(len(smiles), molecules, replace=False))
    return [smiles[i] for i in pick], [float(y[i]) for i in pick], task_type


def _outcome(r: dict, text: str) -> str:
    """A point's log line: ``text`` filled in from its result, or its error."""
    return r["error"] if "error" in r else text.format(**r)


# ------------------------------------------------------------------------------ measured points
#
# Each worker measures one point from a spec dict; :func:`measure` runs it in a fresh interpreter.


def _worker_add_task(spec: dict) -> dict:
    """One ``add_task`` call from raw SMILES: clocks, featurise/train split, steps, peak memory."""
    from gate_core.models.checkpoint import load_checkpoint
    from gate_core.transfer.addition import add_task

    device, excluded = spec["device"], spec.get("excluded", [])
    backbone, _ = load_checkpoint(spec["backbone"], device)
    if spec.get("sources"):
        backbone = subset_backbone(backbone, spec["sources"])
    backbone.requires_grad_(False)
    config = _add_config(spec["task_type"], spec["ensemble"], spec["config"], excluded)
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
    """Median ms of one pre-training step on the first T tasks, after warm-up steps: collate,
    device copy, the full GATE objective of one alignment form (``mean``, O(T), or ``pairwise``,
    exact, O(T²)), backward, Adam; batches from consecutive seeded permutations. The features
    come in the spec (``graphs``, ``descriptors``, labels ``Y``, ``tasks``)."""
    import torch

    from gate_core.data.collate import MoleculeDataset
    from gate_core.data.scaler import StandardScaler
    from gate_core.models.gate import TaskInfo
    from gate_core.training.objective import GATEObjective, LossWeights
    from gate_core.training.pretrain import PretrainConfig, build_model

    data, t, size, device = spec["features"], spec["n_tasks"], spec["batch_size"], spec["device"]
    y, warmup = data["Y"][:, :t], spec["warmup"]
    y_scaler, d_scaler = StandardScaler.fit(y), StandardScaler.fit(data["descriptors"])
    dataset = MoleculeDataset(data["graphs"], data["descriptors"], y_scaler.transform(y))
    config = PretrainConfig(batch_size=size, seed=0)
    torch.manual_seed(0)
    model = build_model(config, [TaskInfo(name) for name in data["tasks"][:t]])
    model.set_scalers(y_scaler.mean, y_scaler.std, d_scaler.mean, d_scaler.std)
    objective = GATEObjective(model.to(device).train(), LossWeights(), spec["form"])
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    rng, n_steps = np.random.default_rng(0), warmup + spec["steps"]
    order = np.concatenate(
        [rng.permutation(len(dataset)) for _ in range(n_steps * size // len(dataset) + 1)]
    )
    batches = order[: n_steps * size].reshape(n_steps, size).tolist()
    load, timings = os.getloadavg()[0], []
    with PeakMemory(device) as mem:
        for index in batches:
            with timed(device) as step:
                terms = objective(dataset.collate(index).to(device))
                optimizer.zero_grad(set_to_none=True)
                terms["total"].backward()
                optimizer.step()
            timings.append(step)
    wall, cpu = (np.array([getattr(s, k) for s in timings[warmup:]]) for k in ("wall", "cpu"))
    return {
        "step_ms": 1000 * np.median(wall),
        "step_cpu_ms": 1000 * np.median(cpu),
        "load_1min": load,
        "step_ms_p10": 1000 * np.percentile(wall, 10),
        "step_ms_p90": 1000 * np.percentile(wall, 90),
        "mol_per_s": size / np.median(wall),
        "steps": len(wall),
        **mem.result,
        "labels_in_timed_batches": int(sum(dataset.mask[i].sum() for i in batches[warmup:])),
    }


WORKERS = {"add_task": _worker_add_task, "pretrain_step": _worker_pretrain_step}


def _measuring_process(conn: Connection, worker: Callable[[dict], dict], spec: dict) -> None:
    """The body of :func:`measure`'s fresh interpreter: its own process group (so that a timeout
    kills whatever it started too), torch/BLAS capped at ``spec["threads"]``, then ``worker(spec)``;
    ``("result", dict)`` or ``("error", text)`` goes back through ``conn``."""
    os.setpgrp()
    try:
        limit_threads(spec["threads"])
        conn.send(("result", worker(spec)))
    except Exception as exc:  # noqa: BLE001 - sent back as the point's error
        traceback.print_exc()
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _kill_group(process: multiprocessing.process.BaseProcess) -> None:
    """SIGKILL what is left of ``process``'s group (itself and what it started), then reap it."""
    with contextlib.suppress(ProcessLookupError):  # the group is gone, or was never made
        os.killpg(process.pid, signal.SIGKILL)
    process.kill()
    process.join()


def measure(spec: dict, fresh: bool = True) -> dict:
    """One memory-measured point, ``WORKERS[spec["kind"]](spec)``: in a fresh interpreter
    (spawned, its torch/BLAS threads capped at ``spec["threads"]``; ``process_seconds`` is its
    start, imports, loading and the point) or, ``fresh=False``, here. A failure is recorded as
    ``{"error": ...}``, not raised, so the curve goes on; so is a fresh point that has not
    answered after ``spec["timeout"]`` seconds (when set), whose processes are then killed."""
    elapsed = stopwatch()
    worker = WORKERS[spec["kind"]]
    if not fresh:
        try:
            return worker(spec)
        except Exception as exc:  # noqa: BLE001 - a failed point is recorded, the curve goes on
            traceback.print_exc()
            return {"error": f"{type(exc).__name__}: {exc}"}
    spawn = multiprocessing.get_context("spawn")
    here, there = spawn.Pipe(duplex=False)
    process = spawn.Process(target=_measuring_process, args=(there, worker, spec))
    process.start()
    there.close()  # so that a process that dies without answering reads as end of file here
    timeout = spec.get("timeout")
    try:
        kind, value = here.recv() if here.poll(timeout) else ("timeout", None)
    except EOFError:
        kind, value = "died", None
    finally:
        here.close()
    if kind != "timeout":
        process.join(EXIT_GRACE_SECONDS)
    _kill_group(process)  # a hung point, or what a finished one left running
    if kind == "result":
        return value | {"process_seconds": elapsed()}
    if kind == "timeout":
        return {"error": f"timed out after {timeout:g} s (--point-timeout); its processes killed"}
    if kind == "died":
        return {"error": f"the measuring process died (exit code {process.exitcode})"}
    return {"error": value}


# ----------------------------------------------------------------------------------------- curves


#: what an ``exclude`` point keeps beside the ``subset`` one (its ``excluded`` block)
EXCLUDED_KEYS = (
    *("wall_seconds", "cpu_seconds", "load_1min", "featurize_seconds", "train_seconds"),
    *("peak_memory_mb", "total_steps", "train_seconds_per_step", "sources_computed"),
    *("sources_active", "error"),
)
ADD_DONE = "{wall_seconds:.1f} s (train {train_seconds:.1f} s), peak +{peak_memory_mb:.0f} MB"


def _add_spec(ctx: dict, name: str, task_type: str | None, **data: Any) -> dict:
    """The worker spec of one ``add_task`` point (molecules and values in ``data``)."""
    spec = {"kind": "add_task", "backbone": ctx["args"].backbone, "device": ctx["device"]}
    spec.update(threads=ctx["threads"], timeout=ctx["point_timeout"])
    spec.update(name=name, task_type=task_type)
    return {**spec, "ensemble": ctx["grid"]["ensemble"], "config": ctx["add_config"], **data}


def curve_add_task_vs_sources(ctx: dict) -> list[dict]:
    """S sources two ways: a backbone copy with its first S sources (top level), and the full
    backbone with the others excluded (``excluded``; the same run when S is every source)."""
    args, g, names, fresh = ctx["args"], ctx["grid"], ctx["source_names"], ctx["fresh"]
    smiles, values, task_type = _load_add_target(args.add_target, g["add_molecules"])
    base = _add_spec(ctx, f"scaling_{args.add_target}", task_type, smiles=smiles, values=values)
    points = []
    for k in (k for k in _ints(g["sources"]) if k <= len(names)):
        every = k == len(names)  # nothing to exclude: the full backbone, one run
        r = measure(base if every else {**base, "sources": names[:k]}, fresh)
        ex = r if every else measure({**base, "excluded": names[k:]}, fresh)
        excluded = {key: ex[key] for key in EXCLUDED_KEYS if ex.get(key) is not None}
        excluded |= {"same_run_as_subset": True} if every else {}
        points.append({"n_sources": k, "n": len(smiles), **r, "sources_via": "subset"})
        points[-1]["excluded"] = excluded
        _log(f"S = {k}: subset {_outcome(r, ADD_DONE)}; excluded {_outcome(ex, ADD_DONE)}")
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
    for n in (n for n in _ints(g["sizes"]) if n <= len(table)):
        idx = np.sort(order[:n])
        data = {"smiles": [table.smiles[i] for i in idx], "values": table.Y[idx, 0].tolist()}
        points.append({"n": n, **measure({**base, **data}, ctx["fresh"])})
        _log(f"n = {n}: " + _outcome(points[-1], ADD_DONE))
    return points


def curve_add_task_vs_existing(ctx: dict) -> list[dict]:
    import pandas as pd

    from gate_core.api import GateStudio
    from gate_core.data.featurize import clear_caches, featurize_molecules
    from gate_core.transfer.addition import add_task

    args, g = ctx["args"], ctx["grid"]
    smiles, values, task_type = _load_add_target(args.add_target, g["add_molecules"])
    frame = pd.DataFrame({"smiles": smiles, "value": values})
    query = ctx["pool"][:512]
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
            added = sum(c.startswith("scaling_task_") and c.endswith("_ad_score") for c in out)
            times = result.timings
            points.append(
                {
                    "existing_tasks": i,
                    "wall_seconds": add.wall,
                    "cpu_seconds": add.cpu,
                    "predict_seconds": one.wall,
                    "predict_cpu_seconds": one.cpu,
                    "predict_all_seconds": every.wall,
                    "load_1min": load,
                    "featurize_seconds": times["featurize_seconds"],
                    "train_seconds": times["train_seconds"],
                    "register_seconds": add.wall - times["total_seconds"],
                    **_steps_summary(result),
                    "predict_molecules": len(query),
                    "predict_all_tasks": len(studio.backbone.property_names) + added,
                }
            )
            _log(f"existing = {i}: add {add.wall:.1f} s, predict it {one.wall * 1000:.0f} ms")
    return points


def curve_pretrain_step_vs_tasks(ctx: dict) -> list[dict]:
    from gate_core.data.featurize import featurize_molecules
    from gate_core.training.pretrain import PretrainConfig, load_table

    args, g = ctx["args"], ctx["grid"]
    config = PretrainConfig(table=args.table, max_molecules=g["pretrain_molecules"], seed=0)
    table = load_table(config)
    graphs, descriptors = featurize_molecules(table.smiles)
    features = {"graphs": graphs, "descriptors": descriptors, "Y": table.Y, "tasks": table.tasks}
    ctx["data"]["pretrain_step_vs_tasks"] = {
        "table": str(args.table),
        "molecules": len(table),
        "tasks_in_order": list(table.tasks),
        "pick": "the same deterministic subsample for every T; T tasks = the first T of the backbone's task list",
    }
    spec = {"kind": "pretrain_step", "features": features, "device": ctx["device"]}
    spec.update(threads=ctx["threads"], steps=g["pretrain_steps"], warmup=g["pretrain_warmup"])
    spec.update(batch_size=g["pretrain_batch_size"], timeout=ctx["point_timeout"])
    points = []
    for t in (t for t in _ints(g["tasks"]) if 2 <= t <= len(table.tasks)):
        for form in ("pairwise", "mean"):
            r = measure({**spec, "n_tasks": t, "form": form}, ctx["fresh"])
            points.append({"n_tasks": t, "alignment": form, "batch_size": spec["batch_size"], **r})
            _log(f"T = {t} {form}: " + _outcome(r, "{step_ms:.0f} ms/step"))
    return points


def _throughput(ctx: dict, per_call: int, fn: Callable) -> tuple[int, list[list[str]], Any]:
    """``fn(chunk)`` over ``per_call``-molecule chunks of the pool from cold feature caches:
    (molecules, the chunks, the pass's :func:`bench.common.timed` clock); :func:`call_sizes`."""
    from gate_core.data.featurize import clear_caches

    molecules, _ = call_sizes(per_call, len(ctx["pool"]), ctx["grid"]["max_calls"])
    chunks = [ctx["pool"][s : s + per_call] for s in range(0, molecules, per_call)]
    clear_caches()
    gc.collect()
    with timed() as t:
        for chunk in chunks:
            fn(chunk)
    return molecules, chunks, t


def curve_predict_vs_batch(ctx: dict) -> list[dict]:
    from gate_core.transfer.addition import add_task

    args, g, backbone = ctx["args"], ctx["grid"], ctx["backbone"]
    smiles, values, task_type = _load_add_target(args.add_target, g["add_molecules"])
    config = _add_config(task_type, g["ensemble"], PREDICT_TASK_CONFIG)
    task = add_task(backbone, smiles, values, "scaling_predict", config).task
    points = []
    for b in _ints(g["batch_sizes"]):
        molecules, chunks, cold = _throughput(ctx, b, lambda c: task.predict(backbone, c))
        with timed() as warm:  # the same calls again
            for chunk in chunks:
                task.predict(backbone, chunk)
        c, w, calls = cold.wall, warm.wall, len(chunks)
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
        _log(f"predict: batch {b}: {molecules / c:,.0f} mol/s cold, {molecules / w:,.0f} warm")
    return points


def curve_featurize_vs_batch(ctx: dict) -> list[dict]:
    from gate_core.data.featurize import featurize_molecules

    descriptors = ctx["backbone"].config.n_descriptors > 0
    points = []
    for m in _ints(ctx["grid"]["featurize_sizes"]):
        n, chunks, t = _throughput(
            ctx, m, lambda c: featurize_molecules(c, descriptors=descriptors)
        )
        points.append(
            {
                "molecules": m,
                "mol_per_s": n / t.wall,
                "mol_per_cpu_s": n / t.cpu if t.cpu else None,
                "total_molecules": n,
                "calls": len(chunks),
                "seconds": t.wall,
                "device": "cpu",
            }
        )
        _log(f"featurise: {m} per call: {n / t.wall:,.0f} mol/s")
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
    kept beside it (``flat_check.wall``).
    """
    ex = curves.get("add_task_vs_existing", [])
    x = [p["existing_tasks"] for p in ex]
    flat = flat_check(x, [p["cpu_seconds"] for p in ex], tolerance)
    flat["slope_seconds_per_existing_task"] = flat.pop("slope")
    flat["metric"] = "cpu_seconds of GateStudio.add_task (same data, seed and settings at every i)"
    flat["wall"] = flat_check(x, [p["wall_seconds"] for p in ex], tolerance)
    flat["predict"] = flat_check(x, [p["predict_cpu_seconds"] for p in ex], tolerance)
    flat["predict"]["metric"] = "predict_cpu_seconds (GateStudio.predict of the new task only)"
    exponents = {}
    for name, (curve, y, form) in EXPONENTS.items():
        pts = [p for p in curves.get(curve, []) if y in p and form in (None, p.get("alignment"))]
        exponents[name] = loglog_slope([p[X_NAME[curve]] for p in pts], [p[y] for p in pts])
    return {"flat_check": flat, "loglog_exponents": exponents}


#: curve → (title, intro: a format string over :func:`markdown`'s fields, table header, columns)
SECTIONS = {
    "add_task_vs_sources": (
        "Add a task vs number of source tasks S",
        "{d[add_target]}; *excluded*: the full backbone with the other sources excluded.",
        "S | wall s | CPU s | ms / training step | steps (K members) | peak MB | load"
        " | excluded: wall s | excluded: CPU s | excluded: peak MB",
        "n_sources wall_seconds:.1f cpu_seconds:.1f train_seconds_per_step_ms:.1f total_steps"
        " peak_memory_mb:.0f load_1min:.1f excluded.wall_seconds:.1f excluded.cpu_seconds:.1f"
        " excluded.peak_memory_mb:.0f",
    ),
    "add_task_vs_n": (
        "Add a task vs training size n",
        "The backbone property `{n[property]}` ({n[distinct_molecules]:,} distinct molecules in"
        " `{n_table}`; {n[pick]}): only the cost means anything here.",
        "n | wall s | CPU s | featurise s | train s | steps | ms / step | peak MB | load",
        "n wall_seconds:.1f cpu_seconds:.1f featurize_seconds:.1f train_seconds:.1f total_steps"
        " train_seconds_per_step_ms:.1f peak_memory_mb:.0f load_1min:.1f",
    ),
    "add_task_vs_existing": (
        "Cost per added task vs tasks already added",
        "`GateStudio.add_task` of the same {d[add_molecules]} molecules into a registry holding i"
        " tasks, then `GateStudio.predict` of {predict_molecules} molecules for the new task and"
        " for every task.",
        "i (existing) | add wall s | add CPU s | of which register s | steps"
        " | predict new task ms | its CPU ms | tasks predicted | predict all ms | load",
        "existing_tasks wall_seconds:.2f cpu_seconds:.2f register_seconds:.2f total_steps"
        " predict_seconds_ms:.0f predict_cpu_seconds_ms:.0f predict_all_tasks"
        " predict_all_seconds_ms:.0f load_1min:.1f",
    ),
    "pretrain_step_vs_tasks": (
        "Pre-training step vs number of tasks T: pairwise vs mean alignment",
        "{p[molecules]} molecules of `{p_table}` ({p[pick]}), batch {g[pretrain_batch_size]},"
        " median of {g[pretrain_steps]} steps after {g[pretrain_warmup]} warm-up steps{each}.",
        "T | pairwise ms/step | mean ms/step | pairwise / mean | pairwise CPU ms"
        " | mean CPU ms | CPU ratio | pairwise peak MB | mean peak MB",
        "t pw.step_ms:.0f mn.step_ms:.0f ratio:.2f pw.step_cpu_ms:.0f mn.step_cpu_ms:.0f"
        " cpu:.2f pw.peak_memory_mb:.0f mn.peak_memory_mb:.0f",
    ),
    "predict_vs_batch": (
        "Prediction throughput vs batch size",
        "`AddedTask.predict` (K = {s[ensemble]}); cold = feature caches cleared first, warm = the"
        " same calls again.",
        "molecules / call | calls | cold mol/s | warm mol/s | cold ms / call",
        "batch_size calls mol_per_s:,.0f warm_mol_per_s:,.0f ms_per_call:.1f",
    ),
    "featurize_vs_batch": (
        "Featurisation throughput vs molecules per call",
        "`featurize_molecules` (CPU), cold caches, {s[threads]} thread(s).",
        "molecules / call | calls | mol/s | mol per CPU-s",
        "molecules calls mol_per_s:,.0f mol_per_cpu_s:,.0f",
    ),
}


def _rows(curve: str, points: list[dict]) -> list[dict]:
    """A curve's table rows: each ``*seconds*`` value also as ``<key>_ms``; the pre-training
    points paired by T (``pw`` pairwise, ``mn`` mean, their ratios)."""
    points = [
        p | {f"{k}_ms": 1000 * v for k, v in p.items() if "seconds" in k and v is not None}
        for p in points
    ]
    if curve != "pretrain_step_vs_tasks":
        return points
    by_t: dict[int, dict] = {}
    for p in points:
        by_t.setdefault(p["n_tasks"], {})[p["alignment"]] = p
    return [
        {"t": t, "pw": (pw := f.get("pairwise", {})), "mn": (mn := f.get("mean", {}))}
        | {k: pw[m] / mn[m] if pw.get(m) and mn.get(m) else None for k, m in RATIOS.items()}
        for t, f in sorted(by_t.items())
    ]


#: pre-training table column → the pairwise / mean ratio it shows
RATIOS = {"ratio": "step_ms", "cpu": "step_cpu_ms"}


def _change(check: dict, unit: str, scale: float = 1.0) -> str:
    """A flat check's slope (times ``scale``, in ``unit``) and change over the range, in words."""
    slope, change = check["slope"], check["relative_change_first_to_last"]
    spec = "+.3f" if scale == 1 else "+.2f"
    return f"slope {fmt(slope and scale * slope, spec)} {unit}, change {fmt(change and 100 * change, '+.1f')} %"


def _flat_text(f: dict) -> str:
    """The flat check of ``add_task_vs_existing`` in words."""
    flat = {True: "**flat**", False: "**not flat**", None: "n/a"}
    slope = f | {"slope": f["slope_seconds_per_existing_task"]}
    return (
        f"\nFlat check on {f['metric']} (flat = growth ≤ +{f['tolerance']:.0%}): "
        f"{_change(slope, 's per existing task')}: {flat[f['flat']]}. On wall seconds: "
        f"{_change(f['wall'], 's per task')} ({flat[f['wall']['flat']]}; wall time follows the"
        f" machine's load). Prediction of the new task alone ({f['predict']['metric']}): "
        f"{_change(f['predict'], 'ms per task', 1000)}.\n"
    )


def markdown(state: dict) -> str:
    """The result's one renderer; what each curve measures is in bench/README.md. A table gets
    an ``error`` column only where a point failed."""
    c, s, d, dev = state["curves"], state["settings"], state["data"], state["device"]
    fresh = s["isolation"] == "process"
    mem = (
        "GPU memory allocated above the level before the call"
        if dev.startswith("cuda")
        else ("peak RSS growth during the call")
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
    n, p = d.get("add_task_vs_n", {}), d.get("pretrain_step_vs_tasks", {})
    fields = {"d": d, "s": s, "g": s["grid"], "n": n, "p": p}
    fields |= {"n_table": Path(str(n.get("table"))).name, "p_table": Path(str(p.get("table"))).name}
    fields |= {"each": ", each (T, form) in a fresh process" if fresh else ""}
    fields["predict_molecules"] = (c.get("add_task_vs_existing") or [{}])[0].get(
        "predict_molecules"
    )
    parts = [
        f"# Scaling curves ({dev})\n\n{state['status']}. One measurement per point, {s['threads']} "
        f"torch thread(s); add-task points: learned λ, K = {s['ensemble']}, {add}. Peak memory = "
        f"{mem}. Grid: {json.dumps(s['grid'])}.\n"
    ]
    for curve, (title, intro, header, keys) in SECTIONS.items():
        if not c.get(curve):
            continue
        if any("error" in p for p in c[curve]):
            header, keys = header + " | error", keys + " error"
        table_ = records_table(header, keys, _rows(curve, c[curve]))
        parts.append(f"## {title}\n\n{intro.format(**fields)}\n\n{table_}\n")
        if curve == "add_task_vs_existing":
            parts[-1] += _flat_text(state["flat_check"])
    e = [[k, fmt(v)] for k, v in state["loglog_exponents"].items() if v is not None]
    if e:
        rows = table("quantity | exponent", e)
        parts.append(f"## Growth exponents (least squares on log–log; 1 = linear)\n\n{rows}\n")
    runs = [
        f"{k} {v['seconds']:.0f} s, load {v['load_before'][0]:.2f} → {v['load_after'][0]:.2f}"
        for k, v in state["curve_runs"].items()
    ]
    parts.append(
        f"Per-curve wall time and load average (1 min, before → after): {'; '.join(runs)}.\n"
    )
    return "\n".join(parts)


# -------------------------------------------------------------------------------------------- run


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    import pandas as pd
    import torch

    from gate_core.models.checkpoint import load_checkpoint

    elapsed = stopwatch()
    curves = [c.strip() for c in args.curves.split(",") if c.strip()]
    if unknown := set(curves) - set(CURVES):
        raise ValueError(f"unknown curves {unknown}; choose from {', '.join(CURVES)}")
    device = (
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    threads = args.threads or len(os.sched_getaffinity(0))
    limit_threads(threads)  # here, in the workers (measure), and in their OpenMP/BLAS pools:
    os.environ.update({f"{lib}_NUM_THREADS": str(threads) for lib in ("OMP", "MKL", "OPENBLAS")})
    name = args.results_name or (NAME + "_cuda" if device.startswith("cuda") else NAME)
    grid = {k: (quick if args.quick else full) for k, (full, quick, _) in GRID.items()}
    grid |= {k: getattr(args, k) for k in GRID if getattr(args, k) is not None}
    backbone, _ = load_checkpoint(args.backbone, device)
    backbone.requires_grad_(False)
    add_config = dict(QUICK_ADD_CONFIG) if args.quick else {}
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
    ctx = {"args": args, "grid": grid, "device": device, "threads": threads, "pool": pool}
    ctx |= {"backbone": backbone, "fresh": isolation == "process", "add_config": add_config}
    ctx |= {"point_timeout": args.point_timeout}
    ctx |= {"source_names": list(backbone.task_names), "data": data}
    state: dict[str, Any] = {
        "device": device,
        "status": "running",
        "settings": dict(backbone=args.backbone, threads=threads, quick=args.quick)
        | dict(isolation=isolation, curves=curves, sources_mode="both", ensemble=grid["ensemble"])
        | dict(point_timeout=args.point_timeout)
        | dict(add_config=add_config, grid=grid, flat_tolerance=args.flat_tolerance),
        "curves": {c: [] for c in CURVES},
        "curve_runs": {},
        "data": data,
    }
    _log(f"{device}, {threads} thread(s), curves {', '.join(curves)}; → {name}.*")
    for i, curve in enumerate(curves):  # the files are written after every curve
        load_before, curve_elapsed = loadavg(), stopwatch()
        _log(f"curve {i + 1}/{len(curves)}: {curve}")
        state["curves"][curve] = RUNNERS[curve](ctx)
        state["curve_runs"][curve] = {"seconds": curve_elapsed(), "load_before": load_before}
        state["curve_runs"][curve]["load_after"] = loadavg()
        state["status"] = f"Running: {i + 1} of {len(curves)} curves done"
        if i + 1 == len(curves):
            state["status"] = f"Complete: {len(curves)} curve(s) in {elapsed() / 60:.1f} min"
        state |= summarise(state["curves"], args.flat_tolerance) | {"wall_seconds": elapsed()}
        paths = write_results(name, state, markdown, args.results_dir, csv_rows(name, state))
    return paths
