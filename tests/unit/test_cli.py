"""keystone-lite-manage: every command through main([...]) against a real database.

That is a SQLite file, or an empty PostgreSQL database when KEYSTONE_LITE_TEST_DATABASE_URL
selects PostgreSQL (see tests/databases.py); tests about the SQLite file itself are marked
``sqlite_only``.
"""
from __future__ import annotations

import os
import stat

import pytest
import sqlalchemy

from keystone_lite import settings as settings_module
from keystone_lite.cli import manage
from keystone_lite.db import migrate, session as db_session


@pytest.fixture
def config(tmp_path, monkeypatch, empty_database):
    monkeypatch.delenv(settings_module.CONFIG_ENV_VAR, raising=False)
    path = tmp_path / "keystone-lite.conf"
    path.write_text("[DEFAULT]\ndata_dir = data\n\n"
                    "[identity]\nargon2_time_cost = 1\nargon2_memory_cost = 1024\n"
                    + (f"\n[database]\nconnection = {empty_database}\n" if empty_database else ""))
    return str(path)


@pytest.fixture
def database(config):
    """URL of the configured database; the schema is created."""
    assert manage.main(["--config-file", config, "db_sync"]) == 0
    return settings_module.load(config).database_connection


def sqlite_file(tmp_path):
    return tmp_path / "data" / "keystone-lite.db"


def cli(config, *argv) -> int:
    return manage.main(["--config-file", config, *argv])


def failure_line(capsys, command: str) -> str:
    """The one stderr line of a failed command (checks there is exactly one)."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"keystone-lite-manage {command}: "), err
    return err


def query(database, sql: str, **params) -> list:
    engine = sqlalchemy.create_engine(database)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sqlalchemy.text(sql), params)]
    finally:
        engine.dispose()


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# -- db_sync --------------------------------------------------------------------------------------

def test_db_sync_twice_succeeds(config, capsys):
    assert cli(config, "db_sync") == 0
    assert cli(config, "db_sync") == 0
    assert capsys.readouterr().out.count("database at revision") == 2


@pytest.mark.sqlite_only("checks the permissions of the SQLite file")
def test_db_sync_creates_the_sqlite_file_owner_only(database, tmp_path):
    database = sqlite_file(tmp_path)
    assert mode(database) == 0o600
    assert mode(database.parent) == 0o700
    for sibling in database.parent.glob("keystone-lite.db*"):  # WAL and shared-memory files
        assert mode(sibling) == 0o600, sibling


def test_db_sync_on_unusable_database_path_fails_in_one_line(tmp_path, capsys):
    (tmp_path / "dir.db").mkdir()
    config = tmp_path / "keystone-lite.conf"
    config.write_text(f"[database]\nconnection = sqlite:///{tmp_path}/dir.db\n")
    assert cli(str(config), "db_sync") == 1
    assert "dir.db" in failure_line(capsys, "db_sync")


def test_db_sync_on_unreachable_database_fails_in_one_line(tmp_path, capsys):
    config = tmp_path / "keystone-lite.conf"
    # A file where a directory is needed: SQLite cannot open the database.
    (tmp_path / "not-a-dir").write_text("")
    config.write_text(f"[database]\nconnection = sqlite:///{tmp_path}/not-a-dir/kl.db\n")
    assert cli(str(config), "db_sync") == 1
    failure_line(capsys, "db_sync")


@pytest.mark.sqlite_only("writes garbage into the SQLite file")
@pytest.mark.parametrize("command", ["db_sync", "bootstrap"])
def test_file_that_is_not_a_database_fails_in_one_line(config, tmp_path, capsys, command):
    (tmp_path / "data").mkdir(mode=0o700)
    (tmp_path / "data" / "keystone-lite.db").write_bytes(b"this is not an SQLite file" * 100)
    assert cli(config, command) == 1
    failure_line(capsys, command)


# -- bootstrap ------------------------------------------------------------------------------------

def test_bootstrap_before_db_sync_says_to_run_db_sync(config, capsys):
    assert cli(config, "bootstrap", "--bootstrap-password", "s3cret") == 1
    assert "db_sync" in failure_line(capsys, "bootstrap")


def test_bootstrap_twice_keeps_one_admin_and_no_duplicate_grants(config, database):
    for _ in range(2):
        assert cli(config, "bootstrap", "--bootstrap-password", "s3cret") == 0
    users = query(database, "select id from users where name = 'admin'")
    assert len(users) == 1
    grants = query(database, "select target_type, target_id, role_id from role_assignments "
                   "where user_id = :user", user=users[0][0])
    assert len(grants) == len(set(grants)) == 2  # admin on the project and on the system
    assert len(query(database, "select id from projects where name = 'admin'")) == 1
    role_names = [name for (name,) in query(database, "select name from roles")]
    assert sorted(role_names) == ["admin", "manager", "member", "reader", "service"]


def test_bootstrap_twice_with_catalog_updates_endpoints_without_duplicating(config, database):
    assert cli(config, "bootstrap", "--bootstrap-public-url", "http://old/v3",
               "--bootstrap-internal-url", "http://internal/v3") == 0
    assert cli(config, "bootstrap", "--bootstrap-public-url", "http://new/v3",
               "--bootstrap-internal-url", "http://internal/v3") == 0
    endpoints = query(database, "select interface, url from endpoints order by interface")
    assert endpoints == [("internal", "http://internal/v3"), ("public", "http://new/v3")]
    assert len(query(database, "select id from services where type = 'identity'")) == 1


def test_bootstrap_without_password_creates_a_certificate_only_user(config, database, capsys):
    assert cli(config, "bootstrap") == 0
    assert "certificate login only" in capsys.readouterr().out
    assert query(database, "select password_hash from users where name = 'admin'") == [(None,)]


def test_bootstrap_again_without_password_keeps_the_password(config, database):
    assert cli(config, "bootstrap", "--bootstrap-password", "s3cret") == 0
    [(first,)] = query(database, "select password_hash from users where name = 'admin'")
    assert cli(config, "bootstrap") == 0
    assert query(database, "select password_hash from users where name = 'admin'") == [(first,)]
    assert first and "s3cret" not in first


def test_bootstrap_does_not_print_the_password(config, database, capsys):
    assert cli(config, "bootstrap", "--bootstrap-password", "s3cret-value") == 0
    captured = capsys.readouterr()
    assert "s3cret-value" not in captured.out + captured.err


# -- user create ----------------------------------------------------------------------------------

@pytest.fixture
def bootstrapped(config, database):
    assert cli(config, "bootstrap") == 0
    return database


def test_user_create_with_project_and_role_grants_the_role(config, bootstrapped):
    assert cli(config, "user", "create", "alice", "--project", "demo", "--role", "member") == 0
    grants = query(bootstrapped, "select roles.name, projects.name from role_assignments "
                   "join users on users.id = role_assignments.user_id "
                   "join roles on roles.id = role_assignments.role_id "
                   "join projects on projects.id = role_assignments.target_id "
                   "where users.name = 'alice'")
    assert grants == [("member", "demo")]


def test_user_create_duplicate_fails(config, bootstrapped, capsys):
    assert cli(config, "user", "create", "alice") == 0
    capsys.readouterr()
    assert cli(config, "user", "create", "alice") == 1
    assert "already exists" in failure_line(capsys, "user create")
    assert len(query(bootstrapped, "select id from users where name = 'alice'")) == 1


def test_user_create_project_without_role_fails(config, bootstrapped, capsys):
    assert cli(config, "user", "create", "alice", "--project", "demo") == 1
    assert "--role" in failure_line(capsys, "user create")
    assert query(bootstrapped, "select id from users where name = 'alice'") == []


def test_user_create_role_without_project_fails(config, bootstrapped, capsys):
    assert cli(config, "user", "create", "alice", "--role", "member") == 1
    failure_line(capsys, "user create")


def test_user_create_unknown_role_fails_and_creates_nothing(config, bootstrapped, capsys):
    assert cli(config, "user", "create", "alice", "--project", "demo", "--role", "wizard") == 1
    assert "wizard" in failure_line(capsys, "user create")
    assert query(bootstrapped, "select id from users where name = 'alice'") == []
    assert query(bootstrapped, "select id from projects where name = 'demo'") == []


def test_user_create_before_bootstrap_fails(config, database, capsys):
    assert cli(config, "user", "create", "alice") == 1
    assert "bootstrap" in failure_line(capsys, "user create")


# -- fernet keys ----------------------------------------------------------------------------------

def test_fernet_rotate_before_fernet_setup_fails_saying_to_run_it(config, capsys):
    assert cli(config, "fernet_rotate") == 1
    assert "fernet_setup" in failure_line(capsys, "fernet_rotate")


def test_fernet_setup_then_rotate_succeeds(config, tmp_path, capsys):
    assert cli(config, "fernet_setup") == 0
    assert cli(config, "fernet_rotate") == 0
    assert sorted(os.listdir(tmp_path / "data" / "fernet-keys")) == ["0", "1", "2"]
    assert "primary 2" in capsys.readouterr().out


# -- configuration --------------------------------------------------------------------------------

def test_missing_config_file_fails_naming_it(tmp_path, capsys):
    missing = str(tmp_path / "absent.conf")
    assert cli(missing, "db_sync") == 1
    assert missing in failure_line(capsys, "db_sync")


def test_no_config_file_anywhere_fails(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv(settings_module.CONFIG_ENV_VAR, raising=False)
    monkeypatch.setattr(manage, "CHECKOUT_CONFIG", str(tmp_path / "etc" / "keystone-lite.conf"))
    monkeypatch.setattr(manage, "SYSTEM_CONFIG", str(tmp_path / "system.conf"))
    assert manage.main(["db_sync"]) == 1
    assert "--config-file" in failure_line(capsys, "db_sync")


def test_environment_variable_names_the_config_file(config, monkeypatch):
    monkeypatch.setenv(settings_module.CONFIG_ENV_VAR, config)
    assert manage.main(["db_sync"]) == 0
    engine = db_session.make_engine(settings_module.load(config).database_connection)
    try:
        assert migrate.current_revision(engine) is not None
    finally:
        engine.dispose()


def test_bad_config_value_fails_naming_section_and_key(tmp_path, capsys):
    config = tmp_path / "keystone-lite.conf"
    config.write_text("[token]\nexpiration = never\n")
    assert cli(str(config), "db_sync") == 1
    assert "[token] expiration" in failure_line(capsys, "db_sync")
