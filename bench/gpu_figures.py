"""GPU figures for pre-training and task addition, collected from runs on a CUDA machine.

Why a collector rather than a benchmark: the dev machine has no GPU, and a lent GPU machine is
short-lived, so the two CUDA runs are made there with the ordinary commands and their outputs are
brought back and summarised here, keeping the GPU machine's own ``machine`` block:

    python -m bench task_addition --speed-only --device cuda --results-dir /tmp/speed
    python -m gate_core pretrain --config assets/backbone_config.json --out /tmp/pt --log /tmp/pt.jsonl \\
        --device cuda --threads 8 --epochs 3 --max-minutes 1.2
    python -m bench gpu_figures --speed /tmp/speed/task_addition.json --pretrain /tmp/pt/metadata.json --epochs /tmp/pt.jsonl

The raw files live in ``bench/results/gpu/`` (the defaults below).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.common import REPO_ROOT, csv_rows, table, write_results
from gate_core.paths import DEFAULT_BACKBONE

NAME = "gpu_figures"
DESCRIPTION = "summarise CUDA runs of pre-training and task addition (made on a GPU machine) next to the CPU figures"
RAW = REPO_ROOT / "bench" / "results" / "gpu"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add, cpu_speed = parser.add_argument, RAW.parent / "task_addition_speed" / "task_addition.json"
    add("--speed", default=str(RAW / "task_addition_speed_cuda.json"), help="CUDA speed-only run")
    add("--pretrain", default=str(RAW / "pretrain_cuda_metadata.json"), help="CUDA pretrain run")
    add("--epochs", default=str(RAW / "pretrain_cuda_epochs.jsonl"), help="its per-epoch --log")
    add("--cpu-pretrain", default=str(DEFAULT_BACKBONE / "metadata.json"), help="the CPU build")
    add("--cpu-speed", default=str(cpu_speed), help="the CPU `task_addition --speed-only` result")


def summarise(
    speed: dict,
    pretrain_meta: dict,
    epochs: list[dict],
    cpu_meta: dict | None,
    cpu_speed: dict | None,
) -> dict:
    """One record per figure: the GPU value and, where one exists, the CPU value beside it."""
    p = pretrain_meta["pretraining"]
    gpu_epoch = [e for e in epochs if "molecules_per_second" in e]
    add, thr = speed["speed"]["add_task"], speed["speed"]["throughput"]
    out = {
        "pretraining": {
            "device": p.get("device"),
            "epochs_timed": len(gpu_epoch),
            "epoch_seconds": [e["seconds"] for e in gpu_epoch],
            "molecules_per_second": [e["molecules_per_second"] for e in gpu_epoch],
            "peak_memory_mb": p.get("peak_memory_mb"),
            "featurize_seconds": p.get("featurize_seconds"),
            "threads": p["config"].get("threads"),
        },
        "task_addition": {
            "add_500_molecule_task_seconds": add["median_wall_seconds"],
            "target_seconds": add["target_seconds"],
            "passes": add["passes"],
            "featurize_seconds": add["runs"][0]["featurize_seconds"],
            "train_seconds": add["runs"][0]["train_seconds"],
            "predict_cold_per_second": thr["cold_per_second"],
            "predict_warm_per_second": thr["warm_per_second"],
            "featurize_only_cold_per_second": thr["featurize_only_cold_per_second"],
            "throughput_target": thr["target_per_second"],
            "throughput_molecules": thr["molecules"],
            "torch_threads": speed["speed"].get("torch_threads"),
        },
    }
    if cpu_meta:
        cp = cpu_meta.get("pretraining", {})
        out["pretraining"]["cpu_molecules_per_second"] = cp.get(
            "train_molecules_per_second"
        ) or cp.get("molecules_per_second")
        out["pretraining"]["cpu_peak_memory_mb"] = cp.get("peak_memory_mb")
    if cpu_speed and cpu_speed.get("speed"):
        ca, ct = cpu_speed["speed"]["add_task"], cpu_speed["speed"]["throughput"]
        out["task_addition"].update(
            cpu_add_500_molecule_task_seconds=ca["median_wall_seconds"],
            cpu_predict_cold_per_second=ct["cold_per_second"],
            cpu_predict_warm_per_second=ct["warm_per_second"],
        )
    return out


def markdown(r: dict) -> str:
    """The result's one renderer (its .md, docs/benchmarks.md, the app page)."""
    machine = r["machine"]
    p, t = r["figures"]["pretraining"], r["figures"]["task_addition"]
    mps = p["molecules_per_second"]
    rows = [
        [
            "pre-training, molecules/s per epoch (16 tasks, mean alignment)",
            f"{sum(mps) / len(mps):.0f}" if mps else "n/a",
            p.get("cpu_molecules_per_second"),
        ],
        [
            "pre-training, peak memory (MB; GPU allocated vs CPU RSS)",
            p.get("peak_memory_mb"),
            p.get("cpu_peak_memory_mb"),
        ],
        [
            "add a 500-molecule task, s (learned λ, K = 5, cold caches; target ≤ 20 s)",
            t["add_500_molecule_task_seconds"],
            t.get("cpu_add_500_molecule_task_seconds"),
        ],
        [
            "batch prediction, cold, mol/s (target 5,000)",
            t["predict_cold_per_second"],
            t.get("cpu_predict_cold_per_second"),
        ],
        [
            "batch prediction, warm, mol/s (target 5,000)",
            t["predict_warm_per_second"],
            t.get("cpu_predict_warm_per_second"),
        ],
    ]
    return (
        f"# GPU figures\n\nGPU: {machine.get('gpu')}, {machine.get('cpu_count')} CPU cores, torch {machine.get('torch')}, {machine.get('date_utc')}. "
        "CPU column: the 2-core dev machine (shipped backbone build; task_addition speed section).\n\n"
        + table("figure | GPU | CPU", rows)
        + f"\n\nFeaturisation (RDKit, CPU) bounds cold prediction on the GPU machine too: {t['featurize_only_cold_per_second']:.0f} mol/s for featurisation alone.\n"
    )


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    speed = json.loads(Path(args.speed).read_text())
    meta = json.loads(Path(args.pretrain).read_text())
    epochs = [
        json.loads(line) for line in Path(args.epochs).read_text().splitlines() if line.strip()
    ]
    cpu_meta = (
        json.loads(Path(args.cpu_pretrain).read_text())
        if Path(args.cpu_pretrain).is_file()
        else None
    )
    cpu_speed = (
        json.loads(Path(args.cpu_speed).read_text()) if Path(args.cpu_speed).is_file() else None
    )
    figures = summarise(speed, meta, epochs, cpu_meta, cpu_speed)
    machine = speed["machine"]  # the GPU machine's block, not this one's
    results = {
        "machine": machine,
        "figures": figures,
        "sources": [args.speed, args.pretrain, args.epochs],
    }
    return write_results(NAME, results, markdown, args.results_dir, rows=csv_rows(NAME, results))
