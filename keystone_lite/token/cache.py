"""Per-process memory of answers that stay right while the change counter stands still.

``GenerationCache`` maps a key (a token id, a principal, a store read, "catalog") to a value
computed under a stamp: the database change counter (see keystone_lite.db.generation) and the
key repository's version, read at the start of the request (TokenService.stamp). A lookup with
a different stamp misses.

Every cache of a process draws on one ``MemoryBudget`` (``[cache] memory_mb``), which holds one
stamp's entries at a time: the first store under a new stamp, or one that would take the
caches together beyond the budget, empties every cache of the budget. Sizes are estimates
(``estimate``) made when an entry is stored, so reading costs nothing more. Nothing is kept
that a client could make up: callers store only what the store found, and only once they know
who the client is (see keystone_lite.token.authentication).
"""
from __future__ import annotations

import dataclasses
import sys
import threading
import types

MIB = 1024 * 1024


class MemoryBudget:
    """The bytes that the caches sharing it may hold together (see the module docstring)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self._stamp = None
        self._caches: list[GenerationCache] = []
        # Stores only (the cold path): lookups read without it.
        self.lock = threading.Lock()

    def register(self, cache: GenerationCache) -> None:
        with self.lock:
            self._caches.append(cache)

    def make_room(self, stamp, size: int) -> bool:
        """Called with ``lock`` held before storing ``size`` bytes under ``stamp``: empties
        every cache on a new stamp or when the bytes would not fit. False if they never can."""
        if size > self.limit:
            return False
        if stamp != self._stamp or self.used + size > self.limit:
            for cache in self._caches:
                cache._empty()
            self.used = 0
            self._stamp = stamp
        return True


class GenerationCache:
    def __init__(self, budget: MemoryBudget | None = None):
        self.budget = budget or MemoryBudget(8 * MIB)
        self._entries: dict = {}
        self.budget.register(self)

    def get(self, stamp, key):
        """The value stored under ``stamp`` for ``key``, or None."""
        entry = self._entries.get(key)
        # Each entry carries its own stamp: a concurrent store may empty the dict under us.
        return entry[1] if entry is not None and entry[0] == stamp else None

    def put(self, stamp, key, value, size: int | None = None) -> None:
        """Remember ``value``; ``size`` is its estimate in bytes, key included (default:
        ``estimate(key, value)``). Pass a smaller one only for parts another cache counts."""
        if size is None:
            size = estimate(key, value)
        budget = self.budget
        with budget.lock:
            old = self._entries.get(key)
            if old is not None and old[0] == stamp:
                budget.used -= old[2]
                del self._entries[key]
            if budget.make_room(stamp, size):
                self._entries[key] = (stamp, value, size)
                budget.used += size

    def _empty(self) -> None:
        # A new dict rather than clear(): a concurrent get keeps reading the old one safely.
        self._entries = {}


# Per entry: the dict slot, the (stamp, value, size) tuple and the stamp's share.
_ENTRY_OVERHEAD = 200


def estimate(*objects) -> int:
    """Bytes held by ``objects`` and what they refer to, roughly (an overestimate for shared
    parts): strings and bytes by ``sys.getsizeof``, containers, namespaces and dataclasses by
    their own size plus their contents'."""
    return _ENTRY_OVERHEAD + sum(_size(item) for item in objects)


def _size(item) -> int:
    size = sys.getsizeof(item)
    if isinstance(item, (str, bytes, int, float, bool)) or item is None:
        return size
    if isinstance(item, (tuple, list, set, frozenset)):
        return size + sum(_size(part) for part in item)
    if isinstance(item, dict):
        return size + sum(_size(key) + _size(value) for key, value in item.items())
    if isinstance(item, types.SimpleNamespace) or dataclasses.is_dataclass(item):
        attributes = getattr(item, "__dict__", {})
        # Attribute names are interned and shared: only the values count.
        return size + sys.getsizeof(attributes) + sum(_size(value)
                                                      for value in attributes.values())
    return size
