"""SQLite faults injected for real under the running, paste-loaded apps: the database file
unreachable (data directory moved away, a directory or garbage in the file's place, the file
replaced), another writer holding the lock, and a full filesystem (a small tmpfs).

Every outage must be a Keystone-shaped 503 with ``Retry-After``, logged once with the request
id, change nothing, and end without a restart when the fault is gone.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import subprocess
import threading
import time

import pytest

from builders import (ADMIN_PASSWORD, REQUEST_ID_HEADER, add_user, admin_headers,
                      assert_keystone_error, assert_logged_once, issue, password_auth,
                      post_token)
from keystone_lite.db import session as db_session

pytestmark = pytest.mark.sqlite_only("faults of the SQLite file itself")

HOLD_SECONDS = 0.6  # a writer holds the lock longer than a request takes (~10 ms)


@pytest.fixture
def sqlite_deployment(make_deployment, tmp_path, bootstrapped_data):
    """A Fernet deployment whose keys live outside its data directory, so that moving the data
    directory takes away the database and nothing else; alice may get tokens on "demo"."""
    keys = tmp_path / "keys"
    shutil.copytree(os.path.join(bootstrapped_data, "fernet-keys"), keys)
    deployment = make_deployment({"fernet_tokens": {"key_repository": str(keys)}})
    add_user(deployment, "alice", "demo", "member")
    return deployment


def database_file(deployment) -> str:
    return os.path.join(deployment.data_dir, "keystone-lite.db")


def validate(deployment, token, status=200):
    return deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token), status=status)


def revoke(deployment, token, status=204):
    return deployment.admin.delete("/v3/auth/tokens", headers=admin_headers(token),
                                   status=status)


def query(path: str, sql: str, *params) -> list:
    """Read the database file directly (its own connection, not the app's)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def assert_unavailable(response, message_part: str, retry_after: str = "5") -> dict:
    error = assert_keystone_error(response, 503)
    assert response.headers["Retry-After"] == retry_after
    assert message_part in error["message"]
    return error


def outage_requests(deployment, token) -> list:
    """One request of each kind during an outage: validate, issue, admin read, admin write."""
    return [
        validate(deployment, token, status=503),
        post_token(deployment.main, password_auth("admin", ADMIN_PASSWORD, "admin"),
                   status=503),
        deployment.admin.get("/v3/users", headers=admin_headers(), status=503),
        revoke(deployment, token, status=503),
    ]


# -- database unreachable ------------------------------------------------------------------------

def test_data_directory_moved_away_is_503_with_retry_after_then_recovers_without_restart(
        sqlite_deployment, caplog):
    deployment = sqlite_deployment
    token = issue(deployment.main, "alice", "demo")
    validate(deployment, token)  # the pool now holds a connection to the file
    away = deployment.data_dir + ".away"

    os.rename(deployment.data_dir, away)
    caplog.clear()
    responses = outage_requests(deployment, token)
    os.rename(away, deployment.data_dir)

    for response in responses:
        error = assert_unavailable(response, "database is unavailable")
        assert deployment.data_dir not in error["message"]  # paths are for the log
        assert_logged_once(caplog, response, "unable to open database file")
    # Back without a restart; the failed revocation changed nothing.
    validate(deployment, token)
    other = issue(deployment.main, "alice", "demo")
    revoke(deployment, token)
    validate(deployment, token, status=404)
    validate(deployment, other)


def test_directory_in_place_of_the_database_file_is_503_then_recovers(sqlite_deployment,
                                                                       caplog):
    # Root reads any file whatever its mode; nobody opens a directory as a database.
    deployment = sqlite_deployment
    token = issue(deployment.main, "alice", "demo")
    validate(deployment, token)
    path = database_file(deployment)

    os.rename(path, path + ".away")
    os.mkdir(path)
    caplog.clear()
    response = validate(deployment, token, status=503)
    os.rmdir(path)
    os.rename(path + ".away", path)

    assert_unavailable(response, "database is unavailable")
    assert_logged_once(caplog, response, "unable to open database file")
    validate(deployment, token)


def test_missing_database_file_is_503_and_is_not_recreated_empty(sqlite_deployment):
    deployment = sqlite_deployment
    token = issue(deployment.main, "alice", "demo")
    validate(deployment, token)
    path = database_file(deployment)

    os.rename(path, path + ".away")
    assert_unavailable(validate(deployment, token, status=503), "database is unavailable")
    assert not os.path.exists(path)  # an empty new database would hide the outage
    os.rename(path + ".away", path)

    validate(deployment, token)


def test_garbage_in_place_of_the_database_file_is_503_not_500(sqlite_deployment, caplog):
    deployment = sqlite_deployment
    token = issue(deployment.main, "alice", "demo")
    validate(deployment, token)
    path = database_file(deployment)

    os.rename(path, path + ".away")
    with open(path, "wb") as handle:
        handle.write(b"this is not an SQLite database\n" * 200)
    caplog.clear()
    response = validate(deployment, token, status=503)
    os.remove(path)
    os.rename(path + ".away", path)

    assert_unavailable(response, "database is unavailable")
    assert_logged_once(caplog, response, "file is not a database")
    validate(deployment, token)


def test_replaced_database_file_is_used_at_once_and_no_write_goes_to_the_old_one(
        sqlite_deployment):
    # Restoring a backup by moving it into place: a pooled connection still open on the old
    # file would keep writing revocations into a deleted file, where nobody ever reads them.
    deployment = sqlite_deployment
    token = issue(deployment.main, "alice", "demo")
    validate(deployment, token)
    path = database_file(deployment)
    backup = path + ".backup"
    source = sqlite3.connect(path)
    target = sqlite3.connect(backup)
    source.backup(target)
    target.execute("UPDATE projects SET description = 'restored' WHERE name = 'demo'")
    target.commit()
    source.close()
    target.close()

    os.replace(backup, path)
    listed = deployment.admin.get("/v3/projects?name=demo", headers=admin_headers())
    revoke(deployment, token)

    assert listed.json["projects"][0]["description"] == "restored"
    assert query(path, "SELECT count(*) FROM revocation_events WHERE kind = 'audit'") == [(1,)]
    assert query(path, "PRAGMA integrity_check") == [("ok",)]
    validate(deployment, token, status=404)


def test_backup_restored_with_the_same_counter_value_is_not_answered_from_memory(
        sqlite_deployment):
    # A backup's change counter can equal one this process has already seen with other data
    # behind it (the backup was taken, changes were made, the backup came back, as many new
    # changes were made). Replacing the file is the restore: what was remembered is dropped.
    deployment = sqlite_deployment
    token = issue(deployment.main, "alice", "demo")
    path = database_file(deployment)
    backup = path + ".backup"
    source, target = sqlite3.connect(path), sqlite3.connect(backup)
    source.backup(target)
    target.execute("UPDATE users SET enabled = 0 WHERE name = 'alice'")  # counter untouched
    target.commit()
    source.close()
    target.close()
    validate(deployment, token)  # remembered under the current counter value

    os.replace(backup, path)

    validate(deployment, token, status=404)


# -- database locked by another writer -----------------------------------------------------------

@contextlib.contextmanager
def write_lock_held(path: str, seconds: float | None):
    """Another connection takes SQLite's write lock and writes; it commits after ``seconds``
    (in a thread), or when the block ends if ``seconds`` is None."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE projects SET description = 'written while locked' "
                   "WHERE name = 'admin'")
    release = threading.Timer(seconds, holder.execute, ["COMMIT"]) if seconds else None
    if release:
        release.start()
    try:
        yield
    finally:
        if release:
            release.join()
        else:
            holder.execute("COMMIT")
        holder.close()


def project_description(deployment, name="admin") -> str:
    [(description,)] = query(database_file(deployment),
                             "SELECT description FROM projects WHERE name = ?", name)
    return description


def test_revocation_waits_for_another_writers_lock_instead_of_failing(sqlite_deployment):
    deployment = sqlite_deployment
    token = issue(deployment.main, "alice", "demo")
    validate(deployment, token)

    with write_lock_held(database_file(deployment), HOLD_SECONDS):
        started = time.monotonic()
        revoke(deployment, token)  # reads first, then must write: retried with the lock
        waited = time.monotonic() - started

    assert HOLD_SECONDS * 0.8 <= waited < db_session.SQLITE_BUSY_TIMEOUT_MS / 1000
    validate(deployment, token, status=404)
    assert project_description(deployment) == "written while locked"  # both writes landed


@pytest.mark.parametrize("request_kind", ["uuid token issue", "user create", "user disable",
                                          "trust create"])
def test_writes_of_every_kind_wait_for_another_writers_lock(make_deployment, request_kind):
    deployment = make_deployment({"token": {"provider": "uuid"}})
    add_user(deployment, "alice", "demo", "member")
    alice = deployment.admin.get("/v3/users?name=alice", headers=admin_headers()
                                 ).json["users"][0]["id"]
    admin = deployment.admin.get("/v3/users?name=admin", headers=admin_headers()
                                 ).json["users"][0]["id"]
    demo = deployment.admin.get("/v3/projects?name=demo", headers=admin_headers()
                                ).json["projects"][0]["id"]
    alice_token = issue(deployment.main, "alice", "demo")
    requests = {
        # Reads (the role by name), then writes: run again with the lock, from the body as
        # the client sent it (the first run had rewritten the roles to their ids).
        "trust create": lambda: deployment.main.post_json("/v3/OS-TRUST/trusts", {"trust": {
            "trustor_user_id": alice, "trustee_user_id": admin, "project_id": demo,
            "impersonation": False, "roles": [{"name": "member"}]}},
            headers={"X-Auth-Token": alice_token}, status=201),
        "uuid token issue": lambda: post_token(deployment.main, password_auth(
            "admin", ADMIN_PASSWORD, "admin"), status=201),
        "user create": lambda: deployment.admin.post_json(
            "/v3/users", {"user": {"name": "carol"}}, headers=admin_headers(), status=201),
        "user disable": lambda: deployment.admin.patch_json(
            f"/v3/users/{alice}", {"user": {"enabled": False}}, headers=admin_headers(),
            status=200),
    }

    with write_lock_held(database_file(deployment), HOLD_SECONDS):
        requests[request_kind]()

    assert project_description(deployment) == "written while locked"


def test_reads_are_not_blocked_by_a_writer(sqlite_deployment):
    deployment = sqlite_deployment
    token = issue(deployment.main, "alice", "demo")

    with write_lock_held(database_file(deployment), None):
        started = time.monotonic()
        validate(deployment, token)
        issue(deployment.main, "alice", "demo")
        assert time.monotonic() - started < 2  # far below the busy timeout: no waiting


def test_lock_held_beyond_the_busy_timeout_is_503_busy_then_the_write_succeeds(
        make_deployment, monkeypatch, caplog):
    monkeypatch.setattr(db_session, "SQLITE_BUSY_TIMEOUT_MS", 300)
    deployment = make_deployment()
    add_user(deployment, "alice", "demo", "member")
    token = issue(deployment.main, "alice", "demo")
    validate(deployment, token)

    with write_lock_held(database_file(deployment), None):
        caplog.clear()
        started = time.monotonic()
        response = revoke(deployment, token, status=503)
        waited = time.monotonic() - started
        validate(deployment, token)  # the failed revocation wrote nothing

    assert_unavailable(response, "busy", retry_after="1")
    assert_logged_once(caplog, response, "database is locked")
    assert 0.3 <= waited < 2
    revoke(deployment, token)
    validate(deployment, token, status=404)


# -- disk full -----------------------------------------------------------------------------------

@pytest.fixture
def small_filesystem(tmp_path):
    """A real 4 MiB tmpfs (needs root and mount permission; skipped otherwise)."""
    mount_point = tmp_path / "small-fs"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs",
                             str(mount_point)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip() or result.returncode}")
    try:
        yield str(mount_point)
    finally:
        if subprocess.run(["umount", str(mount_point)], check=False,
                          capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: str) -> str:
    """Fill the filesystem of ``directory`` to the last byte; returns the filler's path."""
    filler = os.path.join(directory, "filler")
    with open(filler, "wb", buffering=0) as handle:
        for size in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    handle.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == 28, exc  # ENOSPC
    return filler


@pytest.fixture
def full_disk_deployment(small_filesystem, bootstrapped_data, make_deployment):
    """A deployment whose data directory (database and keys) is on the small filesystem."""
    shutil.copytree(bootstrapped_data, small_filesystem, dirs_exist_ok=True)
    deployment = make_deployment({"DEFAULT": {"data_dir": small_filesystem}})
    add_user(deployment, "alice", "demo", "member")
    deployment.small_filesystem = small_filesystem
    return deployment


def table_rows(path: str, table: str) -> list:
    return query(path, f"SELECT * FROM {table} ORDER BY 1, 2")  # noqa: S608 - test tables


def test_revocation_on_a_full_disk_fails_cleanly_and_succeeds_once_space_is_freed(
        full_disk_deployment, caplog):
    deployment = full_disk_deployment
    path = os.path.join(deployment.small_filesystem, "keystone-lite.db")
    token = issue(deployment.main, "alice", "demo")
    validate(deployment, token)
    alice = deployment.admin.get("/v3/users?name=alice", headers=admin_headers()
                                 ).json["users"][0]["id"]
    before = {table: table_rows(path, table) for table in ("revocation_events", "users")}

    filler = fill(deployment.small_filesystem)
    caplog.clear()
    revoked = revoke(deployment, token, status=503)
    # Two writes in one transaction (the user row and a revocation event): neither may stay.
    disabled = deployment.admin.patch_json(f"/v3/users/{alice}", {"user": {"enabled": False}},
                                           headers=admin_headers(), status=503)
    validated_while_full = validate(deployment, token)
    after = {table: table_rows(path, table) for table in ("revocation_events", "users")}
    os.remove(filler)

    for response in (revoked, disabled):
        assert_unavailable(response, "out of space", retry_after="30")
        assert_logged_once(caplog, response, "database or disk is full")
    assert validated_while_full.json["token"]["user"]["name"] == "alice"
    assert after == before  # nothing half-written
    assert query(path, "PRAGMA integrity_check") == [("ok",)]
    # Space is back: the same requests succeed without a restart.
    revoke(deployment, token)
    validate(deployment, token, status=404)
    deployment.admin.patch_json(f"/v3/users/{alice}", {"user": {"enabled": False}},
                                headers=admin_headers(), status=200)


def test_uuid_token_issue_on_a_full_disk_is_503_and_stores_no_token(small_filesystem,
                                                                     bootstrapped_data,
                                                                     make_deployment):
    shutil.copytree(bootstrapped_data, small_filesystem, dirs_exist_ok=True)
    deployment = make_deployment({"DEFAULT": {"data_dir": small_filesystem},
                                  "token": {"provider": "uuid"}})
    path = os.path.join(small_filesystem, "keystone-lite.db")
    auth = password_auth("admin", ADMIN_PASSWORD, "admin")
    tokens_before = query(path, "SELECT count(*) FROM tokens")

    filler = fill(small_filesystem)
    response = post_token(deployment.main, auth, status=503)
    tokens_while_full = query(path, "SELECT count(*) FROM tokens")
    os.remove(filler)

    assert_unavailable(response, "out of space", retry_after="30")
    assert tokens_while_full == tokens_before
    token = post_token(deployment.main, auth).headers["X-Subject-Token"]
    validate(deployment, token)


def test_outage_log_line_names_the_request_id_and_is_an_error(sqlite_deployment, caplog):
    deployment = sqlite_deployment
    away = deployment.data_dir + ".away"
    os.rename(deployment.data_dir, away)
    caplog.clear()
    response = deployment.admin.get("/v3/users", headers=admin_headers(), status=503)
    os.rename(away, deployment.data_dir)

    [record] = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert record.levelno == logging.ERROR
    assert record.name == "keystone_lite.middleware.catch_errors"
    assert response.headers[REQUEST_ID_HEADER] in record.getMessage()
    assert record.exc_info is None  # an outage is not a bug: no traceback
