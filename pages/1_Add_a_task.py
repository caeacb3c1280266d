"""Add a task: upload or pick a dataset → validation report → zero-training preview → options → background training.

The Start button only queues a run in the registry; the worker thread trains it and this page
polls the run (``st.fragment(run_every=1)``) at the top of the page, so the page never blocks
and the run survives a reload; Start stays disabled while it trains, and a new upload clears it
from view. Until the run for this upload is done, the relational head's preview (seconds, no
training; DESIGN §6) gives a first look. Which file this browser session uploaded, and which
run it watches, are per-session.
"""

import hashlib

import streamlit as st

from gate_app import state, views
from gate_app.tables import runs_frame
from gate_core.api import config_from_options
from gate_core.data.columns import default_target, name_column, target_choices
from gate_core.data.examples import example_datasets
from gate_core.data.io import SUPPORTED_SUFFIXES, TableReadError, detected_smiles_column
from gate_core.data.untrusted import parse_isolated
from gate_core.isolation import WorkerCrashed
from gate_core.models.gate import SOURCE_KIND_LABELS
from gate_core.preview import PREVIEW_TEST_FRACTION, TaskPreview, task_preview
from gate_core.registries import DEFAULT_RATIO_MODE, RATIO_MODES, TASK_TYPES
from gate_core.registry import RegistryError, RunRecord, suggest_task_name
from gate_core.registry.names import MAX_NAME_LENGTH
from gate_core.relational.io import RelationalHeadError
from gate_core.relational.predict import RelationalInputError
from gate_core.text import plain, plural
from gate_core.transfer.options import ENSEMBLE, MAX_STEPS, PINNED_RATIO, TEST_FRACTION
from gate_core.transfer.upload import task_name_and_unit, validate_upload

st.set_page_config(page_title="Add a task · GATE Studio", layout="wide")
st.title("Add a task")
st.caption(
    "Bring SMILES with one measured property. The pretrained backbone is not changed: only a small model for your "
    "property is trained on top of it, borrowing from the backbone's related properties as much as they help "
    "(the transfer ratios). So it takes seconds, and no other prediction changes."
)
studio = state.require_studio()
state.get_worker()
settings = state.settings()
registry = studio.registry
top = (
    st.container()
)  # this session's run (progress while it trains, then its results) sits above the form


@st.cache_data(max_entries=32, show_spinner="Checking molecules and values…")
def check_table(digest: str, _frame, smiles_column: str, target_column: str, task_type: str | None):
    """Keyed by the file's digest: hashing the frame itself fails on odd cell types.

    RDKit's work on the molecules runs in the isolated worker first, so a crashing molecule
    fails this check (``WorkerCrashed``), not the server; the same calls here then cannot crash.
    """
    parse_isolated(_frame[smiles_column].tolist())
    return validate_upload(_frame, smiles_column, target_column, task_type)


@st.cache_data(max_entries=16, show_spinner="Previewing the new task with the relational head…")
def preview_table(
    digest: str,
    _frame,
    smiles_column: str,
    target_column: str,
    task_type: str | None,
    backbone_id: str,
    head: str,
) -> TaskPreview:
    """Keyed by the file's digest, like :func:`check_table`: every rerun after the first is instant."""
    return task_preview(
        studio,
        _frame[smiles_column].tolist(),
        _frame[target_column].tolist(),
        task_type,
        PREVIEW_TEST_FRACTION,
    )


def preview(frame, digest: str, smiles_col: str, target_col: str, task_type: str | None) -> None:
    """The zero-training preview of this upload, until its trained result replaces it."""
    run_id = st.session_state.get("add_run_id")
    if (
        run_id is not None
        and st.session_state.get("add_run_source") == (run_id, digest, smiles_col, target_col)
        and registry.get_run(run_id).status == "done"
    ):
        st.caption("Trained: the task's results below replace the zero-training preview.")
        return
    st.subheader(views.PREVIEW_TITLE)
    try:
        result = preview_table(
            digest,
            frame,
            smiles_col,
            target_col,
            task_type,
            studio.backbone_id,
            str(studio.relational_path),
        )
    except (RelationalInputError, RelationalHeadError) as exc:
        st.info(f"No preview for this table: {exc}")
        return
    views.task_preview(
        result,
        st.session_state.get("add_name", target_col),
        st.session_state.get("add_unit", ""),
        PREVIEW_TEST_FRACTION,
        float(st.session_state.get("add_test_fraction") or 0.0),
    )


def free_name(text: str) -> str:
    base = suggest_task_name(text)
    taken = {r.name.lower() for r in studio.added_tasks()} | {
        t.lower() for t in studio.backbone.task_names
    }
    name, k = base, 2
    while name.lower() in taken:
        name, k = f"{base}_{k}", k + 1
    return name


def watched_run() -> RunRecord | None:
    """The run this session started or chose to watch, if any."""
    run_id = st.session_state.get("add_run_id")
    return registry.get_run(run_id) if run_id is not None else None


def name_and_unit(filename: str, unit_hint: str) -> None:
    """Task name and unit from the target's header ("logS (mol/L)" → logS, mol/L), else from the file name."""
    name, unit = task_name_and_unit(st.session_state.get("add_target_col"), filename)
    st.session_state["add_name"] = free_name(name)
    st.session_state["add_unit"] = unit or unit_hint


def choose_data() -> tuple[bytes, str, str] | None:
    """The chosen file's bytes, name and unit hint; ``None`` (with a message) when there is none."""
    source = st.radio(
        "Data", ["Upload a file", "Example dataset"], key="add_source", horizontal=True
    )
    if source == "Example dataset":
        examples = {e.name: e for e in example_datasets()}
        if not examples:
            st.warning("No example datasets found in assets/data/targets (run `make data`).")
            return None
        pick = st.selectbox(
            "Example dataset",
            list(examples),
            format_func=lambda n: f"{examples[n].label} · {n} ({examples[n].unit})",
            key="add_example",
        )
        example = examples[pick]
        st.caption(f"Source: {example.citation}")
        return example.path.read_bytes(), example.path.name, example.unit
    upload = st.file_uploader(
        f"Table with a SMILES column and a measured value (CSV, TSV, Excel or SDF; at most {settings.max_rows:,} rows and {settings.max_upload_mb} MB)",
        type=[s.lstrip(".") for s in SUPPORTED_SUFFIXES],
        key="add_upload",
    )
    if upload is None:
        st.info("Upload a file, or choose an example dataset above.")
        return None
    return upload.getvalue(), upload.name, ""  # its size is checked where it is read (read_table)


def configure(frame, filename: str, unit_hint: str, digest: str) -> None:
    """Column choice, validation report, options form; queues a run on submit."""
    columns = [str(c) for c in frame.columns]
    if (
        st.session_state.get("add_digest") != digest
    ):  # a new file: detect again, reset the form, clear the last run from view
        smiles = detected_smiles_column(frame)
        st.session_state["add_digest"] = digest
        st.session_state.pop("add_run_id", None)
        st.session_state["add_smiles_col"] = smiles or columns[0]
        st.session_state["add_target_col"] = default_target(frame, smiles or columns[0])
        name_and_unit(filename, unit_hint)
        if smiles is None:
            st.warning("No column looks like SMILES; pick the right one below.")
    with st.expander(
        f"Preview of {filename} ({plural(len(frame), 'row')} × {plural(len(columns), 'column')})"
    ):
        st.dataframe(frame.head(20), width="stretch")
    c1, c2, c3 = st.columns(3)
    smiles_col = c1.selectbox("SMILES column", columns, key="add_smiles_col")
    choices = target_choices(frame, smiles_col)
    if st.session_state.get("add_target_col") not in choices:  # the SMILES column moved onto it
        st.session_state["add_target_col"] = default_target(frame, smiles_col)
    target_col = c2.selectbox(
        "Target column (measured value)",
        choices,
        key="add_target_col",
        placeholder="choose the measured values",
        on_change=name_and_unit,
        args=(filename, unit_hint),
        help="Only numeric columns are offered. A column that numbers the rows (ID, index, or the integers 1, 2, 3, …) is never chosen for you.",
    )
    choice = c3.selectbox("Task type", ["auto", *TASK_TYPES.names], key="add_task_type")
    task_type = None if choice == "auto" else choice
    if not choices:
        st.error(
            "No column of this table holds numbers, so there is no measured value to learn; add a numeric column.",
            icon=":material/error:",
        )
        return
    if target_col is None:
        st.warning(
            "Every numeric column looks like a row number or ID; choose the column with the measured values if it is one of them.",
            icon=":material/warning:",
        )
        return
    try:
        report = check_table(digest, frame, smiles_col, target_col, task_type)
    except WorkerCrashed as exc:  # the server lives on; nothing from this table trains
        st.error(f"The molecules could not be checked: {plain(exc)}.", icon=":material/error:")
        return
    views.validation_report(
        report, st.session_state.get("add_name", target_col), st.session_state.get("add_unit", "")
    )
    if report.ok:
        preview(frame, digest, smiles_col, target_col, task_type)

    st.subheader("Options")
    kinds = {t.name: SOURCE_KIND_LABELS[t.kind] for t in studio.source_tasks}
    sources = sorted(
        kinds, key=lambda s: list(SOURCE_KIND_LABELS.values()).index(kinds[s])
    )  # experimental first

    def source_label(source: str) -> str:
        return f"{source} ({kinds[source]})"

    with st.form("add_form"):
        a, b = st.columns(2)
        name = a.text_input(
            "Task name",
            key="add_name",
            max_chars=MAX_NAME_LENGTH,
            help="Letters, digits, '_', '.', '-'.",
        )
        unit = b.text_input("Unit", key="add_unit")
        description = st.text_input("Description", key="add_description")
        mode = st.radio(
            "Transfer ratios λ",
            RATIO_MODES.names,
            key="add_ratio_mode",
            horizontal=True,
            index=RATIO_MODES.names.index(DEFAULT_RATIO_MODE),
            help="; ".join(f"{mode}: {meaning}" for mode, meaning in RATIO_MODES.items()) + ".",
        )
        st.caption(
            f"Default **{DEFAULT_RATIO_MODE}**: in our benchmark, learned ratios did not predict measurably "
            "better than giving every source λ = 1 (see Benchmarks). Choose *learned* to see which "
            "source properties the model leans on; that is evidence about the model, not about chemistry."
        )
        c, d, e = st.columns([2, 2, 1])
        pinned = c.multiselect(
            "Pin sources at a fixed λ", sources, key="add_pinned", format_func=source_label
        )
        excluded = d.multiselect(
            "Exclude sources (λ = 0)", sources, key="add_excluded", format_func=source_label
        )
        pin_value = e.number_input(
            "pinned λ",
            min_value=float(PINNED_RATIO.low),
            max_value=float(PINNED_RATIO.high),
            value=float(PINNED_RATIO.default),
            step=0.1,
            key="add_pin_value",
        )
        ensemble = st.slider(
            "Ensemble size (members give the ± uncertainty)",
            ENSEMBLE.low,
            ENSEMBLE.high,
            ENSEMBLE.default,
            key="add_ensemble",
        )
        with st.expander("Advanced"):
            max_steps = st.number_input(
                "Maximum training steps per member",
                min_value=MAX_STEPS.low,
                max_value=MAX_STEPS.high,
                value=MAX_STEPS.default,
                step=20,
                key="add_max_steps",
            )
            replace = st.checkbox("Replace an existing task of the same name", key="add_replace")
            test_fraction = st.number_input(
                "Separate test set (fraction of scaffolds held out)",
                min_value=float(TEST_FRACTION.low),
                max_value=float(TEST_FRACTION.high),
                value=float(TEST_FRACTION.default),
                step=0.05,
                key="add_test_fraction",
                help="0 (default): every molecule trains the model, and its quality is estimated out of fold. Above 0: that share of scaffolds is held out as a separate test set, which the model never sees.",
            )
        active = watched_run()
        training = active is not None and not active.is_final
        submitted = st.form_submit_button(
            "Start adding the task",
            type="primary",
            key="add_start",
            disabled=not report.ok or training,
        )
        if training:
            st.caption(
                f"Run {active.id} is {active.status} (progress at the top of the page): Start is available again when it ends, or after you cancel it."
            )
    if not submitted:
        return
    config = {
        "ratios": mode,
        "pinned": {s: float(pin_value) for s in pinned},
        "excluded": list(excluded),
        "ensemble": int(ensemble),
        "max_steps": int(max_steps),
        "task_type": task_type,
        "test_fraction": float(test_fraction),
        "train_baseline": True,
    }
    try:
        studio.check_new_name(name.strip(), replace)
        config_from_options(config)  # the library's checks (e.g. a source both pinned and excluded)
    except (ValueError, RegistryError) as exc:
        st.error(f"Cannot start: {exc}", icon=":material/error:")
        return
    options = {
        "smiles_column": "smiles",
        "target_column": "value",
        "unit": unit.strip(),
        "description": description.strip(),
        "replace": bool(replace),
        "config": config,
        "source_file": filename,
        "source_columns": [smiles_col, target_col],
    }
    names = name_column(
        frame, smiles_col, target_col
    )  # kept with the dataset: maps show it on hover
    dataset = frame[[smiles_col, target_col, *([names] if names else [])]]
    dataset = dataset.set_axis(["smiles", "value", *(["name"] if names else [])], axis=1)
    if names:
        options["name_column"] = "name"
        options["source_columns"].append(names)
    try:
        run_id = registry.enqueue_run(name.strip(), options, dataset)  # one active run per task
    except RegistryError as exc:
        st.error(f"Cannot start: {exc}", icon=":material/error:")
        return
    st.session_state["add_run_id"] = run_id
    st.session_state["add_run_source"] = (
        run_id,
        digest,
        smiles_col,
        target_col,
    )  # whose preview the result replaces
    st.rerun()  # redraw with the run's progress at the top and Start disabled


choice = choose_data()
if choice is not None:
    data, filename, unit_hint = choice
    try:
        frame = state.read_upload(data, filename, sheet_key="add_sheet")
    except TableReadError as exc:
        st.error(f"Cannot read '{plain(filename)}': {plain(exc)}.", icon=":material/error:")
    else:
        configure(frame, filename, unit_hint, hashlib.sha256(data).hexdigest()[:16] + filename)


@st.fragment(run_every=1.0)
def live(run_id: int) -> None:
    run = registry.get_run(run_id)
    if run.is_final:
        st.rerun()  # the whole page then shows the results, and polling stops
    views.run_progress(run)
    if st.button("Cancel this run", key="add_cancel"):
        registry.cancel_run(run_id)
        st.rerun()


run = watched_run()
if run is not None:
    with top:
        st.header(f"Run {run.id}: {run.task_name}")
        if run.is_final:
            views.run_result(studio, run)
        else:
            live(run.id)

runs = registry.list_runs(limit=50)
if runs:
    with st.expander(f"All training runs ({len(runs)}, shared by every session)"):
        st.dataframe(
            runs_frame(runs),
            hide_index=True,
            width="stretch",
            column_config={"progress": views.PROGRESS},
        )
        names = {r.id: r.task_name for r in runs}

        def watch() -> None:
            if st.session_state.get("add_watch_run") is not None:
                st.session_state["add_run_id"] = st.session_state["add_watch_run"]

        st.selectbox(
            "Show run",
            list(names),
            index=None,
            format_func=lambda i: f"run {i}: {names[i]}",
            key="add_watch_run",
            on_change=watch,
        )
