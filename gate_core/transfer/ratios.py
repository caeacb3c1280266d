"""Transfer ratios λ_s = softplus(φ_s) and their one-step look-ahead hypergradient (DESIGN §5).

For θ' = θ − η ∇_θ L_in(θ; λ) and L_in linear in λ,

    ∂L_val(θ')/∂λ_s = −η · ⟨ ∇_θ A_s(θ), ∇_θ L_val(θ') ⟩

We get all S inner products with ONE forward-mode pass: the Jacobian-vector product of
θ ↦ A(θ) ∈ R^S in the direction v = ∇_θ L_val(θ'). That keeps the outer step O(1) backward
passes whatever the number of sources (the cost per added task stays O(S) in compute, not in
passes). ``tests/unit/transfer/test_ratios.py`` checks it against finite differences.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import torch
from torch.func import functional_call, jvp

from gate_core.registries import DEFAULT_RATIO_MODE, RATIO_MODES
from gate_core.transfer.frozen import FrozenSources
from gate_core.transfer.objective import TaskAdditionLoss
from gate_core.transfer.options import PINNED_RATIO

_SOFTPLUS_INV_ONE = math.log(math.e - 1.0)  # softplus(φ) = 1


@dataclass
class RatioSettings:
    """How λ is chosen: a mode for all sources, plus per-source pins and exclusions.

    ``pinned`` values are fixed at the given λ; ``excluded`` sources get λ = 0; both are never
    learned. In ``uniform`` mode every other source has λ = 1, in ``off`` λ = 0. A source both
    pinned and excluded is refused here, so no interface can let one of the two win silently.
    """

    mode: str = DEFAULT_RATIO_MODE
    pinned: dict[str, float] = field(default_factory=dict)
    excluded: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        RATIO_MODES.check(self.mode)
        both = sorted(set(self.pinned) & set(self.excluded))
        if both:
            raise ValueError(f"a source cannot be both pinned and excluded: {', '.join(both)}")
        for name, value in self.pinned.items():
            try:
                PINNED_RATIO.check(value)
            except ValueError as exc:
                raise ValueError(f"pinned ratio for {name}: {exc}") from None

    def validate(self, sources: list[str]) -> None:
        """Refuse pins and exclusions of sources the backbone does not have."""
        for name in [*self.pinned, *self.excluded]:
            if name not in sources:
                raise ValueError(
                    f"unknown source task {name!r}; the backbone has: {', '.join(sources)}"
                )


#: Held-out skill (R²) at or below which a source's own head predicts its property no better than
#: its mean: such a source carries nothing to transfer.
MIN_SOURCE_SKILL = 0.0


def without_unskilled(
    settings: RatioSettings, skill: Mapping[str, float]
) -> tuple[RatioSettings, list[str]]:
    """In ``learned`` mode, also exclude (λ = 0) sources whose ``skill`` is ≤ MIN_SOURCE_SKILL.

    Why: a head fitted to noise is a random function of the shared representation, and on a
    target it can explain a share of the variance by chance (27 % in
    ``tests/integration/test_transfer_ratio_planted.py``), which the transferability start and the
    look-ahead then reward. Whether the source predicts *its own* property on held-out molecules
    is the check that no chance correlation passes. Pins and exclusions the user made stand;
    ``uniform`` and ``off`` are left as asked. Returns the settings and the sources left out.
    """
    if settings.mode != "learned":
        return settings, []
    unskilled = [
        name
        for name, value in skill.items()
        if value <= MIN_SOURCE_SKILL
        and name not in settings.pinned
        and name not in settings.excluded
    ]
    return replace(settings, excluded=[*settings.excluded, *unskilled]), unskilled


def transferability(
    y_hat: torch.Tensor, widths: list[int], y: torch.Tensor, ridge: float = 1e-3
) -> torch.Tensor:
    """Per source: leave-one-out R² of a ridge regression of the target on the source's frozen prediction.

    Why: the look-ahead hypergradient alone raises a pure-noise source as much as a noisy copy
    of the target (``tests/integration/test_transfer_ratio_planted.py``): at λ ≈ 1 both alignment
    gradients barely touch the validation loss. Whether the source's own property (a scalar, or
    a descriptor family's vector) linearly explains the target on the training molecules is a
    direct, cheap measure of what the source can lend; the learner starts from it and refines.
    Closed form: LOO residual = e_i / (1 − h_ii) of the ridge hat matrix.

    Shapes: ``y_hat`` (S, N, W) zero-padded source outputs; ``y`` (N,) → (S,) R², clipped at 0.
    """
    y = y.to(torch.float64)
    n = y.shape[0]
    total = ((y - y.mean()) ** 2).mean().clamp(min=1e-12)
    scores = []
    for s, width in enumerate(widths):
        x = torch.cat(
            [
                y_hat[s, :, :width].to(torch.float64),
                torch.ones(n, 1, dtype=torch.float64, device=y.device),
            ],
            dim=1,
        )
        x = (x - torch.cat([x[:, :-1].mean(0), x.new_zeros(1)])) / torch.cat(
            [x[:, :-1].std(0).clamp(min=1e-8), x.new_ones(1)]
        )
        gram = x.T @ x + ridge * n * torch.diag(torch.cat([x.new_ones(width), x.new_zeros(1)]))
        hat = x @ torch.linalg.solve(gram, x.T)
        residual = (y - hat @ y) / (1.0 - torch.diagonal(hat)).clamp(min=1e-6)
        scores.append((1.0 - (residual**2).mean() / total).clamp(min=0.0))
    return torch.stack(scores).to(torch.float32)


def ratios_from_scores(scores: torch.Tensor, floor: float = 0.02) -> torch.Tensor:
    """λ proportional to the scores with mean 1 (the uniform λ's total), at least ``floor``; all 1 when no score is positive."""
    if not bool((scores > 0).any()):
        return torch.ones_like(scores)
    return (scores * len(scores) / scores.sum()).clamp(min=floor)


class TransferRatios(torch.nn.Module):
    """λ for S sources: learnable φ where allowed, fixed values elsewhere."""

    def __init__(self, sources: list[str], settings: RatioSettings) -> None:
        super().__init__()
        settings.validate(sources)
        self.sources = sources
        fixed = torch.full((len(sources),), 1.0 if settings.mode != "off" else 0.0)
        learnable = torch.full((len(sources),), settings.mode == "learned", dtype=torch.bool)
        for i, name in enumerate(sources):
            if name in settings.excluded:
                fixed[i], learnable[i] = 0.0, False
            elif name in settings.pinned:
                fixed[i], learnable[i] = float(settings.pinned[name]), False
        self.register_buffer("fixed", fixed)
        self.register_buffer("learnable", learnable)
        self.phi = torch.nn.Parameter(torch.full((len(sources),), _SOFTPLUS_INV_ONE))

    @property
    def any_learnable(self) -> bool:
        return bool(self.learnable.any())

    @torch.no_grad()
    def start_from(self, ratios: torch.Tensor) -> None:
        """Set the learnable λ to ``ratios`` (> 0), e.g. from :func:`transferability`, before refining them."""
        self.phi.copy_(torch.log(torch.expm1(ratios.to(self.phi).clamp(min=1e-4))))

    def forward(self) -> torch.Tensor:
        return torch.where(self.learnable, torch.nn.functional.softplus(self.phi), self.fixed)


def lookahead_hypergradient(
    loss: TaskAdditionLoss,
    ratios: torch.Tensor,
    train: tuple[FrozenSources, torch.Tensor, torch.Tensor],
    val: tuple[FrozenSources, torch.Tensor],
    eta: float,
) -> torch.Tensor:
    """∂L_val(θ − η∇L_in(θ; λ))/∂λ, shape (S,), at the task module's current θ."""
    params = {k: v.detach() for k, v in loss.named_parameters()}
    names = list(params)

    def align_only(p: dict[str, torch.Tensor]) -> torch.Tensor:
        return functional_call(loss, p, args=train, strict=True)[2]

    theta = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    reg, auto, align = functional_call(loss, theta, args=train, strict=True)
    inner_loss = reg + loss.weights.auto * auto + (ratios.detach() * align).sum()
    grads = torch.autograd.grad(inner_loss, [theta[k] for k in names], allow_unused=True)
    theta_next = {
        k: (params[k] - eta * g if g is not None else params[k]).requires_grad_(True)
        for k, g in zip(names, grads)
    }
    val_loss = functional_call(_ValidationView(loss), theta_next, args=val, strict=True)
    v_grads = torch.autograd.grad(val_loss, [theta_next[k] for k in names], allow_unused=True)
    direction = {
        k: (g if g is not None else torch.zeros_like(params[k])) for k, g in zip(names, v_grads)
    }
    _, directional = jvp(align_only, (params,), (direction,))
    return -eta * directional


class _ValidationView(torch.nn.Module):
    """Exposes ``loss.validation_loss`` as ``forward`` so ``functional_call`` can swap θ."""

    def __init__(self, loss: TaskAdditionLoss) -> None:
        super().__init__()
        self.task = loss.task
        self._loss = [loss]

    def forward(self, frozen: FrozenSources, y: torch.Tensor) -> torch.Tensor:
        return self._loss[0].validation_loss(frozen, y)
