"""Scaling curves, each from one run (issue #6): how cost grows with the size of the problem.

The curves and what one point measures are in bench/README.md (``scaling``). Each curve is a
generator of points; points whose peak memory counts run in a fresh interpreter (:func:`measure`),
so nothing an earlier point allocated is reused or counted; :class:`bench.common.PeakMemory`
reads the peak.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import json
import multiprocessing
import os
import signal
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    PeakMemory,
    _flat,
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
    "add_molecules": (500, 40, "molecules of the added task (ADD_TARGET)"),
    "pretrain_molecules": (2000, 64, "molecules of the pre-training step curve"),
    "pretrain_steps": (20, 2, "timed steps per (T, form) point"),
    "pretrain_warmup": (3, 1, "untimed steps before them"),
    "pretrain_batch_size": (64, 16, "batch of a pre-training step"),
    "max_calls": (256, 8, "predict/featurise points make at most this many calls"),
    "ensemble": (5, 2, "K of every task addition"),
}
#: the task the add-task and predict curves add; the TABLE property add_task_vs_n adds
ADD_TARGET, N_PROPERTY = "huuskonen_logS", "Tm_K"
#: the run's fixed settings, kept in the result: one torch/BLAS thread in every measuring process
#: (why: bench/README.md), the flat check's tolerance, seconds before a hung point is killed
FIXED = {"backbone": str(DEFAULT_BACKBONE), "table": str(BACKBONE_TABLE), "threads": 1}
FIXED |= {"flat_tolerance": 0.2, "point_timeout": 1800.0}
# --quick trains each member for a few steps only, with the learned-ratio outer step still exercised
QUICK_ADD_CONFIG = {"max_steps": 6, "warmup_steps": 2, "outer_every": 3, "eval_every": 3}
#: seconds a measuring process may take to exit after it answered, before it is killed
EXIT_GRACE_SECONDS = 30
# the task that predict_vs_batch times: K members, trained briefly (prediction cost does not depend on training length)
PREDICT_TASK_CONFIG = {"max_steps": 20, "warmup_steps": 5, "outer_every": 5, "eval_every": 10}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--device", default="cpu", help="cpu | cuda (then the results are scaling_cuda.*)")
    add("--quick", action="store_true", help="tiny grid, in-process: a smoke test of every curve")
    add("--curves", default=",".join(CURVES), help="comma-separated subset")
    g = parser.add_argument_group("grid (defaults: the full run, or tiny ones with --quick)")
    for key, (full, _, text) in GRID.items():
        g.add_argument("--" + key.replace("_", "-"), type=type(full), help=f"{text} (full: {full})")


_log = logger(NAME)


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",")]


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
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    out = {"n_points": len(x), "tolerance": tolerance}
    out["criterion"] = "fitted change over the range ≤ +tolerance"
    out |= dict.fromkeys(["slope", "intercept", "relative_change_first_to_last"])
    out |= dict.fromkeys(["raw_relative_change", "flat"])
    if np.unique(x).size < 2:
        return out
    slope, intercept = np.polyfit(x, y, 1)
    first, last = np.polyval((slope, intercept), [x.min(), x.max()])
    out.update(slope=float(slope), intercept=float(intercept))
    if first > 0:
        change = float((last - first) / first)
        out.update(relative_change_first_to_last=change, flat=change <= tolerance)
    if (lo := y[x.argmin()]) > 0:
        out["raw_relative_change"] = float((y[x.argmax()] - lo) / lo)
    return out


def loglog_slope(x: list[float], y: list[float]) -> float | None:
    """Exponent p of y ∝ x^p by least squares on log–log (None for < 2 positive points)."""
    x, y = np.array(x, dtype=float), np.array(y, dtype=float)  # None → NaN, left out below
    keep = (x > 0) & (y > 0)
    if np.unique(x[keep]).size < 2:
        return None
    return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0])


def call_sizes(batch: int, pool: int, max_calls: int) -> int:
    """Molecules of one throughput point: ``batch`` molecules per call, at most ``max_calls``
    calls and at most ``pool`` molecules, but always at least one full call."""
    return max(batch, min(pool, batch * max_calls))


def long_rows(curves: dict[str, list[dict]], device: str) -> list[dict]:
    """Long CSV rows (curve, x_name, x, metric, value, device): one per numeric field of each point;
    nested dicts become dotted metric names (``excluded.wall_seconds``), lists and text are left out."""
    rows = []
    for curve, points in curves.items():
        x = X_NAME[curve]
        rows += [
            {"curve": curve, "x_name": x, "x": p[x], "metric": k, "value": v}
            | {"device": p.get("device", device)}
            for p in points
            for k, v in _flat(p).items()
            if k != x and isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
    return rows


# --------------------------------------------------------------------------------------- helpers


def subset_backbone(backbone, names: list[str]):  # noqa: ANN001, ANN201 - GATEModel → GATEModel
    """A copy of ``backbone`` with only the source tasks ``names`` (in that order): same encoder,
    descriptor scalers and those tasks' modules and target scalers — a backbone with fewer sources."""
    import copy

    from gate_core.models.gate import GATEModel

    if not names or not set(names) <= set(backbone.task_names):
        raise ValueError(f"unknown or no source tasks: {names}")
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


def _add_config(task_type: str | None, ensemble: int, config: dict, excluded: Any = ()):  # noqa: ANN202
    """The ``TaskAdditionConfig`` of every addition here: learned λ, seed 0."""
    from gate_core.transfer.addition import TaskAdditionConfig
    from gate_core.transfer.ratios import RatioSettings

    ratios = RatioSettings(mode="learned", excluded=list(excluded))
    return TaskAdditionConfig(
        ratios=ratios, seed=0, task_type=task_type, ensemble=ensemble, **config
    )


def _steps_summary(result) -> dict:  # noqa: ANN001 - TaskAdditionResult
    steps = [m["steps"] for m in result.task.metadata["members"]]
    per_step = result.timings["train_seconds"] / max(1, sum(steps))
    return {"member_steps": steps, "total_steps": sum(steps), "train_seconds_per_step": per_step}


def _load_add_target(ctx: argparse.Namespace) -> tuple[list[str], list[float], str]:
    """``ctx.add_molecules`` of a seeded pick from assets/data/targets/<ADD_TARGET>.csv (the
    same pick as task_addition's speed section)."""
    from bench.task_addition import load_target

    smiles, y, task_type = load_target(ADD_TARGET)
    pick = np.sort(np.random.default_rng(0).choice(len(smiles), ctx.add_molecules, replace=False))
    return [smiles[i] for i in pick], [float(y[i]) for i in pick], task_type


# ------------------------------------------------------------------------------ measured points
#
# A worker measures one point from a spec: the run's context (below) without its loaded backbone,
# plus the point's own fields. :func:`measure` runs it in a fresh interpreter.


def _worker_add_task(s: argparse.Namespace) -> dict:
    """One ``add_task`` call from raw SMILES: clocks, featurise/train split, steps, peak memory;
    on a backbone copy with the sources ``s.subset``, or with ``s.excluded`` excluded."""
    from gate_core.models.checkpoint import load_checkpoint
    from gate_core.transfer.addition import add_task

    backbone, _ = load_checkpoint(s.backbone, s.device)
    excluded = getattr(s, "excluded", [])
    if getattr(s, "subset", None):
        backbone = subset_backbone(backbone, s.subset)
    backbone.requires_grad_(False)
    config = _add_config(s.task_type, s.ensemble, s.add_config, excluded)
    load = os.getloadavg()[0]
    with PeakMemory(s.device) as mem, timed(s.device) as t:
        result = add_task(backbone, s.smiles, s.values, s.task_name, config)
    featurize, train = result.timings["featurize_seconds"], result.timings["train_seconds"]
    point = {"wall_seconds": t.wall, "cpu_seconds": t.cpu, "load_1min": load}
    point |= {"featurize_seconds": featurize, "train_seconds": train}
    point |= {"other_seconds": t.wall - featurize - train, **_steps_summary(result), **mem.result}
    sources = len(backbone.task_names)
    point |= {"sources_computed": sources, "sources_active": sources - len(excluded)}
    return point | {"n_train": result.task.metadata["n_train"]}


def _worker_pretrain_step(s: argparse.Namespace) -> dict:
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

    data, size, warmup = s.features, s.pretrain_batch_size, s.pretrain_warmup
    y = data["Y"][:, : s.n_tasks]
    y_scaler, d_scaler = StandardScaler.fit(y), StandardScaler.fit(data["descriptors"])
    dataset = MoleculeDataset(data["graphs"], data["descriptors"], y_scaler.transform(y))
    config = PretrainConfig(batch_size=size, seed=0)
    torch.manual_seed(0)
    model = build_model(config, [TaskInfo(name) for name in data["tasks"][: s.n_tasks]])
    model.set_scalers(y_scaler.mean, y_scaler.std, d_scaler.mean, d_scaler.std)
    objective = GATEObjective(model.to(s.device).train(), LossWeights(), s.form)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    rng, n_steps = np.random.default_rng(0), warmup + s.pretrain_steps
    order = np.concatenate(
        [rng.permutation(len(dataset)) for _ in range(n_steps * size // len(dataset) + 1)]
    )
    batches = order[: n_steps * size].reshape(n_steps, size).tolist()
    load, timings = os.getloadavg()[0], []
    with PeakMemory(s.device) as mem:
        for index in batches:
            with timed(s.device) as step:
                terms = objective(dataset.collate(index).to(s.device))
                optimizer.zero_grad(set_to_none=True)
                terms["total"].backward()
                optimizer.step()
            timings.append(step)
    wall, cpu = (np.array([getattr(t, k) for t in timings[warmup:]]) for k in ("wall", "cpu"))
    point = {"step_ms": 1000 * np.median(wall), "step_cpu_ms": 1000 * np.median(cpu)}
    point |= {"load_1min": load, "step_ms_p10": 1000 * np.percentile(wall, 10)}
    point |= {"step_ms_p90": 1000 * np.percentile(wall, 90), "mol_per_s": size / np.median(wall)}
    labels = int(sum(dataset.mask[i].sum() for i in batches[warmup:]))
    return point | {"steps": len(wall), **mem.result, "labels_in_timed_batches": labels}


def _attempt(worker: Callable, spec: Any) -> dict:
    """``worker(spec)``, or ``{"error": ...}`` if it raised, so the curve goes on."""
    try:
        return worker(spec)
    except Exception as exc:  # noqa: BLE001 - a failed point is recorded, the curve goes on
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"}


def _measuring_process(conn: Any, worker: Callable, spec: Any) -> None:
    """The body of :func:`measure`'s fresh interpreter: its own process group (so that a timeout
    kills whatever it started too), torch/BLAS capped at ``spec.threads``, then the point."""
    os.setpgrp()
    limit_threads(spec.threads)
    conn.send(_attempt(worker, spec))


def measure(worker: Callable, ctx: argparse.Namespace, **point: Any) -> dict:
    """One memory-measured point, ``worker(spec)``, the spec being ``ctx`` (without its loaded
    backbone: a worker loads its own) with ``point``'s fields: if ``ctx.fresh``, in a fresh
    interpreter (spawned, its torch/BLAS threads capped at ``ctx.threads``; ``process_seconds`` is
    its start, imports, loading and the point), else here. A failure is recorded as
    ``{"error": ...}``, not raised; so is a fresh point that has not answered after
    ``ctx.point_timeout`` seconds (when set), whose process group is then killed."""
    spec = argparse.Namespace(**vars(ctx) | point | {"model": None})
    if not spec.fresh:
        return _attempt(worker, spec)
    elapsed, spawn, timeout = stopwatch(), multiprocessing.get_context("spawn"), spec.point_timeout
    here, there = spawn.Pipe(duplex=False)
    process = spawn.Process(target=_measuring_process, args=(there, worker, spec))
    process.start()
    there.close()  # so that a process that dies without answering reads as end of file here
    answered, r = here.poll(timeout), None
    if answered:
        with contextlib.suppress(EOFError):  # it died without answering: r stays None
            r = here.recv()
        process.join(EXIT_GRACE_SECONDS)
    with contextlib.suppress(ProcessLookupError):  # a hung point, or what a finished one left
        os.killpg(process.pid, signal.SIGKILL)
    process.kill()
    process.join()
    if not answered:
        return {"error": f"timed out after {timeout:g} s; its processes killed"}
    if r is None:
        return {"error": f"the measuring process died (exit code {process.exitcode})"}
    return r if "error" in r else r | {"process_seconds": elapsed()}


# ----------------------------------------------------------------------------------------- curves
#
# A curve is a generator of points over the run's context ``ctx``: the arguments with the grid
# filled in, plus device, threads, the loaded backbone (``model``), the molecule ``pool``,
# ``fresh``, ``add_config`` and ``data`` (what the curves describe of their data).

#: what an ``exclude`` point keeps beside the ``subset`` one (its ``excluded`` block)
EXCLUDED_KEYS = (
    "wall_seconds cpu_seconds load_1min featurize_seconds train_seconds peak_memory_mb total_steps"
    " train_seconds_per_step sources_computed sources_active error"
).split()


def curve_add_task_vs_sources(ctx):
    """S sources two ways: a backbone copy with its first S sources (top level), and the full
    backbone with the others excluded (``excluded``; the same run when S is every source)."""
    names = ctx.model.task_names
    smiles, values, task_type = _load_add_target(ctx)
    point = dict(task_name=f"scaling_{ADD_TARGET}", task_type=task_type)
    add = functools.partial(measure, _worker_add_task, ctx, **point, smiles=smiles, values=values)
    for k in (k for k in _ints(ctx.sources) if k <= len(names)):
        every = k == len(names)  # nothing to exclude: the full backbone, one run
        r = add(subset=None if every else names[:k])
        ex = r if every else add(excluded=names[k:])
        excluded = {key: ex[key] for key in EXCLUDED_KEYS if ex.get(key) is not None}
        excluded |= {"same_run_as_subset": True} if every else {}
        yield {"n_sources": k, "n": len(smiles), **r, "sources_via": "subset", "excluded": excluded}


def curve_add_task_vs_n(ctx):
    from gate_core.data.table import MultiTaskTable

    table = MultiTaskTable.read_long(ctx.table, [N_PROPERTY])
    order = np.random.default_rng(0).permutation(len(table))
    ctx.data["add_task_vs_n"] = {
        "property": N_PROPERTY,
        "table": str(ctx.table),
        "distinct_molecules": len(table),
        "pick": "first n of one seeded permutation (nested sets)",
    }
    for n in (n for n in _ints(ctx.sizes) if n <= len(table)):
        idx = np.sort(order[:n])
        smiles, values = [table.smiles[i] for i in idx], table.Y[idx, 0].tolist()
        point = dict(task_name=f"scaling_{N_PROPERTY}", task_type="regression", smiles=smiles)
        yield {"n": n, **measure(_worker_add_task, ctx, **point, values=values)}


def curve_add_task_vs_existing(ctx):
    import pandas as pd

    from gate_core.api import GateStudio
    from gate_core.data.featurize import clear_caches, featurize_molecules
    from gate_core.transfer.addition import add_task

    smiles, values, task_type = _load_add_target(ctx)
    frame = pd.DataFrame({"smiles": smiles, "value": values})
    query = ctx.pool[:512]
    with tempfile.TemporaryDirectory(prefix="gate-scaling-registry-") as data_dir:
        studio = GateStudio(ctx.backbone, data_dir=data_dir, device=ctx.device)
        # warm-up outside the clock (torch/autograd first-call costs would land on i = 0); its
        # settings reach the hypergradient and evaluation paths too
        warm = dict(max_steps=40, warmup_steps=5, outer_every=5, eval_every=10)
        add_task(studio.backbone, smiles, values, "warmup", _add_config(task_type, 1, warm))
        config = _add_config(task_type, ctx.ensemble, ctx.add_config)
        for i in range(ctx.existing):
            name = f"scaling_task_{i}"
            clear_caches()  # every addition starts from raw SMILES, as a user's does
            gc.collect()
            load = os.getloadavg()[0]
            with timed(ctx.device) as add:
                _, result = studio.add_task(frame, "smiles", "value", name, config=config)
            # warm the features: the prediction below times the model, not featurisation
            featurize_molecules(query, descriptors=studio.backbone.config.n_descriptors > 0)
            with timed() as one:
                studio.predict(query, tasks=[name])
            with timed() as every:
                out = studio.predict(query)
            added = sum(c.startswith("scaling_task_") and c.endswith("_ad_score") for c in out)
            times, steps = result.timings, _steps_summary(result)
            point = {"existing_tasks": i, "wall_seconds": add.wall, "cpu_seconds": add.cpu}
            point |= {"predict_seconds": one.wall, "predict_cpu_seconds": one.cpu}
            point |= {"predict_all_seconds": every.wall, "load_1min": load}
            point |= {k: times[k] for k in ("featurize_seconds", "train_seconds")}
            point |= {"register_seconds": add.wall - times["total_seconds"], **steps}
            tasks = len(studio.backbone.property_names) + added
            yield point | {"predict_molecules": len(query), "predict_all_tasks": tasks}


def curve_pretrain_step_vs_tasks(ctx):
    from gate_core.data.featurize import featurize_molecules
    from gate_core.training.pretrain import PretrainConfig, load_table

    table = load_table(PretrainConfig(ctx.table, max_molecules=ctx.pretrain_molecules, seed=0))
    graphs, descriptors = featurize_molecules(table.smiles)
    features = {"graphs": graphs, "descriptors": descriptors, "Y": table.Y, "tasks": table.tasks}
    ctx.data["pretrain_step_vs_tasks"] = {
        "table": str(ctx.table),
        "molecules": len(table),
        "tasks_in_order": list(table.tasks),
        "pick": "the same deterministic subsample for every T; T tasks = the first T of the backbone's task list",
    }
    for t in (t for t in _ints(ctx.tasks) if 2 <= t <= len(table.tasks)):
        for form in ("pairwise", "mean"):
            r = measure(_worker_pretrain_step, ctx, features=features, n_tasks=t, form=form)
            yield {"n_tasks": t, "alignment": form, "batch_size": ctx.pretrain_batch_size, **r}


def _throughput(ctx: argparse.Namespace, per_call: int, fn: Callable) -> tuple[int, list, Any]:
    """``fn(chunk)`` over ``per_call``-molecule chunks of the pool from cold feature caches:
    (molecules, the chunks, the pass's :func:`bench.common.timed` clock); :func:`call_sizes`."""
    from gate_core.data.featurize import clear_caches

    molecules = call_sizes(per_call, len(ctx.pool), ctx.max_calls)
    chunks = [ctx.pool[s : s + per_call] for s in range(0, molecules, per_call)]
    clear_caches()
    gc.collect()
    with timed() as t:
        for chunk in chunks:
            fn(chunk)
    return molecules, chunks, t


def curve_predict_vs_batch(ctx):
    from gate_core.transfer.addition import add_task

    smiles, values, task_type = _load_add_target(ctx)
    config = _add_config(task_type, ctx.ensemble, PREDICT_TASK_CONFIG)
    task = add_task(ctx.model, smiles, values, "scaling_predict", config).task
    for b in _ints(ctx.batch_sizes):
        molecules, chunks, cold = _throughput(ctx, b, lambda c: task.predict(ctx.model, c))
        with timed() as warm:  # the same calls again
            for chunk in chunks:
                task.predict(ctx.model, chunk)
        c, w, calls = cold.wall, warm.wall, len(chunks)
        point = {"batch_size": b, "mol_per_s": molecules / c, "warm_mol_per_s": molecules / w}
        point |= {"molecules": molecules, "calls": calls, "cold_seconds": c, "warm_seconds": w}
        yield point | {"ms_per_call": 1000 * c / calls, "warm_ms_per_call": 1000 * w / calls}


def curve_featurize_vs_batch(ctx):
    from gate_core.data.featurize import featurize_molecules

    descriptors = ctx.model.config.n_descriptors > 0
    featurize = functools.partial(featurize_molecules, descriptors=descriptors)
    for m in _ints(ctx.featurize_sizes):
        n, chunks, t = _throughput(ctx, m, featurize)
        yield {
            "molecules": m,
            "mol_per_s": n / t.wall,
            "mol_per_cpu_s": n / t.cpu if t.cpu else None,
            "total_molecules": n,
            "calls": len(chunks),
            "seconds": t.wall,
            "device": "cpu",
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

    def check(y: str) -> dict:
        return flat_check([p["existing_tasks"] for p in ex], [p[y] for p in ex], tolerance)

    flat = check("cpu_seconds")
    flat["slope_seconds_per_existing_task"] = flat.pop("slope")
    flat["metric"] = "cpu_seconds of GateStudio.add_task (same data, seed and settings at every i)"
    flat["wall"] = check("wall_seconds")
    flat["predict"] = check("predict_cpu_seconds")
    flat["predict"]["metric"] = "predict_cpu_seconds (GateStudio.predict of the new task only)"
    exponents = {}
    for name, (curve, y, form) in EXPONENTS.items():
        pts = [p for p in curves.get(curve, []) if y in p and form in (None, p.get("alignment"))]
        exponents[name] = loglog_slope([p[X_NAME[curve]] for p in pts], [p[y] for p in pts])
    return {"flat_check": flat, "loglog_exponents": exponents}


#: the run's settings kept in the result, besides its grid
SETTINGS = ("backbone", "threads", "quick", "isolation", "curves", "ensemble", "point_timeout")
SETTINGS += ("add_config", "flat_tolerance")
#: curve → (title, intro: a format string over the result and ``table`` (its data's table file
#: names), table header, columns)
SECTIONS = {
    "add_task_vs_sources": (
        "Add a task vs number of source tasks S",
        "{data[add_target]}; *excluded*: the full backbone with the other sources excluded.",
        "S | wall s | CPU s | ms / training step | steps (K members) | peak MB | load"
        " | excluded: wall s | excluded: CPU s | excluded: peak MB",
        "n_sources wall_seconds:.1f cpu_seconds:.1f train_seconds_per_step_ms:.1f total_steps"
        " peak_memory_mb:.0f load_1min:.1f excluded.wall_seconds:.1f excluded.cpu_seconds:.1f"
        " excluded.peak_memory_mb:.0f",
    ),
    "add_task_vs_n": (
        "Add a task vs training size n",
        "The backbone property `{data[add_task_vs_n][property]}`"
        " ({data[add_task_vs_n][distinct_molecules]:,} distinct molecules in"
        " `{table[add_task_vs_n]}`; {data[add_task_vs_n][pick]}): only the cost means"
        " anything here.",
        "n | wall s | CPU s | featurise s | train s | steps | ms / step | peak MB | load",
        "n wall_seconds:.1f cpu_seconds:.1f featurize_seconds:.1f train_seconds:.1f total_steps"
        " train_seconds_per_step_ms:.1f peak_memory_mb:.0f load_1min:.1f",
    ),
    "add_task_vs_existing": (
        "Cost per added task vs tasks already added",
        "`GateStudio.add_task` of the same {data[add_molecules]} molecules into a registry"
        " holding i tasks, then `GateStudio.predict` of"
        " {curves[add_task_vs_existing][0][predict_molecules]} molecules for the new task and for"
        " every task.",
        "i (existing) | add wall s | add CPU s | of which register s | steps"
        " | predict new task ms | its CPU ms | tasks predicted | predict all ms | load",
        "existing_tasks wall_seconds:.2f cpu_seconds:.2f register_seconds:.2f total_steps"
        " predict_seconds_ms:.0f predict_cpu_seconds_ms:.0f predict_all_tasks"
        " predict_all_seconds_ms:.0f load_1min:.1f",
    ),
    "pretrain_step_vs_tasks": (
        "Pre-training step vs number of tasks T: pairwise vs mean alignment",
        "{data[pretrain_step_vs_tasks][molecules]} molecules of"
        " `{table[pretrain_step_vs_tasks]}` ({data[pretrain_step_vs_tasks][pick]}), batch"
        " {settings[grid][pretrain_batch_size]}, median of {settings[grid][pretrain_steps]} steps"
        " after {settings[grid][pretrain_warmup]} warm-up steps.",
        "T | pairwise ms/step | mean ms/step | pairwise / mean | pairwise CPU ms"
        " | mean CPU ms | CPU ratio | pairwise peak MB | mean peak MB",
        "n_tasks pairwise.step_ms:.0f mean.step_ms:.0f step_ms_ratio:.2f pairwise.step_cpu_ms:.0f"
        " mean.step_cpu_ms:.0f step_cpu_ms_ratio:.2f pairwise.peak_memory_mb:.0f"
        " mean.peak_memory_mb:.0f",
    ),
    "predict_vs_batch": (
        "Prediction throughput vs batch size",
        "`AddedTask.predict` (K = {settings[ensemble]}); cold = feature caches cleared first,"
        " warm = the same calls again.",
        "molecules / call | calls | cold mol/s | warm mol/s | cold ms / call",
        "batch_size calls mol_per_s:,.0f warm_mol_per_s:,.0f ms_per_call:.1f",
    ),
    "featurize_vs_batch": (
        "Featurisation throughput vs molecules per call",
        "`featurize_molecules` (CPU), cold caches, {settings[threads]} thread(s).",
        "molecules / call | calls | mol/s | mol per CPU-s",
        "molecules calls mol_per_s:,.0f mol_per_cpu_s:,.0f",
    ),
}


def _rows(curve: str, points: list[dict]) -> list[dict]:
    """A curve's table rows: each ``*seconds*`` value also as ``<key>_ms``; the pre-training
    points paired by T (``pairwise``, ``mean`` and their ``<metric>_ratio``)."""
    points = [
        p | {f"{k}_ms": 1000 * v for k, v in p.items() if "seconds" in k and v is not None}
        for p in points
    ]
    if curve != "pretrain_step_vs_tasks":
        return points
    pairs: dict[int, dict] = {}
    for p in points:
        pairs.setdefault(p["n_tasks"], {"n_tasks": p["n_tasks"]})[p["alignment"]] = p
    for r in pairs.values():
        pw, mn = r.get("pairwise", {}), r.get("mean", {})
        for m in ("step_ms", "step_cpu_ms"):
            r[f"{m}_ratio"] = pw[m] / mn[m] if pw.get(m) and mn.get(m) else None
    return [pairs[t] for t in sorted(pairs)]


def markdown(state: dict) -> str:
    """The result's one renderer; what each curve measures is in bench/README.md. A table gets
    an ``error`` column only where a point failed."""
    c, s, d, dev = state["curves"], state["settings"], state["data"], state["device"]
    mem = "GPU memory allocated above the level before the call"
    if not dev.startswith("cuda"):
        mem = "peak RSS growth during the call"
    fresh = s["isolation"] == "process"
    mem += ", each point in a fresh process" if fresh else " (in this process: a lower bound)"
    add = f"quick settings {json.dumps(s['add_config'])}" if s["add_config"] else "defaults"
    tables = {k: Path(str(v.get("table"))).name for k, v in d.items() if isinstance(v, dict)}
    f = state["flat_check"]  # of add_task_vs_existing: the verdict is on CPU seconds
    checks = [
        f | {"check": "add_task CPU s", "slope": f["slope_seconds_per_existing_task"]},
        f["wall"] | {"check": "add_task wall s (follows the machine's load)"},
        f["predict"] | {"check": "predict of the new task alone, CPU s"},
    ]
    checks = [c | {"flat": "yes" if c["flat"] else "**no**"} for c in checks]
    head = "flat check on i (least squares) | slope per existing task | change over the range"
    flat = records_table(
        f"{head} | flat (≤ +{f['tolerance']:.0%})",
        "check slope:+.3g relative_change_first_to_last:+.1% flat",
        checks,
    )
    parts = [
        f"# Scaling curves ({dev})\n\n{state['status']}. One measurement per point, {s['threads']} "
        f"torch thread(s); add-task points: learned λ, K = {s['ensemble']}, task addition's {add}."
        f" Peak memory = {mem}. Grid: {json.dumps(s['grid'])}.\n"
    ]
    for curve, (title, intro, header, keys) in SECTIONS.items():
        if not c.get(curve):
            continue
        if any("error" in p for p in c[curve]):
            header, keys = header + " | error", keys + " error"
        rows = records_table(header, keys, _rows(curve, c[curve]))
        parts.append(f"## {title}\n\n{intro.format(**state, table=tables)}\n\n{rows}\n")
        if curve == "add_task_vs_existing":
            parts.append(flat + "\n")
    e = [[k, fmt(v)] for k, v in state["loglog_exponents"].items() if v is not None]
    table_ = table("quantity | exponent", e)
    parts.append(f"## Growth exponents (least squares on log–log; 1 = linear)\n\n{table_}\n")
    runs = "; ".join(
        f"{k} {v['seconds']:.0f} s, load {v['load_before'][0]:.2f} → {v['load_after'][0]:.2f}"
        for k, v in state["curve_runs"].items()
    )
    parts.append(f"Per-curve wall time and load average (1 min, before → after): {runs}.\n")
    return "\n".join(parts)


# -------------------------------------------------------------------------------------------- run


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    import pandas as pd

    from gate_core.models.checkpoint import load_checkpoint

    elapsed, ctx = stopwatch(), argparse.Namespace(**vars(args) | FIXED)  # + what curves need
    ctx.curves = args.curves.split(",")
    if unknown := set(ctx.curves) - set(CURVES):
        raise ValueError(f"unknown curves {unknown}; choose from {', '.join(CURVES)}")
    limit_threads(ctx.threads)  # here, in the workers (measure), and in their OpenMP/BLAS pools:
    os.environ |= {f"{lib}_NUM_THREADS": str(ctx.threads) for lib in ("OMP", "MKL", "OPENBLAS")}
    name = NAME + "_cuda" if ctx.device.startswith("cuda") else NAME
    grid = {k: quick if args.quick else full for k, (full, quick, _) in GRID.items()}
    grid |= {k: getattr(args, k) for k in GRID if getattr(args, k) is not None}
    vars(ctx).update(grid, isolation="none" if args.quick else "process")
    ctx.model, _ = load_checkpoint(ctx.backbone, ctx.device)
    ctx.model.requires_grad_(False)
    pool_size = max([*_ints(ctx.batch_sizes), *_ints(ctx.featurize_sizes), 512])
    distinct = sorted(pd.read_csv(ctx.table, usecols=["smiles"])["smiles"].astype(str).unique())
    pick = np.random.default_rng(1).choice(len(distinct), min(pool_size, len(distinct)), False)
    ctx.pool = [distinct[i] for i in pick]
    ctx.fresh, ctx.add_config = not args.quick, QUICK_ADD_CONFIG if args.quick else {}
    ctx.data = {
        "add_target": f"{ctx.add_molecules} molecules of `{ADD_TARGET}` (seeded pick, as in task_addition's speed section)",
        "add_molecules": ctx.add_molecules,
        "throughput_pool": f"{len(pick)} distinct molecules of {Path(ctx.table).name} (seeded sample)",
    }
    state = {
        "device": ctx.device,
        "status": "running",
        "settings": {k: vars(ctx)[k] for k in SETTINGS} | {"sources_mode": "both", "grid": grid},
        "curves": {c: [] for c in CURVES},
        "curve_runs": {},
        "data": ctx.data,
    }
    _log(f"{ctx.device}, {ctx.threads} thread(s), curves {args.curves}; → {name}.*")
    for i, curve in enumerate(ctx.curves, 1):  # the files are written after every curve
        load_before, curve_elapsed = loadavg(), stopwatch()
        for p in globals()[f"curve_{curve}"](ctx):
            state["curves"][curve].append(p)
            x = f"{X_NAME[curve]} = {p[X_NAME[curve]]} {p.get('alignment', '')}"
            _log(f"{curve}: {x}: {p.get('error', 'done')}")
        runs = dict(seconds=curve_elapsed(), load_before=load_before, load_after=loadavg())
        state["curve_runs"][curve] = runs
        state["status"] = f"Running: {i} of {len(ctx.curves)} curves done"
        if i == len(ctx.curves):
            state["status"] = f"Complete: {i} curve(s) in {elapsed() / 60:.1f} min"
        state |= summarise(state["curves"], ctx.flat_tolerance) | {"wall_seconds": elapsed()}
        paths = write_results(name, state, markdown, args.results_dir, csv_rows(name, state))
    return paths
