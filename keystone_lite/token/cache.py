"""Per-process memory of answers that stay right while the change counter stands still.

``GenerationCache`` maps a key (a token id, a principal, a store read, "catalog") to a value
computed under a stamp: the database change counter (see keystone_lite.db.generation) and the
key repository's version, read at the start of the request (TokenService.stamp). A lookup with
a different stamp misses, and the first store under a new stamp drops every older entry, so the
cache never holds more than one stamp's worth of entries (and at most ``max_entries``: when
full, it starts again empty).
"""
from __future__ import annotations

import threading


class GenerationCache:
    def __init__(self, max_entries: int = 10_000):
        self.max_entries = max_entries
        self._stamp = None
        self._entries: dict = {}
        self._lock = threading.Lock()

    def get(self, stamp, key):
        """The value stored under ``stamp`` for ``key``, or None."""
        entry = self._entries.get(key)
        # Each entry carries its own stamp: a concurrent put may swap the dict under us.
        return entry[1] if entry is not None and entry[0] == stamp else None

    def put(self, stamp, key, value) -> None:
        with self._lock:
            if stamp != self._stamp or len(self._entries) >= self.max_entries:
                self._entries = {}
                self._stamp = stamp
            self._entries[key] = (stamp, value)
