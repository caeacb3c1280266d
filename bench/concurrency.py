"""Speed under load (issue 12): two ``add-task`` runs started together vs one run alone.

Each run is the real command line, ``python -m gate_core add-task`` on the same ``--n``
molecules (its own registry folder), so process start, backbone load, featurisation and
training are all inside the clock. ``GATE_THREADS`` of the children is ``--threads`` (the
default, 1, is what the CLI uses when it is unset). Target: together ≤ 1.5 × alone, measured
on an idle machine; the JSON records the load average before each phase so a busy run can be
told apart (``idle_at_start``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import REPO_ROOT, md_table, write_results

NAME = "concurrency"
DESCRIPTION = "two add-task runs started together vs one alone (target ≤ 1.5×, on an idle machine)"
TARGET_RATIO = 1.5
IDLE_LOAD = 0.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default="huuskonen_logS", help="table in assets/data/targets whose first --n rows are the upload")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1, help="GATE_THREADS of each add-task process")
    parser.add_argument("--repeats", type=int, default=1, help="alone/together pairs; the median ratio is reported")
    parser.add_argument("--ensemble", type=int, default=5)


def _command(data: Path, out: Path, ensemble: int) -> list[str]:
    return [sys.executable, "-m", "gate_core", "add-task", "--data", str(data), "--smiles-col", "smiles", "--target-col", "value",
            "--name", "load_test", "--ensemble", str(ensemble), "--data-dir", str(out), "--quiet"]


def _run_together(commands: list[list[str]], env: dict) -> float:
    """Wall seconds from starting every command to the last one finishing; a failure raises."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for c in commands]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"add-task failed ({p.returncode}): {err.strip()[-500:]}")
    return time.perf_counter() - t0


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    import pandas as pd

    env = {**os.environ, "GATE_THREADS": str(args.threads)}
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.pop(name, None)  # the children set their own pools from GATE_THREADS
    rows = []
    with tempfile.TemporaryDirectory(prefix="gate-concurrency-") as tmp:
        data = Path(tmp) / "upload.csv"
        pd.read_csv(REPO_ROOT / "assets" / "data" / "targets" / f"{args.target}.csv").head(args.n).to_csv(data, index=False)
        for r in range(args.repeats):
            load_alone = os.getloadavg()[0]
            alone = _run_together([_command(data, Path(tmp) / f"alone{r}", args.ensemble)], env)
            load_together = os.getloadavg()[0]
            together = _run_together([_command(data, Path(tmp) / f"pair{r}_{k}", args.ensemble) for k in range(2)], env)
            rows.append({"repeat": r, "alone_seconds": alone, "together_seconds": together, "ratio": together / alone,
                         "load_before_alone": load_alone, "load_before_together": load_together})
            print(f"[concurrency] alone {alone:.1f} s, two together {together:.1f} s, ratio {together / alone:.2f}", flush=True)
    ratio = float(np.median([r["ratio"] for r in rows]))
    idle = all(r["load_before_alone"] < IDLE_LOAD for r in rows)
    results = {
        "settings": {"target": args.target, "n": args.n, "threads": args.threads, "repeats": args.repeats, "ensemble": args.ensemble, "cpu_count": os.cpu_count()},
        "runs": rows, "ratio": ratio, "target_ratio": TARGET_RATIO, "reached": ratio <= TARGET_RATIO, "idle_at_start": idle,
    }
    md = "\n".join([
        f"# Two add-task runs together vs one alone ({args.n} molecules of {args.target}, GATE_THREADS = {args.threads})",
        "",
        f"**Ratio {ratio:.2f}** (target ≤ {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'NOT met'}); "
        + ("machine idle at the start." if idle else f"machine NOT idle at the start (load ≥ {IDLE_LOAD}): timings are pessimistic, rerun on an idle machine."),
        "",
        md_table(["repeat", "alone s", "together s", "ratio", "load before"], [[r["repeat"], r["alone_seconds"], r["together_seconds"], r["ratio"], r["load_before_alone"]] for r in rows]),
    ])
    return write_results(NAME, results, md, args.results_dir, rows=rows)
