"""Stated prediction intervals and calibrated probabilities from held-out residuals (DESIGN §7).

Why not the ensemble's ± std: at small n it is several times narrower than the real error
(issue 12: ± 0.18 mean against a test RMSE of 0.75). Instead every regression prediction gets a
split-conformal interval: the residuals of molecules the model did not train on (out-of-fold
predictions of an added task's K members; the backbone's own validation split for its
properties) are divided by a scale that grows with the molecule's applicability-domain score,
and the ``level`` quantile q of those normalised residuals gives

    interval = prediction ± q · scale(ad_score),   scale(d) = clip(d, 0.5, 4)

so a molecule far from the training data gets a wider interval than one among them, and the
interval covers the true value for ``level`` of new molecules drawn like the held-out ones
(measured: ``bench/results/trust.md``). Classification gets Platt-scaled probabilities fitted
on the same held-out predictions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

LEVEL = 0.9
SCALE_MIN, SCALE_MAX = 0.5, 4.0
INTERVAL_EXPLANATION = (
    f"{round(100 * LEVEL)} % interval (lo{round(100 * LEVEL)} … hi{round(100 * LEVEL)}): the range that held {round(100 * LEVEL)} % of the "
    "errors on molecules the model did not train on (out-of-fold for an added task, the backbone's validation split for its "
    f"properties), widened for molecules far from the training data (× domain score, between {SCALE_MIN:g} and {SCALE_MAX:g}). "
    "The ± std is the ensemble's spread, not an interval: it is typically several times narrower than the real error."
)


def interval_columns(task: str, level: float = LEVEL) -> tuple[str, str]:
    """Names of the interval's bounds in prediction tables and CSV: ``<task>_lo90``, ``<task>_hi90``."""
    pct = int(round(100 * level))
    return f"{task}_lo{pct}", f"{task}_hi{pct}"


def domain_scale(ad_score: np.ndarray) -> np.ndarray:
    """Half-width multiplier of a molecule: its domain score, clipped to [0.5, 4] (NaN → 1)."""
    score = np.nan_to_num(np.asarray(ad_score, dtype=np.float64), nan=1.0)
    return np.clip(score, SCALE_MIN, SCALE_MAX)


@dataclass
class ConformalInterval:
    """Split-conformal interval: ``prediction ± quantile · domain_scale(ad_score)``."""

    level: float
    quantile: float
    n_calibration: int

    @classmethod
    def fit(
        cls, residuals: np.ndarray, ad_scores: np.ndarray, level: float = LEVEL
    ) -> ConformalInterval:
        """From held-out residuals (y − ŷ) and their domain scores; NaN pairs are skipped.

        q is the ⌈(n+1)·level⌉-th smallest normalised residual (the finite-sample conformal
        quantile); with too few residuals for that rank, the largest one is used and the
        interval can under-cover (stated by ``n_calibration``).
        """
        residuals, ad_scores = (
            np.asarray(residuals, dtype=np.float64),
            np.asarray(ad_scores, dtype=np.float64),
        )
        ok = np.isfinite(residuals) & np.isfinite(ad_scores)
        scores = np.sort(np.abs(residuals[ok]) / domain_scale(ad_scores[ok]))
        if not len(scores):
            raise ValueError("an interval needs at least one held-out residual")
        rank = min(math.ceil((len(scores) + 1) * level), len(scores))
        return cls(float(level), float(scores[rank - 1]), int(len(scores)))

    def half_width(self, ad_score: np.ndarray) -> np.ndarray:
        return self.quantile * domain_scale(ad_score)

    def bounds(self, prediction: np.ndarray, ad_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        half = self.half_width(ad_score)
        prediction = np.asarray(prediction, dtype=np.float64)
        return prediction - half, prediction + half

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ConformalInterval:
        return cls(float(data["level"]), float(data["quantile"]), int(data["n_calibration"]))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


@dataclass
class PlattScaling:
    """Calibrated probability σ(a·logit(p) + b), fitted on held-out (probability, label) pairs."""

    a: float = 1.0
    b: float = 0.0

    @classmethod
    def fit(cls, probabilities: np.ndarray, labels: np.ndarray) -> PlattScaling:
        """Logistic regression of the labels on logit(p); identity when one class is missing.

        A negative slope (held-out ranking worse than chance) is not turned into a reversed
        model: the probability becomes the held-out base rate (a = 0) instead.
        """
        from sklearn.linear_model import LogisticRegression

        p, y = np.asarray(probabilities, dtype=np.float64), np.asarray(labels, dtype=np.float64)
        ok = np.isfinite(p) & np.isfinite(y)
        if len(np.unique(y[ok])) < 2:
            return cls()
        model = LogisticRegression(C=1e4).fit(_logit(p[ok])[:, None], y[ok].astype(int))
        if model.coef_[0, 0] < 0:
            return cls(0.0, float(_logit(np.array([y[ok].mean()]))[0]))
        return cls(float(model.coef_[0, 0]), float(model.intercept_[0]))

    def __call__(self, probabilities: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.a * _logit(probabilities) + self.b)))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PlattScaling:
        return cls(float(data["a"]), float(data["b"]))


@dataclass
class Calibration:
    """What turns a model's raw output into a trustworthy one: an interval or a probability map."""

    interval: ConformalInterval | None = None
    platt: PlattScaling | None = None

    @classmethod
    def fit(
        cls,
        classification: bool,
        y_true: np.ndarray,
        prediction: np.ndarray,
        ad_scores: np.ndarray,
        level: float = LEVEL,
    ) -> Calibration:
        if classification:
            return cls(platt=PlattScaling.fit(prediction, y_true))
        return cls(
            interval=ConformalInterval.fit(
                np.asarray(y_true) - np.asarray(prediction), ad_scores, level
            )
        )

    def to_dict(self) -> dict:
        return {
            "interval": self.interval.to_dict() if self.interval else None,
            "platt": self.platt.to_dict() if self.platt else None,
        }

    @classmethod
    def from_dict(cls, data: dict | None) -> Calibration:
        data = data or {}
        return cls(
            ConformalInterval.from_dict(data["interval"]) if data.get("interval") else None,
            PlattScaling.from_dict(data["platt"]) if data.get("platt") else None,
        )
