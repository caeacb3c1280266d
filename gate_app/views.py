"""Page fragments shared by several pages: validation report, run progress, run results, links.

Why here: the Add-a-task page shows a run while it trains and after it ends; the Tasks and
Transfer-ratio pages show the same results. Rendering lives here; numbers come from
``gate_core`` and :mod:`gate_app.tables`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from gate_app import charts, trust_views
from gate_app.tables import metrics_comparison, run_curves
from gate_core.preview import TaskPreview
from gate_core.registry import RunRecord, TaskNotFoundError
from gate_core.text import duration
from gate_core.transfer.ratio_table import ratio_frame
from gate_core.transfer.upload import UploadReport


@dataclass(frozen=True)
class PageInfo:
    path: str
    title: str
    icon: str

    @property
    def url_path(self) -> str:
        return self.title.replace(" ", "_")


#: The pages after Home, in sidebar order (``app.py`` builds the navigation from this).
PAGES = {
    "add": PageInfo("pages/1_Add_a_task.py", "Add a task", ":material/add_circle:"),
    "ratios": PageInfo("pages/2_Transfer_ratios.py", "Transfer ratios", ":material/balance:"),
    "latent": PageInfo("pages/3_Latent_space.py", "Latent space", ":material/scatter_plot:"),
    "predict": PageInfo("pages/4_Predict.py", "Predict", ":material/online_prediction:"),
    "tasks": PageInfo("pages/5_Tasks.py", "Tasks", ":material/folder_managed:"),
    "bench": PageInfo("pages/6_Benchmarks.py", "Benchmarks", ":material/speed:"),
}
ERROR, OK, WARN = ":material/error:", ":material/check_circle:", ":material/warning:"
RATIO_DISCLAIMER = (
    "Transfer ratios measure how useful each source task was **for this model on this data**; "
    "they are not evidence of a physical or causal link between the properties."
)
NUMBER = st.column_config.NumberColumn(format="%.3g")
PROGRESS = st.column_config.ProgressColumn("progress", min_value=0, max_value=1, format="percent")


def page_link(page: str, label: str | None = None) -> None:
    """``st.page_link`` to one of :data:`PAGES`; plain text when the page is run on its own (tests)."""
    info = PAGES[page]
    try:
        st.page_link(info.path, label=label or info.title, icon=info.icon)
    except Exception:  # StreamlitPageNotFoundError when this page is the main script
        st.markdown(f"→ **{label or info.title}** (in the sidebar)")


def table_height(rows: int) -> int:
    """Pixels for an ``st.dataframe`` that shows every one of ``rows`` rows without scrolling."""
    return 36 * (rows + 1) + 3


def number_columns(frame: pd.DataFrame, skip: tuple[str, ...] = ()) -> dict:
    return {
        c: NUMBER for c in frame.columns if c not in skip and pd.api.types.is_float_dtype(frame[c])
    }


# ---- validation report -----------------------------------------------------------------------


def validation_report(report: UploadReport, name: str, unit: str) -> None:
    st.subheader("Validation")
    cols = st.columns(4)
    cols[0].metric("rows in the file", report.n_rows)
    cols[1].metric("molecules to train on", report.n_valid)
    cols[2].metric("rows skipped", len(report.invalid))
    cols[3].metric("duplicate rows merged", report.n_duplicates_merged)
    for message in report.errors:
        st.error(f"Cannot add a task from this table: {message}.", icon=ERROR)
    for message in report.target_warnings:
        st.warning(f"Check the target column before training: {message}.", icon=WARN)
    for message in report.warnings:
        st.info(message[:1].upper() + message[1:] + ".")
    if report.invalid:
        with st.expander(
            f"Rows that will be skipped ({len(report.invalid)})", expanded=len(report.invalid) <= 20
        ):
            st.dataframe(report.invalid_frame(), hide_index=True, width="stretch")
    if report.n_duplicates_merged:
        with st.expander(
            f"Duplicates merged: one row per molecule, median value ({len(report.duplicate_groups)} molecules)"
        ):
            st.dataframe(
                report.duplicate_groups,
                hide_index=True,
                width="stretch",
                column_config=number_columns(report.duplicate_groups),
            )
    if report.n_missing_values or report.n_non_numeric_values:
        st.caption(
            f"Target column: {report.n_missing_values} missing and {report.n_non_numeric_values} non-numeric values."
        )
    if len(report.values):
        counts = report.class_counts()
        if counts is not None:
            st.plotly_chart(charts.class_balance(counts), key="report_chart")
        else:
            st.plotly_chart(charts.value_histogram(report.values, name, unit), key="report_chart")


# ---- zero-training preview ---------------------------------------------------------------------

PREVIEW_TITLE = "Preview — no training yet (relational head)"


def preview_held_out(same_split: bool, preview_fraction: float, test_fraction: float) -> str:
    """What the preview's held-out molecules are, against what training will do with them.

    Why: training uses every molecule by default (quality out of fold), so the preview's held-out
    scaffolds are the trained task's test set only when the chosen test fraction is the same.
    """
    if test_fraction > 0 and same_split and abs(test_fraction - preview_fraction) < 1e-9:
        return "the held-out scaffolds the trained task will be tested on"
    part = "scaffolds" if same_split else "molecules"
    held = f"{preview_fraction:.0%} of the {part}, held out for this preview only"
    if test_fraction > 0:
        return (
            f"{held}; training holds out its own {test_fraction:.0%} of the scaffolds as a test set"
        )
    return f"{held}; training will use every molecule and score the task out of fold"


def task_preview(
    preview: TaskPreview, name: str, unit: str, preview_fraction: float, test_fraction: float = 0.0
) -> None:
    """The relational head's zero-training preview, scored only on molecules held out of its
    support; ``test_fraction`` is the training run's (0: no separate test set)."""
    held_out = preview_held_out(preview.same_split, preview_fraction, test_fraction)
    sampled = (
        f" (from a random {preview.n_rows_used:,} of the {preview.n_rows:,} rows, to stay fast)"
        if preview.n_rows_used < preview.n_rows
        else ""
    )
    st.caption(
        f"The new task is read out from {preview.n_support} of your molecules{sampled}, with no training; "
        f"the {len(preview.smiles)} others ({held_out}) are predicted from them ({preview.seconds:.1f} s). "
        "A first look only: the trained task replaces it when training ends."
    )
    m = preview.metrics()
    if preview.task_type == "classification":
        st.markdown(
            f"Held-out ROC-AUC **{m['roc_auc']:.2f}** · accuracy {m['accuracy']:.2f} (n = {m['n']})"
        )
        st.plotly_chart(
            charts.roc(
                preview.measured,
                preview.predicted,
                None,
                title="Preview (no training): held-out ROC curve",
                series="relational-head preview",
            ),
            key="preview_chart",
        )
    else:
        st.markdown(f"Held-out R² **{m['r2']:.2f}** · RMSE {m['rmse']:.3g} (n = {m['n']})")
        st.plotly_chart(
            charts.parity(
                preview.measured,
                preview.predicted,
                None,
                name,
                unit,
                title="Preview (no training): held-out predicted vs measured",
                series="relational-head preview",
            ),
            key="preview_chart",
        )


# ---- runs --------------------------------------------------------------------------------------


def progress_bar(run: RunRecord, label: str = "") -> None:
    """A queued or running run as a bar with its status, per cent done, time left and stage."""
    progress = run.progress or {}
    fraction = min(max(float(progress.get("fraction", 0.0)), 0.0), 1.0)
    waiting = "waiting for the worker (another run may be training)"
    message = progress.get("message") or (waiting if run.status == "queued" else "starting")
    remaining = run.remaining_seconds()
    left_text = f" · about {duration(remaining)} left" if remaining is not None else ""
    st.progress(fraction, text=f"{label}{run.status} · {fraction:.0%}{left_text} · {message}")


def run_progress(run: RunRecord) -> None:
    """Live view of a queued or running run: progress bar, validation loss, λ trajectory."""
    progress = run.progress or {}
    progress_bar(run)
    val, traj = run_curves(progress)
    left, right = st.columns(2)
    if len(val):
        left.plotly_chart(charts.validation_curve(val), key=f"run{run.id}_live_val")
    if len(traj):
        right.plotly_chart(
            charts.ratio_trajectory(traj, member=int(traj["member"].max())),
            key=f"run{run.id}_live_traj",
        )
    elif len(val):
        right.caption(
            "Transfer ratios start moving after the warm-up steps (or stay fixed in uniform/off mode)."
        )


def run_result(studio, run: RunRecord) -> None:
    """A finished run: error, or the test metrics vs the baseline, parity/ROC and the ratios."""
    if run.status == "failed":
        st.error(f"Training of '{run.task_name}' failed: {run.error}", icon=ERROR)
        return
    if run.status == "cancelled":
        st.warning(f"Run {run.id} for '{run.task_name}' was cancelled.")
        return
    try:
        record = studio.registry.get_task(run.task_name)
    except TaskNotFoundError:
        st.warning(
            f"Run {run.id} finished, but the task '{run.task_name}' no longer exists (deleted or renamed)."
        )
        return
    sizes, metrics = record.sizes or {}, record.metrics or {}
    seconds = (metrics.get("timings") or {}).get("total_seconds")
    st.success(
        f"Task **{record.name}** added: {sizes.get('n_train', '?')} training and {sizes.get('n_test', '?')} test molecules"
        + (f", trained in {seconds:.0f} s." if seconds else "."),
        icon=OK,
    )
    trust_views.model_choice(studio, record, f"run{run.id}")
    if metrics.get("test"):
        table = metrics_comparison(metrics, record.task_type)
        st.markdown(
            f"**Separate test set** ({sizes.get('n_test', '?')} molecules held out of training): the new task vs the frozen backbone with a new head only."
        )
        st.table(
            table.set_index("metric").map(lambda v: "–" if v is None or v != v else f"{v:.3g}")
        )
    progress = run.progress or {}
    preds = progress.get("test_predictions")
    left, right = st.columns(2)
    if preds:
        if record.task_type == "classification":
            left.plotly_chart(
                charts.roc(preds["y_true"], preds["mean"], preds.get("baseline")),
                key=f"run{run.id}_roc",
            )
        else:
            left.plotly_chart(
                charts.parity(
                    preds["y_true"], preds["mean"], preds.get("baseline"), record.name, record.unit
                ),
                key=f"run{run.id}_parity",
            )
    ratios = ratio_frame(record.ratios)
    if len(ratios):
        right.plotly_chart(charts.ratio_bars(ratios), key=f"run{run.id}_ratios")
        right.caption(RATIO_DISCLAIMER)
    val, traj = run_curves(progress)
    if len(val) or len(traj):
        with st.expander("Training curves"):
            a, b = st.columns(2)
            if len(val):
                a.plotly_chart(charts.validation_curve(val), key=f"run{run.id}_val")
            if len(traj):
                b.plotly_chart(charts.ratio_trajectory(traj, member=None), key=f"run{run.id}_traj")
    invalid = progress.get("invalid") or []
    if invalid:
        with st.expander(f"Rows skipped during training ({len(invalid)})"):
            st.dataframe(pd.DataFrame(invalid), hide_index=True)
    c1, c2, c3 = st.columns(3)
    with c1:
        page_link("ratios", "Transfer ratios in detail")
    with c2:
        page_link("predict", "Predict with the new task")
    with c3:
        page_link("latent", "See its latent space")
