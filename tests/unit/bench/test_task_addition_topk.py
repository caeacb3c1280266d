"""The top-k method keeps exactly the k sources with the highest learned λ of the same cell."""

import pytest

from bench.task_addition import TOP_K, _top_k_exclusions


class _Split:
    name, seed = "t", 0


def test_top_k_keeps_the_highest_learned_ratios():
    ratios = {f"s{i}": float(i) for i in range(TOP_K + 4)}  # s{K+3} highest
    ctx = {"learned_ratios": {("t", 0, 50): ratios}}
    excluded = _top_k_exclusions(ctx, _Split(), 50)
    kept = set(ratios) - set(excluded)
    assert kept == {f"s{i}" for i in range(4, TOP_K + 4)}


def test_top_k_refuses_without_the_learned_run_of_the_same_cell():
    ctx = {"learned_ratios": {("t", 0, 100): {"a": 1.0}}}
    with pytest.raises(RuntimeError, match="learned run of the same cell"):
        _top_k_exclusions(ctx, _Split(), 50)
