"""Speed under load (issue 12): two ``add-task`` runs started together vs one run alone.

Each run is the real command line, ``python -m gate_core add-task`` on the same ``--n``
molecules (its own registry folder), so process start, backbone load, featurisation and
training are all inside the clock. ``GATE_THREADS`` of the children is ``--threads`` (the
default, 1, is what the CLI uses when it is unset). Target: together ≤ 1.5 × alone, measured
on an idle machine; the JSON records how much CPU other processes used in each phase.

Idle is judged by what else used the CPU *during* each phase, not by the load average: the
1-minute load average still carries this benchmark's own previous phase for minutes, so it
cannot tell a busy machine from the bench's own wake. ``other_cpu_share`` is the machine's busy
CPU time (``psutil.cpu_times``) minus the CPU time of this run's children
(``resource.getrusage(RUSAGE_CHILDREN)``), over the phase's wall time × cores; a phase with
under ``IDLE_SHARE`` of that is counted as run on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.common import REPO_ROOT, records_table, settings, stopwatch, write_results
from gate_core.paths import EXAMPLES_DIR

NAME = "concurrency"
DESCRIPTION = "two add-task runs started together vs one alone (target ≤ 1.5×, on an idle machine)"
TARGET_RATIO = 1.5
IDLE_SHARE = 0.05  # most CPU share other processes may use during a phase that counts as idle


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--target", default="huuskonen_logS", help="target table whose first --n rows are uploaded")
    add("--n", type=int, default=500)
    add("--threads", type=int, default=1, help="GATE_THREADS of each add-task process")
    add("--repeats", type=int, default=1, help="alone/together pairs (the median ratio counts)")
    add("--ensemble", type=int, default=5)


def _command(data: Path, out: Path, ensemble: int) -> list[str]:
    cli = "-m gate_core add-task --smiles-col smiles --target-col value --name load_test --quiet"
    paths = ["--data", str(data), "--data-dir", str(out)]
    return [sys.executable, *cli.split(), *paths, "--ensemble", str(ensemble)]


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (every process, every core)."""
    import psutil

    t = psutil.cpu_times()
    return sum(getattr(t, k, 0.0) for k in ("user", "nice", "system", "irq", "softirq", "steal"))


def _children_seconds() -> float:
    """CPU seconds of this process's finished children (the OS's ``RUSAGE_CHILDREN``)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_phase(commands: list[list[str]], env: dict) -> tuple[float, float]:
    """Wall seconds of the phase and the CPU share other processes used meanwhile."""
    busy0, children0 = _busy_seconds(), _children_seconds()
    wall = _run_together(commands, env)
    other = (_busy_seconds() - busy0) - (_children_seconds() - children0)
    return wall, max(0.0, other) / (wall * (os.cpu_count() or 1))


def _run_together(commands: list[list[str]], env: dict) -> float:
    """Wall seconds from starting every command to the last one finishing; a failure raises."""
    elapsed = stopwatch()
    procs = [
        subprocess.Popen(
            c, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        for c in commands
    ]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"add-task failed ({p.returncode}): {err.strip()[-500:]}")
    return elapsed()


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    import pandas as pd

    pools = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")  # the children set
    env = {k: v for k, v in os.environ.items() if k not in pools}  # them from GATE_THREADS
    env["GATE_THREADS"] = str(args.threads)
    rows = []
    with tempfile.TemporaryDirectory(prefix="gate-concurrency-") as tmp:
        data = Path(tmp) / "upload.csv"
        pd.read_csv(EXAMPLES_DIR / f"{args.target}.csv").head(args.n).to_csv(data, index=False)
        for r in range(args.repeats):
            alone, other_alone = _run_phase(
                [_command(data, Path(tmp) / f"alone{r}", args.ensemble)], env
            )
            together, other_together = _run_phase(
                [_command(data, Path(tmp) / f"pair{r}_{k}", args.ensemble) for k in range(2)], env
            )
            rows.append(
                {
                    "repeat": r,
                    "alone_seconds": alone,
                    "together_seconds": together,
                    "ratio": together / alone,
                    "other_cpu_share_alone": other_alone,
                    "other_cpu_share_together": other_together,
                }
            )
            print(
                f"[concurrency] alone {alone:.1f} s, two together {together:.1f} s, ratio {together / alone:.2f}",
                flush=True,
            )
    ratio = float(np.median([r["ratio"] for r in rows]))
    idle = all(
        max(r["other_cpu_share_alone"], r["other_cpu_share_together"]) < IDLE_SHARE for r in rows
    )
    results = {
        "settings": {**settings(args), "cpu_count": os.cpu_count()},
        "runs": rows,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "reached": ratio <= TARGET_RATIO,
        "idle": idle,
        "idle_share": IDLE_SHARE,
    }
    return write_results(NAME, results, markdown, args.results_dir, rows=rows)


def markdown(r: dict) -> str:
    """The result's one renderer (its .md, docs/benchmarks.md, the app page)."""
    s, ratio, target, share = r["settings"], r["ratio"], r["target_ratio"], r["idle_share"]
    idle = (
        f"machine idle: other processes used under {share:.0%} of the CPU in every phase."
        if r["idle"]
        else f"machine NOT idle: other processes used ≥ {share:.0%} of the CPU in some phase, so "
        "the timings are not an idle-machine figure; rerun."
    )
    return "\n".join(
        [
            f"# Two add-task runs together vs one alone ({s['n']} molecules of {s['target']}, "
            f"GATE_THREADS = {s['threads']})",
            "",
            f"**Ratio {ratio:.2f}** (target ≤ {target}: {'met' if ratio <= target else 'NOT met'}); "
            + idle,
            "",
            records_table(
                "repeat | alone s | together s | ratio | other CPU share alone"
                " | other CPU share together",
                "repeat alone_seconds together_seconds ratio other_cpu_share_alone"
                " other_cpu_share_together",
                r["runs"],
            ),
        ]
    )
