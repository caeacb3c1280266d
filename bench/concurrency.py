"""Speed under load (issue 12): two ``add-task`` runs started together vs one run alone.

Each run is the real command line, ``python -m gate_core add-task`` on the same ``--n``
molecules (its own registry folder), so process start, backbone load, featurisation and
training are all inside the clock. ``GATE_THREADS`` of the children is ``--threads`` (the
default, 1, is what the CLI uses when it is unset). Target: together ≤ 1.5 × alone, measured
on an idle machine.

Idle is judged by what else used the CPU *during* each phase, not by the load average: the
1-minute load average still carries this benchmark's own previous phase for minutes, so it
cannot tell a busy machine from the bench's own wake. ``other_cpu_share`` is what
:func:`run_children` reports, over the phase's wall time × cores; a phase with under
``IDLE_SHARE`` of that is counted as run on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.common import REPO_ROOT, loadavg, records_table, settings, stopwatch, write_results
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


def busy_cpu_seconds() -> float:
    """CPU seconds every process of the machine has used since boot (psutil: all but idle)."""
    import psutil

    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def run_children(commands: list[list[str]], env: dict | None = None) -> dict:
    """Start ``commands`` together (in the repository root) and wait for every one.

    The child-process meter of ``concurrency`` and ``screening``: ``wall_seconds`` from the
    first start to the last exit; the children's ``cpu_seconds`` and the largest ``peak_rss_mb``
    from the operating system's accounting of each (``os.wait4``); ``other_cpu_seconds``: the
    machine's busy CPU time meanwhile (:func:`busy_cpu_seconds`) less the children's. A child
    that fails raises with the end of its stderr. The 1-minute load average before and after too.
    """
    load_before, busy0, elapsed = loadavg(), busy_cpu_seconds(), stopwatch()
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a full pipe would block the child
        procs = [
            subprocess.Popen(c, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
            for c in commands
        ]
        waits = [os.wait4(p.pid, 0) for p in procs]
        wall = elapsed()
        if any(os.waitstatus_to_exitcode(status) for _, status, _ in waits):
            err.seek(0)
            raise RuntimeError(
                f"{' '.join(commands[0][1:4])} failed: {err.read().decode()[-2000:]}"
            )
    cpu = sum(u.ru_utime + u.ru_stime for _, _, u in waits)
    return {
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "peak_rss_mb": max(u.ru_maxrss for _, _, u in waits) / 1024,
        "other_cpu_seconds": max(0.0, busy_cpu_seconds() - busy0 - cpu),
        "load_before": load_before,
        "load_after": loadavg(),
    }


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    import pandas as pd

    pools = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")  # the children set
    env = {k: v for k, v in os.environ.items() if k not in pools}  # them from GATE_THREADS
    env["GATE_THREADS"] = str(args.threads)
    cli = "-m gate_core add-task --smiles-col smiles --target-col value --name load_test --quiet"
    rows = []
    with tempfile.TemporaryDirectory(prefix="gate-concurrency-") as tmp:
        data = Path(tmp) / "upload.csv"
        pd.read_csv(EXAMPLES_DIR / f"{args.target}.csv").head(args.n).to_csv(data, index=False)

        def phase(label: str, runs: int) -> tuple[float, float]:
            """Wall seconds of ``runs`` add-task processes together; other processes' CPU share."""
            r = run_children(
                [
                    [sys.executable, *cli.split(), "--data", str(data), "--ensemble"]
                    + [str(args.ensemble), "--data-dir", f"{tmp}/{label}{k}"]
                    for k in range(runs)
                ],
                env,
            )
            wall = r["wall_seconds"]
            return wall, r["other_cpu_seconds"] / (wall * (os.cpu_count() or 1))

        for r in range(args.repeats):
            alone, other_alone = phase(f"alone{r}_", 1)
            together, other_together = phase(f"pair{r}_", 2)
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
            print(f"[concurrency] alone {alone:.1f} s, two together {together:.1f} s", flush=True)
    ratio = float(np.median([r["ratio"] for r in rows]))
    shares = [r[f"other_cpu_share_{k}"] for r in rows for k in ("alone", "together")]
    results = {
        "settings": {**settings(args), "cpu_count": os.cpu_count()},
        "runs": rows,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "reached": ratio <= TARGET_RATIO,
        "idle": max(shares) < IDLE_SHARE,
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
    return (
        f"# Two add-task runs together vs one alone ({s['n']} molecules of {s['target']}, "
        f"GATE_THREADS = {s['threads']})\n\n**Ratio {ratio:.2f}** (target ≤ {target}: "
        f"{'met' if ratio <= target else 'NOT met'}); {idle}\n\n"
        + records_table(
            "repeat | alone s | together s | ratio | other CPU share alone"
            " | other CPU share together",
            "repeat alone_seconds together_seconds ratio other_cpu_share_alone"
            " other_cpu_share_together",
            r["runs"],
        )
    )
