"""Engine and session factory; one transaction per request.

SQLite gets the settings a multi-threaded server needs: WAL journal, enforced foreign keys and a
busy timeout, so a concurrent writer waits instead of failing with "database is locked".
"""
from __future__ import annotations

import contextlib
import os

from sqlalchemy import create_engine, event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from keystone_lite import errors

SQLITE_BUSY_TIMEOUT_MS = 10_000


def make_engine(url: str) -> Engine:
    """Create the engine for ``url``; a SQLite file is created owner-only (0600, dir 0700)."""
    if url.startswith("sqlite:///") and url not in ("sqlite://", "sqlite:///:memory:"):
        path = url[len("sqlite:///"):]
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection, _record):
    # pysqlite's own transaction handling is switched off so that BEGIN is ours (see below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def _sqlite_on_begin(connection):
    connection.exec_driver_sql("BEGIN")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextlib.contextmanager
def transaction(session_factory: sessionmaker[Session]):
    """Yield a session inside one transaction: committed on success, rolled back on error.

    Database outages become ServiceUnavailable (503); IntegrityError becomes Conflict (409).
    """
    try:
        with session_factory.begin() as session:
            yield session
    except exc.IntegrityError:
        raise errors.Conflict() from None
    except exc.OperationalError as error:
        raise errors.ServiceUnavailable() from error
    except exc.InterfaceError as error:
        raise errors.ServiceUnavailable() from error
