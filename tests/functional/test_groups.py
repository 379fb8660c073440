"""Groups (issue 11): CRUD, memberships, group grants, role assignments and the roles tokens
carry through groups, checked against Keystone 30's recorded answers
(``../shared/keystone-golden-next/groups-*.json``). What kills tokens when a membership or a
group grant goes: test_lifecycle (both providers)."""
from __future__ import annotations

import pytest
import sqlalchemy

from builders import (add_user, assert_keystone_error, assert_like_keystone, create_domain, golden,
                      issue, password_auth, post_token)
from test_identity_parity import ADMIN, create

PASSWORD = "groups-secret"


def role_id(app, name: str) -> str:
    (role,) = app.get(f"/v3/roles?name={name}", headers=ADMIN).json["roles"]
    return role["id"]


def user_id(app, name: str) -> str:
    (user,) = app.get(f"/v3/users?name={name}", headers=ADMIN).json["users"]
    return user["id"]


@pytest.fixture
def world(deployment):
    """groups-user (no role of its own) in the group golden-devs; the project groups-proj."""
    app = deployment.admin
    add_user(deployment, "groups-user", password=PASSWORD)
    group = create(app, "groups", "group", name="golden-devs", description="developers",
                   domain_id="default")
    project = create(app, "projects", "project", name="groups-proj")
    user = user_id(app, "groups-user")
    app.put(f"/v3/groups/{group['id']}/users/{user}", headers=ADMIN, status=204)
    return {"group": group["id"], "user": user, "project": project["id"],
            "member": role_id(app, "member")}


def grant_url(world: dict, target: str = "projects") -> str:
    where = "/v3/system" if target == "system" else \
        f"/v3/{target}/{world['project'] if target == 'projects' else 'default'}"
    return f"{where}/groups/{world['group']}/roles/{world['member']}"


# -- CRUD ------------------------------------------------------------------------------------------

def test_group_crud_answers_as_keystone(deployment):
    app = deployment.admin
    created = app.post_json("/v3/groups", {"group": {
        "name": "golden-devs", "description": "developers", "domain_id": "default"}},
        headers=ADMIN)
    assert_like_keystone(created, "groups-create.json")
    group = created.json["group"]
    assert set(group) == set(golden("groups-create.json")[1]["group"])
    assert group["links"]["self"].endswith(f"/v3/groups/{group['id']}")

    shown = app.get(f"/v3/groups/{group['id']}", headers=ADMIN)
    assert_like_keystone(shown, "groups-get.json")
    assert shown.json["group"] == group
    listed = app.get("/v3/groups", headers=ADMIN)
    assert_like_keystone(listed, "groups-list.json")
    assert listed.json["groups"] == [group]

    updated = app.patch_json(f"/v3/groups/{group['id']}",
                             {"group": {"description": "all developers"}}, headers=ADMIN)
    assert_like_keystone(updated, "groups-update.json")
    assert updated.json["group"]["description"] == "all developers"

    assert_like_keystone(app.delete(f"/v3/groups/{group['id']}", headers=ADMIN),
                         "groups-delete.json")
    gone = app.get(f"/v3/groups/{group['id']}", headers=ADMIN, status=404)
    assert_like_keystone(gone, "groups-get-after-delete.json")
    assert gone.json == golden("groups-get-after-delete.json")[1] | {"error": {
        **golden("groups-get-after-delete.json")[1]["error"],
        "message": f"Could not find group: {group['id']}."}}


def test_group_defaults_to_the_default_domain_and_names_are_unique_per_domain(deployment):
    app = deployment.admin
    group = create(app, "groups", "group", name="ops")
    assert (group["domain_id"], group["description"]) == ("default", "")
    clash = app.post_json("/v3/groups", {"group": {"name": "ops"}}, headers=ADMIN,
                          status=409)
    assert "Duplicate entry found with name ops" in assert_keystone_error(clash, 409)["message"]
    other = create_domain(deployment, "elsewhere")
    assert create(app, "groups", "group", name="ops", domain_id=other)["domain_id"] == other


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": " "}, {"name": "x" * 256},
                                  {"name": 5}, {"name": "ok", "description": 5},
                                  {"name": "ok", "domain_id": None}])
def test_invalid_group_bodies_are_400(deployment, body):
    assert_keystone_error(deployment.admin.post_json("/v3/groups", {"group": body},
                                                     headers=ADMIN, status=400), 400)


def test_group_in_an_unknown_domain_is_404_and_its_domain_cannot_change(deployment):
    app = deployment.admin
    app.post_json("/v3/groups", {"group": {"name": "g", "domain_id": "nowhere"}},
                  headers=ADMIN, status=404)
    group = create(app, "groups", "group", name="g")
    other = create_domain(deployment, "elsewhere")
    app.patch_json(f"/v3/groups/{group['id']}", {"group": {"domain_id": other}},
                   headers=ADMIN, status=400)


def test_group_lists_filter_by_name_and_domain(deployment):
    app = deployment.admin
    other = create_domain(deployment, "elsewhere")
    create(app, "groups", "group", name="a")
    create(app, "groups", "group", name="b")
    far = create(app, "groups", "group", name="a", domain_id=other)
    names = lambda query: sorted((group["name"], group["domain_id"]) for group in  # noqa: E731
                                 app.get(f"/v3/groups{query}", headers=ADMIN).json["groups"])
    assert names("?name=a") == sorted([("a", "default"), ("a", other)])
    assert names(f"?domain_id={other}") == [("a", other)]
    assert names(f"?domain_id={other}&name=b") == []
    assert far["id"] in {group["id"] for group in app.get(
        "/v3/groups", headers=ADMIN).json["groups"]}


# -- memberships -----------------------------------------------------------------------------------

def test_membership_calls_answer_as_keystone(deployment, world):
    app = deployment.admin
    member = f"/v3/groups/{world['group']}/users/{world['user']}"
    assert_like_keystone(app.put(member, headers=ADMIN), "groups-member-add.json")  # again
    assert_like_keystone(app.head(member, headers=ADMIN), "groups-member-check.json")

    listed = app.get(f"/v3/groups/{world['group']}/users", headers=ADMIN)
    assert_like_keystone(listed, "groups-member-list.json")
    (user,) = listed.json["users"]
    assert set(user) >= set(golden("groups-member-list.json")[1]["users"][0])
    assert user["id"] == world["user"]

    groups = app.get(f"/v3/users/{world['user']}/groups", headers=ADMIN)
    assert_like_keystone(groups, "groups-user-groups.json")
    (group,) = groups.json["groups"]
    assert set(group) == set(golden("groups-user-groups.json")[1]["groups"][0])
    assert (group["id"], group["membership_expires_at"]) == (world["group"], None)

    assert_like_keystone(app.delete(member, headers=ADMIN), "groups-member-remove.json")
    assert_like_keystone(app.head(member, headers=ADMIN, status=404),
                         "groups-member-check-after-remove.json")
    absent = app.get(member, headers=ADMIN, status=404)
    assert assert_keystone_error(absent, 404)["message"] == (
        f"User '{world['user']}' not found in group '{world['group']}'")
    app.delete(member, headers=ADMIN, status=404)
    assert app.get(f"/v3/users/{world['user']}/groups", headers=ADMIN).json["groups"] == []


def test_membership_of_an_unknown_user_or_group_is_404(deployment, world):
    app = deployment.admin
    for path in (f"/v3/groups/{world['group']}/users/nobody",
                 f"/v3/groups/nogroup/users/{world['user']}"):
        for method in ("PUT", "HEAD", "DELETE"):
            app.request(path, method=method, headers=ADMIN, status=404)
    app.get("/v3/groups/nogroup/users", headers=ADMIN, status=404)
    app.get("/v3/users/nobody/groups", headers=ADMIN, status=404)


def test_deleting_a_user_or_a_group_removes_memberships_and_grants(deployment, world):
    app = deployment.admin
    app.put(grant_url(world), headers=ADMIN, status=204)
    app.delete(f"/v3/users/{world['user']}", headers=ADMIN, status=204)
    assert app.get(f"/v3/groups/{world['group']}/users", headers=ADMIN).json["users"] == []

    app.delete(f"/v3/groups/{world['group']}", headers=ADMIN, status=204)
    assert app.get(f"/v3/role_assignments?group.id={world['group']}",
                   headers=ADMIN).json["role_assignments"] == []
    # The role and project the grant named are untouched.
    app.get(f"/v3/projects/{world['project']}", headers=ADMIN, status=200)


def test_deleting_a_domain_deletes_its_groups_and_group_grants_on_it(deployment, world):
    app = deployment.admin
    domain = create(app, "domains", "domain", name="doomed")
    inside = create(app, "groups", "group", name="inside", domain_id=domain["id"])
    app.put(f"/v3/domains/{domain['id']}/groups/{world['group']}/roles/{world['member']}",
            headers=ADMIN, status=204)
    app.patch_json(f"/v3/domains/{domain['id']}", {"domain": {"enabled": False}},
                   headers=ADMIN)
    app.delete(f"/v3/domains/{domain['id']}", headers=ADMIN, status=204)
    app.get(f"/v3/groups/{inside['id']}", headers=ADMIN, status=404)
    assert app.get(f"/v3/role_assignments?group.id={world['group']}",
                   headers=ADMIN).json["role_assignments"] == []
    app.get(f"/v3/groups/{world['group']}", headers=ADMIN, status=200)


# -- group grants ----------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["projects", "domains", "system"])
def test_group_grants_put_check_list_and_delete(deployment, world, target):
    app = deployment.admin
    url = grant_url(world, target)
    response = app.put(url, headers=ADMIN, status=204)
    if target == "projects":
        assert_like_keystone(response, "groups-role-grant-project.json")
    app.put(url, headers=ADMIN, status=204)  # idempotent
    app.head(url, headers=ADMIN, status=204)
    listed = app.get(url.rsplit("/", 1)[0], headers=ADMIN).json["roles"]
    assert [role["id"] for role in listed] == [world["member"]]
    # The member's own grants are its own, not its groups'.
    own = url.replace(f"/groups/{world['group']}/", f"/users/{world['user']}/")
    assert app.get(own.rsplit("/", 1)[0], headers=ADMIN).json["roles"] == []
    app.delete(url, headers=ADMIN, status=204)
    missing = app.head(url, headers=ADMIN, status=404)
    assert missing.body == b""
    assert_keystone_error(app.delete(url, headers=ADMIN, status=404), 404)


def test_group_grant_naming_an_unknown_group_or_role_is_404(deployment, world):
    app = deployment.admin
    app.put(f"/v3/projects/{world['project']}/groups/nogroup/roles/{world['member']}",
            headers=ADMIN, status=404)
    app.put(f"/v3/projects/{world['project']}/groups/{world['group']}/roles/norole",
            headers=ADMIN, status=404)


# -- role assignments ------------------------------------------------------------------------------

def test_role_assignments_show_group_grants_and_expand_them_when_effective(deployment, world):
    app = deployment.admin
    app.put(grant_url(world), headers=ADMIN, status=204)
    base = "http://localhost/v3"

    (entry,) = app.get(f"/v3/role_assignments?group.id={world['group']}",
                       headers=ADMIN).json["role_assignments"]
    assert entry == {"role": {"id": world["member"]}, "group": {"id": world["group"]},
                     "scope": {"project": {"id": world["project"]}},
                     "links": {"assignment": f"{base}{grant_url(world)[3:]}"}}
    # Without ?effective a user's list has only its own grants.
    assert app.get(f"/v3/role_assignments?user.id={world['user']}",
                   headers=ADMIN).json["role_assignments"] == []

    path = f"/v3/role_assignments?effective&user.id={world['user']}"
    effective = app.get(path, headers=ADMIN)
    assert_like_keystone(effective, "groups-role-assignments-effective.json")
    # The group's member role, then the reader role member implies (bootstrap's rule), as
    # Keystone lists them: same keys, same links.
    entries = effective.json["role_assignments"]
    keystone_entries = golden("groups-role-assignments-effective.json")[1]["role_assignments"]
    assert len(entries) == len(keystone_entries) == 2
    for entry, keystone_entry in zip(entries, keystone_entries):
        assert set(entry) == set(keystone_entry) and set(entry["links"]) == set(
            keystone_entry["links"])
    entry, implied = entries
    assert implied["links"]["prior_role"].endswith(
        f"/v3/prior_role/{implied['role']['id']}/implies/{world['member']}")
    assert entry["user"] == {"id": world["user"]}
    assert entry["links"]["membership"] == \
        f"{base}/groups/{world['group']}/users/{world['user']}"
    assert entry["links"]["assignment"] == f"{base}{grant_url(world)[3:]}"
    # An unfiltered effective list has no group entries, one per member instead.
    everything = app.get("/v3/role_assignments?effective", headers=ADMIN).json
    assert not any("group" in entry for entry in everything["role_assignments"])

    named = app.get(f"/v3/role_assignments?group.id={world['group']}&include_names",
                    headers=ADMIN).json["role_assignments"][0]
    assert named["group"] == {"id": world["group"], "name": "golden-devs",
                              "domain": {"id": "default", "name": "Default"}}
    refused = app.get(f"/v3/role_assignments?effective&group.id={world['group']}",
                      headers=ADMIN, status=400)
    assert_keystone_error(refused, 400)


# -- tokens ----------------------------------------------------------------------------------------

def test_a_token_carries_the_roles_of_the_users_groups(deployment, world):
    app, main = deployment.admin, deployment.main
    # Refused before the grant: no role on the project.
    post_token(main, password_auth("groups-user", PASSWORD, "groups-proj"), status=401)
    app.put(grant_url(world), headers=ADMIN, status=204)
    app.put(grant_url(world).replace(world["member"], role_id(app, "reader")), headers=ADMIN,
            status=204)
    response = post_token(main, password_auth("groups-user", PASSWORD, "groups-proj"))
    assert_like_keystone(response, "groups-token-group-role.json")
    assert sorted(role["name"] for role in response.json["token"]["roles"]) == [
        "member", "reader"]

    token = issue(main, "groups-user")  # unscoped: no default project
    projects = main.get("/v3/auth/projects", headers={"X-Auth-Token": token}).json["projects"]
    assert [project["name"] for project in projects] == ["groups-proj"]
    assert [project["name"] for project in app.get(
        f"/v3/users/{world['user']}/projects", headers=ADMIN).json["projects"]] == [
        "groups-proj"]


def test_group_roles_on_a_domain_and_the_system_scope_tokens(deployment, world):
    app, main = deployment.admin, deployment.main
    app.put(grant_url(world, "domains"), headers=ADMIN, status=204)
    app.put(grant_url(world, "system"), headers=ADMIN, status=204)
    token = issue(main, "groups-user")
    domains = main.get("/v3/auth/domains", headers={"X-Auth-Token": token}).json["domains"]
    assert [domain["id"] for domain in domains] == ["default"]
    assert main.get("/v3/auth/system", headers={"X-Auth-Token": token}).json["system"] == [
        {"all": True}]
    for scope in ({"domain": {"id": "default"}}, {"system": {"all": True}}):
        body = password_auth("groups-user", PASSWORD)
        body["auth"]["scope"] = scope
        roles = post_token(main, body).json["token"]["roles"]
        assert [role["name"] for role in roles] == ["member", "reader"]  # member ⇒ reader


def test_the_default_project_is_scoped_through_a_group_grant(deployment, world):
    app, main = deployment.admin, deployment.main
    app.patch_json(f"/v3/users/{world['user']}",
                   {"user": {"default_project_id": world["project"]}}, headers=ADMIN)
    body = password_auth("groups-user", PASSWORD)
    assert "project" not in post_token(main, body).json["token"]
    app.put(grant_url(world), headers=ADMIN, status=204)
    assert post_token(main, body).json["token"]["project"]["id"] == world["project"]


def test_a_principal_read_through_a_group_costs_the_statements_of_a_direct_one(deployment,
                                                                                world):
    """The token hot path: a validation that misses the caches runs as many statements for a
    user whose role comes through a group as for one whose role is its own (roles_on is one
    query either way)."""
    app, main = deployment.admin, deployment.main
    add_user(deployment, "direct-user", password=PASSWORD)
    app.put(f"/v3/projects/{world['project']}/users/{user_id(app, 'direct-user')}/roles/"
            f"{world['member']}", headers=ADMIN, status=204)
    app.put(grant_url(world), headers=ADMIN, status=204)
    engine = deployment.services().engine
    counts = {}
    for name in ("direct-user", "groups-user"):
        token = post_token(main, password_auth(name, PASSWORD, "groups-proj")).headers[
            "X-Subject-Token"]
        # Any write moves the change counter: the next validation reads the principal again.
        create(app, "roles", "role", name=f"after-{name}")
        statements = []

        def count(*args, statements=statements):
            statements.append(args[2])
        sqlalchemy.event.listen(engine, "before_cursor_execute", count)
        try:
            app.get("/v3/auth/tokens", headers={**ADMIN, "X-Subject-Token": token},
                    status=200)
        finally:
            sqlalchemy.event.remove(engine, "before_cursor_execute", count)
        counts[name] = len(statements)
    assert counts["groups-user"] == counts["direct-user"] > 1
