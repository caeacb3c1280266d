"""Screening throughput of ``predict``: 100k MOSES molecules, two tasks, cold, with peak memory.

Why a whole process: a chemist's number is "file in, file out", so each run times
``python -m gate_core predict --data F --out O`` from process start to its exit, with the
operating system's accounting of that child (:func:`bench.concurrency.run_children`). Two file
sizes (the smaller a prefix of the larger) show whether peak memory grows with the file. Cold,
the warm-up run and the stage breakdown: bench/README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.common import REPO_ROOT, fmt, records_table, timed, write_results
from bench.concurrency import run_children
from gate_app.bench_results import backbone_id
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


def timed_predict(data: Path, args: argparse.Namespace) -> dict:
    """One ``predict`` process, measured by :func:`bench.concurrency.run_children`."""
    out = WORK_DIR / f"{data.stem}.predictions.csv"
    cmd = [sys.executable, "-m", "gate_core", "predict", "--data", str(data), "--tasks", args.tasks]
    cmd += ["--out", str(out), "--chunk-rows", str(args.chunk_rows), "--backbone", args.backbone]
    cmd += ["--data-dir", str(WORK_DIR / "registry")]
    cmd += ["--workers", str(args.workers)] if args.workers is not None else []
    r = run_children([cmd])
    rows = out.read_text().count("\n") - 1  # less the header
    return {"molecules": rows, **r} | {
        "mol_per_s": rows / r["wall_seconds"],
        "mol_per_cpu_s": rows / r["cpu_seconds"],
        "command": " ".join(cmd[1:]).replace(f"{REPO_ROOT}/", ""),
    }


def stage_profile(smiles: list[str], backbone: str) -> list[dict]:
    """CPU microseconds per molecule of each step of a prediction, in this process, one thread;
    each step runs once, on what the step before it returned (as a prediction does)."""
    import torch
    from rdkit import Chem

    from gate_core.api import GateStudio
    from gate_core.featurizers.descriptors import fast_descriptors
    from gate_core.featurizers.graph import mols_to_packed
    from gate_core.featurizers.molecule import parse_smiles_once
    from gate_core.featurizers.rows import featurize_rows

    torch.set_num_threads(1)
    studio = GateStudio(backbone, data_dir=WORK_DIR / "registry")
    stages: list[dict] = []

    def clock(stage: str, fn):
        with timed() as t:
            out = fn()
        stages.append({"stage": stage, "us_per_mol": 1e6 * t.cpu / len(smiles)})
        return out

    mols = clock("RDKit parse (MolFromSmiles)", lambda: [Chem.MolFromSmiles(s) for s in smiles])
    clock("canonical SMILES (MolToSmiles)", lambda: [Chem.MolToSmiles(m) for m in mols if m])
    stage = "parse_smiles (parse, canonicalise, re-parse canonical)"
    parsed = clock(stage, lambda: [p for p in map(parse_smiles_once, smiles) if p.ok])
    good = [p.mol for p in parsed]
    clock("19 input descriptors", lambda: [fast_descriptors(m) for m in good])
    clock("graph featurisation", lambda: mols_to_packed(good, [p.smiles for p in parsed]))
    rows = featurize_rows(smiles)
    with torch.no_grad():
        h = clock("D-MPNN encoder + descriptors (h)", lambda: studio._represent(rows))
        stage = "all task latents and charts (domain needs every chart)"
        clock(stage, lambda: studio.backbone.latents(h))
    total = sum(s["us_per_mol"] for s in stages[2:])
    stage = "total of a prediction's steps (parse_smiles onwards)"
    return [*stages, {"stage": stage, "us_per_mol": total}]


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    """Every file size, then the stage profile; the JSON is written after each run, so a long
    run's first figures survive."""
    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    files = [write_library(n, args.seed) for n in sizes]  # each a prefix of the next
    warm = WORK_DIR / "warmup.csv"
    warm.write_text("smiles\nCCO\n")
    # a warm-up run: the backbone's interval calibration is made once per install, kept on disk
    timed_predict(warm, args)
    runs: list[dict] = []
    for n, path in zip(sizes, files):
        runs.append(r := {"file_molecules": n, **timed_predict(path, args)})
        print(f"[screening] {n:,} molecules: {r['mol_per_s']:,.0f} mol/s", flush=True)
        paths = write_results(NAME, _results(args, runs, []), markdown, args.results_dir, rows=runs)
    if args.profile_molecules:  # after the runs: this process then holds torch and the model, and
        # a child forked from it would count those pages in its peak RSS
        sample = files[0].read_text().splitlines()[1 : args.profile_molecules + 1]
        results = _results(args, runs, stage_profile(sample, args.backbone))
        paths = write_results(NAME, results, markdown, args.results_dir, rows=runs)
    return paths


def _results(args: argparse.Namespace, runs: list[dict], profile: list[dict]) -> dict:
    """The JSON of the runs so far."""
    growth = runs[-1]["peak_rss_mb"] / runs[0]["peak_rss_mb"] if len(runs) > 1 else None
    share = max(r["other_cpu_seconds"] / r["wall_seconds"] for r in runs)
    return {
        "backbone_id": backbone_id(Path(args.backbone)),  # without torch, kept out of the runs
        "tasks": args.tasks.split(","),
        "chunk_rows": args.chunk_rows,
        "workers": args.workers,
        "seed": args.seed,
        "target_mol_per_s": TARGET_MOL_PER_S,
        "runs": runs,
        "peak_rss_ratio_largest_to_smallest": growth,
        "idle_machine": share < IDLE_SHARE,
        "other_cpu_share": share,
        "gpu": "not measured (no GPU lent to this session)",
        "stages": profile,
    }


def markdown(r: dict) -> str:
    """The result's one renderer (its .md, docs/benchmarks.md, the app page)."""
    runs, target, growth = r["runs"], r["target_mol_per_s"], r["peak_rss_ratio_largest_to_smallest"]
    best = max(x["mol_per_s"] for x in runs)
    load = [x | {"load": f"{x['load_before'][0]:.1f} → {x['load_after'][0]:.1f}"} for x in runs]
    others = f"(other processes used {r['other_cpu_share']:.2f} cores at most)"
    text = (
        f"# Screening: predict a MOSES library from a file\n\n`predict` for {', '.join(r['tasks'])}"
        f", a fresh process from start to exit; chunks of {r['chunk_rows']} rows, featurisation "
        f"workers: {fmt(r['workers'], 'd', 'one per core')}; peak RSS of the largest process.\n\n"
        + records_table(
            "molecules | wall s | mol/s | CPU s | mol per CPU-s | peak RSS MB"
            " | load (1 min) before → after",
            "file_molecules:, wall_seconds:.1f mol_per_s:,.0f cpu_seconds:.1f mol_per_cpu_s:,.0f"
            " peak_rss_mb:,.0f load",
            load,
        )
        + f"\n\nTarget ≥ {target:,} mol/s: **{'met' if best >= target else 'not met'}** (best "
        f"{best:,.0f} mol/s). Peak RSS, largest file / smallest: {fmt(growth)}. "
        f"GPU: {r['gpu']}.\n\n"
        + (
            f"Measured on an idle machine {others}.\n"
            if r["idle_machine"]
            else f"**Not measured on an idle machine** {others}: wall-clock rates are pessimistic.\n"
        )
    )
    if r["stages"]:
        text += "\n## Where the time goes (CPU µs per molecule, one thread, in-process)\n\n"
        text += records_table("step | µs / molecule", "stage us_per_mol:,.0f", r["stages"]) + "\n"
    return text
