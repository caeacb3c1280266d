"""Predict: SMILES typed or pasted (one or many) or a file of them, for any mix of backbone
properties and added tasks.

Added tasks give mean ± std over their ensemble and an applicability-domain flag; invalid
entries are reported by position and stay in the table with their reason, the rest are
predicted. A file's own columns are kept, and a column named like a predicted task is
compared with the predictions (parity plot). Properties the chemist has already measured
(typed in, or file columns named after a task not being predicted) refine the other
predictions through the relational head (DESIGN §6); without them the page gives the plain
GATE prediction.
"""

import pandas as pd
import streamlit as st

from gate_app import known_values, predict_views, state, views
from gate_app.tables import prediction_csv, prediction_rows, relational_rows
from gate_core import limits
from gate_core.data.columns import is_numeric_column, parse_smiles_text
from gate_core.data.io import SUPPORTED_SUFFIXES, TableReadError, detected_smiles_column
from gate_core.data.untrusted import draw_isolated
from gate_core.isolation import WorkerCrashed
from gate_core.predictions import blank_empty, invalid_entries, measured_columns
from gate_core.relational.io import RelationalHeadError
from gate_core.relational.known import known_from_columns, known_from_form, known_value_columns
from gate_core.relational.predict import KnownTargetError, RelationalInputError
from gate_core.text import plain, plural
from gate_core.transfer.calibration import INTERVAL_EXPLANATION
from gate_core.transfer.domain import DOMAIN_EXPLANATION

st.set_page_config(page_title="Predict · GATE Studio", layout="wide")
st.title("Predict")
studio = state.require_studio()
records = studio.added_tasks()
added = [r.name for r in records]
versions = tuple(
    (r.name, r.model_dir) for r in records
)  # a replaced task gets a new folder → new cache key
all_tasks = [*added, *studio.backbone.property_names]
units = studio.units()

tasks = st.multiselect(
    "Tasks",
    all_tasks,
    default=all_tasks,
    key="predict_tasks",
    help="Added tasks first, then the backbone's properties.",
)
TYPED = "Type or paste SMILES"
mode = st.radio("Input", [TYPED, "A file of SMILES"], horizontal=True, key="predict_mode")
use_table = st.checkbox(
    "Use recorded labels when the molecule is in the backbone's training table",
    key="predict_table_labels",
    help="A molecule the backbone was trained on has measured labels in its table; with this on, they count as known values (never for a task being predicted). The result says when they were used.",
)
if not tasks:
    st.warning("Choose at least one task.")
    st.stop()


@st.cache_data(max_entries=8, show_spinner=False)
def predict(
    backbone_id: str,
    head: str,
    task_versions: tuple,
    smiles: tuple,
    chosen: tuple,
    known: dict | list | None,
    table_labels: bool,
) -> pd.DataFrame:
    return studio.predict(list(smiles), list(chosen), known=known, use_table_labels=table_labels)


def drop_from_tasks(names: list[str]) -> None:
    st.session_state["predict_tasks"] = [
        t for t in st.session_state["predict_tasks"] if t not in names
    ]


def predict_or_explain(smiles: tuple, known: dict | list | None) -> pd.DataFrame:
    """The predictions, or (page stopped) the reason the known values or the relational head cannot be used."""
    try:
        return predict(
            studio.backbone_id,
            str(studio.relational_path),
            versions,
            smiles,
            tuple(tasks),
            known,
            use_table,
        )
    except KnownTargetError as exc:
        st.error(f"Known values refused: {exc}.", icon=views.ERROR)
        given = {k for row in ([known] if isinstance(known, dict) else known or []) for k in row}
        st.button(
            "Predict only the other tasks",
            key="predict_drop_known",
            on_click=drop_from_tasks,
            args=(sorted(given),),
        )
    except RelationalInputError as exc:
        st.error(f"Known values refused: {exc}.", icon=views.ERROR)
    except RelationalHeadError as exc:
        st.error(f"Known values and recorded labels cannot be used here: {exc}", icon=views.ERROR)
    except WorkerCrashed as exc:  # the server lives on; the next prediction gets a fresh worker
        st.error(f"Nothing was predicted: {plain(exc)}.", icon=views.ERROR)
    st.stop()


if mode == TYPED:
    text = st.text_area(
        "SMILES: one per line, or separated by commas, spaces or tabs",
        key="predict_smiles",
        height=110,
        placeholder="e.g.\nCCO\nc1ccccc1O",
        help="Press Ctrl+Enter (or click outside the box) to predict. Invalid entries are reported by position; the others are predicted.",
    )
    st.markdown("**Known measured values** (optional)")
    st.caption(
        "Properties you have already measured for these molecules: pick the property, type the value in its unit. They refine the other predictions (relational head); leave the table empty for the plain GATE prediction."
    )
    try:
        known = known_from_form(known_values.editor(all_tasks, units))
    except RelationalInputError as exc:
        st.error(f"Known values refused: {exc}.", icon=views.ERROR)
        st.stop()
    entries = parse_smiles_text(text)
    if not entries:
        st.stop()
    try:
        limits.check_typed_entries(len(entries))
    except limits.TooManyEntries as exc:
        st.error(str(exc), icon=views.ERROR)
        st.stop()
    pred = predict_or_explain(tuple(entries), known or None)
    relational = "known_used" in pred.columns
    invalid = invalid_entries(pred)
    if len(entries) == 1 and invalid:
        st.error(f"Invalid SMILES: {invalid[0].reason}.", icon=views.ERROR)
    elif len(entries) == 1:
        left, right = st.columns([1, 3])
        try:  # drawing is native code: in the worker, like the parsing
            drawing = draw_isolated([pred.at[0, "smiles"]], (300, 300))[0]
        except WorkerCrashed:
            drawing = ""
        if drawing:
            left.image(
                drawing, caption=plain(pred.at[0, "smiles"])
            )  # '(C)' must not read as a link
        else:
            left.caption(f"{plain(pred.at[0, 'smiles'])} (the structure could not be drawn)")
        if isinstance(pred.at[0, "note"], str) and pred.at[0, "note"]:
            left.caption(pred.at[0, "note"])
        with right:
            if relational:
                known_values.molecule_notes(pred, units, use_table)
            rows = blank_empty(
                (relational_rows if relational else prediction_rows)(pred, 0, tasks, units)
            )
            st.dataframe(
                rows,
                hide_index=True,
                width="stretch",
                height=min(600, 36 * (len(rows) + 1)),
                column_config=views.number_columns(rows),
                key="predict_table",
                placeholder="",
            )
            if any(rows["in domain"].eq("no")):
                st.warning(
                    "Out of domain for some added tasks: the molecule is far from their training molecules in the common chart, so trust those values less."
                )
    else:
        predict_views.invalid_notice(invalid, len(entries), "entry")
        if relational:
            known_values.file_notes(pred, use_table)
        pred = predict_views.results_table(pred, tasks, units)
else:
    upload = st.file_uploader(
        "Table with a SMILES column (CSV, TSV, Excel or SDF)",
        type=[s.lstrip(".") for s in SUPPORTED_SUFFIXES],
        key="predict_file",
        help="Your other columns (ID, name, measured values) are kept beside the predictions. A column named exactly like a task you are not predicting (e.g. Tb_K) holds known measured values that refine the other predictions (relational head); one named like a task you are predicting is compared with the prediction.",
    )
    if upload is None:
        st.caption(
            "Columns named exactly like a task you are not predicting (e.g. Tb_K) are read as measured values of that task and refine the other predictions; a column named like a predicted task is compared with the predictions."
        )
        st.stop()
    try:
        frame = state.read_upload(upload.getvalue(), upload.name, sheet_key="predict_sheet")
    except TableReadError as exc:
        st.error(f"Cannot read '{plain(upload.name)}': {plain(exc)}.", icon=views.ERROR)
        st.stop()
    columns = [str(c) for c in frame.columns]
    detected = detected_smiles_column(frame)
    column = st.selectbox(
        "SMILES column",
        columns,
        index=columns.index(detected) if detected in columns else 0,
        key="predict_column",
    )
    known_columns = known_value_columns(frame, column, all_tasks, tasks)
    if known_columns:
        st.caption(
            "Known values from the column(s) "
            + ", ".join(
                f"**{c}**" + (f" ({plain(units[c])})" if units.get(c) else "")
                for c in known_columns
            )
            + "."
        )
    else:
        st.caption(
            "No column is named after a task you are not predicting, so no known values: plain GATE predictions."
        )
    with st.spinner(f"Predicting {plural(len(frame), 'molecule')}…"):
        pred = predict_or_explain(
            tuple(frame[column].tolist()),
            known_from_columns(frame, known_columns) if known_columns else None,
        )
    invalid = invalid_entries(pred)
    st.caption(
        f"{plural(len(pred) - len(invalid), 'molecule')} predicted"
        + (
            f"; {plural(len(invalid), 'invalid row')} kept with {'its' if len(invalid) == 1 else 'their'} reason in 'error'."
            if invalid
            else "."
        )
    )
    predict_views.invalid_notice(invalid, len(pred), "row")
    if "known_used" in pred.columns:
        known_values.file_notes(pred, use_table)
    full = predict_views.results_table(pred, tasks, units, frame, column)
    numeric = [c for c in columns if c != column and is_numeric_column(frame[c])]
    predict_views.comparisons(
        pred,
        frame,
        measured_columns(frame, column, tasks),
        tasks,
        units,
        numeric,
        {t for t, kind in studio.task_types().items() if kind == "classification"},
    )
    pred = full

csv = prediction_csv(pred)
st.session_state["predict_csv"] = csv
st.download_button(
    "Download predictions (CSV)",
    csv,
    file_name="gate_predictions.csv",
    mime="text/csv",
    key="predict_download",
    on_click="ignore",
)
st.caption(
    f"{INTERVAL_EXPLANATION} {DOMAIN_EXPLANATION}",
    help="Every prediction carries its interval and its domain; the CSV has them as <task>_lo90 / <task>_hi90, <task>_ad_score and <task>_domain.",
)
