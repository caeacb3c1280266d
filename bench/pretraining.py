"""Pre-training cost: throughput, peak memory and rebuild time of the shipped backbone.

Default (report) mode does **not** train. It reads what ``pretrain`` recorded while building
the checkpoint (``metadata.json`` → ``pretraining`` and ``history.json``) and reports that run:
training molecules/s per epoch, peak memory, featurisation and total wall time. The machine
block of the result file describes the machine that *wrote the report*; the run's own device
and thread settings are copied from its metadata.

``--quick`` mode is a fresh measurement: it times ``--steps`` optimiser steps (collate,
forward through the full GATE objective, backward, Adam) on a ``--molecules`` subsample of the
pre-training table for all 16 tasks, for each alignment form: ``mean`` (the scalable default),
``pairwise`` (exact, O(T²)) and ``none`` (l_reg only, the plain multi-task reference).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from bench.common import REPO_ROOT, csv_rows, limit_threads, md_table, write_results

NAME = "pretraining"
DESCRIPTION = "pre-training throughput, peak memory, rebuild time (report of the shipped run; --quick times GATE steps)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", default=str(REPO_ROOT / "assets/backbone"), help="checkpoint whose build is reported")
    parser.add_argument(
        "--compare", nargs="*", default=[str(REPO_ROOT / "bench/work/multitask_noalign")],
        help="other checkpoints to report beside it when present (default: the no-alignment ablation)",
    )
    q = parser.add_argument_group("--quick: time GATE training steps now")
    q.add_argument("--quick", action="store_true", help="time training steps instead of reporting the shipped run")
    q.add_argument("--table", default=str(REPO_ROOT / "assets/data/chemicals_properties.csv.gz"))
    q.add_argument("--molecules", type=int, default=2000, help="deterministic subsample of the table")
    q.add_argument("--steps", type=int, default=30, help="timed steps per form")
    q.add_argument("--warmup", type=int, default=3, help="untimed steps per form first")
    q.add_argument("--batch-size", type=int, default=64)
    q.add_argument("--forms", default="mean,pairwise,none", help="comma-separated: mean, pairwise, none")
    q.add_argument("--threads", type=int, default=1, help="torch threads (the shipped backbone was built with --threads 1)")


# ------------------------------------------------------------------------------------------ report


def _read_run(path: Path) -> dict:
    meta_path, hist_path = path / "metadata.json", path / "history.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} not found: build the checkpoint first (see bench/README.md)")
    meta = json.loads(meta_path.read_text())
    pre = meta.get("pretraining")
    if not pre:
        raise ValueError(f"{meta_path} has no 'pretraining' section")
    history = json.loads(hist_path.read_text()) if hist_path.is_file() else []
    rates = [h["molecules_per_second"] for h in history]
    cfg = pre.get("config", {})
    return {
        "checkpoint": str(path),
        "checkpoint_written_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(meta_path.stat().st_mtime)),
        "code_version": meta.get("code_version"),
        "device": pre.get("device"),
        "world_size": pre.get("world_size"),
        "threads": cfg.get("threads"),
        "alignment": cfg.get("weights"),
        "alignment_form": cfg.get("alignment_form"),
        "n_tasks": len(pre.get("tasks", [])),
        "n_molecules": pre.get("n_molecules"),
        "n_labels": pre.get("n_labels"),
        "split": pre.get("split"),
        "batch_size": cfg.get("batch_size"),
        "epochs_run": pre.get("epochs_run"),
        "epochs_configured": cfg.get("epochs"),
        "max_minutes": cfg.get("max_minutes"),
        "best_epoch": pre.get("best_epoch"),
        "featurize_seconds": pre.get("featurize_seconds"),
        "featurize_molecules_per_second": pre.get("featurize_molecules_per_second"),
        "train_seconds": pre.get("train_seconds"),
        "train_molecules_per_second_mean": pre.get("train_molecules_per_second"),
        "train_molecules_per_second_median": statistics.median(rates) if rates else None,
        "train_molecules_per_second_per_epoch": rates,
        "epoch_seconds": [h["seconds"] for h in history],
        "peak_memory_mb": pre.get("peak_memory_mb"),
        "wall_seconds": pre.get("wall_seconds"),
        "test_metrics": pre.get("test_metrics"),
        "history": history,
    }


def _report(args: argparse.Namespace) -> tuple[Path, Path]:
    main = _read_run(Path(args.checkpoint))
    others = [_read_run(Path(p)) for p in (args.compare or []) if (Path(p) / "metadata.json").is_file()]
    missing = [p for p in (args.compare or []) if not (Path(p) / "metadata.json").is_file()]
    runs = [main, *others]

    def mem(run: dict) -> str:
        unit = "GPU MB allocated" if str(run["device"]).startswith("cuda") else "MB peak process RSS"
        return f"{run['peak_memory_mb']:,.0f} {unit}" if run["peak_memory_mb"] is not None else "n/a"

    rows = [
        [
            Path(r["checkpoint"]).name,
            "none" if not any(v for k, v in (r["alignment"] or {}).items() if k in ("auto", "cons", "map", "dis")) else r["alignment_form"],
            f"{r['device']} ×{r['world_size']}, threads {r['threads']}",
            f"{r['n_molecules']:,}",
            f"{r['epochs_run']} (best {r['best_epoch']})",
            f"{r['train_molecules_per_second_median']:,.0f}" if r["train_molecules_per_second_median"] else "n/a",
            f"{r['featurize_seconds']:.0f} s",
            f"{r['train_seconds'] / 60:.1f} min",
            f"{r['wall_seconds'] / 60:.1f} min",
            mem(r),
        ]
        for r in runs
    ]
    table = md_table(
        ["checkpoint", "alignment", "device", "molecules", "epochs", "train mol/s (median epoch)", "featurise", "train", "total wall", "peak memory"],
        rows,
    )
    epochs = md_table(
        ["epoch", "seconds", "train mol/s", "train total loss", "val_reg"],
        [[h["epoch"], h["seconds"], h["molecules_per_second"], h.get("train_total"), h.get("val_reg")] for h in main["history"]],
    )
    results = {
        "mode": "report",
        "what": "numbers recorded by gate_core.training.pretrain while building the checkpoint(s); nothing is retrained here",
        "runs": runs,
        "missing_compare": missing,
    }
    markdown = f"""# Pre-training cost (report of the run that built the shipped backbone)

Read from `{main['checkpoint']}/metadata.json` and `history.json` (written {main['checkpoint_written_utc']});
this benchmark does not retrain. Total wall = table load + split + featurisation + training + test evaluation,
as timed inside `pretrain` (interpreter start-up and the checkpoint write are not included).
The machine line at the bottom is the machine that wrote this report; the run's own device is in the table.

{table}

Per epoch ({Path(main['checkpoint']).name}):

{epochs}
{"" if not missing else chr(10) + "Not found (not reported): " + ", ".join(f"`{m}`" for m in missing) + chr(10)}"""
    return write_results(NAME, results, markdown, args.results_dir, rows=csv_rows(NAME, results))


# ------------------------------------------------------------------------------------------- quick


def step_batches(n_molecules: int, batch_size: int, n_steps: int, seed: int = 0) -> list[list[int]]:
    """Row indices of ``n_steps`` batches: consecutive seeded permutations of the molecules."""
    order = np.concatenate([np.random.default_rng(seed).permutation(n_molecules) for _ in range(n_steps * batch_size // n_molecules + 1)])
    return [order[i * batch_size : (i + 1) * batch_size].tolist() for i in range(n_steps)]


def build_form(config, tasks: list, y_scaler, d_scaler, form: str, device: str = "cpu") -> dict:  # noqa: ANN001
    """A fresh seeded model + GATE objective of one alignment form + Adam, for :func:`gate_step`.

    ``form``: ``mean`` (scalable), ``pairwise`` (exact, O(T²)) or ``none`` (l_reg only).
    """
    import torch

    from gate_core.training.objective import GATEObjective, LossWeights
    from gate_core.training.pretrain import build_model

    if form not in ("mean", "pairwise", "none"):
        raise ValueError(f"unknown form {form!r}; use mean, pairwise or none")
    torch.manual_seed(0)
    model = build_model(config, tasks)
    model.set_scalers(y_scaler.mean, y_scaler.std, d_scaler.mean, d_scaler.std)
    model = model.to(device)
    model.train()
    weights = LossWeights(auto=0, cons=0, map=0, dis=0) if form == "none" else LossWeights()
    return {
        "objective": GATEObjective(model, weights, "mean" if form == "none" else form),
        "optimizer": torch.optim.Adam(model.parameters(), lr=config.lr),
        "device": torch.device(device),
        "seconds": [],
        "last": {},
    }


def gate_step(run: dict, dataset, index: list[int]) -> float:  # noqa: ANN001 - MoleculeDataset
    """One optimiser step of a :func:`build_form` run: collate, copy to the device, full objective
    forward, backward, Adam. Returns its wall seconds (CUDA: synchronised before the clock stops)."""
    import torch

    device = run["device"]
    t0 = time.perf_counter()
    batch = dataset.collate(index)
    terms = run["objective"](batch if device.type == "cpu" else batch.to(device))
    run["optimizer"].zero_grad(set_to_none=True)
    terms["total"].backward()
    run["optimizer"].step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    dt = time.perf_counter() - t0
    run["last"] = {k: float(v.detach()) for k, v in terms.items()}
    return dt


def _quick(args: argparse.Namespace) -> tuple[Path, Path]:
    from gate_core.data.collate import MoleculeDataset
    from gate_core.data.featurize import featurize_molecules
    from gate_core.data.scaler import StandardScaler
    from gate_core.models.gate import TaskInfo
    from gate_core.training.pretrain import PretrainConfig, load_table

    limit_threads(args.threads)
    config = PretrainConfig(table=args.table, max_molecules=args.molecules, batch_size=args.batch_size, seed=0)
    table = load_table(config)
    graphs, descriptors = featurize_molecules(table.smiles, descriptors=config.descriptors)
    y_scaler, d_scaler = StandardScaler.fit(table.Y), StandardScaler.fit(descriptors)
    dataset = MoleculeDataset(graphs, descriptors, y_scaler.transform(table.Y))
    tasks = [TaskInfo(t) for t in table.tasks]
    batches = step_batches(len(dataset), args.batch_size, args.warmup + args.steps)
    print(f"[pretraining --quick] {len(table)} molecules, {len(tasks)} tasks, {args.steps} timed steps, threads {args.threads}", flush=True)

    # Build every form first, then interleave their steps (step i of every form, then step i+1),
    # so that a change in machine load during the run hits all forms alike.
    names = [f.strip() for f in args.forms.split(",") if f.strip()]
    runs: dict[str, dict] = {}
    for form in names:
        runs[form] = build_form(config, tasks, y_scaler, d_scaler, form)
    for step, index in enumerate(batches):
        for form in names:
            dt = gate_step(runs[form], dataset, index)
            if step >= args.warmup:
                runs[form]["seconds"].append(dt)
    forms: dict[str, dict] = {}
    for form in names:
        seconds = runs[form]["seconds"]
        median = statistics.median(seconds)
        forms[form] = {
            "step_seconds_median": median,
            "step_seconds_p10_p90": [float(np.percentile(seconds, 10)), float(np.percentile(seconds, 90))],
            "molecules_per_second": args.batch_size / median,
            "step_seconds": seconds,
            "last_step_loss_terms": runs[form]["last"],
        }
        print(f"[pretraining --quick] {form}: {median * 1000:.1f} ms/step, {args.batch_size / median:,.0f} mol/s", flush=True)

    reference = forms.get("none", {}).get("step_seconds_median")
    rows = [
        [
            form,
            f"{r['step_seconds_median'] * 1000:.1f}",
            f"{r['step_seconds_p10_p90'][0] * 1000:.1f}–{r['step_seconds_p10_p90'][1] * 1000:.1f}",
            f"{r['molecules_per_second']:,.0f}",
            f"{r['step_seconds_median'] / reference:.2f}×" if reference else "n/a",
        ]
        for form, r in forms.items()
    ]
    results = {
        "mode": "quick",
        "what": "median seconds per optimiser step (collate + forward of the full objective + backward + Adam), after warm-up",
        "settings": {
            "table": args.table, "molecules": len(table), "tasks": len(tasks), "batch_size": args.batch_size,
            "steps": args.steps, "warmup": args.warmup, "threads": args.threads,
            "model": {k: getattr(config, k) for k in ("hidden", "depth", "latent_dim", "task_hidden", "descriptors")},
        },
        "forms": forms,
    }
    markdown = f"""# Pre-training step time (--quick): mean vs pairwise alignment

{len(table):,} molecules subsampled from `{Path(args.table).name}`, {len(tasks)} tasks, batch {args.batch_size},
{args.threads} torch thread(s), {args.steps} timed steps after {args.warmup} warm-up steps; the same batches for every form,
steps interleaved across forms so that changes in machine load affect all of them alike.
A step = collate + full GATE objective forward + backward + Adam. `none` = l_reg only (plain multi-task), for reference.

{md_table(["form", "ms/step (median)", "p10–p90 ms", "mol/s", "vs none"], rows)}
"""
    return write_results(NAME + "_quick", results, markdown, args.results_dir, rows=csv_rows(NAME + "_quick", results))


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    return _quick(args) if args.quick else _report(args)
