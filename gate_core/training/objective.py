"""The full multi-task GATE objective as a module, so DDP can wrap one forward that does it all.

l = l_reg + α·l_auto + β·l_cons + γ·l_map + δ·l_dis (DESIGN §2). Every term is returned
separately so the per-epoch log can show each one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from gate_core.data.collate import MoleculeBatch
from gate_core.models.gate import GATEModel
from gate_core.nn.losses import alignment_loss, autoencoder_loss, chart_distances, masked_task_loss

LOSS_TERMS = ("reg", "auto", "cons", "map", "dis")


@dataclass
class LossWeights:
    """α, β, γ, δ of DESIGN §2 and the l_dis noise; all-zero alignment gives plain multi-task."""

    auto: float = 1.0
    cons: float = 1.0
    map: float = 1.0
    dis: float = 1.0
    noise_samples: int = 4
    noise_scale: float = 0.05  # σ as a fraction of each h dimension's spread in the batch

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def aligned(self) -> bool:
        return any(w > 0 for w in (self.auto, self.cons, self.map, self.dis))


class GATEObjective(nn.Module):
    """Computes every loss term for one batch. ``form`` is ``mean`` (scalable) or ``pairwise``."""

    def __init__(self, model: GATEModel, weights: LossWeights, form: str = "mean") -> None:
        super().__init__()
        self.model = model
        self.weights = weights
        self.form = form

    def forward(self, batch: MoleculeBatch) -> dict[str, torch.Tensor]:
        model, w = self.model, self.weights
        modules = list(model.tasks.values())
        n_tasks = len(modules)
        h = model.representation(batch.graph, batch.descriptors)
        z, u = model.latents(h)
        pred = model.heads(z)
        terms = {
            "reg": masked_task_loss(
                pred, batch.y, batch.mask, model.classification, model.output_task
            )
        }
        zero = pred.sum() * 0.0
        if not w.aligned:
            terms.update({name: zero for name in LOSS_TERMS[1:]})
            terms["total"] = terms["reg"]
            return terms

        z_rec = torch.stack([m.inverse_chart(u[k]) for k, m in enumerate(modules)])
        terms["auto"] = autoencoder_loss(z, z_rec)
        terms["cons"] = alignment_loss(u, self.form)
        terms["map"] = self._mapping_loss(modules, u, batch) if n_tasks > 1 else zero
        terms["dis"] = self._distance_loss(modules, h, u) if n_tasks > 1 else zero
        terms["total"] = (
            terms["reg"]
            + w.auto * terms["auto"]
            + w.cons * terms["cons"]
            + w.map * terms["map"]
            + w.dis * terms["dis"]
        )
        return terms

    def _mapping_loss(self, modules: list, u: torch.Tensor, batch: MoleculeBatch) -> torch.Tensor:
        """Predict task k from task j's chart point: H_k(T_k⁻¹(u_j)) against y_k."""
        n_tasks = len(modules)
        model = self.model
        if self.form == "pairwise":
            losses = []
            for j in range(n_tasks):
                via_j = torch.cat(
                    [m.head_columns(m.inverse_chart(u[j])) for m in modules], dim=1
                )  # (B, C)
                mask = batch.mask & (model.output_task != j).unsqueeze(
                    0
                )  # k = j is the plain prediction
                losses.append(
                    masked_task_loss(via_j, batch.y, mask, model.classification, model.output_task)
                )
            return torch.stack(losses).mean()
        # one random partner j ≠ k per task per step
        offset = torch.randint(1, n_tasks, (n_tasks,), device=u.device)
        partner = (torch.arange(n_tasks, device=u.device) + offset) % n_tasks
        via = torch.cat(
            [m.head_columns(m.inverse_chart(u[partner[k]])) for k, m in enumerate(modules)], dim=1
        )
        return masked_task_loss(via, batch.y, batch.mask, model.classification, model.output_task)

    def _distance_loss(self, modules: list, h: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Same neighbourhood shape in every chart: ‖T_k(E_k(h)) − T_k(E_k(h+ε))‖ agrees across k."""
        w = self.weights
        sigma = w.noise_scale * h.detach().std(dim=0, keepdim=True).clamp(min=1e-6)
        noise = sigma * torch.randn((w.noise_samples, *h.shape), device=h.device)
        noisy, noise_norm = h.unsqueeze(0) + noise, torch.linalg.vector_norm(noise, dim=-1)
        distances = torch.stack(
            [
                chart_distances(u[k], m.chart(m.latent(noisy)), noise_norm)
                for k, m in enumerate(modules)
            ]
        )
        return alignment_loss(distances, self.form)
