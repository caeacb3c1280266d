"""gate_core.transfer.objective: the task-addition loss (DESIGN §4) and where its gradients go.

The key construction: a new task whose modules are a copy of source s's, trained towards the
source's own frozen predictions, *is* source s — every alignment term against s must vanish.
l_cons and l_dis vanish for any copied module. l_map also compares a prediction made through
T⁻¹(T(z)) with one made from z, so for it to vanish exactly the copied source's charts are first
set to the exact identity, using SiLU(x) − SiLU(−x) = x:

    T(z) = [I, −I] · SiLU([I; −I] · z)  =  z      (needs task_hidden ≥ 2 · latent_dim)
"""

from __future__ import annotations

import copy

import pytest
import torch

from gate_core.nn.task_modules import TaskModules
from gate_core.training.objective import LossWeights
from gate_core.transfer.frozen import compute_frozen_sources
from gate_core.transfer.objective import TaskAdditionLoss


@pytest.fixture(scope="module")
def frozen(backbone, canonical_targets):
    return compute_frozen_sources(backbone, canonical_targets[:24], noise_samples=3)


def _new_task(backbone, seed=0) -> TaskModules:
    torch.manual_seed(seed)
    cfg = backbone.config
    return TaskModules(cfg.representation_dim, cfg.latent_dim, cfg.task_hidden)


def _set_identity(mlp: torch.nn.Sequential) -> None:
    """Make Linear → SiLU → Dropout → Linear compute exactly x ↦ x."""
    first, last = mlp[0], mlp[-1]
    latent, hidden = first.in_features, first.out_features
    assert hidden >= 2 * latent
    eye = torch.eye(latent)
    with torch.no_grad():
        first.weight.zero_()
        first.bias.zero_()
        first.weight[:latent] = eye
        first.weight[latent : 2 * latent] = -eye
        last.weight.zero_()
        last.bias.zero_()
        last.weight[:, :latent] = eye
        last.weight[:, latent : 2 * latent] = -eye


def _labels(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=g), torch.ones(n, dtype=torch.bool)


def test_terms_are_finite_with_the_right_shapes(backbone, frozen):
    y, mask = _labels(len(frozen))
    mask[::3] = False  # some molecules unlabelled
    loss = TaskAdditionLoss(_new_task(backbone), backbone, LossWeights(), classification=False)
    reg, auto, align = loss(frozen, y, mask)
    assert reg.shape == () and auto.shape == ()
    assert align.shape == (loss.n_sources,) == (len(backbone.task_names),)
    for value in (reg, auto, align):
        assert bool(torch.isfinite(value).all())
    assert reg.item() > 0 and auto.item() > 0 and bool((align > 0).all())


def test_classification_terms_are_finite(backbone, frozen):
    y = (torch.arange(len(frozen)) % 2).float()
    loss = TaskAdditionLoss(_new_task(backbone), backbone, LossWeights(), classification=True)
    reg, auto, align = loss(frozen, y, torch.ones(len(frozen), dtype=torch.bool))
    assert bool(torch.isfinite(torch.cat([reg[None], auto[None], align])).all())
    # BCE of logits near 0 against 0/1 labels is about log 2, far from an MSE of ~1 - y
    assert 0.3 < reg.item() < 2.0


def test_masked_labels_do_not_count(backbone, frozen):
    y, mask = _labels(len(frozen))
    mask[: len(frozen) // 2] = False
    loss = TaskAdditionLoss(_new_task(backbone), backbone, LossWeights(), classification=False)
    reg, _, align = loss(frozen, y, mask)
    y_changed = y.clone()
    y_changed[~mask] = 1e3  # values under the mask must not matter
    reg2, _, align2 = loss(frozen, y_changed, mask)
    torch.testing.assert_close(reg, reg2)
    torch.testing.assert_close(align, align2)


def test_only_the_new_task_gets_gradients(backbone, frozen):
    model = copy.deepcopy(backbone)  # frozen as task addition freezes it
    before = {k: v.clone() for k, v in model.state_dict().items()}
    task = _new_task(model)
    loss = TaskAdditionLoss(task, model, LossWeights(), classification=False)
    assert {name.split(".")[0] for name, _ in loss.named_parameters()} == {"task"}
    assert sum(p.numel() for p in loss.parameters()) == sum(p.numel() for p in task.parameters())
    y, mask = _labels(len(frozen))
    opt = torch.optim.Adam(loss.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        reg, auto, align = loss(frozen, y, mask)
        (reg + auto + align.sum()).backward()
        for name, p in task.named_parameters():
            assert p.grad is not None and bool(p.grad.abs().sum() > 0), (
                f"new task {name} got no gradient"
            )
        for name, p in model.named_parameters():
            assert p.grad is None, f"backbone {name} got a gradient"
        opt.step()
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f"backbone {k} changed"


def test_alignment_to_a_copied_source_vanishes_for_cons_and_dis(backbone, frozen):
    """A copy of source s lands on s's chart points and stretches like s: l_cons(t,s) = l_dis(t,s) = 0."""
    s = 2
    task = copy.deepcopy(backbone.tasks[backbone.task_names[s]]).requires_grad_(True)
    y, mask = _labels(len(frozen))
    for weights in (
        LossWeights(cons=1.0, map=0.0, dis=0.0),
        LossWeights(cons=0.0, map=0.0, dis=1.0),
    ):
        align = TaskAdditionLoss(task, backbone, weights, classification=False)(frozen, y, mask)[2]
        assert align[s].item() < 1e-10, weights
        others = [a for k, a in enumerate(align.tolist()) if k != s]
        assert min(others) > 1e-6, "the other sources differ from s and must not align for free"


def test_alignment_to_an_identical_source_vanishes(backbone, canonical_targets):
    """New task ≡ source s (identity charts) and y = s's frozen prediction ⇒ A_s = 0, and only A_s."""
    s = 1
    model = copy.deepcopy(backbone)
    source = model.tasks[model.task_names[s]]
    _set_identity(source.transfer)
    _set_identity(source.inverse_transfer)
    frozen = compute_frozen_sources(model, canonical_targets[:24], noise_samples=3)
    z, _ = model.latents(frozen.h)
    torch.testing.assert_close(frozen.u[s], z[s], rtol=0, atol=1e-6)  # the chart is the identity

    task = copy.deepcopy(source).requires_grad_(True)
    y, mask = frozen.y_hat[s, :, 0].clone(), torch.ones(len(frozen), dtype=torch.bool)
    align = TaskAdditionLoss(
        task, model, LossWeights(cons=1.0, map=1.0, dis=1.0), classification=False
    )(frozen, y, mask)[2]
    assert align[s].item() < 1e-10
    assert min(a for k, a in enumerate(align.tolist()) if k != s) > 1e-6

    random_task = _new_task(model, seed=5)
    align_random = TaskAdditionLoss(random_task, model, LossWeights(), classification=False)(
        frozen, y, mask
    )[2]
    assert align_random[s].item() > 1e-3, "a random module must not be aligned with the source"


def test_alignment_subsample_uses_the_first_molecules(backbone, frozen):
    y, mask = _labels(len(frozen))
    task = _new_task(backbone)
    subsampled = TaskAdditionLoss(task, backbone, LossWeights(), False, align_subsample=10)(
        frozen, y, mask
    )
    index = torch.arange(10)
    on_first = TaskAdditionLoss(task, backbone, LossWeights(), False, align_subsample=64)(
        frozen.subset(index), y[:10], mask[:10]
    )
    torch.testing.assert_close(subsampled[2], on_first[2])
    full = TaskAdditionLoss(task, backbone, LossWeights(), False, align_subsample=64)(
        frozen, y, mask
    )
    torch.testing.assert_close(
        subsampled[0], full[0]
    )  # l_reg and l_auto always use the whole batch
    torch.testing.assert_close(subsampled[1], full[1])


def test_inner_loss_is_reg_plus_auto_plus_weighted_alignment(backbone, frozen):
    y, mask = _labels(len(frozen))
    loss = TaskAdditionLoss(
        _new_task(backbone), backbone, LossWeights(auto=0.5), classification=False
    )
    reg, auto, align = loss(frozen, y, mask)
    lam = torch.tensor([0.0, 0.5, 2.0, 1.0])
    torch.testing.assert_close(
        loss.inner_loss(frozen, y, mask, lam), reg + 0.5 * auto + (lam * align).sum()
    )


def test_inner_loss_with_zero_ratios_skips_alignment(backbone, frozen, monkeypatch):
    y, mask = _labels(len(frozen))
    loss = TaskAdditionLoss(
        _new_task(backbone), backbone, LossWeights(auto=0.5), classification=False
    )
    reg, auto, _ = loss(frozen, y, mask)
    expected = reg + 0.5 * auto

    def no_alignment(*args, **kwargs):
        raise AssertionError("the alignment terms were computed although every ratio is 0")

    monkeypatch.setattr(loss, "forward", no_alignment)
    torch.testing.assert_close(
        loss.inner_loss(frozen, y, mask, torch.zeros(loss.n_sources)), expected
    )


def test_validation_loss_is_the_plain_task_loss(backbone, frozen):
    y, _ = _labels(len(frozen))
    task = _new_task(backbone)
    loss = TaskAdditionLoss(task, backbone, LossWeights(), classification=False)
    with torch.no_grad():
        expected = ((task.head(task.latent(frozen.h)) - y) ** 2).mean()
        torch.testing.assert_close(loss.validation_loss(frozen, y), expected)


def test_frozen_source_readout_matches_each_source_module(backbone) -> None:
    """The batched readout must equal H_s(T_s⁻¹(u)) computed module by module."""
    from gate_core.transfer.objective import FrozenSourceReadout

    sources = list(backbone.tasks.values())
    u = torch.randn(7, backbone.config.latent_dim)
    expected = torch.stack(
        [m.head_columns(m.inverse_chart(u)) for m in sources]
    )  # (S, B, 1): scalar sources
    assert torch.allclose(FrozenSourceReadout(sources)(u), expected, atol=1e-5)


def test_a_batch_carrying_sources_only_for_its_aligned_molecules_gives_the_same_loss(
    backbone, frozen
):
    """Training steps gather the source quantities only for the molecules the alignment terms
    read (``subset(index, align)``); the loss must equal the one from a full gather."""
    index = torch.randperm(len(frozen), generator=torch.Generator().manual_seed(1))[:20]
    y, mask = _labels(20)
    loss = TaskAdditionLoss(_new_task(backbone), backbone, LossWeights(), False, align_subsample=8)
    full = loss(frozen.subset(index), y, mask)
    lean = frozen.subset(index, align=8)
    assert lean.h.shape[0] == 20 and lean.u.shape[1] == 8, "only h keeps every molecule"
    for a, b in zip(full, loss(lean, y, mask)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
