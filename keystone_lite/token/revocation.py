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

from keystone_lite.db import models, session as db_session
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


def purge_expired(session: Session) -> int:
    """Delete events that can no longer match a live token; returns how many."""
    result = session.execute(delete(models.RevocationEvent).where(
        models.RevocationEvent.expires_at < now_us()))
    expired_tokens = session.execute(delete(models.Token).where(
        models.Token.expires_at < now_us()))
    return result.rowcount + expired_tokens.rowcount
