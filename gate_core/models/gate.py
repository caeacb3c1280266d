"""The multi-task GATE model: shared encoder + per-task modules + scalers inside the model.

Why scalers are buffers: predictions must come back in the user's units from the checkpoint
alone; a scaler saved beside the model can be lost or mismatched, one inside it cannot.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from gate_core.data.collate import BatchMolGraph
from gate_core.nn.encoder import DMPNNEncoder
from gate_core.nn.task_modules import TaskModules
from gate_core.registries import TASK_TYPES

#: ``measured``: an experimental property, predicted for the user; ``computed``: a descriptor
#: family (backbone v2), a vector-valued source that lends its geometry but is not a property.
TASK_KINDS = ("measured", "computed")
#: How a source's kind reads in the app and in tables.
SOURCE_KIND_LABELS = {"measured": "experimental", "computed": "computed descriptors"}


@dataclass
class TaskInfo:
    """What a task is, in the user's words (name, unit, type, description).

    ``outputs`` names the components of a vector-valued task (a descriptor family); it is empty
    for an ordinary scalar task.
    """

    name: str
    unit: str = ""
    task_type: str = "regression"
    description: str = ""
    kind: str = "measured"
    outputs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        TASK_TYPES.check(self.task_type)
        if self.kind not in TASK_KINDS:
            raise ValueError(f"kind must be one of {TASK_KINDS}, got {self.kind!r}")

    @property
    def width(self) -> int:
        """Number of head outputs: 1 for a scalar task."""
        return max(1, len(self.outputs))

    @property
    def output_names(self) -> list[str]:
        """Column names of this task's outputs: the task name, or ``family:descriptor``."""
        return [f"{self.name}:{o}" for o in self.outputs] if self.outputs else [self.name]


@dataclass
class GATEConfig:
    """Everything needed to rebuild the architecture from a checkpoint's JSON alone."""

    atom_dim: int
    bond_dim: int
    tasks: list[TaskInfo]
    hidden: int = 300
    depth: int = 3
    dropout: float = 0.0
    latent_dim: int = 64
    task_hidden: int = 128
    n_descriptors: int = 0
    featurizer_version: str = ""
    descriptor_set_version: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def representation_dim(self) -> int:
        return self.hidden + self.n_descriptors

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    @property
    def output_names(self) -> list[str]:
        return [name for t in self.tasks for name in t.output_names]

    @property
    def property_names(self) -> list[str]:
        """The scalar, measured tasks: what a backbone predicts for a user."""
        return [t.name for t in self.tasks if t.kind == "measured" and not t.outputs]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GATEConfig:
        data = dict(data)
        data["tasks"] = [TaskInfo(**t) for t in data["tasks"]]
        return cls(**data)


class GATEModel(nn.Module):
    r"""Shared D-MPNN encoder plus one :class:`TaskModules` per source task.

    .. math:: h = [\,\mathrm{DMPNN}(G) \,\|\, (d - \mu_d)/\sigma_d\,]

    where ``d`` are the fast RDKit descriptors (absent when ``n_descriptors = 0``).

    A task may be vector-valued (a descriptor family): its head has ``width`` outputs. Scalers
    and the classification flag are per output column; ``output_task`` maps a column to its task.

    Shapes (T tasks, C ≥ T output columns):
        - :meth:`representation`: graph batch (B molecules), descriptors (B, n_descriptors) → (B, D)
        - :meth:`latents`: (B, D) → z, u each (T, B, latent_dim)
        - :meth:`heads`: z (T, B, latent_dim) → (B, C)
        - :meth:`predict_scaled`: (B, D) → (B, C) standardised predictions (logits for classification)
    """

    def __init__(self, config: GATEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = DMPNNEncoder(
            config.atom_dim, config.bond_dim, config.hidden, config.depth, config.dropout
        )
        self.tasks = nn.ModuleDict(
            {
                t.name: TaskModules(
                    config.representation_dim,
                    config.latent_dim,
                    config.task_hidden,
                    config.dropout,
                    t.width,
                )
                for t in config.tasks
            }
        )
        n_outputs = len(config.output_names)
        self.register_buffer("descriptor_mean", torch.zeros(config.n_descriptors))
        self.register_buffer("descriptor_std", torch.ones(config.n_descriptors))
        self.register_buffer("y_mean", torch.zeros(n_outputs))
        self.register_buffer("y_std", torch.ones(n_outputs))
        self.register_buffer(
            "classification",
            torch.tensor(
                [t.task_type == "classification" for t in config.tasks for _ in range(t.width)],
                dtype=torch.bool,
            ),
        )
        self.register_buffer(
            "output_task",
            torch.tensor([k for k, t in enumerate(config.tasks) for _ in range(t.width)]),
            persistent=False,
        )
        #: Each source's skill at its own property on held-out molecules (R², or 2·AUC − 1 for
        #: classification; a family's mean R²), filled by pre-training and by
        #: :func:`~gate_core.models.checkpoint.load_checkpoint`; empty when unknown. Task addition
        #: uses it to leave out sources that carry nothing to transfer (:mod:`transfer.ratios`).
        self.source_skill: dict[str, float] = {}

    @property
    def task_names(self) -> list[str]:
        return self.config.task_names

    @property
    def output_names(self) -> list[str]:
        return self.config.output_names

    @property
    def property_names(self) -> list[str]:
        return self.config.property_names

    def property_columns(self) -> list[int]:
        """Output columns of :attr:`property_names`, in that order."""
        outputs = self.output_names
        return [outputs.index(name) for name in self.property_names]

    def output_columns(self, task: str) -> list[int]:
        """Indices of ``task``'s columns in :meth:`predict_scaled`'s output."""
        k = self.task_names.index(task)
        return [c for c, owner in enumerate(self.output_task.tolist()) if owner == k]

    def set_scalers(
        self,
        y_mean: np.ndarray,
        y_std: np.ndarray,
        descriptor_mean: np.ndarray | None = None,
        descriptor_std: np.ndarray | None = None,
    ) -> None:
        """Store the fitted target (and descriptor) scalers; classification tasks keep 0/1."""
        y_mean = torch.as_tensor(y_mean, dtype=torch.float32).clone()
        y_std = torch.as_tensor(y_std, dtype=torch.float32).clone()
        y_mean[self.classification.cpu()] = 0.0
        y_std[self.classification.cpu()] = 1.0
        self.y_mean.copy_(y_mean)
        self.y_std.copy_(y_std)
        if descriptor_mean is not None and descriptor_std is not None:
            self.descriptor_mean.copy_(torch.as_tensor(descriptor_mean, dtype=torch.float32))
            self.descriptor_std.copy_(torch.as_tensor(descriptor_std, dtype=torch.float32))

    def representation(
        self, graph: BatchMolGraph, descriptors: torch.Tensor | None
    ) -> torch.Tensor:
        h = self.encoder(graph)
        if self.config.n_descriptors:
            if descriptors is None:
                raise ValueError("this backbone was trained with descriptors; pass them")
            scaled = ((descriptors - self.descriptor_mean) / self.descriptor_std).clamp(-10.0, 10.0)
            h = torch.cat([h, scaled], dim=1)
        return h

    def latents(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.stack([m.latent(h) for m in self.tasks.values()])
        u = torch.stack([m.chart(z[k]) for k, m in enumerate(self.tasks.values())])
        return z, u

    def heads(self, z: torch.Tensor) -> torch.Tensor:
        """Every task's head on its own latent, as output columns (B, C)."""
        return torch.cat([m.head_columns(z[k]) for k, m in enumerate(self.tasks.values())], dim=1)

    def predict_scaled(self, h: torch.Tensor) -> torch.Tensor:
        z, _ = self.latents(h)
        return self.heads(z)

    def unscale(self, scaled: torch.Tensor, columns: list[int] | None = None) -> torch.Tensor:
        """Standardised outputs → user units (probabilities for classification tasks).

        ``columns``: the output columns ``scaled`` holds (e.g. :meth:`property_columns`); default all.
        """
        index = (
            slice(None) if columns is None else torch.as_tensor(columns, device=self.y_std.device)
        )
        values = scaled * self.y_std[index] + self.y_mean[index]
        return torch.where(self.classification[index], torch.sigmoid(scaled), values)
