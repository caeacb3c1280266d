"""gate_core.training.objective: every GATE loss term on a tiny batch, and where its gradients go."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gate_core.data.scaler import StandardScaler
from gate_core.nn.losses import masked_task_loss
from gate_core.training.objective import LOSS_TERMS, GATEObjective, LossWeights


@pytest.mark.parametrize("form", ["mean", "pairwise"])
def test_all_terms_finite_and_total_is_weighted_sum(tiny_model, tiny_batch, form):
    model, batch = tiny_model(), tiny_batch()
    weights = LossWeights(auto=2.0, cons=0.0, map=0.5, dis=3.0)
    torch.manual_seed(0)
    terms = GATEObjective(model, weights, form)(batch)
    assert set(terms) == {*LOSS_TERMS, "total"}
    for name, value in terms.items():
        assert value.shape == () and torch.isfinite(value), name
    for name in ("reg", "auto", "cons", "map", "dis"):
        assert terms[name].item() > 0, name
    expected = terms["reg"] + 2.0 * terms["auto"] + 0.5 * terms["map"] + 3.0 * terms["dis"]
    torch.testing.assert_close(terms["total"], expected)


def test_no_alignment_weights_give_exact_zeros(tiny_model, tiny_batch):
    model, batch = tiny_model(), tiny_batch()
    weights = LossWeights(0, 0, 0, 0)
    assert not weights.aligned
    terms = GATEObjective(model, weights)(batch)
    for name in ("auto", "cons", "map", "dis"):
        assert terms[name].item() == 0.0, name
    assert terms["reg"].item() > 0
    assert torch.equal(terms["total"], terms["reg"])


def test_reg_term_is_masked_task_loss_of_heads(tiny_model, tiny_batch):
    model, batch = tiny_model(), tiny_batch()
    terms = GATEObjective(model, LossWeights())(batch)
    h = model.representation(batch.graph, batch.descriptors)
    pred = model.predict_scaled(h)
    torch.testing.assert_close(terms["reg"], masked_task_loss(pred, batch.y, batch.mask))


def test_map_nonzero_on_random_model(tiny_model, tiny_batch):
    model, batch = tiny_model(), tiny_batch()
    for form in ("mean", "pairwise"):
        torch.manual_seed(1)
        assert GATEObjective(model, LossWeights(), form)(batch)["map"].item() > 1e-4


def test_pairwise_map_by_hand(tiny_model, tiny_batch):
    model, batch = tiny_model(), tiny_batch()
    terms = GATEObjective(model, LossWeights(), "pairwise")(batch)
    modules = list(model.tasks.values())
    h = model.representation(batch.graph, batch.descriptors)
    _, u = model.latents(h)
    per_source = []
    for j in range(len(modules)):
        losses = []
        for k, m in enumerate(modules):
            if k == j or not batch.mask[:, k].any():
                continue
            sel = batch.mask[:, k]
            losses.append(((m.head(m.inverse_chart(u[j]))[sel] - batch.y[sel, k]) ** 2).mean())
        per_source.append(torch.stack(losses).mean())
    torch.testing.assert_close(terms["map"], torch.stack(per_source).mean())


def test_pairwise_cons_is_scaled_mean_cons(tiny_model, tiny_batch):
    model, batch = tiny_model(tasks=("a", "b", "c", "d")), tiny_batch(n_tasks=4)
    mean = GATEObjective(model, LossWeights(), "mean")(batch)
    pairwise = GATEObjective(model, LossWeights(), "pairwise")(batch)
    torch.testing.assert_close(pairwise["cons"], 2 * 4 / 3 * mean["cons"])
    torch.testing.assert_close(pairwise["auto"], mean["auto"])
    torch.testing.assert_close(pairwise["reg"], mean["reg"])


@pytest.mark.parametrize("form", ["mean", "pairwise"])
def test_gradients_reach_every_task_module_and_encoder(tiny_model, tiny_batch, form):
    model, batch = tiny_model(), tiny_batch()
    GATEObjective(model, LossWeights(), form)(batch)["total"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
    for task, modules in model.tasks.items():
        for name, p in modules.named_parameters():
            assert p.grad.abs().sum() > 0, f"{task}.{name}"
    assert all(p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_alignment_terms_move_the_charts(tiny_model, tiny_batch):
    # cons + dis alone (no labels used) must still send gradient into transfer nets
    model, batch = tiny_model(), tiny_batch()
    terms = GATEObjective(model, LossWeights())(batch)
    (terms["cons"] + terms["dis"]).backward()
    for task, modules in model.tasks.items():
        assert modules.transfer[0].weight.grad.abs().sum() > 0, task
        assert modules.head_net[0].weight.grad is None, task  # heads play no part in alignment


def test_single_task_alignment_terms_are_zero(tiny_model, tiny_batch):
    model, batch = tiny_model(tasks=("a",)), tiny_batch(n_tasks=1)
    terms = GATEObjective(model, LossWeights())(batch)
    assert terms["cons"].item() == 0.0 and terms["map"].item() == 0.0 and terms["dis"].item() == 0.0
    assert terms["auto"].item() > 0


def test_classification_task_runs(tiny_model, tiny_batch):
    model, batch = tiny_model(classification=("b",)), tiny_batch()
    batch.y[:, 1] = (batch.y[:, 1] > 0).float()
    terms = GATEObjective(model, LossWeights())(batch)
    assert all(torch.isfinite(v) for v in terms.values())


def test_overfits_one_batch_with_full_objective(tiny_model, tiny_batch):
    model, batch = tiny_model(), tiny_batch()
    scaler = StandardScaler.fit(batch.descriptors.numpy())
    model.set_scalers(np.zeros(3), np.ones(3), scaler.mean, scaler.std)
    objective = GATEObjective(model, LossWeights())
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    first = objective(batch)["reg"].item()
    for _ in range(80):
        optimizer.zero_grad()
        objective(batch)["total"].backward()
        optimizer.step()
    assert objective(batch)["reg"].item() < 0.3 * first
