"""2-D maps of latent points (UMAP, or PCA for tiny sets), fitted once and reused.

Why in the app: a projection is a way of drawing, not a property of the model; the Latent
space page fits one per space and places new molecules on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Projection:
    """A 2-D map fitted once on a set of points (``coords``); :meth:`transform` places new points
    on it (UMAP's ``transform``, or the fitted PCA axes), so adding molecules never reshuffles the map."""

    coords: np.ndarray
    mean: np.ndarray
    axes: np.ndarray  # PCA: (dim, 2); unused with a reducer
    reducer: object | None = None  # a fitted umap.UMAP

    def transform(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=np.float32)
        if not len(points):
            return np.zeros((0, 2), dtype=np.float32)
        if self.reducer is not None:
            return self.reducer.transform(points).astype(np.float32)
        return ((points - self.mean) @ self.axes).astype(np.float32)


def fit_projection(points: np.ndarray, method: str = "UMAP", seed: int = 0) -> Projection:
    """Fit a 2-D map: UMAP (neighbours scaled to N) or PCA; tiny inputs fall back to PCA."""
    points = np.asarray(points, dtype=np.float32)
    n, dim = points.shape if points.ndim == 2 else (len(points), 1)
    mean = points.mean(axis=0) if n else np.zeros(dim, dtype=np.float32)
    if method.upper() == "UMAP" and n >= 8:
        import umap

        reducer = umap.UMAP(
            n_neighbors=min(15, n - 1),
            n_components=2,
            random_state=seed,
            n_jobs=1,
            init="random" if n < 50 else "spectral",
        )
        return Projection(
            reducer.fit_transform(points).astype(np.float32),
            mean,
            np.zeros((dim, 2), np.float32),
            reducer,
        )
    axes = np.zeros((dim, 2), dtype=np.float32)
    if n > 1:
        _, _, vt = np.linalg.svd(points - mean, full_matrices=False)
        axes[:, : min(2, len(vt))] = vt[:2].T
    return Projection(((points - mean) @ axes).astype(np.float32), mean, axes)


def warm_up_umap() -> None:
    """One tiny fit and transform, so numba compiles UMAP's kernels before a user waits for them."""
    points = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    fit_projection(points, "UMAP").transform(points[:2])
