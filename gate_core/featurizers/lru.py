"""A small least-recently-used cache for the process-wide featurisation caches.

Why bounded: the app's server process lives for weeks and predicts whatever molecules its users
send; a plain dict keyed by SMILES would keep every molecule it ever saw. ``functools.lru_cache``
bounds a function, but the graph and descriptor caches are filled in whole chunks and primed
with results computed elsewhere, so they need a mapping with ``update``. Thread-safe: the
server's sessions and its training worker share these caches.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """At most ``maxsize`` entries; storing one more drops the least recently used."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"a cache must hold at least one entry, got maxsize={maxsize}")
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, default: V | None = None) -> V | None:
        """The value of ``key`` (now the most recently used), or ``default``."""
        with self._lock:
            if key not in self._data:
                return default
            self._data.move_to_end(key)
            return self._data[key]

    def __setitem__(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def update(self, items: Mapping[K, V] | Iterable[tuple[K, V]]) -> None:
        """Store many entries, in order (the last ones are kept when they exceed the bound)."""
        for key, value in items.items() if isinstance(items, Mapping) else items:
            self[key] = value

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
