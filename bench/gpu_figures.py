"""GPU figures for pre-training and task addition, collected from runs on a CUDA machine.

Why a collector rather than a benchmark: the dev machine has no GPU, and a lent GPU machine is
short-lived, so the two CUDA runs are made there with the ordinary commands (bench/README.md) and
their outputs, kept in ``bench/results/gpu/`` (the defaults below), are summarised here with the
GPU machine's own ``machine`` block. The CPU column comes from the shipped backbone's build and the
CPU ``task_addition --speed-only`` result.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.common import REPO_ROOT, cells, csv_rows, fmt, table, write_results

NAME = "gpu_figures"
DESCRIPTION = "summarise CUDA runs of pre-training and task addition (made on a GPU machine) next to the CPU figures"
RAW = REPO_ROOT / "bench" / "results" / "gpu"
#: The CPU figures the stored GPU runs are set beside, pinned with them (the v1 backbone's build
#: and its CPU speed run): the shipped backbone moved on, and the comparison must stay reproducible.
CPU_PRETRAIN = RAW / "cpu_reference_pretrain_metadata.json"
CPU_SPEED = RAW / "cpu_reference_task_addition_speed.json"
#: figure → its place in a ``task_addition --speed-only`` result's ``speed`` block; the first
#: three are also taken from the CPU run
SPEED = {
    "add_500_molecule_task_seconds": "add_task.median_wall_seconds",
    "predict_cold_per_second": "throughput.cold_per_second",
    "predict_warm_per_second": "throughput.warm_per_second",
    "target_seconds": "add_task.target_seconds",
    "passes": "add_task.passes",
    "featurize_only_cold_per_second": "throughput.featurize_only_cold_per_second",
    "throughput_target": "throughput.target_per_second",
    "throughput_molecules": "throughput.molecules",
    "torch_threads": "torch_threads",
}
#: the Markdown table: figure → its key in ``figures`` (``cpu_<key>`` for the CPU column)
ROWS = {
    "pre-training, molecules/s per epoch (16 tasks, mean alignment)": "pretraining.molecules_per_second",
    "pre-training, peak memory (MB; GPU allocated vs CPU RSS)": "pretraining.peak_memory_mb",
    "add a 500-molecule task, s (learned λ, K = 5, cold caches; target ≤ 20 s)": "task_addition.add_500_molecule_task_seconds",
    "batch prediction, cold, mol/s (target 5,000)": "task_addition.predict_cold_per_second",
    "batch prediction, warm, mol/s (target 5,000)": "task_addition.predict_warm_per_second",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--speed", default=str(RAW / "task_addition_speed_cuda.json"), help="CUDA speed-only run")
    add("--pretrain", default=str(RAW / "pretrain_cuda_metadata.json"), help="CUDA pretrain run")
    add("--epochs", default=str(RAW / "pretrain_cuda_epochs.jsonl"), help="its per-epoch --log")


def summarise(
    speed: dict,
    pretrain_meta: dict,
    epochs: list[dict],
    cpu_meta: dict | None,
    cpu_speed: dict | None,
) -> dict:
    """One record per figure: the GPU value and, where one exists, the CPU value beside it."""
    p = pretrain_meta["pretraining"]
    timed = [e for e in epochs if "molecules_per_second" in e]
    pretraining = {k: p[k] for k in ("device", "peak_memory_mb", "featurize_seconds")} | {
        "epochs_timed": len(timed),
        "epoch_seconds": [e["seconds"] for e in timed],
        "molecules_per_second": [e["molecules_per_second"] for e in timed],
        "threads": p["config"]["threads"],
    }
    paths = " ".join(SPEED.values())
    first_run = speed["speed"]["add_task"]["runs"][0]
    task_addition = dict(zip(SPEED, cells(speed["speed"], paths))) | {
        k: first_run[k] for k in ("featurize_seconds", "train_seconds")
    }
    if cpu_meta:
        cp = cpu_meta["pretraining"]
        pretraining["cpu_molecules_per_second"] = cp["train_molecules_per_second"]
        pretraining["cpu_peak_memory_mb"] = cp["peak_memory_mb"]
    if cpu_speed:
        cpu = cells(cpu_speed["speed"], paths)[:3]
        task_addition |= {f"cpu_{k}": v for k, v in zip(SPEED, cpu)}
    return {"pretraining": pretraining, "task_addition": task_addition}


def markdown(r: dict) -> str:
    """The result's one renderer (its .md, docs/benchmarks.md, the app page)."""
    machine, figures = r["machine"], r["figures"]
    mps = figures["pretraining"]["molecules_per_second"]  # per epoch; the table shows the mean
    mean = fmt(sum(mps) / len(mps) if mps else None, ".0f")
    figures = figures | {"pretraining": figures["pretraining"] | {"molecules_per_second": mean}}
    rows = [
        [label, *cells(figures, f"{key} {key.replace('.', '.cpu_')}")]
        for label, key in ROWS.items()
    ]
    featurize = figures["task_addition"].get("featurize_only_cold_per_second")
    return (
        f"# GPU figures\n\nGPU: {machine.get('gpu')}, {machine.get('cpu_count')} CPU cores, torch "
        f"{machine.get('torch')}, {machine.get('date_utc')}. CPU column: the 2-core dev machine "
        "(shipped backbone build; task_addition speed section).\n\n"
        + table("figure | GPU | CPU", rows)
        + (  # speed runs since task_addition left prediction throughput to `bench screening`: none
            "\n\nFeaturisation (RDKit, CPU) bounds cold prediction on the GPU machine too: "
            f"{featurize:.0f} mol/s for featurisation alone.\n"
            if featurize is not None
            else "\n"
        )
    )


def _json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    speed = _json(args.speed)
    epochs = [
        json.loads(line) for line in Path(args.epochs).read_text().splitlines() if line.strip()
    ]
    # the CPU references, where built here
    cpu = [_json(p) if p.is_file() else None for p in (CPU_PRETRAIN, CPU_SPEED)]
    figures = summarise(speed, _json(args.pretrain), epochs, *cpu)
    # the GPU machine's ``machine`` block, not this one's
    results = {
        "machine": speed["machine"],
        "figures": figures,
        "sources": [args.speed, args.pretrain, args.epochs],
    }
    return write_results(NAME, results, markdown, args.results_dir, rows=csv_rows(NAME, results))
