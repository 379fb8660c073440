"""Both token providers (fernet, uuid) through the same API, Fernet key rotation with the CLI,
the key repository's safety rules, and token expiry."""
from __future__ import annotations

import os
import shutil
import stat
import time

import pytest
import webtest
from paste.deploy import loadapp

from builders import (ADMIN_TOKEN, PASTE_INI, add_user, assert_keystone_error, external_auth,
                      grant_role, issue, post_token, subject_headers, token_auth)
from keystone_lite import services
from keystone_lite.token import key_repository
from keystone_lite.token.key_repository import KeyRepositoryError

PROVIDERS = ["fernet", "uuid"]


def make(make_deployment, provider: str, **token_options):
    deployment = make_deployment({"token": {"provider": provider, **token_options}})
    add_user(deployment, "alice", "demo", "member")
    return deployment


def validate(deployment, subject, status=200):
    return deployment.admin.get("/v3/auth/tokens", headers=subject_headers(subject),
                                status=status)


def key_dir(deployment) -> str:
    return os.path.join(deployment.data_dir, "fernet-keys")


def key_numbers(deployment) -> list[int]:
    return sorted(int(name) for name in os.listdir(key_dir(deployment)) if name.isdigit())


def read_key(deployment, number: int) -> bytes:
    with open(os.path.join(key_dir(deployment), str(number)), "rb") as handle:
        return handle.read()


# -- the same behaviour from both providers ---------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
def test_issued_token_validates_until_revoked_then_is_404(make_deployment, provider):
    deployment = make(make_deployment, provider)

    issued = post_token(deployment.main, external_auth("demo"), user="alice")
    subject = issued.headers["X-Subject-Token"]
    validated = validate(deployment, subject)
    deployment.admin.delete("/v3/auth/tokens", headers=subject_headers(subject), status=204)

    assert validated.json == issued.json
    assert validated.headers["X-Subject-Token"] == subject
    assert_keystone_error(validate(deployment, subject, status=404), 404)
    deployment.admin.delete("/v3/auth/tokens", headers=subject_headers(subject), status=404)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_issued_token_is_accepted_as_the_callers_x_auth_token(make_deployment, provider):
    deployment = make(make_deployment, provider)
    token = issue(deployment.main, "alice", "demo")

    catalog = deployment.main.get("/v3/auth/catalog", headers={"X-Auth-Token": token})

    assert catalog.json["catalog"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_rescoped_token_keeps_expiry_and_dies_with_its_parent(make_deployment, provider):
    deployment = make(make_deployment, provider)
    parent = post_token(deployment.main, {"auth": {"identity": {"methods": ["external"]},
                                                   "scope": "unscoped"}}, user="alice")
    child = post_token(deployment.main, token_auth(parent.headers["X-Subject-Token"], "demo"))

    assert child.json["token"]["expires_at"] == parent.json["token"]["expires_at"]
    assert child.json["token"]["audit_ids"][1] == parent.json["token"]["audit_ids"][0]
    deployment.admin.delete("/v3/auth/tokens",
                            headers=subject_headers(parent.headers["X-Subject-Token"]),
                            status=204)
    validate(deployment, child.headers["X-Subject-Token"], status=404)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_v2_validate_accepts_tokens_of_either_provider(make_deployment, provider):
    deployment = make(make_deployment, provider)
    token = issue(deployment.main, "alice", "demo")

    access = deployment.admin.get(f"/v2.0/tokens/{token}",
                                  headers={"X-Auth-Token": ADMIN_TOKEN}).json["access"]

    assert access["token"]["id"] == token
    assert access["token"]["tenant"]["name"] == "demo"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_token_of_one_provider_is_unknown_to_the_other(make_deployment, provider):
    deployment = make(make_deployment, provider)
    other = make(make_deployment, "uuid" if provider == "fernet" else "fernet")
    token = issue(other.main, "alice", "demo")

    assert_keystone_error(validate(deployment, token, status=404), 404)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tokens_survive_a_restart_of_the_application(make_deployment, provider):
    deployment = make(make_deployment, provider)
    token = issue(deployment.main, "alice", "demo")

    services.forget_all()  # what a process restart does to the shared state
    restarted = webtest.TestApp(loadapp(f"config:{PASTE_INI}", name="admin"))

    restarted.get("/v3/auth/tokens", headers=subject_headers(token), status=200)


def test_uuid_tokens_are_32_hex_characters(make_deployment):
    deployment = make(make_deployment, "uuid")

    token = issue(deployment.main, "alice", "demo")

    assert len(token) == 32 and int(token, 16) >= 0


def test_uuid_provider_starts_and_issues_without_a_key_repository(make_deployment, tmp_path):
    deployment = make_deployment({"token": {"provider": "uuid"}, "fernet_tokens": {
        "key_repository": str(tmp_path / "no-such-keys")}})

    issue(deployment.main, "admin", "admin")


# -- Fernet tokens ----------------------------------------------------------------------------

def test_fernet_tokens_stay_under_255_characters(make_deployment):
    deployment = make(make_deployment, "fernet")
    grant_role(deployment, "alice", "domain", "default", "member")
    unscoped = post_token(deployment.main, {"auth": {"identity": {"methods": ["external"]},
                                                     "scope": "unscoped"}}, user="alice")
    body = {"auth": {"identity": {"methods": ["external", "password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "admin-secret"}}},
        "scope": {"system": {"all": True}}}}
    tokens = [
        unscoped.headers["X-Subject-Token"],
        issue(deployment.main, "alice", "demo"),
        post_token(deployment.main, {"auth": {"identity": {"methods": ["external"]}, "scope": {
            "domain": {"id": "default"}}}}, user="alice").headers["X-Subject-Token"],
        post_token(deployment.main, body, user="admin").headers["X-Subject-Token"],
        post_token(deployment.main, token_auth(unscoped.headers["X-Subject-Token"], "demo")
                   ).headers["X-Subject-Token"],
    ]
    # The longest kind: a project token rescoped from a rescoped one carries three audit ids.
    tokens.append(post_token(deployment.main, token_auth(tokens[-1])).headers["X-Subject-Token"])

    for token in tokens:
        assert len(token) < 255, token
        assert token.isascii() and "=" not in token  # URL- and header-safe


def test_rotation_keeps_the_previous_primary_key_as_a_secondary(make_deployment):
    deployment = make(make_deployment, "fernet")
    before = issue(deployment.main, "alice", "demo")
    assert key_numbers(deployment) == [0, 1]

    deployment.cli("fernet_rotate")

    assert key_numbers(deployment) == [0, 1, 2]
    validate(deployment, before)
    # The running application signs with the new primary without a restart.
    after = issue(deployment.main, "alice", "demo")
    deployment.cli("fernet_rotate")
    assert key_numbers(deployment) == [0, 2, 3]
    validate(deployment, after)


def test_rotating_beyond_max_active_keys_retires_the_oldest_key(make_deployment):
    deployment = make(make_deployment, "fernet")
    old = issue(deployment.main, "alice", "demo")

    deployment.cli("fernet_rotate")
    validate(deployment, old)
    deployment.cli("fernet_rotate")  # default max_active_keys = 3: key 1 is purged

    assert len(key_numbers(deployment)) == 3 and 1 not in key_numbers(deployment)
    assert_keystone_error(validate(deployment, old, status=404), 404)
    deployment.main.get("/v3/auth/catalog", headers={"X-Auth-Token": old}, status=401)


def test_max_active_keys_is_honoured(make_deployment):
    deployment = make_deployment({"fernet_tokens": {"max_active_keys": "5"}})
    add_user(deployment, "alice", "demo", "member")
    old = issue(deployment.main, "alice", "demo")

    for _ in range(3):
        deployment.cli("fernet_rotate")
    assert key_numbers(deployment) == [0, 1, 2, 3, 4]
    validate(deployment, old)

    deployment.cli("fernet_rotate")
    assert key_numbers(deployment) == [0, 2, 3, 4, 5]
    validate(deployment, old, status=404)


def test_a_token_signed_with_the_staged_key_elsewhere_validates_here(make_deployment):
    """Two nodes share a key repository; the one that rotates first signs with the staged key
    of the other, which must already accept it."""
    first = make(make_deployment, "fernet")
    second = make_deployment()  # the same bootstrap, hence the same users and keys
    assert read_key(first, 0) == read_key(second, 0)

    second.cli("fernet_rotate")
    token = issue(second.main, "admin", "admin")

    validate(first, token)


def test_keys_copied_over_in_place_take_effect_without_a_restart(make_deployment, tmp_path):
    """Distributing keys with cp/scp rewrites the files in place: the directory does not
    change, the keys do."""
    node = make(make_deployment, "fernet")
    master_keys = tmp_path / "master-keys"
    key_repository.setup(str(master_keys))  # another, independent repository: keys 0 and 1
    master = make_deployment({"fernet_tokens": {"key_repository": str(master_keys)}})
    token = issue(master.main, "admin", "admin")
    old_token = issue(node.main, "admin", "admin")
    validate(node, token, status=404)  # not yet: the node has its own keys

    for name in ("0", "1"):
        shutil.copyfile(master_keys / name, os.path.join(key_dir(node), name))

    validate(node, token)
    validate(node, old_token, status=404)


def test_key_files_are_owner_only(make_deployment, tmp_path):
    deployment = make(make_deployment, "fernet")
    # A fresh repository made and rotated by the CLI (the uuid app starts without one).
    repository = tmp_path / "fresh-keys"
    fresh = make_deployment({"token": {"provider": "uuid"},
                             "fernet_tokens": {"key_repository": str(repository)}})
    fresh.cli("fernet_setup")
    fresh.cli("fernet_rotate")

    for directory in (str(repository), key_dir(deployment)):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        names = os.listdir(directory)
        assert names and all(name.isdigit() for name in names)  # no temporary files left
        for name in names:
            assert stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode) == 0o600


def test_fernet_setup_on_an_existing_repository_keeps_its_keys(make_deployment):
    deployment = make(make_deployment, "fernet")
    token = issue(deployment.main, "alice", "demo")

    deployment.cli("fernet_setup")

    assert key_numbers(deployment) == [0, 1]
    validate(deployment, token)


def load_app_with_keys(make_deployment, key_repository: str):
    return make_deployment({"fernet_tokens": {"key_repository": key_repository}})


def test_missing_key_repository_stops_the_app_at_start_naming_the_path(make_deployment,
                                                                        tmp_path):
    missing = str(tmp_path / "no-such-keys")

    with pytest.raises(KeyRepositoryError, match="no-such-keys") as raised:
        load_app_with_keys(make_deployment, missing)

    assert missing in str(raised.value)
    assert "fernet_setup" in str(raised.value)


def test_empty_key_repository_stops_the_app_at_start_naming_the_path(make_deployment,
                                                                      tmp_path):
    empty = tmp_path / "empty-keys"
    empty.mkdir(mode=0o700)

    with pytest.raises(KeyRepositoryError) as raised:
        load_app_with_keys(make_deployment, str(empty))

    assert str(empty) in str(raised.value)


def test_a_corrupt_key_stops_the_app_at_start_naming_the_key_file(make_deployment, tmp_path,
                                                                  bootstrapped_data):
    repository = tmp_path / "corrupt-keys"
    shutil.copytree(os.path.join(bootstrapped_data, "fernet-keys"), repository)
    (repository / "1").write_bytes(b"not a fernet key")

    with pytest.raises(KeyRepositoryError) as raised:
        load_app_with_keys(make_deployment, str(repository))

    assert str(repository / "1") in str(raised.value)


def test_key_repository_removed_while_running_is_503_not_500(make_deployment):
    deployment = make(make_deployment, "fernet")
    token = issue(deployment.main, "alice", "demo")

    shutil.rmtree(key_dir(deployment))

    response = validate(deployment, token, status=503)
    assert_keystone_error(response, 503)
    assert str(key_dir(deployment)) not in response.text  # the path is for the log, not clients


# -- expiry -----------------------------------------------------------------------------------

def test_expired_tokens_are_404_for_both_providers(make_deployment):
    deployments = {provider: make(make_deployment, provider, expiration="1")
                   for provider in PROVIDERS}
    tokens = {provider: issue(deployment.main, "alice", "demo")
              for provider, deployment in deployments.items()}
    for provider, deployment in deployments.items():
        validate(deployment, tokens[provider])

    time.sleep(1.05)

    for provider, deployment in deployments.items():
        assert_keystone_error(validate(deployment, tokens[provider], status=404), 404)
        # ...and an expired token can neither be rescoped nor act as a caller.
        post_token(deployment.main, token_auth(tokens[provider], "demo"), status=401)
        deployment.main.get("/v3/auth/catalog", headers={"X-Auth-Token": tokens[provider]},
                            status=401)
