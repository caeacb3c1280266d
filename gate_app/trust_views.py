"""A finished run's models side by side, and the chemist's choice of the one that answers (issue 12).

Why here and not in the run layout: the zero-training preview, the trained task and the
frozen-backbone probe are scored the same way (out of fold: each molecule predicted by a model
that never saw it, on scaffold folds), so they can be compared in one table with the interval
each one would state; the recommendation is the library's (:func:`gate_core.api.recommend`),
and the choice goes through :meth:`GateStudio.choose_model`, as the CLI's ``choose-model`` does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from gate_app import charts
from gate_core.registries import MODELS
from gate_core.registry import TaskRecord
from gate_core.transfer.calibration import INTERVAL_EXPLANATION
from gate_core.transfer.domain import DOMAIN_EXPLANATION


def comparison_frame(
    comparison: dict[str, dict],
    half_widths: dict[str, float | None],
    recommended: str,
    chosen: str,
    classification: bool,
) -> pd.DataFrame:
    """One row per model: out-of-fold scores, the stated interval's half-width at domain score 1, recommended / in use."""
    keys = ["roc_auc", "accuracy"] if classification else ["rmse", "mae", "r2"]
    rows = []
    for model in MODELS:
        scores = comparison.get(model)
        if not scores:
            continue
        row = {
            "model": MODELS[model],
            **{k.upper() if k != "r2" else "R²": scores.get(k) for k in keys},
        }
        if not classification:
            row["± interval (inside the domain)"] = half_widths.get(model)
        row["recommended"] = "★" if model == recommended else ""
        row["in use"] = "✓" if model == chosen else ""
        rows.append(row)
    return pd.DataFrame(rows)


def model_choice(studio, record: TaskRecord, key: str) -> None:
    """The three models' out-of-fold scores, the recommendation, an out-of-fold parity plot and the choice."""
    metrics = record.metrics or {}
    comparison = metrics.get("comparison") or {}
    if not comparison:
        return
    task = studio.load_task(record.name)
    level = round(100 * float(metrics.get("interval_level") or 0.9))
    half = {
        m: (c.interval.quantile if (c := task.calibration(m)).interval else None)
        for m in comparison
    }
    recommended, chosen = metrics.get("recommended") or "gate", metrics.get("model") or task.model
    st.markdown(
        f"**All three models, scored out of fold** ({record.sizes.get('n_train', '?')} molecules, each predicted by a model that did not train on it; "
        "folds by scaffold, so it reads like a new series)."
    )
    frame = comparison_frame(comparison, half, recommended, chosen, task.classification)
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        key=f"{key}_comparison",
        column_config={
            c: st.column_config.NumberColumn(format="%.3g")
            for c in frame.columns
            if frame[c].dtype.kind == "f"
        },
    )
    if not task.classification:
        st.caption(INTERVAL_EXPLANATION)
    else:
        st.caption(
            "Probabilities are calibrated on the out-of-fold predictions (Platt scaling), so 0.8 means about 8 in 10."
        )
    oof = task.metadata.get("oof") or {}
    if oof.get(chosen) and not task.classification:
        y, pred = np.asarray(oof["y_true"], float), np.asarray(oof[chosen], float)
        interval = task.calibration(chosen).interval
        fig = charts.parity(
            y,
            pred,
            None,
            record.name,
            record.unit,
            title=f"Out of fold: predicted vs measured ({MODELS[chosen]})",
            series=MODELS[chosen],
        )
        if interval is not None:
            fig.update_traces(
                error_y={
                    "type": "data",
                    "array": interval.half_width(np.asarray(oof["ad_score"], float)),
                    "thickness": 1,
                },
                selector={"name": MODELS[chosen]},
            )
            inside = float(
                np.mean(np.abs(y - pred) <= interval.half_width(np.asarray(oof["ad_score"], float)))
            )
            st.caption(
                f"Bars: each molecule's {level} % interval; {inside:.0%} of the measured values fall inside."
            )
        st.plotly_chart(fig, key=f"{key}_oof_parity")
    options = task.available_models()
    st.info(
        f"Recommended: **{MODELS[recommended]}** (best out-of-fold score). You choose which model answers this task's predictions.",
        icon=":material/recommend:",
    )
    pick = st.radio(
        "Model for this task",
        options,
        index=options.index(chosen),
        format_func=lambda m: MODELS[m] + (" ★" if m == recommended else ""),
        horizontal=True,
        key=f"{key}_model",
    )
    if pick != chosen and st.button(f"Use the {MODELS[pick]}", key=f"{key}_use_model"):
        studio.choose_model(record.name, pick)
        st.rerun()
    st.caption(DOMAIN_EXPLANATION)
