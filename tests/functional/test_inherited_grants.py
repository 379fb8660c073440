"""Inherited grants (issue 11, Keystone's OS-INHERIT): the ``/v3/OS-INHERIT/...`` routes, the
roles they give tokens on the projects under their target (never on the target itself), the
projects they open to a user, and how ``/v3/role_assignments`` shows them, as Keystone 30's
keystone/api/os_inherit.py and role_assignments.py do. What kills tokens when an inherited
grant goes: test_lifecycle (both providers)."""
from __future__ import annotations

import pytest

from builders import add_user, assert_keystone_error, cert_environ, issue, post_token
from test_identity_parity import ADMIN, create

BASE = "http://localhost/v3"


def ids_by_name(app, plural: str) -> dict[str, str]:
    return {entity["name"]: entity["id"]
            for entity in app.get(f"/v3/{plural}", headers=ADMIN).json[plural]}


@pytest.fixture
def world(deployment):
    """The domain acme with top ⊃ leaf and side; alice (certificate user of the default domain,
    no role) in the group heirs (of acme, no role)."""
    app = deployment.admin
    acme = create(app, "domains", "domain", name="acme")["id"]
    top = create(app, "projects", "project", name="top", domain_id=acme)["id"]
    leaf = create(app, "projects", "project", name="leaf", domain_id=acme, parent_id=top)["id"]
    side = create(app, "projects", "project", name="side", domain_id=acme)["id"]
    add_user(deployment, "alice")
    alice = ids_by_name(app, "users")["alice"]
    heirs = create(app, "groups", "group", name="heirs", domain_id=acme)["id"]
    app.put(f"/v3/groups/{heirs}/users/{alice}", headers=ADMIN, status=204)
    return {"acme": acme, "top": top, "leaf": leaf, "side": side, "alice": alice,
            "heirs": heirs, **ids_by_name(app, "roles")}


def inherited_url(world, target: str, actor: str, role: str) -> str:
    """The OS-INHERIT grant of ``role`` to alice (``actor`` "users") or heirs ("groups") on
    ``target`` (acme, or a project's name)."""
    kind = "domains" if target == "acme" else "projects"
    actor_id = world["alice"] if actor == "users" else world["heirs"]
    return (f"/v3/OS-INHERIT/{kind}/{world[target]}/{actor}/{actor_id}/roles/{world[role]}"
            "/inherited_to_projects")


def token_on(deployment, scope: dict, status: int = 201):
    return post_token(deployment.main, {"auth": {"identity": {"methods": ["external"]},
                                                 "scope": scope}},
                      user="alice", status=status)


def roles_on(deployment, world, project: str) -> list[str]:
    """The roles of alice's new token on the project, by name (none: no token could be
    had)."""
    response = token_on(deployment, {"project": {"id": world[project]}}, status="*")
    if response.status_int == 401:
        return []
    assert response.status_int == 201, response.body
    return sorted(role["name"] for role in response.json["token"]["roles"])


def assignments(app, query: str) -> list[dict]:
    return app.get(f"/v3/role_assignments?{query}", headers=ADMIN).json["role_assignments"]


# -- the OS-INHERIT routes -------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["acme", "top"])
@pytest.mark.parametrize("actor", ["users", "groups"])
def test_put_check_and_delete_an_inherited_grant(deployment, world, target, actor):
    app = deployment.admin
    url = inherited_url(world, target, actor, "member")
    app.get(url, headers=ADMIN, status=404)

    assert app.put(url, headers=ADMIN, status=204).body == b""
    app.put(url, headers=ADMIN, status=204)  # idempotent
    app.head(url, headers=ADMIN, status=204)
    app.get(url, headers=ADMIN, status=204)
    app.delete(url, headers=ADMIN, status=204)

    app.head(url, headers=ADMIN, status=404)
    error = assert_keystone_error(app.delete(url, headers=ADMIN, status=404), 404)
    assert error["message"].startswith(f"Could not find role assignment with role: "
                                       f"{world['member']}")


@pytest.mark.parametrize("actor", ["users", "groups"])
def test_inherited_roles_of_a_domain_are_listed_apart_from_its_direct_roles(deployment, world,
                                                                           actor):
    app = deployment.admin
    app.put(inherited_url(world, "acme", actor, "member"), headers=ADMIN, status=204)
    actor_id = world["alice"] if actor == "users" else world["heirs"]
    direct = f"/v3/domains/{world['acme']}/{actor}/{actor_id}/roles"
    app.put(f"{direct}/{world['reader']}", headers=ADMIN, status=204)

    listed = app.get(f"/v3/OS-INHERIT/domains/{world['acme']}/{actor}/{actor_id}/roles/"
                     "inherited_to_projects", headers=ADMIN).json
    assert [role["name"] for role in listed["roles"]] == ["member"]
    assert listed["roles"][0]["links"]["self"] == f"{BASE}/roles/{world['member']}"
    assert listed["links"]["self"] == (f"{BASE}/OS-INHERIT/domains/{world['acme']}/{actor}/"
                                       f"{actor_id}/roles/inherited_to_projects")
    # Two kinds of grant: each route sees its own only.
    assert [role["name"] for role in app.get(direct, headers=ADMIN).json["roles"]] == [
        "reader"]
    app.get(f"{direct}/{world['member']}", headers=ADMIN, status=404)
    app.get(inherited_url(world, "acme", actor, "reader"), headers=ADMIN, status=404)


def test_an_inherited_and_a_direct_grant_of_one_role_are_two_grants(deployment, world):
    app = deployment.admin
    inherited = inherited_url(world, "top", "users", "member")
    direct = f"/v3/projects/{world['top']}/users/{world['alice']}/roles/{world['member']}"
    app.put(inherited, headers=ADMIN, status=204)
    app.put(direct, headers=ADMIN, status=204)

    app.delete(inherited, headers=ADMIN, status=204)

    app.head(direct, headers=ADMIN, status=204)
    assert roles_on(deployment, world, "top") == ["member", "reader"]
    assert roles_on(deployment, world, "leaf") == []


@pytest.mark.parametrize("missing", ["acme", "alice", "member"])
def test_an_inherited_grant_of_or_to_something_missing_is_404(deployment, world, missing):
    world = {**world, missing: "0" * 32}
    response = deployment.admin.put(inherited_url(world, "acme", "users", "member"),
                                    headers=ADMIN, status=404)
    kind = {"acme": "domain", "alice": "user", "member": "role"}[missing]
    assert assert_keystone_error(response, 404)["message"] == f"Could not find {kind}: {'0' * 32}."


def test_inherited_grants_are_listed_on_domains_only_and_routes_refuse_other_methods(
        deployment, world):
    app = deployment.admin
    app.get(f"/v3/OS-INHERIT/projects/{world['top']}/users/{world['alice']}/roles/"
            "inherited_to_projects", headers=ADMIN, status=404)
    response = app.post(inherited_url(world, "acme", "users", "member"), headers=ADMIN,
                        status=405)
    assert_keystone_error(response, 405)
    app.get(inherited_url(world, "acme", "users", "member").replace(
        "/OS-INHERIT/domains", "/OS-INHERIT/system"), headers=ADMIN, status=404)


def test_a_domain_specific_role_is_inherited_only_inside_its_domain(deployment, world):
    app = deployment.admin
    local = create(app, "roles", "role", name="local", domain_id="default")["id"]
    response = app.put(inherited_url({**world, "member": local}, "acme", "users", "member"),
                       headers=ADMIN, status=403)
    assert_keystone_error(response, 403)


def test_a_member_cannot_grant_itself_an_inherited_role(deployment, world):
    add_user(deployment, "mallory", "demo", "member")
    token = issue(deployment.main, "mallory", "demo")
    mallory = ids_by_name(deployment.admin, "users")["mallory"]
    response = deployment.admin.put(
        inherited_url({**world, "alice": mallory}, "acme", "users", "admin"),
        headers={"X-Auth-Token": token}, status=403)
    assert_keystone_error(response, 403)


# -- what inherited grants give -----------------------------------------------------------------

def test_a_domain_grant_gives_its_role_on_every_project_of_the_domain_and_not_on_it(
        deployment, world):
    deployment.admin.put(inherited_url(world, "acme", "users", "member"), headers=ADMIN,
                         status=204)

    for project in ("top", "leaf", "side"):
        assert roles_on(deployment, world, project) == ["member", "reader"]  # member ⇒ reader
    assert_keystone_error(token_on(deployment, {"domain": {"id": world["acme"]}},
                                   status=401), 401)

    unscoped = issue(deployment.main, "alice")
    auth = {"X-Auth-Token": unscoped}
    assert sorted(project["name"] for project in deployment.main.get(
        "/v3/auth/projects", headers=auth).json["projects"]) == ["leaf", "side", "top"]
    assert deployment.main.get("/v3/auth/domains", headers=auth).json["domains"] == []
    assert sorted(project["name"] for project in deployment.admin.get(
        f"/v3/users/{world['alice']}/projects", headers=ADMIN).json["projects"]) == [
        "leaf", "side", "top"]


def test_a_project_grant_gives_its_role_below_the_project_only(deployment, world):
    deployment.admin.put(inherited_url(world, "top", "users", "reader"), headers=ADMIN,
                         status=204)

    assert roles_on(deployment, world, "leaf") == ["reader"]
    assert roles_on(deployment, world, "top") == []
    assert roles_on(deployment, world, "side") == []
    unscoped = {"X-Auth-Token": issue(deployment.main, "alice")}
    assert [project["name"] for project in deployment.main.get(
        "/v3/auth/projects", headers=unscoped).json["projects"]] == ["leaf"]


def test_a_group_grant_is_inherited_by_every_member_with_the_roles_it_implies(deployment,
                                                                             world):
    app = deployment.admin
    app.put(inherited_url(world, "top", "groups", "manager"), headers=ADMIN, status=204)
    app.put(inherited_url(world, "acme", "groups", "reader"), headers=ADMIN, status=204)

    assert roles_on(deployment, world, "leaf") == ["manager", "member", "reader"]
    assert roles_on(deployment, world, "side") == ["reader"]
    assert sorted(project["name"] for project in app.get(
        f"/v3/users/{world['alice']}/projects", headers=ADMIN).json["projects"]) == [
        "leaf", "side", "top"]


def test_roles_add_up_from_the_domain_every_parent_and_the_project_itself(deployment, world):
    app = deployment.admin
    below_leaf = create(app, "projects", "project", name="below", domain_id=world["acme"],
                        parent_id=world["leaf"])["id"]
    world = {**world, "below": below_leaf}
    lead = create(app, "roles", "role", name="lead")["id"]
    auditor = create(app, "roles", "role", name="auditor")["id"]
    world.update(lead=lead, auditor=auditor)
    app.put(inherited_url(world, "acme", "users", "reader"), headers=ADMIN, status=204)
    app.put(inherited_url(world, "top", "groups", "lead"), headers=ADMIN, status=204)
    app.put(inherited_url(world, "leaf", "users", "auditor"), headers=ADMIN, status=204)
    app.put(f"/v3/projects/{below_leaf}/users/{world['alice']}/roles/{world['member']}",
            headers=ADMIN, status=204)

    assert roles_on(deployment, world, "below") == ["auditor", "lead", "member", "reader"]
    assert roles_on(deployment, world, "leaf") == ["lead", "reader"]


def test_default_scoping_uses_an_inherited_role(deployment, world):
    app = deployment.admin
    app.patch_json(f"/v3/users/{world['alice']}",
                   {"user": {"default_project_id": world["leaf"]}}, headers=ADMIN)
    app.put(inherited_url(world, "top", "users", "member"), headers=ADMIN, status=204)

    token = deployment.main.post_json("/v3/auth/tokens", {"auth": {"identity": {
        "methods": ["external"]}}}, extra_environ=cert_environ("alice"), status=201)

    assert token.json["token"]["project"]["id"] == world["leaf"]


# -- /v3/role_assignments ---------------------------------------------------------------------

def test_role_assignments_show_inherited_grants_as_keystone(deployment, world):
    app = deployment.admin
    app.put(inherited_url(world, "acme", "users", "member"), headers=ADMIN, status=204)
    app.put(inherited_url(world, "top", "groups", "reader"), headers=ADMIN, status=204)

    listed = assignments(app, "scope.OS-INHERIT:inherited_to=projects")

    assert listed == [
        {"role": {"id": world["member"]}, "user": {"id": world["alice"]},
         "scope": {"domain": {"id": world["acme"]}, "OS-INHERIT:inherited_to": "projects"},
         "links": {"assignment": f"{BASE}{inherited_url(world, 'acme', 'users', 'member')[3:]}"}},
        {"role": {"id": world["reader"]}, "group": {"id": world["heirs"]},
         "scope": {"project": {"id": world["top"]}, "OS-INHERIT:inherited_to": "projects"},
         "links": {"assignment": f"{BASE}{inherited_url(world, 'top', 'groups', 'reader')[3:]}"}},
    ]
    # In the unfiltered list too; asking for the others (any other value) leaves them out.
    everything = assignments(app, "")
    assert all(entry in everything for entry in listed)
    assert not any(entry in listed for entry in assignments(
        app, "scope.OS-INHERIT:inherited_to=other"))
    assert assignments(app, f"scope.domain.id={world['acme']}") == listed[:1]
    assert assignments(app, f"group.id={world['heirs']}") == listed[1:]
    named = assignments(app, f"user.id={world['alice']}&include_names")[0]
    assert named["scope"] == {"domain": {"id": world["acme"], "name": "acme"},
                              "OS-INHERIT:inherited_to": "projects"}


def test_effective_role_assignments_put_inherited_grants_on_the_projects_they_reach(
        deployment, world):
    app = deployment.admin
    domain_grant = inherited_url(world, "acme", "users", "member")
    group_grant = inherited_url(world, "top", "groups", "reader")
    app.put(domain_grant, headers=ADMIN, status=204)
    app.put(group_grant, headers=ADMIN, status=204)

    listed = assignments(app, f"effective&user.id={world['alice']}")

    inherited = {"OS-INHERIT:inherited_to": "projects"}
    by_grant = {(entry["scope"]["project"]["id"], entry["role"]["id"],
                 entry["links"]["assignment"]) for entry in listed}
    from_domain = f"{BASE}{domain_grant[3:]}"  # also for the reader member implies
    expected = {(world[project], world["member"], from_domain)
                for project in ("top", "leaf", "side")} | {
        (world["top"], world["reader"], from_domain), (world["side"], world["reader"], from_domain),
        (world["leaf"], world["reader"], f"{BASE}{group_grant[3:]}")}  # below top, by group
    # reader on leaf is listed once, as the grant that gives it (a grant before an
    # implication), possibly also as member's implication.
    assert expected <= by_grant <= expected | {(world["leaf"], world["reader"], from_domain)}
    assert all(entry["scope"] == {"project": entry["scope"]["project"], **inherited}
               and entry["user"] == {"id": world["alice"]} for entry in listed)
    through_group = [entry for entry in listed if "membership" in entry["links"]]
    assert [entry["links"]["membership"] for entry in through_group] == [
        f"{BASE}/groups/{world['heirs']}/users/{world['alice']}"]
    implied = [entry for entry in listed if "prior_role" in entry["links"]]
    assert {entry["links"]["prior_role"] for entry in implied} == {
        f"{BASE}/prior_role/{world['reader']}/implies/{world['member']}"}
    # The inherited grants themselves are not listed, nor anything on the domain.
    assert not any("domain" in entry["scope"] for entry in listed)


def test_effective_role_assignments_of_one_project_count_what_is_inherited_from_above(
        deployment, world):
    """Tempest's test_inherit_assign_list_revoke_user_roles_on_domain/_on_project_tree."""
    app = deployment.admin
    for source in ("acme", "top"):
        url = inherited_url(world, source, "users", "member")
        app.put(url, headers=ADMIN, status=204)
        on = {"top": "leaf", "acme": "top"}[source]
        query = f"effective&user.id={world['alice']}&scope.project.id={world[on]}"
        listed = assignments(app, query)
        assert [(entry["role"]["id"], entry["scope"]["project"]["id"]) for entry in listed] \
            == [(world["member"], world[on]), (world["reader"], world[on])]
        assert listed[0]["links"]["assignment"] == f"{BASE}{url[3:]}"
        if source == "top":  # not on the project holding the grant
            assert assignments(app, f"effective&scope.project.id={world['top']}&"
                                    f"user.id={world['alice']}") == []
        app.delete(url, headers=ADMIN, status=204)
        assert assignments(app, query) == []


def test_effective_filters_that_can_match_nothing_are_refused_as_keystone(deployment, world):
    app = deployment.admin
    response = app.get(f"/v3/role_assignments?effective&scope.domain.id={world['acme']}"
                       "&scope.OS-INHERIT:inherited_to=projects", headers=ADMIN, status=400)
    assert assert_keystone_error(response, 400)["message"] == (
        "Combining effective, domain and inherited filters will always result in an empty "
        "list.")
    app.get(f"/v3/role_assignments?effective&scope.project.id={'0' * 32}", headers=ADMIN,
            status=404)


def test_effective_domain_and_inherited_only_lists(deployment, world):
    app = deployment.admin
    app.put(inherited_url(world, "acme", "users", "member"), headers=ADMIN, status=204)
    app.put(f"/v3/domains/{world['acme']}/users/{world['alice']}/roles/{world['reader']}",
            headers=ADMIN, status=204)
    app.put(f"/v3/projects/{world['side']}/users/{world['alice']}/roles/{world['reader']}",
            headers=ADMIN, status=204)
    base = f"effective&user.id={world['alice']}"

    on_domain = assignments(app, f"{base}&scope.domain.id={world['acme']}")
    only_inherited = assignments(app, f"{base}&scope.OS-INHERIT:inherited_to=projects")

    assert [(entry["role"]["id"], entry["scope"]) for entry in on_domain] == [
        (world["reader"], {"domain": {"id": world["acme"]}})]
    assert {entry["scope"]["project"]["id"] for entry in only_inherited} == {
        world["top"], world["leaf"], world["side"]}
    assert all("OS-INHERIT:inherited_to" in entry["scope"] for entry in only_inherited)


def test_include_subtree_lists_the_grants_on_a_project_and_below(deployment, world):
    app = deployment.admin
    app.put(f"/v3/projects/{world['leaf']}/users/{world['alice']}/roles/{world['member']}",
            headers=ADMIN, status=204)
    app.put(inherited_url(world, "top", "users", "reader"), headers=ADMIN, status=204)
    app.put(f"/v3/projects/{world['side']}/users/{world['alice']}/roles/{world['member']}",
            headers=ADMIN, status=204)

    direct = assignments(app, f"include_subtree&scope.project.id={world['top']}")
    effective = assignments(app, f"include_subtree&effective&scope.project.id={world['top']}")

    assert sorted((entry["role"]["id"], next(iter(entry["scope"].values()))["id"])
                  for entry in direct) == sorted([(world["member"], world["leaf"]),
                                                  (world["reader"], world["top"])])
    # Effective: the inherited reader lands on leaf (below top), not on top itself.
    assert sorted((entry["role"]["id"], entry["scope"]["project"]["id"])
                  for entry in effective) == sorted([(world["member"], world["leaf"]),
                                                     (world["reader"], world["leaf"])])
    response = app.get("/v3/role_assignments?include_subtree", headers=ADMIN, status=400)
    assert assert_keystone_error(response, 400)["message"] == (
        "scope.project.id must be specified if include_subtree is also specified")
    app.get(f"/v3/role_assignments?include_subtree&scope.project.id={'0' * 32}",
            headers=ADMIN, status=404)
