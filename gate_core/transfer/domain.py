"""Applicability domain: is a query molecule near the task's training molecules in the common chart?

Score = mean distance to the k nearest training molecules, divided by the 95th percentile of
the same statistic among the training molecules themselves (leave-one-out). A score ≤ 1 means
"as close to the training set as a typical training molecule is": in domain.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

DEFAULT_NEIGHBOURS = 5
DEFAULT_QUANTILE = 0.95


def _knn_mean_distance(query: torch.Tensor, reference: torch.Tensor, k: int, exclude_self: bool) -> torch.Tensor:
    distances = torch.cdist(query, reference)
    if exclude_self:
        distances.fill_diagonal_(float("inf"))
    k = max(1, min(k, reference.shape[0] - int(exclude_self)))
    return distances.topk(k, dim=1, largest=False).values.mean(dim=1)


@dataclass
class ApplicabilityDomain:
    """Reference chart points (N, L) and the calibrated distance threshold."""

    reference: torch.Tensor
    threshold: float
    neighbours: int = DEFAULT_NEIGHBOURS

    @classmethod
    def fit(cls, chart_points: torch.Tensor, neighbours: int = DEFAULT_NEIGHBOURS, quantile: float = DEFAULT_QUANTILE) -> "ApplicabilityDomain":
        points = chart_points.detach().float().cpu()
        if points.shape[0] < 2:
            raise ValueError("the applicability domain needs at least two training molecules")
        own = _knn_mean_distance(points, points, neighbours, exclude_self=True)
        threshold = float(torch.quantile(own, quantile).clamp(min=1e-8))
        return cls(points, threshold, neighbours)

    def score(self, chart_points: torch.Tensor) -> torch.Tensor:
        """(N,) scores; ≤ 1 is in domain."""
        if chart_points.shape[0] == 0:
            return torch.zeros(0)
        return _knn_mean_distance(chart_points.detach().float().cpu(), self.reference, self.neighbours, exclude_self=False) / self.threshold
