"""gate_core.relational.head: exact fallback, batch independence, support-built task nodes."""

from __future__ import annotations

import pytest
import torch

from gate_core.relational.graph import KnownGraph
from gate_core.relational.head import RelationalConfig, RelationalHead, TaskNodes

CHART, TASKS, HIDDEN = 6, 4, 8


@pytest.fixture
def head() -> RelationalHead:
    torch.manual_seed(0)
    head = RelationalHead(
        RelationalConfig(CHART, [f"t{k}" for k in range(TASKS)], hidden=HIDDEN, layers=2)
    )
    # untrained GRUs are close to identity-ish; make the test meaningful with non-trivial weights
    with torch.no_grad():
        for p in head.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return head.eval()


def _batch(n=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    chart = torch.randn(n, CHART, generator=g)
    y = torch.randn(n, TASKS, generator=g)
    plain = y + 0.3 * torch.randn(n, TASKS, generator=g)
    known = torch.rand(n, TASKS, generator=g) < 0.5
    known[0] = False  # molecule 0 has no known label
    return chart, y, plain, known


def test_shapes_and_repr(head):
    chart, y, plain, known = _batch()
    x0 = head.data_features(chart)
    assert x0.shape == (10, HIDDEN)
    graph = KnownGraph.from_mask(y, known, plain)
    assert head.correction(x0, head.backbone_nodes(), graph).shape == (10, TASKS)
    assert head.readout(x0, head.backbone_nodes(), graph).shape == (10, TASKS)
    assert "RelationalHead(chart_dim=6, tasks=4, hidden=8, layers=2)" == repr(head)
    assert "hidden=8" in repr(head.layers[0])


def test_no_known_label_means_exactly_zero_correction(head):
    chart, y, plain, known = _batch()
    x0 = head.data_features(chart)
    empty = KnownGraph.empty(10, TASKS)
    assert torch.equal(head.correction(x0, head.backbone_nodes(), empty), torch.zeros(10, TASKS))
    # and inside a batch where other molecules do have labels, molecule 0 (none) still gets 0
    corr = head.correction(x0, head.backbone_nodes(), KnownGraph.from_mask(y, known, plain))
    assert torch.equal(corr[0], torch.zeros(TASKS))
    assert corr[1:].abs().sum() > 0


def test_a_measurement_equal_to_the_plain_prediction_changes_nothing(head):
    """Only the surprise moves a prediction: knowing *that* a label exists is no evidence by itself."""
    chart, y, plain, known = _batch()
    x0 = head.data_features(chart)
    cls = torch.tensor([False, True, False, False])
    as_expected = torch.where(cls, torch.sigmoid(plain), plain)
    graph = KnownGraph.from_mask(as_expected, known, plain, cls)
    assert torch.allclose(
        head.correction(x0, head.backbone_nodes(), graph), torch.zeros(10, TASKS), atol=1e-6
    )
    surprising = KnownGraph.from_mask(as_expected + 1.0, known, plain, cls)
    assert head.correction(x0, head.backbone_nodes(), surprising).abs().sum() > 0


def test_odd_correction_reverses_with_the_surprise(head):
    """A measured value above the plain prediction moves the others the opposite way to one below."""
    chart, y, plain, known = _batch()
    x0 = head.data_features(chart)
    graph = KnownGraph.from_mask(y, known, plain)
    up = head.correction(x0, head.backbone_nodes(), graph)
    down = head.correction(x0, head.backbone_nodes(), graph.mirrored())
    assert torch.allclose(up, -down, atol=1e-6) and up.abs().sum() > 0


def test_surprise_correction_variant_and_bad_name():
    torch.manual_seed(0)
    head = RelationalHead(
        RelationalConfig(
            CHART, [f"t{k}" for k in range(TASKS)], hidden=HIDDEN, correction="surprise"
        )
    ).eval()
    chart, y, plain, known = _batch()
    x0 = head.data_features(chart)
    assert torch.allclose(
        head.correction(x0, head.backbone_nodes(), KnownGraph.from_mask(plain, known, plain)),
        torch.zeros(10, TASKS),
        atol=1e-6,
    )
    assert (
        head.correction(x0, head.backbone_nodes(), KnownGraph.from_mask(y, known, plain))
        .abs()
        .sum()
        > 0
    )
    with pytest.raises(ValueError, match="correction"):
        RelationalConfig(CHART, ["a"], correction="even")


def test_a_molecule_never_depends_on_the_rest_of_its_batch(head):
    chart, y, plain, known = _batch(12)
    nodes = head.backbone_nodes()
    full = head.correction(head.data_features(chart), nodes, KnownGraph.from_mask(y, known, plain))
    for i in (1, 5, 11):
        alone = head.correction(
            head.data_features(chart[i : i + 1]),
            nodes,
            KnownGraph.from_mask(y[i : i + 1], known[i : i + 1], plain[i : i + 1]),
        )
        assert torch.allclose(full[i], alone[0], atol=1e-6)


def test_a_label_that_is_not_an_edge_cannot_change_any_prediction(head):
    chart, y, plain, known = _batch(12)
    x0 = head.data_features(chart)
    before = head.correction(x0, head.backbone_nodes(), KnownGraph.from_mask(y, known, plain))
    y2 = y.clone()
    y2[~known] = 1e3  # the values of every non-edge entry change wildly
    after = head.correction(x0, head.backbone_nodes(), KnownGraph.from_mask(y2, known, plain))
    assert torch.equal(before, after)


def test_ridge_node_recovers_a_linear_task():
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(200, HIDDEN, generator=g)
    w, b = torch.randn(HIDDEN, generator=g), 0.7
    nodes, lam = RelationalHead.task_node_from_support(x0, x0 @ w + b)
    assert nodes.vectors.shape == (1, HIDDEN) and nodes.bias.shape == (1,)
    assert lam == min(lam, 1.0)  # noise-free: leave-one-out picks a small penalty
    assert torch.allclose(nodes.vectors[0], w, atol=0.05) and abs(float(nodes.bias[0]) - b) < 0.05


def test_ridge_node_for_classification_separates_classes():
    g = torch.Generator().manual_seed(2)
    x0 = torch.randn(120, HIDDEN, generator=g)
    y = (x0[:, 0] + 0.2 * torch.randn(120, generator=g) > 0).float()
    nodes, _ = RelationalHead.task_node_from_support(x0, y, classification=True)
    logits = x0 @ nodes.vectors[0] + nodes.bias[0]
    assert ((logits > 0).float() == y).float().mean() > 0.9


def test_ridge_node_is_differentiable_and_needs_two_molecules():
    x0 = torch.randn(10, HIDDEN, requires_grad=True)
    nodes, _ = RelationalHead.task_node_from_support(x0, torch.randn(10))
    nodes.vectors.sum().backward()
    assert x0.grad is not None and torch.isfinite(x0.grad).all()
    with pytest.raises(ValueError, match="two"):
        RelationalHead.task_node_from_support(torch.randn(1, HIDDEN), torch.randn(1))


def test_graph_and_nodes_must_agree(head):
    chart, y, plain, known = _batch()
    graph = KnownGraph.from_mask(y, known, plain)
    nodes = head.backbone_nodes()
    with pytest.raises(ValueError, match="task nodes"):
        head.correction(
            head.data_features(chart), TaskNodes(nodes.vectors[:2], nodes.bias[:2]), graph
        )
