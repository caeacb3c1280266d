"""bench.relational's statistics: which labels are revealed, and RMSE per task and its bootstrap."""

import numpy as np
import pytest

from bench.relational import _rmse_by_group, hidden_label_instances, summarise_errors

KNOWN = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [0, 1, 1, 1]], dtype=bool)


@pytest.mark.parametrize("reveal", ["0", "1", "2", "all"])
def test_the_hidden_label_is_never_revealed_and_only_known_labels_are(reveal):
    mol, task, revealed = hidden_label_instances(KNOWN, reveal, np.random.default_rng(0))
    assert KNOWN[mol, task].all() and not revealed[np.arange(len(mol)), task].any()
    assert not (revealed & ~KNOWN[mol]).any()
    counts = revealed.sum(1)
    if reveal == "all":
        assert (counts == KNOWN[mol].sum(1) - 1).all() and len(mol) == KNOWN.sum()
    else:  # a molecule with too few other labels is skipped
        assert (counts == int(reveal)).all()
        assert len(mol) == sum(int(n) for n in KNOWN.sum(1) if n - 1 >= int(reveal))


def test_weights_are_the_same_as_repeating_rows():
    rng = np.random.default_rng(1)
    err_rel, err_plain = rng.normal(size=40), rng.normal(size=40)
    group, weight = rng.integers(0, 3, 40), rng.integers(0, 3, 40)
    weighted = _rmse_by_group(err_rel, err_plain, group, 3, weight.astype(float), min_count=1)
    rows = np.repeat(np.arange(40), weight)
    repeated = _rmse_by_group(err_rel[rows], err_plain[rows], group[rows], 3, min_count=1)
    np.testing.assert_allclose(weighted.to_numpy(float), repeated.to_numpy(float))


def test_summary_per_task_mean_and_bootstrap_interval():
    task = np.repeat([0, 1, 2], 10)
    err_plain = np.ones(30)
    err_rel = np.where(task == 0, 0.5, 1.0)  # task 0 halved; task 2 has too few pairs below
    s = summarise_errors(err_rel[:24], err_plain[:24], task[:24], list("abc"), np.arange(24), 50)
    assert set(s["per_task"]) == {"a", "b"} and s["per_task"]["a"]["change"] == -0.5
    assert s["mean_rmse_relational"] == pytest.approx(0.75) and s["change"] == pytest.approx(-0.25)
    low, high = s["ci95_change"]
    assert low <= s["change"] <= high
    assert summarise_errors(err_rel, err_plain, task, list("abc"))["ci95_change"] == [None, None]
