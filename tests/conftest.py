"""Shared fixtures: the chain config file → CLI set-up → paste-loaded apps → WebTest.

Every test gets its own data directory with a real Fernet key repository, the shipped
``etc/keystone-lite-paste.ini`` and its own database: a SQLite file by default, or a PostgreSQL
database when ``KEYSTONE_LITE_TEST_DATABASE_URL`` names a server (``tests/databases.py``). The
schema (Alembic), the bootstrap and the keys are built once per session; each deployment starts
from a copy — a file copy for SQLite; for PostgreSQL a pooled database reset to the template's
rows after each test (~5 ms) — which keeps tests independent and their set-up cheap.
"""
from __future__ import annotations

import dataclasses
import os
import shutil

import pytest
import webtest
from paste.deploy import loadapp

import databases
from builders import ADMIN_PASSWORD, ADMIN_TOKEN, PASTE_INI
from keystone_lite import services, settings as settings_module
from keystone_lite.cli import manage
from keystone_lite.db import session as db_session

# Cheap argon2 parameters: the hashing library is the same, only slower in production.
FAST_HASHING = {"identity": {"argon2_time_cost": "1", "argon2_memory_cost": "1024"}}


def pytest_report_header(config):
    if databases.postgresql_selected():
        return f"keystone_lite test database: {databases.describe(databases.configured_url())}"
    return "keystone_lite test database: SQLite files (default)"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "sqlite_only(reason): the test is about SQLite itself; skipped when "
        "KEYSTONE_LITE_TEST_DATABASE_URL selects PostgreSQL")


def pytest_runtest_setup(item):
    marker = item.get_closest_marker("sqlite_only")
    if marker is not None and databases.postgresql_selected():
        reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
        pytest.skip(f"SQLite only: {reason}")


def write_config(directory: str, overrides: dict | None = None) -> str:
    """Write keystone-lite.conf into ``directory``; ``overrides`` is {section: {key: value}}."""
    # Copies: an override must not change FAST_HASHING for the tests that follow.
    sections = {"DEFAULT": {"data_dir": "data", "admin_token": ADMIN_TOKEN},
                **{section: dict(values) for section, values in FAST_HASHING.items()}}
    for section, values in (overrides or {}).items():
        sections.setdefault(section, {}).update(values)
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {value}" for key, value in values.items())
        lines.append("")
    path = os.path.join(directory, "keystone-lite.conf")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    return path


def run_cli(config: str, *argv: str) -> None:
    assert manage.main(["--config-file", config, *argv]) == 0, argv


@pytest.fixture(scope="session")
def database_backend():
    """The run's ``databases`` backend; drops whatever it created at the end of the session.

    A PostgreSQL that cannot be reached skips the tests that need a database, or fails them
    when KEYSTONE_LITE_REQUIRE_POSTGRESQL=1 (as tox -e py311-postgresql sets).
    """
    try:
        backend = databases.backend_from_environment()
    except databases.Unreachable as exc:
        unreachable = str(exc)
    else:
        unreachable = None
    if unreachable is not None:
        if databases.postgresql_required():
            pytest.fail(f"{databases.REQUIRE_ENV}=1 and {unreachable}", pytrace=False)
        pytest.skip(f"{databases.URL_ENV} selects PostgreSQL but {unreachable}")
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture(scope="session")
def empty_databases(database_backend):
    return database_backend.pool()


@pytest.fixture
def empty_database(empty_databases):
    """URL of an empty database (no schema) for this test; None for SQLite (the config's
    default file under data_dir). Put it in a config with ``databases.connection_section``."""
    url = empty_databases.acquire()
    yield url
    services.forget_all()
    empty_databases.release(url)


@pytest.fixture
def migration_engine(tmp_path, empty_database):
    """An engine on an empty database (no schema) of the selected backend, for the migration
    tests; disposed afterwards."""
    config = tmp_path / "keystone-lite.conf"
    config.write_text(f"[DEFAULT]\ndata_dir = {tmp_path / 'data'}\n"
                      + (f"[database]\nconnection = {empty_database}\n" if empty_database
                         else ""))
    engine = db_session.make_engine(settings_module.load(str(config)).database_connection)
    yield engine
    engine.dispose()


@dataclasses.dataclass(frozen=True)
class Template:
    """What every deployment starts from: a data directory (Fernet keys, and for SQLite the
    database file) and, for PostgreSQL, the bootstrapped template database and its pool."""

    data_dir: str
    database_url: str | None
    pool: databases.Pool | databases.SQLitePool


@pytest.fixture(scope="session")
def bootstrapped_template(tmp_path_factory, database_backend) -> Template:
    """db_sync (Alembic) + bootstrap (with catalog) + fernet_setup + credential_setup, once
    per session."""
    directory = str(tmp_path_factory.mktemp("template"))
    url = database_backend.create()
    config = write_config(directory, databases.connection_section(url))
    run_cli(config, "db_sync")
    run_cli(config, "bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
            "--bootstrap-public-url", "http://localhost/main/v3",
            "--bootstrap-internal-url", "http://localhost/main/v3",
            "--bootstrap-admin-url", "http://localhost/admin/v3")
    run_cli(config, "fernet_setup")
    run_cli(config, "credential_setup")
    return Template(os.path.join(directory, "data"), url, database_backend.pool(url))


@pytest.fixture(scope="session")
def bootstrapped_data(bootstrapped_template) -> str:
    """The template's data directory (token and credential keys; the database file for
    SQLite)."""
    return bootstrapped_template.data_dir


@dataclasses.dataclass
class Deployment:
    """One keystone_lite installation under a temporary directory, with both apps loaded."""

    directory: str
    config: str
    main: webtest.TestApp
    admin: webtest.TestApp
    #: The deployment's own PostgreSQL database; None for SQLite (``data_dir``/keystone-lite.db).
    database_url: str | None = None

    @property
    def data_dir(self) -> str:
        return os.path.join(self.directory, "data")

    def cli(self, *argv: str) -> None:
        run_cli(self.config, *argv)

    def services(self):
        return services.for_paste({"config_file": self.config})


@pytest.fixture
def make_deployment(tmp_path, bootstrapped_template, monkeypatch):
    """Factory: ``make_deployment({"token": {"provider": "uuid"}})`` → Deployment."""
    monkeypatch.delenv("KEYSTONE_LITE_CONFIG", raising=False)
    made = []

    def make(overrides: dict | None = None) -> Deployment:
        directory = tmp_path / f"deployment{len(made)}"
        shutil.copytree(bootstrapped_template.data_dir, directory / "data")
        url = bootstrapped_template.pool.acquire()
        sections = databases.connection_section(url)
        for section, values in (overrides or {}).items():
            sections.setdefault(section, {}).update(values)
        config = write_config(str(directory), sections)
        monkeypatch.setenv("KEYSTONE_LITE_CONFIG", config)
        deployment = Deployment(str(directory), config, None, None, url)
        made.append(deployment)  # before loading: a start-up failure still releases the database
        main = loadapp(f"config:{PASTE_INI}", name="main")
        admin = loadapp(f"config:{PASTE_INI}", name="admin")
        deployment.main, deployment.admin = webtest.TestApp(main), webtest.TestApp(admin)
        return deployment

    yield make
    services.forget_all()
    for deployment in made:
        bootstrapped_template.pool.release(deployment.database_url)


@pytest.fixture
def deployment(make_deployment) -> Deployment:
    return make_deployment()
