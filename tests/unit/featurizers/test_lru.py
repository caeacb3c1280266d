"""The process-wide featurisation caches are bounded (a long-running server must not grow)."""

from __future__ import annotations

import numpy as np
import pytest

from gate_core.data import featurize
from gate_core.featurizers.graph import DEFAULT_FEATURIZER, GRAPH_CACHE_SIZE, GraphFeaturizer
from gate_core.featurizers.lru import LRUCache

CHAIN = [f"C{'C' * i}O" for i in range(12)]  # canonical: CO, CCO, CCCO, ...


def test_lru_drops_the_least_recently_used_entry():
    cache: LRUCache[str, int] = LRUCache(3)
    cache.update({"a": 1, "b": 2, "c": 3})
    assert cache.get("a") == 1  # "a" is now the most recently used, "b" the least
    cache["d"] = 4
    assert (
        len(cache) == 3
        and "b" not in cache
        and {"a", "c", "d"} <= {k for k in "abcd" if k in cache}
    )
    cache.update((str(i), i) for i in range(10))
    assert len(cache) == 3 and cache.get("9") == 9 and cache.get("a", -1) == -1
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(ValueError, match="at least one entry"):
        LRUCache(0)


def test_graph_cache_is_bounded_and_a_larger_chunk_is_still_returned_whole():
    featurizer = GraphFeaturizer(cache_size=4)
    graphs = featurizer.many(CHAIN)
    assert len(graphs) == len(CHAIN) and len(featurizer) == 4
    assert [g.x.shape[0] for g in graphs] == [i + 2 for i in range(len(CHAIN))]
    assert featurizer(CHAIN[-1]) is graphs[-1]  # the most recent ones stay cached
    assert all(a.base is None for a in graphs[-1])  # owns its arrays: keeps no whole chunk alive
    for smiles in CHAIN[:6]:
        featurizer(smiles)
    assert len(featurizer) == 4


def test_the_process_wide_caches_have_a_bound():
    from gate_core.limits import DEFAULT_MAX_ROWS

    assert DEFAULT_FEATURIZER._cache.maxsize == GRAPH_CACHE_SIZE
    # an isolated parse caches a whole upload before the server featurises it: it must all fit
    assert (
        GRAPH_CACHE_SIZE >= DEFAULT_MAX_ROWS and featurize.DESCRIPTOR_CACHE_SIZE >= DEFAULT_MAX_ROWS
    )
    assert featurize._DESCRIPTOR_CACHE.maxsize == featurize.DESCRIPTOR_CACHE_SIZE
    _, rows = featurize.featurize_molecules(CHAIN[:3])
    assert rows.shape[0] == 3 and np.isfinite(rows).all()
