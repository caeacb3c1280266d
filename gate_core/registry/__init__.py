"""Persistent task registry: tasks, their model files and datasets, and the training-run queue.

Why: everything a user adds must outlive the process and survive crashes; this package is the
one place that writes ``<data_dir>`` (``$GATE_DATA_DIR`` or ``./gate_data``). It knows nothing
about the model: model files are opaque bytes, records are plain dataclasses.
"""

from gate_core.registry.errors import (
    ArchiveError,
    InvalidNameError,
    RegistryError,
    RunActiveError,
    RunNotFoundError,
    TaskExistsError,
    TaskNotFoundError,
)
from gate_core.registry.names import suggest_task_name, validate_task_name
from gate_core.registry.records import RUN_STATUSES, RunRecord, TaskRecord
from gate_core.registry.store import DATA_DIR_ENV, TaskRegistry, default_data_dir

__all__ = [
    "DATA_DIR_ENV",
    "RUN_STATUSES",
    "ArchiveError",
    "InvalidNameError",
    "RegistryError",
    "RunActiveError",
    "RunNotFoundError",
    "RunRecord",
    "TaskExistsError",
    "TaskNotFoundError",
    "TaskRecord",
    "TaskRegistry",
    "default_data_dir",
    "suggest_task_name",
    "validate_task_name",
]
