"""Plotly figures for the pages. Each takes plain tables/arrays and returns a figure.

Why one module: the same chart (ratio bars, λ trajectories, parity) appears on several pages
and must look the same everywhere.

Every argument is plain text. Plotly renders a subset of HTML in titles, axis titles, legend
names, tick labels and hover text (``<a href>``, ``<b>``, ``<br>``, ``<span style>``), and
units, task names, column names and molecule names come from users and imported archives, so
each one passes through :func:`chart_text` where it enters a figure; the markup around it
(``<b>``, ``<br>``) is ours.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

HEIGHT = 360
GATE_COLOUR = "#2f6f8f"
BASELINE_COLOUR = "#c77c2e"
OTHER_COLOUR = "#c8c8c8"
TOP_SOURCES = 5  # sources drawn in colour in the λ trajectory
PARITY_SIZE = 460  # px; square plots need the height, the width follows from scaleanchor


def chart_text(text: object) -> str:
    """``text`` shown literally by plotly: ``&``, ``<`` and ``>`` escaped (plotly turns the
    entities back into the characters), so user text can carry no link, style or line break."""
    return html.escape(str(text), quote=False)


def _layout(fig: go.Figure, title: str = "", height: int = HEIGHT) -> go.Figure:
    """Size, margins and theme; ``title`` is plain text."""
    fig.update_layout(
        title=chart_text(title) if title else None,
        height=height,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        template="plotly_white",
    )
    return fig


def value_histogram(values: np.ndarray, name: str, unit: str = "") -> go.Figure:
    label = chart_text(f"{name} ({unit})" if unit else name)
    fig = go.Figure(
        go.Histogram(
            x=np.asarray(values, float),
            nbinsx=min(40, max(5, len(values) // 3)),
            marker_color=GATE_COLOUR,
        )
    )
    fig.update_xaxes(title=label)
    fig.update_yaxes(title="molecules")
    return _layout(fig, "Distribution of values (after merging duplicates)")


def class_balance(counts: dict[str, int]) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=list(counts),
            y=list(counts.values()),
            marker_color=[BASELINE_COLOUR, GATE_COLOUR][: len(counts)],
            text=list(counts.values()),
        )
    )
    fig.update_xaxes(title="class", type="category")
    fig.update_yaxes(title="molecules")
    return _layout(fig, "Class balance")


def validation_curve(val: pd.DataFrame) -> go.Figure:
    fig = px.line(
        val,
        x="step",
        y="val_loss",
        color=val["member"].map(lambda m: f"member {m + 1}"),
        markers=True,
    )
    fig.update_layout(legend_title_text="")
    fig.update_yaxes(title="validation loss")
    return _layout(fig, "Validation loss")


def ratio_trajectory(
    traj: pd.DataFrame, member: int | None = 0, top: int = TOP_SOURCES
) -> go.Figure:
    """λ_s over training steps (one ensemble member, or the mean over members): the ``top`` sources
    by final λ in colour with a legend, the others thin and grey; the x-axis starts at step 0."""
    data = traj if member is None else traj[traj["member"] == member]
    data = data.groupby(["step", "source"], as_index=False)["ratio"].mean()
    data["source"] = data["source"].map(chart_text)  # an imported task's ratios name its sources
    final = data.sort_values("step").groupby("source")["ratio"].last().sort_values(ascending=False)
    leaders = list(final.index[:top])
    fig = go.Figure()
    for source in final.index[top:]:  # grey first, so the coloured lines are drawn on top
        line = data[data["source"] == source]
        fig.add_trace(
            go.Scatter(
                x=line["step"],
                y=line["ratio"],
                mode="lines",
                name=source,
                line={"color": OTHER_COLOUR, "width": 1},
                showlegend=False,
                hovertemplate=f"{source}<br>step %{{x}}: λ = %{{y:.3f}}<extra></extra>",
            )
        )
    for colour, source in zip(px.colors.qualitative.D3, leaders):
        line = data[data["source"] == source]
        fig.add_trace(
            go.Scatter(
                x=line["step"],
                y=line["ratio"],
                mode="lines",
                name=source,
                line={"color": colour, "width": 2.5},
                hovertemplate=f"{source}<br>step %{{x}}: λ = %{{y:.3f}}<extra></extra>",
            )
        )
    fig.update_xaxes(title="training step", range=[0, max(1, int(data["step"].max()))])
    fig.update_yaxes(title="transfer ratio λ")
    fig.update_layout(legend_title_text=f"top {len(leaders)} sources (others grey)")
    return _layout(
        fig, "Transfer-ratio trajectory" + ("" if member is None else f" (member {member + 1})")
    )


def ratio_bars(ratios: pd.DataFrame, top: int | None = None) -> go.Figure:
    """Ranked horizontal bars of λ_s with their spread over ensemble members; share in the label."""
    data = ratios.head(top) if top else ratios
    data = data.iloc[::-1]  # largest at the top
    data = data.assign(
        label=[f"{chart_text(s)} · {share:.0%}" for s, share in zip(data["source"], data["share"])]
    )
    kinds = data["kind"] if "kind" in data else pd.Series("", index=data.index)
    fig = go.Figure()
    for colour, kind in zip([GATE_COLOUR, *px.colors.qualitative.D3[1:]], dict.fromkeys(kinds)):
        part = data[
            kinds == kind
        ]  # one trace per kind of source: experimental and computed read apart
        fig.add_trace(
            go.Bar(
                x=part["ratio"],
                y=part["label"],
                orientation="h",
                name=chart_text(kind or "sources"),
                showlegend=bool(kind),
                error_x={
                    "type": "data",
                    "array": part["ratio_std"],
                    "visible": True,
                    "color": "#555",
                },
                marker_color=colour,
                customdata=np.stack([part["ratio_std"], part["share"]], axis=1),
                hovertemplate="%{y}<br>λ = %{x:.3f} ± %{customdata[0]:.3f}<br>share %{customdata[1]:.1%}<extra></extra>",
            )
        )
    fig.update_yaxes(categoryorder="array", categoryarray=list(data["label"]))
    fig.update_xaxes(title="transfer ratio λ (label: share of the total)", rangemode="tozero")
    return _layout(fig, "Transfer ratios", height=max(HEIGHT, 24 * len(data) + 80))


def ratio_heatmap(matrix: pd.DataFrame) -> go.Figure:
    x, y = [chart_text(c) for c in matrix.columns], [chart_text(i) for i in matrix.index]
    fig = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(),
            x=x,
            y=y,
            colorscale="Blues",
            colorbar={"title": "λ"},
            hovertemplate="%{y} ← %{x}: λ = %{z:.3f}<extra></extra>",
        )
    )
    fig.update_xaxes(title="source task", tickangle=-45)
    fig.update_yaxes(title="added task")
    return _layout(
        fig, "Transfer ratios: added tasks × sources", height=max(260, 40 * len(matrix) + 200)
    )


def parity(
    y_true: list[float],
    gate: list[float],
    baseline: list[float] | None,
    name: str,
    unit: str = "",
    title: str = "Test set: predicted vs measured",
    series: str = "GATE (new task)",
) -> go.Figure:
    label = chart_text(f"{name} ({unit})" if unit else name)
    y_true = np.asarray(y_true, float)
    fig = go.Figure()
    if baseline is not None:
        fig.add_trace(
            go.Scatter(
                x=y_true,
                y=baseline,
                mode="markers",
                name="baseline (frozen backbone + new head)",
                marker={"color": BASELINE_COLOUR, "symbol": "x", "size": 7},
            )
        )
    fig.add_trace(
        go.Scatter(
            x=y_true,
            y=gate,
            mode="markers",
            name=chart_text(series),
            marker={"color": GATE_COLOUR, "size": 8},
        )
    )
    everything = np.concatenate(
        [
            y_true,
            np.asarray(gate, float),
            np.asarray(baseline if baseline is not None else [], float),
        ]
    )
    lo, hi = float(np.nanmin(everything)), float(np.nanmax(everything))
    pad = 0.05 * (hi - lo or 1.0)
    lo, hi = lo - pad, hi + pad
    fig.add_trace(
        go.Scatter(
            x=[lo, hi],
            y=[lo, hi],
            mode="lines",
            line={"color": "grey", "dash": "dash"},
            name="y = x",
            hoverinfo="skip",
        )
    )
    # square: the same range and scale on both axes, so distance from y = x reads the same everywhere
    fig.update_xaxes(title=f"measured {label}", range=[lo, hi], constrain="domain")
    fig.update_yaxes(
        title=f"predicted {label}",
        range=[lo, hi],
        scaleanchor="x",
        scaleratio=1,
        constrain="domain",
    )
    fig.update_layout(legend={"orientation": "h", "y": -0.2})
    return _layout(fig, title, height=PARITY_SIZE)


def roc(
    y_true: list[float],
    gate: list[float],
    baseline: list[float] | None,
    title: str = "Test set: ROC curve",
    series: str = "GATE (new task)",
) -> go.Figure:
    from sklearn.metrics import roc_curve

    fig = go.Figure()
    for name, scores, colour in (
        (series, gate, GATE_COLOUR),
        ("baseline (frozen backbone + new head)", baseline, BASELINE_COLOUR),
    ):
        if scores is None or len(np.unique(y_true)) < 2:
            continue
        fpr, tpr, _ = roc_curve(np.asarray(y_true), np.asarray(scores))
        fig.add_trace(
            go.Scatter(x=fpr, y=tpr, mode="lines", name=chart_text(name), line={"color": colour})
        )
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            line={"color": "grey", "dash": "dash"},
            name="chance",
            hoverinfo="skip",
        )
    )
    fig.update_xaxes(title="false positive rate", range=[0, 1])
    fig.update_yaxes(title="true positive rate", range=[0, 1])
    fig.update_layout(legend={"orientation": "h", "y": -0.2})
    return _layout(fig, title, height=420)


def _hover_text(smiles: list[str], names: list[str]) -> list[str]:
    """ "<b>name</b><br>SMILES" where a molecule has a name, else its SMILES (both as plain text)."""
    return [
        f"<b>{chart_text(n)}</b><br>{chart_text(s)}" if n else chart_text(s)
        for s, n in zip(smiles, names)
    ]


def latent_scatter(
    coords: np.ndarray,
    smiles: list[str],
    colour: pd.Series | None,
    colour_label: str,
    title: str,
    names: list[str] | None = None,
    n_query: int = 0,
    highlight: list[int] | tuple[int, ...] = (),
) -> go.Figure:
    """WebGL scatter of molecules' 2-D coordinates: a sample (numeric colours get a colour bar,
    others a legend), then the last ``n_query`` (your molecules) as stars labelled by name or
    SMILES.

    Molecule ``i`` (row ``i`` of ``coords``, ``smiles`` and ``names``) carries ``i`` as
    ``customdata[0]`` in whichever trace it is drawn, so a selection names molecules. The hover
    shows a molecule's name ("" for none) and its SMILES; ``colour`` covers the sample only.
    ``highlight``: molecule indices drawn ringed, the rest dimmed (a selection made in a linked
    panel).
    """
    k = len(coords) - n_query
    names = list(names) if names is not None else [""] * len(smiles)
    hover = _hover_text(smiles, names)
    colour_label = chart_text(colour_label)
    lit = {int(i) for i in highlight}
    fig = go.Figure()

    def add(idx: np.ndarray, values: np.ndarray | None = None, **trace) -> None:
        data = np.column_stack([idx, values]) if values is not None else idx[:, None]
        if lit:
            trace["selectedpoints"] = [j for j, i in enumerate(idx) if int(i) in lit]
            trace["unselected"] = {"marker": {"opacity": 0.25}}
        fig.add_trace(
            go.Scattergl(
                x=coords[idx, 0],
                y=coords[idx, 1],
                mode="markers",
                text=[hover[i] for i in idx],
                customdata=data,
                **trace,
            )
        )

    if colour is None:
        add(
            np.arange(k),
            hovertemplate="%{text}<extra></extra>",
            name="molecules",
            marker={"size": 6, "color": GATE_COLOUR, "opacity": 0.75},
        )
    elif pd.api.types.is_numeric_dtype(colour) and colour.dtype != bool:
        values = colour.to_numpy(dtype=float)
        known = np.isfinite(values)
        if (~known).any():
            add(
                np.flatnonzero(~known),
                hovertemplate="%{text}<br>no value<extra></extra>",
                name="no value",
                marker={"size": 5, "color": "lightgrey"},
            )
        add(
            np.flatnonzero(known),
            values[known],
            name=colour_label,
            showlegend=False,
            hovertemplate="%{text}<br>" + colour_label + " = %{customdata[1]:.3g}<extra></extra>",
            marker={
                "size": 6,
                "color": values[known],
                "colorscale": "Viridis",
                "showscale": True,
                "colorbar": {"title": colour_label},
                "opacity": 0.85,
            },
        )
    else:
        labels = colour.astype(str).to_numpy()
        for value in pd.unique(labels):
            shown = chart_text(value)
            add(
                np.flatnonzero(labels == value),
                hovertemplate="%{text}<extra>" + shown + "</extra>",
                marker={"size": 6, "opacity": 0.8},
                name=f"{colour_label}: {shown}",
            )
    if n_query:
        idx = np.arange(k, k + n_query)
        fig.add_trace(
            go.Scattergl(
                x=coords[idx, 0],
                y=coords[idx, 1],
                mode="markers+text",
                text=[chart_text(names[i] or smiles[i]) for i in idx],
                textposition="top center",
                textfont={"color": "crimson"},
                customdata=idx[:, None],
                hovertext=[hover[i] for i in idx],
                hovertemplate="your molecule: %{hovertext}<extra></extra>",
                name="your molecules",
                marker={
                    "size": 14,
                    "symbol": "star",
                    "color": "crimson",
                    "line": {"color": "black", "width": 1},
                },
            )
        )
    if lit:
        idx = np.array(sorted(i for i in lit if i < len(coords)), dtype=int)
        fig.add_trace(
            go.Scattergl(
                x=coords[idx, 0],
                y=coords[idx, 1],
                mode="markers",
                customdata=idx[:, None],
                text=[hover[i] for i in idx],
                hovertemplate="selected: %{text}<extra></extra>",
                name="selected",
                marker={
                    "size": 13,
                    "symbol": "circle-open",
                    "color": "black",
                    "line": {"width": 2},
                },
            )
        )
    fig.update_xaxes(showticklabels=False, title="")
    fig.update_yaxes(showticklabels=False, title="")
    # a drag selects (the panels' selections are linked); zoom stays in the toolbar
    fig.update_layout(legend={"orientation": "h", "y": -0.05}, dragmode="select")
    return _layout(fig, title, height=480)
