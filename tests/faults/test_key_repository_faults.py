"""Fernet key repository faults, at start-up and while running.

Already covered in tests/functional/test_token_providers.py: a missing, an empty and a corrupt
repository stop the app at load naming the path; the repository removed while running is a 503.
Here: the faults root cannot be kept out of by file modes (a directory where a key file should
be, a file where the repository should be), and, while running, what the 503 carries, that it is
logged once with the path, and that the service recovers without a restart.
"""
from __future__ import annotations

import os
import shutil

import pytest

from builders import (admin_headers, assert_keystone_error, assert_logged_once, external_auth,
                      issue, post_token, add_user)
from keystone_lite.token.key_repository import KeyRepositoryError


@pytest.fixture
def alice_deployment(make_deployment):
    deployment = make_deployment()
    add_user(deployment, "alice", "demo", "member")
    return deployment


def key_dir(deployment) -> str:
    return os.path.join(deployment.data_dir, "fernet-keys")


def validate(deployment, token, status=200):
    return deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token), status=status)


def assert_keys_unavailable(response, caplog, path_in_log: str) -> None:
    error = assert_keystone_error(response, 503)
    assert response.headers["Retry-After"] == "5"
    assert error["message"] == "Token keys are unavailable."
    assert path_in_log not in response.text  # the path is for the operator's log only
    assert_logged_once(caplog, response, path_in_log)


# -- start-up --------------------------------------------------------------------------------

def test_directory_in_place_of_a_key_file_stops_the_app_at_start_naming_the_key_file(
        make_deployment, tmp_path, bootstrapped_data):
    # Root reads files whatever their mode; a directory cannot be read as a key.
    repository = tmp_path / "keys"
    shutil.copytree(os.path.join(bootstrapped_data, "fernet-keys"), repository)
    os.remove(repository / "1")
    os.mkdir(repository / "1")

    with pytest.raises(KeyRepositoryError) as raised:
        make_deployment({"fernet_tokens": {"key_repository": str(repository)}})

    assert str(repository / "1") in str(raised.value)
    assert "cannot read" in str(raised.value)


def test_file_in_place_of_the_key_repository_stops_the_app_at_start_naming_it(
        make_deployment, tmp_path):
    repository = tmp_path / "keys"
    repository.write_text("not a directory\n")

    with pytest.raises(KeyRepositoryError) as raised:
        make_deployment({"fernet_tokens": {"key_repository": str(repository)}})

    assert str(repository) in str(raised.value)


def test_repository_with_only_non_key_files_stops_the_app_at_start(make_deployment, tmp_path):
    repository = tmp_path / "keys"
    repository.mkdir(mode=0o700)
    (repository / "README").write_text("keys go here\n")
    (repository / "1.tmp").write_text("half-written\n")

    with pytest.raises(KeyRepositoryError) as raised:
        make_deployment({"fernet_tokens": {"key_repository": str(repository)}})

    assert str(repository) in str(raised.value)
    assert "fernet_setup" in str(raised.value)


# -- while running -----------------------------------------------------------------------------

def test_removed_repository_is_503_logged_once_then_restoring_it_recovers(alice_deployment,
                                                                         caplog):
    deployment = alice_deployment
    token = issue(deployment.main, "alice", "demo")
    validate(deployment, token)
    away = key_dir(deployment) + ".away"

    os.rename(key_dir(deployment), away)
    caplog.clear()
    validated = validate(deployment, token, status=503)
    issued = post_token(deployment.main, external_auth("demo"), user="alice", status=503)
    os.rename(away, key_dir(deployment))

    for response in (validated, issued):
        assert_keys_unavailable(response, caplog, key_dir(deployment))
    validate(deployment, token)  # the same keys are back: the same token is good again
    issue(deployment.main, "alice", "demo")


@pytest.mark.parametrize("damage", ["garbage", "empty file", "directory"])
def test_damaged_primary_key_while_running_is_503_naming_the_key_file_then_recovers(
        alice_deployment, caplog, damage):
    deployment = alice_deployment
    token = issue(deployment.main, "alice", "demo")
    validate(deployment, token)
    primary = os.path.join(key_dir(deployment), "1")
    with open(primary, "rb") as handle:
        good_key = handle.read()

    os.remove(primary)
    if damage == "directory":
        os.mkdir(primary)
    else:
        with open(primary, "wb") as handle:
            handle.write(b"" if damage == "empty file" else b"not a Fernet key\n")
    caplog.clear()
    response = validate(deployment, token, status=503)
    if damage == "directory":
        os.rmdir(primary)
    with open(primary, "wb") as handle:
        handle.write(good_key)

    assert_keys_unavailable(response, caplog, primary)
    validate(deployment, token)


def test_emptied_repository_while_running_is_503_then_fernet_setup_recovers(alice_deployment,
                                                                             caplog):
    deployment = alice_deployment
    token = issue(deployment.main, "alice", "demo")
    for name in os.listdir(key_dir(deployment)):
        os.remove(os.path.join(key_dir(deployment), name))

    caplog.clear()
    response = post_token(deployment.main, external_auth("demo"), user="alice", status=503)
    assert_keys_unavailable(response, caplog, key_dir(deployment))

    deployment.cli("fernet_setup")  # new keys: new tokens work, the old one is gone for good
    issue(deployment.main, "alice", "demo")
    validate(deployment, token, status=404)


def test_uuid_tokens_do_not_need_the_key_repository_while_running(make_deployment):
    deployment = make_deployment({"token": {"provider": "uuid"}})
    add_user(deployment, "alice", "demo", "member")
    shutil.rmtree(key_dir(deployment))

    token = issue(deployment.main, "alice", "demo")
    validate(deployment, token)
