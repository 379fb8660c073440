"""Engine and session factory; one transaction per request.

SQLite gets the settings a multi-threaded server needs: WAL journal, enforced foreign keys and a
busy timeout, so a concurrent writer waits instead of failing with "database is locked". The
file is opened read-write but never created at request time (a missing or moved database is an
outage, not a new empty database), and a pooled connection is dropped when the path no longer
names the file it opened — SQLite's counterpart of PostgreSQL's ``pool_pre_ping``.

Failures of the database become ServiceUnavailable (503, Retry-After) or Conflict (409), as
``keystone_lite.db.failures`` describes; lock and serialization conflicts are retried once by
``run``. Parameters never appear in log lines or exception messages (``hide_parameters``): they
include password hashes and UUID token ids.
"""
from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
import urllib.parse

from sqlalchemy import create_engine, event, exc
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from keystone_lite import errors, metrics
from keystone_lite.db import failures, generation
from keystone_lite.private_files import create_private_file, make_private_dir

SQLITE_BUSY_TIMEOUT_MS = 10_000
_WRITE_LOCK_OPTION = "keystone_lite_begin_with_write_lock"


def make_engine(url: str) -> Engine:
    """Create the engine for ``url``; a SQLite file is created owner-only (0600, dir 0700)."""
    path = sqlite_file(url)
    if path is not None:
        make_private_dir(os.path.dirname(path))
        create_private_file(path)
    engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"),
                           hide_parameters=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    if path is not None:
        event.listen(engine, "do_connect", functools.partial(_sqlite_open_existing, path))
        event.listen(engine, "connect", functools.partial(_sqlite_remember_file, path))
        event.listen(engine, "checkout", functools.partial(_sqlite_check_file, path))
    return engine


def conflict_insert(session: Session, table):
    """An INSERT into ``table`` that can say ON CONFLICT, in the session's dialect (SQLite or
    PostgreSQL). The dialect's module is imported on first use: a SQLite deployment never loads
    the PostgreSQL dialect, which brings asyncpg's and asyncio with it (~20 ms of every start)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def sqlite_file(url: str) -> str | None:
    """The absolute path of a SQLite database file, None for anything else."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.query.get("uri"):
        return None
    if parsed.database in (None, "", ":memory:"):
        return None
    return os.path.abspath(parsed.database)


def _sqlite_on_connect(dbapi_connection, _record):
    # pysqlite's own transaction handling is switched off so that BEGIN is ours (see below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def _sqlite_on_begin(connection):
    write_lock = connection.get_execution_options().get(_WRITE_LOCK_OPTION)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write_lock else "BEGIN")


def _sqlite_open_existing(path, _dialect, _record, cargs, cparams):
    """Open ``path`` read-write without creating it (``make_engine`` created it once)."""
    cargs[:] = [f"file:{urllib.parse.quote(path)}?mode=rw"]
    cparams["uri"] = True


def _file_identity(path: str):
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _sqlite_remember_file(path, _dbapi_connection, record):
    record.info["sqlite_file"] = _file_identity(path)


def _sqlite_check_file(path, _dbapi_connection, record, _proxy):
    """A connection to a file that was moved, removed or replaced is dropped; the pool then
    opens ``path`` afresh, which fails (503) while nothing usable is there."""
    if _file_identity(path) != record.info.get("sqlite_file"):
        # Every pooled connection is on the same old file: drop them all.
        raise exc.InvalidatePoolError(f"{path} was moved, removed or replaced")


class CounterReader:
    """Reads the change counter (keystone_lite.db.generation) on one driver connection of its
    own, shared by the process's threads: taking a connection from the pool and giving it back
    costs more than the query, which runs on every request.

    The connection is outside the pool (it never holds back a request's transaction) and in
    autocommit mode (no transaction stays open between reads). It is dropped after any failure
    and, for a SQLite file, when the path no longer names the file it opened (the pool's own
    check); the next read opens a fresh one through the pool's connect events.

    ``read`` also says which connection read the value: a database restored from a backup may
    show a counter value this process has already seen with other data behind it, and a
    restore replaces the SQLite file or drops the server's connections, so answers remembered
    before a new connection are not reused after it.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self.path = sqlite_file(engine.url.render_as_string(hide_password=False))
        self._lock = threading.Lock()
        self._connection = None  # the pool's proxy, detached: closing it closes the connection
        self._cursor = None  # kept with the connection
        self._file = None
        self._connections_opened = 0

    def read(self) -> tuple[int, int]:
        """``(connection number, counter value)``: equal pairs mean the same data."""
        driver_error = self.engine.dialect.loaded_dbapi.Error
        with self._lock:
            if self._cursor is not None and (
                    self.path is None or _file_identity(self.path) == self._file):
                try:
                    return self._query()
                except driver_error:
                    # It worked before: the server may have closed it (restart, idle timeout).
                    # A fresh one comes through the pool, which checks it (pool_pre_ping).
                    pass
            with failures.database_errors(driver_error):
                self._drop()
                self._open()
                return self._query()

    def changes(self, after: int, upto: int) -> list[tuple[int, str, str]] | None:
        """The change log's rows for counter values in (``after``, ``upto``], read on the
        same connection as the counter; None when it cannot be read (the caller then forgets
        everything, as it would without the log)."""
        driver_error = self.engine.dialect.loaded_dbapi.Error
        with self._lock:
            if self._cursor is None:
                return None
            try:
                self._cursor.execute(generation.changes_sql(self.engine.dialect.paramstyle),
                                     (after, upto))
                return [tuple(row) for row in self._cursor.fetchall()]
            except driver_error:
                self._drop()
                return None

    def _query(self) -> tuple[int, int]:
        try:
            self._cursor.execute(generation.COUNTER_SQL)
            row = self._cursor.fetchone()
        except BaseException:
            self._drop()
            raise
        return self._connections_opened, row[0] if row else 0

    def _open(self) -> None:
        connection = self.engine.raw_connection()
        connection.detach()
        try:
            self.engine.dialect.set_isolation_level(connection.dbapi_connection, "AUTOCOMMIT")
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        self._cursor = connection.dbapi_connection.cursor()
        self._file = _file_identity(self.path) if self.path is not None else None
        self._connections_opened += 1

    def close(self) -> None:
        """Close the connection (the next read opens a new one)."""
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        connection, self._connection, self._cursor = self._connection, None, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - it failed already; a fresh one replaces it
                pass


def release_reads(session: Session) -> None:
    """End ``session``'s transaction if it has only read, so that its connection goes back to
    the pool while the caller does slow work holding none (a password hash, then a write of
    its own: holding one connection while waiting for another starves the pool under load).
    The session begins a new transaction at its next use; objects it loaded are expired, so
    keep snapshots of what is needed."""
    if session.in_transaction() and generation.cacheable(session) and not (
            session.new or session.dirty or session.deleted):
        session.rollback()


_AFTER_COMMIT = "keystone_lite.after_commit"


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose writes move the change counter (keystone_lite.db.generation)."""
    factory = sessionmaker(engine, expire_on_commit=False)
    generation.track(factory)
    return factory


@contextlib.contextmanager
def transaction(session_factory: sessionmaker[Session], *, write_lock: bool = False):
    """Yield a session for one transaction, begun at its first use: committed on success, rolled
    back on error (a session never used begins none).

    ``write_lock`` begins SQLite's transaction holding the write lock (waiting for it up to the
    busy timeout). Database failures become ServiceUnavailable or a subclass (see the module
    docstring); IntegrityError becomes Conflict (409).
    """
    with failures.database_errors():
        if write_lock:
            engine = session_factory.kw["bind"].execution_options(**{_WRITE_LOCK_OPTION: True})
            session = session_factory(bind=engine)
        else:
            session = session_factory()
        with session:
            yield session
            # A request answered from the caches never began a transaction: nothing to end.
            if session.in_transaction():
                session.commit()
            for hook in session.info.pop(_AFTER_COMMIT, ()):
                hook()


def after_commit(session: Session, hook) -> None:
    """Call ``hook()`` once the transaction of ``session`` (begun by ``transaction``) is
    committed; never when it fails (audit events of changes: keystone_lite.audit)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(hook)


def run(session_factory: sessionmaker[Session], work):
    """Return ``work(session)`` run in one transaction.

    A transaction that lost a race for the database is run again, once: in SQLite's WAL mode,
    a transaction that has read and then needs to write while another connection writes fails
    at once with "database is locked" (the busy timeout does not apply: its snapshot would be
    stale), so the second run begins holding the write lock and waits for it. PostgreSQL
    serialization failures and deadlocks are retried the same way. Nothing of the first run
    remains (it was rolled back), so ``work`` must touch nothing but the session.
    """
    started = time.monotonic()
    try:
        with transaction(session_factory) as session:
            return work(session)
    except errors.DatabaseBusy:
        if time.monotonic() - started >= SQLITE_BUSY_TIMEOUT_MS / 1000:
            raise  # it waited the whole busy timeout already
    metrics.database_retry()
    with transaction(session_factory, write_lock=True) as session:
        return work(session)
