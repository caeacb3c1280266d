"""gate_core.transfer.domain: the applicability-domain score in the common chart (DESIGN §7)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gate_core.transfer.domain import ApplicabilityDomain


def _cloud(n: int = 200, dim: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


def test_training_points_are_mostly_in_domain():
    points = _cloud()
    domain = ApplicabilityDomain.fit(points)
    scores = domain.score(points)
    assert scores.shape == (200,)
    # calibrated at the 95th percentile of the leave-one-out statistic; scoring a training point
    # also counts itself at distance 0, so at least 95 % must be ≤ 1
    assert (scores <= 1.0).float().mean().item() >= 0.95


def test_far_points_are_out_of_domain():
    points = _cloud()
    domain = ApplicabilityDomain.fit(points)
    far = _cloud(20, seed=1) + 25.0
    assert bool((domain.score(far) > 1.0).all())
    new_in_distribution = _cloud(100, seed=2)
    assert (domain.score(new_in_distribution) <= 1.0).float().mean().item() > 0.7


def test_score_grows_with_distance():
    points = _cloud()
    domain = ApplicabilityDomain.fit(points)
    direction = torch.zeros(1, 8)
    direction[0, 0] = 1.0
    scores = torch.cat([domain.score(direction * r) for r in (0.0, 2.0, 5.0, 20.0)])
    assert bool((scores[1:] > scores[:-1]).all())


def test_threshold_is_positive_and_finite():
    domain = ApplicabilityDomain.fit(_cloud(30))
    assert domain.threshold > 0 and torch.isfinite(torch.tensor(domain.threshold))
    assert domain.reference.shape == (30, 8) and domain.reference.dtype == torch.float32


def test_identical_training_points_still_give_a_positive_threshold():
    domain = ApplicabilityDomain.fit(torch.ones(5, 4))
    assert domain.threshold > 0
    assert bool(torch.isfinite(domain.score(torch.ones(2, 4))).all())
    assert domain.score(torch.ones(1, 4)).item() <= 1.0
    assert domain.score(torch.zeros(1, 4)).item() > 1.0


def test_two_points_are_enough_and_one_is_not():
    domain = ApplicabilityDomain.fit(torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
    assert domain.threshold == pytest.approx(1.0)  # each point's only neighbour is 1 away
    with pytest.raises(ValueError, match="at least two"):
        ApplicabilityDomain.fit(torch.zeros(1, 8))
    with pytest.raises(ValueError, match="at least two"):
        ApplicabilityDomain.fit(torch.zeros(0, 8))


def test_fewer_points_than_neighbours():
    points = _cloud(3)
    domain = ApplicabilityDomain.fit(points, neighbours=5)
    scores = domain.score(points)
    assert scores.shape == (3,) and bool(torch.isfinite(scores).all())


def test_empty_query_and_other_dtypes():
    domain = ApplicabilityDomain.fit(_cloud(10))
    assert domain.score(torch.zeros(0, 8)).shape == (0,)
    torch.testing.assert_close(
        domain.score(_cloud(4, seed=3).double()), domain.score(_cloud(4, seed=3))
    )


def test_score_is_mean_distance_to_k_nearest_over_threshold():
    # 1-D reference 0, 1, 2, 4 with k = 2. Leave-one-out k-NN means: 1.5, 1.0, 1.5, 2.5;
    # their 95th percentile (linear interpolation) is 1.5 + 0.85 · (2.5 − 1.5) = 2.35.
    domain = ApplicabilityDomain.fit(torch.tensor([[0.0], [1.0], [2.0], [4.0]]), neighbours=2)
    assert domain.threshold == pytest.approx(2.35)
    scores = domain.score(torch.tensor([[3.0], [10.0], [1.0]]))
    # 3 → nearest 2 and 4 (1, 1); 10 → 4 and 2 (6, 8); 1 → itself and 0 or 2 (0, 1)
    torch.testing.assert_close(scores, torch.tensor([1.0, 7.0, 0.5]) / 2.35)


def test_domain_words_follow_the_score():
    from gate_core.transfer.domain import INSIDE, NEAR_EDGE, OUTSIDE, domain_label

    labels = domain_label(np.array([0.2, 1.0, 1.5, 2.0, 2.01, np.nan]))
    assert labels.tolist() == [INSIDE, INSIDE, NEAR_EDGE, NEAR_EDGE, OUTSIDE, ""]


def test_against_other_reference_keeps_the_threshold():
    points = _cloud()
    domain = ApplicabilityDomain.fit(points)
    half = domain.against(points[:100])
    assert half.threshold == domain.threshold and half.reference.shape[0] == 100
    # a point of the other half is farther from the first half than from the whole set (which contains it)
    assert float(half.score(points[150:151])) > float(domain.score(points[150:151]))
