"""gate_app.projection: 2-D maps fitted once, new points placed without refitting."""

import numpy as np
import pytest

from gate_app.projection import fit_projection


@pytest.mark.parametrize("n", [0, 1, 5, 40])
def test_pca_projection_shapes(n):
    points = np.random.default_rng(0).normal(size=(n, 6))
    projection = fit_projection(points, "PCA")
    assert projection.coords.shape == (n, 2) and projection.transform(points[:2]).shape == (
        min(n, 2),
        2,
    )


@pytest.mark.parametrize("method", ["PCA", "UMAP"])
def test_new_points_are_placed_on_the_fitted_map_without_refitting(method):
    points = np.random.default_rng(0).normal(size=(60, 6)).astype(np.float32)
    projection = fit_projection(points, method)
    before = projection.coords.copy()
    placed = projection.transform(points[:3] + 0.01)
    assert placed.shape == (3, 2) and np.array_equal(projection.coords, before)
    assert (
        np.linalg.norm(placed - before[:3], axis=1).max() < np.ptp(before, axis=0).max() / 2
    )  # lands near its neighbours
