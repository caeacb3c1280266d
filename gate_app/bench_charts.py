"""Stored benchmark results for the Benchmarks page: loading, the machine line, plotly figures.

Why separate from :mod:`gate_app.charts`: these read ``bench/results/<name>.json`` (written by
``python -m bench <name>``), never a model; nothing here imports torch or ``gate_core``, so the
page stays fast. ``GATE_BENCH_RESULTS`` points the page at another results folder (tests).
The Markdown counterpart with static PNGs is ``bench/report.py`` (``python -m bench report``).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from bench.labels import METHOD_COLOURS, METHOD_LABELS, size_sort_key
from bench.labels import finite_number as num
from bench.labels import RESULTS as COMMANDS  # noqa: F401 - the page reads these two from here
from bench.labels import SCALING_CURVES  # noqa: F401
from gate_app.charts import GATE_COLOUR, HEIGHT, _layout, chart_text

RESULTS_ENV = "GATE_BENCH_RESULTS"
DEFAULT_RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"

TARGET_COLOUR = "#b2182b"



def results_dir() -> Path:
    return Path(os.environ.get(RESULTS_ENV) or DEFAULT_RESULTS)


def read_result(path: Path) -> dict | None:
    """The parsed JSON object, or None when the file is absent or unreadable."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def label(method: str) -> str:
    return METHOD_LABELS.get(method, method)




def _short(v: float | None) -> str:
    """Bar label: '3,818', '56.7', '0.951'."""
    if v is None:
        return ""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"




# ------------------------------------------------------------------------------------ machines


def machine_key(data: dict) -> tuple:
    m = data.get("machine") or {}
    return (m.get("cpu_model"), m.get("cpu_count"), m.get("gpu"))


def main_machine_key(results: dict[str, dict]) -> tuple | None:
    """The machine most of the loaded results were measured on."""
    keys = Counter(machine_key(d) for d in results.values())
    return keys.most_common(1)[0][0] if keys else None


def machine_line(data: dict, main_key: tuple | None = None) -> str:
    """'Measured 2026-11-23 01:36 UTC on AMD EPYC, 2 cores, 24 GB RAM, no GPU · code 9438156c55 · `command`'."""
    m = data.get("machine") or {}
    d = str(m.get("date_utc") or "")
    date = d[:10] + " " + d[11:16] + " UTC" if len(d) >= 16 and d[10] == "T" else (d or "date unknown")
    mem = num(m.get("memory_total_mb"))
    where = [str(m.get("cpu_model") or "unknown CPU"), f"{m.get('cpu_count', '?')} cores"]
    if mem:
        where.append(f"{mem / 1024:.0f} GB RAM")
    where.append(f"GPU {m['gpu']}" if m.get("gpu") else "no GPU")
    text = f"Measured {date} on {', '.join(where)}"
    if m.get("torch"):
        text += f", torch {m['torch']}"
    if m.get("git_commit"):
        text += f" · code {str(m['git_commit'])[:10]}" + (" (uncommitted changes)" if m.get("git_dirty") else "")
    if data.get("command"):
        text += f" · `{data['command']}`"
    if data.get("status"):
        text += f" · run status: {data['status']}"
    if main_key is not None and machine_key(data) != main_key:
        text = "⚠ Another machine than most results on this page. " + text
    return text


# ---------------------------------------------------------------------------------- task addition


def task_addition_rows(data: dict) -> pd.DataFrame:
    """target, seed, size, method, nrmse of every finished cell (numeric sizes only)."""
    rows = [
        {"target": r.get("target"), "seed": r.get("seed"), "size": num(r.get("size")), "method": r.get("method"), "nrmse": num(r.get("nrmse"))}
        for r in data.get("rows") or []
        if isinstance(r, dict)
    ]
    frame = pd.DataFrame(rows, columns=["target", "seed", "size", "method", "nrmse"])
    return frame.dropna(subset=["size", "nrmse"])


def accuracy_vs_n(data: dict, target: str | None = None) -> pd.DataFrame:
    """Long table size, method, nrmse: the summary's mean over targets (complete cells), or one target's mean over seeds."""
    if target is None:
        by_size = (data.get("summary") or {}).get("by_size") or {}
        rows = [{"size": num(s) if num(s) is not None else float(s), "method": m, "nrmse": num(v)} for s in sorted(by_size, key=size_sort_key) for m, v in (by_size[s] or {}).items()]
        return pd.DataFrame(rows, columns=["size", "method", "nrmse"]).dropna()
    frame = task_addition_rows(data)
    frame = frame[frame["target"] == target]
    return frame.groupby(["size", "method"], as_index=False, sort=True)["nrmse"].mean()


def accuracy_figure(frame: pd.DataFrame, title: str, methods: list[str] | None = None) -> go.Figure:
    """Mean nRMSE vs n, one line per method (log x, the sizes as ticks)."""
    fig = go.Figure()
    order = methods or list(dict.fromkeys(frame["method"]))
    for method in order:
        part = frame[frame["method"] == method].sort_values("size")
        if len(part):
            fig.add_trace(go.Scatter(x=part["size"], y=part["nrmse"], mode="lines+markers", name=label(method),
                                     line={"color": METHOD_COLOURS.get(method), "width": 3 if method in ("learned", "gate_learned") else 1.5},
                                     hovertemplate=f"{label(method)}<br>n = %{{x}}<br>nRMSE %{{y:.3f}}<extra></extra>"))
    sizes = sorted(set(frame["size"]))
    fig.update_xaxes(title="training molecules n", type="log", tickvals=sizes, ticktext=[f"{s:g}" for s in sizes])
    fig.update_yaxes(title="normalised test RMSE (lower is better)")
    return _layout(fig, title, height=400)


# -------------------------------------------------------------------------------------- chemprop


def ratio_figure(ratio_to: dict[str, float], target_ratio: float | None, max_n: Any = None) -> go.Figure:
    """GATE's mean nRMSE divided by each baseline's, with the target and parity lines."""
    names = list(ratio_to)
    fig = go.Figure(go.Bar(x=[label(m) for m in names], y=[num(ratio_to[m]) for m in names], marker_color=[METHOD_COLOURS.get(m, GATE_COLOUR) for m in names],
                           text=[f"{num(ratio_to[m]):.3f}" if num(ratio_to[m]) is not None else "" for m in names], textposition="outside"))
    if num(target_ratio) is not None:
        fig.add_hline(y=target_ratio, line={"color": TARGET_COLOUR, "dash": "dash"}, annotation_text=f"target ≤ {target_ratio:.2f}", annotation_position="top left")
    fig.add_hline(y=1.0, line={"color": "black", "width": 1}, annotation_text="parity", annotation_position="top right")
    fig.update_yaxes(title="GATE nRMSE / baseline nRMSE", rangemode="tozero")
    return _layout(fig, f"GATE relative to chemprop (n ≤ {max_n})" if max_n is not None else "GATE relative to chemprop")


def by_size_frame(by_size: dict) -> pd.DataFrame:
    rows = [{"size": num(s) if num(s) is not None else float(s), "method": m, "nrmse": num(v)} for s in sorted(by_size, key=size_sort_key) for m, v in (by_size[s] or {}).items()]
    return pd.DataFrame(rows, columns=["size", "method", "nrmse"]).dropna()


# --------------------------------------------------------------------------------------- scaling


def scaling_figure(points: list[dict], x: str, ys: list[str], xlabel: str, ylabel: str, title: str, logx: bool = False) -> go.Figure:
    """One scaling curve: a line per y field; the pre-training curve gets a line per alignment form."""
    fig = go.Figure()
    pts = sorted((p for p in points if isinstance(p, dict)), key=lambda p: num(p.get(x)) or 0.0)
    groups = sorted({str(p.get("alignment")) for p in pts}) if any("alignment" in p for p in pts) else [None]
    for group in groups:
        sub = [p for p in pts if group is None or str(p.get("alignment")) == group]
        for y in ys:
            if any(num(p.get(y)) is not None for p in sub):
                name = y.replace("_", " ") if group is None else f"{group}"
                fig.add_trace(go.Scatter(x=[p.get(x) for p in sub], y=[num(p.get(y)) for p in sub], mode="lines+markers", name=name))
    fig.update_xaxes(title=xlabel, **({"type": "log", "dtick": 1} if logx else {}))
    fig.update_yaxes(title=ylabel, rangemode="tozero")
    return _layout(fig, title)


# ----------------------------------------------------------------------------------------- speed


def target_bars(labels: list[str], values: list[float | None], target: float | None, unit: str, title: str,
                higher_is_better: bool = True, log: bool = False, judge: bool = True) -> go.Figure:
    """Horizontal bars against a target line; with ``judge``, bars that miss the target are drawn in the target colour."""

    def ok(v: float | None) -> bool:
        return not judge or target is None or v is None or (v >= target if higher_is_better else v < target)

    fig = go.Figure(go.Bar(x=values, y=[chart_text(t) for t in labels], orientation="h", marker_color=[GATE_COLOUR if ok(v) else TARGET_COLOUR for v in values],
                           text=[_short(v) for v in values], textposition="auto", hovertemplate="%{y}: %{x:,.4g} " + chart_text(unit) + "<extra></extra>"))
    if target is not None:
        text = f"target {'≥' if higher_is_better else '<'} {target:,.4g} {unit}"
        if log:  # plotly places a vline's annotation wrongly on a log axis: say it in the title
            fig.add_vline(x=target, line={"color": TARGET_COLOUR, "dash": "dash"})
            title = f"{title} · dashed: {text}"
        else:
            fig.add_vline(x=target, line={"color": TARGET_COLOUR, "dash": "dash"}, annotation_text=chart_text(text), annotation_position="top")
    fig.update_xaxes(title=chart_text(unit), **({"type": "log", "dtick": 1} if log else {}))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, height=max(HEIGHT - 100, 34 * len(labels) + 120))


def rmse_vs_gate_figure(data: dict) -> go.Figure | None:
    """Backbone quality: each method's test RMSE divided by the GATE backbone's, per property."""
    names = data.get("methods") or {}
    props = data.get("properties") or {}
    others = [m for m in names if m != "gate"]
    fig = go.Figure()
    for m in others:
        xs, ys = [], []
        for prop, p in props.items():
            ms = p.get("methods") or {}
            gate, other = num((ms.get("gate") or {}).get("rmse")), num((ms.get(m) or {}).get("rmse"))
            if gate and other is not None:
                xs.append(other / gate)
                ys.append(prop)
        if xs:
            fig.add_trace(go.Bar(x=xs, y=ys, orientation="h", name=names.get(m, m), marker_color=METHOD_COLOURS.get(m)))
    if not fig.data:
        return None
    fig.add_vline(x=1.0, line={"color": "black", "width": 1}, annotation_text="GATE backbone", annotation_position="top")
    fig.update_layout(barmode="group")
    fig.update_xaxes(title="test RMSE / GATE backbone's (< 1: better than GATE)")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "Backbone quality per property", height=max(HEIGHT, 26 * len(props) + 120))


def relational_figure(reveals: dict) -> go.Figure:
    keys = list(reveals)
    changes = [100 * (num(reveals[k].get("change")) or 0.0) for k in keys]
    fig = go.Figure(go.Bar(x=[str(k) for k in keys], y=changes, marker_color=[GATE_COLOUR if reveals[k].get("reached") else TARGET_COLOUR for k in keys],
                           text=[f"{c:+.1f} %" for c in changes], textposition="outside"))
    fig.add_hline(y=-15, line={"color": TARGET_COLOUR, "dash": "dash"}, annotation_text="target with ≥ 1 known: −15 %", annotation_position="bottom right")
    fig.add_hline(y=0, line={"color": "black", "width": 1})
    fig.update_xaxes(title="other labels known", type="category")
    fig.update_yaxes(title="hidden-label RMSE change vs plain GATE (%)")
    return _layout(fig, "Relational head: known labels → hidden label")
