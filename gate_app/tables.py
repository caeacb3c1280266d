"""Display tables of the app: backbone properties, tasks, runs, metrics, ratios, predictions.

Why here: these frames exist to be shown (column labels, rounding, text for intervals); the
numbers come from :mod:`gate_core`. Nothing here imports Streamlit, so each is unit-tested.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gate_core.data.io import spreadsheet_safe
from gate_core.models.gate import SOURCE_KIND_LABELS
from gate_core.registries import MODELS
from gate_core.transfer.calibration import LEVEL, interval_columns

if TYPE_CHECKING:
    from gate_core.api import GateStudio
    from gate_core.registry import RunRecord, TaskRecord

METRIC_LABELS = {
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
    "roc_auc": "ROC-AUC",
    "accuracy": "Accuracy",
    "n": "n (test molecules)",
}


def _fmt(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def backbone_properties(studio: GateStudio) -> pd.DataFrame:
    """One row per backbone source: its kind (:data:`~gate_core.models.gate.SOURCE_KIND_LABELS`), unit, labelled molecules, test RMSE and R² (or ROC-AUC)."""
    pre = studio.backbone_metadata.get("pretraining", {})
    counts, metrics = pre.get("labels_per_task", {}), pre.get("test_metrics", {})
    rows = []
    for info in studio.source_tasks:
        m = metrics.get(info.name, {})
        rows.append(
            {
                "property": info.name,
                "kind": SOURCE_KIND_LABELS[info.kind],
                "description": info.description,
                "unit": info.unit,
                "molecules": counts.get(info.name),
                "test RMSE": _fmt(m.get("rmse")),
                "test R²": _fmt(m.get("r2", m.get("roc_auc"))),
                "test n": m.get("n"),
            }
        )
    return pd.DataFrame(rows)


#: Tasks-table headings name the model compared: the trained task, and the baseline to beat.
NEW_TASK, PROBE = "new task", "frozen backbone + new head"
#: What each kind of task is scored by: (metric key, its name in a heading).
TASK_SCORES = {
    "regression": (("rmse", "RMSE"), ("r2", "R²")),
    "classification": (("roc_auc", "ROC-AUC"),),
}
TASK_SCORES_EXPLAINED = (
    "**Out of fold**: each molecule is predicted by an ensemble member that did not train on it "
    "(folds by scaffold), so every molecule counts and the score reads like new chemistry. "
    "**Test set**: molecules held out of training altogether (only when a separate test set was "
    "asked for). **New task**: the trained GATE task; **frozen backbone + new head**: the same "
    "molecules with only a new output layer on the unchanged backbone, the baseline to beat. "
    "Lower RMSE (in the task's unit) and higher R² or ROC-AUC are better."
)


def tasks_frame(records: list[TaskRecord]) -> pd.DataFrame:
    """The added tasks, one row each, under plain headings: each score names the molecules it
    was measured on (out of fold, or a separate test set) and the model ("new task", or
    "frozen backbone + new head"), so nobody has to guess what "test" or "baseline" meant.
    A score column appears only where some task has that score."""
    rows = []
    for r in records:
        metrics = r.metrics or {}
        comparison = metrics.get("comparison") or {}
        row: dict[str, object] = {
            "task": r.name,
            "type": r.task_type,
            "unit": r.unit,
            "molecules": (r.sizes or {}).get("n_valid"),
            "answering model": MODELS.get(metrics.get("model") or "", ""),
        }
        for key, label in TASK_SCORES.get(r.task_type, ()):
            for where, new, probe in (
                ("out-of-fold", comparison.get("gate"), comparison.get("probe")),
                ("test-set", metrics.get("test"), metrics.get("baseline_test")),
            ):
                row[f"{where} {label}, {NEW_TASK}"] = _fmt((new or {}).get(key))
                row[f"{where} {label}, {PROBE}"] = _fmt((probe or {}).get(key))
        row["status"] = r.status
        row["added"] = (r.created or "")[:19].replace("T", " ")
        row["description"] = r.description
        rows.append(row)
    lead = ["task", "type", "unit", "molecules", "answering model"]
    columns = dict.fromkeys(
        [*lead, *(k for row in rows for k in row), "status", "added", "description"]
    )
    frame = pd.DataFrame(rows, columns=list(columns))
    scores = [c for c in frame.columns if c.endswith((f", {NEW_TASK}", f", {PROBE}"))]
    filled = [c for c in scores if frame[c].notna().any()]
    return frame[[*lead, *filled, "status", "added", "description"]]


def runs_frame(runs: list[RunRecord]) -> pd.DataFrame:
    """Training runs as a table: task, status, progress, times and the error, if any."""
    rows = [
        {
            "run": r.id,
            "task": r.task_name,
            "status": r.status,
            "progress": float((r.progress or {}).get("fraction", 0.0)),
            "queued": (r.created or "")[:19].replace("T", " "),
            "finished": (r.finished or "")[:19].replace("T", " "),
            "error": r.error or "",
        }
        for r in runs
    ]
    return pd.DataFrame(
        rows, columns=["run", "task", "status", "progress", "queued", "finished", "error"]
    )


def metrics_comparison(metrics: dict, task_type: str) -> pd.DataFrame:
    """Test metrics of the new task next to the frozen-backbone + new-head baseline."""
    keys = ["roc_auc", "accuracy"] if task_type == "classification" else ["rmse", "mae", "r2"]
    test, base = metrics.get("test") or {}, metrics.get("baseline_test") or {}
    return pd.DataFrame(
        {
            "metric": [METRIC_LABELS[k] for k in keys],
            "GATE (new task)": [_fmt(test.get(k)) for k in keys],
            "baseline (frozen backbone + new head)": [_fmt(base.get(k)) for k in keys],
        }
    )


def ratio_matrix(records: list[TaskRecord]) -> pd.DataFrame:
    """Added tasks × source tasks, λ in each cell."""
    data = {
        r.name: {s: float(v.get("ratio", np.nan)) for s, v in (r.ratios or {}).items()}
        for r in records
        if r.ratios
    }
    return pd.DataFrame(data).T if data else pd.DataFrame()


def trajectory_frame(trajectories: list[list[dict]], sources: list[str]) -> pd.DataFrame:
    """Stored per-member ratio trajectories → long table (member, step, source, ratio)."""
    rows = [
        {"member": k, "step": point["step"], "source": sources[i], "ratio": float(value)}
        for k, trajectory in enumerate(trajectories or [])
        for point in trajectory
        for i, value in enumerate(point["ratios"])
        if i < len(sources)
    ]
    return pd.DataFrame(rows, columns=["member", "step", "source", "ratio"])


def run_curves(progress: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A run's live progress → (validation loss per member/step, λ per member/step/source)."""
    progress = progress or {}
    sources = progress.get("sources") or []
    val = pd.DataFrame(progress.get("val_curve") or [], columns=["member", "step", "val_loss"])
    rows = [
        {
            "member": m,
            "step": step,
            "source": sources[i] if i < len(sources) else str(i),
            "ratio": float(v),
        }
        for m, step, lam in progress.get("ratio_trajectory") or []
        for i, v in enumerate(lam)
    ]
    return val, pd.DataFrame(rows, columns=["member", "step", "source", "ratio"])


INTERVAL_LABEL = f"{round(100 * LEVEL)} % interval"


def prediction_rows(
    pred: pd.DataFrame, row: int, tasks: list[str], units: dict[str, str]
) -> pd.DataFrame:
    """One input's predictions as a long table: task, value, its stated interval, ± std, unit, domain in words, in-domain flag."""
    out = []
    for task in tasks:
        std = _fmt(pred.at[row, f"{task}_std"]) if f"{task}_std" in pred else None
        flag = pred.at[row, f"{task}_in_domain"] if f"{task}_in_domain" in pred else None
        domain = pred.at[row, f"{task}_domain"] if f"{task}_domain" in pred else ""
        out.append(
            {
                "task": task,
                "value": _fmt(pred.at[row, task]),
                INTERVAL_LABEL: _interval_text(pred, row, task),
                "± std": "" if std is None else f"{std:.3g}",
                "unit": units.get(task, ""),
                "domain": domain if isinstance(domain, str) else "",
                "in domain": None
                if flag is None or (isinstance(flag, float) and np.isnan(flag))
                else bool(flag),
            }
        )
    return pd.DataFrame(out)


def _interval_text(pred: pd.DataFrame, row: int, column: str) -> str:
    """``"-2.1 … -0.4"`` from ``<column>_lo90`` / ``_hi90``; '' when there is none (classification, no calibration)."""
    lo, hi = (_fmt(pred.at[row, c]) if c in pred else None for c in interval_columns(column))
    return "" if lo is None or hi is None else f"{lo:.3g} … {hi:.3g}"


def prediction_csv(pred: pd.DataFrame) -> bytes:
    """The predictions as CSV bytes, safe to open in a spreadsheet (see :func:`spreadsheet_safe`)."""
    return spreadsheet_safe(pred).to_csv(index=False, float_format="%.6g").encode("utf-8")


def known_text(text: object, units: dict[str, str]) -> str:
    """The library's ``"Tb_K=351.4; logKow=-0.31"`` with units: ``"Tb_K = 351.4 K · logKow = -0.31 log10"``."""
    if not isinstance(text, str) or not text:
        return ""
    parts = [item.partition("=") for item in text.split("; ")]
    return " · ".join(
        f"{name} = {value} {units.get(name, '')}".rstrip() for name, _, value in parts
    )


def relational_rows(
    pred: pd.DataFrame, row: int, tasks: list[str], units: dict[str, str]
) -> pd.DataFrame:
    """:func:`prediction_rows` with the relational value (refined by known values) beside the plain GATE one."""
    rows = prediction_rows(pred, row, tasks, units).rename(columns={"value": "GATE"})
    rows.insert(3, "with known values", [_fmt(pred.at[row, f"{t}_relational"]) for t in tasks])
    rows.insert(
        4,
        f"{INTERVAL_LABEL}, with known values",
        [_interval_text(pred, row, f"{t}_relational") for t in tasks],
    )
    rows["known values"] = [
        pred.at[row, f"{t}_relational_note"] if f"{t}_relational_note" in pred else ""
        for t in tasks
    ]
    return rows
