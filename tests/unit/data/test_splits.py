"""gate_core.data.splits: random and Bemis–Murcko scaffold splits."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from gate_core.data.splits import (
    bemis_murcko_scaffold,
    holdout_split,
    random_split,
    scaffold_cluster_split,
    scaffold_split,
    split,
)

from .conftest import check_partition


def test_scaffold_of_acyclic_is_empty_and_ring_kept():
    assert bemis_murcko_scaffold("CCCO") == ""
    assert bemis_murcko_scaffold("CCc1ccccc1") == "c1ccccc1"
    assert bemis_murcko_scaffold("Cc1ccccc1") == bemis_murcko_scaffold("Oc1ccccc1")


def test_scaffold_split_partitions_and_no_shared_scaffold(smiles):
    train, val, test = scaffold_split(smiles, (0.8, 0.1, 0.1), seed=0)
    check_partition((train, val, test), len(smiles))
    scaffolds = [{bemis_murcko_scaffold(smiles[i]) for i in part} for part in (train, val, test)]
    assert not scaffolds[0] & scaffolds[1]
    assert not scaffolds[0] & scaffolds[2]
    assert not scaffolds[1] & scaffolds[2]
    assert len(val) and len(test)


def test_scaffold_split_deterministic_per_seed(smiles):
    a = scaffold_split(smiles, seed=3)
    b = scaffold_split(smiles, seed=3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_scaffold_split_seeds_differ(smiles):
    a = scaffold_split(smiles, seed=0)
    b = scaffold_split(smiles, seed=1)
    assert not np.array_equal(a[2], b[2])


@pytest.mark.parametrize("fractions", [(0.8, 0.1, 0.1), (0.7, 0.15, 0.15)])
def test_scaffold_split_fractions_roughly_respected(smiles, fractions):
    # (the tiny fixture has two huge families, acyclic 141 and benzene 103 of 400 molecules,
    # so fractions that cannot hold both in training are only as good as those groups allow)
    n = len(smiles)
    for seed in range(3):
        parts = scaffold_split(smiles, fractions, seed=seed)
        for part, frac in zip(parts, fractions):
            assert abs(len(part) / n - frac) < 0.05, (seed, len(part), frac)


def _ring_family(ring_size: int, n_variants: int) -> list[str]:
    ring = "C1" + "C" * (ring_size - 1) + "1"
    return ["C" * k + ring for k in range(n_variants)]


@pytest.mark.parametrize("fractions", [(0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (0.5, 0.25, 0.25)])
def test_scaffold_split_fractions_exact_with_small_groups(fractions):
    # 40 scaffolds (ring sizes 3..42) × 5 molecules: every fraction is a multiple of a group
    smiles = [s for size in range(3, 43) for s in _ring_family(size, 5)]
    assert len({bemis_murcko_scaffold(s) for s in smiles}) == 40
    for seed in range(2):
        parts = scaffold_split(smiles, fractions, seed=seed)
        check_partition(parts, len(smiles))
        assert [len(p) for p in parts] == [round(f * len(smiles)) for f in fractions]


def test_big_scaffold_family_stays_in_training():
    # one family of 30 (> half of a test fold of 20) and 34 small families of 5
    smiles = ["C" * k + "c1ccccc1" for k in range(30)] + [
        s for size in range(3, 37) for s in _ring_family(size, 5)
    ]
    for seed in range(5):
        train, _, _ = scaffold_split(smiles, (0.8, 0.1, 0.1), seed=seed)
        assert set(range(30)) <= set(train.tolist())


@pytest.mark.parametrize(
    "fractions", [(0.8, 0.1), (0.5, 0.5, 0.5), (1.2, -0.1, -0.1), (0.8, 0.1, 0.05)]
)
def test_bad_fractions_raise(smiles, fractions):
    with pytest.raises(ValueError, match="fractions"):
        scaffold_split(smiles, fractions)
    with pytest.raises(ValueError, match="fractions"):
        random_split(10, fractions)


def test_random_split():
    train, val, test = random_split(100, (0.8, 0.1, 0.1), seed=0)
    check_partition((train, val, test), 100)
    assert (len(train), len(val), len(test)) == (80, 10, 10)
    again = random_split(100, (0.8, 0.1, 0.1), seed=0)
    np.testing.assert_array_equal(test, again[2])
    assert not np.array_equal(test, random_split(100, (0.8, 0.1, 0.1), seed=1)[2])


def test_split_dispatch(smiles):
    for x, y in zip(split(smiles, "scaffold", seed=2), scaffold_split(smiles, seed=2)):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(split(smiles, "random", seed=2), random_split(len(smiles), seed=2)):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="unknown split"):
        split(smiles, "stratified")


def test_scaffold_cluster_split_partitions_and_never_splits_a_unit(smiles):
    for seed in range(3):
        train, val, test = scaffold_cluster_split(smiles, (0.8, 0.0, 0.2), seed=seed)
        check_partition((train, val, test), len(smiles))
        assert len(val) == 0 and 0.15 * len(smiles) <= len(test) <= 0.2 * len(smiles)
        # scaffold groups are whole; only families too big for the test set (acyclic 141, benzene 103) are split up
        sizes = Counter(bemis_murcko_scaffold(s) for s in smiles)
        small_train = {
            bemis_murcko_scaffold(smiles[i])
            for i in train
            if sizes[bemis_murcko_scaffold(smiles[i])] <= 0.2 * len(smiles)
        }
        assert not small_train & {bemis_murcko_scaffold(smiles[i]) for i in test}
        assert {bemis_murcko_scaffold(smiles[i]) for i in test} - {"", "c1ccccc1"}


def test_scaffold_cluster_split_seeds_give_different_test_sets():
    # 40 small ring families of 5, and 100 acyclic molecules: too many for the test set as one group
    acyclic = [("C" * k + "O" * j) for k in range(1, 26) for j in range(1, 3)] + [
        ("C" * k + "N" + "C" * j) for k in range(1, 26) for j in (1, 2)
    ]
    smiles = [s for size in range(3, 43) for s in _ring_family(size, 5)] + acyclic
    tests = [
        set(scaffold_cluster_split(smiles, (0.8, 0.0, 0.2), seed=s)[2].tolist()) for s in range(5)
    ]
    overlaps = [len(a & b) / len(a | b) for i, a in enumerate(tests) for b in tests[i + 1 :]]
    assert max(overlaps) < 0.5
    balanced = [set(scaffold_split(smiles, (0.8, 0.0, 0.2), seed=s)[2].tolist()) for s in range(5)]
    assert any(t & set(range(200, 300)) for t in tests)  # acyclic clusters can be tested
    assert not any(
        t & set(range(200, 300)) for t in balanced
    )  # the balanced split never tests them


def test_holdout_split_holds_out_the_split_test_part_or_nothing():
    smiles = [
        "CCO",
        "c1ccccc1O",
        "c1ccccc1N",
        "C1CCCCC1O",
        "CCN",
        "c1ccncc1",
        "CC(=O)O",
        "C1CCNCC1",
    ] * 3
    fit, test = holdout_split(smiles, 0.25, "scaffold", seed=1)
    assert sorted([*fit, *test]) == list(range(len(smiles))) and len(test) > 0
    assert test.tolist() == split(smiles, "scaffold", (0.75, 0.0, 0.25), 1)[2].tolist()
    everything, nothing = holdout_split(smiles, 0.0)
    assert everything.tolist() == list(range(len(smiles))) and nothing.size == 0
    with pytest.raises(ValueError, match=r"test fraction must be in \[0, 1\)"):
        holdout_split(smiles, 1.0)
    with pytest.raises(ValueError, match="unknown split 'nope'; choose one of: random, scaffold"):
        holdout_split(smiles, 0.2, "nope")
