"""gate_core.data.scaler: masked per-column standardisation."""

from __future__ import annotations

import numpy as np

from gate_core.data.scaler import StandardScaler


def test_masked_fit_ignores_nan():
    values = np.array([[1.0, np.nan], [3.0, 10.0], [np.nan, 20.0], [5.0, np.nan]])
    scaler = StandardScaler.fit(values)
    np.testing.assert_allclose(scaler.mean, [3.0, 15.0])
    np.testing.assert_allclose(scaler.std, [np.std([1.0, 3.0, 5.0]), 5.0], rtol=1e-6)
    out = scaler.transform(values)
    assert np.isnan(out[0, 1]) and np.isnan(out[2, 0])
    finite = np.isfinite(values)
    for j in range(2):
        col = out[finite[:, j], j]
        assert abs(col.mean()) < 1e-6 and abs(col.std() - 1) < 1e-6


def test_constant_and_empty_columns_have_std_one():
    values = np.array([[2.0, np.nan], [2.0, np.nan], [2.0, np.nan]])
    scaler = StandardScaler.fit(values)
    np.testing.assert_array_equal(scaler.std, [1.0, 1.0])
    np.testing.assert_array_equal(scaler.mean, [2.0, 0.0])
    np.testing.assert_array_equal(scaler.transform(values)[:, 0], 0.0)


def test_inverse_transform_round_trip():
    rng = np.random.default_rng(0)
    values = rng.normal(50.0, 20.0, size=(40, 3)).astype(np.float32)
    values[rng.random(values.shape) < 0.3] = np.nan
    scaler = StandardScaler.fit(values)
    back = scaler.inverse_transform(scaler.transform(values))
    np.testing.assert_allclose(back, values, rtol=1e-5, atol=1e-4, equal_nan=True)
    assert scaler.mean.dtype == np.float32 and scaler.std.dtype == np.float32
