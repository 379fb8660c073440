"""The database backend of a test run: SQLite files (default) or a real PostgreSQL.

``KEYSTONE_LITE_TEST_DATABASE_URL=postgresql+psycopg://kl:kl@127.0.0.1:5432/kltest`` selects
PostgreSQL. The database named in the URL is only where the tests connect to create and drop
their own databases (the role needs CREATEDB). Every database a run makes is called
``kltest_<pid>_<random>_<n>`` and is dropped by the same run (or, if that run was killed, by the
next run on the same host).

How a PostgreSQL test gets a clean database: the session builds one template (Alembic
``db_sync``, ``bootstrap``) and remembers its rows. A test takes a database from a ``Pool``
(the first ones are ``CREATE DATABASE ... TEMPLATE`` copies) and gives it back at teardown,
where it is reset — every table emptied and the template's rows put back, in one transaction —
before the next test gets it. Two deployments in one test get two databases.

Measured here on PostgreSQL 15 (2 cores, a disk shared with other jobs): a reset takes ~5 ms
(median 4 ms over the 558 deployments of tests/functional and tests/unit), up to ~50 ms when
the disk is busy; ``CREATE DATABASE ... TEMPLATE`` + ``DROP DATABASE`` took ~27 ms idle but
400-500 ms under that load (both wait for the disk: they are now paid only for the few
databases a pool ever holds); running the migrations per test ~110-370 ms. Connections to test
databases use ``synchronous_commit=off``: nothing a test does needs to survive a crash of the
test server, and commits then do not wait for the disk (visibility is unchanged).
"""
from __future__ import annotations

import itertools
import os
import re
import secrets

import sqlalchemy
from sqlalchemy.engine import make_url

from keystone_lite.db import models

URL_ENV = "KEYSTONE_LITE_TEST_DATABASE_URL"
REQUIRE_ENV = "KEYSTONE_LITE_REQUIRE_POSTGRESQL"
#: The URL documented for developers and used by ``tox -e py311-postgresql`` by default.
DEFAULT_POSTGRESQL_URL = "postgresql+psycopg://kl:kl@127.0.0.1:5432/kltest"
_NAME = re.compile(r"kltest_(\d+)_[0-9a-f]+_\d+")
_LOCAL_HOSTS = (None, "", "localhost", "127.0.0.1", "::1")
_OPTIONS = "-c synchronous_commit=off"


class Unreachable(Exception):
    """The PostgreSQL server of the URL cannot be used (down, bad password, no driver)."""


def postgresql_required() -> bool:
    """KEYSTONE_LITE_REQUIRE_POSTGRESQL=1: a test needing PostgreSQL fails instead of skipping."""
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def configured_url() -> str | None:
    return os.environ.get(URL_ENV) or None


def postgresql_selected() -> bool:
    url = configured_url()
    return url is not None and not url.startswith("sqlite")


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def connection_section(url: str | None) -> dict:
    """Config overrides that point keystone-lite.conf at ``url`` (nothing for SQLite)."""
    return {"database": {"connection": url}} if url else {}


class SQLiteBackend:
    """Each deployment keeps its own SQLite file under its data_dir (the config's default)."""

    name = "sqlite"

    def create(self, template: str | None = None) -> None:
        """No URL: the configuration's default ``sqlite:///<data_dir>/keystone-lite.db``."""
        return None

    def drop(self, url: str | None) -> None:
        pass

    def pool(self, template: str | None = None) -> SQLitePool:
        return SQLitePool()

    def close(self) -> None:
        pass


class SQLitePool:
    def acquire(self) -> None:
        return None

    def release(self, url: str | None) -> None:
        pass


class PostgreSQLBackend:
    """Creates and drops databases on one PostgreSQL server for one test run."""

    name = "postgresql"

    def __init__(self, url: str):
        self.url = make_url(url)
        if self.url.get_backend_name() != "postgresql":
            raise ValueError(f"{URL_ENV} must be a postgresql URL, not {self.url.drivername}")
        self.prefix = f"kltest_{os.getpid()}_{secrets.token_hex(3)}"
        self._numbers = itertools.count()
        self._created: list[str] = []
        self._pools: list[Pool] = []
        # One AUTOCOMMIT connection for CREATE/DROP DATABASE (they cannot run in a transaction).
        self._engine = None
        try:
            self._engine = sqlalchemy.create_engine(self.url, isolation_level="AUTOCOMMIT",
                                                    poolclass=sqlalchemy.pool.NullPool)
            self._connection = self._engine.connect()
        except (sqlalchemy.exc.SQLAlchemyError, ImportError) as exc:  # ImportError: no driver
            if self._engine is not None:
                self._engine.dispose()
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            raise Unreachable(f"PostgreSQL at {self.url.render_as_string()} is not usable: "
                              f"{reason[0] if reason else type(exc).__name__}") from None
        self.server_version = self._connection.dialect.server_version_info
        self._drop_leftovers()

    def url_of(self, name: str) -> str:
        """The URL the apps and the CLI use for database ``name``."""
        given = self.url.query.get("options")  # e.g. -c search_path=... in the URL given
        options = f"{given} {_OPTIONS}" if isinstance(given, str) else _OPTIONS
        return self.url.set(database=name).update_query_dict(
            {"options": options}).render_as_string(hide_password=False)

    def create(self, template: str | None = None) -> str:
        """A new database, empty or a copy of the database at ``template``; returns its URL.

        The template must have no open connection while it is copied.
        """
        name = f"{self.prefix}_{next(self._numbers)}"
        source = make_url(template).database if template else "template0"
        self._connection.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
        self._created.append(name)
        return self.url_of(name)

    def drop(self, url: str | None) -> None:
        if url is None:
            return
        name = make_url(url).database
        # WITH (FORCE): a server process a test started may still hold a connection.
        self._connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self._created:
            self._created.remove(name)

    def pool(self, template: str | None = None) -> Pool:
        """Reusable databases equal to ``template`` (a URL), or empty ones."""
        pool = Pool(self, template)
        self._pools.append(pool)
        return pool

    def close(self) -> None:
        """Drop every database this run still has, then disconnect."""
        try:
            for pool in self._pools:
                pool.close()
            for name in reversed(self._created):
                self.drop(self.url_of(name))
        finally:
            self._connection.close()
            self._engine.dispose()

    def _drop_leftovers(self) -> None:
        """Drop the databases of earlier runs on this host whose process no longer exists."""
        if self.url.host not in _LOCAL_HOSTS:
            return
        names = self._connection.execute(sqlalchemy.text(
            "SELECT datname FROM pg_database WHERE datname LIKE :pattern"),
            {"pattern": "kltest\\_%"}).scalars().all()
        for name in names:
            match = _NAME.fullmatch(name)
            if match and not _process_exists(int(match.group(1))):
                self._connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Pool:
    """Databases that start each test equal to a template: taken, used, reset, taken again.

    A reset empties every table of the schema and inserts the template's rows again; an empty
    pool's reset drops and recreates the ``public`` schema. A database whose reset fails (a
    test changed the schema, or left a transaction holding locks) is dropped, not reused.
    """

    def __init__(self, backend: PostgreSQLBackend, template: str | None):
        self.backend = backend
        self.template = template
        self._rows = _rows_of(template) if template else None
        self._free: list[tuple[str, sqlalchemy.Connection]] = []
        self._in_use: dict[str, sqlalchemy.Connection] = {}

    def acquire(self) -> str:
        if self._free:
            url, connection = self._free.pop()
        else:
            url = self.backend.create(self.template)
            connection = _reset_connection(url)
        self._in_use[url] = connection
        return url

    def release(self, url: str | None) -> None:
        """Reset the database for the next test (callers first close their own connections)."""
        connection = self._in_use.pop(url, None)
        if connection is None:
            return
        try:
            with connection.begin():
                self._reset(connection)
        except sqlalchemy.exc.SQLAlchemyError:
            connection.close()
            self.backend.drop(url)
        else:
            self._free.append((url, connection))

    def close(self) -> None:
        """Disconnect; the backend drops the databases."""
        for _, connection in self._free:
            connection.close()
        for connection in self._in_use.values():
            connection.close()
        self._free.clear()
        self._in_use.clear()

    def _reset(self, connection) -> None:
        if self._rows is None:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
            return
        tables = models.every_table()
        for table in reversed(tables):
            connection.execute(table.delete())
        for table in tables:
            if self._rows[table.name]:
                connection.execute(table.insert(), self._rows[table.name])


def _reset_connection(url: str) -> sqlalchemy.Connection:
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    connection = engine.connect()
    # A test that left a transaction open makes the reset fail (and the database be dropped)
    # rather than hang.
    connection.exec_driver_sql("SET lock_timeout = '5s'")
    connection.commit()
    return connection


def _rows_of(url: str) -> dict[str, list[dict]]:
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as connection:
            return {table.name: [dict(row._mapping) for row in connection.execute(table.select())]
                    for table in models.every_table()}
    finally:
        engine.dispose()


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def backend_from_environment() -> SQLiteBackend | PostgreSQLBackend:
    """The backend ``KEYSTONE_LITE_TEST_DATABASE_URL`` selects (SQLite when unset)."""
    return PostgreSQLBackend(configured_url()) if postgresql_selected() else SQLiteBackend()
