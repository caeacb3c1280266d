"""The Predict page's results for many molecules: which entries were invalid, a sortable and
filterable table with a structure per row, and parity plots (ROC curves for a classification
task) against measured columns.

Why a module: typed-in lists and uploaded files end in the same results, and the page stays a
short script. Names, units and pairing rules come from ``gate_core.predictions``.
"""

from __future__ import annotations

import base64
from collections.abc import Collection

import numpy as np
import pandas as pd
import streamlit as st

from gate_app import charts
from gate_app.views import WARN, number_columns
from gate_core.data.untrusted import draw_isolated
from gate_core.isolation import WorkerCrashed
from gate_core.predictions import InvalidEntry, compare, readable, with_input_columns
from gate_core.text import plain, plural

STRUCTURE = "structure"
MAX_THUMBNAILS = (
    500  # drawing is ~1 ms a molecule; a bigger table shows its first rows with structures
)
THUMB_SIZE = (160, 100)


@st.cache_data(max_entries=64, show_spinner=False)
def thumbnails(smiles: tuple[str, ...]) -> list[str]:
    """SVG drawings of canonical SMILES as data URLs ("" when RDKit cannot draw one), drawn in
    the isolated worker: drawing is native code, and a crash there (``WorkerCrashed``, never
    cached) must not take the server."""
    svgs = draw_isolated(list(smiles), THUMB_SIZE)
    return [
        "data:image/svg+xml;base64," + base64.b64encode(s.encode()).decode() if s else ""
        for s in svgs
    ]


def invalid_notice(entries: list[InvalidEntry], total: int, what: str) -> None:
    """One warning naming each invalid entry by position (``what``: "entry" or "row")."""
    if not entries:
        return
    listed = "; ".join(
        f"{what} {e.position} ({plain(repr(e.text[:60]))}): {plain(e.reason)}" for e in entries[:10]
    )
    more = f"; and {len(entries) - 10} more (see 'error')" if len(entries) > 10 else ""
    st.warning(
        f"{plural(len(entries), 'invalid ' + what)} of {total:,}, not predicted: {listed}{more}. The other {plural(total - len(entries), what)} are predicted.",
        icon=WARN,
    )


def results_table(
    pred: pd.DataFrame,
    tasks: list[str],
    units: dict[str, str],
    frame: pd.DataFrame | None = None,
    smiles_column: str | None = None,
) -> pd.DataFrame:
    """The predictions (with the file's own columns first) as a filterable, sortable table; returns the full table for download."""
    full = with_input_columns(pred, frame, smiles_column) if frame is not None else pred
    mine = [c for c in full.columns if c not in pred.columns]
    shown = readable(full, tasks, units, keep=tuple(mine))
    drawn = STRUCTURE if STRUCTURE not in shown.columns else f"{STRUCTURE} (drawn)"
    try:
        drawings = thumbnails(tuple(pred["smiles"].fillna("").iloc[:MAX_THUMBNAILS]))
    except WorkerCrashed:
        st.caption(
            "The structures could not be drawn (the drawing worker stopped); the values are unaffected."
        )
        drawings = []
    shown.insert(0, drawn, drawings + [""] * (len(shown) - len(drawings)))
    left, middle, right = st.columns([4, 4, 2])
    query = left.text_input(
        "Filter rows",
        key="predict_filter",
        placeholder="text in any column, e.g. a name or 'out of domain'",
    )
    sortable = [c for c in shown.columns if c != drawn]
    by = middle.selectbox(
        "Sort by", sortable, index=None, key="predict_sort", placeholder="input order"
    )
    descending = right.toggle("descending", key="predict_descending")
    view = shown
    if query.strip():
        text = shown.drop(columns=drawn).astype(str)
        view = view[
            text.apply(lambda col: col.str.contains(query.strip(), case=False, regex=False)).any(
                axis=1
            )
        ]
    if by is not None:
        view = view.sort_values(
            by, ascending=not descending, na_position="last", kind="stable"
        )  # text columns are text (blank_empty)
    st.caption(
        f"{len(view):,} of {plural(len(shown), 'row')} shown. Click a column header to sort in place; double-click a structure to enlarge it."
        + (
            f" Structures are drawn for the first {MAX_THUMBNAILS} rows."
            if len(shown) > MAX_THUMBNAILS
            else ""
        )
    )
    config = {drawn: st.column_config.ImageColumn(drawn, width="small"), **number_columns(view)}
    st.dataframe(  # placeholder "": an empty cell of a number column is blank, not "None"
        view,
        hide_index=True,
        width="stretch",
        row_height=64,
        column_config=config,
        key="predict_table",
        placeholder="",
    )
    return full


def comparisons(
    pred: pd.DataFrame,
    frame: pd.DataFrame,
    pairs: dict[str, str],
    tasks: list[str],
    units: dict[str, str],
    numeric: list[str],
    classification: Collection[str] = (),
) -> None:
    """Predicted vs measured for each (task, measured column) pair, plus one pair the chemist
    chooses: a parity plot with R² · RMSE · MAE for a regression task, a ROC curve with
    ROC-AUC · PR-AUC · accuracy for one of ``classification`` (a 0/1 column; anything else
    is refused with why, as the CLI does: :class:`~gate_core.predictions.Comparison`)."""
    st.subheader("Predicted vs measured")
    a, b = st.columns(2)
    column = a.selectbox(
        "Measured values in column",
        numeric,
        index=None,
        key="predict_measured_column",
        placeholder="choose a column of your file",
    )
    task = b.selectbox(
        "…are measurements of the task",
        tasks,
        index=None,
        key="predict_measured_task",
        placeholder="choose a task",
    )
    chosen = dict(pairs)
    if column is not None and task is not None:
        chosen[task] = column
    if not chosen:
        st.caption(
            "Name a column of your file like a predicted task (e.g. Tm_K), or choose one above, to compare its measured values with the predictions."
        )
        return
    for i, (name, col) in enumerate(chosen.items()):
        result = compare(pred, frame, name, col, name in classification)
        if len(result.measured) < 2:
            st.info(
                f"Column '{col}' and task {name} share fewer than two molecules with both numbers; nothing to compare."
            )
            continue
        try:
            m = result.metrics()
        except ValueError as exc:  # a classification task's column holding other numbers
            st.warning(f"**{name}** vs column **{col}** not compared: {plain(exc)}.", icon=WARN)
            continue
        size = plural(m["n"], "molecule")
        if result.classification:
            auc = {k: "n/a" if np.isnan(m[k]) else f"{m[k]:.2f}" for k in ("roc_auc", "pr_auc")}
            st.markdown(
                f"**{name}** vs column **{col}**: ROC-AUC {auc['roc_auc']} · PR-AUC {auc['pr_auc']} · accuracy {m['accuracy']:.2f} ({size})"
            )
            if len(np.unique(result.measured)) == 2:  # a ROC curve needs both classes
                st.plotly_chart(
                    charts.roc(
                        result.measured.tolist(),
                        result.predicted.tolist(),
                        None,
                        title=f"{name}: ROC curve against '{col}'",
                        series="GATE prediction",
                    ),
                    key=f"predict_roc_{i}",
                )
            continue
        st.markdown(
            f"**{name}** vs column **{col}**: R² {m['r2']:.2f} · RMSE {m['rmse']:.3g} · MAE {m['mae']:.3g} ({size})"
        )
        st.plotly_chart(
            charts.parity(
                result.measured,
                result.predicted,
                None,
                name,
                units.get(name, ""),
                title=f"{name}: predicted vs measured ('{col}')",
                series="GATE prediction",
            ),
            key=f"predict_parity_{i}",
        )
