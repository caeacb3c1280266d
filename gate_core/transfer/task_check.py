"""Vetting a saved added task before anyone relies on it: its files, then a trial prediction.

Why: a task folder may come from an untrusted archive or from training on hostile labels. An
imported ``task.json`` with an extra keyword broke every prediction; one with a huge width
asked for a 4 TB allocation; labels beyond float32 trained a task that predicted NaN for every
molecule and was still marked ready. So before a task is registered (trained or imported) and
before a registered one is used, :func:`check_task_folder` checks the metadata's schema, checks
every tensor's shape against the declared architecture *from the file header* (nothing is
allocated yet), loads it, and predicts a reference molecule, which must give finite numbers.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open

from gate_core.models.gate import GATEModel, TaskInfo
from gate_core.nn.task_modules import TaskModules
from gate_core.registries import TASK_TYPES
from gate_core.transfer.added_task import METADATA_FILE, WEIGHTS_FILE, AddedTask, AddedTaskError
from gate_core.validation import schema_problem

#: Phenol: a small organic molecule every backbone can featurise.
REFERENCE_SMILES = "Oc1ccccc1"
#: Widths and ensemble sizes far above anything task addition trains (hidden 128, K ≤ 10).
MAX_WIDTH = 4_096
MAX_MEMBERS = 64

_COUNT = {"type": "integer", "minimum": 0, "maximum": MAX_MEMBERS}
_WIDTH = {"type": "integer", "minimum": 1, "maximum": MAX_WIDTH}
#: The fields :meth:`AddedTask.load` reads; further keys are free-form task metadata.
TASK_FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "format_version",
        "info",
        "architecture",
        "n_members",
        "y_mean",
        "y_std",
        "domain",
        "backbone_id",
    ],
    "properties": {
        "format_version": {"type": "integer"},
        "info": {  # exactly TaskInfo's fields: an unknown one would make loading raise
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {
                **{f.name: {} for f in dataclasses.fields(TaskInfo)},
                "name": {"type": "string", "maxLength": 200},
                "unit": {"type": "string", "maxLength": 100},
                "task_type": {"enum": TASK_TYPES.names},
                "description": {"type": "string", "maxLength": 10_000},
            },
        },
        "architecture": {
            "type": "object",
            "additionalProperties": False,
            "required": ["in_dim", "latent_dim", "hidden"],
            "properties": {"in_dim": _WIDTH, "latent_dim": _WIDTH, "hidden": _WIDTH},
        },
        "n_members": {**_COUNT, "minimum": 1},
        "n_probe_members": _COUNT,
        "y_mean": {"type": "number"},
        "y_std": {"type": "number", "exclusiveMinimum": 0},
        "domain": {
            "type": "object",
            "additionalProperties": False,
            "required": ["threshold", "neighbours"],
            "properties": {
                "threshold": {"type": "number", "exclusiveMinimum": 0},
                "neighbours": {"type": "integer", "minimum": 1, "maximum": 1_000},
            },
        },
        "backbone_id": {"type": "string", "maxLength": 200},
        "model": {"enum": ["gate", "probe", "preview"]},
    },
}


def _expected_shapes(meta: dict[str, Any], backbone: GATEModel) -> dict[str, tuple[int, ...]]:
    """Tensor name → shape the declared architecture needs (built on the meta device: no memory)."""
    arch = meta["architecture"]
    if (arch["in_dim"], arch["latent_dim"]) != (
        backbone.config.representation_dim,
        backbone.config.latent_dim,
    ):
        raise AddedTaskError(
            f"its architecture (in {arch['in_dim']}, latent {arch['latent_dim']}) does not fit the backbone "
            f"(in {backbone.config.representation_dim}, latent {backbone.config.latent_dim})"
        )
    with torch.device("meta"):
        shapes = {
            name: tuple(p.shape)
            for name, p in TaskModules(arch["in_dim"], arch["latent_dim"], arch["hidden"])
            .state_dict()
            .items()
        }
    expected = {
        f"{kind}{k}.{name}": shape
        for kind, count in (
            ("member", meta["n_members"]),
            ("probe", meta.get("n_probe_members", 0)),
        )
        for k in range(count)
        for name, shape in shapes.items()
    }
    return expected


def _check_tensors(path: Path, expected: dict[str, tuple[int, ...]], latent_dim: int) -> None:
    try:
        with safe_open(str(path / WEIGHTS_FILE), framework="pt") as weights:
            found = {name: tuple(weights.get_slice(name).get_shape()) for name in weights.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise AddedTaskError(f"{WEIGHTS_FILE} is missing or corrupt ({exc})") from exc
    reference = found.pop("domain.reference", None)
    if reference is None or len(reference) != 2 or reference[1] != latent_dim:
        raise AddedTaskError(f"its domain reference has shape {reference}, not (n, {latent_dim})")
    if found != expected:
        wrong = sorted(set(found) ^ set(expected)) or sorted(
            k for k in found if found[k] != expected[k]
        )
        raise AddedTaskError(f"its weights do not match its architecture ({', '.join(wrong[:3])})")


def check_task_folder(path: str | Path, backbone: GATEModel, backbone_id: str) -> AddedTask:
    """Return the task saved in ``path`` once it has proved usable; raise :class:`AddedTaskError` saying why not."""
    path = Path(path)
    try:
        meta = json.loads((path / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AddedTaskError(f"{METADATA_FILE} is missing or unreadable ({exc})") from exc
    if problem := schema_problem(meta, TASK_FILE_SCHEMA):
        raise AddedTaskError(f"{METADATA_FILE} is not valid: {problem}")
    _check_tensors(path, _expected_shapes(meta, backbone), backbone.config.latent_dim)
    try:
        task = AddedTask.load(path, backbone_id)
        trial = task.predict(backbone, [REFERENCE_SMILES])
    except AddedTaskError:
        raise
    except Exception as exc:  # whatever a damaged file makes loading or predicting raise
        raise AddedTaskError(
            f"it cannot be loaded or predict ({type(exc).__name__}: {exc})"
        ) from exc
    values = trial[["mean", "std"]].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise AddedTaskError(
            f"it predicts {values[0, 0]} for {REFERENCE_SMILES}, which is not a finite number "
            "(are the labels far outside the range a model can learn?)"
        )
    return task
