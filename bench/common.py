"""Shared helpers for the benchmarks: machine info, timing, and the JSON + Markdown writer.

Why one writer: every result file must say on what machine, with which library versions,
from which code and with which command it was produced, or its numbers cannot be compared.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"


def cpu_model() -> str:
    """The ``model name`` line of /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001 - a missing optional library is just "None"
        return None


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, load, library versions, code revision and UTC date."""
    import torch

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    mem_total_mb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total_mb = round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "memory_total_mb": mem_total_mb,
        "load_average_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "numpy": _version("numpy"),
        "rdkit": _version("rdkit"),
        "sklearn": _version("sklearn"),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
    }


# ---------------------------------------------------------------------------------------- timing


@dataclass
class Timing:
    """Wall-clock and process CPU seconds of one timed block."""

    wall: float = 0.0
    cpu: float = 0.0


class timed:
    """``with timed() as t: ...`` then ``t.wall`` / ``t.cpu`` (perf_counter / process_time)."""

    def __enter__(self) -> Timing:
        self._timing = Timing()
        self._w0, self._c0 = time.perf_counter(), time.process_time()
        return self._timing

    def __exit__(self, *exc: object) -> None:
        self._timing.wall = time.perf_counter() - self._w0
        self._timing.cpu = time.process_time() - self._c0


def repeat(fn: Callable[[], Any], n: int) -> list[Timing]:
    """Run ``fn`` ``n`` times, timing each call."""
    out = []
    for _ in range(n):
        with timed() as t:
            fn()
        out.append(t)
    return out


def rate_summary(count: int, timings: Sequence[Timing], unit: str = "items") -> dict[str, Any]:
    """Throughput of ``count`` items per repeat: median (and every repeat) by wall and CPU time."""
    walls = [t.wall for t in timings]
    cpus = [t.cpu for t in timings]
    return {
        "count": count,
        "unit": unit,
        "repeats": len(timings),
        "wall_seconds": walls,
        "cpu_seconds": cpus,
        "median_wall_seconds": statistics.median(walls),
        "per_second": count / statistics.median(walls),
        "per_second_all": [count / w for w in walls],
        "per_cpu_second": count / statistics.median(cpus) if statistics.median(cpus) > 0 else None,
        "cpu_share": statistics.median(cpus) / statistics.median(walls) if statistics.median(walls) > 0 else None,
    }


# ---------------------------------------------------------------------------------------- output


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf → None, NumPy scalars/arrays → Python, Paths → str."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalar / array
        return _clean(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_results(
    name: str, results: dict[str, Any], markdown: str, results_dir: str | Path | None = None
) -> tuple[Path, Path]:
    """Write ``<results_dir>/<name>.json`` and ``<name>.md``; returns both paths.

    The JSON gets ``benchmark``, ``command`` and ``machine`` keys added (``machine`` from
    :func:`machine_info`); NaN becomes ``null`` so any JSON reader accepts the file.
    """
    out_dir = Path(results_dir) if results_dir is not None else RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "command": "python -m bench " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("__main__.py") else " ".join(sys.argv),
        "machine": machine_info(),
        **results,
    }
    json_path, md_path = out_dir / f"{name}.json", out_dir / f"{name}.md"
    json_path.write_text(json.dumps(_clean(payload), indent=1, allow_nan=False) + "\n")
    machine = payload["machine"]
    footer = (
        f"\n\n---\nMachine: {machine['cpu_model']}, {machine['cpu_count']} cores "
        f"(affinity {machine['cpu_affinity']}), torch {machine['torch']}, {machine['date_utc']}, "
        f"load average {', '.join(f'{x:.2f}' for x in machine['load_average_1_5_15'] or [])}. "
        f"Code {str(machine['git_commit'])[:10]}{' (uncommitted changes)' if machine['git_dirty'] else ''}. "
        f"Command: `{payload['command']}`. Raw numbers: `{json_path.name}`.\n"
    )
    md_path.write_text(markdown.rstrip() + footer)
    return json_path, md_path


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table; floats are shown with 4 significant digits."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "n/a" if not math.isfinite(v) else f"{v:.4g}"
        return "n/a" if v is None else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def limit_threads(n: int) -> None:
    """Cap torch and the BLAS/OpenMP pools (numpy, sklearn) at ``n`` threads in this process."""
    import torch

    torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        pass
