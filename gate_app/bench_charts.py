"""Plotly charts of stored benchmark results, one builder per result kind.

Why separate from :mod:`gate_app.charts`: these read benchmark JSON (written by
``python -m bench <name>``), never a model; nothing here imports torch, ``gate_core`` or
``bench``. The tables of each result are not drawn here: they are its ``<name>.md``, rendered
once by its bench module. :func:`charts_for` returns ``(key, figure)`` pairs so the page needs
no per-result code.
"""

from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go

from gate_app.bench_results import METHOD_COLOURS, label, num, size_sort_key
from gate_app.charts import GATE_COLOUR, HEIGHT, _layout, chart_text

TARGET_COLOUR = "#b2182b"
Charts = list[tuple[str, go.Figure]]

#: Scaling curves: (key, x field, y fields, x title, y title, chart title, log x).
SCALING_CURVES = [
    (
        "add_task_vs_sources",
        "n_sources",
        ["wall_seconds"],
        "source tasks in the backbone",
        "seconds",
        "Add-task time vs number of source tasks",
        False,
    ),
    (
        "add_task_vs_n",
        "n",
        ["wall_seconds", "featurize_seconds", "train_seconds"],
        "molecules in the new task",
        "seconds",
        "Add-task time vs new-task size",
        False,
    ),
    (
        "add_task_vs_existing",
        "existing_tasks",
        ["wall_seconds", "predict_seconds"],
        "tasks already added",
        "seconds",
        "Add-task time vs tasks already added",
        False,
    ),
    (
        "pretrain_step_vs_tasks",
        "n_tasks",
        ["step_ms"],
        "tasks",
        "ms per step",
        "Pre-training step time vs number of tasks",
        False,
    ),
    (
        "predict_vs_batch",
        "batch_size",
        ["mol_per_s", "warm_mol_per_s"],
        "batch size",
        "molecules / s",
        "Prediction throughput vs batch size",
        True,
    ),
    (
        "featurize_vs_batch",
        "molecules",
        ["mol_per_s"],
        "molecules",
        "molecules / s",
        "Featurisation throughput vs batch",
        True,
    ),
]


def _short(v: float | None) -> str:
    """Bar label: '3,818', '56.7', '0.951'."""
    if v is None:
        return ""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def accuracy_figure(by_size: dict, title: str, methods: list[str] | None = None) -> go.Figure:
    """Mean nRMSE vs n (``{size: {method: value}}``), a line per method, sizes as log ticks."""
    sizes = [s for s in sorted(by_size, key=size_sort_key) if num(_float(s)) is not None]
    order = methods or list(dict.fromkeys(m for s in sizes for m in by_size[s] or {}))
    fig = go.Figure()
    for m in order:
        xs = [_float(s) for s in sizes if num((by_size[s] or {}).get(m)) is not None]
        ys = [num(by_size[s][m]) for s in sizes if num((by_size[s] or {}).get(m)) is not None]
        if xs:
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines+markers",
                    name=label(m),
                    line={"color": METHOD_COLOURS.get(m), "width": 3 if "learned" in m else 1.5},
                    hovertemplate=f"{label(m)}<br>n = %{{x}}<br>nRMSE %{{y:.3f}}<extra></extra>",
                )
            )
    ticks = [_float(s) for s in sizes]
    fig.update_xaxes(
        title="training molecules n", type="log", tickvals=ticks, ticktext=[f"{s:g}" for s in ticks]
    )
    fig.update_yaxes(title="normalised test RMSE (lower is better)")
    return _layout(fig, title, height=400)


def _float(size: object) -> float | None:
    try:
        return float(size)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def target_bars(
    labels: list[str],
    values: list[float | None],
    target: float | None,
    unit: str,
    title: str,
    higher_is_better: bool = True,
    log: bool = False,
) -> go.Figure:
    """Horizontal bars against a dashed target line; bars that miss it in the target colour."""

    def ok(v: float | None) -> bool:
        return target is None or v is None or (v >= target if higher_is_better else v < target)

    fig = go.Figure(
        go.Bar(
            x=values,
            y=[chart_text(t) for t in labels],
            orientation="h",
            text=[_short(v) for v in values],
            textposition="auto",
            marker_color=[GATE_COLOUR if ok(v) else TARGET_COLOUR for v in values],
            hovertemplate="%{y}: %{x:,.4g} " + chart_text(unit) + "<extra></extra>",
        )
    )
    if target is not None:
        # plotly misplaces a vline's annotation on a log axis: the target goes in the title
        fig.add_vline(x=target, line={"color": TARGET_COLOUR, "dash": "dash"})
        title = f"{title} · dashed: target {'≥' if higher_is_better else '<'} {target:,.4g} {unit}"
    fig.update_xaxes(title=chart_text(unit), **({"type": "log", "dtick": 1} if log else {}))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, height=max(HEIGHT - 100, 34 * len(labels) + 120))


# ----------------------------------------------------------------------- one builder per result


def task_addition_charts(name: str, data: dict) -> Charts:
    """Accuracy vs n when the grid has several sizes; add-task time when measured (prediction
    throughput is the screening result's)."""
    out: Charts = []
    s = data.get("summary") or {}
    if len(s.get("by_size") or {}) > 1:
        title = f"Mean normalised RMSE over {s.get('n_targets', '?')} targets"
        out.append(
            (f"bench_{name}_accuracy", accuracy_figure(s["by_size"], title, s.get("methods")))
        )
    speed = data.get("speed") or {}
    a = speed.get("add_task") or {}
    if a:
        out.append(
            (
                f"bench_{name}_add_task_speed",
                target_bars(
                    [f"add a {a.get('molecules')}-molecule task"],
                    [num(a.get("median_wall_seconds"))],
                    num(a.get("target_seconds")),
                    "s",
                    "Add-task time",
                    higher_is_better=False,
                ),
            )
        )
    return out


def chemprop_charts(name: str, data: dict) -> Charts:
    """Per task type, each method's mean over targets for every target group on new and on all
    test molecules (grouped bars), with the 95 % interval over targets the comparison stores."""
    out: Charts = []
    comparison = data.get("comparison") or {}
    for task_type, axis in (
        ("regression", "mean nRMSE over targets (lower is better)"),
        ("classification", "mean ROC-AUC over targets (higher is better)"),
    ):
        block = {
            k: e
            for k, e in (comparison.get(task_type) or {}).items()
            if k.endswith(("/unseen", "/all"))
        }
        if not block:
            continue
        keys = list(block)
        methods = list(dict.fromkeys(m for e in block.values() for m in e.get("mean") or {}))
        fig = go.Figure()
        for m in methods:
            means, plus, minus = [], [], []
            for e in block.values():
                versus = (
                    e.get("uniform_vs_best_baseline") or e.get("learned_vs_best_baseline") or {}
                )
                mean, ci = num((e.get("mean") or {}).get(m)), (versus.get("ci95") or {}).get(m)
                means.append(mean)
                plus.append(ci[1] - mean if ci and mean is not None else 0)
                minus.append(mean - ci[0] if ci and mean is not None else 0)
            fig.add_bar(
                name=label(m),
                x=[k.replace("/unseen", " · new").replace("/all", " · all") for k in keys],
                y=means,
                marker_color=METHOD_COLOURS.get(m, GATE_COLOUR),
                error_y={"type": "data", "symmetric": False, "array": plus, "arrayminus": minus},
            )
        fig.update_layout(barmode="group")
        fig.update_yaxes(title=axis, rangemode="tozero")
        title = f"{task_type.capitalize()}: GATE vs each baseline, by target group and test part"
        out.append((f"bench_{name}_{task_type}", _layout(fig, title)))
    return out


def scaling_charts(name: str, data: dict) -> Charts:
    """One chart per curve; the pre-training curve gets a line per alignment form."""
    out: Charts = []
    for key, x, ys, xlabel, ylabel, title, logx in SCALING_CURVES:
        pts = sorted(
            (p for p in (data.get("curves") or {}).get(key) or [] if isinstance(p, dict)),
            key=lambda p: num(p.get(x)) or 0.0,
        )
        if not pts:
            continue
        fig = go.Figure()
        groups = sorted({str(p.get("alignment")) for p in pts}) if "alignment" in pts[0] else [None]
        for group in groups:
            sub = [p for p in pts if group is None or str(p.get("alignment")) == group]
            for y in ys:
                if any(num(p.get(y)) is not None for p in sub):
                    fig.add_trace(
                        go.Scatter(
                            x=[p.get(x) for p in sub],
                            y=[num(p.get(y)) for p in sub],
                            mode="lines+markers",
                            name=y.replace("_", " ") if group is None else group,
                        )
                    )
        fig.update_xaxes(title=xlabel, **({"type": "log", "dtick": 1} if logx else {}))
        fig.update_yaxes(title=ylabel, rangemode="tozero")
        out.append((f"bench_{name}_{key}", _layout(fig, title)))
    return out


def page_render_charts(name: str, data: dict) -> Charts:
    pages = data.get("pages") or {}
    return (
        [
            (
                "bench_page_render",
                target_bars(
                    list(pages),
                    [num(p.get("warm_median_seconds")) for p in pages.values()],
                    num(data.get("target_seconds")),
                    "s",
                    "Warm browser render time per page (median visit)",
                    higher_is_better=False,
                ),
            )
        ]
        if pages
        else []
    )


def backbone_quality_charts(name: str, data: dict) -> Charts:
    """Each method's test RMSE divided by the GATE backbone's, per property."""
    names, props = data.get("methods") or {}, data.get("properties") or {}
    fig = go.Figure()
    for m in (m for m in names if m != "gate"):
        pairs = [
            (
                num(((p.get("methods") or {}).get(m) or {}).get("rmse")),
                num(((p.get("methods") or {}).get("gate") or {}).get("rmse")),
                prop,
            )
            for prop, p in props.items()
        ]
        pairs = [(o / g, prop) for o, g, prop in pairs if o is not None and g]
        if pairs:
            fig.add_trace(
                go.Bar(
                    x=[r for r, _ in pairs],
                    y=[chart_text(p) for _, p in pairs],
                    orientation="h",
                    name=names.get(m, m),
                    marker_color=METHOD_COLOURS.get(m),
                )
            )
    if not fig.data:
        return []
    fig.add_vline(x=1.0, line={"color": "black", "width": 1})
    fig.update_layout(barmode="group")
    fig.update_xaxes(title="test RMSE / GATE backbone's (< 1: better than GATE)")
    fig.update_yaxes(autorange="reversed")
    height = max(HEIGHT, 26 * len(props) + 120)
    return [("bench_backbone_quality", _layout(fig, "Backbone quality per property", height))]


def relational_charts(name: str, data: dict) -> Charts:
    reveals = (data.get("known_labels") or {}).get("reveals") or {}
    if not reveals:
        return []
    keys = list(reveals)
    changes = [100 * (num(reveals[k].get("change")) or 0.0) for k in keys]
    fig = go.Figure(
        go.Bar(
            x=[str(k) for k in keys],
            y=changes,
            text=[f"{c:+.1f} %" for c in changes],
            marker_color=[
                GATE_COLOUR if reveals[k].get("reached") else TARGET_COLOUR for k in keys
            ],
            textposition="outside",
        )
    )
    fig.add_hline(
        y=-15,
        line={"color": TARGET_COLOUR, "dash": "dash"},
        annotation_text="target with ≥ 1 known: −15 %",
        annotation_position="bottom right",
    )
    fig.update_xaxes(title="other labels known", type="category")
    fig.update_yaxes(title="hidden-label RMSE change vs plain GATE (%)")
    return [("bench_relational", _layout(fig, "Relational head: known labels → hidden label"))]


BUILDERS: dict[str, Callable[[str, dict], Charts]] = {
    "task_addition": task_addition_charts,
    "chemprop_compare": chemprop_charts,
    "scaling": scaling_charts,
    "page_render": page_render_charts,
    "backbone_quality": backbone_quality_charts,
    "relational": relational_charts,
}


def charts_for(name: str, data: dict) -> Charts:
    """The charts of result ``name`` (a variant, e.g. ``scaling_cuda``, uses its stem's builder)."""
    stem = max((k for k in BUILDERS if name.startswith(k)), key=len, default=None)
    return BUILDERS[stem](name, data) if stem else []
