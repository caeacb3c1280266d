"""Predict: one SMILES or a file of them, for any mix of backbone properties and added tasks.

Added tasks give mean ± std over their ensemble and an applicability-domain flag; invalid rows
stay in the table with their reason.
"""

import streamlit as st
from rdkit.Chem import Draw

from gate_app import state, views
from gate_core.app_support import prediction_csv, prediction_rows
from gate_core.data.io import SUPPORTED_SUFFIXES, TableReadError, detect_smiles_column
from gate_core.featurizers.molecule import parse_smiles

st.set_page_config(page_title="Predict · GATE Studio", layout="wide")
st.title("Predict")
studio = state.require_studio()
records = studio.added_tasks()
added = [r.name for r in records]
versions = tuple((r.name, r.model_dir) for r in records)  # a replaced task gets a new folder → new cache key
all_tasks = [*added, *studio.backbone.task_names]
units = studio.units()

tasks = st.multiselect("Tasks", all_tasks, default=all_tasks, key="predict_tasks", help="Added tasks first, then the backbone's properties.")
mode = st.radio("Input", ["One SMILES", "A file of SMILES"], horizontal=True, key="predict_mode")
if not tasks:
    st.warning("Choose at least one task.")
    st.stop()


@st.cache_data(max_entries=8, show_spinner=False)
def predict(backbone_id: str, task_versions: tuple, smiles: tuple, chosen: tuple):
    return studio.predict(list(smiles), list(chosen))


if mode == "One SMILES":
    smiles = st.text_input("SMILES", key="predict_smiles", placeholder="e.g. CCO or c1ccccc1O")
    if not smiles.strip():
        st.stop()
    pred = predict(studio.backbone_id, versions, (smiles.strip(),), tuple(tasks))
    parsed = parse_smiles(smiles)
    if not parsed.ok:
        st.error(f"Invalid SMILES: {parsed.error}.", icon=":material/error:")
    else:
        left, right = st.columns([1, 3])
        left.image(Draw.MolToImage(parsed.mol, size=(300, 300)), caption=parsed.smiles)
        if parsed.note:
            left.caption(parsed.note)
        rows = prediction_rows(pred, 0, tasks, units)
        right.dataframe(rows, hide_index=True, width="stretch", height=min(600, 36 * (len(rows) + 1)), column_config=views.number_columns(rows), key="predict_table")
        if any(rows["in domain"].eq(False)):
            right.warning("Out of domain for some added tasks: the molecule is far from their training molecules in the common chart, so trust those values less.")
else:
    upload = st.file_uploader(
        "Table with a SMILES column (CSV, TSV, Excel or SDF)", type=[s.lstrip(".") for s in SUPPORTED_SUFFIXES], key="predict_file"
    )
    if upload is None:
        st.stop()
    try:
        frame = state.read_upload(upload.getvalue(), upload.name)
    except TableReadError as exc:
        st.error(f"Cannot read '{upload.name}': {exc}.", icon=":material/error:")
        st.stop()
    columns = [str(c) for c in frame.columns]
    detected = detect_smiles_column(frame)
    column = st.selectbox("SMILES column", columns, index=columns.index(detected) if detected in columns else 0, key="predict_column")
    with st.spinner(f"Predicting {len(frame):,} molecules…"):
        pred = predict(studio.backbone_id, versions, tuple(frame[column].tolist()), tuple(tasks))
    n_bad = int(pred["error"].notna().sum())
    st.caption(f"{len(pred) - n_bad} molecules predicted" + (f"; {n_bad} invalid rows kept with their reason in 'error'." if n_bad else "."))
    st.dataframe(pred, hide_index=True, width="stretch", column_config=views.number_columns(pred), key="predict_table")

csv = prediction_csv(pred)
st.session_state["predict_csv"] = csv
st.download_button("Download predictions (CSV)", csv, file_name="gate_predictions.csv", mime="text/csv", key="predict_download", on_click="ignore")
