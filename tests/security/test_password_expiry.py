"""Keystone's ``[security_compliance] password_expires_days`` and the user option
``ignore_password_expiry`` (issue 10, finding 10: "the related password-expiry options")."""
from __future__ import annotations

import datetime
import time

from builders import (add_user, admin_headers, assert_keystone_error, in_store, issue,
                      password_auth, post_token, subject_headers)
from keystone_lite.identity import store

EXPIRY = {"security_compliance": {"password_expires_days": "10"}}


def parse(text: str) -> float:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.UTC).timestamp()


def create_user(deployment, **fields) -> dict:
    return deployment.admin.post_json("/v3/users", {"user": fields}, headers=admin_headers(),
                                      status=201).json["user"]


def expire_now(deployment, name: str) -> None:
    def expire(session):
        user = store.find_user(session, name=name, domain_id="default")
        user.password_expires_at = time.time_ns() // 1000 - 1
        session.flush()
    in_store(deployment, expire)


def test_passwords_do_not_expire_by_default(deployment):
    user = create_user(deployment, name="carol", password="carol-pw")
    token = post_token(deployment.main, password_auth("carol", "carol-pw")).json["token"]

    assert user["password_expires_at"] is None
    assert token["user"]["password_expires_at"] is None


def test_a_password_set_shows_its_expiry_in_the_user_and_the_token(make_deployment):
    deployment = make_deployment(EXPIRY)
    user = create_user(deployment, name="carol", password="carol-pw")
    token = post_token(deployment.main, password_auth("carol", "carol-pw"))
    validated = deployment.admin.get("/v3/auth/tokens", headers=subject_headers(
        token.headers["X-Subject-Token"])).json["token"]

    expires = parse(user["password_expires_at"])
    assert abs(expires - (time.time() + 10 * 86400)) < 60
    assert token.json["token"]["user"]["password_expires_at"] == user["password_expires_at"]
    assert validated["user"]["password_expires_at"] == user["password_expires_at"]


def test_an_expired_password_is_refused_but_the_certificate_still_works(make_deployment):
    deployment = make_deployment(EXPIRY)
    add_user(deployment, "carol", "demo", "member", password="carol-pw")
    expire_now(deployment, "carol")

    refused = post_token(deployment.main, password_auth("carol", "carol-pw"), status=401)

    assert "expired" in assert_keystone_error(refused, 401)["message"]
    wrong = post_token(deployment.main, password_auth("carol", "wrong"), status=401)
    assert "expired" not in wrong.json["error"]["message"]  # only the password's owner learns it
    issue(deployment.main, "carol", "demo")


def test_a_new_password_set_by_an_administrator_ends_the_expiry(make_deployment):
    deployment = make_deployment(EXPIRY)
    user = create_user(deployment, name="carol", password="carol-pw")
    expire_now(deployment, "carol")

    deployment.admin.patch_json(f"/v3/users/{user['id']}", {"user": {"password": "new-pw"}},
                                headers=admin_headers())

    post_token(deployment.main, password_auth("carol", "new-pw"))


def test_ignore_password_expiry_gives_no_expiry_and_clears_one(make_deployment):
    deployment = make_deployment(EXPIRY)
    service = create_user(deployment, name="svc", password="svc-pw",
                          options={"ignore_password_expiry": True})
    assert service["password_expires_at"] is None
    assert service["options"] == {"ignore_password_expiry": True}

    user = create_user(deployment, name="carol", password="carol-pw")
    expire_now(deployment, "carol")
    updated = deployment.admin.patch_json(f"/v3/users/{user['id']}", {"user": {"options": {
        "ignore_password_expiry": True}}}, headers=admin_headers()).json["user"]

    assert updated["password_expires_at"] is None
    post_token(deployment.main, password_auth("carol", "carol-pw"))
    # A later password of an exempt user does not expire either.
    deployment.admin.patch_json(f"/v3/users/{user['id']}", {"user": {"password": "new-pw"}},
                                headers=admin_headers())
    assert deployment.admin.get(f"/v3/users/{user['id']}", headers=admin_headers()
                                ).json["user"]["password_expires_at"] is None
