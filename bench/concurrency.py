"""Speed under load (issue 12): two ``add-task`` runs started together vs one run alone.

Each run is the real command line, ``python -m gate_core add-task`` on the same ``--n``
molecules (its own registry folder), so process start, backbone load, featurisation and
training are all inside the clock; ``GATE_THREADS`` of the children is ``--threads``. Target:
together ≤ 1.5 × alone, on an idle machine: judged by what else used the CPU *during* each
phase (:func:`run_children`), as the load average still carries the bench's own previous phase.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

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
    rows = []
    with tempfile.TemporaryDirectory(prefix="gate-concurrency-") as tmp:
        data = Path(tmp) / "upload.csv"
        pd.read_csv(EXAMPLES_DIR / f"{args.target}.csv").head(args.n).to_csv(data, index=False)
        cli = (
            "-m gate_core add-task --smiles-col smiles --target-col value --name load_test --quiet"
        )
        cli = [sys.executable, *cli.split(), "--data", str(data), "--ensemble", str(args.ensemble)]

        def phase(part: str, runs: int) -> dict:
            """``runs`` add-task processes together: wall seconds, other processes' CPU share."""
            m = run_children(
                [[*cli, "--data-dir", f"{tmp}/{part}{len(rows)}_{k}"] for k in range(runs)], env
            )
            share = m["other_cpu_seconds"] / m["wall_seconds"] / os.cpu_count()
            return {f"{part}_seconds": m["wall_seconds"], f"other_cpu_share_{part}": share}

        for r in range(args.repeats):
            row = {"repeat": r} | phase("alone", 1) | phase("together", 2)
            rows.append(row | {"ratio": row["together_seconds"] / row["alone_seconds"]})
            alone, together = row["alone_seconds"], row["together_seconds"]
            print(f"[concurrency] alone {alone:.1f} s, two together {together:.1f} s", flush=True)
    ratio = statistics.median(r["ratio"] for r in rows)
    share = max(v for r in rows for k, v in r.items() if k.startswith("other_cpu_share"))
    results = {
        "settings": {**settings(args), "cpu_count": os.cpu_count()},
        "runs": rows,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "reached": ratio <= TARGET_RATIO,
        "idle": share < IDLE_SHARE,
        "idle_share": IDLE_SHARE,
    }
    return write_results(NAME, results, markdown, args.results_dir, rows=rows)


def markdown(r: dict) -> str:
    """The result's one renderer (its .md, docs/benchmarks.md, the app page)."""
    s, ratio, target, share = r["settings"], r["ratio"], r["target_ratio"], r["idle_share"]
    idle = (
        f"machine idle: other processes used under {share:.0%} of the CPU in every phase."
        if r["idle"]
        else f"machine NOT idle: other processes used ≥ {share:.0%} of the CPU in some phase; rerun."
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
