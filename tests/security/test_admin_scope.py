"""Issue 10, findings 2 and 8: ``admin`` on one project is not admin of the cloud once
``[oslo_policy] enforce_scope`` is on, and the service role validates tokens but neither checks
(HEAD) nor revokes other users' tokens.

The story: mallory, a user of the domain ``other``, is given ``admin`` on her own project there.
With Keystone's default policies (enforce_scope off) that makes her admin of everything: she
lists every user, resets the cloud admin's password, grants herself system admin and logs in as
the admin. With enforce_scope on, each step is a 403 and the cloud admin keeps working with a
system-scoped token or a token on the admin project.
"""
from __future__ import annotations

import os

import pytest

from builders import (ADMIN_PASSWORD, ROOT, add_user, admin_headers, admin_token_of,
                      assert_keystone_error, in_store, issue, password_auth, post_token,
                      subject_headers)
from keystone_lite import settings as settings_module
from keystone_lite.identity import store

ADMIN = admin_headers()
MALLORY_PASSWORD = "mallory-secret"
SCOPE_ON = {"oslo_policy": {"enforce_scope": "true"}}


def password_in(domain_id: str, name: str, password: str, scope: dict | None = None) -> dict:
    auth = {"identity": {"methods": ["password"], "password": {"user": {
        "name": name, "domain": {"id": domain_id}, "password": password}}}}
    if scope is not None:
        auth["scope"] = scope
    return {"auth": auth}


def admin_id(deployment) -> str:
    return in_store(deployment, lambda session: store.find_user(
        session, name="admin", domain_id="default").id)


def role_id(deployment, name: str) -> str:
    return in_store(deployment, lambda session: store.find_role(session, name=name).id)


def mallory(deployment, project_name: str = "mallory-project") -> tuple[str, str, str]:
    """(domain id, mallory's user id, her project-scoped token): admin on her own project."""
    admin = deployment.admin
    domain = admin.post_json("/v3/domains", {"domain": {"name": "other"}},
                             headers=ADMIN).json["domain"]["id"]
    project = admin.post_json("/v3/projects", {"project": {
        "name": project_name, "domain_id": domain}}, headers=ADMIN).json["project"]["id"]
    user = admin.post_json("/v3/users", {"user": {
        "name": "mallory", "domain_id": domain, "password": MALLORY_PASSWORD}},
        headers=ADMIN).json["user"]["id"]
    admin.put(f"/v3/projects/{project}/users/{user}/roles/{role_id(deployment, 'admin')}",
              headers=ADMIN, status=204)
    token = post_token(deployment.main, password_in(
        domain, "mallory", MALLORY_PASSWORD, {"project": {"id": project}})).headers[
        "X-Subject-Token"]
    return domain, user, token


def attack(deployment, token: str, mallory_id: str) -> list[int]:
    """Mallory's four steps; the statuses they got."""
    headers = {"X-Auth-Token": token}
    admin = deployment.admin
    statuses = [admin.get("/v3/users", headers=headers, expect_errors=True).status_int]
    statuses.append(admin.patch_json(f"/v3/users/{admin_id(deployment)}", {"user": {
        "password": "pwned"}}, headers=headers, expect_errors=True).status_int)
    statuses.append(admin.put(
        f"/v3/system/users/{mallory_id}/roles/{role_id(deployment, 'admin')}",
        headers=headers, expect_errors=True).status_int)
    statuses.append(post_token(deployment.main, password_auth("admin", "pwned", "admin"),
                               status="*").status_int)
    return statuses


# -- finding 2: admin on a project is not admin of the cloud --------------------------------------

def test_with_enforce_scope_on_project_admin_of_another_domain_cannot_take_over(
        make_deployment):
    deployment = make_deployment(SCOPE_ON)
    _domain, user, token = mallory(deployment)
    assert attack(deployment, token, user) == [403, 403, 403, 401]
    # The cloud admin's password still works, and mallory holds nothing on the system.
    admin_token_of(deployment.main)
    post_token(deployment.main, password_in(_domain, "mallory", MALLORY_PASSWORD, {
        "system": {"all": True}}), status=401)


def test_with_enforce_scope_off_project_admin_is_admin_of_everything_as_keystone(
        make_deployment):
    """Keystone's defaults (``admin_required = role:admin or is_admin:1``), kept for
    deployments that test against them (Tempest's default configuration)."""
    deployment = make_deployment()
    _domain, user, token = mallory(deployment)
    assert attack(deployment, token, user) == [200, 200, 204, 201]


def test_with_enforce_scope_on_project_admin_still_reads_her_own_project_and_user(
        make_deployment):
    deployment = make_deployment(SCOPE_ON)
    domain, user, token = mallory(deployment)
    headers = {"X-Auth-Token": token}
    (project,) = deployment.admin.get(f"/v3/users/{user}/projects",
                                      headers=headers).json["projects"]
    deployment.admin.get(f"/v3/projects/{project['id']}", headers=headers)
    assert deployment.admin.get(f"/v3/users/{user}", headers=headers).json["user"][
        "domain_id"] == domain
    response = deployment.admin.post_json("/v3/projects", {"project": {
        "name": "more", "domain_id": domain}}, headers=headers, status=403)
    assert_keystone_error(response, 403)


def test_with_enforce_scope_on_a_project_named_admin_elsewhere_is_not_the_admin_project(
        make_deployment):
    deployment = make_deployment(SCOPE_ON)
    _domain, _user, token = mallory(deployment, project_name="admin")
    validated = deployment.admin.get("/v3/auth/tokens", headers=subject_headers(token))
    assert validated.json["token"]["is_admin_project"] is False
    deployment.admin.get("/v3/users", headers={"X-Auth-Token": token}, status=403)


@pytest.mark.parametrize("scope", [{"system": {"all": True}}, None],
                         ids=["system-token", "admin-project-token"])
def test_with_enforce_scope_on_the_cloud_admin_administers_everything(make_deployment, scope):
    deployment = make_deployment(SCOPE_ON)
    _domain, user, _token = mallory(deployment)
    if scope is None:
        token = admin_token_of(deployment.main)
        validated = deployment.admin.get("/v3/auth/tokens", headers=subject_headers(token))
        assert validated.json["token"]["is_admin_project"] is True
    else:
        token = post_token(deployment.main, password_in(
            "default", "admin", ADMIN_PASSWORD, scope)).headers["X-Subject-Token"]
    headers = {"X-Auth-Token": token}
    names = {entry["name"] for entry in deployment.admin.get("/v3/users",
                                                             headers=headers).json["users"]}
    assert {"admin", "mallory"} <= names
    deployment.admin.patch_json(f"/v3/users/{user}", {"user": {"enabled": False}},
                                headers=headers)


def test_with_enforce_scope_on_the_admin_token_keeps_working(make_deployment):
    deployment = make_deployment(SCOPE_ON)
    deployment.admin.get("/v3/users", headers=ADMIN)
    deployment.admin.post_json("/v3/domains", {"domain": {"name": "x"}}, headers=ADMIN,
                               status=201)


@pytest.mark.parametrize("overrides", [None, SCOPE_ON], ids=["scope-off", "scope-on"])
def test_domain_admin_lists_and_manages_only_her_domain(make_deployment, overrides):
    """Keystone filters lists by a domain token's domain in both modes; with enforce_scope on
    she may no longer touch users of another domain."""
    deployment = make_deployment(overrides)
    domain, user, _token = mallory(deployment)
    deployment.admin.put(f"/v3/domains/{domain}/users/{user}/roles/"
                         f"{role_id(deployment, 'admin')}", headers=ADMIN, status=204)
    token = post_token(deployment.main, password_in(
        domain, "mallory", MALLORY_PASSWORD, {"domain": {"id": domain}})).headers[
        "X-Subject-Token"]
    headers = {"X-Auth-Token": token}
    users = deployment.admin.get("/v3/users", headers=headers).json["users"]
    assert [entry["name"] for entry in users] == ["mallory"]
    projects = deployment.admin.get("/v3/projects", headers=headers).json["projects"]
    assert [entry["name"] for entry in projects] == ["mallory-project"]
    assignments = deployment.admin.get("/v3/role_assignments", headers=headers).json[
        "role_assignments"]
    assert assignments and all(entry["user"]["id"] == user for entry in assignments)
    status = deployment.admin.patch_json(f"/v3/users/{admin_id(deployment)}", {"user": {
        "description": "x"}}, headers=headers, expect_errors=True).status_int
    assert status == (403 if overrides else 200)


def test_bootstrap_creates_the_manager_role_once(deployment):
    deployment.cli("bootstrap")
    deployment.cli("bootstrap")
    names = in_store(deployment, lambda session: [role.name for role in store.list_roles(
        session)])
    assert names.count("manager") == 1


def test_the_shipped_configuration_turns_enforce_scope_on():
    """etc/keystone-lite.conf is what ./quickstart serves and what deployments start from."""
    loaded = settings_module.load(os.path.join(ROOT, "etc", "keystone-lite.conf"))
    assert loaded.enforce_scope is True


# -- finding 8: the service role validates, nothing more ------------------------------------------

@pytest.fixture
def service_and_subject(deployment):
    add_user(deployment, "svc", "service", "service")
    add_user(deployment, "alice", "demo", "member")
    return issue(deployment.main, "svc", "service"), issue(deployment.main, "alice", "demo")


def test_service_role_validates_tokens_on_main_and_admin(deployment, service_and_subject):
    service, subject = service_and_subject
    for app in (deployment.main, deployment.admin):
        app.get("/v3/auth/tokens", headers=subject_headers(subject, service))
    deployment.admin.get(f"/v2.0/tokens/{subject}", headers={"X-Auth-Token": service})


def test_service_role_cannot_check_or_revoke_another_users_token(deployment,
                                                                 service_and_subject):
    service, subject = service_and_subject
    headers = subject_headers(subject, service)
    deployment.admin.head("/v3/auth/tokens", headers=headers, status=403)
    assert_keystone_error(deployment.admin.delete("/v3/auth/tokens", headers=headers,
                                                  status=403), 403)
    v2 = {"X-Auth-Token": service}
    deployment.admin.head(f"/v2.0/tokens/{subject}", headers=v2, status=403)
    assert_keystone_error(deployment.admin.delete(f"/v2.0/tokens/{subject}", headers=v2,
                                                  status=403), 403)
    deployment.admin.get("/v3/auth/tokens", headers=subject_headers(subject))  # still valid


def test_a_user_checks_and_revokes_her_own_token(deployment, service_and_subject):
    _service, subject = service_and_subject
    headers = subject_headers(subject, subject)
    deployment.main.head("/v3/auth/tokens", headers=headers, status=200)
    deployment.main.delete("/v3/auth/tokens", headers=headers, status=204)
