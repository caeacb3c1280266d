"""The Python API: one object that owns the frozen backbone, the task registry and predictions.

Why one facade: the CLI, the app and notebooks must do each thing (add a task, predict, list,
export) the same way. Everything below it (model, task addition, registry) stays unaware of
users, files and sessions.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gate_core.featurizers.molecule import parse_smiles
from gate_core.models.checkpoint import load_checkpoint
from gate_core.models.gate import TaskInfo
from gate_core.registry import RunRecord, TaskRecord, TaskRegistry, TaskExistsError, validate_task_name
from gate_core.relational.io import load_relational
from gate_core.relational.predict import (
    RelationalInputError,
    RelationalPredictor,
    UnknownTaskError,
    check_known,
    format_known,
    normalise_known,
    preview_new_task,
)
from gate_core.relational.train import resolve_table_path
from gate_core.training.distributed import select_device
from gate_core.training.evaluate import embed
from gate_core.transfer.added_task import AddedTask
from gate_core.transfer.addition import TaskAdditionConfig, TaskAdditionResult, add_task, backbone_fingerprint
from gate_core.transfer.ratios import RatioSettings

DEFAULT_BACKBONE = Path(__file__).resolve().parent.parent / "assets" / "backbone"


def config_from_options(options: dict) -> TaskAdditionConfig:
    """Build a config from the JSON-able options stored with a queued run (or CLI flags)."""
    ratios = RatioSettings(
        mode=options.get("ratios", "learned"), pinned=dict(options.get("pinned", {})), excluded=list(options.get("excluded", []))
    )
    keys = set(TaskAdditionConfig.__dataclass_fields__) - {"ratios", "weights"}
    return TaskAdditionConfig(ratios=ratios, **{k: v for k, v in options.items() if k in keys})


class GateStudio:
    """Load the backbone once; add tasks into the registry; predict any mix of tasks."""

    def __init__(
        self,
        backbone_path: str | Path = DEFAULT_BACKBONE,
        data_dir: str | Path | None = None,
        device: str | None = None,
        relational_path: str | Path | None = None,
    ) -> None:
        self.device = select_device(device)
        self.backbone, self.backbone_metadata = load_checkpoint(backbone_path, self.device)
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.backbone_id = backbone_fingerprint(self.backbone)
        self.registry = TaskRegistry(data_dir)
        self._task_cache: dict[str, tuple[str, AddedTask]] = {}
        self._lock = threading.Lock()
        # the relational head lives next to the backbone (assets/backbone_relational); loaded on first use
        backbone_path = Path(backbone_path)
        self.relational_path = Path(relational_path) if relational_path else backbone_path.with_name(backbone_path.name + "_relational")
        self._relational: RelationalPredictor | None = None
        self._relational_nodes: dict[str, str] = {}
        self._table_labels: dict[str, dict[str, float]] | None = None
        self._relational_lock = threading.RLock()

    # ---- what exists -------------------------------------------------------------------------
    @property
    def source_tasks(self) -> list[TaskInfo]:
        return list(self.backbone.config.tasks)

    def added_tasks(self) -> list[TaskRecord]:
        return self.registry.list_tasks()

    def load_task(self, name: str) -> AddedTask:
        """The trained task, loaded once per registered version (cached by its model folder)."""
        record = self.registry.get_task(name)
        with self._lock:
            cached = self._task_cache.get(record.name)
            if cached and cached[0] == record.model_dir:
                return cached[1]
        task = AddedTask.load(self.registry.task_dir(record.name), self.backbone_id)
        with self._lock:
            self._task_cache[record.name] = (record.model_dir, task)
        return task

    # ---- adding ------------------------------------------------------------------------------
    def check_new_name(self, name: str, replace: bool = False) -> None:
        validate_task_name(name)
        if name in self.backbone.task_names:
            raise TaskExistsError(f"'{name}' is a source property of the backbone; choose another name")
        if not replace and self.registry.has_task(name):
            raise TaskExistsError(f"a task named '{name}' already exists; choose another name or replace it")

    def add_task(
        self,
        frame: pd.DataFrame,
        smiles_column: str,
        target_column: str,
        name: str,
        unit: str = "",
        description: str = "",
        config: TaskAdditionConfig | None = None,
        replace: bool = False,
        progress: Callable[[dict], None] | None = None,
    ) -> tuple[TaskRecord, TaskAdditionResult]:
        """Train and register a task. Nothing is registered unless training finished."""
        self.check_new_name(name, replace)
        for col in (smiles_column, target_column):
            if col not in frame.columns:
                raise ValueError(f"column '{col}' not found; the table has: {', '.join(map(str, frame.columns))}")
        config = config or TaskAdditionConfig(test_fraction=0.15, train_baseline=True)
        result = add_task(
            self.backbone, frame[smiles_column].tolist(), frame[target_column].tolist(), TaskInfo(name, unit, config.task_type or "regression", description), config, progress
        )
        task = result.task
        record = TaskRecord(
            name=name,
            task_type=task.info.task_type,
            unit=unit,
            description=description,
            backbone_id=self.backbone_id,
            sizes={"n_rows": len(frame), "n_valid": task.metadata["n_train"] + task.metadata["n_test"], "n_train": task.metadata["n_train"], "n_test": task.metadata["n_test"], "n_invalid": len(result.invalid), "n_duplicates_merged": result.n_duplicates_merged},
            metrics={"test": result.test_metrics, "baseline_test": result.baseline_test_metrics, "timings": result.timings},
            ratios=task.metadata["ratios"],
        )
        dataset = pd.DataFrame({"smiles": frame[smiles_column].astype(str), "value": frame[target_column]})
        with tempfile.TemporaryDirectory(prefix="gate-task-") as tmp:
            task.save(tmp)
            registered = self.registry.register_task(record, tmp, dataset, replace=replace)
        return registered, result

    def run_job(self, run: RunRecord) -> TaskRecord:
        """Execute one queued run (the app's background worker calls this)."""
        options = dict(run.options)
        frame = self.registry.load_dataset(run.dataset_hash) if run.dataset_hash else None
        if frame is None:
            raise ValueError("the run has no dataset")
        history: dict = {"val_curve": [], "ratio_trajectory": [], "sources": self.backbone.task_names}

        def report(event: dict) -> None:
            if event.get("stage") == "training":
                history["val_curve"].append([event["member"], event["step"], event["val_loss"]])
                history["ratio_trajectory"].append([event["member"], event["step"], event["ratios"]])
            payload = {**history, "fraction": event.get("fraction", 0.0), "stage": event.get("stage"), "message": event.get("message", "")}
            if not self.registry.update_progress(run.id, payload, log_line=event.get("message") if event.get("stage") != "training" else None):
                raise InterruptedError("the run was cancelled")

        record, result = self.add_task(
            frame,
            options.get("smiles_column", "smiles"),
            options.get("target_column", "value"),
            run.task_name,
            options.get("unit", ""),
            options.get("description", ""),
            config_from_options(options.get("config", {"test_fraction": 0.15, "train_baseline": True})),
            replace=bool(options.get("replace", False)),
            progress=report,
        )
        final = {**history, "fraction": 1.0, "stage": "done", "message": "task added", "test_predictions": result.test_predictions, "invalid": [asdict(r) for r in result.invalid]}
        self.registry.finish_run(run.id, final, log_line=f"registered task {record.name}")
        return record

    # ---- predicting --------------------------------------------------------------------------
    def predict(
        self,
        smiles: list[object],
        tasks: list[str] | None = None,
        known: list[dict[str, float]] | dict[str, float] | None = None,
        use_table_labels: bool = False,
    ) -> pd.DataFrame:
        """One row per input, in input order; invalid rows kept with their reason in ``error``.

        For each task: ``<task>`` (value in its unit, or probability), ``<task>_std`` (ensemble
        spread; NaN for backbone properties, which are single models) and, for added tasks,
        ``<task>_ad_score`` / ``<task>_in_domain``.

        With ``known`` measurements (one dict for every row, or one per row) or
        ``use_table_labels``, the relational head also gives ``<task>_relational`` (see
        :meth:`predict_relational`); without them this is the plain GATE prediction only.
        """
        if known is None and not use_table_labels:
            return self._predict_plain(smiles, tasks)[0]
        return self.predict_relational(smiles, tasks, known, use_table_labels)

    @torch.no_grad()
    def _predict_plain(self, smiles: list[object], tasks: list[str] | None) -> tuple[pd.DataFrame, torch.Tensor | None, np.ndarray]:
        """The plain prediction frame, plus h of the valid rows and their row numbers (for reuse)."""
        added = {r.name for r in self.added_tasks()}
        tasks = list(tasks) if tasks else [*self.backbone.task_names, *sorted(added)]
        unknown = [t for t in tasks if t not in added and t not in self.backbone.task_names]
        if unknown:
            raise UnknownTaskError(f"unknown task(s): {', '.join(unknown)}")
        parsed = [parse_smiles(s) for s in smiles]
        frame = pd.DataFrame({"input": [p.input for p in parsed], "smiles": [p.smiles for p in parsed], "error": [p.error for p in parsed], "note": [p.note for p in parsed]})
        ok_rows = np.flatnonzero([p.ok for p in parsed])
        canonical = [parsed[i].smiles for i in ok_rows]
        columns: dict[str, np.ndarray] = {}
        h = None
        if len(canonical):
            h = embed(self.backbone, canonical)
            z, u = self.backbone.latents(h)
            source_values = self.backbone.unscale(torch.stack([m.head(z[k]) for k, m in enumerate(self.backbone.tasks.values())], dim=1)).cpu().numpy()
            chart = u.mean(dim=0)
        for task in tasks:
            values = np.full(len(frame), np.nan)
            std = np.full(len(frame), np.nan)
            ad = np.full(len(frame), np.nan)
            if task in self.backbone.task_names:
                if len(canonical):
                    values[ok_rows] = source_values[:, self.backbone.task_names.index(task)]
                columns.update({task: values, f"{task}_std": std})
                continue
            inside = np.full(len(frame), None, dtype=object)
            if len(canonical):
                out = self.load_task(task).predict_from_representation(h, chart)
                values[ok_rows], std[ok_rows], ad[ok_rows] = out["mean"], out["std"], out["ad_score"]
                inside[ok_rows] = out["in_domain"].astype(bool)
            columns.update({task: values, f"{task}_std": std, f"{task}_ad_score": ad, f"{task}_in_domain": inside})
        return pd.concat([frame, pd.DataFrame(columns)], axis=1), h, ok_rows

    # ---- relational prediction (DESIGN §6) -----------------------------------------------------
    def relational(self) -> RelationalPredictor:
        """The relational head with this backbone's tasks, loaded once from ``relational_path``."""
        with self._relational_lock:
            if self._relational is None:
                head, meta = load_relational(self.relational_path, self.backbone_id, self.device)
                self._relational = RelationalPredictor(self.backbone, head, meta)
            return self._relational

    def _relational_node(self, name: str) -> None:
        """Build (once per registered version) an added task's node from its stored training data."""
        record = self.registry.get_task(name)
        with self._relational_lock:
            if self._relational_nodes.get(name) == record.model_dir:
                return
            data = self.registry.get_dataset(name)
            if not {"smiles", "value"} <= set(data.columns):
                raise RelationalInputError(f"the stored dataset of task '{name}' has no smiles/value columns")
            self.relational().add_task_node(name, data["smiles"].tolist(), data["value"].tolist(), model=self.load_task(name))
            self._relational_nodes[name] = record.model_dir

    def table_labels(self, canonical_smiles: str) -> dict[str, float]:
        """The labels the backbone's own table records for a molecule ({} if it is not there)."""
        with self._relational_lock:
            if self._table_labels is None:
                from gate_core.data.table import MultiTaskTable

                path = (self.backbone_metadata.get("pretraining") or {}).get("config", {}).get("table")
                if not path or not Path(resolve_table_path(path)).is_file():
                    raise RelationalInputError(f"the backbone's table ({path}) is not available, so its labels cannot be used")
                table = MultiTaskTable.read_long(resolve_table_path(path), self.backbone.task_names)
                self._table_labels = {
                    s: {t: float(v) for t, v in zip(table.tasks, row) if np.isfinite(v)} for s, row in zip(table.smiles, table.Y)
                }
            return dict(self._table_labels.get(canonical_smiles, {}))

    @torch.no_grad()
    def predict_relational(
        self,
        smiles: list[object],
        tasks: list[str] | None = None,
        known: list[dict[str, float]] | dict[str, float] | None = None,
        use_table_labels: bool = False,
    ) -> pd.DataFrame:
        """Plain and relational predictions given measurements the chemist already has.

        ``known``: one ``{task: value}`` (user units; 0/1 for classification) for every row, or
        a list with one per row. Default ``tasks``: every task not given as known. Refused
        (:class:`~gate_core.relational.predict.RelationalInputError`, a ``ValueError``): unknown
        task names, non-numeric values, a known value for a task being predicted; values far
        outside a task's training labels are warned about (``known_warning``).
        ``use_table_labels``: a query molecule found in the backbone's own table also uses its
        recorded labels (never for a task being predicted; the chemist's values win), listed
        in ``known_from_table``.

        Columns: those of the plain prediction, ``<task>_relational`` beside each ``<task>``,
        then ``known_used`` (the chemist's values used), ``known_from_table`` (with
        ``use_table_labels``) and ``known_warning``.
        """
        predictor = self.relational()
        rows = normalise_known(known, len(smiles))
        added = {r.name for r in self.added_tasks()}
        known_names = list(dict.fromkeys(k for row in rows for k in row))
        all_tasks = [*self.backbone.task_names, *sorted(added)]
        targets = list(tasks) if tasks else [t for t in all_tasks if t not in known_names]
        unknown = [t for t in dict.fromkeys([*targets, *known_names]) if t not in added and t not in self.backbone.task_names]
        if unknown:
            raise UnknownTaskError(f"unknown task(s): {', '.join(unknown)}; known tasks are: {', '.join(all_tasks)}")
        for name in dict.fromkeys([*targets, *known_names]):
            if name in added:
                self._relational_node(name)
        notes = check_known(rows, predictor.specs, targets)
        frame, h, ok_rows = self._predict_plain(smiles, targets)
        from_table: list[dict[str, float]] = [{} for _ in rows]
        if use_table_labels:
            for i in ok_rows:
                labels = self.table_labels(frame.at[i, "smiles"])
                from_table[i] = {t: v for t, v in labels.items() if t not in targets and t not in rows[i]}
        merged = [{**from_table[i], **rows[i]} for i in range(len(rows))]
        relational = np.full((len(frame), len(targets)), np.nan)
        if h is not None and len(ok_rows):
            relational[ok_rows] = predictor.predict_scaled(h, targets, [merged[i] for i in ok_rows])["relational"]
        ordered: list[pd.Series] = [frame[c] for c in ("input", "smiles", "error", "note")]
        for j, task in enumerate(targets):
            ordered += [frame[c] for c in (task, f"{task}_std", f"{task}_ad_score", f"{task}_in_domain") if c in frame.columns]
            ordered.append(pd.Series(relational[:, j], name=f"{task}_relational"))
        out = pd.concat(ordered, axis=1)
        valid = set(ok_rows.tolist())
        out["known_used"] = [format_known(rows[i]) if i in valid else "" for i in range(len(rows))]
        if use_table_labels:
            out["known_from_table"] = [format_known(from_table[i]) for i in range(len(rows))]
        out["known_warning"] = ["; ".join(n) for n in notes]
        return out

    def preview_task(self, smiles: list[object], values: list[object], query_smiles: list[object], task_type: str | None = None, name: str = "preview") -> pd.DataFrame:
        """Zero-training preview of a new task from its labelled molecules (see :func:`preview_new_task`)."""
        return preview_new_task(self, None, smiles, values, query_smiles, task_type, name)

    def units(self) -> dict[str, str]:
        units = {t.name: t.unit for t in self.backbone.config.tasks}
        units.update({r.name: r.unit for r in self.added_tasks()})
        return units
