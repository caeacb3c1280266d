"""Screening throughput of ``predict``: 100k MOSES molecules, two tasks, cold, with peak memory.

Why a whole process: a chemist's number is "file in, file out", so each run times
``python -m gate_core predict --data F --out O`` from process start to its exit; the operating
system's own accounting of that child (``os.wait4``) gives its CPU seconds and the peak RSS of its
largest process. Two file sizes (the smaller a prefix of the larger) show whether peak memory
grows with the file. Cold, the warm-up run and the stage breakdown: bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, records_table, stopwatch, timed, write_results
from gate_core.paths import DEFAULT_BACKBONE

NAME = "screening"
DESCRIPTION = "predict 100k MOSES molecules for two tasks from a file: mol/s cold (process start to last row) and peak RSS vs file size"
TARGET_MOL_PER_S = 5000
#: Cores other processes may use during a run (from psutil's machine-wide CPU time less the run's
#: own) for it to count as measured on an idle machine; the load average counts the run itself.
IDLE_SHARE = 0.1
WORK_DIR = REPO_ROOT / "bench" / "work" / "screening"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--sizes", default="10000,100000", help="molecules per file (prefixes of the largest)")
    add("--tasks", default="Tb_K,logKow", help="tasks predicted")
    add("--workers", type=int, help="featurisation processes (default: predict's, one per core)")
    add("--chunk-rows", type=int, default=1024)
    add("--seed", type=int, default=1, help="MOSES pick by sha256(seed:SMILES); 0 = the corpus")
    add("--profile-molecules", type=int, default=2000, help="stage breakdown sample (0: none)")
    add("--backbone", default=str(DEFAULT_BACKBONE))


def write_library(n: int, seed: int) -> Path:
    """``bench/work/screening/moses_<seed>_<n>.csv``: one SMILES column (written once)."""
    import pandas as pd

    from gate_core.data.builders.corpus import moses_smiles

    path = WORK_DIR / f"moses_{seed}_{n}.csv"
    if not path.is_file():
        WORK_DIR.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"smiles": moses_smiles(n, seed)}).to_csv(path, index=False)
    return path


def _busy_cpu_seconds() -> float:
    """CPU seconds every process of the machine has used (psutil: all CPU time but idle)."""
    import psutil

    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def timed_predict(data: Path, args: argparse.Namespace, data_dir: Path) -> dict:
    """One ``predict`` process: wall seconds, its CPU seconds and peak RSS (``os.wait4``), load."""
    out = WORK_DIR / f"{data.stem}.predictions.csv"
    cmd = [sys.executable, "-m", "gate_core", "predict", "--data", str(data), "--tasks", args.tasks]
    cmd += ["--out", str(out), "--chunk-rows", str(args.chunk_rows), "--backbone", args.backbone]
    cmd += ["--data-dir", str(data_dir)]
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
    load_before = os.getloadavg()
    busy_before = _busy_cpu_seconds()
    elapsed = stopwatch()
    child = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = elapsed()
    stderr = child.stderr.read().decode() if child.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"predict failed: {stderr[-2000:]}")
    with out.open() as handle:
        rows = sum(1 for _ in handle) - 1
    cpu = usage.ru_utime + usage.ru_stime
    others = max(0.0, _busy_cpu_seconds() - busy_before - cpu)
    return {
        "molecules": rows,
        "wall_seconds": wall,
        "mol_per_s": rows / wall,
        "cpu_seconds": cpu,
        "mol_per_cpu_s": rows / cpu,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "load_before": list(load_before),
        "load_after": list(os.getloadavg()),
        "other_cpu_seconds": others,
        "command": " ".join(cmd[1:]).replace(str(REPO_ROOT) + "/", ""),
    }


def stage_profile(smiles: list[str], backbone: str) -> list[dict]:
    """CPU microseconds per molecule of each step of a prediction, in this process, one thread."""
    import torch
    from rdkit import Chem

    from gate_core.api import GateStudio
    from gate_core.featurizers.descriptors import fast_descriptors
    from gate_core.featurizers.graph import mols_to_packed
    from gate_core.featurizers.molecule import parse_smiles_once
    from gate_core.featurizers.rows import featurize_rows

    torch.set_num_threads(1)
    studio = GateStudio(backbone, data_dir=WORK_DIR / "registry")
    stages, n = [], len(smiles)

    def clock(name: str, fn: Callable[[], Any]) -> Any:
        with timed() as t:
            out = fn()
        stages.append({"stage": name, "us_per_mol": 1e6 * t.cpu / n})
        return out

    mols = clock("RDKit parse (MolFromSmiles)", lambda: [Chem.MolFromSmiles(s) for s in smiles])
    clock(
        "canonical SMILES (MolToSmiles)",
        lambda: [Chem.MolToSmiles(m) for m in mols if m is not None],
    )
    parsed = clock(
        "parse_smiles (parse, canonicalise, re-parse canonical)",
        lambda: [parse_smiles_once(s) for s in smiles],
    )
    good = [p.mol for p in parsed if p.ok]
    clock("19 input descriptors", lambda: [fast_descriptors(m) for m in good])
    clock("graph featurisation", lambda: mols_to_packed(good, [p.smiles for p in parsed if p.ok]))
    rows = featurize_rows(smiles)
    with torch.no_grad():
        h = clock("D-MPNN encoder + descriptors (h)", lambda: studio._represent(rows))
        clock(
            "all task latents and charts (domain needs every chart)",
            lambda: studio.backbone.latents(h),
        )
    total = sum(s["us_per_mol"] for s in stages[2:])
    stages.append(
        {"stage": "total of a prediction's steps (parse_smiles onwards)", "us_per_mol": total}
    )
    return stages


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    largest = write_library(sizes[-1], args.seed)
    files = {
        n: largest if n == sizes[-1] else WORK_DIR / f"moses_{args.seed}_{n}.csv" for n in sizes
    }
    for n, path in files.items():
        if not path.is_file():
            with largest.open() as src, path.open("w") as dst:
                dst.writelines(line for _, line in zip(range(n + 1), src))
    data_dir = WORK_DIR / "registry"
    warm = WORK_DIR / "warmup.csv"
    warm.write_text("smiles\nCCO\n")
    # a warm-up run: the backbone's interval calibration is made once per install, kept on disk
    timed_predict(warm, args, data_dir)
    runs: list[dict] = []
    paths: tuple[Path, Path] | None = None
    for n, path in files.items():
        runs.append({"file_molecules": n, **timed_predict(path, args, data_dir)})
        r = runs[-1]
        print(
            f"[screening] {n:,} molecules: {r['mol_per_s']:,.0f} mol/s, "
            f"{r['mol_per_cpu_s']:,.0f} mol per CPU-s, "
            f"peak RSS {r['peak_rss_mb']:,.0f} MB, load {r['load_before'][0]:.1f}",
            flush=True,
        )
        paths = write_results(NAME, _results(args, runs, []), markdown, args.results_dir, rows=runs)
    if args.profile_molecules:  # after the runs: this process then holds torch and the model, and
        # a child forked from it would count those pages in its peak RSS
        import pandas as pd

        sample = pd.read_csv(files[sizes[0]])["smiles"].tolist()[: args.profile_molecules]
        profile = stage_profile(sample, args.backbone)
        paths = write_results(
            NAME, _results(args, runs, profile), markdown, args.results_dir, rows=runs
        )
    assert paths is not None
    return paths


def _results(args: argparse.Namespace, runs: list[dict], profile: list[dict]) -> dict:
    """The JSON of the runs so far (written after each, so a long run's first figures survive)."""
    growth = runs[-1]["peak_rss_mb"] / runs[0]["peak_rss_mb"] if len(runs) > 1 else None
    idle = all(r["other_cpu_seconds"] < IDLE_SHARE * r["wall_seconds"] for r in runs)
    return {
        "tasks": args.tasks.split(","),
        "chunk_rows": args.chunk_rows,
        "workers": args.workers,
        "seed": args.seed,
        "target_mol_per_s": TARGET_MOL_PER_S,
        "runs": runs,
        "peak_rss_ratio_largest_to_smallest": growth,
        "idle_machine": idle,
        "other_cpu_share": max(r["other_cpu_seconds"] / r["wall_seconds"] for r in runs),
        "gpu": "not measured (no GPU lent to this session)",
        "stages": profile,
    }


def markdown(r: dict) -> str:
    """The result's one renderer (its .md, docs/benchmarks.md, the app page)."""
    runs = r["runs"]
    best = max(x["mol_per_s"] for x in runs)
    load = [x | {"load": f"{x['load_before'][0]:.1f} → {x['load_after'][0]:.1f}"} for x in runs]
    machine = r.get("machine", {})
    text = (
        "# Screening: predict a MOSES library from a file\n\n"
        f"`predict --data <file> --out <csv>` for {', '.join(r['tasks'])}; cold: a fresh process, timed from its start to "
        f"its exit (the last row written); chunks of {r['chunk_rows']} rows, featurisation workers: "
        f"{r['workers'] if r['workers'] is not None else 'one per core'}; {machine.get('cpu_count', '?')} CPU cores. "
        f"Peak RSS: the largest process (the model process), from the OS's accounting of the run.\n\n"
        + records_table(
            "molecules | wall s | mol/s | CPU s | mol per CPU-s | peak RSS MB"
            " | load (1 min) before → after",
            "file_molecules:, wall_seconds:.1f mol_per_s:,.0f cpu_seconds:.1f mol_per_cpu_s:,.0f"
            " peak_rss_mb:,.0f load",
            load,
        )
        + f"\n\nTarget ≥ {r['target_mol_per_s']:,} mol/s: **{'met' if best >= r['target_mol_per_s'] else 'not met'}** "
        f"(best {best:,.0f} mol/s). "
    )
    if r.get("peak_rss_ratio_largest_to_smallest") is not None:
        text += (
            f"Peak RSS, largest file / smallest: {r['peak_rss_ratio_largest_to_smallest']:.2f}. "
        )
    text += f"GPU: {r['gpu']}.\n"
    share = r.get("other_cpu_share")
    others = f" (other processes used {share:.2f} cores at most)" if share is not None else ""
    if r.get("idle_machine"):
        text += f"\nMeasured on an idle machine{others}.\n"
    else:
        text += (
            f"\n**Not measured on an idle machine**{others}: other jobs shared the CPU, so the "
            "wall-clock rates are pessimistic; CPU seconds per molecule are less affected.\n"
        )
    if r.get("stages"):
        text += (
            "\n## Where the time goes (CPU µs per molecule, one thread, in-process)\n\n"
            + records_table("step | µs / molecule", "stage us_per_mol:,.0f", r["stages"])
            + "\n"
        )
    return text
