"""The relational head on disk: ``relational.safetensors`` (weights, no pickle) + ``relational.json``.

Why its own folder next to the backbone (``assets/backbone_relational/``): the backbone is
unchanged by it, and the head is only valid on the exact backbone it was trained on, whose
fingerprint the JSON records and :func:`load_relational` checks.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

import gate_core
from gate_core.models.checkpoint import write_weights_directory
from gate_core.relational.head import RelationalConfig, RelationalHead

FORMAT_VERSION = 1
WEIGHTS_FILE = "relational.safetensors"
METADATA_FILE = "relational.json"


class RelationalHeadError(RuntimeError):
    """A relational head that is missing, corrupt or belongs to another backbone."""


def save_relational(
    head: RelationalHead, out_dir: str | Path, metadata: dict | None = None
) -> Path:
    """Write weights + JSON into ``out_dir`` atomically (a temp dir renamed into place)."""
    meta = {
        "format_version": FORMAT_VERSION,
        "code_version": gate_core.__version__,
        "config": head.config.to_dict(),
        **(metadata or {}),
    }
    state = {k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}
    return write_weights_directory(out_dir, {WEIGHTS_FILE: state}, {METADATA_FILE: meta})


def load_relational(
    path: str | Path, backbone_id: str | None = None, device: str | torch.device = "cpu"
) -> tuple[RelationalHead, dict]:
    """Rebuild the head from its JSON and load the weights; refuse another backbone's head."""
    path = Path(path)
    meta_path = path / METADATA_FILE
    if not meta_path.is_file():
        raise RelationalHeadError(
            f"no relational head at {path} ({METADATA_FILE} is missing); build it with "
            "`python -m gate_core pretrain-relational --backbone assets/backbone --out assets/backbone_relational` (make relational)"
        )
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RelationalHeadError(f"{meta_path} is corrupt: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        raise RelationalHeadError(
            f"{path}: unknown relational-head format {meta.get('format_version') if isinstance(meta, dict) else None!r}"
        )
    if backbone_id is not None and meta.get("backbone_id") != backbone_id:
        raise RelationalHeadError(
            f"the relational head at {path} was trained on backbone {meta.get('backbone_id')}, but the loaded backbone is "
            f"{backbone_id}; rebuild it with `python -m gate_core pretrain-relational`"
        )
    try:
        head = RelationalHead(RelationalConfig.from_dict(meta["config"]))
        state = load_file(str(path / WEIGHTS_FILE))
        head.load_state_dict(state, strict=True)
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as exc:
        raise RelationalHeadError(
            f"{path / WEIGHTS_FILE} is missing, corrupt or does not match its config: {exc}"
        ) from exc
    except RuntimeError as exc:
        raise RelationalHeadError(
            f"{path / WEIGHTS_FILE} does not match its config: {exc}"
        ) from exc
    head.eval()
    return head.to(device), meta
