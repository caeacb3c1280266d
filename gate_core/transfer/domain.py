"""Applicability domain: is a query molecule near the task's training molecules in the common chart?

Score = mean distance to the k nearest training molecules, divided by the 95th percentile of
the same statistic among the training molecules themselves (leave-one-out). A score ≤ 1 means
"as close to the training set as a typical training molecule is": in domain.

In words (:func:`domain_label`), shown beside every prediction: score ≤ 1 "inside" (as close
to the training molecules as 95 % of them are to each other), 1 < score ≤ 2 "near the edge",
score > 2 "outside the training data" (more than twice that distance). The interval of a
prediction widens with the score (:mod:`gate_core.transfer.calibration`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

DEFAULT_NEIGHBOURS = 5
DEFAULT_QUANTILE = 0.95
EDGE = 2.0
INSIDE, NEAR_EDGE, OUTSIDE = "inside", "near the edge", "outside the training data"
DOMAIN_EXPLANATION = (
    "Domain: distance in the common chart to the 5 nearest training molecules, divided by the distance "
    "within which 95 % of training molecules have their own 5 nearest neighbours (the domain score; lower is closer). "
    f"≤ 1: {INSIDE}; 1–{EDGE:g}: {NEAR_EDGE}; > {EDGE:g}: {OUTSIDE}."
)


def domain_label(scores: np.ndarray) -> np.ndarray:
    """Domain scores (N,) → words: "inside", "near the edge", "outside the training data" ('' for NaN)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.where(scores <= 1.0, INSIDE, np.where(scores <= EDGE, NEAR_EDGE, OUTSIDE)).astype(
        object
    )
    labels[~np.isfinite(scores)] = ""
    return labels


def _knn_mean_distance(
    query: torch.Tensor, reference: torch.Tensor, k: int, exclude_self: bool
) -> torch.Tensor:
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
    def fit(
        cls,
        chart_points: torch.Tensor,
        neighbours: int = DEFAULT_NEIGHBOURS,
        quantile: float = DEFAULT_QUANTILE,
    ) -> ApplicabilityDomain:
        points = chart_points.detach().float().cpu()
        if points.shape[0] < 2:
            raise ValueError("the applicability domain needs at least two training molecules")
        own = _knn_mean_distance(points, points, neighbours, exclude_self=True)
        threshold = float(torch.quantile(own, quantile).clamp(min=1e-8))
        return cls(points, threshold, neighbours)

    def against(self, reference: torch.Tensor) -> ApplicabilityDomain:
        """The same threshold with other reference points (out-of-fold scores: a fold against the rest)."""
        return replace(self, reference=reference.detach().float().cpu())

    def score(self, chart_points: torch.Tensor) -> torch.Tensor:
        """(N,) scores; ≤ 1 is in domain."""
        if chart_points.shape[0] == 0:
            return torch.zeros(0)
        return (
            _knn_mean_distance(
                chart_points.detach().float().cpu(),
                self.reference,
                self.neighbours,
                exclude_self=False,
            )
            / self.threshold
        )
