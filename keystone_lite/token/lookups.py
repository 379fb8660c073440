"""Store reads of the token paths (the certificate's user, the project a scope names, a
user's default project), remembered as snapshots under the request's stamp.

Issuing a token by certificate then reads nothing but the change counter until something is
written, like validation (see keystone_lite.token.service).

Only what was found is remembered: a read that finds nothing is made again next time. Clients
choose the names they send, and remembering each miss would let them fill the memory with
names that exist nowhere (and a miss costs one indexed read).
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from keystone_lite.db import generation
from keystone_lite.token.cache import GenerationCache, MemoryBudget


class Lookups:
    def __init__(self, budget: MemoryBudget | None = None):
        # Reads by name cannot say which user or project they found by it: any change to
        # users or projects drops them all (the change log, cache.MemoryBudget.advance).
        self._cache = GenerationCache(budget, forget_all_on={generation.USER,
                                                             generation.PROJECT})

    def bind(self, session: Session, stamp: tuple):
        """``find(read, **by)``: ``read(session, **by)`` for a store function ``read``, as a
        snapshot (a tuple of them for a list), remembered under ``stamp`` when found.

        ``stamp`` must have been read before ``session`` first touched the database (see
        TokenService.stamp). Nothing is remembered once the session has written.
        """
        def find(read, **by):
            key = (read.__name__, *sorted(by.items()))
            cacheable = generation.cacheable(session)
            found = self._cache.get(stamp, key) if cacheable else None
            if found is None:
                found = _snapshot(read(session, **by))
                if cacheable and found is not None:
                    self._cache.put(stamp, key, found)
            return found
        return find


def _snapshot(found):
    if found is None:
        return None
    if isinstance(found, list):
        return tuple(item.snapshot() for item in found)
    return found.snapshot()
