"""Shared helpers for the benchmarks: machine info, timing, and the JSON + Markdown writer.

Why one writer: every result file must say on what machine, with which library versions,
from which code and with which command it was produced, or its numbers cannot be compared.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import math
import os
import platform
import re
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
    import psutil
    import torch

    cpuinfo = Path("/proc/cpuinfo")
    model = re.search(
        r"^model name\s*:(.*)$", cpuinfo.read_text() if cpuinfo.exists() else "", re.M
    )
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "date_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "cpu_model": model.group(1).strip() if model else platform.processor() or "unknown",
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory_total_mb": round(psutil.virtual_memory().total / 2**20),
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


@contextmanager
def timed(device: object = "cpu") -> Iterator[Timing]:
    """``with timed() as t: ...`` then ``t.wall`` / ``t.cpu``: the stdlib's ``time.perf_counter``
    and ``time.process_time`` around the block, after ``torch.cuda.synchronize`` on CUDA. The
    one clock of every benchmark, so no module reads the clocks by hand."""
    t = Timing()
    w0, c0 = time.perf_counter(), time.process_time()
    try:
        yield t
    finally:
        if str(device).startswith("cuda"):
            import torch

            torch.cuda.synchronize()
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
        self.cuda = self.device.startswith("cuda")
        self.result: dict[str, Any] = {}

    def __enter__(self) -> PeakMemory:
        import gc

        import psutil

        gc.collect()
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._cuda0 = torch.cuda.memory_allocated() / 2**20
        self._rss0 = psutil.Process().memory_info().rss / 2**20
        return self

    def __exit__(self, *exc: object) -> None:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        growth = max(0.0, peak - self._rss0)
        self.result = {
            "memory_method": "ru_maxrss minus RSS before",
            "rss_before_mb": self._rss0,
            "peak_rss_mb": peak,
            "rss_growth_mb": growth,
            "peak_memory_mb": growth,
        }
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            top = torch.cuda.max_memory_allocated() / 2**20
            self.result |= {
                "peak_memory_mb": top - self._cuda0,
                "cuda_allocated_before_mb": self._cuda0,
                "cuda_peak_allocated_mb": top,
                "cuda_growth_mb": top - self._cuda0,
                "host_rss_growth_mb": growth,
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
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    threadpool_limits(n)


# ------------------------------------------------------------------------------------------- CSV


def _csv_cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else ""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(_clean(value), separators=(",", ":"))
    return "" if value is None else str(value)


def write_csv(
    rows: Sequence[dict[str, Any]], path: str | Path, columns: Sequence[str] | None = None
) -> Path:
    """One CSV line per dict: columns in first-seen order (or ``columns``), floats to 6 significant
    digits, None/NaN empty, nested values as compact JSON. Every number is also in the JSON."""
    columns = columns or list(dict.fromkeys(key for row in rows for key in row))
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
        out |= _flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key: value}
    return out


def _scalars(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not isinstance(v, (dict, list, tuple))}


def _rows_backbone_quality(r: dict) -> list[dict]:
    return [
        {"property": prop, "n_test": p.get("n_test"), "method": method}
        | {k: m.get(k) for k in ("rmse", "mae", "r2")}
        | dict(zip(("rmse_ci95_low", "rmse_ci95_high"), m.get("rmse_ci95") or [None, None]))
        | {"winner": p.get("winner") == method}
        for prop, p in (r.get("properties") or {}).items()
        for method, m in (p.get("methods") or {}).items()
    ]


def _rows_task_addition(r: dict) -> list[dict]:
    """The fixed columns, then ``device``/``host`` and the test parts where any row has them."""
    rows = r.get("rows") or []
    columns = "target seed size n_train n_test method rmse mae r2 nrmse roc_auc test_std"
    columns += " wall_seconds cpu_seconds error"
    columns += "".join(f" {c}" for c in ("device", "host") if any(c in row for row in rows))
    if any("parts" in row for row in rows):  # part names (seen, unseen) read as row keys
        columns += " n_test_seen pr_auc unseen.nrmse unseen.roc_auc seen.nrmse seen.roc_auc"
    return [
        dict(zip(columns.split(), cells(row | (row.get("parts") or {}), columns))) for row in rows
    ]


def _rows_relational(r: dict) -> list[dict]:
    """Long format: part = known_labels (per reveal, seed and task) or preview_vs_trained (per
    target, seed and variant)."""
    known = [
        {"part": "known_labels", "condition": f"known={reveal}", "task": task}
        | {"seed": run.get("seed"), "n": t.get("n"), "rmse": t.get("rmse_relational")}
        | {"rmse_reference": t.get("rmse_plain"), "change": t.get("change")}
        for reveal, block in ((r.get("known_labels") or {}).get("reveals") or {}).items()
        for run in block.get("runs") or []
        for task, t in (run.get("per_task") or {}).items()
    ]
    metrics = ("rmse", "mae", "r2", "nrmse", "roc_auc", "accuracy")
    return known + [
        {"part": "preview_vs_trained", "condition": variant, "task": item.get("target")}
        | {"seed": item.get("seed"), "n": m.get("n"), "n_train": item.get("n_train")}
        | {k: m.get(k) for k in metrics}
        | {"seconds": item.get("preview_seconds" if "preview" in variant else "add_task_seconds")}
        for item in r.get("preview_vs_trained") or []
        for variant in ("preview", "preview_table", "trained", "trained_table")
        if isinstance(m := item.get(variant), dict)
    ]


ROW_EXTRACTORS: dict[str, Callable[[dict], list[dict]]] = {
    "backbone_quality": _rows_backbone_quality,
    "task_addition": _rows_task_addition,
    "relational": _rows_relational,
    "page_render": lambda r: [
        {"page": page, **_scalars(p), "target_seconds": r.get("target_seconds")}
        for page, p in (r.get("pages") or {}).items()
    ],
    "preview_time": lambda r: [_flat(u) for u in r.get("uploads") or []],
}


def csv_rows(name: str, results: dict[str, Any]) -> list[dict[str, Any]]:
    """The main per-item table of a benchmark's results as flat dicts (one CSV line each).

    Known benchmarks have their own extractor (:data:`ROW_EXTRACTORS`); scaling's long format
    is :func:`bench.scaling.long_rows`; any other result with a top-level ``rows`` list (e.g.
    ``chemprop_compare``) gives those rows, flattened.
    """
    if name in ("scaling", "scaling_cuda"):
        from bench.scaling import long_rows

        return long_rows(results.get("curves") or {}, str(results.get("device") or "cpu"))
    if name in ROW_EXTRACTORS:
        return ROW_EXTRACTORS[name](results)
    return [_flat(row) for row in results.get("rows") or [] if isinstance(row, dict)]
