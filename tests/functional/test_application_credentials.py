"""Application credentials and access rules (``/v3/users/{id}/application_credentials``,
``/v3/users/{id}/access_rules``), the ``application_credential`` auth method and what its
tokens may do, checked against Keystone 30's recorded answers
(``../shared/keystone-golden-next/appcred-*``).

A user who logged in with a certificate creates a credential; a script authenticates with its
id (or name) and secret and gets a token on the credential's project with the credential's
roles. Deleting the credential, its expiry, the user losing a role it carries, the user being
disabled or deleted kill its tokens on the next validation, for both providers. As Keystone 30
(a delegated token: keystone/api/_shared/delegation.py), no credential's token is exchanged for
another token or manages trusts; a restricted credential cannot make another or delete one.
Secrets are shown once.
"""
from __future__ import annotations

import base64
import datetime

import pytest
from sqlalchemy import update

from builders import (add_user, admin_headers, admin_token_of, assert_keystone_error, golden,
                      in_store, issue, password_auth, project_id, same_shape, subject_headers,
                      token_auth)
from keystone_lite.db import models
from keystone_lite.token.payload import now_us

ADMIN = admin_headers()
PROVIDERS = ("fernet", "uuid")
# Keys keystone_lite adds to what Keystone answers (docs/compatibility.md).
OUR_ADDITIONS = {"is_admin_project"}


@pytest.fixture(params=PROVIDERS)
def provider_deployment(request, make_deployment):
    return make_deployment({"token": {"provider": request.param}})


# -- builders -------------------------------------------------------------------------------------

def user_id(deployment, name: str) -> str:
    (user,) = deployment.admin.get(f"/v3/users?name={name}", headers=ADMIN).json["users"]
    return user["id"]


def alice(deployment, role: str = "member") -> tuple[str, str]:
    """A certificate-only user with ``role`` on project demo: (user id, her token on demo)."""
    add_user(deployment, "alice", "demo", role)
    return user_id(deployment, "alice"), issue(deployment.main, "alice", "demo")


def create(app, token: str, owner: str, status: int = 201, **attributes):
    attributes.setdefault("name", "cron")
    return app.post_json(f"/v3/users/{owner}/application_credentials",
                         {"application_credential": attributes},
                         headers={"X-Auth-Token": token}, status=status)


def credential_auth(credential_id: str, secret: str, **extra) -> dict:
    return {"auth": {"identity": {"methods": ["application_credential"],
                                  "application_credential": {"id": credential_id,
                                                             "secret": secret}}, **extra}}


def login(app, credential: dict, status: int = 201, **extra):
    return app.post_json("/v3/auth/tokens",
                         credential_auth(credential["id"], credential["secret"], **extra),
                         status=status)


def validate(deployment, token: str, status: int = 200, **headers):
    return deployment.admin.get("/v3/auth/tokens", headers={**subject_headers(token), **headers},
                                status=status)


def assert_like_golden(response, name: str, additions=frozenset()) -> None:
    status, body, _headers = golden(name)
    assert response.status_int == status, response.body
    if body is not None:
        assert not same_shape(body, response.json, additions=additions), \
            same_shape(body, response.json, additions=additions)


# -- the API, as Keystone answers it ---------------------------------------------------------------

def test_create_list_show_delete_match_keystones_answers(deployment):
    # Admin on demo, as in the recording: admin ⇒ manager ⇒ member ⇒ reader.
    owner, token = alice(deployment, "admin")
    base = f"/v3/users/{owner}/application_credentials"
    headers = {"X-Auth-Token": token}

    created = create(deployment.main, token, owner, name="golden-ac",
                     description="all my roles")
    assert_like_golden(created, "appcred-create.json")
    credential = created.json["application_credential"]
    assert len(credential["secret"]) == 86  # 64 random bytes, URL-safe base64, as Keystone
    assert sorted(role["name"] for role in credential["roles"]) == [
        "admin", "manager", "member", "reader"]
    assert credential["project_id"] == project_id(deployment, "demo")
    assert (credential["unrestricted"], credential["expires_at"], credential["system"]) == (
        None, None, None)
    restricted = create(deployment.main, token, owner, name="golden-ac-restricted",
                        roles=[{"name": "reader"}], expires_at="2099-12-05T22:30:36.000000",
                        access_rules=[{"service": "identity", "method": "GET",
                                       "path": "/v3/users/*"}])
    assert_like_golden(restricted, "appcred-create-roles-access-rules.json")
    assert restricted.json["application_credential"]["expires_at"] == \
        "2099-12-05T22:30:36.000000"

    listed = deployment.main.get(base, headers=headers)
    assert_like_golden(listed, "appcred-list.json")
    assert [entry["name"] for entry in listed.json["application_credentials"]] == [
        "golden-ac", "golden-ac-restricted"]
    assert all("secret" not in entry for entry in listed.json["application_credentials"])
    shown = deployment.main.get(f"{base}/{credential['id']}", headers=headers)
    assert_like_golden(shown, "appcred-show.json")
    assert "secret" not in shown.json["application_credential"]
    rules = deployment.main.get(f"/v3/users/{owner}/access_rules", headers=headers)
    assert_like_golden(rules, "appcred-access-rules-list.json")

    assert_like_golden(deployment.main.delete(f"{base}/{credential['id']}", headers=headers),
                       "appcred-delete.json")
    gone = deployment.main.get(f"{base}/{credential['id']}", headers=headers, status=404)
    assert_like_golden(gone, "appcred-show-after-delete.json")
    assert gone.json == golden("appcred-show-after-delete.json")[1] | {"error": {
        **gone.json["error"], "message": f"Could not find Application Credential: "
                                         f"{credential['id']}."}}


@pytest.mark.parametrize("app_name", ("main", "admin"))
def test_both_apps_serve_the_users_own_credentials(deployment, app_name):
    owner, token = alice(deployment)
    app = getattr(deployment, app_name)
    credential = create(app, token, owner).json["application_credential"]
    listed = app.get(f"/v3/users/{owner}/application_credentials?name=cron",
                     headers={"X-Auth-Token": token})
    assert [entry["id"] for entry in listed.json["application_credentials"]] == [
        credential["id"]]
    assert app.get(f"/v3/users/{owner}/application_credentials?name=other",
                   headers={"X-Auth-Token": token}).json["application_credentials"] == []


def test_token_matches_keystones_and_stands_on_the_credential(provider_deployment):
    deployment = provider_deployment
    owner, token = alice(deployment, "admin")
    credential = create(deployment.main, token, owner, name="golden-ac").json[
        "application_credential"]
    issued = login(deployment.main, credential)
    assert_like_golden(issued, "appcred-token.json", OUR_ADDITIONS)
    body = issued.json["token"]
    assert body["methods"] == ["application_credential"]
    assert body["project"]["id"] == credential["project_id"]
    assert body["application_credential"] == {"id": credential["id"], "name": "golden-ac",
                                              "restricted": True}
    assert sorted(role["name"] for role in body["roles"]) == [
        "admin", "manager", "member", "reader"]
    validated = validate(deployment, issued.headers["X-Subject-Token"])
    assert validated.json == issued.json


def test_token_carries_only_the_credentials_roles_and_those_they_imply(provider_deployment):
    deployment = provider_deployment
    owner, token = alice(deployment, "admin")
    credential = create(deployment.main, token, owner, roles=[{"name": "member"}]).json[
        "application_credential"]
    assert [role["name"] for role in credential["roles"]] == ["member"]
    body = login(deployment.main, credential).json["token"]
    assert [role["name"] for role in body["roles"]] == ["member", "reader"]
    # An admin everywhere, but not through this credential.
    project = deployment.admin.post_json("/v3/projects", {"project": {"name": "x"}},
                                         headers=ADMIN).json["project"]["id"]
    issued = login(deployment.main, credential).headers["X-Subject-Token"]
    deployment.admin.get(f"/v3/projects/{project}", headers={"X-Auth-Token": issued},
                         status=403)


def test_access_rules_token_matches_keystones(deployment):
    owner, token = alice(deployment)
    credential = create(deployment.main, token, owner, name="golden-ac-restricted",
                        roles=[{"name": "reader"}],
                        access_rules=[{"service": "identity", "method": "GET",
                                       "path": "/v3/users/*"}]).json["application_credential"]
    issued = login(deployment.main, credential)
    assert_like_golden(issued, "appcred-token-access-rules.json", OUR_ADDITIONS)
    assert issued.json["token"]["application_credential"]["access_rules"] == [
        {"id": credential["access_rules"][0]["id"], "service": "identity",
         "path": "/v3/users/*", "method": "GET"}]


def test_authenticating_by_name_and_user(deployment):
    owner, token = alice(deployment)
    credential = create(deployment.main, token, owner).json["application_credential"]
    for user in ({"id": owner}, {"name": "alice", "domain": {"id": "default"}},
                 {"name": "alice", "domain": {"name": "Default"}}):
        body = {"auth": {"identity": {"methods": ["application_credential"],
                                      "application_credential": {
                                          "name": "cron", "user": user,
                                          "secret": credential["secret"]}}}}
        issued = deployment.main.post_json("/v3/auth/tokens", body, status=201)
        assert issued.json["token"]["application_credential"]["id"] == credential["id"]


@pytest.mark.parametrize("identity", [
    {"id": "f" * 32, "secret": "x"},
    {"name": "nope", "user": {"name": "alice", "domain": {"id": "default"}}, "secret": "x"},
    {"name": "cron", "user": {"name": "nobody", "domain": {"id": "default"}}, "secret": "x"},
    {"name": "cron", "user": {"name": "alice", "domain": {"name": "nowhere"}}, "secret": "x"},
    {"name": "cron", "user": {"id": "f" * 32}, "secret": "x"},
], ids=["unknown-id", "unknown-name", "unknown-user", "unknown-domain", "unknown-user-id"])
def test_unknown_credential_is_a_bare_401(deployment, identity):
    owner, token = alice(deployment)
    create(deployment.main, token, owner)
    response = deployment.main.post_json("/v3/auth/tokens", {"auth": {"identity": {
        "methods": ["application_credential"], "application_credential": identity}}},
        status=401)
    assert assert_keystone_error(response, 401)["message"] == \
        "The request you have made requires authentication."


def test_wrong_secret_is_a_bare_401(deployment):
    owner, token = alice(deployment)
    credential = create(deployment.main, token, owner, secret="chosen-secret").json[
        "application_credential"]
    assert credential["secret"] == "chosen-secret"
    login(deployment.main, {**credential, "secret": "chosen-secreT"}, status=401)
    login(deployment.main, credential)


@pytest.mark.parametrize("body, field", [
    ({"id": "x"}, "secret"),
    ({"secret": "x"}, "name"),
    ({"secret": "x", "name": "cron"}, "user"),
    ({"secret": 7, "id": "x"}, "secret"),
])
def test_malformed_credential_is_400_naming_the_field(deployment, body, field):
    response = deployment.main.post_json("/v3/auth/tokens", {"auth": {"identity": {
        "methods": ["application_credential"], "application_credential": body}}}, status=400)
    assert field in assert_keystone_error(response, 400)["message"]


@pytest.mark.parametrize("scope", [
    {"project": {"name": "demo", "domain": {"id": "default"}}},
    {"system": {"all": True}},
    "unscoped",
])
def test_a_scope_in_the_request_is_refused_as_keystone_does(deployment, scope):
    owner, token = alice(deployment)
    credential = create(deployment.main, token, owner).json["application_credential"]
    response = login(deployment.main, credential, status=401, scope=scope)
    assert assert_keystone_error(response, 401)["message"] == (
        "Error authenticating with application credential: Application credentials cannot "
        "request a scope.")


# -- what kills its tokens -----------------------------------------------------------------------

def test_deleting_the_credential_kills_its_tokens(provider_deployment):
    deployment = provider_deployment
    owner, token = alice(deployment)
    credential = create(deployment.main, token, owner).json["application_credential"]
    issued = login(deployment.main, credential).headers["X-Subject-Token"]
    validate(deployment, issued)
    deployment.main.delete(f"/v3/users/{owner}/application_credentials/{credential['id']}",
                           headers={"X-Auth-Token": token}, status=204)
    validate(deployment, issued, status=404)
    deployment.main.get("/v3/auth/catalog", headers={"X-Auth-Token": issued}, status=401)
    login(deployment.main, credential, status=401)
    validate(deployment, token)  # the user's own token lives on


def test_removing_a_role_the_credential_carries_kills_its_tokens(provider_deployment):
    deployment = provider_deployment
    owner, token = alice(deployment)
    admin = deployment.admin.post_json("/v3/roles", {"role": {"name": "auditor"}},
                                       headers=ADMIN).json["role"]["id"]
    grant = f"/v3/projects/{project_id(deployment, 'demo')}/users/{owner}/roles/{admin}"
    deployment.admin.put(grant, headers=ADMIN, status=204)
    token = issue(deployment.main, "alice", "demo")
    both = create(deployment.main, token, owner, name="both").json["application_credential"]
    member_only = create(deployment.main, token, owner, name="member",
                         roles=[{"name": "member"}]).json["application_credential"]
    issued_both = login(deployment.main, both).headers["X-Subject-Token"]
    issued_member = login(deployment.main, member_only).headers["X-Subject-Token"]

    deployment.admin.delete(grant, headers=ADMIN, status=204)
    validate(deployment, issued_both, status=404)  # it carried auditor
    login(deployment.main, both, status=401)
    validate(deployment, issued_member)  # it did not
    deployment.admin.put(grant, headers=ADMIN, status=204)
    login(deployment.main, both)  # the credential stands again on what it rests on


def test_deleting_a_role_the_credential_carries_kills_it(deployment):
    owner, _token = alice(deployment)
    role = deployment.admin.post_json("/v3/roles", {"role": {"name": "auditor"}},
                                      headers=ADMIN).json["role"]["id"]
    deployment.admin.put(f"/v3/projects/{project_id(deployment, 'demo')}/users/{owner}/roles/"
                         f"{role}", headers=ADMIN, status=204)
    token = issue(deployment.main, "alice", "demo")
    credential = create(deployment.main, token, owner, roles=[{"id": role}]).json[
        "application_credential"]
    issued = login(deployment.main, credential).headers["X-Subject-Token"]
    deployment.admin.delete(f"/v3/roles/{role}", headers=ADMIN, status=204)
    validate(deployment, issued, status=404)
    login(deployment.main, credential, status=401)


def test_expiry_caps_the_token_and_an_expired_credential_is_refused(provider_deployment):
    deployment = provider_deployment
    owner, token = alice(deployment)
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=10)
    credential = create(deployment.main, token, owner,
                        expires_at=soon.strftime("%Y-%m-%dT%H:%M:%S.%f")).json[
        "application_credential"]
    body = login(deployment.main, credential).json["token"]
    assert body["expires_at"] == soon.strftime("%Y-%m-%dT%H:%M:%S.000000Z")

    # Ten minutes later (the stored expiry moved to the past, as the clock would).
    in_store(deployment, lambda session: session.execute(
        update(models.ApplicationCredential).values(expires_at=now_us() - 1)))
    login(deployment.main, credential, status=401)


def test_disabling_or_deleting_the_user_kills_the_credentials_tokens(provider_deployment):
    deployment = provider_deployment
    owner, token = alice(deployment)
    credential = create(deployment.main, token, owner).json["application_credential"]
    issued = login(deployment.main, credential).headers["X-Subject-Token"]
    deployment.admin.patch_json(f"/v3/users/{owner}", {"user": {"enabled": False}},
                                headers=ADMIN)
    validate(deployment, issued, status=404)
    login(deployment.main, credential, status=401)
    deployment.admin.delete(f"/v3/users/{owner}", headers=ADMIN, status=204)
    assert in_store(deployment, lambda session: (
        session.query(models.ApplicationCredential).count(),
        session.query(models.AccessRule).count())) == (0, 0)


def test_deleting_the_project_deletes_its_credentials(deployment):
    owner, _token = alice(deployment)
    project = deployment.admin.post_json("/v3/projects", {"project": {"name": "short-lived"}},
                                         headers=ADMIN).json["project"]["id"]
    member = deployment.admin.get("/v3/roles?name=member", headers=ADMIN).json["roles"][0]["id"]
    deployment.admin.put(f"/v3/projects/{project}/users/{owner}/roles/{member}", headers=ADMIN,
                         status=204)
    token = issue(deployment.main, "alice", "short-lived")
    credential = create(deployment.main, token, owner).json["application_credential"]
    issued = login(deployment.main, credential).headers["X-Subject-Token"]
    deployment.admin.delete(f"/v3/projects/{project}", headers=ADMIN, status=204)
    validate(deployment, issued, status=404)
    assert deployment.admin.get(f"/v3/users/{owner}/application_credentials",
                                headers=ADMIN).json["application_credentials"] == []


# -- a restricted credential cannot escalate -------------------------------------------------------

def test_restricted_credential_cannot_create_or_delete_credentials(deployment):
    owner, token = alice(deployment)
    credential = create(deployment.main, token, owner).json["application_credential"]
    issued = login(deployment.main, credential).headers["X-Subject-Token"]
    refused = create(deployment.main, issued, owner, name="another", status=403)
    assert assert_keystone_error(refused, 403)["message"] == (
        "You are not authorized to perform the requested action: Using method "
        "'application_credential' is not allowed for managing additional application "
        "credentials.")
    deployment.main.delete(f"/v3/users/{owner}/application_credentials/{credential['id']}",
                           headers={"X-Auth-Token": issued}, status=403)
    # Nor can it become another token to get around it (keystone/auth/plugins/token.py).
    deployment.main.post_json("/v3/auth/tokens", token_auth(issued), status=403)


@pytest.mark.parametrize("unrestricted", [False, True], ids=["restricted", "unrestricted"])
def test_no_credential_creates_or_deletes_trusts(deployment, unrestricted):
    """Keystone 30's keystone/api/trusts.py _check_delegated_token refuses every application
    credential (its opt-in allow_insecure_application_credential_trust_escalation aside)."""
    owner, token = alice(deployment)
    trustee = deployment.admin.get("/v3/users?name=admin", headers=ADMIN).json["users"][0]["id"]
    credential = create(deployment.main, token, owner, unrestricted=unrestricted).json[
        "application_credential"]
    trust = {"trust": {"trustor_user_id": owner, "trustee_user_id": trustee,
                       "project_id": credential["project_id"], "impersonation": False,
                       "roles": [{"name": credential["roles"][0]["name"]}]}}
    issued = login(deployment.main, credential).headers["X-Subject-Token"]
    refused = deployment.main.post_json("/v3/OS-TRUST/trusts", trust,
                                        headers={"X-Auth-Token": issued}, status=403)
    assert assert_keystone_error(refused, 403)["message"] == (
        "You are not authorized to perform the requested action: Delegated tokens cannot "
        "manage trusts.")
    # The user's own trust is not the credential's to delete either.
    made = deployment.main.post_json("/v3/OS-TRUST/trusts", trust,
                                     headers={"X-Auth-Token": token}).json["trust"]
    deployment.main.delete(f"/v3/OS-TRUST/trusts/{made['id']}",
                           headers={"X-Auth-Token": issued}, status=403)
    deployment.main.delete(f"/v3/OS-TRUST/trusts/{made['id']}",
                           headers={"X-Auth-Token": token}, status=204)


def test_unrestricted_credential_may_create_credentials(deployment):
    owner, token = alice(deployment)
    credential = create(deployment.main, token, owner, unrestricted=True).json[
        "application_credential"]
    assert credential["unrestricted"] is True
    issued = login(deployment.main, credential)
    assert issued.json["token"]["application_credential"]["restricted"] is False
    create(deployment.main, issued.headers["X-Subject-Token"], owner, name="child")


def test_credential_tokens_stay_under_255_characters(make_deployment):
    deployment = make_deployment({"token": {"provider": "fernet"}})
    owner, token = alice(deployment)
    credential = create(deployment.main, token, owner).json["application_credential"]
    issued = login(deployment.main, credential).headers["X-Subject-Token"]
    assert len(issued) < 255, len(issued)


@pytest.mark.parametrize("scope", ["demo", "other", None],
                         ids=["its-own-project", "another-project", "unscoped"])
def test_credential_token_is_never_rescoped(deployment, scope):
    """Keystone 30 (keystone/auth/plugins/token.py): a delegated token never becomes another
    token, not even on its own project (before, keystone_lite let it rescope there once)."""
    owner, token = alice(deployment)
    deployment.admin.post_json("/v3/projects", {"project": {"name": "other"}}, headers=ADMIN)
    member = deployment.admin.get("/v3/roles?name=member", headers=ADMIN).json["roles"][0]["id"]
    deployment.admin.put(f"/v3/projects/{project_id(deployment, 'other')}/users/{owner}/roles/"
                         f"{member}", headers=ADMIN, status=204)
    credential = create(deployment.main, token, owner).json["application_credential"]
    issued = login(deployment.main, credential).headers["X-Subject-Token"]
    body = token_auth(issued, scope) if scope else {"auth": {
        "identity": {"methods": ["token"], "token": {"id": issued}}, "scope": "unscoped"}}
    refused = deployment.main.post_json("/v3/auth/tokens", body, status=403)
    assert assert_keystone_error(refused, 403)["message"] == (
        "You are not authorized to perform the requested action: Using a delegated token to "
        "create another token is not allowed.")


def test_credential_and_token_methods_together_are_refused(deployment):
    owner, token = alice(deployment)
    credential = create(deployment.main, token, owner).json["application_credential"]
    body = credential_auth(credential["id"], credential["secret"])
    body["auth"]["identity"]["methods"].append("token")
    body["auth"]["identity"]["token"] = {"id": token}
    deployment.main.post_json("/v3/auth/tokens", body, status=401)


# -- creating: who, which roles, which names -------------------------------------------------------

def test_roles_must_be_the_tokens(deployment):
    owner, token = alice(deployment)
    refused = create(deployment.main, token, owner, roles=[{"name": "admin"}], status=400)
    assert assert_keystone_error(refused, 400)["message"] == (
        "Invalid application credential: Cannot create an application credential with "
        "unassigned role")
    create(deployment.main, token, owner, roles=[{"id": "f" * 32}], status=400)
    missing = create(deployment.main, token, owner, roles=[{"name": "no-such-role"}],
                     status=404)
    assert assert_keystone_error(missing, 404)["message"] == "Could not find role: no-such-role."
    # A role the token carries because member implies it.
    reader = create(deployment.main, token, owner, roles=[{"name": "reader"}]).json
    assert [role["name"] for role in reader["application_credential"]["roles"]] == ["reader"]


def test_only_the_user_creates_its_credentials(deployment):
    owner, token = alice(deployment)
    admin_token = admin_token_of(deployment.main)
    create(deployment.main, admin_token, owner, status=403)  # not even the admin
    deployment.admin.post_json(f"/v3/users/{owner}/application_credentials",
                               {"application_credential": {"name": "x"}}, headers=ADMIN,
                               status=403)
    unscoped = deployment.main.post_json("/v3/auth/tokens", {"auth": {"identity": {
        "methods": ["external"]}, "scope": "unscoped"}},
        extra_environ={"REMOTE_USER": "alice"}).headers["X-Subject-Token"]
    create(deployment.main, unscoped, owner, status=400)
    create(deployment.main, token, owner, name="dup")
    conflict = create(deployment.main, token, owner, name="dup", status=409)
    assert "Duplicate entry found with name dup" in assert_keystone_error(conflict, 409)[
        "message"]


def test_others_see_the_credentials_as_keystones_policy_says(deployment):
    owner, token = alice(deployment)
    credential = create(deployment.main, token, owner).json["application_credential"]
    add_user(deployment, "bob", "demo", "member")
    bob = issue(deployment.main, "bob", "demo")
    one = f"/v3/users/{owner}/application_credentials/{credential['id']}"
    deployment.main.get(one, headers={"X-Auth-Token": bob}, status=403)
    deployment.main.get(f"/v3/users/{owner}/application_credentials",
                        headers={"X-Auth-Token": bob}, status=403)
    deployment.main.delete(one, headers={"X-Auth-Token": bob}, status=403)
    # Bob naming himself in the path finds nothing of Alice's.
    deployment.main.get(f"/v3/users/{user_id(deployment, 'bob')}/application_credentials/"
                        f"{credential['id']}", headers={"X-Auth-Token": bob}, status=404)
    admin_token = admin_token_of(deployment.main)  # admin_required: the deprecated rule
    assert deployment.admin.get(one, headers={"X-Auth-Token": admin_token}).json[
        "application_credential"]["id"] == credential["id"]
    deployment.admin.delete(one, headers={"X-Auth-Token": admin_token}, status=204)


@pytest.mark.parametrize("attributes, status, mentions", [
    ({"name": ""}, 400, "name"),
    ({"name": "x", "roles": [{"id": "a", "name": "b"}]}, 400, "roles"),
    ({"name": "x", "unrestricted": "yes"}, 400, "unrestricted"),
    ({"name": "x", "access_rules": [{"service": "identity", "method": "FETCH",
                                     "path": "/v3"}]}, 400, "access_rules"),
    ({"name": "x", "access_rules": [{"service": "identity", "method": "GET",
                                     "path": "v3"}]}, 400, "access_rules"),
    ({"name": "x", "access_rules": [{"service": "identity", "method": "GET"}]}, 400,
     "access_rules"),
    ({"name": "x", "expires_at": "tomorrow"}, 400, "Timestamp not in expected format"),
    ({"name": "x", "expires_at": "2001-01-01T00:00:00"}, 400, "must not be before now"),
    ({"name": "x", "expires_at": "9999-12-31T23:00:00-05:00"}, 400, "Timestamp not in"),
    ({"name": "x", "secret": 42}, 400, "secret"),
])
def test_bad_bodies_are_400_as_keystone_words_them(deployment, attributes, status, mentions):
    owner, token = alice(deployment)
    response = deployment.main.post_json(f"/v3/users/{owner}/application_credentials",
                                         {"application_credential": attributes},
                                         headers={"X-Auth-Token": token}, status=status)
    assert mentions in assert_keystone_error(response, status)["message"]


def test_expiry_in_another_zone_is_read_as_that_zone(deployment):
    owner, token = alice(deployment)
    credential = create(deployment.main, token, owner,
                        expires_at="2099-01-01T02:00:00+02:00").json["application_credential"]
    assert credential["expires_at"] == "2099-01-01T00:00:00.000000"


# -- access rules ---------------------------------------------------------------------------------

def test_access_rules_are_shared_listed_and_deleted_when_unused(deployment):
    owner, token = alice(deployment)
    headers = {"X-Auth-Token": token}
    rule = {"service": "compute", "method": "GET", "path": "/v2.1/servers/*/ips"}
    first = create(deployment.main, token, owner, name="one", access_rules=[rule]).json[
        "application_credential"]
    rule_id = first["access_rules"][0]["id"]
    second = create(deployment.main, token, owner, name="two", access_rules=[rule]).json[
        "application_credential"]
    by_id = create(deployment.main, token, owner, name="three",
                   access_rules=[{"id": rule_id}]).json["application_credential"]
    assert second["access_rules"][0]["id"] == by_id["access_rules"][0]["id"] == rule_id

    rules_url = f"/v3/users/{owner}/access_rules"
    assert [entry["id"] for entry in deployment.main.get(rules_url, headers=headers).json[
        "access_rules"]] == [rule_id]
    assert deployment.main.get(f"{rules_url}?service=identity", headers=headers).json[
        "access_rules"] == []
    shown = deployment.main.get(f"{rules_url}/{rule_id}", headers=headers).json["access_rule"]
    assert shown == {"id": rule_id, **rule, "links": {
        "self": f"http://localhost/v3/access_rules/{rule_id}"}}

    refused = deployment.main.delete(f"{rules_url}/{rule_id}", headers=headers, status=403)
    assert assert_keystone_error(refused, 403)["message"] == "May not delete access rule in use"
    for credential in (first, second, by_id):
        deployment.main.delete(f"/v3/users/{owner}/application_credentials/{credential['id']}",
                               headers=headers, status=204)
    assert len(deployment.main.get(rules_url, headers=headers).json["access_rules"]) == 1
    deployment.main.delete(f"{rules_url}/{rule_id}", headers=headers, status=204)
    deployment.main.get(f"{rules_url}/{rule_id}", headers=headers, status=404)


def test_another_users_access_rule_cannot_be_named(deployment):
    owner, token = alice(deployment)
    rule_id = create(deployment.main, token, owner, access_rules=[
        {"service": "compute", "method": "GET", "path": "/servers"}]).json[
        "application_credential"]["access_rules"][0]["id"]
    add_user(deployment, "bob", "demo", "member")
    bob_id, bob = user_id(deployment, "bob"), issue(deployment.main, "bob", "demo")
    create(deployment.main, bob, bob_id, access_rules=[{"id": rule_id}], status=404)
    deployment.main.get(f"/v3/users/{bob_id}/access_rules/{rule_id}",
                        headers={"X-Auth-Token": bob}, status=404)
    deployment.main.get(f"/v3/users/{owner}/access_rules/{rule_id}",
                        headers={"X-Auth-Token": bob}, status=403)


def test_access_rules_limit_what_the_token_does_on_keystone_lite(deployment):
    """Enforced as keystonemiddleware with ``service_type = identity`` would."""
    owner, token = alice(deployment)
    credential = create(deployment.main, token, owner, access_rules=[
        {"service": "identity", "method": "GET", "path": "/v3/users/*"}]).json[
        "application_credential"]
    issued = login(deployment.main, credential).headers["X-Subject-Token"]
    deployment.admin.get(f"/v3/users/{owner}", headers={"X-Auth-Token": issued}, status=200)
    deployment.main.get("/v3/auth/projects", headers={"X-Auth-Token": issued}, status=401)
    deployment.main.get(f"/v3/users/{owner}/application_credentials",
                        headers={"X-Auth-Token": issued}, status=401)
    # Validating its own token is always allowed.
    deployment.main.get("/v3/auth/tokens", headers={
        **subject_headers(issued, caller=issued), "OpenStack-Identity-Access-Rules": "1"})


def test_token_with_access_rules_is_shown_only_to_validators_that_enforce_them(deployment):
    owner, token = alice(deployment)
    credential = create(deployment.main, token, owner, access_rules=[
        {"service": "compute", "method": "GET", "path": "/servers"}]).json[
        "application_credential"]
    issued = login(deployment.main, credential).headers["X-Subject-Token"]
    validate(deployment, issued, status=404)
    validate(deployment, issued, status=404, **{"OpenStack-Identity-Access-Rules": "0.9"})
    validate(deployment, issued, **{"OpenStack-Identity-Access-Rules": "1"})
    deployment.admin.head("/v3/auth/tokens", headers=subject_headers(issued), status=404)
    deployment.admin.get(f"/v2.0/tokens/{issued}", headers=ADMIN, status=404)
    # A credential without rules needs no such validator.
    plain = create(deployment.main, token, owner, name="plain").json["application_credential"]
    validate(deployment, login(deployment.main, plain).headers["X-Subject-Token"])


# -- OAuth 2.0 client credentials (client_secret_basic) --------------------------------------------

def oauth2(app, form: str, status: int, credentials: tuple[str, str] | None = None,
           **kwargs):
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if credentials is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(
            ":".join(credentials).encode()).decode()
    return app.post("/v3/OS-OAUTH2/token", form, headers=headers, status=status, **kwargs)


@pytest.mark.parametrize("app_name", ("main", "admin"))
def test_client_secret_basic_gives_the_credentials_token(provider_deployment, app_name):
    deployment = provider_deployment
    owner, token = alice(deployment)
    credential = create(deployment.main, token, owner, name="oauth2-client").json[
        "application_credential"]
    app = getattr(deployment, app_name)
    response = oauth2(app, "grant_type=client_credentials", 200,
                      (credential["id"], credential["secret"]))
    status, body, _headers = golden("oauth2-basic-token.json")
    assert (response.status_int, set(response.json)) == (status, set(body))
    assert response.json["token_type"] == "Bearer"
    assert response.json["expires_in"] == 3600
    assert response.headers["Cache-Control"] == "no-store"
    validated = validate(deployment, response.json["access_token"])
    _status, golden_body, _ = golden("oauth2-basic-validate.json")
    assert not same_shape(golden_body, validated.json, additions=OUR_ADDITIONS)
    assert validated.json["token"]["application_credential"]["id"] == credential["id"]
    # client_id and client_secret in the form work too.
    form = f"grant_type=client_credentials&client_id={credential['id']}&client_secret=" \
           f"{credential['secret']}"
    oauth2(app, form, 200)


@pytest.mark.parametrize("form, credentials, status, error, golden_name", [
    ("grant_type=client_credentials", ("id", "wrong-secret"), 401, "invalid_client",
     "oauth2-basic-error-bad-secret.json"),
    ("client_id=x", None, 400, "invalid_request", "oauth2-error-missing-grant-type.json"),
    ("grant_type=password&client_id=x", None, 400, "unsupported_grant_type",
     "oauth2-error-unsupported-grant-type.json"),
    ("grant_type=client_credentials", None, 401, "invalid_client",
     "oauth2-error-missing-client-id.json"),
    ("grant_type=client_credentials&client_id=x", None, 401, "invalid_client",
     "oauth2-error-unknown-client-id.json"),
])
def test_oauth2_errors_are_keystones(deployment, form, credentials, status, error,
                                     golden_name):
    response = oauth2(deployment.main, form, status, credentials)
    golden_status, body, headers = golden(golden_name)
    assert response.status_int == golden_status
    assert response.json == {"error": error, "error_description": response.json[
        "error_description"]}
    assert response.json == body
    assert ("www-authenticate" in headers) == ("WWW-Authenticate" in response.headers)


def test_oauth2_other_methods_are_oauth2_405s(deployment):
    status, body, _headers = golden("oauth2-error-get.json")
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = deployment.main.request("/v3/OS-OAUTH2/token", method=method,
                                           expect_errors=True)
        assert (response.status_int, response.json) == (status, body)


def test_oauth2_basic_credentials_of_another_user_than_the_certificates_are_refused(
        deployment):
    owner, token = alice(deployment)
    credential = create(deployment.main, token, owner).json["application_credential"]
    add_user(deployment, "bob", "demo", "member")
    oauth2(deployment.main, "grant_type=client_credentials", 200,
           (credential["id"], credential["secret"]), extra_environ={"REMOTE_USER": "alice"})
    oauth2(deployment.main, "grant_type=client_credentials", 401,
           (credential["id"], credential["secret"]), extra_environ={"REMOTE_USER": "bob"})


@pytest.mark.parametrize("body, headers", [
    (b"grant_type=client_credentials&client_id=%00", {}),
    (b"grant_type=client_credentials&client_id=%ff", {}),
    (b"--b\r\nContent-Disposition: form-data; name=\"grant_type\"; filename=\"f\"\r\n\r\nx\r\n"
     b"--b--\r\n", {"Content-Type": "multipart/form-data; boundary=b"}),
    (b"grant_type=client_credentials", {"Authorization": "Basic !!!"}),
    (b"grant_type=client_credentials", {"Authorization": "Basic bm9jb2xvbg=="}),
    (b'{"grant_type": "client_credentials"}', {"Content-Type": "application/json"}),
], ids=["nul", "not-utf-8", "a-file", "bad-base64", "no-colon", "json"])
def test_oauth2_malformed_requests_are_oauth2_4xx(deployment, body, headers):
    headers = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    response = deployment.main.post("/v3/OS-OAUTH2/token", body, headers=headers,
                                    expect_errors=True)
    assert response.status_int in (400, 401)
    assert set(response.json) == {"error", "error_description"}


def test_user_password_login_still_works_beside(deployment):
    """The new method changes nothing for the others."""
    add_user(deployment, "carol", "demo", "member", password="carol-secret")
    body = deployment.main.post_json("/v3/auth/tokens",
                                     password_auth("carol", "carol-secret", "demo")).json
    assert "application_credential" not in body["token"]
