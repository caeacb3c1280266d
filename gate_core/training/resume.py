"""Resumable pre-training: the state after the last finished epoch, saved beside the output.

Why: the shipped backbone takes up to 90 minutes on a 2-core CPU, and a GPU run on the full
corpus longer; an interruption must cost one epoch, not the run. The state is written with the
same atomic, pickle-free writer as checkpoints (safetensors + JSON), and is used only when the
config and the data hash match the run being started.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from gate_core.models.checkpoint import write_weights_directory
from gate_core.training.early_stopping import EarlyStopping
from gate_core.training.engine import Progress

STATE_WEIGHTS = "resume.safetensors"
STATE_DOCUMENT = "resume.json"


def _same(a: dict, b: dict) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def save_resume_state(
    directory: Path,
    state: Progress,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    stopper: EarlyStopping,
    config: dict,
    data_hash: str,
) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    counters, best = stopper.state()
    if best is not None:
        tensors.update({f"best.{k}": v.detach().cpu().contiguous() for k, v in best.items()})
    opt = optimizer.state_dict()
    scalars: dict[str, dict] = {}
    for pid, entries in opt["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"opt.{pid}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[name] = value
    document = {
        "epoch": state.epoch,
        "history": state.history,
        "train_seconds": state.train_seconds,
        "config": json.loads(json.dumps(config, default=str)),
        "data_hash": data_hash,
        "stopper": counters,
        "optimizer": {"param_groups": opt["param_groups"], "scalars": scalars},
    }
    write_weights_directory(directory, {STATE_WEIGHTS: tensors}, {STATE_DOCUMENT: document})


def load_resume_state(
    directory: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    stopper: EarlyStopping,
    config: dict,
    data_hash: str,
) -> Progress | None:
    """Restore model, optimizer and early stopping from ``directory``; None when absent or from another run."""
    if not (directory / STATE_DOCUMENT).is_file() or not (directory / STATE_WEIGHTS).is_file():
        return None
    document = json.loads((directory / STATE_DOCUMENT).read_text())
    if document.get("data_hash") != data_hash or not _same(
        document.get("config", {}), json.loads(json.dumps(config, default=str))
    ):
        return None
    tensors = load_file(str(directory / STATE_WEIGHTS))
    device = next(model.parameters()).device
    model.load_state_dict(
        {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    )
    best = {
        k[len("best.") :]: v.to(device) for k, v in tensors.items() if k.startswith("best.")
    } or None
    stopper.load_state(document["stopper"], best)
    opt_state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            opt_state.setdefault(int(pid), {})[name] = value.to(device)
    for pid, entries in document["optimizer"]["scalars"].items():
        opt_state.setdefault(int(pid), {}).update(entries)
    optimizer.load_state_dict(
        {"state": opt_state, "param_groups": document["optimizer"]["param_groups"]}
    )
    return Progress(document["epoch"], document["history"], document["train_seconds"])
