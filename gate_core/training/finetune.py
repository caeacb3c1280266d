"""Conventional transfer: fine-tune the whole backbone encoder with a new task head (DESIGN §8 (c)).

Why it exists: task addition (``gate_core.transfer``) keeps the backbone frozen; the benchmark
has to show what that costs or gains against the usual alternative, which retrains the shared
encoder too. This is that alternative, kept small: copy the backbone's encoder and descriptor
scaler into a one-task :class:`GATEModel`, attach a fresh :class:`TaskModules`, and train both
with l_reg only — the encoder at a low learning rate (so pre-training is not forgotten in the
first steps), the new module at a normal one — with early stopping on a validation fold.

The backbone passed in is never modified: the result is a separate model, an ordinary
checkpointable :class:`GATEModel` with exactly one task.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from gate_core.data.collate import MoleculeDataset
from gate_core.data.featurize import featurize_molecules
from gate_core.featurizers.molecule import parse_smiles
from gate_core.models.checkpoint import load_checkpoint
from gate_core.models.gate import GATEModel, TaskInfo
from gate_core.nn.losses import masked_task_loss
from gate_core.training.engine import FitConfig, Step, fit
from gate_core.training.evaluate import predict as predict_model


@dataclass
class FinetuneConfig:
    """Knobs of fine-tuning; the defaults are the benchmark's conventional-transfer baseline."""

    encoder_lr: float = 1e-4
    head_lr: float = 1e-3
    weight_decay: float = 0.0
    epochs: int = 60
    patience: int = 10
    batch_size: int = 32
    seed: int = 0
    max_minutes: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FinetuneResult:
    """The fine-tuned one-task model and how training went (one record per epoch)."""

    model: GATEModel
    history: list[dict]
    best_epoch: int
    best_val_loss: float
    train_seconds: float

    @property
    def task_name(self) -> str:
        return self.model.task_names[0]

    def predict(self, smiles: list[str]) -> np.ndarray:
        """(N,) predictions in the task's units (probabilities for classification)."""
        return predict_model(self.model, _canonical(smiles))[:, 0]


def _canonical(smiles: list[object]) -> list[str]:
    out = []
    for i, s in enumerate(smiles):
        parsed = parse_smiles(s)
        if not parsed.ok:
            raise ValueError(f"row {i + 1}: {parsed.error}")
        out.append(parsed.smiles)
    return out


def new_task_model(backbone: GATEModel, info: TaskInfo) -> GATEModel:
    """A one-task :class:`GATEModel` with the backbone's encoder and descriptor scaler copied in.

    Same architecture as the backbone (hidden, depth, latent and task sizes, descriptors); the
    new task's modules are freshly initialised. Nothing is shared with ``backbone``.
    """
    config = dataclasses.replace(copy.deepcopy(backbone.config), tasks=[copy.deepcopy(info)])
    model = GATEModel(config).to(backbone.descriptor_mean.device)
    model.encoder.load_state_dict(backbone.encoder.state_dict())
    model.descriptor_mean.copy_(backbone.descriptor_mean)
    model.descriptor_std.copy_(backbone.descriptor_std)
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def _loss_on(model: GATEModel, loader: DataLoader, device: torch.device) -> float:
    total, count = 0.0, 0
    for batch in loader:
        batch = batch.to(device)
        pred = model.predict_scaled(model.representation(batch.graph, batch.descriptors))
        n = int(batch.mask.sum())
        total += float(masked_task_loss(pred, batch.y, batch.mask, model.classification)) * n
        count += n
    return total / max(count, 1)


def finetune(
    backbone: GATEModel | str | Path,
    smiles: list[object],
    values: list[float] | np.ndarray,
    val_smiles: list[object],
    val_values: list[float] | np.ndarray,
    info: TaskInfo | str = "new_task",
    config: FinetuneConfig | None = None,
) -> FinetuneResult:
    r"""Fine-tune the backbone's encoder together with a new task head.

    Loss: l_reg only, i.e. :math:`\mathrm{MSE}(H_t(E_t(h_\theta)), y)` on standardised targets
    (BCE on logits for a classification task), where :math:`h_\theta` is the backbone's encoder
    output (plus its fixed-scaled RDKit descriptors). Adam with two parameter groups: the
    encoder at ``config.encoder_lr``, the new task's modules at ``config.head_lr``. The epoch
    with the lowest validation loss is kept (early stopping after ``config.patience`` epochs
    without improvement).

    ``backbone`` is a model or a checkpoint directory; it is not modified. SMILES are parsed
    and canonicalised; an unparsable one raises ``ValueError`` (this is a library call for
    benchmarks and notebooks, not the user-facing upload path).
    """
    config = config or FinetuneConfig()
    info = TaskInfo(info) if isinstance(info, str) else copy.deepcopy(info)
    if isinstance(backbone, (str, Path)):
        backbone, _ = load_checkpoint(backbone)
    smiles, val_smiles = _canonical(smiles), _canonical(val_smiles)
    y = np.asarray(values, dtype=np.float64)
    y_val = np.asarray(val_values, dtype=np.float64)
    if len(smiles) != len(y) or len(val_smiles) != len(y_val):
        raise ValueError("each SMILES list needs exactly one value per molecule")
    if len(smiles) < 2 or len(val_smiles) < 1:
        raise ValueError("fine-tuning needs at least 2 training and 1 validation molecule")
    classification = info.task_type == "classification"
    mean, std = (0.0, 1.0) if classification else (float(y.mean()), float(y.std() or 1.0))

    torch.manual_seed(config.seed)
    model = new_task_model(backbone, info)
    model.set_scalers(np.array([mean]), np.array([std]))
    device = next(model.parameters()).device
    with_descriptors = model.config.n_descriptors > 0

    graphs, descriptors = featurize_molecules(smiles, descriptors=with_descriptors)
    val_graphs, val_descriptors = featurize_molecules(val_smiles, descriptors=with_descriptors)
    train_set = MoleculeDataset(graphs, descriptors, ((y - mean) / std)[:, None])
    val_set = MoleculeDataset(val_graphs, val_descriptors, ((y_val - mean) / std)[:, None])
    generator = torch.Generator().manual_seed(config.seed)
    train_loader = DataLoader(
        train_set,
        batch_size=config.batch_size,
        shuffle=True,
        generator=generator,
        collate_fn=train_set.collate,
    )
    val_loader = DataLoader(val_set, batch_size=256, collate_fn=val_set.collate)

    task_params = list(model.tasks.parameters())
    optimizer = torch.optim.Adam(
        [
            {"params": model.encoder.parameters(), "lr": config.encoder_lr},
            {"params": task_params, "lr": config.head_lr},
        ],
        weight_decay=config.weight_decay,
    )

    def step(batch: object) -> Step:
        pred = model.predict_scaled(model.representation(batch.graph, batch.descriptors))
        loss = masked_task_loss(pred, batch.y, batch.mask, model.classification)
        return Step(loss, {"loss": loss}, batch.graph.num_graphs)

    fitted = fit(
        model,
        optimizer,
        lambda _: train_loader,
        step,
        lambda _: {"loss": _loss_on(model, val_loader, device)},
        FitConfig(config.epochs, config.patience, monitor="loss", max_minutes=config.max_minutes),
        device=device,
    )
    return FinetuneResult(
        model, fitted.history, fitted.best_epoch, fitted.best_score, fitted.train_seconds
    )
