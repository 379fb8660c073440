"""Revocation events: one row per (kind, key), checked with a single primary-key lookup.

A token is revoked when any event matching its audit ids, its user or its project was recorded
at or after the token was issued. Events for the same key are merged into one row (the latest
wins), so the table grows with the number of revoked subjects, not with the number of actions,
and a validation never scans it.
"""
from __future__ import annotations

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from keystone_lite.db import models
from keystone_lite.token.payload import TokenPayload, now_us


def revoke(session: Session, kind: str, key: str, expires_at: int) -> None:
    """Record that every token of ``kind``/``key`` issued up to now is dead.

    ``expires_at`` (µs) is when the last token the event can match expires; the row is kept at
    least until then.
    """
    now = now_us()
    event = session.get(models.RevocationEvent, (kind, key))
    if event is None:
        session.add(models.RevocationEvent(kind=kind, key=key, revoked_at=now,
                                           expires_at=expires_at))
    else:
        event.revoked_at = max(event.revoked_at, now)
        event.expires_at = max(event.expires_at, expires_at)
    session.flush()


def is_revoked(session: Session, payload: TokenPayload) -> bool:
    keys = [("audit", audit_id) for audit_id in payload.audit_ids]
    keys.append(("user", payload.user_id))
    if payload.project_id:
        keys.append(("project", payload.project_id))
    hit = session.scalar(
        select(models.RevocationEvent.kind)
        .where(tuple_(models.RevocationEvent.kind, models.RevocationEvent.key).in_(keys),
               models.RevocationEvent.revoked_at >= payload.issued_at)
        .limit(1))
    return hit is not None


def purge_expired(session: Session) -> int:
    """Delete events that can no longer match a live token; returns how many."""
    result = session.execute(delete(models.RevocationEvent).where(
        models.RevocationEvent.expires_at < now_us()))
    expired_tokens = session.execute(delete(models.Token).where(
        models.Token.expires_at < now_us()))
    return result.rowcount + expired_tokens.rowcount
