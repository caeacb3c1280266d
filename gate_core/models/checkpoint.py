"""Checkpoint = ``model.safetensors`` (weights, no pickle) + ``metadata.json`` (everything else).

Why safetensors: loading a checkpoint someone sent you must never execute code. The JSON holds
the architecture config (so the file rebuilds the model by itself), task units and scalers,
featuriser version, data hash, metrics and code version, readable without torch.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import gate_core
from gate_core.featurizers.descriptors import DESCRIPTOR_SET_VERSION
from gate_core.featurizers.graph import FEATURIZER_VERSION
from gate_core.models.gate import GATEConfig, GATEModel

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
METADATA_FILE = "metadata.json"


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt or incompatible with this code."""


def save_checkpoint(model: GATEModel, out_dir: str | Path, metadata: dict | None = None) -> Path:
    """Write weights + metadata into ``out_dir`` atomically (a temp dir renamed into place)."""
    meta = {
        "format_version": FORMAT_VERSION,
        "code_version": gate_core.__version__,
        "featurizer_version": FEATURIZER_VERSION,
        "descriptor_set_version": DESCRIPTOR_SET_VERSION,
        "config": model.config.to_dict(),
        "scalers": {
            name: {"mean": float(model.y_mean[i]), "std": float(model.y_std[i])}
            for i, name in enumerate(model.output_names)
        },
        **(metadata or {}),
    }
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return write_weights_directory(out_dir, {WEIGHTS_FILE: state}, {METADATA_FILE: meta})


def write_weights_directory(
    out_dir: str | Path, weights: dict[str, dict[str, torch.Tensor]], documents: dict[str, dict]
) -> Path:
    """Write safetensors files and JSON documents into ``out_dir`` atomically.

    Why: a crash mid-write must never leave a half-written checkpoint where a good one stood.
    Everything goes into a temp dir beside ``out_dir``, which is then renamed into place (the
    previous directory is moved aside first and removed only after the swap).
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=out_dir.parent))
    try:
        for name, tensors in weights.items():
            save_file(tensors, str(tmp / name))
        for name, document in documents.items():
            (tmp / name).write_text(json.dumps(document, indent=1, sort_keys=True, default=float))
        tmp.chmod(0o755)
        if out_dir.exists():
            old = out_dir.with_name(out_dir.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def read_metadata(path: str | Path) -> dict:
    """The checkpoint's JSON, validated for format and featuriser compatibility."""
    path = Path(path)
    meta_path = path / METADATA_FILE
    if not meta_path.is_file():
        raise CheckpointError(f"{path} is not a GATE checkpoint: {METADATA_FILE} is missing")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{meta_path} is corrupt: {exc}") from exc
    if not isinstance(meta, dict) or "config" not in meta:
        raise CheckpointError(f"{meta_path} is not GATE checkpoint metadata (no 'config')")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {meta.get('format_version')!r}; this code reads format {FORMAT_VERSION}"
        )
    if meta.get("featurizer_version") != FEATURIZER_VERSION:
        raise CheckpointError(
            f"{path} was trained with featuriser {meta.get('featurizer_version')!r}, this code has {FEATURIZER_VERSION!r}; "
            "rebuild the backbone (make backbone)"
        )
    return meta


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[GATEModel, dict]:
    """Rebuild the model from its JSON config and load the weights; clear errors otherwise."""
    path = Path(path)
    meta = read_metadata(path)
    try:
        config = GATEConfig.from_dict(meta["config"])
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: the architecture config cannot be rebuilt: {exc}") from exc
    model = GATEModel(config)
    weights_path = path / WEIGHTS_FILE
    if not weights_path.is_file():
        raise CheckpointError(f"{path}: {WEIGHTS_FILE} is missing")
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights_path} is corrupt: {exc}") from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{weights_path} does not match its config: {exc}") from exc
    model.eval()
    model.source_skill = source_skill(meta.get("pretraining") or {})
    return model.to(device), meta


def source_skill(pretraining: dict) -> dict[str, float]:
    """Each source's held-out skill at its own property from a checkpoint's pre-training record:
    R² of a measured regression task, 2·AUC − 1 of a classification one (0 = chance, as R² = 0
    is the mean's), a descriptor family's mean R² over its columns; sources without a test
    score are left out (unknown)."""
    skill: dict[str, float] = {}
    for name, m in (pretraining.get("test_metrics") or {}).items():
        value = m.get("r2") if "r2" in m else 2.0 * m["roc_auc"] - 1.0 if "roc_auc" in m else None
        if value is not None and math.isfinite(value):
            skill[name] = float(value)
    for family, m in (pretraining.get("family_test_metrics") or {}).items():
        if math.isfinite(m.get("r2_mean", math.nan)):
            skill[family] = float(m["r2_mean"])
    return skill
