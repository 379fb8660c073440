"""Revocation events: one row per (kind, key), checked with a single primary-key lookup.

A token is revoked when any event matching its audit ids, its user or its project has a
``revoked_at`` at or after the token's issue time. Events for the same key are merged into one
row (the latest wins), so the table grows with the number of revoked subjects, not with the
number of actions, and a validation never scans it.

Only ``audit`` events are still written (DELETE of a token, see TokenService.revoke_token).
``user`` and ``project`` events were written, with the clock of the node making the change,
before revisions replaced them (migration 0003): they are still checked, for the version-1
tokens issued before them, until they expire.
"""
from __future__ import annotations

from sqlalchemy import and_, case, delete, or_, select
from sqlalchemy.orm import Session

from keystone_lite.db import generation, models, session as db_session
from keystone_lite.token.payload import TokenPayload, now_us


def revoke(session: Session, kind: str, key: str, expires_at: int) -> None:
    """Record that every token of ``kind``/``key`` issued before ``expires_at`` (µs) is dead.

    ``expires_at`` is also when the event can no longer match a live token: the caller passes a
    time after every such token expired, and the row is kept at least until then.
    """
    # One upsert, not a read then an insert: requests revoking the same key at once (two nodes,
    # two threads) would both insert, and on PostgreSQL the loser's unique violation would be
    # a 409 for a revocation that did happen.
    table = models.RevocationEvent.__table__
    if kind == "audit":  # the change log names it: caches drop only what it kills
        generation.attribute(session, (generation.AUDIT, key))
    insert = db_session.conflict_insert(session, table).values(
        kind=kind, key=key, revoked_at=expires_at, expires_at=expires_at)
    session.execute(insert.on_conflict_do_update(
        index_elements=[table.c.kind, table.c.key],
        set_={name: _greater(table.c[name], insert.excluded[name])
              for name in ("revoked_at", "expires_at")}))



def _greater(current, proposed):
    """The later of two times: an event is only ever widened, never narrowed."""
    return case((proposed > current, proposed), else_=current)


def is_revoked(session: Session, payload: TokenPayload) -> bool:
    # The user and project keys match only tokens issued before the upgrade, of version 1 (see
    # the module docstring); asking for them costs nothing in the lookup made for the audit ids.
    keys = [("audit", audit_id) for audit_id in payload.audit_ids]
    keys.append(("user", payload.user_id))
    if payload.project_id:
        keys.append(("project", payload.project_id))
    event = models.RevocationEvent
    # (kind = ? AND key = ?) OR ...: both SQLite and PostgreSQL answer it from the primary key,
    # whereas SQLite scans the table for the row-value form (kind, key) IN (...).
    hit = session.scalar(
        select(event.kind)
        .where(or_(*(and_(event.kind == kind, event.key == key) for kind, key in keys)),
               event.revoked_at >= payload.issued_at)
        .limit(1))
    return hit is not None


def keys_of(payload: TokenPayload) -> tuple:
    """The (kind, key) pairs of the events that can revoke a token (see ``is_revoked``), as
    hashes for ``RevocationFilter``."""
    keys = [("audit", audit_id) for audit_id in payload.audit_ids]
    keys.append(("user", payload.user_id))
    if payload.project_id:
        keys.append(("project", payload.project_id))
    return tuple(hash(key) for key in keys)


class RevocationFilter:
    """Per process, the hashes of every revocation event's (kind, key): a token none of whose
    keys (``keys_of``) is among them is not revoked, and its validation needs no query; a
    token one of whose keys is (a revoked one, or a hash collision) is checked with
    ``is_revoked``. Events are few against the tokens they kill (one per DELETE, kept while a
    token could match, see TokenService.revoke_token): ~60 bytes each.

    Loaded once per cache epoch (keystone_lite.token.cache.MemoryBudget) and then kept current
    by the change log, which names every audit id revoked (``revoke``): registered with the
    budget, it is told of them as the stamp moves, and unloaded when a new epoch begins.
    """

    def __init__(self, budget):
        self.budget = budget
        self._hashes: set | None = None
        budget.register(self)

    def current(self) -> set | None:
        """The hashes, or None when not loaded in this epoch (``load``)."""
        return self._hashes

    def load(self, session: Session, stamp) -> set:
        """Read every event's (kind, key) in ``session`` (begun after ``stamp`` was read) and
        keep them if ``stamp`` is still the budget's current stamp: the log then covers every
        later change."""
        hashes = {hash(tuple(row)) for row in session.execute(
            select(models.RevocationEvent.kind, models.RevocationEvent.key))}
        with self.budget.lock:
            if stamp == self.budget.current and self._hashes is None:
                self._hashes = hashes
        return hashes

    def _forget(self, changes) -> None:  # called by the budget, under its lock
        hashes = self._hashes
        if hashes is not None:
            hashes.update(hash((kind, key)) for kind, key in changes
                          if kind == generation.AUDIT)

    def _empty(self) -> None:
        self._hashes = None

    def _evict_older_half(self) -> None:
        """Not evictable: without it every validation would query."""


def purge_expired(session: Session) -> int:
    """Delete events that can no longer match a live token; returns how many."""
    result = session.execute(delete(models.RevocationEvent).where(
        models.RevocationEvent.expires_at < now_us()))
    expired_tokens = session.execute(delete(models.Token).where(
        models.Token.expires_at < now_us()))
    return result.rowcount + expired_tokens.rowcount
