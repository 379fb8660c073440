"""Database failures as the service reports them: 503 (busy, full or down) or 409.

``database_errors()`` wraps any use of the database, through the ORM or a raw driver
connection: DatabaseBusy (lock or serialization conflicts), DatabaseFull (no space: nothing was
written) or plain ServiceUnavailable (down, unreachable, unreadable), with the driver's reason
as ``detail`` (logged, never sent). Parameters never appear (the engine hides them: they
include password hashes and token ids).
"""
from __future__ import annotations

import contextlib

from sqlalchemy import exc

from keystone_lite import errors, metrics

# SQLite primary result codes (the low byte of an extended code).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_FULL = 5, 6, 13
# PostgreSQL SQLSTATEs: serialization_failure, deadlock_detected, lock_not_available; disk_full.
_PG_BUSY = ("40001", "40P01", "55P03")
_PG_FULL = ("53100",)


@contextlib.contextmanager
def database_errors(driver_error: type[Exception] = exc.DBAPIError):
    """Turn database failures raised inside into KeystoneErrors.

    IntegrityError becomes Conflict (409), DataError ValidationError (400); operational failures and the driver's plain
    DatabaseError ("file is not a database") become ServiceUnavailable or a subclass; an
    exhausted pool becomes DatabaseBusy. ``driver_error`` is the driver's base exception, for
    callers that use a raw driver connection.
    """
    try:
        yield
    except exc.IntegrityError:
        raise errors.Conflict() from None
    except exc.DataError:
        # A value the column cannot hold (too long, out of range) that no check caught: the
        # client's input, so 400 and not 500 (PostgreSQL enforces lengths, SQLite does not).
        raise errors.ValidationError("A value is too long or out of range for its "
                                     "attribute.") from None
    except (exc.OperationalError, exc.InterfaceError) as error:
        raise unavailable(error) from error
    except exc.DatabaseError as error:
        if type(error) is not exc.DatabaseError:  # ProgrammingError...: our bug
            raise
        raise unavailable(error) from error
    except exc.TimeoutError as error:  # every pooled connection in use for pool_timeout
        metrics.database_pool_exhausted()
        raise errors.DatabaseBusy(detail=f"connection pool exhausted: {error}") from error
    except driver_error as error:
        if isinstance(error, exc.SQLAlchemyError):
            raise
        raise unavailable(error) from error


def unavailable(error: Exception) -> errors.ServiceUnavailable:
    """The 503 for a database failure: busy, full or down, with the driver's reason as detail."""
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    detail = f"database error: {type(original).__name__}: {lines[0] if lines else ''}"
    sqlite_code = getattr(original, "sqlite_errorcode", None)
    sqlite_code = sqlite_code & 0xFF if isinstance(sqlite_code, int) else None
    sqlstate = getattr(original, "sqlstate", None)
    if sqlite_code in (_SQLITE_BUSY, _SQLITE_LOCKED) or sqlstate in _PG_BUSY:
        failure = errors.DatabaseBusy(detail=detail)
    elif sqlite_code == _SQLITE_FULL or sqlstate in _PG_FULL:
        failure = errors.DatabaseFull(detail=detail)
    else:
        failure = errors.ServiceUnavailable(detail=detail)
    metrics.database_error(failure)
    return failure
