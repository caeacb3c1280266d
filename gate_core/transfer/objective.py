"""The task-addition objective (DESIGN §4) with one alignment loss per source task.

    L_in = l_reg(t) + α·l_auto(t) + Σ_s λ_s · A_s,   A_s = β·l_cons(t,s) + γ·l_map(t,s) + δ·l_dis(t,s)

Only the new task's modules carry gradients; every source quantity comes from the
:class:`FrozenSources` cache, except l_map's second direction, which must run the frozen source
inverse charts and heads on the new task's chart point. ``forward`` returns the per-source
vector A (S,) separately because the transfer-ratio hypergradient needs it on its own.
"""

from __future__ import annotations

import torch
from torch import nn

from gate_core.models.gate import GATEModel
from gate_core.nn.losses import autoencoder_loss, chart_distances, masked_task_loss
from gate_core.nn.task_modules import TaskModules
from gate_core.training.objective import LossWeights
from gate_core.transfer.frozen import FrozenSources


def _masked_mse_per_source(
    pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, classification: bool
) -> torch.Tensor:
    """(S, N) predictions of one target against y (N,) under mask (N,) → (S,) losses."""
    if classification:
        err = nn.functional.binary_cross_entropy_with_logits(
            pred, y.expand_as(pred), reduction="none"
        )
    else:
        err = (pred - y) ** 2
    maskf = mask.to(pred.dtype)
    return (err * maskf).sum(dim=1) / maskf.sum().clamp(min=1.0)


class FrozenSourceReadout:
    """H_s(T_s⁻¹(u)) for all S frozen sources at once, as one chain of batched matmuls.

    Why: l_map's second direction runs every source's inverse chart and head on the new chart
    point at every step; S small MLP calls (and their backward) dominated task-addition time.
    The stacked weights are detached copies: the sources are frozen by construction. Heads of
    different widths (descriptor families) are zero-padded to the widest; ``column_mask`` says
    which outputs are real.

    Shapes: ``u`` (B, L) → (S, B, W); ``column_mask`` (S, W).
    """

    def __init__(self, sources: list[TaskModules]) -> None:
        width = max(m.width for m in sources)

        def stacked(
            layer: str, index: int, pad_to: int | None = None
        ) -> tuple[torch.Tensor, torch.Tensor]:
            linears = [getattr(m, layer)[index] for m in sources]
            weights = [lin.weight.detach() for lin in linears]  # (out, in)
            biases = [lin.bias.detach() for lin in linears]
            if pad_to is not None:
                weights = [nn.functional.pad(w, (0, 0, 0, pad_to - w.shape[0])) for w in weights]
                biases = [nn.functional.pad(b, (0, pad_to - b.shape[0])) for b in biases]
            return torch.stack(weights).transpose(1, 2), torch.stack(biases).unsqueeze(
                1
            )  # (S, in, out), (S, 1, out)

        self.inverse_in, self.inverse_out = (
            stacked("inverse_transfer", 0),
            stacked("inverse_transfer", 3),
        )
        self.head_in, self.head_out = stacked("head_net", 0), stacked("head_net", 3, pad_to=width)
        widths = torch.tensor([m.width for m in sources], device=self.head_out[0].device)
        self.column_mask = torch.arange(width, device=widths.device).unsqueeze(
            0
        ) < widths.unsqueeze(1)

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        x = u.unsqueeze(0).expand(self.inverse_in[0].shape[0], -1, -1)
        x = torch.baddbmm(self.inverse_in[1], x, self.inverse_in[0])
        x = torch.baddbmm(
            self.inverse_out[1], nn.functional.silu(x), self.inverse_out[0]
        )  # T_s⁻¹(u)
        x = torch.baddbmm(self.head_in[1], x, self.head_in[0])
        return torch.baddbmm(self.head_out[1], torch.relu(x), self.head_out[0])  # H_s(·), (S, B, W)


class TaskAdditionLoss(nn.Module):
    """Loss of one new task against S frozen sources. Its only parameters are ``task``'s.

    Shapes of ``forward`` inputs: ``frozen`` for B molecules; ``y`` (B,) standardised target
    (0/1 for classification); ``mask`` (B,) True where labelled. Returns (l_reg, l_auto, A (S,)).
    """

    def __init__(
        self,
        task: TaskModules,
        backbone: GATEModel,
        weights: LossWeights,
        classification: bool,
        align_subsample: int = 64,
    ) -> None:
        super().__init__()
        self.task = task
        self.weights = weights
        self.classification = classification
        self.align_subsample = align_subsample
        # not a submodule: the frozen sources are not parameters of this loss
        self._sources = FrozenSourceReadout(list(backbone.tasks.values()))
        self._n_sources = len(backbone.tasks)

    @property
    def n_sources(self) -> int:
        return self._n_sources

    def forward(
        self, frozen: FrozenSources, y: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        w, task = self.weights, self.task
        z = task.latent(frozen.h)
        u = task.chart(z)
        pred = task.head(z)
        cls = torch.tensor([self.classification], device=pred.device)
        reg = masked_task_loss(pred[:, None], y[:, None], mask[:, None], cls)
        auto = autoencoder_loss(z, task.inverse_chart(u))
        # The alignment terms cost ~S times the rest; on the first ``align_subsample`` molecules
        # of the (already random) batch they are an unbiased estimate at a fraction of the cost.
        if frozen.h.shape[0] > self.align_subsample:
            keep = slice(0, self.align_subsample)
            frozen = frozen.first(self.align_subsample)
            z, u, y, mask = z[keep], u[keep], y[keep], mask[keep]

        cons = ((u.unsqueeze(0) - frozen.u) ** 2).mean(dim=(1, 2))  # (S,)
        # l_map, direction 1: the new head reads each source's chart point, against the labels
        via_source = task.head(task.inverse_chart(frozen.u))  # (S, B)
        map_in = _masked_mse_per_source(via_source, y, mask, self.classification)
        # direction 2: each frozen source head reads the new chart point, against its own prediction
        via_new = self._sources(u)  # (S, B, W)
        columns = self._sources.column_mask.to(via_new.dtype).unsqueeze(1)  # (S, 1, W)
        map_out = (((via_new - frozen.y_hat) ** 2) * columns).sum(dim=2).mean(dim=1) / columns.sum(
            dim=2
        ).squeeze(1)
        stretch = chart_distances(
            u, task.chart(task.latent(frozen.h.unsqueeze(0) + frozen.noise)), frozen.noise_norm
        )
        dis = ((stretch.unsqueeze(0) - frozen.stretch) ** 2).mean(dim=(1, 2))  # (S,)
        align = w.cons * cons + w.map * 0.5 * (map_in + map_out) + w.dis * dis
        return reg, auto, align

    def inner_loss(
        self, frozen: FrozenSources, y: torch.Tensor, mask: torch.Tensor, ratios: torch.Tensor
    ) -> torch.Tensor:
        if not bool((ratios > 0).any()):  # ratios off: skip the alignment terms entirely
            task = self.task
            z = task.latent(frozen.h)
            cls = torch.tensor([self.classification], device=z.device)
            reg = masked_task_loss(task.head(z)[:, None], y[:, None], mask[:, None], cls)
            return reg + self.weights.auto * autoencoder_loss(z, task.inverse_chart(task.chart(z)))
        reg, auto, align = self(frozen, y, mask)
        return reg + self.weights.auto * auto + (ratios * align).sum()

    def validation_loss(self, frozen: FrozenSources, y: torch.Tensor) -> torch.Tensor:
        """What the outer problem minimises: the new task's own loss on held-out labels."""
        pred = self.task.head(self.task.latent(frozen.h))
        cls = torch.tensor([self.classification], device=pred.device)
        return masked_task_loss(
            pred[:, None], y[:, None], torch.ones_like(y, dtype=torch.bool)[:, None], cls
        )
