"""gate_core.relational.graph: edges only for known labels, reveal sampling, the leak guard."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gate_core.relational.graph import EDGE_FEATURES, KnownGraph, sample_reveal

NAN = float("nan")


def _values():
    values = torch.tensor([[0.5, NAN, -1.0], [NAN, NAN, NAN], [2.0, 0.0, NAN], [NAN, 1.0, 0.3]])
    plain = torch.arange(12, dtype=torch.float32).reshape(4, 3) / 10
    return values, plain


def test_edges_only_for_known_labels():
    values, plain = _values()
    known = torch.isfinite(values)
    graph = KnownGraph.from_mask(torch.nan_to_num(values), known, plain)
    assert len(graph) == int(known.sum()) == 6
    assert torch.equal(graph.adjacency(), known)
    for e in range(len(graph)):
        i, k = int(graph.data[e]), int(graph.task[e])
        assert graph.value[e] == values[i, k] and graph.plain[e] == plain[i, k]
    assert graph.degree().tolist() == [2, 0, 2, 2]


def test_only_the_revealed_subset_becomes_edges():
    values, plain = _values()
    revealed = torch.zeros(4, 3, dtype=torch.bool)
    revealed[0, 0] = revealed[3, 2] = True
    graph = KnownGraph.from_mask(torch.nan_to_num(values), revealed, plain)
    assert sorted(zip(graph.data.tolist(), graph.task.tolist())) == [(0, 0), (3, 2)]


def test_a_missing_label_cannot_be_an_edge():
    values, plain = _values()
    with pytest.raises(ValueError, match="NaN"):
        KnownGraph.from_mask(values, torch.ones(4, 3, dtype=torch.bool), plain)


def test_edge_features_map_classification_to_plus_minus_one():
    values = torch.tensor([[1.0, 0.7]])
    plain = torch.tensor([[0.0, 0.2]])
    graph = KnownGraph.from_mask(
        values,
        torch.ones(1, 2, dtype=torch.bool),
        plain,
        classification=torch.tensor([True, False]),
    )
    feats = graph.edge_features()
    assert feats.shape == (2, EDGE_FEATURES)
    assert torch.allclose(
        feats[0], torch.tensor([1.0, 0.0, 1.0, 1.0])
    )  # 2·1−1, 2σ(0)−1, diff, flag
    assert torch.allclose(feats[1], torch.tensor([0.7, 0.2, 0.5, 0.0]))


def test_empty_graph():
    graph = KnownGraph.empty(5, 3)
    assert len(graph) == 0 and graph.degree().tolist() == [0] * 5 and not graph.adjacency().any()


def test_assert_excludes_catches_a_leak():
    values, plain = _values()
    known = torch.isfinite(values)
    graph = KnownGraph.from_mask(torch.nan_to_num(values), known, plain)
    graph.assert_excludes(~known)
    with pytest.raises(AssertionError, match="leak"):
        graph.assert_excludes(known)


@pytest.mark.parametrize("seed", range(5))
def test_sample_reveal_splits_known_labels(seed):
    rng = np.random.default_rng(seed)
    known = torch.as_tensor(rng.random((200, 7)) < 0.5)
    revealed, hidden = sample_reveal(known, torch.Generator().manual_seed(seed), zero_fraction=0.2)
    assert not (revealed & hidden).any()
    assert torch.equal(revealed | hidden, known)
    n_known = known.sum(1)
    # every molecule with a label keeps at least one hidden: there is always something to predict
    assert ((hidden.sum(1) >= 1) | (n_known == 0)).all()
    # all of 0 … n−1 revealed counts occur, the zero-evidence case included
    counts = revealed.sum(1)[n_known >= 4]
    assert (counts == 0).any() and (counts >= 2).any()


def test_sample_reveal_zero_fraction_one_reveals_nothing():
    known = torch.ones(50, 4, dtype=torch.bool)
    revealed, hidden = sample_reveal(known, torch.Generator().manual_seed(0), zero_fraction=1.0)
    assert not revealed.any() and torch.equal(hidden, known)
