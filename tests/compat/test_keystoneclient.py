"""python-keystoneclient v3 on a keystoneauth1 session, against keystone_lite's admin API.

The client finds ``/admin/v3`` in the catalog (``interface="admin"``): keystone_lite serves the
identity CRUD API on the admin app only, as Keystone did when it had two.
"""
from __future__ import annotations

import uuid

import pytest

from compat_clients import require
from conftest import CERT_PROJECT, CERT_USER

from builders import ADMIN_PASSWORD

ks_exceptions = require("keystoneauth1.exceptions")
v3 = require("keystoneauth1.identity.v3")
ks_session = require("keystoneauth1.session")
client = require("keystoneclient.v3.client")

pytestmark = pytest.mark.compat


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def keystone(http_keystone):
    """A v3 Client of the bootstrap admin, scoped to the admin project."""
    auth = v3.Password(auth_url=f"{http_keystone.main}/v3", username="admin",
                       password=ADMIN_PASSWORD, user_domain_id="default",
                       project_name="admin", project_domain_id="default")
    return client.Client(session=ks_session.Session(auth=auth, timeout=10), interface="admin")


def test_client_talks_to_the_admin_app_found_in_the_catalog(keystone, http_keystone):
    assert keystone.session.get_endpoint(service_type="identity", interface="admin") == (
        f"{http_keystone.admin}/v3")


# -- tokens ----------------------------------------------------------------------------------------

def test_validate_returns_the_access_of_a_certificate_token(keystone, http_keystone):
    token = http_keystone.issue(CERT_USER, CERT_PROJECT)

    access = keystone.tokens.validate(token)

    assert access.auth_token == token
    assert access.username == CERT_USER and access.project_name == CERT_PROJECT
    assert access.role_names == ["member", "reader"]  # member ⇒ reader, as Keystone
    assert access.service_catalog.url_for(service_type="identity",
                                           endpoint_type="internal") == (
        f"{http_keystone.main}/v3")


def test_validate_without_catalog_leaves_it_out(keystone, http_keystone):
    access = keystone.tokens.validate(http_keystone.issue(CERT_USER, CERT_PROJECT),
                                      include_catalog=False)

    assert access.username == CERT_USER
    assert not access.service_catalog.get_endpoints()


def test_revoked_token_no_longer_validates(keystone, http_keystone):
    token = http_keystone.issue(CERT_USER, CERT_PROJECT)

    keystone.tokens.revoke_token(token)

    with pytest.raises(ks_exceptions.NotFound):
        keystone.tokens.validate(token)
    with pytest.raises(ks_exceptions.NotFound):
        keystone.tokens.revoke_token(token)


def test_garbage_token_does_not_validate(keystone):
    with pytest.raises(ks_exceptions.NotFound):
        keystone.tokens.validate("garbage")


# -- users, projects, roles ------------------------------------------------------------------------

def test_user_crud(keystone):
    project = keystone.projects.create(unique("home"), domain="default")
    name = unique("user")

    user = keystone.users.create(name, domain="default", password="pw-1", email=None,
                                 description="made by keystoneclient", default_project=project)
    assert (user.name, user.domain_id, user.enabled) == (name, "default", True)
    assert user.default_project_id == project.id
    assert keystone.users.get(user.id).name == name
    assert [found.id for found in keystone.users.list(name=name)] == [user.id]
    assert user.id in {found.id for found in keystone.users.list(domain="default")}

    updated = keystone.users.update(user, enabled=False, description="disabled")
    assert (updated.enabled, updated.description) == (False, "disabled")
    assert user.id not in {found.id for found in keystone.users.list(enabled=True)}

    keystone.users.delete(user)
    with pytest.raises(ks_exceptions.NotFound):
        keystone.users.get(user.id)
    with pytest.raises(ks_exceptions.Conflict):
        keystone.users.create("admin", domain="default")


def test_project_crud(keystone):
    name = unique("project")

    project = keystone.projects.create(name, domain="default", description="first")
    assert (project.name, project.domain_id, project.enabled) == (name, "default", True)
    assert keystone.projects.get(project.id).description == "first"
    assert [found.id for found in keystone.projects.list(name=name)] == [project.id]

    renamed = keystone.projects.update(project, name=f"{name}-2", description="second")
    assert (renamed.name, renamed.description) == (f"{name}-2", "second")

    keystone.projects.delete(project)
    with pytest.raises(ks_exceptions.NotFound):
        keystone.projects.get(project.id)


def test_role_crud(keystone):
    name = unique("role")

    role = keystone.roles.create(name)
    assert keystone.roles.get(role.id).name == name
    assert [found.id for found in keystone.roles.list(name=name)] == [role.id]
    assert keystone.roles.update(role, name=f"{name}-2").name == f"{name}-2"

    keystone.roles.delete(role)
    with pytest.raises(ks_exceptions.NotFound):
        keystone.roles.get(role.id)


# -- grants and role assignments -------------------------------------------------------------------

def test_grant_check_list_and_revoke_a_project_role(keystone):
    user = keystone.users.create(unique("user"), domain="default")
    project = keystone.projects.create(unique("project"), domain="default")
    role = keystone.roles.create(unique("role"))

    keystone.roles.grant(role, user=user, project=project)

    keystone.roles.check(role, user=user, project=project)
    assert [found.id for found in keystone.roles.list(user=user, project=project)] == [role.id]
    assignments = keystone.role_assignments.list(user=user, project=project)
    assert [(found.role["id"], found.user["id"], found.scope["project"]["id"])
            for found in assignments] == [(role.id, user.id, project.id)]
    named = keystone.role_assignments.list(user=user, include_names=True)
    assert named[0].role["name"] == role.name and named[0].user["name"] == user.name

    keystone.roles.revoke(role, user=user, project=project)

    with pytest.raises(ks_exceptions.NotFound):
        keystone.roles.check(role, user=user, project=project)
    assert keystone.role_assignments.list(user=user) == []


def test_role_assignments_filter_by_role_and_project(keystone):
    user = keystone.users.create(unique("user"), domain="default")
    project = keystone.projects.create(unique("project"), domain="default")
    member = keystone.roles.find(name="member")
    keystone.roles.grant(member, user=user, project=project)

    by_project = keystone.role_assignments.list(project=project)
    by_role = keystone.role_assignments.list(role=member, effective=True)

    assert [found.user["id"] for found in by_project] == [user.id]
    assert user.id in {found.user["id"] for found in by_role}


def test_member_token_may_not_call_the_admin_api(keystone, http_keystone):
    token = http_keystone.issue(CERT_USER, CERT_PROJECT)
    auth = v3.Token(auth_url=f"{http_keystone.main}/v3", token=token,
                    project_name=CERT_PROJECT, project_domain_id="default")
    member = client.Client(session=ks_session.Session(auth=auth, timeout=10),
                           interface="admin")

    with pytest.raises(ks_exceptions.Forbidden):
        member.users.list()


# -- listings filtered the way the client asks ----------------------------------------------------

def test_projects_of_a_user(keystone, http_keystone):
    user = keystone.users.create(unique("user"), domain="default")
    projects = [keystone.projects.create(unique("project"), domain="default") for _ in "ab"]
    for project in projects:
        keystone.roles.grant(keystone.roles.find(name="member"), user=user, project=project)
    keystone.projects.update(projects[1], enabled=False)

    listed = keystone.projects.list(user=user)

    assert sorted(project.id for project in listed) == sorted(project.id for project in projects)
    assert [project.id for project in keystone.projects.list(user=user, enabled=True)] == [
        projects[0].id]


def test_users_filtered_by_default_project(keystone):
    project = keystone.projects.create(unique("project"), domain="default")
    user = keystone.users.create(unique("user"), domain="default", default_project=project)
    keystone.users.create(unique("other"), domain="default")

    assert [found.id for found in keystone.users.list(default_project=project)] == [user.id]


def test_inherited_grants_on_a_domain_and_their_role_assignments(keystone):
    domain = keystone.domains.create(unique("domain"))
    project = keystone.projects.create(unique("project"), domain=domain)
    user = keystone.users.create(unique("user"), domain="default")
    member = keystone.roles.list(name="member")[0]
    keystone.roles.grant(member, user=user, domain=domain, os_inherit_extension_inherited=True)

    keystone.roles.check(member, user=user, domain=domain, os_inherit_extension_inherited=True)
    listed = keystone.roles.list(user=user, domain=domain, os_inherit_extension_inherited=True)
    inherited = keystone.role_assignments.list(user=user,
                                               os_inherit_extension_inherited_to="projects")
    effective = keystone.role_assignments.list(user=user, project=project, effective=True)
    assert [role.id for role in listed] == [member.id]
    assert keystone.roles.list(user=user, domain=domain) == []  # the direct grants: none
    assert [(found.role["id"], found.scope) for found in inherited] == [
        (member.id, {"domain": {"id": domain.id}, "OS-INHERIT:inherited_to": "projects"})]
    assert {found.role["id"] for found in effective} >= {member.id}

    keystone.roles.revoke(member, user=user, domain=domain, os_inherit_extension_inherited=True)
    assert keystone.role_assignments.list(user=user) == []


def test_auth_lists_what_a_token_can_be_rescoped_to(keystone, http_keystone):
    user = keystone.users.create(unique("user"), domain="default", password="pw-1")
    project = keystone.projects.create(unique("project"), domain="default")
    keystone.roles.grant(keystone.roles.find(name="member"), user=user, project=project)
    keystone.roles.grant(keystone.roles.find(name="reader"), user=user, domain="default")
    auth = v3.Password(auth_url=f"{http_keystone.main}/v3", user_id=user.id, password="pw-1",
                       unscoped=True)
    own = client.Client(session=ks_session.Session(auth=auth, timeout=10), interface="public")

    assert [found.id for found in own.auth.projects()] == [project.id]
    assert [found.id for found in own.auth.domains()] == ["default"]
    assert own.auth.systems() == []
    assert [system.all for system in keystone.auth.systems()] == [True]  # bootstrap's grant
