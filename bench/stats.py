"""Bootstrap statistics shared by the benchmarks: intervals, paired RMSE gaps, win counts.

Why one helper: a headline ("GATE is 0.85 × the best baseline") is a statement about targets,
and with a dozen targets its spread is large. Every headline of the benchmarks comes from
:func:`compare_over_targets`, so each one carries its interval (targets resampled with
replacement) and how many targets it actually wins; a "met" is only claimed when the whole
interval is on the right side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

N_BOOTSTRAP = 2000
#: one number per target and method, ``per_target[target][method]``
PerTarget = Mapping[str, Mapping[str, float]]


def interval(samples: np.ndarray) -> list[float]:
    """The 95 % percentile interval of bootstrap draws."""
    return np.percentile(samples, [2.5, 97.5]).tolist()


def _resampled_means(values: np.ndarray, n_bootstrap: int, seed: int) -> np.ndarray:
    """Means over the first axis of ``values`` in ``n_bootstrap`` resamples with replacement."""
    index = np.random.default_rng(seed).integers(0, len(values), size=(n_bootstrap, len(values)))
    return values[index].mean(axis=1)


def _common_targets(per_target: PerTarget, methods: Sequence[str]) -> pd.DataFrame:
    """Targets (sorted) × ``methods``, only the targets where every method has a finite value."""
    table = pd.DataFrame(per_target).T.reindex(columns=methods).astype(float)
    return table[np.isfinite(table).all(axis=1)].sort_index()


def rmse_bootstrap(
    y: np.ndarray, preds: Mapping[str, np.ndarray], n_bootstrap: int = N_BOOTSTRAP, seed: int = 0
) -> dict[str, np.ndarray]:
    """Each prediction's RMSE in every resample of the molecules: the same resamples for all, so
    a difference of two methods' draws is a paired bootstrap of their RMSE gap."""
    return {
        m: np.sqrt(_resampled_means((np.asarray(p) - y) ** 2, n_bootstrap, seed))
        for m, p in preds.items()
    }


def compare_over_targets(
    per_target: PerTarget,
    method: str,
    baselines: Sequence[str],
    *,
    higher_is_better: bool = False,
    n_bootstrap: int = N_BOOTSTRAP,
    seed: int = 0,
) -> dict:
    """``method`` against the best of ``baselines``, each target weighing the same.

    ``per_target[target][m]`` is one number per target and method (e.g. mean nRMSE over the
    target's seeds and sizes); only targets where ``method`` and every baseline have a value
    count. Returns the mean of each method with its 95 % interval, the ratio of ``method`` to
    the best baseline (the baseline is re-chosen inside every resample, so picking the best is
    part of the uncertainty) with its interval, and the targets won against that baseline.
    """
    methods = [method, *[b for b in baselines if b != method]]
    table = _common_targets(per_target, methods)
    if table.empty:
        return {"n_targets": 0, "method": method, "baselines": list(baselines)}
    values = table.to_numpy()  # (T, M)
    sign = -1.0 if higher_is_better else 1.0  # compare on sign × value: lower is better
    draws = _resampled_means(values, n_bootstrap, seed)  # (B, M)
    means = values.mean(axis=0)
    best = 1 + int(np.argmin(sign * means[1:]))
    best_draw = sign * (sign * draws[:, 1:]).min(axis=1)
    won = sign * (values[:, 0] - values[:, best]) < 0
    return {
        "n_targets": len(table),
        "targets": table.index.tolist(),
        "method": method,
        "baselines": list(baselines),
        "higher_is_better": higher_is_better,
        "mean": dict(zip(methods, means.tolist())),
        "ci95": {m: interval(d) for m, d in zip(methods, draws.T)},
        "best_baseline": methods[best],
        "ratio_to_best": float(means[0] / means[best]),
        "ratio_ci95": interval(draws[:, 0] / best_draw),
        "targets_won": int(won.sum()),
        "targets_won_list": table.index[won].tolist(),
    }


def paired_difference(
    per_target: PerTarget, a: str, b: str, *, n_bootstrap: int = N_BOOTSTRAP, seed: int = 0
) -> dict:
    """Mean over targets of ``a − b`` with its bootstrap 95 % interval and how often a < b."""
    table = _common_targets(per_target, [a, b])
    diff = (table[a] - table[b]).to_numpy()
    if not len(diff):
        return {"n_targets": 0}
    return {
        "n_targets": len(diff),
        "mean_difference": float(diff.mean()),
        "ci95": interval(_resampled_means(diff, n_bootstrap, seed)),
        "a_lower_in": int((diff < 0).sum()),
        "a": a,
        "b": b,
    }


def verdict(ratio_ci95: Sequence[float], threshold: float) -> str:
    """'met' only when the whole interval is at or below ``threshold``; 'not met' when it is all
    above; otherwise 'undecided' (the interval straddles the threshold)."""
    lo, hi = ratio_ci95
    return "met" if hi <= threshold else "not met" if lo > threshold else "undecided"
