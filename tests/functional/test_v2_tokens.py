"""The v2.0 token API of the 2012 clients: POST /v2.0/tokens on both apps, and validate / check /
revoke of /v2.0/tokens/{id} (with ?belongsTo=) on admin only."""
from __future__ import annotations

import re

import pytest

from builders import (ADMIN_PASSWORD, ADMIN_TOKEN, add_user, assert_keystone_error,
                      cert_environ, grant_role, issue, project_id)

V2_EXPIRES = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def v2_post(app, auth: dict, user: str | None = None, status: int = 200):
    return app.post_json("/v2.0/tokens", {"auth": auth},
                         extra_environ=cert_environ(user) if user else {}, status=status)


ADMIN = {"X-Auth-Token": ADMIN_TOKEN}


@pytest.fixture
def alice(deployment):
    add_user(deployment, "alice", "demo", "member")
    return "alice"


# -- POST /v2.0/tokens ------------------------------------------------------------------------

@pytest.mark.parametrize("app_name", ["main", "admin"])
def test_remote_user_with_tenant_name_gets_a_scoped_access_document(deployment, alice,
                                                                    app_name):
    access = v2_post(getattr(deployment, app_name), {"tenantName": "demo"}, user=alice
                     ).json["access"]

    assert set(access) >= {"token", "user", "serviceCatalog", "metadata"}
    token = access["token"]
    assert token["id"] and V2_EXPIRES.match(token["expires"])
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", token["issued_at"])
    assert token["tenant"]["name"] == "demo"
    assert token["tenant"]["id"] == project_id(deployment, "demo")
    assert token["tenant"]["enabled"] is True
    assert access["user"]["name"] == access["user"]["username"] == "alice"
    assert [role["name"] for role in access["user"]["roles"]] == ["member", "reader"]
    assert access["user"]["roles_links"] == []
    assert len(access["metadata"]["roles"]) == 2  # member ⇒ reader
    assert access["metadata"]["is_admin"] == 0


def test_service_catalog_has_public_internal_and_admin_urls(deployment, alice):
    access = v2_post(deployment.main, {"tenantName": "demo"}, user=alice).json["access"]

    identity = [service for service in access["serviceCatalog"]
                if service["type"] == "identity"]
    assert len(identity) == 1
    endpoint = identity[0]["endpoints"][0]
    assert endpoint["publicURL"] == "http://localhost/main/v3"
    assert endpoint["internalURL"] == "http://localhost/main/v3"
    assert endpoint["adminURL"] == "http://localhost/admin/v3"
    assert endpoint["region"] == "RegionOne"
    assert identity[0]["endpoints_links"] == []


def test_tenant_id_scopes_like_tenant_name(deployment, alice):
    demo_id = project_id(deployment, "demo")

    access = v2_post(deployment.main, {"tenantId": demo_id}, user=alice).json["access"]

    assert access["token"]["tenant"]["id"] == demo_id


def test_password_credentials_authenticate_by_username(deployment):
    access = v2_post(deployment.main, {"passwordCredentials": {
        "username": "admin", "password": ADMIN_PASSWORD}, "tenantName": "admin"}).json["access"]

    assert access["user"]["name"] == "admin"
    assert access["token"]["tenant"]["name"] == "admin"
    assert "admin" in [role["name"] for role in access["user"]["roles"]]


def test_password_credentials_authenticate_by_user_id(deployment):
    user_id = v2_post(deployment.main, {"passwordCredentials": {
        "username": "admin", "password": ADMIN_PASSWORD}}).json["access"]["user"]["id"]

    access = v2_post(deployment.main, {"passwordCredentials": {
        "userId": user_id, "password": ADMIN_PASSWORD}}).json["access"]

    assert access["user"]["id"] == user_id


def test_token_credentials_rescope_an_unscoped_token_to_a_tenant(deployment):
    add_user(deployment, "carol", password="carol-secret")
    grant_role(deployment, "carol", "project", project_id(deployment, "admin"), "member")
    unscoped = v2_post(deployment.main, {"passwordCredentials": {
        "username": "carol", "password": "carol-secret"}}).json["access"]
    assert "tenant" not in unscoped["token"]
    assert unscoped["serviceCatalog"] == []

    scoped = v2_post(deployment.main, {"token": {"id": unscoped["token"]["id"]},
                                       "tenantName": "admin"}).json["access"]

    assert scoped["token"]["tenant"]["name"] == "admin"
    assert scoped["token"]["expires"] == unscoped["token"]["expires"]
    assert scoped["user"]["id"] == unscoped["user"]["id"]


def test_wrong_password_is_401(deployment):
    response = v2_post(deployment.main, {"passwordCredentials": {
        "username": "admin", "password": "wrong"}}, status=401)

    assert_keystone_error(response, 401)
    assert "wrong" not in response.text


def test_unknown_tenant_is_401(deployment, alice):
    for auth in ({"tenantName": "nosuchtenant"}, {"tenantId": "0" * 32}):
        assert_keystone_error(v2_post(deployment.main, auth, user=alice, status=401), 401)


def test_no_credentials_and_no_remote_user_is_401(deployment):
    assert_keystone_error(v2_post(deployment.main, {"tenantName": "admin"}, status=401), 401)


@pytest.mark.parametrize("body", [
    {},
    {"auth": "x"},
    {"auth": {"passwordCredentials": "admin"}},
    {"auth": {"passwordCredentials": {"username": "admin"}}},
    {"auth": {"passwordCredentials": {"password": "x"}}},
    {"auth": {"passwordCredentials": {"username": "admin", "password": 5}}},
    {"auth": {"token": {}}},
    {"auth": {"token": {"id": 7}}},
    {"auth": {"passwordCredentials": {"username": "admin", "password": "x"},
              "token": {"id": "y"}}},
    {"auth": {"tenantName": 1}},
], ids=["no-auth", "auth-string", "credentials-string", "no-password", "no-username",
        "password-number", "token-without-id", "token-id-number", "both-credentials",
        "tenant-name-number"])
def test_malformed_v2_request_is_400(deployment, body):
    response = deployment.main.post_json("/v2.0/tokens", body,
                                         extra_environ=cert_environ("admin"), status=400)

    assert_keystone_error(response, 400)


# -- GET / HEAD / DELETE /v2.0/tokens/{id} (admin) --------------------------------------------

def test_admin_validates_a_v2_token(deployment, alice):
    token_id = v2_post(deployment.main, {"tenantName": "demo"}, user=alice
                       ).json["access"]["token"]["id"]

    access = deployment.admin.get(f"/v2.0/tokens/{token_id}",
                                  headers=ADMIN).json["access"]

    assert access["token"]["id"] == token_id
    assert access["user"]["name"] == "alice"
    assert access["token"]["tenant"]["name"] == "demo"


def test_head_checks_a_token_without_a_body(deployment, alice):
    token_id = issue(deployment.main, alice, "demo")

    response = deployment.admin.head(f"/v2.0/tokens/{token_id}",
                                     headers=ADMIN, status=200)

    assert response.body == b""


def test_belongs_to_the_tokens_tenant_is_200_and_another_is_404(deployment, alice):
    token_id = issue(deployment.main, alice, "demo")
    demo_id, admin_id = project_id(deployment, "demo"), project_id(deployment, "admin")

    deployment.admin.get(f"/v2.0/tokens/{token_id}?belongsTo={demo_id}",
                         headers=ADMIN, status=200)
    deployment.admin.head(f"/v2.0/tokens/{token_id}?belongsTo={demo_id}",
                          headers=ADMIN, status=200)
    mismatch = deployment.admin.get(f"/v2.0/tokens/{token_id}?belongsTo={admin_id}",
                                    headers=ADMIN, status=404)
    assert_keystone_error(mismatch, 404)
    deployment.admin.head(f"/v2.0/tokens/{token_id}?belongsTo={admin_id}",
                          headers=ADMIN, status=404)


def test_belongs_to_with_an_unscoped_token_is_404(deployment):
    add_user(deployment, "carol", password="carol-secret")
    token_id = v2_post(deployment.main, {"passwordCredentials": {
        "username": "carol", "password": "carol-secret"}}).json["access"]["token"]["id"]

    deployment.admin.get(f"/v2.0/tokens/{token_id}", headers=ADMIN, status=200)
    deployment.admin.get(f"/v2.0/tokens/{token_id}?belongsTo={project_id(deployment, 'admin')}",
                         headers=ADMIN, status=404)


def test_delete_revokes_a_token_for_v2_and_v3(deployment, alice):
    token_id = issue(deployment.main, alice, "demo")

    deployment.admin.delete(f"/v2.0/tokens/{token_id}", headers=ADMIN,
                            status=204)

    deployment.admin.get(f"/v2.0/tokens/{token_id}", headers=ADMIN, status=404)
    deployment.admin.get("/v3/auth/tokens", headers={"X-Auth-Token": ADMIN_TOKEN,
                                                     "X-Subject-Token": token_id}, status=404)
    deployment.admin.delete(f"/v2.0/tokens/{token_id}", headers=ADMIN,
                            status=404)


def test_v2_validate_of_a_v3_issued_token(deployment, alice):
    token_id = issue(deployment.main, alice, "demo")

    access = deployment.admin.get(f"/v2.0/tokens/{token_id}",
                                  headers=ADMIN).json["access"]

    assert access["token"]["id"] == token_id
    assert access["token"]["tenant"]["name"] == "demo"
    assert [role["name"] for role in access["user"]["roles"]] == ["member", "reader"]


def test_v3_validate_of_a_v2_issued_token(deployment, alice):
    token_id = v2_post(deployment.main, {"tenantName": "demo"}, user=alice
                       ).json["access"]["token"]["id"]

    token = deployment.admin.get("/v3/auth/tokens", headers={
        "X-Auth-Token": ADMIN_TOKEN, "X-Subject-Token": token_id}).json["token"]

    assert token["methods"] == ["external"]
    assert token["project"]["name"] == "demo"


def test_v2_validate_needs_a_caller_token_and_the_right_to_see_the_token(deployment, alice):
    token_id = issue(deployment.main, alice, "demo")
    add_user(deployment, "bob", "demo", "member")
    bob = issue(deployment.main, "bob", "demo")

    missing = deployment.admin.get(f"/v2.0/tokens/{token_id}", status=401)
    assert missing.headers["WWW-Authenticate"].startswith('Keystone uri="')
    assert_keystone_error(deployment.admin.get(
        f"/v2.0/tokens/{token_id}", headers={"X-Auth-Token": bob}, status=403), 403)
    deployment.admin.delete(f"/v2.0/tokens/{token_id}", headers={"X-Auth-Token": bob},
                            status=403)
    deployment.admin.get(f"/v2.0/tokens/{token_id}", headers={"X-Auth-Token": token_id},
                         status=200)


def test_v2_validate_of_an_unknown_token_is_404(deployment):
    for token_id in ("gAAAAABnotarealtoken", "0" * 32):
        assert_keystone_error(deployment.admin.get(
            f"/v2.0/tokens/{token_id}", headers=ADMIN, status=404), 404)


def test_v2_token_routes_do_not_exist_on_main(deployment, alice):
    token_id = issue(deployment.main, alice, "demo")

    for method in ("get", "head", "delete"):
        response = getattr(deployment.main, method)(f"/v2.0/tokens/{token_id}",
                                                    headers=ADMIN, status=404)
        if method != "head":
            assert_keystone_error(response, 404)
    # ...and the token is untouched.
    deployment.admin.get(f"/v2.0/tokens/{token_id}", headers=ADMIN, status=200)


def test_v2_version_document_links_include_script_name(deployment):
    for mount, app in (("/main", deployment.main), ("/admin", deployment.admin)):
        version = app.get("/v2.0", extra_environ={"SCRIPT_NAME": mount}).json["version"]

        assert version["id"] == "v2.0"
        assert version["links"][0]["href"] == f"http://localhost{mount}/v2.0/"


def test_wrong_method_on_v2_tokens_is_405(deployment):
    response = deployment.main.get("/v2.0/tokens", status=405)

    assert_keystone_error(response, 405)
    assert response.headers["Allow"] == "POST"
