"""gate_core.transfer.calibration: split-conformal intervals and Platt-scaled probabilities (DESIGN §7)."""

from __future__ import annotations

import numpy as np
import pytest

from gate_core.transfer.calibration import (
    Calibration,
    ConformalInterval,
    PlattScaling,
    domain_scale,
    interval_columns,
)


def test_interval_columns_name_the_level():
    assert interval_columns("logS") == ("logS_lo90", "logS_hi90")
    assert interval_columns("logS", 0.8) == ("logS_lo80", "logS_hi80")


def test_domain_scale_is_clipped_and_nan_safe():
    np.testing.assert_allclose(
        domain_scale(np.array([0.1, 1.0, 2.5, 10.0, np.nan])), [0.5, 1.0, 2.5, 4.0, 1.0]
    )


def test_conformal_quantile_is_the_finite_sample_rank():
    residuals = np.arange(1, 20, dtype=float)  # 19 residuals, scale 1: rank ⌈20·0.9⌉ = 18
    interval = ConformalInterval.fit(residuals, np.ones(19), 0.9)
    assert interval.quantile == 18.0 and interval.n_calibration == 19


def test_too_few_residuals_use_the_largest_and_none_refuse():
    assert ConformalInterval.fit(np.array([1.0, -3.0]), np.ones(2)).quantile == 3.0
    with pytest.raises(ValueError, match="at least one"):
        ConformalInterval.fit(np.array([np.nan]), np.array([1.0]))


@pytest.mark.parametrize("level", [0.8, 0.9])
def test_interval_covers_new_exchangeable_points_at_its_level(level):
    rng = np.random.default_rng(0)
    ad_cal, ad_new = rng.uniform(0.3, 3.0, 2000), rng.uniform(0.3, 3.0, 20000)
    # errors grow with the domain score, as the scale assumes
    interval = ConformalInterval.fit(rng.normal(size=2000) * domain_scale(ad_cal), ad_cal, level)
    y_new = rng.normal(size=20000) * domain_scale(ad_new)
    lo, hi = interval.bounds(np.zeros(20000), ad_new)
    assert abs(((lo <= y_new) & (y_new <= hi)).mean() - level) < 0.02


def test_interval_widens_away_from_the_training_data():
    interval = ConformalInterval(0.9, 1.0, 100)
    widths = np.diff(np.stack(interval.bounds(np.zeros(3), np.array([0.5, 1.5, 3.0]))), axis=0)[0]
    assert widths[0] < widths[1] < widths[2]


def test_platt_fixes_overconfident_probabilities():
    rng = np.random.default_rng(1)
    true_p = rng.uniform(0.2, 0.8, 4000)
    y = (rng.uniform(size=4000) < true_p).astype(float)
    overconfident = 1 / (
        1 + np.exp(-4 * np.log(true_p / (1 - true_p)))
    )  # same ranking, far too sure

    def log_loss(p):
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))

    platt = PlattScaling.fit(overconfident, y)
    assert log_loss(platt(overconfident)) < log_loss(overconfident) - 0.05
    assert abs(platt.a - 0.25) < 0.05


def test_platt_never_reverses_a_ranking():
    p = np.linspace(0.1, 0.9, 40)
    y = (p < 0.5).astype(float)  # held-out ranking is backwards
    platt = PlattScaling.fit(p, y)
    assert platt.a == 0.0
    np.testing.assert_allclose(platt(p), y.mean())


def test_platt_with_one_class_is_identity():
    p = np.array([0.2, 0.7])
    np.testing.assert_allclose(PlattScaling.fit(p, np.ones(2))(p), p)


def test_calibration_round_trips_through_json_dicts():
    reg = Calibration.fit(False, np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.0, 2.0]), np.ones(3))
    clf = Calibration.fit(
        True, np.array([0, 1, 0, 1.0]), np.array([0.2, 0.9, 0.4, 0.6]), np.ones(4)
    )
    for cal in (reg, clf):
        assert Calibration.from_dict(cal.to_dict()) == cal
    assert reg.platt is None and clf.interval is None
    assert Calibration.from_dict(None) == Calibration()
