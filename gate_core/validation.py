"""Checking untrusted JSON against a JSON Schema, with a message that names the field.

Why its own module: the registry checks archive manifests and stored records, task addition
checks a task's own metadata file; both layers need the same check and neither may import
the other.
"""

from __future__ import annotations

from typing import Any

import jsonschema


def schema_problem(value: Any, schema: dict[str, Any]) -> str | None:
    """The first way ``value`` breaks ``schema``, in words naming the field; ``None`` when it fits."""
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(value)
    )
    if error is None:
        return None
    where = "/".join(map(str, error.absolute_path)) or "the top level"
    return f"field '{where}': {error.message[:200]}"
