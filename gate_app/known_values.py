"""The Predict page's known-values form and the notes that say which known values were used.

Why a module: a known value changes predictions, so the page must say plainly which values
(typed in, from file columns, or recorded in the backbone's table) the relational head used
(DESIGN §6); keeping that here leaves the page a short script.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from gate_app.tables import known_text
from gate_app.views import WARN

EDITOR_KEY = "predict_known"
USED = ":material/fact_check:"


def editor(tasks: list[str], units: dict[str, str]) -> pd.DataFrame:
    """One row per measured property: the property (its unit in the label) and the value in that unit."""
    blank = pd.DataFrame(
        {"property": pd.Series([None], dtype="object"), "value": pd.Series([None], dtype="object")}
    )
    return st.data_editor(
        blank,
        key=EDITOR_KEY,
        num_rows="dynamic",
        hide_index=True,
        width=560,
        placeholder="",
        column_config={
            "property": st.column_config.SelectboxColumn(
                "property (unit)",
                options=tasks,
                format_func=lambda t: f"{t} ({units[t]})" if units.get(t) else t,
            ),
            "value": st.column_config.TextColumn("measured value, in that unit"),
        },
    )


def molecule_notes(pred: pd.DataFrame, units: dict[str, str], use_table_labels: bool) -> None:
    """Under a single molecule's relational prediction: the known values and recorded labels used, and warnings."""
    used = known_text(pred.at[0, "known_used"], units)
    if used:
        st.info(
            f"**Known values used:** {used}. 'with known values' is the relational head's prediction refined by them; 'GATE' is the plain prediction.",
            icon=USED,
        )
    if pred.at[0, "known_warning"]:
        st.warning(f"Check the known values: {pred.at[0, 'known_warning']}.", icon=WARN)
    if use_table_labels:
        recorded = known_text(pred.at[0, "known_from_table"], units)
        if recorded:
            st.info(
                f"**Recorded labels used** (the molecule is in the backbone's training table): {recorded}.",
                icon=USED,
            )
        else:
            st.caption(
                "No recorded labels used: the molecule is not in the backbone's training table, or its recorded labels are all for tasks being predicted."
            )


def file_notes(pred: pd.DataFrame, use_table_labels: bool) -> None:
    """Above a file's relational predictions: how many rows used known values or recorded labels, and warnings."""
    n_known = int((pred["known_used"] != "").sum())
    st.info(
        f"**Known values used** for {n_known} of {len(pred)} molecules (per row in 'known_used'); "
        "'<task>_relational' columns hold the predictions refined by them, next to the plain GATE '<task>'.",
        icon=USED,
    )
    warned = pred.index[pred["known_warning"] != ""]
    if len(warned):
        first = warned[0]
        st.warning(
            f"{len(warned)} rows have known values far outside the task's training labels (see 'known_warning'); row {first + 1}: {pred.at[first, 'known_warning']}.",
            icon=WARN,
        )
    if use_table_labels:
        n_table = int((pred["known_from_table"] != "").sum())
        st.info(
            f"**Recorded labels used** for {n_table} molecules found in the backbone's training table (per row in 'known_from_table').",
            icon=USED,
        )
