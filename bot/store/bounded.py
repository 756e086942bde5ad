"""A least-recently-used map of a fixed size that the store's threads may share.

For what a process may keep between calls because it never changes once known (a
verification's candidate, the key a wrapped data key opens to): a million verifications read
one by one leave at most `size` entries behind, not a million.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

from cachetools import LRUCache

K = TypeVar("K")
V = TypeVar("V")


class BoundedMap(Generic[K, V]):
    """get, put and pop under one lock: an LRU reorders itself on every read."""

    def __init__(self, size: int) -> None:
        self._entries: LRUCache[K, V] = LRUCache(maxsize=size)
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = value

    def pop(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
