"""The Python API: one object that owns the frozen backbone, the task registry and predictions.

Why one facade: the CLI, the app and notebooks must do each thing (add a task, predict, list,
export) the same way. Everything below it (model, task addition, registry) stays unaware of
users, files and sessions.
"""

from __future__ import annotations

import json
import tempfile
import threading
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from dataclasses import replace as replace_record
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import torch

from gate_core.data.collate import collate_graphs
from gate_core.data.io import TableReadError, read_table
from gate_core.data.untrusted import parse_isolated
from gate_core.featurizers.molecule import parse_smiles
from gate_core.featurizers.rows import FeaturizedRows
from gate_core.model_card import ModelCard, model_card
from gate_core.models.checkpoint import load_checkpoint
from gate_core.models.fingerprint import backbone_fingerprint
from gate_core.models.gate import TaskInfo
from gate_core.paths import DEFAULT_BACKBONE
from gate_core.registries import AUTO_MODEL, DEFAULT_RATIO_MODE, MODELS, check_model_choice
from gate_core.registry import (
    ArchiveError,
    RegistryError,
    RunRecord,
    TaskExistsError,
    TaskRecord,
    TaskRegistry,
    validate_task_name,
)
from gate_core.registry.schema import record_problem
from gate_core.relational.io import RelationalHeadError, load_relational
from gate_core.relational.predict import (
    RelationalInputError,
    RelationalPredictor,
    UnknownTaskError,
    check_known,
    format_known,
    normalise_known,
    preview_new_task,
)
from gate_core.reliability import (
    NO_RELATION,
    BackboneCalibration,
    PairGate,
    PairVerdict,
    ReliabilityCache,
    evaluate_task_pairs,
    known_slopes,
)
from gate_core.training.backbone_split import resolve_table_path
from gate_core.training.distributed import select_device
from gate_core.training.evaluate import classification_metrics, embed, regression_metrics
from gate_core.transfer.added_task import METADATA_FILE as TASK_METADATA_FILE
from gate_core.transfer.added_task import AddedTask, AddedTaskError
from gate_core.transfer.addition import TaskAdditionConfig, TaskAdditionResult, add_task
from gate_core.transfer.calibration import LEVEL, Calibration, ConformalInterval, interval_columns
from gate_core.transfer.domain import domain_label
from gate_core.transfer.ratios import RatioSettings
from gate_core.transfer.task_check import check_task_folder


def recommend(comparison: dict[str, dict], classification: bool) -> str:
    """The model with the best out-of-fold score (ROC-AUC for classification, else RMSE); ties keep GATE."""
    key, sign = ("roc_auc", -1.0) if classification else ("rmse", 1.0)
    scored = {
        m: sign * float(v[key])
        for m, v in comparison.items()
        if v and np.isfinite(v.get(key, np.nan))
    }
    return min(scored, key=lambda m: (scored[m], m != "gate")) if scored else "gate"


def config_from_options(options: dict) -> TaskAdditionConfig:
    """Build a config from the JSON-able options stored with a queued run (or CLI flags)."""
    ratios = RatioSettings(
        mode=options.get("ratios", DEFAULT_RATIO_MODE),
        pinned=dict(options.get("pinned", {})),
        excluded=list(options.get("excluded", [])),
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
        isolate: bool = False,
    ) -> None:
        """``isolate``: parse and featurise the molecules to predict in a worker process
        (:mod:`gate_core.data.untrusted`), so a native crash fails that prediction with
        :class:`~gate_core.isolation.WorkerCrashed` instead of killing this process (the app
        server sets it; a CLI run is one job anyway)."""
        self.isolate = isolate
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
        self.relational_path = (
            Path(relational_path)
            if relational_path
            else backbone_path.with_name(backbone_path.name + "_relational")
        )
        self._relational: RelationalPredictor | None = None
        self._relational_nodes: dict[str, str] = {}
        self._table_labels: dict[str, dict[str, float]] | None = None
        self._relational_lock = threading.RLock()
        self.reliability = ReliabilityCache(
            self.registry.data_dir / "calibration",
            self.backbone,
            self.backbone_metadata,
            self.backbone_id,
        )
        self._task_pairs: dict[str, tuple[str, dict[str, PairVerdict]]] = {}

    # ---- what exists -------------------------------------------------------------------------
    @property
    def source_tasks(self) -> list[TaskInfo]:
        return list(self.backbone.config.tasks)

    def added_tasks(self) -> list[TaskRecord]:
        """The registered tasks that can be used; see :meth:`unusable_tasks` for the others."""
        return [r for r in self.registry.list_tasks() if self._record_problem(r) is None]

    def unusable_tasks(self) -> dict[str, str]:
        """Registered tasks that cannot be shown or used → why (reported and skipped, never fatal)."""
        found = (
            (r.name, self._record_problem(r)) for r in self.registry.list_tasks(include_broken=True)
        )
        return {name: problem for name, problem in found if problem}

    def _record_problem(self, record: TaskRecord) -> str | None:
        """:func:`record_problem`, plus a task trained on another backbone (e.g. v1 after the switch to v2):
        its modules read another encoder's h, so its predictions would be meaningless."""
        problem = record_problem(record)
        if problem is None and record.backbone_id and record.backbone_id != self.backbone_id:
            problem = (
                f"it was trained on another backbone ({record.backbone_id[:12]}…), not the installed one "
                f"({self.backbone_id[:12]}…); retrain it from its dataset (add-task --replace)"
            )
        return problem

    def load_task(self, name: str) -> AddedTask:
        """The trained task, loaded once per registered version (cached by its model folder).

        Vetted by :func:`check_task_folder` first, so a damaged task raises
        :class:`AddedTaskError` instead of allocating or crashing.
        """
        record = self.registry.get_task(name)
        with self._lock:
            cached = self._task_cache.get(record.name)
            if cached and cached[0] == record.model_dir:
                return cached[1]
        try:
            task = check_task_folder(
                self.registry.task_dir(record.name), self.backbone, self.backbone_id
            )
        except AddedTaskError as exc:
            raise AddedTaskError(
                f"task '{record.name}' cannot be used: {exc}; remove it, or import or train it again"
            ) from exc
        with self._lock:
            self._task_cache[record.name] = (record.model_dir, task)
        return task

    def _unknown_message(self, unknown: list[str]) -> str:
        """Name the tasks that exist but cannot be used, with why; the rest are simply unknown."""
        unusable = self.unusable_tasks()
        parts = [f"task '{t}' cannot be used: {unusable[t]}" for t in unknown if t in unusable]
        rest = [t for t in unknown if t not in unusable]
        return "; ".join([*parts, *([f"unknown task(s): {', '.join(rest)}"] if rest else [])])

    def _loadable(self, names: list[str]) -> list[str]:
        """The added tasks among ``names`` that load; each other one is skipped with a warning,
        so one broken task never fails a prediction of all tasks."""
        usable = []
        for name in names:
            try:
                self.load_task(name)
            except (AddedTaskError, RegistryError) as exc:
                warnings.warn(f"skipped: {exc}", stacklevel=3)
            else:
                usable.append(name)
        return usable

    # ---- adding ------------------------------------------------------------------------------
    def check_new_name(self, name: str, replace: bool = False) -> None:
        """Refuse an invalid name, a backbone property's name in any case (the registry ignores case too), or a taken one."""
        validate_task_name(name)
        clash = next((t for t in self.backbone.task_names if t.lower() == name.lower()), None)
        if clash is not None:
            raise TaskExistsError(
                f"'{name}' is the name of the backbone's source property '{clash}'; choose another name"
            )
        if not replace and self.registry.has_task(name):
            raise TaskExistsError(
                f"a task named '{name}' already exists; choose another name or replace it"
            )

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
        model: str = AUTO_MODEL,
        name_column: str | None = None,
    ) -> tuple[TaskRecord, TaskAdditionResult]:
        """Train and register a task. Nothing is registered unless training finished.

        By default every valid row trains the final ensemble (no test set) and the frozen-backbone
        probe is trained on the same scaffold folds. The zero-training preview is scored on the
        same folds; ``record.metrics["comparison"]`` holds the three models' out-of-fold metrics
        and ``["recommended"]`` the best. ``model``: which one answers predictions — ``auto``
        (the recommended one), or one of :data:`~gate_core.registries.MODELS`; change it
        later with :meth:`choose_model`. ``name_column``: the file's column that names the
        molecules (a name or an ID), stored with the dataset as ``name`` so that maps and tables
        can show it.
        """
        model = check_model_choice(model)
        self.check_new_name(name, replace)
        for col in (smiles_column, target_column, *([name_column] if name_column else [])):
            if col not in frame.columns:
                raise ValueError(
                    f"column '{col}' not found; the table has: {', '.join(map(str, frame.columns))}"
                )
        config = config or TaskAdditionConfig(train_baseline=True)
        result = add_task(
            self.backbone,
            frame[smiles_column].tolist(),
            frame[target_column].tolist(),
            TaskInfo(name, unit, config.task_type or "regression", description),
            config,
            progress,
        )
        task = result.task
        self._add_preview(task, result)
        comparison = task.metadata["oof_metrics"]
        task.metadata["recommended"] = recommend(comparison, task.classification)
        chosen = task.metadata["recommended"] if model == AUTO_MODEL else model
        if chosen not in task.available_models():
            raise ValueError(
                f"model '{chosen}' is not available for this task (available: {', '.join(task.available_models())})"
            )
        task.metadata["model"] = chosen
        record = TaskRecord(
            name=name,
            task_type=task.info.task_type,
            unit=unit,
            description=description,
            backbone_id=self.backbone_id,
            sizes={
                "n_rows": len(frame),
                "n_valid": task.metadata["n_train"] + task.metadata["n_test"],
                "n_train": task.metadata["n_train"],
                "n_test": task.metadata["n_test"],
                "n_invalid": len(result.invalid),
                "n_duplicates_merged": result.n_duplicates_merged,
            },
            metrics=self._record_metrics(
                task, result.test_metrics, result.baseline_test_metrics, result.timings
            ),
            ratios=task.metadata["ratios"],
        )
        dataset = pd.DataFrame(
            {"smiles": frame[smiles_column].astype(str), "value": frame[target_column]}
        )
        if name_column:
            dataset["name"] = frame[name_column].map(lambda v: "" if pd.isna(v) else str(v))
        with tempfile.TemporaryDirectory(prefix="gate-task-") as tmp:
            task.save(tmp)
            check_task_folder(
                tmp, self.backbone, self.backbone_id
            )  # a task that predicts NaN is never registered
            registered = self.registry.register_task(record, tmp, dataset, replace=replace)
        return registered, result

    def import_task(
        self, source: str | Path | BinaryIO, name: str | None = None, replace: bool = False
    ) -> TaskRecord:
        """Import a task archive: the registry checks the file, then its name and its model are
        checked here (loaded, and a trial prediction) before anything is registered."""

        def check(model_dir: Path, dataset: Path | None, record: TaskRecord) -> None:
            self.check_new_name(record.name, replace)
            try:
                check_task_folder(model_dir, self.backbone, self.backbone_id)
            except AddedTaskError as exc:
                raise ArchiveError(
                    f"The archive's model cannot be used: {exc}. Refusing to import it."
                ) from exc
            try:
                columns = (
                    set(read_table(dataset).columns) if dataset is not None else {"smiles", "value"}
                )
            except TableReadError as exc:
                raise ArchiveError(
                    f"The archive's dataset cannot be read: {exc}. Refusing to import it."
                ) from exc
            if not {"smiles", "value"} <= columns:
                raise ArchiveError(
                    "The archive's dataset has no smiles and value columns. Refusing to import it."
                )

        return self.registry.import_task(
            source, self.backbone_id, name=name, replace=replace, check=check
        )

    @staticmethod
    def _record_metrics(
        task: AddedTask, test: dict | None, baseline_test: dict | None, timings: dict
    ) -> dict:
        """What the registry shows of a task: test metrics (if a test set was held out), the
        out-of-fold comparison of the three models, the recommended and the chosen one, and the
        interval level."""
        return {
            "test": test,
            "baseline_test": baseline_test,
            "timings": timings,
            "oof": task.metadata["oof_metrics"].get(task.model),
            "comparison": task.metadata["oof_metrics"],
            "recommended": task.metadata.get("recommended"),
            "model": task.model,
            "interval_level": LEVEL,
        }

    def _add_preview(self, task: AddedTask, result: TaskAdditionResult) -> None:
        """Score the zero-training preview on the task's own scaffold folds (node from the other folds) and calibrate it.

        Without a relational head the task simply has no ``preview`` model.
        """
        oof = result.oof or {}
        folds = np.asarray(oof.get("fold", []))
        if not len(folds) or (folds < 0).any():
            return  # K = 1: one validation fold only, too little to judge the preview on
        smiles, y = list(oof["smiles"]), np.asarray(oof["y_true"], dtype=float)
        pred = np.full(len(y), np.nan)
        try:
            for k in np.unique(folds):
                held, support = np.flatnonzero(folds == k), np.flatnonzero(folds != k)
                frame = self.preview_task(
                    [smiles[i] for i in support],
                    y[support].tolist(),
                    [smiles[i] for i in held],
                    task.info.task_type,
                )
                pred[held] = frame["prediction"].to_numpy(dtype=float)
        except (RelationalInputError, RelationalHeadError):
            return
        metrics = (
            classification_metrics(y, pred) if task.classification else regression_metrics(y, pred)
        )
        task.metadata["oof_metrics"]["preview"] = metrics
        task.metadata["calibration"]["preview"] = Calibration.fit(
            task.classification, y, pred, np.asarray(oof["ad_score"])
        ).to_dict()
        task.metadata["oof"]["preview"] = pred.tolist()

    def choose_model(self, name: str, model: str) -> TaskRecord:
        """Make ``model`` (:data:`~gate_core.registries.MODELS`) the one that answers ``name``'s predictions."""
        MODELS.check(model)
        task = self.load_task(name)
        if model not in task.available_models():
            raise ValueError(
                f"model '{model}' is not available for task '{name}' (available: {', '.join(task.available_models())})"
            )
        record = self.registry.get_task(name)
        chosen = AddedTask(
            task.info,
            task.members,
            task.y_mean,
            task.y_std,
            task.domain,
            task.backbone_id,
            {**task.metadata, "model": model},
            task.probe_members,
        )
        metrics = {
            **(record.metrics or {}),
            "model": model,
            "oof": chosen.metadata.get("oof_metrics", {}).get(model),
        }
        with tempfile.TemporaryDirectory(prefix="gate-task-") as tmp:
            chosen.save(tmp)
            return self.registry.register_task(
                replace_record(record, metrics=metrics),
                tmp,
                self.registry.get_dataset(name),
                replace=True,
            )

    def run_job(self, run: RunRecord) -> TaskRecord:
        """Execute one queued run (the app's background worker calls this)."""
        options = dict(run.options)
        frame = self.registry.load_dataset(run.dataset_hash) if run.dataset_hash else None
        if frame is None:
            raise ValueError("the run has no dataset")
        history: dict = {
            "val_curve": [],
            "ratio_trajectory": [],
            "sources": self.backbone.task_names,
        }

        def report(event: dict) -> None:
            if event.get("stage") == "training":
                history["val_curve"].append([event["member"], event["step"], event["val_loss"]])
                history["ratio_trajectory"].append(
                    [event["member"], event["step"], event["ratios"]]
                )
            payload = {
                **history,
                "fraction": event.get("fraction", 0.0),
                "stage": event.get("stage"),
                "message": event.get("message", ""),
            }
            if not self.registry.update_progress(
                run.id,
                payload,
                log_line=event.get("message") if event.get("stage") != "training" else None,
            ):
                raise InterruptedError("the run was cancelled")

        record, result = self.add_task(
            frame,
            options.get("smiles_column", "smiles"),
            options.get("target_column", "value"),
            run.task_name,
            options.get("unit", ""),
            options.get("description", ""),
            config_from_options(options.get("config", {"train_baseline": True})),
            replace=bool(options.get("replace", False)),
            progress=report,
            model=options.get("model", AUTO_MODEL),
            name_column=options.get("name_column"),
        )
        final = {
            **history,
            "fraction": 1.0,
            "stage": "done",
            "message": "task added",
            "test_predictions": result.test_predictions,
            "invalid": [asdict(r) for r in result.invalid],
        }
        self.registry.finish_run(run.id, final, log_line=f"registered task {record.name}")
        return record

    # ---- predicting --------------------------------------------------------------------------
    def predict(
        self,
        smiles: list[object] | FeaturizedRows,
        tasks: list[str] | None = None,
        known: list[dict[str, float]] | dict[str, float] | None = None,
        use_table_labels: bool = False,
    ) -> pd.DataFrame:
        """One row per input, in input order; invalid rows kept with their reason in ``error``.

        ``smiles``: SMILES texts, or rows already parsed and featurised by
        :func:`~gate_core.featurizers.rows.featurize_rows` (the streaming predict's worker
        processes, :mod:`gate_core.streaming`); both give the same numbers.

        Columns per task, backbone properties and added tasks alike:

        - ``<task>``: the prediction in the task's unit; for a classification task the
          calibrated probability of class 1 (Platt scaling on held-out predictions).
        - ``<task>_std``: spread of the ensemble (NaN for backbone properties and for a task
          answered by its preview). Not an interval: it understates the error at small n.
        - ``<task>_lo90`` / ``<task>_hi90``: the 90 % prediction interval (split-conformal on
          held-out residuals: an added task's out-of-fold predictions, the backbone's validation
          split; wider away from the training data); NaN for classification.
        - ``<task>_ad_score``: applicability-domain score (distance to the 5 nearest training
          molecules in the common chart over the training set's own 95th percentile; lower is
          closer); ``<task>_domain``: "inside" (≤ 1), "near the edge" (≤ 2) or "outside the
          training data"; ``<task>_in_domain``: score ≤ 1.

        A backbone property whose calibration cannot be computed (its table is missing) gets NaN
        intervals and an empty domain. With ``known`` measurements (one dict for every row, or
        one per row) or ``use_table_labels``, the relational head's corrections are added (see
        :meth:`predict_relational`).
        """
        if known is None and not use_table_labels:
            return self._predict_plain(smiles, tasks)[0]
        return self.predict_relational(smiles, tasks, known, use_table_labels)

    def backbone_calibration(self) -> BackboneCalibration | None:
        """Intervals and domains of the backbone's properties (computed once, cached); ``None`` if its table is missing."""
        try:
            return self.reliability.calibration()
        except (ValueError, OSError) as exc:
            import warnings

            warnings.warn(f"backbone properties get no interval or domain: {exc}", stacklevel=3)
            return None

    @torch.no_grad()
    def _preview_values(self, name: str, h: torch.Tensor, chart: torch.Tensor) -> np.ndarray:
        """An added task's zero-training read-out (its node from all its labelled molecules), user units."""
        self._relational_node(name)
        predictor = self.relational()
        spec = predictor.specs[name]
        scaled = predictor.head.data_features(chart) @ spec.nodes.vectors[0] + spec.nodes.bias[0]
        out = torch.sigmoid(scaled) if spec.classification else scaled * spec.y_std + spec.y_mean
        return out.cpu().numpy().astype(np.float64)

    @torch.no_grad()
    def _predict_plain(
        self, smiles: list[object] | FeaturizedRows, tasks: list[str] | None
    ) -> tuple[pd.DataFrame, torch.Tensor | None, np.ndarray]:
        """The plain prediction frame, plus h of the valid rows and their row numbers (for reuse)."""
        added = {r.name for r in self.added_tasks()}
        tasks = (
            list(tasks)
            if tasks
            else [*self.backbone.property_names, *self._loadable(sorted(added))]
        )
        unknown = [t for t in tasks if t not in added and t not in self.backbone.property_names]
        if unknown:
            raise UnknownTaskError(self._unknown_message(unknown))
        if isinstance(smiles, FeaturizedRows):  # parsed and featurised already, in a worker process
            frame = pd.DataFrame(
                {
                    "input": smiles.inputs,
                    "smiles": smiles.smiles,
                    "error": smiles.errors,
                    "note": smiles.notes,
                }
            )
            ok_rows = smiles.ok_rows
            canonical = [smiles.smiles[i] for i in ok_rows]
        else:
            parsed = (
                parse_isolated(list(smiles)) if self.isolate else [parse_smiles(s) for s in smiles]
            )
            frame = pd.DataFrame(
                {
                    "input": [p.input for p in parsed],
                    "smiles": [p.smiles for p in parsed],
                    "error": [p.error for p in parsed],
                    "note": [p.note for p in parsed],
                }
            )
            ok_rows = np.flatnonzero([p.ok for p in parsed])
            canonical = [parsed[i].smiles for i in ok_rows]
        columns: dict[str, np.ndarray] = {}
        h = None
        if len(canonical):
            h = (
                self._represent(smiles)
                if isinstance(smiles, FeaturizedRows)
                else embed(self.backbone, canonical)
            )
            z, u = self.backbone.latents(h)
            source_values = self.backbone.unscale(self.backbone.heads(z)).cpu().numpy()
            chart = u.mean(dim=0)
        calibration = (
            self.backbone_calibration()
            if any(t in self.backbone.property_names for t in tasks) and len(canonical)
            else None
        )
        for task in tasks:
            cols = {c: np.full(len(frame), np.nan) for c in ("value", "std", "lo", "hi", "ad")}
            domain, inside = (
                np.full(len(frame), "", dtype=object),
                np.full(len(frame), None, dtype=object),
            )
            if len(canonical):
                if task in self.backbone.property_names:
                    out = self._backbone_extras(
                        task,
                        source_values[:, self.backbone.output_names.index(task)],
                        chart,
                        calibration,
                    )
                else:
                    added_task = self.load_task(task)
                    preview = (
                        self._preview_values(task, h, chart)
                        if added_task.model == "preview"
                        else None
                    )
                    out = added_task.predict_from_representation(h, chart, preview=preview)
                for c, key in (
                    ("value", "mean"),
                    ("std", "std"),
                    ("lo", "lo"),
                    ("hi", "hi"),
                    ("ad", "ad_score"),
                ):
                    cols[c][ok_rows] = out[key]
                domain[ok_rows] = out["domain"]
                inside[ok_rows] = [
                    None if d == "" else bool(v) for d, v in zip(out["domain"], out["in_domain"])
                ]
            lo, hi = interval_columns(task)
            columns.update(
                {
                    task: cols["value"],
                    f"{task}_std": cols["std"],
                    lo: cols["lo"],
                    hi: cols["hi"],
                    f"{task}_ad_score": cols["ad"],
                    f"{task}_domain": domain,
                    f"{task}_in_domain": inside,
                }
            )
        return pd.concat([frame, pd.DataFrame(columns)], axis=1), h, ok_rows

    def _represent(self, rows: FeaturizedRows, batch_size: int = 256) -> torch.Tensor:
        """h of the valid rows from their graphs and descriptors, as :func:`embed` computes it from SMILES."""
        graphs = rows.graphs.graphs()
        descriptors = torch.as_tensor(rows.descriptors, dtype=torch.float32)
        use = self.backbone.config.n_descriptors > 0
        self.backbone.eval()
        out = []
        for start in range(0, len(graphs), batch_size):
            graph = collate_graphs(graphs[start : start + batch_size]).to(self.device)
            out.append(
                self.backbone.representation(
                    graph, descriptors[start : start + batch_size].to(self.device) if use else None
                )
            )
        return torch.cat(out)

    @staticmethod
    def _backbone_extras(
        task: str, values: np.ndarray, chart: torch.Tensor, calibration: BackboneCalibration | None
    ) -> dict[str, np.ndarray]:
        """A backbone property's values with their interval and domain (NaN / '' without a calibration)."""
        n = len(values)
        out = {
            "mean": values,
            "std": np.full(n, np.nan),
            "lo": np.full(n, np.nan),
            "hi": np.full(n, np.nan),
            "ad_score": np.full(n, np.nan),
        }
        domain, cal = (
            (calibration.domains.get(task), calibration.calibrations.get(task))
            if calibration
            else (None, None)
        )
        if domain is not None:
            out["ad_score"] = domain.score(chart).numpy().astype(np.float64)
        if cal is not None and cal.platt is not None:
            out["mean"] = cal.platt(values)
        if cal is not None and cal.interval is not None:
            out["lo"], out["hi"] = cal.interval.bounds(out["mean"], out["ad_score"])
        out["domain"] = domain_label(out["ad_score"])
        out["in_domain"] = out["ad_score"] <= 1.0
        return out

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
                raise RelationalInputError(
                    f"the stored dataset of task '{name}' has no smiles/value columns"
                )
            self.relational().add_task_node(
                name, data["smiles"].tolist(), data["value"].tolist(), model=self.load_task(name)
            )
            self._relational_nodes[name] = record.model_dir

    def table_labels(self, canonical_smiles: str) -> dict[str, float]:
        """The labels the backbone's own table records for a molecule ({} if it is not there)."""
        with self._relational_lock:
            if self._table_labels is None:
                from gate_core.data.table import MultiTaskTable

                path = (
                    (self.backbone_metadata.get("pretraining") or {}).get("config", {}).get("table")
                )
                if not path or not Path(resolve_table_path(path)).is_file():
                    raise RelationalInputError(
                        f"the backbone's table ({path}) is not available, so its labels cannot be used"
                    )
                table = MultiTaskTable.read_long(
                    resolve_table_path(path), self.backbone.property_names
                )
                self._table_labels = {
                    s: {t: float(v) for t, v in zip(table.tasks, row) if np.isfinite(v)}
                    for s, row in zip(table.smiles, table.Y)
                }
            return dict(self._table_labels.get(canonical_smiles, {}))

    @torch.no_grad()
    def predict_relational(
        self,
        smiles: list[object] | FeaturizedRows,
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

        A known value corrects a prediction only through a pair (known → target) that the held-out
        check accepted (:mod:`gate_core.reliability`: beats the plain prediction on held-out
        molecules and follows the sign of the two properties' relation in the data), and only
        when, for this molecule, the correction moves with the known value in that direction.
        Otherwise the corrected column holds the plain value and the note says why.

        Columns: those of the plain prediction; beside each ``<task>``: ``<task>_relational``
        (corrected value, or the plain one when no correction applies), ``<task>_relational_lo90``
        / ``_hi90`` (the correction's own 90 % interval, from its pair's held-out residuals; NaN
        when not corrected or for classification) and ``<task>_relational_note`` (which known
        values corrected it, or "no reliable relation learned for this pair" and why); then
        ``known_used`` (the chemist's values used), ``known_from_table`` (with
        ``use_table_labels``) and ``known_warning``.
        """
        predictor = self.relational()
        rows = normalise_known(known, len(smiles))
        added = {r.name for r in self.added_tasks()}
        known_names = list(dict.fromkeys(k for row in rows for k in row))
        all_tasks = [*self.backbone.property_names, *sorted(added)]
        targets = (
            list(tasks)
            if tasks
            else [
                t
                for t in [*self.backbone.property_names, *self._loadable(sorted(added))]
                if t not in known_names
            ]
        )
        unknown = [
            t
            for t in dict.fromkeys([*targets, *known_names])
            if t not in added and t not in self.backbone.property_names
        ]
        if unknown:
            raise UnknownTaskError(
                f"{self._unknown_message(unknown)}; known tasks are: {', '.join(all_tasks)}"
            )
        for name in dict.fromkeys([*targets, *known_names]):
            if name in added:
                self._relational_node(name)
        notes = check_known(rows, predictor.specs, targets)
        frame, h, ok_rows = self._predict_plain(smiles, targets)
        from_table: list[dict[str, float]] = [{} for _ in rows]
        if use_table_labels:
            for i in ok_rows:
                labels = self.table_labels(frame.at[i, "smiles"])
                from_table[i] = {
                    t: v for t, v in labels.items() if t not in targets and t not in rows[i]
                }
        merged = [{**from_table[i], **rows[i]} for i in range(len(rows))]
        ordered: list[pd.Series] = [frame[c] for c in ("input", "smiles", "error", "note")]
        for task in targets:
            corrected = self._corrections(task, frame, h, ok_rows, merged)
            ordered += [
                frame[c]
                for c in (
                    task,
                    f"{task}_std",
                    *interval_columns(task),
                    f"{task}_ad_score",
                    f"{task}_domain",
                    f"{task}_in_domain",
                )
            ]
            ordered += [pd.Series(v, name=c) for c, v in corrected.items()]
        valid = set(ok_rows.tolist())
        ordered.append(
            pd.Series(
                [format_known(rows[i]) if i in valid else "" for i in range(len(rows))],
                name="known_used",
            )
        )
        if use_table_labels:
            ordered.append(
                pd.Series(
                    [format_known(from_table[i]) for i in range(len(rows))], name="known_from_table"
                )
            )
        ordered.append(pd.Series(["; ".join(n) for n in notes], name="known_warning"))
        return pd.concat(ordered, axis=1)

    def pair_verdict(self, known: str, target: str) -> PairVerdict | None:
        """The held-out verdict on correcting ``target`` from a known ``known``; ``None``: never judged (refused)."""
        names = self.backbone.property_names
        if known not in names:
            return None  # an added task as the known value: not judged
        if target in names:
            return self.reliability.pair_gate(self.relational()).verdict(known, target)
        return self._task_pair_verdicts(target).get(PairGate.key(known, target))

    def _task_pair_verdicts(self, name: str) -> dict[str, PairVerdict]:
        """(backbone property → added task) verdicts, judged once per registered version on the task's out-of-fold predictions."""
        record = self.registry.get_task(name)
        cached = self._task_pairs.get(name)
        if cached and cached[0] == record.model_dir:
            return cached[1]
        task = self.load_task(name)
        oof = task.metadata.get("oof") or {}
        verdicts: dict[str, PairVerdict] = {}
        if oof.get(task.model):
            self._relational_node(name)
            try:
                labels = [self.table_labels(s) for s in oof["smiles"]]
            except RelationalInputError:
                labels = []
            if labels:
                verdicts = evaluate_task_pairs(
                    self.relational(),
                    name,
                    list(oof["smiles"]),
                    np.asarray(oof["y_true"], dtype=float),
                    np.asarray(oof[task.model], dtype=float),
                    np.asarray(oof["ad_score"], dtype=float),
                    labels,
                )
        self._task_pairs[name] = (record.model_dir, verdicts)
        return verdicts

    @torch.no_grad()
    def _corrections(
        self,
        task: str,
        frame: pd.DataFrame,
        h: torch.Tensor | None,
        ok_rows: np.ndarray,
        known: list[dict[str, float]],
    ) -> dict[str, np.ndarray]:
        """``<task>_relational`` (+ its interval and note) for every row, correcting only through accepted pairs."""
        lo_name, hi_name = interval_columns(f"{task}_relational")
        value = frame[task].to_numpy(dtype=float).copy()
        lo, hi = np.full(len(frame), np.nan), np.full(len(frame), np.nan)
        note = np.full(len(frame), "", dtype=object)
        position = {int(i): p for p, i in enumerate(ok_rows)}
        groups: dict[tuple[str, ...], list[int]] = {}
        for i in ok_rows:
            if not known[i]:
                continue
            verdicts = {k: self.pair_verdict(k, task) for k in known[i]}
            usable = tuple(k for k, v in verdicts.items() if v is not None and v.accepted)
            refused = [k for k in known[i] if k not in usable]
            if refused:
                note[i] = "; ".join(
                    f"{k} → {task}: "
                    + (
                        verdicts[k].reason
                        if verdicts[k]
                        else f"{NO_RELATION} (not judged for this pair)"
                    )
                    for k in refused
                )
            groups.setdefault(usable, []).append(int(i))
        predictor = self.relational()
        ad = frame[f"{task}_ad_score"].to_numpy(dtype=float)
        for usable, idx in groups.items():
            if not usable or h is None:
                continue
            idx_a = np.array(idx)
            h_sub = h[torch.as_tensor([position[i] for i in idx])]
            rows = [{k: known[i][k] for k in usable} for i in idx]
            out = predictor.predict_scaled(h_sub, [task], rows)["relational"][:, 0]
            ok = np.ones(len(idx), dtype=bool)
            half = np.zeros(len(idx))
            for k in usable:
                verdict = self.pair_verdict(k, task)
                others = [{kk: r[kk] for kk in usable if kk != k} for r in rows]
                slopes = known_slopes(
                    predictor, h_sub, [task], k, np.array([r[k] for r in rows]), others
                )[:, 0]
                ok &= verdict.direction_ok(slopes)
                if verdict.interval:
                    half = np.maximum(
                        half, ConformalInterval.from_dict(verdict.interval).half_width(ad[idx_a])
                    )
            good, bad = idx_a[ok], idx_a[~ok]
            value[good] = out[ok]
            if not predictor.specs[task].classification:
                lo[good], hi[good] = out[ok] - half[ok], out[ok] + half[ok]
            used = ", ".join(usable)
            for i in good:
                note[i] = "; ".join(x for x in (f"corrected by {used}", note[i]) if x)
            for i in bad:
                note[i] = "; ".join(
                    x
                    for x in (
                        f"{used} → {task}: {NO_RELATION} (for this molecule the correction runs against the relation in the data)",
                        note[i],
                    )
                    if x
                )
        return {
            f"{task}_relational": value,
            lo_name: lo,
            hi_name: hi,
            f"{task}_relational_note": note,
        }

    def preview_task(
        self,
        smiles: list[object],
        values: list[object],
        query_smiles: list[object],
        task_type: str | None = None,
        name: str = "preview",
    ) -> pd.DataFrame:
        """Zero-training preview of a new task from its labelled molecules (see :func:`preview_new_task`)."""
        loaded = self.relational()
        return preview_new_task(
            self.backbone,
            loaded.head,
            smiles,
            values,
            query_smiles,
            task_type,
            name,
            head_meta=loaded.head_meta,
        )

    def units(self) -> dict[str, str]:
        units = {t.name: t.unit for t in self.backbone.config.tasks}
        units.update({r.name: r.unit for r in self.added_tasks()})
        return units

    def task_types(self) -> dict[str, str]:
        """``{task: "regression" | "classification"}`` for the backbone's and the added tasks:
        what a comparison with measured values is scored by (:class:`~gate_core.predictions.Comparison`)."""
        types = {t.name: t.task_type for t in self.backbone.config.tasks}
        types.update({r.name: r.task_type for r in self.added_tasks()})
        return types

    # ---- model cards ---------------------------------------------------------------------------
    def model_card(self, name: str) -> ModelCard:
        """The task's model card (data, split, quality with intervals, domain, ratios, versions)."""
        record = self.registry.get_task(name)
        metadata = json.loads(
            (self.registry.task_dir(record.name) / TASK_METADATA_FILE).read_text()
        )
        kinds = Counter(getattr(t, "kind", "measured") for t in self.source_tasks)
        backbone = {
            "id": self.backbone_id,
            "n_sources": len(self.source_tasks),
            "kinds": ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())),
        }
        return model_card(record, metadata, backbone)

    def rename_task(self, old: str, new: str) -> TaskRecord:
        """Rename an added task (its runs follow), refused as a new task's name is: never a
        backbone property's name. The registry refuses a name another task has (a change of
        case only is allowed)."""
        self.check_new_name(new, replace=True)
        return self.registry.rename_task(old, new)

    def export_task(self, name: str, dest: str | Path | BinaryIO) -> None:
        """Write the task as one file for another install, with its model card (Markdown and HTML) inside."""
        card = self.model_card(name)
        documents = {
            "model_card.md": card.markdown().encode("utf-8"),
            "model_card.html": card.html().encode("utf-8"),
        }
        self.registry.export_task(name, dest, documents)
