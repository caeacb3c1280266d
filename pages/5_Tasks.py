"""Tasks: list, rename, delete, export to one file (model card inside), import a file exported
elsewhere; each task's model card, viewable and downloadable as Markdown or HTML."""

import io

import streamlit as st

from gate_app import state, views
from gate_app.tables import TASK_SCORES_EXPLAINED, runs_frame, tasks_frame
from gate_core.registry import RegistryError, RunRecord
from gate_core.text import plain

st.set_page_config(page_title="Tasks · GATE Studio", layout="wide")
st.title("Tasks")
st.markdown(
    "A **task** is one property you added to the backbone from your own measurements: a small model "
    "trained on top of the unchanged backbone, which now predicts that property for any molecule "
    "(on **Predict**, beside the backbone's own properties).\n\n"
    "- The table compares each task with the baseline to beat, the frozen backbone with only a new "
    "output layer, on molecules each model did not train on.\n"
    "- Pick a task for its **model card**: what it was trained on, how well it predicts new molecules, "
    "where it can be trusted and which properties it borrowed from. Download the card, or the whole "
    "task as one file to import on another GATE Studio with the same backbone.\n"
    "- Rename or delete a task; import a task file below."
)
studio = state.require_studio()
registry = studio.registry


@st.cache_data(max_entries=8, show_spinner=False)
def export_bytes(name: str, model_dir: str) -> bytes:
    buffer = io.BytesIO()
    studio.export_task(name, buffer)
    return buffer.getvalue()


@st.cache_data(max_entries=16, show_spinner="Writing the model card…")
def card_texts(name: str, model_dir: str) -> tuple[str, str]:
    """The card as (Markdown, HTML), keyed by the task's model folder (a retrained task gets a new one)."""
    card = studio.model_card(name)
    return card.markdown(), card.html()


def active_runs() -> list[RunRecord]:
    return [r for r in registry.list_runs(limit=50) if not r.is_final]


@st.fragment(run_every=2.0)
def training_now(ids: list[int]) -> None:
    """Runs queued or training (their tasks join the table only when they finish), each with its
    per cent done; when one ends, the whole page reruns to list its task (and polling stops)."""
    active = active_runs()
    if {r.id for r in active} != set(ids):
        st.rerun(scope="app")
    st.subheader("Training now")
    for run in active:
        views.progress_bar(run, label=f"run {run.id}, {run.task_name}: ")


running = active_runs()
if running:
    training_now([r.id for r in running])
flash = st.session_state.pop("tasks_flash", None)
if flash:
    st.success(flash, icon=":material/check_circle:")

unusable = studio.unusable_tasks()
if unusable:
    with st.container(border=True, key="tasks_unusable"):
        st.warning(
            f"{len(unusable)} registered task(s) cannot be used, so every page leaves them out. Delete them, or import or train them again.",
            icon=":material/warning:",
        )
        for bad, problem in unusable.items():
            st.text(f"{bad}: {problem}")
        bad = st.selectbox("Unusable task", list(unusable), key="tasks_unusable_select")
        if st.button(f"Delete {bad}", key="tasks_unusable_delete"):
            registry.remove_task(bad)
            st.session_state["tasks_flash"] = f"Deleted '{bad}'."
            st.rerun()

records = studio.added_tasks()
if records:
    table = tasks_frame(records)
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config=views.number_columns(table),
        key="tasks_table",
        placeholder="",
    )
    st.caption(TASK_SCORES_EXPLAINED)
    name = st.selectbox(
        "Task",
        [r.name for r in records],
        key="tasks_select",
        on_change=lambda: st.session_state.update(tasks_new_name=st.session_state["tasks_select"]),
    )
    if st.session_state.get("tasks_new_name") is None:
        st.session_state["tasks_new_name"] = name
    record = next(r for r in records if r.name == name)
    rename_col, delete_col, export_col = st.columns(3)

    with rename_col:
        st.subheader("Rename")
        new_name = st.text_input("New name", key="tasks_new_name")
        if st.button("Rename", key="tasks_rename"):
            try:
                studio.rename_task(name, new_name.strip())
            except (ValueError, RegistryError) as exc:
                st.error(f"Cannot rename: {exc}", icon=":material/error:")
            else:
                st.session_state["tasks_flash"] = f"Renamed '{name}' to '{new_name.strip()}'."
                st.session_state.pop("tasks_select", None)
                st.session_state.pop("tasks_new_name", None)
                st.rerun()

    with delete_col:
        st.subheader("Delete")
        confirm = st.checkbox(
            f"Yes, delete '{name}'",
            key="tasks_confirm_delete",
            help="Removes its model files and its stored dataset; this cannot be undone.",
        )
        if st.button("Delete", key="tasks_delete", type="primary", disabled=not confirm):
            try:
                registry.remove_task(name)
            except RegistryError as exc:
                st.error(f"Cannot delete: {exc}", icon=":material/error:")
            else:
                st.session_state["tasks_flash"] = f"Deleted '{name}'."
                st.session_state.pop("tasks_select", None)
                st.session_state.pop("tasks_confirm_delete", None)
                st.session_state.pop("tasks_new_name", None)
                st.rerun()

    with export_col:
        st.subheader("Export")
        st.caption(
            "One zip file: model files, metadata, the training dataset and the model card. It only works with this backbone."
        )
        try:
            data = export_bytes(name, record.model_dir)
        except RegistryError as exc:
            st.error(f"Cannot export: {exc}", icon=":material/error:")
        else:
            st.download_button(
                f"Download {name}.zip",
                data,
                file_name=f"{name}.gate-task.zip",
                mime="application/zip",
                key="tasks_export",
                on_click="ignore",
            )

    markdown, page = card_texts(name, record.model_dir)
    with st.expander(f"Model card of {name}", expanded=True):
        left, right = st.columns(2)
        left.download_button(
            "Model card (Markdown)",
            markdown,
            file_name=f"{name}.model_card.md",
            mime="text/markdown",
            key="tasks_card_md",
            on_click="ignore",
        )
        right.download_button(
            "Model card (HTML)",
            page,
            file_name=f"{name}.model_card.html",
            mime="text/html",
            key="tasks_card_html",
            on_click="ignore",
        )
        with st.container(border=True, key="tasks_card"):
            st.markdown(markdown)

    runs = registry.list_runs(task=name)
    if runs:
        with st.expander(f"Training runs of {name} ({len(runs)})"):
            st.dataframe(
                runs_frame(runs),
                hide_index=True,
                width="stretch",
                column_config={"progress": views.PROGRESS},
            )
else:
    st.info("No tasks added yet.")
    views.page_link("add")

st.subheader("Import")
upload = st.file_uploader(
    "A task file exported from GATE Studio (.zip)", type=["zip"], key="tasks_import_file"
)
import_name = st.text_input(
    "Import under the name (empty: the name in the file)", key="tasks_import_name"
)
replace = st.checkbox("Replace a task of the same name", key="tasks_import_replace")
if st.button("Import", key="tasks_import", disabled=upload is None):
    try:
        imported = studio.import_task(
            io.BytesIO(upload.getvalue()), name=import_name.strip() or None, replace=replace
        )
    except (ValueError, RegistryError, OSError) as exc:
        st.error(f"Cannot import '{plain(upload.name)}': {plain(exc)}", icon=":material/error:")
    else:
        st.session_state["tasks_flash"] = f"Imported '{imported.name}'."
        st.rerun()
