"""The v3 token API through the shipped paste pipelines: issue, validate, check, revoke, rescope,
catalog, projects, discovery and the HTTP conventions (request id, 404/405 JSON)."""
from __future__ import annotations

import datetime
import re
import time

import pytest

from builders import (ADMIN_PASSWORD, ADMIN_TOKEN, add_user, admin_token_of,
                      assert_keystone_error, cert_environ, create_domain, external_auth, grant_role,
                      issue, password_auth, post_token, project_id, subject_headers, token_auth)

ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
AUDIT_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


def parse_time(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")


def validate(app, subject, caller=ADMIN_TOKEN, status=200, query="", **kwargs):
    return app.get(f"/v3/auth/tokens{query}", headers=subject_headers(subject, caller),
                   status=status, **kwargs)


def role_names(body: dict) -> list[str]:
    return sorted(role["name"] for role in body["token"]["roles"])


@pytest.fixture
def alice(deployment):
    """A certificate-only member of project ``demo`` (her default project)."""
    add_user(deployment, "alice", "demo", "member")
    return "alice"


@pytest.fixture
def carol(deployment):
    """A user with a password and no project at all."""
    add_user(deployment, "carol", password="carol-secret")
    return "carol"


# -- issuing: methods -------------------------------------------------------------------------

def test_external_method_with_remote_user_issues_token_for_that_user(deployment, alice):
    response = post_token(deployment.main, external_auth("demo"), user=alice)

    token = response.json["token"]
    assert response.headers["X-Subject-Token"]
    assert "id" not in token  # the id travels only in X-Subject-Token
    assert token["methods"] == ["external"]
    assert token["user"]["name"] == "alice"
    assert token["user"]["domain"] == {"id": "default", "name": "Default"}
    assert token["user"]["password_expires_at"] is None
    assert token["project"]["name"] == "demo"
    assert role_names(response.json) == ["member", "reader"]


def test_empty_methods_list_with_remote_user_authenticates_as_external(deployment, alice):
    body = {"auth": {"identity": {"methods": []},
                     "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}}

    token = post_token(deployment.main, body, user=alice).json["token"]

    assert token["methods"] == ["external"]
    assert token["user"]["name"] == "alice"


def test_remote_domain_selects_the_domain_of_the_external_user(deployment):
    domain_id = create_domain(deployment, "partners")
    deployment.cli("user", "create", "alice", "--domain", "partners")
    environ = {**cert_environ("alice"), "REMOTE_DOMAIN": "partners"}

    token = deployment.main.post_json("/v3/auth/tokens", external_auth(),
                                      extra_environ=environ, status=201).json["token"]

    assert token["user"]["domain"] == {"id": domain_id, "name": "partners"}


def test_password_method_by_name_and_domain_issues_token(deployment):
    response = post_token(deployment.main, password_auth("admin", ADMIN_PASSWORD, "admin"))

    token = response.json["token"]
    assert token["methods"] == ["password"]
    assert token["user"]["name"] == "admin"
    assert token["project"]["name"] == "admin"
    assert "admin" in role_names(response.json)


def test_password_method_by_user_id_issues_token(deployment, carol):
    user_id = post_token(deployment.main, password_auth("carol", "carol-secret")
                         ).json["token"]["user"]["id"]
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": user_id, "password": "carol-secret"}}}}}

    token = post_token(deployment.main, body).json["token"]

    assert token["user"]["id"] == user_id


def test_password_user_without_domain_is_looked_up_in_the_default_domain(deployment, carol):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "carol", "password": "carol-secret"}}}}}

    assert post_token(deployment.main, body).json["token"]["user"]["name"] == "carol"


def test_password_user_domain_by_name_issues_token(deployment, carol):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "carol", "domain": {"name": "Default"}, "password": "carol-secret"}}}}}

    assert post_token(deployment.main, body).json["token"]["user"]["name"] == "carol"


def test_external_and_password_for_the_same_user_issue_one_token_with_both_methods(deployment):
    body = password_auth("admin", ADMIN_PASSWORD, "admin")
    body["auth"]["identity"]["methods"] = ["external", "password"]

    response = post_token(deployment.main, body, user="admin")
    subject = response.headers["X-Subject-Token"]

    assert sorted(response.json["token"]["methods"]) == ["external", "password"]
    # Validation reports the same methods, in the same order, as issuing did.
    assert validate(deployment.admin, subject).json["token"]["methods"] == \
        response.json["token"]["methods"]


def test_methods_are_reported_in_the_same_order_whatever_order_was_requested(deployment):
    body = password_auth("admin", ADMIN_PASSWORD, "admin")
    body["auth"]["identity"]["methods"] = ["password", "external"]

    issued = post_token(deployment.main, body, user="admin")
    validated = validate(deployment.admin, issued.headers["X-Subject-Token"])

    assert issued.json["token"]["methods"] == validated.json["token"]["methods"]


def test_external_and_password_naming_different_users_is_401(deployment, alice):
    body = password_auth("admin", ADMIN_PASSWORD)
    body["auth"]["identity"]["methods"] = ["external", "password"]

    response = post_token(deployment.main, body, user=alice, status=401)

    assert_keystone_error(response, 401)


# -- issuing: scopes --------------------------------------------------------------------------

def test_no_scope_and_no_default_project_gives_an_unscoped_token(deployment, carol):
    response = post_token(deployment.main, password_auth("carol", "carol-secret"))

    token = response.json["token"]
    for scoped_key in ("project", "domain", "system", "roles", "catalog"):
        assert scoped_key not in token
    assert token["is_admin_project"] is False  # stated, never left for clients to assume


def test_no_scope_uses_the_default_project_when_the_user_has_a_role_there(deployment, alice):
    token = post_token(deployment.main, external_auth(), user=alice).json["token"]

    assert token["project"]["name"] == "demo"
    assert role_names({"token": token}) == ["member", "reader"]


def test_explicit_unscoped_request_ignores_the_default_project(deployment, alice):
    # keystoneauth1 sends "scope": "unscoped" for unscoped=True.
    for scope in ("unscoped", {"unscoped": {}}):
        body = {"auth": {"identity": {"methods": ["external"]}, "scope": scope}}

        token = post_token(deployment.main, body, user=alice).json["token"]

        assert "project" not in token and "roles" not in token


def test_project_scope_by_id_gives_a_project_token(deployment, alice):
    demo_id = project_id(deployment, "demo")
    body = {"auth": {"identity": {"methods": ["external"]},
                     "scope": {"project": {"id": demo_id}}}}

    token = post_token(deployment.main, body, user=alice).json["token"]

    assert token["project"] == {"id": demo_id, "name": "demo",
                                "domain": {"id": "default", "name": "Default"}}
    assert token["is_domain"] is False


def test_project_scope_by_name_and_domain_id_gives_a_project_token(deployment, alice):
    token = post_token(deployment.main, external_auth("demo", "default"), user=alice
                       ).json["token"]

    assert token["project"]["name"] == "demo"


def test_project_scope_by_name_and_domain_name_gives_a_project_token(deployment, alice):
    body = {"auth": {"identity": {"methods": ["external"]}, "scope": {
        "project": {"name": "demo", "domain": {"name": "Default"}}}}}

    token = post_token(deployment.main, body, user=alice).json["token"]

    assert token["project"]["name"] == "demo"


def test_project_scope_without_a_role_on_the_project_is_401(deployment, alice):
    response = post_token(deployment.main, external_auth("admin"), user=alice, status=401)

    assert_keystone_error(response, 401)


def test_domain_scope_by_id_or_name_gives_a_domain_token(deployment, alice):
    grant_role(deployment, "alice", "domain", "default", "member")

    for reference in ({"id": "default"}, {"name": "Default"}):
        body = {"auth": {"identity": {"methods": ["external"]},
                         "scope": {"domain": reference}}}
        response = post_token(deployment.main, body, user=alice)

        token = response.json["token"]
        assert token["domain"] == {"id": "default", "name": "Default"}
        assert "project" not in token
        assert role_names(response.json) == ["member", "reader"]
        assert token["is_admin_project"] is False


def test_domain_scope_without_a_role_on_the_domain_is_401(deployment, alice):
    body = {"auth": {"identity": {"methods": ["external"]},
                     "scope": {"domain": {"id": "default"}}}}

    assert_keystone_error(post_token(deployment.main, body, user=alice, status=401), 401)


def test_system_scope_gives_the_bootstrap_admin_a_system_token(deployment):
    body = {"auth": {"identity": {"methods": ["external"]}, "scope": {"system": {"all": True}}}}

    response = post_token(deployment.main, body, user="admin")

    token = response.json["token"]
    assert token["system"] == {"all": True}
    assert "admin" in role_names(response.json)
    assert "project" not in token


def test_system_scope_without_a_system_role_is_401(deployment, alice):
    body = {"auth": {"identity": {"methods": ["external"]}, "scope": {"system": {"all": True}}}}

    assert_keystone_error(post_token(deployment.main, body, user=alice, status=401), 401)


# -- the token body ---------------------------------------------------------------------------

def test_token_times_are_iso8601_with_microseconds_and_z(deployment, alice):
    before = datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0)
    token = post_token(deployment.main, external_auth("demo"), user=alice).json["token"]

    assert ISO_TIME.match(token["issued_at"]) and ISO_TIME.match(token["expires_at"])
    issued_at, expires_at = parse_time(token["issued_at"]), parse_time(token["expires_at"])
    assert before <= issued_at <= before + datetime.timedelta(seconds=5)
    assert expires_at - issued_at == datetime.timedelta(hours=1)  # default expiration 3600


def test_new_token_has_exactly_one_url_safe_audit_id(deployment, alice):
    token = post_token(deployment.main, external_auth("demo"), user=alice).json["token"]

    assert len(token["audit_ids"]) == 1 and AUDIT_ID.match(token["audit_ids"][0])


def test_scoped_token_catalog_has_identity_with_public_internal_and_admin(deployment, alice):
    token = post_token(deployment.main, external_auth("demo"), user=alice).json["token"]

    identity = [service for service in token["catalog"] if service["type"] == "identity"]
    assert len(identity) == 1
    interfaces = {endpoint["interface"]: endpoint for endpoint in identity[0]["endpoints"]}
    assert set(interfaces) == {"public", "internal", "admin"}
    assert interfaces["internal"]["url"] == "http://localhost/main/v3"
    assert interfaces["admin"]["region_id"] == interfaces["admin"]["region"] == "RegionOne"


def test_is_admin_project_true_only_for_the_admin_project(deployment, alice):
    admin = post_token(deployment.main, external_auth("admin"), user="admin").json["token"]
    demo = post_token(deployment.main, external_auth("demo"), user=alice).json["token"]

    assert admin["is_admin_project"] is True
    assert demo["is_admin_project"] is False


def test_nocatalog_on_issue_leaves_the_catalog_out(deployment, alice):
    for query in ("?nocatalog", "?nocatalog=1", "?nocatalog=true"):
        token = post_token(deployment.main, external_auth("demo"), user=alice,
                           query=query).json["token"]

        assert "catalog" not in token
        assert token["project"]["name"] == "demo"


def test_nocatalog_false_keeps_the_catalog(deployment, alice):
    token = post_token(deployment.main, external_auth("demo"), user=alice,
                       query="?nocatalog=0").json["token"]

    assert token["catalog"]


# -- validate, check, revoke ------------------------------------------------------------------

def test_get_returns_the_issued_body_and_echoes_x_subject_token(deployment, alice):
    issued = post_token(deployment.main, external_auth("demo"), user=alice)
    subject = issued.headers["X-Subject-Token"]

    for app in (deployment.main, deployment.admin):
        validated = validate(app, subject)

        assert validated.headers["X-Subject-Token"] == subject
        assert validated.json == issued.json


def test_get_with_nocatalog_leaves_the_catalog_out(deployment, alice):
    subject = issue(deployment.main, alice, "demo")

    token = validate(deployment.admin, subject, query="?nocatalog").json["token"]

    assert "catalog" not in token and token["project"]["name"] == "demo"


def test_head_answers_200_with_no_body(deployment, alice):
    subject = issue(deployment.main, alice, "demo")

    response = deployment.admin.head("/v3/auth/tokens", headers=subject_headers(subject),
                                     status=200)

    assert response.body == b""
    assert response.headers["X-Subject-Token"] == subject


def test_delete_revokes_then_get_head_and_delete_again_are_404(deployment, alice):
    subject = issue(deployment.main, alice, "demo")
    headers = subject_headers(subject)

    deleted = deployment.admin.delete("/v3/auth/tokens", headers=headers, status=204)
    assert deleted.body == b""

    assert_keystone_error(deployment.admin.get("/v3/auth/tokens", headers=headers,
                                               status=404), 404)
    head = deployment.admin.head("/v3/auth/tokens", headers=headers, status=404)
    assert head.body == b""
    assert_keystone_error(deployment.admin.delete("/v3/auth/tokens", headers=headers,
                                                  status=404), 404)


def test_revoked_token_can_no_longer_authenticate_as_caller(deployment, alice):
    token = issue(deployment.main, alice, "demo")
    deployment.admin.delete("/v3/auth/tokens", headers=subject_headers(token), status=204)

    response = deployment.main.get("/v3/auth/catalog", headers={"X-Auth-Token": token},
                                   status=401)

    assert_keystone_error(response, 401)


def test_revoking_one_token_leaves_the_users_other_tokens_valid(deployment, alice):
    first, second = issue(deployment.main, alice, "demo"), issue(deployment.main, alice, "demo")

    deployment.admin.delete("/v3/auth/tokens", headers=subject_headers(first), status=204)

    validate(deployment.admin, second)


def test_allow_expired_validates_a_recently_expired_token(make_deployment):
    deployment = make_deployment({"token": {"expiration": "1"}})
    add_user(deployment, "alice", "demo", "member")
    subject = issue(deployment.main, "alice", "demo")
    caller = admin_token_of(deployment.main)  # a real caller token: it expires as well
    time.sleep(1.05)

    assert_keystone_error(validate(deployment.admin, subject, status=404), 404)
    assert_keystone_error(validate(deployment.admin, subject, status=404,
                                   query="?allow_expired=0"), 404)
    allowed = validate(deployment.admin, subject, query="?allow_expired=1")
    assert allowed.json["token"]["user"]["name"] == "alice"
    deployment.admin.head("/v3/auth/tokens?allow_expired=true",
                          headers=subject_headers(subject), status=200)
    # An expired caller token is a 401, not a 404: it is the caller who must re-authenticate.
    expired_caller = validate(deployment.admin, subject, caller=caller, status=401,
                              query="?allow_expired=1")
    assert 'Keystone uri="http://localhost/v3"' == expired_caller.headers["WWW-Authenticate"]


# -- who may validate -------------------------------------------------------------------------

def test_the_admin_token_may_validate_any_token(deployment, alice):
    subject = issue(deployment.main, alice, "demo")

    assert validate(deployment.main, subject, caller=ADMIN_TOKEN).json["token"]["user"][
        "name"] == "alice"


def test_a_token_with_the_admin_role_may_validate_any_token(deployment, alice):
    subject = issue(deployment.main, alice, "demo")
    add_user(deployment, "boss", "ops", "admin")

    for caller in (admin_token_of(deployment.main), issue(deployment.main, "boss", "ops")):
        assert validate(deployment.main, subject, caller=caller).status_int == 200


def test_a_token_with_the_service_role_may_validate_any_token(deployment, alice):
    subject = issue(deployment.main, alice, "demo")
    add_user(deployment, "svc", "admin", "service")
    service_token = issue(deployment.main, "svc", "admin")

    assert validate(deployment.main, subject, caller=service_token).json["token"]["user"][
        "name"] == "alice"


def test_a_user_may_validate_and_revoke_its_own_token(deployment, alice):
    own = issue(deployment.main, alice, "demo")
    other_of_hers = issue(deployment.main, alice, "demo")

    assert validate(deployment.main, own, caller=own).status_int == 200
    assert validate(deployment.main, other_of_hers, caller=own).status_int == 200
    deployment.main.delete("/v3/auth/tokens", headers=subject_headers(own, own), status=204)


def test_another_plain_member_may_not_validate_or_revoke_a_token(deployment, alice):
    subject = issue(deployment.main, alice, "demo")
    add_user(deployment, "bob", "demo", "member")
    bob = issue(deployment.main, "bob", "demo")

    assert_keystone_error(validate(deployment.main, subject, caller=bob, status=403), 403)
    deployment.main.head("/v3/auth/tokens", headers=subject_headers(subject, bob), status=403)
    assert_keystone_error(deployment.main.delete(
        "/v3/auth/tokens", headers=subject_headers(subject, bob), status=403), 403)
    validate(deployment.admin, subject)  # the refused DELETE left it alone


def test_missing_caller_token_is_401_with_www_authenticate(deployment, alice):
    subject = issue(deployment.main, alice, "demo")

    response = validate(deployment.main, subject, caller=None, status=401)

    assert_keystone_error(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Keystone uri="http://localhost/v3"'


def test_www_authenticate_names_the_mount_point_and_host(deployment, alice):
    subject = issue(deployment.main, alice, "demo")

    response = deployment.admin.get(
        "/v3/auth/tokens", headers={"X-Subject-Token": subject, "Host": "keystone.example:5000"},
        extra_environ={"SCRIPT_NAME": "/admin"}, status=401)

    assert response.headers["WWW-Authenticate"] == \
        'Keystone uri="http://keystone.example:5000/admin/v3"'


def test_bad_caller_token_is_401(deployment, alice):
    subject = issue(deployment.main, alice, "demo")

    for caller in ("gAAAAABnotarealtoken", "x" * 32, subject + "x"):
        response = validate(deployment.main, subject, caller=caller, status=401)

        assert_keystone_error(response, 401)
        assert "WWW-Authenticate" in response.headers


def test_bad_or_missing_subject_token_is_404(deployment):
    for subject in ("gAAAAABnotarealtoken", "0" * 32, "not a token at all", None):
        response = validate(deployment.main, subject, status=404)

        assert_keystone_error(response, 404)


def test_head_with_bad_subject_token_is_404_without_body(deployment):
    response = deployment.main.head("/v3/auth/tokens",
                                    headers=subject_headers("gAAAAABnotarealtoken"), status=404)

    assert response.body == b""


# -- /v3/auth/catalog and /v3/auth/projects ---------------------------------------------------

def test_catalog_with_a_scoped_token_lists_the_identity_service(deployment, alice):
    token = issue(deployment.main, alice, "demo")

    response = deployment.main.get("/v3/auth/catalog", headers={"X-Auth-Token": token})

    assert [service["type"] for service in response.json["catalog"]] == ["identity"]
    assert response.json["links"]["self"] == "http://localhost/v3/auth/catalog"


def test_catalog_with_an_unscoped_token_is_403(deployment, carol):
    token = post_token(deployment.main, password_auth("carol", "carol-secret")
                       ).headers["X-Subject-Token"]

    response = deployment.main.get("/v3/auth/catalog", headers={"X-Auth-Token": token},
                                   status=403)

    assert_keystone_error(response, 403)


def test_catalog_without_a_token_is_401(deployment):
    assert_keystone_error(deployment.main.get("/v3/auth/catalog", status=401), 401)


def test_projects_lists_the_projects_where_the_caller_has_a_role(deployment, alice):
    grant_role(deployment, "alice", "project", project_id(deployment, "admin"), "reader")
    token = issue(deployment.main, alice, "demo")

    response = deployment.main.get("/v3/auth/projects", headers={"X-Auth-Token": token})

    projects = response.json["projects"]
    assert sorted(project["name"] for project in projects) == ["admin", "demo"]
    demo = next(project for project in projects if project["name"] == "demo")
    assert demo["links"]["self"] == f"http://localhost/v3/projects/{demo['id']}"
    assert response.json["links"]["self"] == "http://localhost/v3/auth/projects"


def test_projects_with_an_unscoped_token_of_a_user_without_roles_is_empty(deployment, carol):
    token = post_token(deployment.main, password_auth("carol", "carol-secret")
                       ).headers["X-Subject-Token"]

    response = deployment.main.get("/v3/auth/projects", headers={"X-Auth-Token": token})

    assert response.json["projects"] == []


def test_projects_without_a_token_is_401(deployment):
    assert_keystone_error(deployment.main.get("/v3/auth/projects", status=401), 401)


# -- rescoping (methods: ["token"]) -----------------------------------------------------------

def test_rescope_keeps_expiry_chains_audit_ids_and_adds_the_token_method(deployment, alice):
    parent = post_token(deployment.main, external_auth("demo"), user=alice)

    child = post_token(deployment.main, token_auth(parent.headers["X-Subject-Token"], "demo"))

    parent_body, child_body = parent.json["token"], child.json["token"]
    assert child_body["expires_at"] == parent_body["expires_at"]
    assert child_body["audit_ids"][1:] == parent_body["audit_ids"][:1]
    assert len(child_body["audit_ids"]) == 2
    assert child_body["audit_ids"][0] not in parent_body["audit_ids"]
    assert child_body["methods"] == ["token", "external"]  # Keystone's order
    validated = validate(deployment.admin, child.headers["X-Subject-Token"])
    assert validated.json["token"]["methods"] == ["token", "external"]


def test_rescope_from_an_unscoped_token_to_a_project(deployment, alice):
    unscoped = post_token(deployment.main, {"auth": {"identity": {"methods": ["external"]},
                                                     "scope": "unscoped"}}, user=alice)
    assert "project" not in unscoped.json["token"]

    child = post_token(deployment.main, token_auth(unscoped.headers["X-Subject-Token"], "demo"))

    assert child.json["token"]["project"]["name"] == "demo"
    assert role_names(child.json) == ["member", "reader"]


def test_rescope_without_scope_keeps_the_parents_scope(deployment, alice):
    parent = issue(deployment.main, alice, "demo")

    child = post_token(deployment.main, token_auth(parent)).json["token"]

    assert child["project"]["name"] == "demo"


def test_rescope_of_a_scoped_token_asking_unscoped_gives_an_unscoped_token(deployment, alice):
    parent = issue(deployment.main, alice, "demo")
    body = token_auth(parent)
    body["auth"]["scope"] = "unscoped"

    child = post_token(deployment.main, body).json["token"]

    assert "project" not in child and "roles" not in child and "catalog" not in child


def test_rescope_of_a_scoped_token_to_another_project_is_403(deployment, alice):
    grant_role(deployment, "alice", "project", project_id(deployment, "admin"), "member")
    parent = issue(deployment.main, alice, "demo")

    response = post_token(deployment.main, token_auth(parent, "admin"), status=403)

    assert_keystone_error(response, 403)


def test_rescope_from_a_revoked_parent_is_401(deployment, alice):
    parent = issue(deployment.main, alice, "demo")
    deployment.admin.delete("/v3/auth/tokens", headers=subject_headers(parent), status=204)

    response = post_token(deployment.main, token_auth(parent, "demo"), status=401)

    assert_keystone_error(response, 401)


def test_rescope_from_a_bad_token_is_401(deployment):
    response = post_token(deployment.main, token_auth("gAAAAABnotarealtoken"), status=401)

    assert_keystone_error(response, 401)


def test_revoking_a_parent_kills_its_rescoped_children(deployment, alice):
    parent = post_token(deployment.main, {"auth": {"identity": {"methods": ["external"]},
                                                   "scope": "unscoped"}}, user=alice
                        ).headers["X-Subject-Token"]
    child = post_token(deployment.main, token_auth(parent, "demo")).headers["X-Subject-Token"]
    grandchild = post_token(deployment.main, token_auth(child)).headers["X-Subject-Token"]
    validate(deployment.admin, grandchild)

    deployment.admin.delete("/v3/auth/tokens", headers=subject_headers(parent), status=204)

    validate(deployment.admin, child, status=404)
    validate(deployment.admin, grandchild, status=404)


def test_revoking_a_rescoped_child_leaves_its_parent_valid(deployment, alice):
    """As Keystone: the token a user authenticated with survives the DELETE of a token rescoped
    from it (what was rescoped from the child dies: tests/security/test_revocation_races.py)."""
    parent = issue(deployment.main, alice, "demo")
    child = post_token(deployment.main, token_auth(parent)).headers["X-Subject-Token"]

    deployment.admin.delete("/v3/auth/tokens", headers=subject_headers(child), status=204)

    validate(deployment.admin, parent)
    validate(deployment.admin, child, status=404)


def test_token_and_password_for_different_users_is_401(deployment, alice):
    parent = issue(deployment.main, alice, "demo")
    body = password_auth("admin", ADMIN_PASSWORD)
    body["auth"]["identity"]["methods"] = ["token", "password"]
    body["auth"]["identity"]["token"] = {"id": parent}

    assert_keystone_error(post_token(deployment.main, body, status=401), 401)


# -- discovery --------------------------------------------------------------------------------

@pytest.mark.parametrize("app_name", ["main", "admin"])
def test_root_is_300_with_versions_and_location(deployment, app_name):
    response = getattr(deployment, app_name).get("/", status=300)

    assert response.headers["Location"] == "http://localhost/v3/"
    values = response.json["versions"]["values"]
    v3 = next(value for value in values if value["id"].startswith("v3."))
    assert v3["status"] == "stable"
    assert v3["links"] == [{"rel": "self", "href": "http://localhost/v3/"}]
    assert v3["media-types"][0]["type"] == "application/vnd.openstack.identity-v3+json"
    assert any(value["id"] == "v2.0" for value in values)


@pytest.mark.parametrize("path", ["/v3", "/v3/"])
def test_v3_document_is_200(deployment, path):
    response = deployment.main.get(path, status=200)

    version = response.json["version"]
    assert version["id"].startswith("v3.") and version["status"] == "stable"
    assert version["links"] == [{"rel": "self", "href": "http://localhost/v3/"}]


@pytest.mark.parametrize("mount,app_name", [("/main", "main"), ("/admin", "admin")])
def test_discovery_links_include_script_name(deployment, mount, app_name):
    app = getattr(deployment, app_name)
    environ = {"SCRIPT_NAME": mount}

    root = app.get("/", extra_environ=environ, status=300)
    v3 = app.get("/v3", extra_environ=environ)
    v3_slash = app.get("/v3/", extra_environ=environ)

    base = f"http://localhost{mount}/"
    assert root.headers["Location"] == f"{base}v3/"
    for value in root.json["versions"]["values"]:
        assert value["links"][0]["href"].startswith(base)
    assert v3.json["version"]["links"][0]["href"] == f"{base}v3/"
    assert v3_slash.json == v3.json


def test_discovery_links_use_the_host_the_client_used(deployment):
    response = deployment.main.get("/v3", headers={"Host": "id.example.org:8443"},
                                   extra_environ={"SCRIPT_NAME": "/main"})

    assert response.json["version"]["links"][0]["href"] == "http://id.example.org:8443/main/v3/"


def test_head_on_discovery_is_200_without_body(deployment):
    assert deployment.main.head("/v3", status=200).body == b""


# -- HTTP conventions -------------------------------------------------------------------------

def test_every_response_carries_a_request_id(deployment, alice):
    subject = issue(deployment.main, alice, "demo")
    responses = [
        deployment.main.get("/", status=300),
        deployment.main.get("/v3"),
        post_token(deployment.main, external_auth("demo"), user=alice),
        validate(deployment.admin, subject),
        deployment.admin.head("/v3/auth/tokens", headers=subject_headers(subject)),
        validate(deployment.admin, "bad", status=404),
        validate(deployment.admin, subject, caller=None, status=401),
        deployment.main.post("/v3/auth/tokens", "{", content_type="application/json",
                             status=400),
        deployment.main.get("/v3/nowhere", status=404),
        deployment.main.put("/v3/auth/tokens", status=405),
        deployment.main.post("/v3/auth/tokens", b"x" * 200_000,
                             content_type="application/json", status=413),
        deployment.admin.delete("/v3/auth/tokens", headers=subject_headers(subject),
                                status=204),
    ]
    ids = [response.headers["X-Openstack-Request-Id"] for response in responses]
    assert all(re.match(r"^req-[0-9a-f-]{36}$", request_id) for request_id in ids)
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("path", ["/v3/nowhere", "/v3/auth/tokens/extra", "/v4", "/nowhere",
                                  "/v3/auth"])
def test_unknown_path_is_404_json(deployment, path):
    assert_keystone_error(deployment.main.get(path, status=404), 404)


@pytest.mark.parametrize("method,path,allowed", [
    ("put", "/v3/auth/tokens", {"GET", "HEAD", "POST", "DELETE"}),
    ("patch", "/v3/auth/tokens", {"GET", "HEAD", "POST", "DELETE"}),
    ("delete", "/v3", {"GET", "HEAD"}),
    ("post", "/", {"GET", "HEAD"}),
    ("post", "/v3/auth/catalog", {"GET", "HEAD"}),
    ("delete", "/v3/auth/projects", {"GET", "HEAD"}),
])
def test_wrong_method_is_405_json_with_allow(deployment, method, path, allowed):
    response = getattr(deployment.main, method)(path, status=405)

    assert_keystone_error(response, 405)
    assert {name.strip() for name in response.headers["Allow"].split(",")} == allowed


def test_password_of_another_user_over_a_certificate_is_refused(deployment):
    add_user(deployment, "alice", "demo", password="alice-pw")
    add_user(deployment, "bob", "demo", password="bob-pw")
    refused = deployment.main.post_json("/v3/auth/tokens", password_auth("bob", "bob-pw", "demo"),
                                        extra_environ=cert_environ("alice"), status=401)
    assert refused.json["error"]["code"] == 401
    own = deployment.main.post_json("/v3/auth/tokens", password_auth("alice", "alice-pw", "demo"),
                                    extra_environ=cert_environ("alice"), status=201)
    assert own.json["token"]["user"]["name"] == "alice"
