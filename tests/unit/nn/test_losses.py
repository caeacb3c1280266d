"""gate_core.nn.losses: the five GATE loss forms, masking, and the pairwise = 2T/(T−1)·mean identity."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gate_core.nn.losses import (
    alignment_loss,
    autoencoder_loss,
    chart_distances,
    masked_task_loss,
    pair_mse,
)


def _data(B=6, T=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.randn(B, T, generator=g)
    mask = torch.rand(B, T, generator=g) < 0.5
    mask[0] = True  # every task has at least one label
    return target, mask, g


def test_masked_loss_zero_when_masked_entries_match_even_with_garbage_elsewhere():
    target, mask, g = _data()
    pred = torch.where(mask, target, torch.full_like(target, 1e6))
    assert masked_task_loss(pred, target, mask).item() == 0.0


def test_masked_loss_nonzero_when_a_masked_entry_is_wrong():
    target, mask, _ = _data()
    pred = target.clone()
    pred[0, 1] += 2.0
    loss = masked_task_loss(pred, target, mask)
    # task 1's MSE is 4 / n_1, averaged over 3 tasks
    n1 = mask[:, 1].sum()
    assert loss.item() == pytest.approx(4.0 / n1.item() / 3)


def test_masked_loss_is_mean_of_per_task_means():
    target, mask, g = _data(B=8, T=4, seed=3)
    pred = torch.randn(8, 4, generator=g)
    expected = torch.stack(
        [((pred[mask[:, k], k] - target[mask[:, k], k]) ** 2).mean() for k in range(4)]
    ).mean()
    torch.testing.assert_close(masked_task_loss(pred, target, mask), expected)


def test_tasks_without_labels_are_ignored():
    target, mask, g = _data()
    mask[:, 2] = False
    pred = torch.randn(target.shape, generator=g)
    expected = torch.stack(
        [((pred[mask[:, k], k] - target[mask[:, k], k]) ** 2).mean() for k in range(2)]
    ).mean()
    torch.testing.assert_close(masked_task_loss(pred, target, mask), expected)


def test_no_labels_at_all_gives_zero_with_graph():
    pred = torch.randn(4, 2, requires_grad=True)
    loss = masked_task_loss(pred, torch.zeros(4, 2), torch.zeros(4, 2, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert pred.grad is not None and torch.equal(pred.grad, torch.zeros(4, 2))


def test_gradient_only_through_masked_entries():
    target, mask, g = _data()
    pred = torch.randn(target.shape, generator=g, requires_grad=True)
    masked_task_loss(pred, target, mask).backward()
    assert torch.all(pred.grad[~mask] == 0)
    assert torch.all(pred.grad[mask] != 0)


def test_classification_tasks_use_bce():
    g = torch.Generator().manual_seed(1)
    pred = torch.randn(5, 2, generator=g)
    target = torch.tensor([[1.0, 0.3], [0.0, -1.2], [1.0, 2.0], [0.0, 0.1], [1.0, 0.5]])
    mask = torch.ones(5, 2, dtype=torch.bool)
    classification = torch.tensor([True, False])
    expected = (
        F.binary_cross_entropy_with_logits(pred[:, 0], target[:, 0])
        + F.mse_loss(pred[:, 1], target[:, 1])
    ) / 2
    torch.testing.assert_close(masked_task_loss(pred, target, mask, classification), expected)
    # all-False classification is plain MSE
    mse = masked_task_loss(pred, target, mask, torch.tensor([False, False]))
    torch.testing.assert_close(mse, ((pred - target) ** 2).mean(0).mean())


def test_autoencoder_loss():
    z = torch.randn(3, 4, 5)
    assert autoencoder_loss(z, z.clone()).item() == 0.0
    assert autoencoder_loss(z, z + 0.5).item() == pytest.approx(0.25)


def test_alignment_zero_when_tasks_agree():
    point = torch.randn(1, 6, 4)
    stacked = point.expand(3, 6, 4).clone()
    for form in ("mean", "pairwise"):
        assert alignment_loss(stacked, form).item() == pytest.approx(0.0, abs=1e-12)
        assert alignment_loss(stacked + torch.randn_like(stacked), form).item() > 0


def test_alignment_zero_for_single_task_with_graph():
    stacked = torch.randn(1, 5, 3, requires_grad=True)
    for form in ("mean", "pairwise"):
        loss = alignment_loss(stacked, form)
        assert loss.item() == 0.0
        assert loss.requires_grad


def test_alignment_two_tasks_by_hand():
    a, b = torch.zeros(1, 2, 2), torch.ones(1, 2, 2)
    stacked = torch.cat([a, b])
    assert alignment_loss(stacked, "pairwise").item() == pytest.approx(1.0)
    assert alignment_loss(stacked, "mean").item() == pytest.approx(0.25)
    assert pair_mse(a, b).item() == pytest.approx(1.0)


@pytest.mark.parametrize("T", [2, 3, 5, 8])
@pytest.mark.parametrize("shape", [(7, 4), (3, 6)])
def test_pairwise_equals_scaled_mean(T, shape):
    stacked = torch.randn(
        T, *shape, generator=torch.Generator().manual_seed(T), dtype=torch.float64
    )
    pairwise = alignment_loss(stacked, "pairwise")
    mean = alignment_loss(stacked, "mean")
    torch.testing.assert_close(pairwise, 2 * T / (T - 1) * mean)


def test_unknown_form_raises():
    with pytest.raises(ValueError, match="unknown alignment form"):
        alignment_loss(torch.randn(2, 3), "cubic")


def test_chart_distances_normalised_by_noise_norm():
    u = torch.zeros(2, 3)
    u_perturbed = torch.tensor(
        [[[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]]
    )  # (M=2, B=2, L=3)
    noise_norm = torch.tensor([[5.0, 0.5], [2.0, 4.0]])
    expected = torch.tensor([[1.0, 2.0], [0.5, 0.5]])
    torch.testing.assert_close(chart_distances(u, u_perturbed, noise_norm), expected)
    # scaling u's displacement and the noise together leaves the stretch unchanged
    torch.testing.assert_close(chart_distances(u, 10 * u_perturbed, 10 * noise_norm), expected)
    # zero noise is clamped, not a division by zero
    assert torch.isfinite(chart_distances(u, u_perturbed, torch.zeros(2, 2))).all()


def test_a_vector_valued_task_counts_once_in_the_task_average():
    """Columns of one task (a descriptor family) are averaged first, so 3 columns weigh as 1 task."""
    import torch

    from gate_core.nn.losses import masked_task_loss

    pred = torch.zeros(4, 4)
    target = torch.tensor(
        [[1.0, 0.0, 0.0, 0.0]] * 4
    )  # task 0 (column 0) errs by 1; the family (1-3) is exact
    mask = torch.ones(4, 4, dtype=torch.bool)
    column_task = torch.tensor([0, 1, 1, 1])
    assert masked_task_loss(pred, target, mask, None, column_task).item() == 0.5
    assert masked_task_loss(pred, target, mask).item() == 0.25  # per column: 1 of 4
    mask[:, 0] = False  # a task without labels in the batch drops out of the mean
    assert masked_task_loss(pred, target, mask, None, column_task).item() == 0.0
