"""The five GATE losses (DESIGN §2), each masked to the labels that exist.

Two forms of the alignment losses:

- ``pairwise``: the mean over task pairs (k, j) of MSE(a_k, a_j) — exact, O(T²).
- ``mean``: the mean over tasks of MSE(a_k, ā), ā the mean over tasks — O(T).

They are not two approximations of one another but the same quantity up to a constant:
Σ_{k<j} ‖a_k − a_j‖² = T · Σ_k ‖a_k − ā‖², so pairwise = 2T/(T−1) · mean. The scalable form is
therefore the default; ``tests/unit/nn/test_losses.py`` checks the identity. (``l_map`` is
different: its scalable form samples one random partner per task, an unbiased estimate.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gate_core.registries import ALIGNMENT_FORMS


def masked_task_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    classification: torch.Tensor | None = None,
    column_task: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean over tasks (that have labels) of each task's masked MSE (or BCE for classification).

    Shapes: ``pred``, ``target``, ``mask`` (B, C); ``classification`` (C,) bool or None;
    ``column_task`` (C,) long, the task of each column (None: one column per task).
    Averaging per task first stops the big tasks from drowning the small ones; a vector-valued
    task (a descriptor family of 20 columns) counts as one task, not twenty.
    """
    mse = (pred - target) ** 2
    if classification is not None and bool(classification.any()):
        bce = F.binary_cross_entropy_with_logits(pred, target, reduction="none")
        mse = torch.where(classification.unsqueeze(0), bce, mse)
    maskf = mask.to(pred.dtype)
    per_column_count = maskf.sum(dim=0)
    per_column = (mse * maskf).sum(dim=0) / per_column_count.clamp(min=1.0)
    present = per_column_count > 0
    if not bool(present.any()):
        return pred.sum() * 0.0  # keeps the graph (and DDP) happy when a batch has no labels
    if column_task is None:
        return per_column[present].mean()
    n_tasks = int(column_task.max()) + 1
    presentf = present.to(pred.dtype)
    task_sum = per_column.new_zeros(n_tasks).index_add(0, column_task, per_column * presentf)
    task_count = per_column.new_zeros(n_tasks).index_add(0, column_task, presentf)
    has = task_count > 0
    return (task_sum[has] / task_count[has]).mean()


def autoencoder_loss(z: torch.Tensor, z_reconstructed: torch.Tensor) -> torch.Tensor:
    """l_auto = MSE(T⁻¹(T(z)), z). Shapes: (T, B, L) or (B, L)."""
    return F.mse_loss(z_reconstructed, z)


def pair_mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of two same-shaped tensors (one task pair's alignment term)."""
    return ((a - b) ** 2).mean()


def alignment_loss(stacked: torch.Tensor, form: str = "mean") -> torch.Tensor:
    """Agreement of T per-task tensors, ``stacked`` of shape (T, ...).

    Used for l_cons on chart points (T, B, L) and for l_dis on distance profiles (T, M, B).
    Zero when all tasks agree; zero by definition when T = 1.
    """
    n_tasks = stacked.shape[0]
    if n_tasks < 2:
        return stacked.sum() * 0.0
    if form == "mean":
        return ((stacked - stacked.mean(dim=0, keepdim=True)) ** 2).mean()
    if form == "pairwise":
        total = stacked.new_zeros(())
        for k in range(n_tasks):
            for j in range(k + 1, n_tasks):
                total = total + pair_mse(stacked[k], stacked[j])
        return total / (n_tasks * (n_tasks - 1) / 2)
    ALIGNMENT_FORMS.check(form)  # refuses an unknown form with the choices
    raise AssertionError(f"alignment form {form!r} is registered but not implemented")


def chart_distances(
    u: torch.Tensor, u_perturbed: torch.Tensor, noise_norm: torch.Tensor
) -> torch.Tensor:
    """Local stretch ‖u − u(h+ε)‖ / ‖ε‖ per noise sample and molecule.

    Dividing by ‖ε‖ makes the profile O(1) whatever σ is (raw distances at σ of a few % are
    ~1e-3 and their squared differences vanish next to the other terms); it does not change
    what is asked — equal neighbourhood shape across tasks for the same ε.
    Shapes: u (B, L), u_perturbed (M, B, L), noise_norm (M, B) → (M, B).
    """
    return torch.linalg.vector_norm(u_perturbed - u.unsqueeze(0), dim=-1) / noise_norm.clamp(
        min=1e-12
    )
