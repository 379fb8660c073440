"""keystone_lite.db.session: how database failures map to client errors.

Real failures (and the retry of a transaction that lost a race for the lock) are injected in
tests/faults; here the drivers' errors are plain stand-ins, so that the codes no test can
provoke (PostgreSQL's disk full, serialization failures) are covered too."""
from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import exc

from keystone_lite import errors
from keystone_lite.db import failures


class DriverError(Exception):
    """A DBAPI error as psycopg raises it: ``sqlstate`` holds the SQLSTATE."""

    def __init__(self, message: str, sqlstate: str | None = None):
        super().__init__(message)
        self.sqlstate = sqlstate


def sqlite_error(message: str, code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code
    return error


def wrapped(original, kind=exc.OperationalError):
    return kind("SELECT secret FROM t WHERE id = ?", ("the-parameter",), original)


@pytest.mark.parametrize("original, expected", [
    (sqlite_error("database is locked", 5), errors.DatabaseBusy),
    (sqlite_error("database is locked", 517), errors.DatabaseBusy),  # SQLITE_BUSY_SNAPSHOT
    (sqlite_error("database table is locked", 6), errors.DatabaseBusy),
    (sqlite_error("database or disk is full", 13), errors.DatabaseFull),
    (sqlite_error("unable to open database file", 14), errors.ServiceUnavailable),
    (sqlite_error("disk I/O error", 10), errors.ServiceUnavailable),
    (DriverError("could not serialize access", "40001"), errors.DatabaseBusy),
    (DriverError("deadlock detected", "40P01"), errors.DatabaseBusy),
    (DriverError("could not extend file: No space left on device", "53100"),
     errors.DatabaseFull),
    (DriverError("terminating connection due to administrator command", "57P01"),
     errors.ServiceUnavailable),
    (DriverError("connection failed: Connection refused"), errors.ServiceUnavailable),
])
def test_driver_errors_map_to_the_right_503(original, expected):
    error = failures.unavailable(wrapped(original))

    assert type(error) is expected
    assert error.code == 503
    assert error.detail == f"database error: {type(original).__name__}: {original}"
    assert "the-parameter" not in error.detail and "SELECT" not in error.detail


def test_only_the_first_line_of_a_driver_message_is_kept():
    error = failures.unavailable(wrapped(DriverError("connection failed: refused\n"
                                                       "\tIs the server running?")))
    assert error.detail == "database error: DriverError: connection failed: refused"


@pytest.mark.parametrize("error_class, retry_after", [
    (errors.ServiceUnavailable, "5"), (errors.DatabaseBusy, "1"), (errors.DatabaseFull, "30")])
def test_every_503_says_when_to_retry(error_class, retry_after):
    assert error_class().headers(None) == [("Retry-After", retry_after)]
