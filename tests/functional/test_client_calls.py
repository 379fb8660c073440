"""Calls the OpenStack clients make that keystone_lite first answered wrongly or not at all.

Found by the compat suite (``tox -e compat``: keystoneclient, openstackclient); kept here so the
default run guards them without the clients installed. See docs/compatibility.md.
"""
from builders import ADMIN_PASSWORD, add_user, admin_headers, cert_environ, issue, password_auth

ADMIN = admin_headers()
LINKS_NONE = {"previous": None, "next": None}


def create(app, plural: str, key: str, **fields) -> dict:
    return app.post_json(f"/v3/{plural}", {key: fields}, headers=ADMIN, status=201).json[key]


def user_id(app, name: str) -> str:
    (user,) = app.get("/v3/users", {"name": name}, headers=ADMIN).json["users"]
    return user["id"]


def member_role_id(app) -> str:
    (role,) = app.get("/v3/roles", {"name": "member"}, headers=ADMIN).json["roles"]
    return role["id"]


def grant(app, kind: str, target_id: str, user: str, role: str) -> None:
    app.put(f"/v3/{kind}/{target_id}/users/{user}/roles/{role}", headers=ADMIN, status=204)


# -- GET /v3/users/{id}/projects (openstack project list --user; projects.list(user=)) -------------

def test_projects_of_a_user_lists_disabled_ones_too_and_filters(deployment):
    app = deployment.admin
    user = create(app, "users", "user", name="bob")
    first, second = (create(app, "projects", "project", name=name) for name in ("p1", "p2"))
    for project in (first, second):
        grant(app, "projects", project["id"], user["id"], member_role_id(app))
    app.patch_json(f"/v3/projects/{second['id']}", {"project": {"enabled": False}},
                   headers=ADMIN)

    response = app.get(f"/v3/users/{user['id']}/projects", headers=ADMIN)

    assert [project["name"] for project in response.json["projects"]] == ["p1", "p2"]
    assert response.json["links"] == {
        "self": f"http://localhost/v3/users/{user['id']}/projects", **LINKS_NONE}
    enabled = app.get(f"/v3/users/{user['id']}/projects?enabled=true", headers=ADMIN)
    assert [project["name"] for project in enabled.json["projects"]] == ["p1"]
    named = app.get(f"/v3/users/{user['id']}/projects?name=p2", headers=ADMIN)
    assert [project["name"] for project in named.json["projects"]] == ["p2"]


def test_projects_of_a_user_are_visible_to_that_user_only(deployment):
    add_user(deployment, "alice", "demo", "member")
    add_user(deployment, "carol", "demo", "member")
    token = issue(deployment.main, "alice", "demo")
    own = user_id(deployment.admin, "alice")

    response = deployment.admin.get(f"/v3/users/{own}/projects",
                                    headers={"X-Auth-Token": token})
    other = deployment.admin.get(f"/v3/users/{user_id(deployment.admin, 'carol')}/projects",
                                 headers={"X-Auth-Token": token}, status=403)

    assert [project["name"] for project in response.json["projects"]] == ["demo"]
    assert other.json["error"]["code"] == 403
    deployment.admin.get(f"/v3/users/{own}/projects", status=401)
    deployment.admin.get("/v3/users/nobody/projects", headers=ADMIN, status=404)


# -- list filters the clients send -----------------------------------------------------------------

def test_users_filtered_by_default_project_id(deployment):
    app = deployment.admin
    project = create(app, "projects", "project", name="home")
    homed = create(app, "users", "user", name="bob", default_project_id=project["id"])
    create(app, "users", "user", name="carol")

    response = app.get("/v3/users", {"default_project_id": project["id"]}, headers=ADMIN)

    assert [user["id"] for user in response.json["users"]] == [homed["id"]]


def test_the_inherited_filter_lists_inherited_grants_only(deployment):
    """``openstack role assignment list --inherited``, keystoneclient
    ``role_assignments.list(os_inherit_extension_inherited_to="projects")``."""
    app = deployment.admin
    add_user(deployment, "alice", "demo", "member")
    reader = app.get("/v3/roles", {"name": "reader"}, headers=ADMIN).json["roles"][0]["id"]
    app.put(f"/v3/OS-INHERIT/domains/default/users/{user_id(app, 'alice')}/roles/{reader}/"
            "inherited_to_projects", headers=ADMIN, status=204)

    response = deployment.admin.get("/v3/role_assignments?scope.OS-INHERIT:inherited_to="
                                    "projects", headers=ADMIN)

    assert [(entry["role"]["id"], entry["scope"]) for entry in
            response.json["role_assignments"]] == [
        (reader, {"domain": {"id": "default"}, "OS-INHERIT:inherited_to": "projects"})]


# -- GET /v3/auth/domains and /v3/auth/system (keystoneclient auth.domains(), auth.systems()) ---

def test_auth_domains_and_system_list_where_the_caller_has_roles(deployment):
    add_user(deployment, "alice", "demo", "member")
    reader = deployment.admin.get("/v3/roles", {"name": "reader"}, headers=ADMIN).json["roles"]
    grant(deployment.admin, "domains", "default", user_id(deployment.admin, "alice"),
          reader[0]["id"])
    token = {"X-Auth-Token": issue(deployment.main, "alice")}

    domains = deployment.main.get("/v3/auth/domains", headers=token).json
    system = deployment.main.get("/v3/auth/system", headers=token).json

    assert [domain["id"] for domain in domains["domains"]] == ["default"]
    assert domains["links"] == {"self": "http://localhost/v3/auth/domains", **LINKS_NONE}
    assert system == {"system": [],
                      "links": {"self": "http://localhost/v3/auth/system", **LINKS_NONE}}


def test_auth_system_lists_all_for_the_bootstrap_admin(deployment):
    token = deployment.main.post_json("/v3/auth/tokens", password_auth(
        "admin", ADMIN_PASSWORD), status=201).headers["X-Subject-Token"]

    response = deployment.main.get("/v3/auth/system", headers={"X-Auth-Token": token})

    assert response.json["system"] == [{"all": True}]
    assert deployment.main.get("/v3/auth/domains", headers={"X-Auth-Token": token}).json[
        "domains"] == []


def test_auth_domains_and_system_need_a_valid_token(deployment):
    for path in ("/v3/auth/domains", "/v3/auth/system"):
        assert deployment.main.get(path, status=401).json["error"]["code"] == 401
        deployment.main.get(path, headers={"X-Auth-Token": "garbage"},
                            extra_environ=cert_environ("alice"), status=401)
