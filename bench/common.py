"""Shared helpers for the benchmarks: machine info, timing, and the JSON + Markdown writer.

Why one writer: every result file must say on what machine, with which library versions,
from which code and with which command it was produced, or its numbers cannot be compared.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate_app.bench_results import md_table  # one table helper for bench and the app

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
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
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
        "date_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "memory_total_mb": mem_total_mb,
        "load_average_1_5_15": loadavg(),
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


def sync(device: object = "cpu") -> None:
    """Wait for the queued CUDA kernels (``torch.cuda.synchronize``); nothing on the CPU."""
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()


@contextmanager
def timed(device: object = "cpu") -> Iterator[Timing]:
    """``with timed() as t: ...`` then ``t.wall`` / ``t.cpu``: the stdlib's ``time.perf_counter``
    and ``time.process_time`` around the block, after :func:`sync` on CUDA. The one clock of
    every benchmark, so no module reads the clocks by hand."""
    t = Timing()
    w0, c0 = time.perf_counter(), time.process_time()
    try:
        yield t
    finally:
        sync(device)
        t.wall, t.cpu = time.perf_counter() - w0, time.process_time() - c0


def stopwatch() -> Callable[[], float]:
    """``elapsed = stopwatch()``, later ``elapsed()``: seconds since (``time.perf_counter``)."""
    t0 = time.perf_counter()
    return lambda: time.perf_counter() - t0


def loadavg() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (None where the OS has none)."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def fmt(value: Any, spec: str = ".2f", missing: str = "—") -> str:
    """``value`` in ``spec``; ``missing`` for None, NaN and infinity: one rule for every table."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    return format(value, spec)


def logger(name: str) -> Callable[[str], None]:
    """``log = logger("scaling")``: progress lines ``[scaling] ...``, flushed at once."""
    return lambda msg: print(f"[{name}] {msg}", flush=True)


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
        "cpu_share": statistics.median(cpus) / statistics.median(walls)
        if statistics.median(walls) > 0
        else None,
    }


class PeakMemory:
    """``with PeakMemory(device) as m: ...`` then ``m.result``: the block's peak memory above the
    level right before it, from the operating system's and torch's own accounting, not sampled.

    On CPU: the process's high-water mark (``resource.getrusage``) minus its RSS just before
    (psutil). The mark cannot be reset, so run the block in a fresh process after loading; if
    loading peaked higher than the block, the figure is a lower bound. On CUDA:
    ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus what was
    allocated before; the host RSS growth is kept beside it.
    """

    def __init__(self, device: str = "cpu") -> None:
        self.device = str(device)
        self.result: dict[str, Any] = {}

    def __enter__(self) -> PeakMemory:
        import gc

        import psutil

        gc.collect()
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._cuda0 = torch.cuda.memory_allocated()
        self._rss0 = psutil.Process().memory_info().rss / 2**20
        return self

    def __exit__(self, *exc: object) -> None:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        r = {
            "memory_method": "ru_maxrss minus RSS before",
            "rss_before_mb": self._rss0,
            "peak_rss_mb": peak,
            "rss_growth_mb": max(0.0, peak - self._rss0),
        }
        r["peak_memory_mb"] = r["rss_growth_mb"]
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
            top = torch.cuda.max_memory_allocated()
            r.update(
                cuda_allocated_before_mb=self._cuda0 / 2**20,
                cuda_peak_allocated_mb=top / 2**20,
                cuda_growth_mb=(top - self._cuda0) / 2**20,
                host_rss_growth_mb=r["rss_growth_mb"],
            )
            r["peak_memory_mb"] = r["cuda_growth_mb"]
        self.result = r


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
    name: str,
    results: dict[str, Any],
    markdown: Callable[[dict[str, Any]], str],
    results_dir: str | Path | None = None,
    rows: Sequence[dict[str, Any]] | None = None,
) -> tuple[Path, Path]:
    """Write ``<results_dir>/<name>.json`` and ``<name>.md``; returns both paths.

    The JSON gets ``benchmark``, ``command`` and ``machine`` keys added (``machine`` from
    :func:`machine_info`); NaN becomes ``null`` so any JSON reader accepts the file.
    ``markdown`` is the result's one renderer (its module's ``markdown``): it renders the JSON as
    written, and ``python -m bench report`` calls it again on the stored JSON, so this ``.md``,
    ``docs/benchmarks.md`` and the app's page show the same text. Provenance stays in the JSON.
    With ``rows`` (flat dicts, e.g. :func:`csv_rows`), ``<name>.csv`` is written too.
    """
    out_dir = Path(results_dir) if results_dir is not None else RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    by_bench = bool(sys.argv) and sys.argv[0].endswith("__main__.py")
    command = "python -m bench " + " ".join(sys.argv[1:]) if by_bench else " ".join(sys.argv)
    payload = _clean({"benchmark": name, "command": command, "machine": machine_info(), **results})
    json_path, md_path = out_dir / f"{name}.json", out_dir / f"{name}.md"
    json_path.write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n")
    md_path.write_text(markdown(payload).rstrip() + "\n")
    if rows is not None:
        write_csv(rows, out_dir / f"{name}.csv")
    return json_path, md_path


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """Every option of the run (less the benchmark's name and output folder) for the JSON."""
    return {k: v for k, v in vars(args).items() if k not in ("name", "results_dir")}


def table(header: str, rows: Sequence[Sequence[Any]]) -> str:
    """:func:`md_table` with the header as Markdown writes it, ``"page | warm s | cold s"``."""
    return md_table([h.strip() for h in header.split("|")], rows)


def cells(record: dict, keys: str) -> list[Any]:
    """One table row from ``record``, its columns named by the space-separated ``keys``: ``key``
    gives the value as it is (None where missing), ``key:spec`` formats it with :func:`fmt`, and
    ``a.b`` reads ``record["a"]["b"]``. Why: a table becomes a header and a column list."""
    row = []
    for item in keys.split():
        path, _, spec = item.partition(":")
        value: Any = record
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        row.append(fmt(value, spec) if spec else value)
    return row


def records_table(header: str, keys: str, records: Iterable[dict]) -> str:
    """:func:`table` of one row per record, its columns given by :func:`cells`' ``keys``."""
    return table(header, [cells(r, keys) for r in records])


def limit_threads(n: int) -> None:
    """Cap torch and the BLAS/OpenMP pools (numpy, sklearn) at ``n`` threads in this process."""
    import torch

    torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        pass


# ------------------------------------------------------------------------------------------- CSV


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else ""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(_clean(value), separators=(",", ":"))
    return str(value)


def write_csv(
    rows: Sequence[dict[str, Any]], path: str | Path, columns: Sequence[str] | None = None
) -> Path:
    """One CSV line per dict: columns in first-seen order (or ``columns``), floats to 6 significant
    digits, None/NaN empty, nested values as compact JSON. Every number is also in the JSON."""
    import csv

    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_csv_cell(row.get(c)) for c in columns] for row in rows)
    return path


def _flat(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts → dotted keys (``a.b``); lists stay as they are (JSON in the CSV)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _scalars(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not isinstance(v, (dict, list, tuple))}


def _rows_featurization(r: dict) -> list[dict]:
    rows = []
    for stage, s in (r.get("stages") or {}).items():
        leaves = (
            [(stage, s)]
            if "per_second" in s
            else [(f"{stage}/{sub}", v) for sub, v in s.items() if isinstance(v, dict)]
        )
        for name, leaf in leaves:
            rows.append({"stage": name, **_scalars(leaf)})
    return rows


def _rows_backbone_quality(r: dict) -> list[dict]:
    rows = []
    for prop, p in (r.get("properties") or {}).items():
        for method, m in (p.get("methods") or {}).items():
            lo, hi = (m.get("rmse_ci95") or [None, None])[:2]
            rows.append(
                {
                    "property": prop,
                    "n_test": p.get("n_test"),
                    "method": method,
                    **{k: m.get(k) for k in ("rmse", "mae", "r2")},
                    "rmse_ci95_low": lo,
                    "rmse_ci95_high": hi,
                    "winner": p.get("winner") == method,
                }
            )
    return rows


TASK_ADDITION_COLUMNS = (
    "target seed size n_train n_test method rmse mae r2 nrmse roc_auc test_std wall_seconds"
    " cpu_seconds error"
).split()
TASK_ADDITION_PART_COLUMNS = (
    "n_test_seen pr_auc unseen.nrmse unseen.roc_auc seen.nrmse seen.roc_auc"
)


def _rows_task_addition(r: dict) -> list[dict]:
    rows = r.get("rows") or []
    extra = [c for c in ("device", "host") if any(c in row for row in rows)]
    parts = TASK_ADDITION_PART_COLUMNS.split() if any("parts" in row for row in rows) else []

    def value(row: dict, column: str) -> Any:
        part, _, metric = column.rpartition(".")
        return ((row.get("parts") or {}).get(part) or {}).get(metric) if part else row.get(column)

    return [{c: value(row, c) for c in (*TASK_ADDITION_COLUMNS, *extra, *parts)} for row in rows]


def _rows_relational(r: dict) -> list[dict]:
    """Long format: part = known_labels (per reveal, seed and task) or preview_vs_trained (per target, seed and variant)."""
    rows = [
        {"part": "known_labels", "condition": f"known={reveal}", "task": task}
        | {"seed": run.get("seed"), "n": t.get("n"), "rmse": t.get("rmse_relational")}
        | {"rmse_reference": t.get("rmse_plain"), "change": t.get("change")}
        for reveal, block in ((r.get("known_labels") or {}).get("reveals") or {}).items()
        for run in block.get("runs") or []
        for task, t in (run.get("per_task") or {}).items()
    ]
    metrics = ("rmse", "mae", "r2", "nrmse", "roc_auc", "accuracy")
    for item in r.get("preview_vs_trained") or []:
        for variant in ("preview", "preview_table", "trained", "trained_table"):
            m = item.get(variant)
            if isinstance(m, dict):
                kind = "preview" if variant.startswith("preview") else "add_task"
                rows.append(
                    {"part": "preview_vs_trained", "condition": variant}
                    | {"task": item.get("target"), "seed": item.get("seed"), "n": m.get("n")}
                    | {"n_train": item.get("n_train"), **{k: m.get(k) for k in metrics}}
                    | {"seconds": item.get(f"{kind}_seconds")}
                )
    return rows


def _rows_page_render(r: dict) -> list[dict]:
    return [
        {"page": page, **_scalars(p), "target_seconds": r.get("target_seconds")}
        for page, p in (r.get("pages") or {}).items()
    ]


def _rows_scaling(r: dict) -> list[dict]:
    """Long format (curve, x_name, x, metric, value, device): see :func:`bench.scaling.long_rows`."""
    from bench.scaling import long_rows

    return long_rows(r.get("curves") or {}, str(r.get("device") or "cpu"))


def _rows_gpu_figures(r: dict) -> list[dict]:
    return [{"stage": stage, **_flat(values)} for stage, values in (r.get("figures") or {}).items()]


ROW_EXTRACTORS: dict[str, Callable[[dict], list[dict]]] = {
    "featurization": _rows_featurization,
    "backbone_quality": _rows_backbone_quality,
    "task_addition": _rows_task_addition,
    "task_addition_v1": _rows_task_addition,
    "task_addition_v2": _rows_task_addition,
    "relational": _rows_relational,
    "page_render": _rows_page_render,
    "scaling": _rows_scaling,
    "scaling_cuda": _rows_scaling,
    "gpu_figures": _rows_gpu_figures,
    "preview_time": lambda r: [_flat(u) for u in r.get("uploads") or []],
}


def csv_rows(name: str, results: dict[str, Any]) -> list[dict[str, Any]]:
    """The main per-item table of a benchmark's results as flat dicts (one CSV line each).

    Known benchmarks have their own extractor (:data:`ROW_EXTRACTORS`); any other result with a
    top-level ``rows`` list (e.g. ``chemprop_compare``) gives those rows, flattened.
    """
    extractor = ROW_EXTRACTORS.get(name)
    if extractor is not None:
        return extractor(results)
    return [_flat(row) for row in results.get("rows") or [] if isinstance(row, dict)]
