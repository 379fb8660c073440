"""The change counter: one row that every write to identity or revocation data increments.

A validation's answer depends only on those rows, the token and the clock. So a process may
reuse an answer as long as the counter it reads at the start of a request is the one the answer
was computed under: one single-row read replaces a dozen queries, and a write on any node (the
counter lives in the shared database) is seen by every node on its next request.

The counter is read outside any transaction (``session.CounterReader``), before anything the
answer depends on, so an answer computed afterwards is never older than the value it is
remembered under (at worst newer, which only costs a miss once the newer value is read).

The counter is incremented inside the writing transaction, by a flush hook for ORM changes and
an execute hook for bulk INSERT/UPDATE/DELETE statements, so no write path can forget it. New
uuid token rows do not count (issuing a token changes no other token's answer); changed or
deleted ones do. Failed-login counts (``login_failures``) do not count at all: no cached
answer depends on them (the lockout reads them from the store on every password login), and an
anonymous stream of wrong passwords must not empty every node's caches. OAuth1 request tokens
do not count either: nothing cached depends on them (authorizing and exchanging one read it in
the request's transaction), and a consumer asking for them must not empty the caches; the
access token an exchange creates does count.
"""
from __future__ import annotations

from sqlalchemy import event, update
from sqlalchemy.orm import Session, sessionmaker

from keystone_lite.db import models

_COUNTER = models.Generation.__table__.name
_TOKENS = models.Token.__table__.name
# OAuth1's by name: its model is mapped on first use (keystone_lite.db.feature_models).
_UNTRACKED = frozenset({_COUNTER, models.LoginFailure.__table__.name, "oauth1_request_tokens"})
COUNTER_SQL = "SELECT value FROM generation WHERE id = 1"  # see session.CounterReader
_BUMP = update(models.Generation).where(models.Generation.id == 1).values(
    value=models.Generation.value + 1)


def cacheable(session: Session) -> bool:
    """False once the transaction has written tracked rows: what it reads then may be rolled
    back, and must not be remembered under a counter value another write could reach."""
    return not session.info.get("wrote", False)


def track(factory: sessionmaker) -> None:
    """Make every session of ``factory`` increment the counter when it writes tracked rows."""
    event.listen(factory, "before_flush", _before_flush)
    event.listen(factory, "do_orm_execute", _on_execute)


def _before_flush(session, flush_context, instances):
    # A spurious increment only costs the caches a miss; a missed one would serve stale answers.
    changed = [obj.__table__.name for obj in (*session.dirty, *session.deleted)]
    added = [obj.__table__.name for obj in session.new]
    if any(_tracked(name) for name in changed) or any(
            _tracked(name) and name != _TOKENS for name in added):
        _bump(session)


def _on_execute(state):
    if state.is_update or state.is_delete or state.is_insert:
        table = getattr(state.statement, "table", None)
        if table is not None and _tracked(table.name) and not (
                state.is_insert and table.name == _TOKENS):
            _bump(state.session)


def _tracked(table_name: str) -> bool:
    return table_name not in _UNTRACKED


def _bump(session: Session) -> None:
    session.connection().execute(_BUMP)  # Core: passes by the ORM hooks above
    session.info["wrote"] = True
