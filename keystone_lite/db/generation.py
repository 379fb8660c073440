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
deleted ones do. New ``certificates`` rows do not count either (a certificate's first token
changes no other answer). Failed-login counts (``login_failures``) do not count at all: no cached
answer depends on them (the lockout reads them from the store on every password login), and an
anonymous stream of wrong passwords must not empty every node's caches. OAuth1 request tokens
do not count either: nothing cached depends on them (authorizing and exchanging one read it in
the request's transaction), and a consumer asking for them must not empty the caches; the
access token an exchange creates does count.

Each increment also writes what it changed to the change log (``changes``, in the same
transaction): ``user`` X for a user row or a role assignment of X, ``project`` Y for a project
row, ``audit`` Z for a token revocation (an audit id), and ``all`` for any other write, which
the hooks cannot attribute. Increments are serialized by the counter row's lock, so a reader
that sees value V also sees the log up to V (``CHANGES_SQL``); a process that moves from V to
V' drops only what the log names for (V, V'], and everything when the log does not cover every
value in between (purged, or written by an older version) or names ``all``
(keystone_lite.token.cache.MemoryBudget.advance). The log keeps the last ``KEEP`` values.
"""
from __future__ import annotations

from sqlalchemy import delete, event, inspect, update
from sqlalchemy.orm import Session, sessionmaker

from keystone_lite.db import models

_COUNTER = models.Generation.__table__.name
_TOKENS = models.Token.__table__.name
# Tables whose new rows change no cached answer (their changes and deletions do).
_INSERTS_UNTRACKED = frozenset({_TOKENS, models.Certificate.__table__.name})
_UNTRACKED = frozenset({_COUNTER, models.Change.__table__.name,
                        models.LoginFailure.__table__.name,
                        "oauth1_request_tokens"})  # by name: mapped on first use (feature_models)
COUNTER_SQL = "SELECT value FROM generation WHERE id = 1"  # see session.CounterReader
_BUMP = update(models.Generation).where(models.Generation.id == 1).values(
    value=models.Generation.value + 1).returning(models.Generation.value)
_LOG = models.Change.__table__
# Change-log rows kept (counter values), purged every PURGE_EVERY increments: a process that
# has not read the counter for that many writes empties its caches, as without the log.
KEEP, PURGE_EVERY = 4096, 256
EVERYTHING = ("all", "")
# The change log's kinds; the key is the id (user, project) or the audit id.
USER, PROJECT, AUDIT = "user", "project", "audit"
_ATTRIBUTED = "keystone_lite_attributed_changes"


def changes_sql(paramstyle: str) -> str:
    """The change log between two counter values (exclusive, inclusive), for the driver's
    parameter style (see session.CounterReader.changes)."""
    mark = "?" if paramstyle == "qmark" else "%s"
    return (f"SELECT generation, kind, key FROM changes WHERE generation > {mark} "
            f"AND generation <= {mark}")


def attribute(session: Session, *changes: tuple[str, str]) -> None:
    """Name what the next bulk statement of ``session`` changes (see ``_on_execute``): without
    it, a bulk statement changes ``all``."""
    session.info[_ATTRIBUTED] = changes


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
    changes = {_change_of(obj) for obj in (*session.dirty, *session.deleted)
               if _tracked(obj.__table__.name)}
    changes.update(_change_of(obj) for obj in session.new
                   if _tracked(obj.__table__.name)
                   and obj.__table__.name not in _INSERTS_UNTRACKED)
    if changes:
        _bump(session, changes)


def _change_of(obj) -> tuple[str, str]:
    """What a flushed object changes, for the log; ``all`` unless it is one of the few kinds
    whose every dependent cached answer is known (keystone_lite.token.service)."""
    identity = inspect(obj).identity  # the primary key as loaded: no attribute load
    if isinstance(obj, models.User):
        key = identity[0] if identity else obj.id
        return (USER, key) if key else EVERYTHING
    if isinstance(obj, models.Project):
        key = identity[0] if identity else obj.id
        return (PROJECT, key) if key else EVERYTHING
    if isinstance(obj, models.RoleAssignment):  # primary key: user_id first
        key = identity[0] if identity else obj.user_id
        return (USER, key) if key else EVERYTHING
    return EVERYTHING


def _on_execute(state):
    if state.is_update or state.is_delete or state.is_insert:
        table = getattr(state.statement, "table", None)
        attributed = state.session.info.pop(_ATTRIBUTED, None)
        if table is not None and _tracked(table.name) and not (
                state.is_insert and table.name in _INSERTS_UNTRACKED):
            _bump(state.session, set(attributed or (EVERYTHING,)))


def _tracked(table_name: str) -> bool:
    return table_name not in _UNTRACKED


def _bump(session: Session, changes) -> None:
    connection = session.connection()
    value = connection.execute(_BUMP).scalar()  # Core: passes by the ORM hooks above
    session.info["wrote"] = True
    if value is None:
        return
    connection.execute(_LOG.insert(), [{"generation": value, "kind": kind, "key": key[:64]}
                                       for kind, key in changes])
    if value % PURGE_EVERY == 0:
        connection.execute(delete(_LOG).where(_LOG.c.generation <= value - KEEP))
