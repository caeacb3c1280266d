"""Everything upstream of a new task is frozen, so compute it once per molecule set.

Why: task addition trains only a few MLPs. The shared representation h, every source task's
latent z_s, chart point u_s, frozen prediction ŷ_s and local stretch profile under a fixed set
of noise draws do not change while the new task trains — recomputing them every step would
make adding a task minutes instead of seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gate_core.models.gate import GATEModel
from gate_core.nn.losses import chart_distances
from gate_core.training.evaluate import embed


@dataclass
class FrozenSources:
    """Cached frozen quantities for N molecules and S source tasks.

    Shapes: ``h`` (N, D); ``u`` (S, N, L); ``y_hat`` (S, N, W) standardised source
    predictions, W the widest source head (a descriptor family), narrower heads zero-padded; ``noise`` (M, N, D) fixed perturbations of h; ``noise_norm`` (M, N);
    ``stretch`` (S, M, N) = ‖u_s(h) − u_s(h+ε)‖ / ‖ε‖.
    """

    h: torch.Tensor
    u: torch.Tensor
    y_hat: torch.Tensor
    noise: torch.Tensor
    noise_norm: torch.Tensor
    stretch: torch.Tensor

    def __len__(self) -> int:
        return self.h.shape[0]

    def subset(self, index: torch.Tensor, align: int | None = None) -> FrozenSources:
        """The molecules at ``index``; with ``align``, the source quantities only for the first
        ``align`` of them (all the alignment terms read), which saves most of a training step's
        copying. Such a subset is consumed through :meth:`first`."""
        part = index if align is None else index[:align]
        return FrozenSources(
            self.h[index],
            self.u[:, part],
            self.y_hat[:, part],
            self.noise[:, part],
            self.noise_norm[:, part],
            self.stretch[:, :, part],
        )

    def first(self, n: int) -> FrozenSources:
        """The first ``n`` molecules, as views (no copy)."""
        return FrozenSources(
            self.h[:n],
            self.u[:, :n],
            self.y_hat[:, :n],
            self.noise[:, :n],
            self.noise_norm[:, :n],
            self.stretch[:, :, :n],
        )

    @property
    def common_chart(self) -> torch.Tensor:
        """(N, L) mean of the source chart points: where a molecule sits in the common chart."""
        return self.u.mean(dim=0)


def pad_columns(outputs: list[torch.Tensor]) -> torch.Tensor:
    """Stack per-source (N, w_s) outputs into (S, N, max w), zero-padding the narrower ones."""
    width = max(o.shape[-1] for o in outputs)
    return torch.stack([torch.nn.functional.pad(o, (0, width - o.shape[-1])) for o in outputs])


@torch.no_grad()
def compute_frozen_sources(
    backbone: GATEModel,
    smiles: list[str],
    *,
    noise_samples: int = 4,
    noise_scale: float = 0.05,
    seed: int = 0,
    h: torch.Tensor | None = None,
) -> FrozenSources:
    """Run the frozen backbone once over ``smiles`` (canonical) and cache what task addition needs."""
    backbone.eval()
    if h is None:
        h = embed(backbone, smiles)
    z, u = backbone.latents(h)
    modules = list(backbone.tasks.values())
    y_hat = pad_columns([m.head_columns(z[k]) for k, m in enumerate(modules)])
    generator = torch.Generator(device="cpu").manual_seed(seed)
    sigma = (
        noise_scale * h.std(dim=0, keepdim=True).clamp(min=1e-6)
        if len(h) > 1
        else torch.full_like(h, noise_scale)
    )
    noise = (torch.randn((noise_samples, *h.shape), generator=generator).to(h.device)) * sigma
    noise_norm = torch.linalg.vector_norm(noise, dim=-1)
    noisy = h.unsqueeze(0) + noise
    stretch = torch.stack(
        [chart_distances(u[k], m.chart(m.latent(noisy)), noise_norm) for k, m in enumerate(modules)]
    )
    return FrozenSources(h, u, y_hat, noise, noise_norm, stretch)
