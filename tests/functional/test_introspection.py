"""RFC 7662 token introspection, ``POST /v3/OS-OAUTH2/introspect`` on admin (issue 13 item 3):
what a service that is not OpenStack learns about a token, ``{"active": false}`` for anything
that does not validate, and who may ask."""
from __future__ import annotations

import base64
import datetime
import hashlib
import time

import pytest

from builders import (ADMIN_TOKEN, SERVICE_PASSWORD, add_user, assert_keystone_error,
                      client_certificates, external_auth, in_store, issue, login, password_auth,
                      post_token, service_token, subject_headers, token_of,
                      with_certificate_users)
from keystone_lite.certificates import records

PATH = "/v3/OS-OAUTH2/introspect"
FORM = "application/x-www-form-urlencoded"
INACTIVE = {"active": False}


def introspect(deployment, token: str, caller: str | None = None, status: int = 200,
               **form):
    """POST the form ``token=...`` (and ``form``) as the service nova, or as ``caller``."""
    body = "&".join(f"{key}={value}" for key, value in {"token": token, **form}.items())
    headers = {"X-Auth-Token": caller or service_token(deployment)}
    return deployment.admin.post(PATH, body, headers=headers, content_type=FORM,
                                 status=status)


def seconds(text: str) -> int:
    return int(datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


@pytest.fixture(scope="module")
def clients(tmp_path_factory) -> dict:
    return client_certificates(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture
def bound(make_deployment):
    return with_certificate_users(make_deployment, bind=True)


@pytest.fixture
def unbound(make_deployment):
    return with_certificate_users(make_deployment, bind=False)


# -- active tokens ------------------------------------------------------------------------------

def test_bound_token_is_active_with_its_user_roles_times_and_rfc8705_binding(bound, clients):
    issued = login(bound.main, clients["alice"])
    token, body = issued.headers["X-Subject-Token"], issued.json["token"]

    response = introspect(bound, token, token_type_hint="access_token")

    assert response.headers["Cache-Control"] == "no-store"
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(clients["alice"].der).digest())
    assert response.json == {
        "active": True, "sub": body["user"]["id"], "username": "alice",
        "client_id": body["user"]["id"], "token_type": "Bearer",
        "scope": "member reader",  # member implies reader (bootstrap)
        "iat": seconds(body["issued_at"]), "exp": seconds(body["expires_at"]),
        "cnf": {"x5t#S256": thumbprint.rstrip(b"=").decode()}}


def test_token_remembered_with_its_certificate_but_unbound_has_no_cnf(unbound, clients):
    token = token_of(unbound.main, clients["alice"])

    answer = introspect(unbound, token).json

    assert answer["active"] is True and answer["username"] == "alice"
    assert "cnf" not in answer


def test_unscoped_password_token_has_no_scope_and_no_cnf(bound):
    body = password_auth("nova", SERVICE_PASSWORD)
    body["auth"]["scope"] = "unscoped"  # not nova's default project
    token = post_token(bound.main, body).headers["X-Subject-Token"]

    answer = introspect(bound, token).json

    assert answer["active"] is True and answer["username"] == "nova"
    assert "scope" not in answer and "cnf" not in answer


def test_application_credential_token_names_the_credential_as_client(unbound):
    add_user(unbound, "carol", "demo", password="carol-secret")
    token = post_token(unbound.main, password_auth("carol", "carol-secret", "demo")).headers[
        "X-Subject-Token"]
    carol = unbound.admin.get("/v3/auth/tokens", headers=subject_headers(token)).json["token"][
        "user"]["id"]
    credential = unbound.main.post_json(
        f"/v3/users/{carol}/application_credentials", {"application_credential": {
            "name": "ci"}}, headers={"X-Auth-Token": token}).json["application_credential"]
    earned = post_token(unbound.main, {"auth": {"identity": {
        "methods": ["application_credential"], "application_credential": {
            "id": credential["id"], "secret": credential["secret"]}}}}).headers[
        "X-Subject-Token"]

    answer = introspect(unbound, earned).json

    assert (answer["active"], answer["sub"], answer["client_id"]) == (
        True, carol, credential["id"])


# -- inactive: never an error ------------------------------------------------------------------

@pytest.mark.parametrize("provider", ["fernet", "uuid"])
@pytest.mark.parametrize("garbage", [
    "garbage", "gAAAAAB" + "x" * 150, "a" * 32, "0" * 32, "%00", "%E2%80%AE" + "a" * 31,
    "x" * 8000, "%FF"], ids=["word", "fernet-like", "hex", "zeros", "nul", "bidi", "long",
                             "not-utf-8"])
def test_malformed_or_unknown_tokens_are_inactive(make_deployment, provider, garbage):
    deployment = make_deployment({"token": {"provider": provider}})
    add_user(deployment, "nova", "service", role="service", password=SERVICE_PASSWORD)

    response = introspect(deployment, garbage, status=(200, 400))

    if garbage == "%FF":  # not a UTF-8 form: the request is bad, not the token
        assert_keystone_error(response, 400)
    else:
        assert response.json == INACTIVE


def test_expired_token_is_inactive(make_deployment):
    deployment = make_deployment({"token": {"expiration": "1"}})
    add_user(deployment, "alice", "demo")
    add_user(deployment, "nova", "service", role="service", password=SERVICE_PASSWORD)
    token = issue(deployment.main, "alice", "demo")
    caller = ADMIN_TOKEN  # the service's own token would expire as fast
    assert introspect(deployment, token, caller).json["active"] is True

    time.sleep(1.1)

    assert introspect(deployment, token, caller).json == INACTIVE


def test_revoked_token_and_token_of_a_disabled_user_are_inactive(unbound):
    revoked, disabled = issue(unbound.main, "alice", "demo"), issue(unbound.main, "bob", "demo")
    unbound.admin.delete("/v3/auth/tokens", headers=subject_headers(revoked), status=204)
    bob = unbound.admin.get("/v3/users?name=bob", headers={"X-Auth-Token": ADMIN_TOKEN}).json[
        "users"][0]["id"]
    unbound.admin.patch_json(f"/v3/users/{bob}", {"user": {"enabled": False}},
                             headers={"X-Auth-Token": ADMIN_TOKEN})

    assert introspect(unbound, revoked).json == INACTIVE
    assert introspect(unbound, disabled).json == INACTIVE


def test_token_of_a_revoked_certificate_is_inactive(bound, clients):
    token = token_of(bound.main, clients["alice"])
    assert introspect(bound, token).json["active"] is True

    in_store(bound, lambda session: records.revoke(session,
                                                   thumbprint=clients["alice"].thumbprint))

    assert introspect(bound, token).json == INACTIVE


def test_token_restricted_by_access_rules_is_inactive(unbound):
    """The answer cannot carry the rules for the caller to enforce them."""
    add_user(unbound, "carol", "demo", password="carol-secret")
    token = post_token(unbound.main, password_auth("carol", "carol-secret", "demo")).headers[
        "X-Subject-Token"]
    carol = unbound.admin.get("/v3/auth/tokens", headers=subject_headers(token)).json["token"][
        "user"]["id"]
    credential = unbound.main.post_json(
        f"/v3/users/{carol}/application_credentials", {"application_credential": {
            "name": "ruled", "access_rules": [{"service": "compute", "method": "GET",
                                               "path": "/servers"}]}},
        headers={"X-Auth-Token": token}).json["application_credential"]
    earned = post_token(unbound.main, {"auth": {"identity": {
        "methods": ["application_credential"], "application_credential": {
            "id": credential["id"], "secret": credential["secret"]}}}}).headers[
        "X-Subject-Token"]

    assert introspect(unbound, earned).json == INACTIVE


# -- who may ask --------------------------------------------------------------------------------

def test_without_a_caller_token_it_is_401_with_www_authenticate(unbound):
    token = issue(unbound.main, "alice", "demo")
    for headers in ({}, {"X-Auth-Token": "garbage"}):
        response = unbound.admin.post(PATH, f"token={token}", headers=headers,
                                      content_type=FORM, status=401)
        assert_keystone_error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Keystone uri=")


def test_a_caller_without_service_or_admin_role_gets_403(unbound):
    token = issue(unbound.main, "alice", "demo")

    response = introspect(unbound, token, caller=issue(unbound.main, "bob", "demo"), status=403)

    assert_keystone_error(response, 403)


def test_a_bound_caller_token_must_come_over_its_certificate(bound, clients):
    """The caller presents its own token: the binding applies to it."""
    token = token_of(bound.main, clients["alice"])
    caller = token_of(bound.main, clients["admin"], external_auth("admin"))

    over_its_own = bound.admin.post(PATH, f"token={token}", headers={"X-Auth-Token": caller},
                                    content_type=FORM, extra_environ=clients["admin"].environ)
    copied = bound.admin.post(PATH, f"token={token}", headers={"X-Auth-Token": caller},
                              content_type=FORM, status=401)

    assert over_its_own.json["active"] is True
    assert_keystone_error(copied, 401)


@pytest.mark.parametrize("body, content_type", [
    ("", FORM), ("token=", FORM), ("token_type_hint=access_token", FORM),
    ('{"token": "x"}', "application/json")], ids=["empty", "empty-token", "no-token", "json"])
def test_a_request_without_a_token_parameter_is_a_400(unbound, body, content_type):
    response = unbound.admin.post(PATH, body, headers={"X-Auth-Token": service_token(unbound)},
                                  content_type=content_type, status=400)
    assert_keystone_error(response, 400)


def test_introspection_is_served_by_admin_only(unbound):
    token = issue(unbound.main, "alice", "demo")
    response = unbound.main.post(PATH, f"token={token}", content_type=FORM,
                                 headers={"X-Auth-Token": service_token(unbound)}, status=404)
    assert_keystone_error(response, 404)
