"""A user's own password change (``POST /v3/users/{id}/password``) on both apps, checked
against Keystone 30's recorded answers (``../shared/keystone-golden-next/users-password-*``):
the original password is the credential, the user's tokens die, the new password works at
once, a wrong original counts toward the lockout."""
from __future__ import annotations


import pytest

from builders import add_user, admin_headers, golden, in_store, password_auth

from keystone_lite.db import models

ADMIN = admin_headers()
PROVIDERS = ("fernet", "uuid")




def alice(deployment) -> str:
    add_user(deployment, "alice", "demo", "member", password="old-secret")
    (user,) = deployment.admin.get("/v3/users?name=alice", headers=ADMIN).json["users"]
    return user["id"]


def login(app, password: str, status: int = 201):
    return app.post_json("/v3/auth/tokens", password_auth("alice", password, "demo"),
                         status=status)


def change(app, user_id: str, original: str, new: str, status: int, token: str | None = None):
    headers = {"X-Auth-Token": token} if token else {}
    return app.post_json(f"/v3/users/{user_id}/password", {"user": {
        "original_password": original, "password": new}}, headers=headers, status=status)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("app_name", ("main", "admin"))
def test_password_change_kills_the_users_tokens_and_the_new_password_works(
        make_deployment, provider, app_name):
    deployment = make_deployment({"token": {"provider": provider}})
    user_id = alice(deployment)
    token = login(deployment.main, "old-secret").headers["X-Subject-Token"]
    app = getattr(deployment, app_name)

    response = change(app, user_id, "old-secret", "new-secret", 204, token)
    assert response.status_int == golden("users-password-change.json")[0]
    assert response.body == b""

    status, body, _headers = golden("users-password-old-token-after-change.json")
    old = deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token), status=status)
    assert old.json == body
    login(deployment.main, "old-secret", status=401)
    fresh = login(deployment.main, "new-secret").headers["X-Subject-Token"]
    deployment.admin.get("/v3/auth/tokens", headers=admin_headers(fresh), status=200)


def test_wrong_original_password_is_keystones_401_and_changes_nothing(deployment):
    user_id = alice(deployment)
    status, body, _headers = golden("users-password-wrong-original.json")
    response = change(deployment.main, user_id, "not-it", "new-secret", status)
    assert response.json == body
    assert response.headers["WWW-Authenticate"].startswith("Keystone uri=")
    login(deployment.main, "old-secret")


def test_password_change_without_a_token_is_authenticated_by_the_original(deployment):
    """Keystone's call is unenforced: the original password is the credential (204 without
    X-Auth-Token in its recording)."""
    user_id = alice(deployment)
    status, _body, _headers = golden("users-password-change-no-token.json")
    change(deployment.main, user_id, "old-secret", "newer-secret", status)
    login(deployment.main, "newer-secret")


def test_unknown_and_disabled_users_get_the_same_401(deployment):
    user_id = alice(deployment)
    unknown = change(deployment.main, "f" * 32, "old-secret", "new-secret", 401)
    deployment.admin.patch_json(f"/v3/users/{user_id}", {"user": {"enabled": False}},
                                headers=ADMIN)
    disabled = change(deployment.main, user_id, "old-secret", "new-secret", 401)
    assert unknown.json == disabled.json


def test_wrong_originals_lock_the_account_like_failed_logins(make_deployment):
    deployment = make_deployment({"security_compliance": {"lockout_failure_attempts": "2",
                                                          "lockout_duration": "0"}})
    user_id = alice(deployment)
    change(deployment.main, user_id, "not-it", "new-secret", 401)
    change(deployment.main, user_id, "not-it-either", "new-secret", 401)
    # Locked: even the right original (and the right login) is refused.
    change(deployment.main, user_id, "old-secret", "new-secret", 401)
    login(deployment.main, "old-secret", status=401)


def test_password_change_restarts_the_password_expiry(make_deployment):
    deployment = make_deployment({"security_compliance": {"password_expires_days": "30"}})
    user_id = alice(deployment)
    before = deployment.admin.get(f"/v3/users/{user_id}", headers=ADMIN).json["user"]
    change(deployment.main, user_id, "old-secret", "new-secret", 204)
    after = deployment.admin.get(f"/v3/users/{user_id}", headers=ADMIN).json["user"]
    assert after["password_expires_at"] is not None
    assert after["password_expires_at"] > before["password_expires_at"]


@pytest.mark.parametrize("body", [
    {"user": {"password": "new-secret"}},
    {"user": {"original_password": "old-secret"}},
    {"user": {"original_password": "old-secret", "password": ""}},
    {"user": {"original_password": 7, "password": "new-secret"}},
    {"user": "old-secret"},
    {},
])
def test_malformed_password_change_is_400_and_never_echoes_a_password(deployment, body):
    user_id = alice(deployment)
    response = deployment.main.post_json(f"/v3/users/{user_id}/password", body, status=400)
    assert "secret" not in response.text
    assert response.json["error"]["code"] == 400


def test_an_expired_password_can_still_be_changed_and_the_new_one_logs_in(make_deployment):
    """The change is the way out of an expired password (Keystone's login says so)."""
    deployment = make_deployment({"security_compliance": {"password_expires_days": "30"}})
    user_id = alice(deployment)

    def expire(session):
        session.get(models.User, user_id).password_expires_at = 1
    in_store(deployment, expire)
    login(deployment.main, "old-secret", status=401)
    change(deployment.main, user_id, "old-secret", "new-secret", 204)
    login(deployment.main, "new-secret")
