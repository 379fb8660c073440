"""Account lockout after consecutive failed password logins: Keystone's ``[security_compliance]
lockout_failure_attempts`` and ``lockout_duration``, on by default here.

As Keystone: a user is locked while its count of consecutive failures is at least
``attempts`` and its last failure is less than ``duration`` seconds old (0: until an
administrator sets a new password or enables the user); attempts while locked do not move the
last failure, so the lock ends ``duration`` after the failure that set it; a successful login
empties the count. Users with the option ``ignore_lockout_failure_attempts`` are never locked,
or anyone knowing a service user's name could lock the service out.

The counts live in ``login_failures``, which the change counter does not track (a failed login
must not empty every node's caches), and are written in transactions of their own: the failed
request's transaction is rolled back, and its failure must count all the same.
"""
from __future__ import annotations

from sqlalchemy import case, delete
from sqlalchemy.orm import Session, sessionmaker

from keystone_lite.db import models, session as db_session
from keystone_lite.identity import store
from keystone_lite.token.payload import now_us

IGNORE_LOCKOUT = "ignore_lockout_failure_attempts"


class Lockout:
    def __init__(self, session_factory: sessionmaker[Session], attempts: int, duration: int):
        self.session_factory = session_factory
        self.attempts = attempts  # 0: no lockout
        self.duration_us = duration * 1_000_000  # 0: until an administrator unlocks

    def standing(self, session: Session, user_id: str) -> tuple[bool, int]:
        """``(locked, failures)``: whether the user's password logins are refused now, and
        its count of consecutive failures (read in the request's transaction)."""
        if not self.attempts:
            return False, 0
        row = session.get(models.LoginFailure, user_id)
        if row is None:
            return False, 0
        if row.failures < self.attempts or (
                self.duration_us and row.last_failure_at <= now_us() - self.duration_us):
            return False, row.failures
        exempt = store.user_options(session, [user_id]).get(user_id, {}).get(IGNORE_LOCKOUT)
        return exempt is not True, row.failures

    def failed(self, user_id: str) -> None:
        """Count a failed login (a refusal while locked counts without moving the last
        failure), in a transaction of its own."""
        if self.attempts:
            db_session.run(self.session_factory, lambda session: self._count(session, user_id))

    def _count(self, session: Session, user_id: str) -> None:
        now = now_us()
        table = models.LoginFailure.__table__
        failures, last_failure_at = table.c.failures, table.c.last_failure_at
        locking = failures >= self.attempts
        if self.duration_us:
            locking = locking & (last_failure_at > now - self.duration_us)
        insert = db_session.conflict_insert(session, table).values(
            user_id=user_id, failures=1, last_failure_at=now)
        # One statement: concurrent failures all count (no read-modify-write race).
        session.execute(insert.on_conflict_do_update(
            index_elements=[table.c.user_id],
            set_={"failures": case((locking, failures + 1),
                                   (failures >= self.attempts, 1),  # the lock has expired
                                   else_=failures + 1),
                  "last_failure_at": case((locking, last_failure_at), else_=now)}))

    def succeeded(self, user_id: str) -> None:
        """Empty the user's failure count after a successful login (call it only when
        ``standing`` found failures), in a transaction of its own."""
        db_session.run(self.session_factory, lambda session: session.execute(
            delete(models.LoginFailure).where(models.LoginFailure.user_id == user_id)))

    @staticmethod
    def reset(session: Session, user_id: str) -> None:
        """Unlock the user in the caller's transaction (a new password, enabling)."""
        session.execute(delete(models.LoginFailure).where(
            models.LoginFailure.user_id == user_id))
