"""Secrets and data are created owner-only whatever the umask: key files 0600, the key repository
0700, the SQLite database (and its -wal/-shm files) 0600, the data directory 0700, and no
directory created on the way is writable by others. Each case also runs under ``umask 0``,
as a service started by a careless init script would."""
from __future__ import annotations

import os
import stat

import pytest
import webtest
from paste.deploy import loadapp

from builders import ADMIN_TOKEN, PASTE_INI
from keystone_lite import pki, services, settings as settings_module
from keystone_lite.cli import manage

UMASKS = {"umask 022": 0o022, "umask 0": 0o000}


@pytest.fixture(params=list(UMASKS), ids=list(UMASKS))
def umask(request):
    previous = os.umask(UMASKS[request.param])
    try:
        yield UMASKS[request.param]
    finally:
        os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def write_config(directory, data_dir: str) -> str:
    path = directory / "keystone-lite.conf"
    path.write_text(f"[DEFAULT]\ndata_dir = {data_dir}\nadmin_token = {ADMIN_TOKEN}\n"
                    "[identity]\nargon2_time_cost = 1\nargon2_memory_cost = 1024\n")
    return str(path)


def cli(config: str, *argv: str) -> None:
    assert manage.main(["--config-file", config, *argv]) == 0, argv


def assert_owner_only_tree(top: str, created_parents: list[str]) -> None:
    """``top`` and every directory below it 0700, every file 0600; the parents created on the
    way to it writable by their owner only."""
    for root, _, names in os.walk(top):
        assert mode(root) == 0o700, root
        for name in names:
            assert mode(os.path.join(root, name)) == 0o600, os.path.join(root, name)
    for parent in created_parents:
        assert mode(parent) & 0o022 == 0, (parent, oct(mode(parent)))


@pytest.mark.parametrize("order", [("db_sync", "fernet_setup", "credential_setup"),
                                   ("fernet_setup", "db_sync", "credential_setup"),
                                   ("credential_setup", "db_sync", "fernet_setup")])
def test_cli_set_up_creates_data_dir_database_and_keys_owner_only(tmp_path, umask, order):
    data_dir = tmp_path / "srv" / "keystone-lite" / "data"  # two missing parents
    config = write_config(tmp_path, str(data_dir))

    for command in order:
        cli(config, command)
    cli(config, "bootstrap", "--bootstrap-password", "pw")
    cli(config, "fernet_rotate")
    cli(config, "credential_rotate")

    database = data_dir / "keystone-lite.db"
    keys = data_dir / "fernet-keys"
    assert mode(data_dir) == 0o700
    assert mode(database) == 0o600
    assert mode(keys) == 0o700
    assert sorted(os.listdir(keys)) == ["0", "1", "2"]
    assert sorted(os.listdir(data_dir / "credential-keys")) == ["0", "1", "2"]
    assert_owner_only_tree(str(data_dir), [str(tmp_path / "srv"),
                                           str(tmp_path / "srv" / "keystone-lite")])


def test_database_created_by_the_starting_app_is_owner_only_with_its_wal_files(
        tmp_path, umask, monkeypatch, bootstrapped_data):
    # The app itself creates the SQLite file when it starts before db_sync (a 503 until then).
    data_dir = tmp_path / "var" / "data"
    config = write_config(tmp_path, str(data_dir))
    cli(config, "fernet_setup")
    monkeypatch.setenv(settings_module.CONFIG_ENV_VAR, config)
    try:
        app = webtest.TestApp(loadapp(f"config:{PASTE_INI}", name="admin"))
        app.get("/v3/users", headers={"X-Auth-Token": ADMIN_TOKEN}, status=503)
        cli(config, "db_sync")
        app.get("/v3/users", headers={"X-Auth-Token": ADMIN_TOKEN}, status=200)
        wal_files = sorted(name for name in os.listdir(data_dir) if name.endswith(("-wal",
                                                                                   "-shm")))
        assert wal_files == ["keystone-lite.db-shm", "keystone-lite.db-wal"]
        assert_owner_only_tree(str(data_dir), [str(tmp_path / "var")])
    finally:
        services.forget_all()


def test_a_stale_temporary_key_file_does_not_lend_its_mode_to_the_key(tmp_path, umask):
    # An interrupted fernet_setup can leave "1.tmp" behind; O_CREAT keeps an existing file's mode.
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    stale = keys / "1.tmp"
    stale.write_text("half-written")
    os.chmod(stale, 0o644)
    config = tmp_path / "keystone-lite.conf"
    config.write_text(f"[fernet_tokens]\nkey_repository = {keys}\n")

    cli(str(config), "fernet_setup")

    assert sorted(os.listdir(keys)) == ["0", "1"]
    assert mode(keys / "1") == 0o600


def test_setup_tightens_a_permissive_existing_key_repository(tmp_path, umask):
    keys = tmp_path / "keys"
    keys.mkdir()
    os.chmod(keys, 0o777)
    config = tmp_path / "keystone-lite.conf"
    config.write_text(f"[fernet_tokens]\nkey_repository = {keys}\n")

    cli(str(config), "fernet_setup")

    assert_owner_only_tree(str(keys), [])


def test_dev_pki_with_its_ca_key_is_owner_only(tmp_path, umask):
    directory = tmp_path / "etc" / "pki"  # one missing parent
    pki.ensure_ca(str(directory))
    pki.ensure_server_certificate(str(directory))
    pki.issue_client_certificate(str(directory), "alice", p12_password="pw")

    assert_owner_only_tree(str(directory), [str(tmp_path / "etc")])
