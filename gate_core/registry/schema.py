"""JSON schemas of a task record and of an export manifest, and the check both use.

Why: an imported archive is untrusted input, and a wrong type in any field (``sizes`` as a
list, a number as ``unit``) used to pass import and then break ``list``, the Tasks page and
every prediction for every user. The same schema checks an archive before import and a
record already in the registry, so a broken task is reported and skipped, never trusted.
A field added to a record must be added here too (the export/import round-trip test fails
otherwise).
"""

from __future__ import annotations

from typing import Any

from gate_core.registries import TASK_TYPES
from gate_core.registry.errors import ArchiveError
from gate_core.registry.records import BROKEN, TaskRecord
from gate_core.validation import schema_problem

_TEXT = {"type": "string", "maxLength": 10_000}
_NAME = {"type": "string", "maxLength": 200}
_NUMBER = {"type": ["number", "null"]}
#: One table of metrics (``{"rmse": 0.4, "n": 30}``): metric names map to numbers.
_METRIC_TABLE = {
    "type": ["object", "null"],
    "maxProperties": 64,
    "propertyNames": _NAME,
    "additionalProperties": _NUMBER,
}

TASK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "task_type"],
    "properties": {
        "name": _NAME,
        "task_type": {"enum": TASK_TYPES.names},
        "unit": {"type": "string", "maxLength": 100},
        "description": _TEXT,
        "backbone_id": _NAME,
        "status": {"enum": ["ready", "broken"]},
        "created": _NAME,
        "sizes": {
            "type": "object",
            "maxProperties": 32,
            "propertyNames": _NAME,
            "additionalProperties": {"type": ["integer", "null"], "minimum": 0},
        },
        "metrics": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "test": _METRIC_TABLE,
                "baseline_test": _METRIC_TABLE,
                "timings": _METRIC_TABLE,
                "oof": _METRIC_TABLE,
                "comparison": {
                    "type": ["object", "null"],
                    "maxProperties": 16,
                    "propertyNames": _NAME,
                    "additionalProperties": _METRIC_TABLE,
                },
                "recommended": {"type": ["string", "null"], "maxLength": 64},
                "model": {"type": ["string", "null"], "maxLength": 64},
                "interval_level": _NUMBER,
            },
        },
        "ratios": {
            "type": "object",
            "maxProperties": 1_000,
            "propertyNames": _NAME,
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {k: _NUMBER for k in ("ratio", "ratio_std", "share", "share_std")},
            },
        },
    },
}

_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
MANIFEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["format", "format_version", "backbone_id", "task", "members"],
    "properties": {
        "format": {"const": "gate-task"},
        "format_version": {"type": "integer"},
        "backbone_id": _NAME,
        "task": TASK_SCHEMA,
        "members": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 64,
            "additionalProperties": _SHA256,
        },
        "written_by": _NAME,
    },
}


def check_manifest(manifest: Any) -> None:
    """Raise :class:`ArchiveError` unless an export manifest fits :data:`MANIFEST_SCHEMA`."""
    if problem := schema_problem(manifest, MANIFEST_SCHEMA):
        raise ArchiveError(
            f"The archive's manifest.json is not valid: {problem}. Refusing to import it."
        )


def record_problem(record: TaskRecord) -> str | None:
    """Why a registered task cannot be shown or used (its files are gone, or its fields do not
    fit :data:`TASK_SCHEMA`, e.g. imported by an older version), or ``None``."""
    if record.status == BROKEN:
        return "its model files are missing"
    return schema_problem(record.describe(), TASK_SCHEMA)
