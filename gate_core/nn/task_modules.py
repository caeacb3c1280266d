"""The four small per-task networks of GATE: encoder E_k, chart T_k, inverse chart T_k⁻¹, head H_k.

Why smooth activations in T_k / T_k⁻¹: the chart is meant to be a local diffeomorphism onto a
common, locally flat space; SiLU keeps it differentiable so distances there mean something.
"""

from __future__ import annotations

import torch
from torch import nn


def mlp(
    in_dim: int, hidden: int, out_dim: int, activation: type[nn.Module], dropout: float = 0.0
) -> nn.Sequential:
    """Two-layer perceptron ``in → hidden → out``."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden), activation(), nn.Dropout(dropout), nn.Linear(hidden, out_dim)
    )


class TaskModules(nn.Module):
    r"""One task's modules.

    .. math::
        z_k = E_k(h), \quad u_k = T_k(z_k), \quad \hat z_k = T_k^{-1}(u_k), \quad \hat y_k = H_k(z_k)

    Shapes:
        - ``h``: (B, in_dim) shared representation
        - ``z``, ``u``: (B, latent_dim) task latent and common-chart point
        - output of :meth:`head`: (B,) standardised prediction (a logit for classification), or
          (B, width) for a vector-valued task (a descriptor family); :meth:`head_columns` is
          always (B, width)
    """

    def __init__(
        self,
        in_dim: int,
        latent_dim: int = 64,
        hidden: int = 128,
        dropout: float = 0.0,
        width: int = 1,
    ) -> None:
        super().__init__()
        self.in_dim, self.latent_dim, self.hidden, self.width = in_dim, latent_dim, hidden, width
        self.encoder = mlp(in_dim, hidden, latent_dim, nn.ReLU, dropout)
        self.transfer = mlp(latent_dim, hidden, latent_dim, nn.SiLU)
        self.inverse_transfer = mlp(latent_dim, hidden, latent_dim, nn.SiLU)
        self.head_net = mlp(latent_dim, hidden, width, nn.ReLU, dropout)

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                module.reset_parameters()

    def latent(self, h: torch.Tensor) -> torch.Tensor:
        return self.encoder(h)

    def chart(self, z: torch.Tensor) -> torch.Tensor:
        return self.transfer(z)

    def inverse_chart(self, u: torch.Tensor) -> torch.Tensor:
        return self.inverse_transfer(u)

    def head(self, z: torch.Tensor) -> torch.Tensor:
        out = self.head_net(z)
        return out.squeeze(-1) if self.width == 1 else out

    def head_columns(self, z: torch.Tensor) -> torch.Tensor:
        return self.head_net(z)

    def __repr__(self) -> str:
        width = f", width={self.width}" if self.width != 1 else ""
        return f"{self.__class__.__name__}(in_dim={self.in_dim}, latent_dim={self.latent_dim}, hidden={self.hidden}{width})"
