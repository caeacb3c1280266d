"""Pure helpers behind the app's pages: upload reports, example datasets, display tables,
latent coordinates and their 2-D projections.

Why here: the pages must stay thin (call the library, render), and these pieces are plain data
work that deserves unit tests without a browser. Nothing in this module imports Streamlit.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gate_core.data.columns import target_warnings
from gate_core.data.io import spreadsheet_safe
from gate_core.data.splits import split
from gate_core.data.table import InvalidRow, MultiTaskTable
from gate_core.featurizers.molecule import parse_smiles
from gate_core.models.gate import SOURCE_KIND_LABELS
from gate_core.text import plural
from gate_core.transfer.addition import MIN_ROWS, TaskDataError, detect_task_type, validate_task_table
from gate_core.transfer.calibration import LEVEL, interval_columns

if TYPE_CHECKING:
    from gate_core.api import GateStudio
    from gate_core.registry import RunRecord, TaskRecord

ASSETS = Path(__file__).resolve().parent.parent / "assets"
EXAMPLES_DIR = ASSETS / "data" / "targets"
BACKBONE_TABLE = ASSETS / "data" / "chemicals_properties.csv.gz"
COMMON_CHART = "common chart"
METRIC_LABELS = {"rmse": "RMSE", "mae": "MAE", "r2": "R²", "roc_auc": "ROC-AUC", "accuracy": "Accuracy", "n": "n (test molecules)"}


# ---- example datasets ------------------------------------------------------------------------


@dataclass(frozen=True)
class ExampleDataset:
    """A bundled target dataset (``assets/data/targets/<name>.csv``: ``smiles,value``)."""

    name: str
    label: str
    unit: str
    task_type: str
    path: Path
    citation: str = ""


def example_datasets(folder: str | Path = EXAMPLES_DIR) -> list[ExampleDataset]:
    """The bundled example datasets that exist on disk, by label."""
    from gate_core.data.builders.targets import TARGETS

    folder = Path(folder)
    found = [
        ExampleDataset(spec.name, spec.label, spec.unit, spec.task_type, folder / f"{spec.name}.csv", spec.citation)
        for spec in TARGETS.values()
        if (folder / f"{spec.name}.csv").is_file()
    ]
    return sorted(found, key=lambda e: e.label.lower())


# ---- upload validation -----------------------------------------------------------------------


@dataclass
class UploadReport:
    """What training would make of a table, said before any training starts.

    ``values`` holds one (median-merged) label per valid molecule; ``errors`` are the reasons
    the table cannot train a task (empty when it can); ``warnings`` never block.
    """

    n_rows: int
    n_valid: int
    invalid: list[InvalidRow]
    n_duplicates_merged: int
    duplicate_groups: pd.DataFrame
    task_type: str
    values: np.ndarray
    n_missing_values: int = 0
    n_non_numeric_values: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    target_warnings: list[str] = field(default_factory=list)  # the values look wrong (see data.columns.target_warnings)

    @property
    def ok(self) -> bool:
        return not self.errors

    def invalid_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"row": [r.row for r in self.invalid], "smiles": [r.smiles for r in self.invalid], "reason": [r.reason for r in self.invalid]}
        )

    def class_counts(self) -> dict[str, int] | None:
        if self.task_type != "classification" or not len(self.values):
            return None
        return {"0": int((self.values == 0).sum()), "1": int((self.values == 1).sum())}


def _text_examples(values: pd.Series, n: int = 3) -> str:
    return ", ".join(repr(str(v))[:30] for v in values.head(n))


def validate_upload(
    frame: pd.DataFrame, smiles_column: str, target_column: str, task_type: str | None = None, min_rows: int = MIN_ROWS
) -> UploadReport:
    """Check a user's table the way task addition will see it (same parser, same merge)."""
    errors: list[str] = []
    warnings: list[str] = []
    n_rows = len(frame)
    empty = UploadReport(n_rows, 0, [], 0, pd.DataFrame(columns=["smiles", "rows", "min", "max", "median"]), task_type or "regression", np.zeros(0), errors=errors)
    for col in (smiles_column, target_column):
        if col not in frame.columns:
            errors.append(f"column '{col}' is not in the table")
    if errors:
        return empty
    if smiles_column == target_column:
        errors.append("the SMILES column and the target column must be different columns")
        return empty

    raw = frame[target_column]
    numeric = pd.to_numeric(raw, errors="coerce")
    present = raw.notna() & (raw.astype(str).str.strip() != "")
    n_missing = int((~present).sum())
    non_numeric = present & numeric.isna()
    n_non_numeric = int(non_numeric.sum())
    if present.sum() and n_non_numeric / present.sum() > 0.5:
        errors.append(
            f"the target column '{target_column}' holds text, not numbers "
            f"(e.g. {_text_examples(raw[non_numeric])}); pick the column with the measured values"
        )

    # The same call task addition makes, on the same raw values: the report cannot disagree with training.
    table = MultiTaskTable.from_single_task(frame[smiles_column].tolist(), raw.tolist(), "new")
    invalid = table.invalid
    invalid_rows = {r.row for r in invalid}
    ok_index = [i for i in range(n_rows) if i + 1 not in invalid_rows]
    canonical = {s: parse_smiles(s).smiles for s in frame[smiles_column].iloc[ok_index].astype(str).unique()}
    ok = pd.DataFrame({"smiles": frame[smiles_column].iloc[ok_index].astype(str).map(canonical).to_numpy(), "value": numeric.iloc[ok_index].to_numpy(dtype=float)})
    groups = ok.groupby("smiles")["value"].agg(rows="size", min="min", max="max", median="median").reset_index()
    duplicates = groups[groups["rows"] > 1].sort_values("rows", ascending=False).reset_index(drop=True)
    n_merged = int(len(ok) - len(groups))

    values = table.Y[:, 0].astype(float)
    detected = task_type or (detect_task_type(values) if len(values) else "regression")
    if not errors:
        try:
            validate_task_table(table, detected, min_rows)
        except TaskDataError as exc:
            errors.append(str(exc))
    if invalid:
        warnings.append(f"{len(invalid)} of {plural(n_rows, 'row')} cannot be used and will be skipped (listed below)")
    if n_merged:
        warnings.append(f"{plural(n_merged, 'duplicate row')} of {plural(len(duplicates), 'molecule')} will be merged into one row each (median value)")
    if table.conflicts:
        warnings.append(f"{len(table.conflicts)} of the duplicated molecules have conflicting labels (min and max are listed below); each is merged to its median")
    if detected == "classification" and task_type is None:
        warnings.append("all values are 0 or 1, so the task is treated as classification (change it in the options)")
    if not errors and len(table) < 50:
        warnings.append(f"only {len(table)} molecules: expect a wide uncertainty")
    suspicious = target_warnings(values, detected) if not errors else []
    return UploadReport(n_rows, len(table), invalid, n_merged, duplicates, detected, values, n_missing, n_non_numeric, errors, warnings, suspicious)


# ---- tables for display ----------------------------------------------------------------------


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


def headline_metric(task_type: str, metrics: dict | None) -> tuple[str, float | None]:
    """The one number a list shows for a task: R² (regression) or ROC-AUC (classification)."""
    key = "roc_auc" if task_type == "classification" else "r2"
    return METRIC_LABELS[key], _fmt((metrics or {}).get(key))


def tasks_frame(records: list[TaskRecord]) -> pd.DataFrame:
    """The added tasks as a table: type, unit, size, test metric vs baseline, status."""
    rows = []
    for r in records:
        label, value = headline_metric(r.task_type, (r.metrics or {}).get("test"))
        _, base = headline_metric(r.task_type, (r.metrics or {}).get("baseline_test"))
        rmse = _fmt(((r.metrics or {}).get("test") or {}).get("rmse"))
        rows.append(
            {
                "task": r.name,
                "type": r.task_type,
                "unit": r.unit,
                "molecules": (r.sizes or {}).get("n_valid"),
                "metric": label,
                "test": value,
                "baseline": base,
                "test RMSE": rmse,
                "status": r.status,
                "created": (r.created or "")[:19].replace("T", " "),
                "description": r.description,
            }
        )
    return pd.DataFrame(rows, columns=["task", "type", "unit", "molecules", "metric", "test", "baseline", "test RMSE", "status", "created", "description"])


def runs_frame(runs: list[RunRecord]) -> pd.DataFrame:
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
    return pd.DataFrame(rows, columns=["run", "task", "status", "progress", "queued", "finished", "error"])


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


NOT_SIGNIFICANT = "within the spread"


def ratio_frame(ratios: dict, kinds: dict[str, str] | None = None) -> pd.DataFrame:
    """Transfer ratios ranked from most to least useful: λ, its spread, share of the total, and
    whether λ stands clear of the next source's; with ``kinds`` (source → kind label) a ``kind`` column.

    ``share`` is λ over the sum of the λ shown, so shares rank exactly as λ does (the stored
    per-member shares, averaged, need not). ``vs_next`` is :data:`NOT_SIGNIFICANT` when the gap
    to the next-ranked λ is within their combined ensemble spread (√(σ₁² + σ₂²)).
    """
    rows = [{"source": s, **{k: float(v.get(k, 0.0)) for k in ("ratio", "ratio_std", "share_std")}} for s, v in (ratios or {}).items()]
    frame = pd.DataFrame(rows, columns=["source", "ratio", "ratio_std", "share_std"])
    frame = frame.sort_values("ratio", ascending=False, kind="stable").reset_index(drop=True)
    total = frame["ratio"].sum()
    frame.insert(3, "share", frame["ratio"] / total if total > 0 else 0.0)
    gap = frame["ratio"] - frame["ratio"].shift(-1)
    spread = np.sqrt(frame["ratio_std"] ** 2 + frame["ratio_std"].shift(-1) ** 2)
    frame["vs_next"] = np.where(gap.isna(), "", np.where(gap > spread, "clearly higher", NOT_SIGNIFICANT))
    if kinds is not None:
        frame.insert(1, "kind", [kinds.get(s, "") for s in frame["source"]])
    return frame


def ratio_matrix(records: list[TaskRecord]) -> pd.DataFrame:
    """Added tasks × source tasks, λ in each cell."""
    data = {r.name: {s: float(v.get("ratio", np.nan)) for s, v in (r.ratios or {}).items()} for r in records if r.ratios}
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
        {"member": m, "step": step, "source": sources[i] if i < len(sources) else str(i), "ratio": float(v)}
        for m, step, lam in progress.get("ratio_trajectory") or []
        for i, v in enumerate(lam)
    ]
    return val, pd.DataFrame(rows, columns=["member", "step", "source", "ratio"])


# ---- predictions -----------------------------------------------------------------------------


INTERVAL_LABEL = f"{round(100 * LEVEL)} % interval"


def prediction_rows(pred: pd.DataFrame, row: int, tasks: list[str], units: dict[str, str]) -> pd.DataFrame:
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
                "in domain": None if flag is None or (isinstance(flag, float) and np.isnan(flag)) else bool(flag),
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


# ---- latent space ----------------------------------------------------------------------------


def latent_spaces(studio: GateStudio) -> list[str]:
    """Spaces that can be drawn: the common chart, each source task's and each added task's latent."""
    return [COMMON_CHART, *studio.backbone.task_names, *(r.name for r in studio.added_tasks())]


def canonical_or_none(smiles: list[object]) -> list[str | None]:
    return [parse_smiles(s).smiles for s in smiles]


def latent_points(studio: GateStudio, smiles: list[str], space: str) -> np.ndarray:
    """(N, latent_dim) points of canonical ``smiles`` in one space.

    ``common chart``: u averaged over the source tasks (what the applicability domain uses);
    a source task: its latent z_s; an added task: the first ensemble member's latent z_t.
    """
    import torch

    from gate_core.training.evaluate import embed

    with torch.no_grad():
        h = embed(studio.backbone, list(smiles))
        if space == COMMON_CHART:
            _, u = studio.backbone.latents(h)
            points = u.mean(dim=0)
        elif space in studio.backbone.task_names:
            points = studio.backbone.latents(h)[0][studio.backbone.task_names.index(space)]
        else:
            points = studio.load_task(space).members[0].latent(h)
    return points.detach().cpu().numpy().astype(np.float32)


@dataclass
class Projection:
    """A 2-D map fitted once on a set of points (``coords``); :meth:`transform` places new points
    on it (UMAP's ``transform``, or the fitted PCA axes), so adding molecules never reshuffles the map."""

    coords: np.ndarray
    mean: np.ndarray
    axes: np.ndarray  # PCA: (dim, 2); unused with a reducer
    reducer: object | None = None  # a fitted umap.UMAP

    def transform(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=np.float32)
        if not len(points):
            return np.zeros((0, 2), dtype=np.float32)
        if self.reducer is not None:
            return self.reducer.transform(points).astype(np.float32)
        return ((points - self.mean) @ self.axes).astype(np.float32)


def fit_projection(points: np.ndarray, method: str = "UMAP", seed: int = 0) -> Projection:
    """Fit a 2-D map: UMAP (neighbours scaled to N) or PCA; tiny inputs fall back to PCA."""
    points = np.asarray(points, dtype=np.float32)
    n, dim = points.shape if points.ndim == 2 else (len(points), 1)
    mean = points.mean(axis=0) if n else np.zeros(dim, dtype=np.float32)
    if method.upper() == "UMAP" and n >= 8:
        import umap

        reducer = umap.UMAP(n_neighbors=min(15, n - 1), n_components=2, random_state=seed, n_jobs=1, init="random" if n < 50 else "spectral")
        return Projection(reducer.fit_transform(points).astype(np.float32), mean, np.zeros((dim, 2), np.float32), reducer)
    axes = np.zeros((dim, 2), dtype=np.float32)
    if n > 1:
        _, _, vt = np.linalg.svd(points - mean, full_matrices=False)
        axes[:, : min(2, len(vt))] = vt[:2].T
    return Projection(((points - mean) @ axes).astype(np.float32), mean, axes)


def warm_up_umap() -> None:
    """One tiny fit and transform, so numba compiles UMAP's kernels before a user waits for them."""
    points = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    fit_projection(points, "UMAP").transform(points[:2])


def backbone_sample(n: int = 300, seed: int = 0, path: str | Path = BACKBONE_TABLE) -> pd.DataFrame:
    """``n`` molecules of the backbone's table, wide: ``smiles`` + one column per property."""
    long = pd.read_csv(path, usecols=["smiles", "task", "value"])
    unique = long["smiles"].drop_duplicates().to_numpy()
    rng = np.random.default_rng(seed)
    chosen = set(rng.choice(unique, size=min(n, len(unique)), replace=False).tolist())
    wide = long[long["smiles"].isin(chosen)].pivot_table(index="smiles", columns="task", values="value", aggfunc="median")
    return wide.reset_index().rename_axis(columns=None)


def read_bytes_table(data: bytes) -> pd.DataFrame:
    """CSV bytes (as the registry stores datasets) → DataFrame."""
    return pd.read_csv(io.BytesIO(data))


# ---- known values (relational prediction, DESIGN §6) -----------------------------------------


def known_from_editor(rows: pd.DataFrame) -> dict[str, str]:
    """The filled rows of the known-values form as ``{property: value}`` (values are checked by the library).

    A row without a value is "not measured" and skipped; a value without a property, or one
    property given twice, is refused (:class:`~gate_core.relational.predict.KnownValueError`)
    rather than guessed at.
    """
    from gate_core.relational.predict import KnownValueError

    known: dict[str, str] = {}
    for r, (name, value) in enumerate(zip(rows["property"], rows["value"]), start=1):
        name = "" if pd.isna(name) else str(name).strip()
        value = "" if pd.isna(value) else str(value).strip()
        if not value:
            continue
        if not name:
            raise KnownValueError(f"row {r} of the known values has a value ({value}) but no property")
        if name in known:
            raise KnownValueError(f"'{name}' is given twice in the known values; give it once")
        known[name] = value
    return known


def known_value_columns(frame: pd.DataFrame, smiles_column: str, tasks: list[str]) -> list[str]:
    """Columns of a prediction file named exactly like a task and not empty: they hold known values (as in the CLI)."""
    return [str(c) for c in frame.columns if c in tasks and c != smiles_column and frame[c].notna().any()]


def known_from_columns(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, object]]:
    """One ``{task: value}`` per row from the known-value columns; blank cells are "not measured"."""
    return [{c: v for c, v in row.items() if not pd.isna(v)} for row in frame[columns].to_dict("records")]


def known_text(text: object, units: dict[str, str]) -> str:
    """The library's ``"Tb_K=351.4; logKow=-0.31"`` with units: ``"Tb_K = 351.4 K · logKow = -0.31 log10"``."""
    if not isinstance(text, str) or not text:
        return ""
    parts = [item.partition("=") for item in text.split("; ")]
    return " · ".join(f"{name} = {value} {units.get(name, '')}".rstrip() for name, _, value in parts)


def relational_rows(pred: pd.DataFrame, row: int, tasks: list[str], units: dict[str, str]) -> pd.DataFrame:
    """:func:`prediction_rows` with the relational value (refined by known values) beside the plain GATE one."""
    rows = prediction_rows(pred, row, tasks, units).rename(columns={"value": "GATE"})
    rows.insert(3, "with known values", [_fmt(pred.at[row, f"{t}_relational"]) for t in tasks])
    rows.insert(4, f"{INTERVAL_LABEL}, with known values", [_interval_text(pred, row, f"{t}_relational") for t in tasks])
    rows["known values"] = [pred.at[row, f"{t}_relational_note"] if f"{t}_relational_note" in pred else "" for t in tasks]
    return rows


# ---- zero-training preview of a new task ------------------------------------------------------

PREVIEW_MAX_ROWS = 500  # larger uploads are previewed on a random sample of rows, so the preview stays within seconds


@dataclass
class TaskPreview:
    """Relational-head predictions for molecules held out of the new task's support edges.

    ``same_split``: the held-out molecules are the test set task addition will use (same
    scaffold split, same seed), so the trained result can be read against this preview.
    ``n_rows_used`` < ``n_rows`` when a large upload was previewed on a sample of its rows.
    """

    smiles: list[str]
    measured: np.ndarray
    predicted: np.ndarray
    n_support: int
    task_type: str
    seconds: float
    n_rows: int
    n_rows_used: int
    same_split: bool

    def metrics(self) -> dict[str, float]:
        """Held-out R²/RMSE/MAE, or ROC-AUC/accuracy: the numbers the trained task is judged by."""
        from gate_core.training.evaluate import classification_metrics, regression_metrics

        if self.task_type == "classification":
            return classification_metrics(self.measured, self.predicted)
        return regression_metrics(self.measured, self.predicted)


def task_preview(
    studio: GateStudio, smiles: list[object], values: list[object], task_type: str | None = None, test_fraction: float = 0.15, seed: int = 0
) -> TaskPreview:
    """Zero-training preview of a new task, scored honestly: support and query molecules never overlap.

    The molecules are merged and split exactly as task addition does (scaffold split of
    ``test_fraction``, ``seed``); the task node is built from the training part alone and the
    test part is predicted. A split with fewer than two test molecules (one big scaffold group)
    falls back to a random split. Raises ``RelationalInputError`` / ``RelationalHeadError``.
    """
    started = time.perf_counter()
    n_rows = len(smiles)
    if n_rows > PREVIEW_MAX_ROWS:
        keep = np.sort(np.random.default_rng(seed).choice(n_rows, PREVIEW_MAX_ROWS, replace=False))
        smiles, values = [smiles[i] for i in keep], [values[i] for i in keep]
    table = MultiTaskTable.from_single_task(list(smiles), list(values), "preview")
    fractions = (1.0 - test_fraction, 0.0, test_fraction)
    fit, _, test = split(table.smiles, "scaffold", fractions, seed)
    same_split = n_rows <= PREVIEW_MAX_ROWS
    if len(test) < 2:
        fit, _, test = split(table.smiles, "random", fractions, seed)
        same_split = False
    y = table.Y[:, 0].astype(float)
    frame = studio.preview_task([table.smiles[i] for i in fit], y[fit].tolist(), [table.smiles[i] for i in test], task_type)
    return TaskPreview(
        smiles=[table.smiles[i] for i in test],
        measured=y[test],
        predicted=frame["prediction"].to_numpy(dtype=float),
        n_support=int(frame.attrs["n_support"]),
        task_type=str(frame.attrs["task_type"]),
        seconds=time.perf_counter() - started,
        n_rows=n_rows,
        n_rows_used=len(smiles),
        same_split=same_split,
    )
