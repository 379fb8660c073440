"""Per-process memory of answers that stay right while the change counter stands still.

``GenerationCache`` maps a key (a token id, a principal, a store read, "catalog") to a value
computed under a stamp: the database change counter (see keystone_lite.db.generation) and the
key repository's version, read at the start of the request (TokenService.stamp). A lookup with
a different stamp misses.

Every cache of a process draws on one ``MemoryBudget`` (``[cache] memory_mb``). When a request
reads a new stamp, the budget moves to it (``MemoryBudget.advance``): if only the counter moved
and the change log (keystone_lite.db.generation) says what changed, each cache drops only the
entries those changes concern and keeps the rest; otherwise every cache is emptied, as a new
*epoch* begins. A store that would take the caches together beyond the budget first drops the
older half of the cache holding the most bytes (again while it does not fit): a flood of
tokens seen once evicts tokens, not the principals every token of a user shares. Sizes are
estimates
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
    """The bytes that the caches sharing it may hold together, and the stamps they hold answers
    for (see the module docstring)."""

    # Recent stamps remembered with their epoch (requests in flight may hold older stamps).
    RECENT_STAMPS = 32

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self._caches: list = []
        # Stores, advances and evictions (the cold path): lookups read without it.
        self.lock = threading.Lock()
        # The newest stamp this process has moved to, and its epoch: stamps joined by the
        # change log (``advance``) share an epoch, and with it the entries stored under them.
        self.current = None
        self.epoch = 0
        self._epochs: dict = {}

    def register(self, cache) -> None:
        """``cache`` (a GenerationCache, or anything with ``_forget(changes)`` and
        ``_empty()``) is told what changed when the stamp moves."""
        with self.lock:
            self._caches.append(cache)

    def epoch_of(self, stamp):
        """The epoch of a stamp this process moved to recently, else None."""
        return self._epochs.get(stamp)

    def advance(self, stamp, read_changes=None) -> None:
        """Move to ``stamp``, read at the start of a request (TokenService.stamp), before the
        caches serve it. When only the counter moved forward and ``read_changes(old, new)``
        (the change log's ``(generation, kind, key)`` rows for counter values in (old, new],
        or None) covers every value in between without naming ``all``, the caches drop only
        the entries those changes concern and the rest stay valid under the new stamp;
        otherwise a new epoch begins, with every cache empty. A stamp older than the current
        one (a request that read the counter before another moved on) changes nothing."""
        if stamp == self.current or stamp in self._epochs:
            return
        with self.lock:
            current = self.current
            if stamp == current or stamp in self._epochs:
                return
            if _same_source(current, stamp):
                old, new = current[0][1], stamp[0][1]
                if new < old:
                    return  # read before this process moved on: served as a miss
                changes = _covering(read_changes(old, new) if read_changes else None, old, new)
                if changes is not None:
                    for cache in self._caches:
                        cache._forget(changes)
                    self._move_to(stamp, self.epoch)
                    return
            self._new_epoch(stamp)

    def _new_epoch(self, stamp) -> None:
        for cache in self._caches:
            cache._empty()
        self.used = 0
        self.epoch += 1
        self._move_to(stamp, self.epoch)

    def _move_to(self, stamp, epoch) -> None:
        self.current = stamp
        self._epochs[stamp] = epoch
        while len(self._epochs) > self.RECENT_STAMPS:
            del self._epochs[next(iter(self._epochs))]

    def make_room(self, stamp, size: int) -> bool:
        """Called with ``lock`` held before storing ``size`` bytes under ``stamp``: False when
        the value may not be stored (too big, or computed under a stamp older than the
        current one, before changes the caches have since dropped). A stamp never seen begins
        a new epoch. When the bytes would not fit, the cache holding the most drops the older
        half of its entries (insertion order), so the newest answers stay, until they fit."""
        if size > self.limit:
            return False
        if stamp != self.current:
            if stamp in self._epochs:
                return False
            self._new_epoch(stamp)
        while self.used + size > self.limit:
            largest = max(self._caches, key=_bytes_held)
            if not _bytes_held(largest):
                self.used = 0  # nothing left to evict: the count cannot be above zero
                break
            largest._evict_older_half()
        return True


def _bytes_held(cache) -> int:
    return getattr(cache, "used", 0)


def _same_source(current, stamp) -> bool:
    """Whether two stamps differ at most by the counter's value: same counter connection
    (see db.session.CounterReader), same keys, same CRL."""
    return (current is not None and len(current) == len(stamp) and current[1:] == stamp[1:]
            and isinstance(current[0], tuple) and isinstance(stamp[0], tuple)
            and current[0][0] == stamp[0][0])


def _covering(rows, old: int, new: int) -> frozenset | None:
    """The ``(kind, key)`` changes of ``rows`` if they cover every counter value in
    (old, new] and none is ``all``; else None."""
    if rows is None:
        return None
    seen = {generation for generation, _kind, _key in rows}
    if len(seen) != new - old or any(kind == "all" for _generation, kind, _key in rows):
        return None
    return frozenset((kind, key) for _generation, kind, key in rows)


class GenerationCache:
    """Entries stored under a stamp, valid under every stamp of its epoch (MemoryBudget).

    ``tags`` of an entry name the changes that make it wrong (``("user", id)``...): the
    change log drops it when they appear. ``forget_all_on`` names kinds of change that empty
    the whole cache (for entries that cannot say what they depend on).
    """

    def __init__(self, budget: MemoryBudget | None = None, forget_all_on=frozenset()):
        self.budget = budget or MemoryBudget(8 * MIB)
        self.forget_all_on = frozenset(forget_all_on)
        self._entries: dict = {}
        self._tags: dict = {}
        self.used = 0
        self.budget.register(self)

    def get(self, stamp, key):
        """The value stored for ``key`` if it is valid under ``stamp``, or None."""
        entry = self._entries.get(key)
        # Each entry carries its epoch: a concurrent store may empty the dict under us.
        return entry[1] if entry is not None and entry[0] == self.budget._epochs.get(
            stamp, -1) else None

    def put(self, stamp, key, value, size: int | None = None, tags=()) -> None:
        """Remember ``value``; ``size`` is its estimate in bytes, key included (default:
        ``estimate(key, value)``). Pass a smaller one only for parts another cache counts."""
        if size is None:
            size = estimate(key, value)
        budget = self.budget
        with budget.lock:
            self._drop(key)
            if budget.make_room(stamp, size):
                self._entries[key] = (budget.epoch, value, size, tags)
                for tag in tags:
                    self._tags.setdefault(tag, set()).add(key)
                self.used += size
                budget.used += size

    def _drop(self, key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.used -= entry[2]
            self.budget.used -= entry[2]
            for tag in entry[3]:
                keys = self._tags.get(tag)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._tags[tag]

    def _forget(self, changes) -> None:
        if any(kind in self.forget_all_on for kind, _key in changes):
            self.budget.used -= self.used
            self._empty()
            return
        for change in changes:
            for key in list(self._tags.get(change, ())):
                self._drop(key)

    def _evict_older_half(self) -> None:
        for key in list(self._entries)[:(len(self._entries) + 1) // 2]:
            self._drop(key)

    def _empty(self) -> None:
        # A new dict rather than clear(): a concurrent get keeps reading the old one safely.
        self._entries = {}
        self._tags = {}
        self.used = 0


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
        attributes = getattr(item, "__dict__", None)
        if attributes is None:  # a dataclass with slots: the values are in the object
            return size + sum(_size(getattr(item, field.name))
                              for field in dataclasses.fields(item))
        # Attribute names are interned and shared: only the values count.
        return size + sys.getsizeof(attributes) + sum(_size(value)
                                                      for value in attributes.values())
    return size
