"""Frozen records returned by the registry, with their JSON columns already decoded.

Why: callers (the model, the worker, the app) read plain dataclasses and never see SQL rows
or JSON strings, so the storage format can change behind them.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from gate_core.registry.errors import RegistryError

RunStatus = Literal["queued", "running", "done", "failed", "cancelled"]
RUN_STATUSES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled")
FINAL_RUN_STATUSES: frozenset[str] = frozenset({"done", "failed", "cancelled"})

#: Task status set by the registry when a task's files are missing on disk.
BROKEN = "broken"


def utc_now() -> str:
    """UTC timestamp in ISO 8601, e.g. ``2025-01-31T12:00:00.123456+00:00``."""
    return datetime.now(UTC).isoformat()


def to_json(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"Value cannot be stored as JSON: {exc}") from exc


def from_json(text: str | None, default: Any = None) -> Any:
    return default if text is None or text == "" else json.loads(text)


def _json_field(factory: type = dict) -> Any:
    return field(default_factory=factory, hash=False)


@dataclass(frozen=True)
class TaskRecord:
    """One registered task.

    Pass one to ``register_task`` with the descriptive fields set; the registry fills
    ``created`` (if empty), ``dataset_hash``, ``model_dir`` and ``files`` itself.
    ``sizes``, ``metrics`` and ``ratios`` are any JSON-serialisable values (dicts by convention:
    split sizes, validation metrics, transfer ratios per source task).
    """

    name: str
    task_type: str  # one of gate_core.registries.TASK_TYPES
    unit: str = ""
    description: str = ""
    backbone_id: str = ""
    status: str = "ready"
    sizes: Any = _json_field()
    metrics: Any = _json_field()
    ratios: Any = _json_field()
    created: str = ""
    dataset_hash: str | None = None
    model_dir: str = ""
    files: dict[str, str] = _json_field()  # relative path -> sha256

    def describe(self) -> dict[str, Any]:
        """The descriptive fields as JSON-ready data (what an export manifest carries)."""
        return {
            "name": self.name,
            "task_type": self.task_type,
            "unit": self.unit,
            "description": self.description,
            "backbone_id": self.backbone_id,
            "status": self.status,
            "sizes": self.sizes,
            "metrics": self.metrics,
            "ratios": self.ratios,
            "created": self.created,
        }

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> TaskRecord:
        return cls(
            name=row["name"],
            task_type=row["task_type"],
            unit=row["unit"],
            description=row["description"],
            backbone_id=row["backbone_id"],
            status=row["status"],
            sizes=from_json(row["sizes"], {}),
            metrics=from_json(row["metrics"], {}),
            ratios=from_json(row["ratios"], {}),
            created=row["created"],
            dataset_hash=row["dataset_hash"],
            model_dir=row["model_dir"],
            files=from_json(row["files"], {}),
        )


@dataclass(frozen=True)
class RunRecord:
    """One training run in the queue.

    ``progress`` is whatever JSON the worker last reported (fraction, message, loss history,
    ratio trajectory...); ``log`` is the appended log text; ``owner`` is ``host:pid`` of the
    process that claimed it and ``heartbeat`` its last progress report.
    """

    id: int
    task_name: str
    status: RunStatus
    created: str
    started: str | None = None
    finished: str | None = None
    options: Any = _json_field()
    progress: Any = _json_field()
    log: str = ""
    error: str | None = None
    dataset_hash: str | None = None
    owner: str | None = None
    heartbeat: str | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_RUN_STATUSES

    def remaining_seconds(self, now: datetime | None = None) -> float | None:
        """Time left if the run goes on at its pace so far (elapsed × (1 − f) / f); ``None``
        before it has started or made 5 % progress, when the pace says nothing yet."""
        fraction = float((self.progress or {}).get("fraction", 0.0))
        if self.status != "running" or not self.started or fraction < 0.05:
            return None
        elapsed = (
            (now or datetime.now(UTC)) - datetime.fromisoformat(self.started)
        ).total_seconds()
        return max(elapsed, 0.0) * (1.0 - min(fraction, 1.0)) / fraction

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RunRecord:
        return cls(
            id=row["id"],
            task_name=row["task_name"],
            status=row["status"],
            created=row["created"],
            started=row["started"],
            finished=row["finished"],
            options=from_json(row["options"], {}),
            progress=from_json(row["progress"], {}),
            log=row["log"],
            error=row["error"],
            dataset_hash=row["dataset_hash"],
            owner=row["owner"],
            heartbeat=row["heartbeat"],
        )
