"""The admin identity API (``/v3`` of the admin app) through the shipped paste pipeline.

Covers the CRUD shapes of users, projects, roles, domains, grants, role assignments, services,
endpoints and regions; who may call them; and how changes reach tokens already issued.
"""
import pytest

from builders import (add_user, admin_headers, admin_token_of, cert_environ, issue,
                      password_auth)

ADMIN = admin_headers()
LINKS = {"previous": None, "next": None}


# -- builders local to these tests ---------------------------------------------------------------

def create(app, plural: str, key: str, **fields) -> dict:
    """POST ``{key: fields}`` to ``/v3/{plural}`` as admin; the created entity."""
    return app.post_json(f"/v3/{plural}", {key: fields}, headers=ADMIN, status=201).json[key]


def named(app, plural: str, name: str) -> dict:
    """The one entity of ``/v3/{plural}`` called ``name``."""
    (entity,) = app.get(f"/v3/{plural}", {"name": name}, headers=ADMIN).json[plural]
    return entity


def validate(deployment, token: str, status: int = 200):
    return deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token), status=status)


def member_token(deployment, name: str = "alice", project: str = "demo") -> str:
    """A project-scoped token of a new certificate user holding ``member`` on ``project``."""
    add_user(deployment, name, project=project, role="member")
    return issue(deployment.main, name, project)


def grant_url(project: dict, user: dict, role: dict) -> str:
    return f"/v3/projects/{project['id']}/users/{user['id']}/roles/{role['id']}"


def role_names(response) -> list[str]:
    return [role["name"] for role in response.json["token"]["roles"]]


# -- who may call ----------------------------------------------------------------------------------

ADMIN_CALLS = [("GET", "/v3/users"), ("POST", "/v3/users"), ("GET", "/v3/projects"),
               ("DELETE", "/v3/roles/x"), ("GET", "/v3/role_assignments"),
               ("PUT", "/v3/projects/p/users/u/roles/r"), ("GET", "/v3/domains"),
               ("GET", "/v3/services"), ("PATCH", "/v3/endpoints/e"), ("GET", "/v3/regions")]


@pytest.mark.parametrize("method, path", ADMIN_CALLS)
def test_admin_call_without_token_returns_401_with_authenticate_header(deployment, method,
                                                                       path):
    response = deployment.admin.request(path, method=method, status=401)
    assert response.json["error"]["code"] == 401
    assert response.headers["WWW-Authenticate"] == 'Keystone uri="http://localhost/v3"'


def test_admin_call_with_invalid_token_returns_401(deployment):
    deployment.admin.get("/v3/users", headers={"X-Auth-Token": "not-a-token"}, status=401)


# Keystone lets any token read regions (identity:list_regions is ""): not an admin call.
@pytest.mark.parametrize("method, path", [call for call in ADMIN_CALLS
                                          if call != ("GET", "/v3/regions")])
def test_admin_call_with_member_token_returns_403(deployment, method, path):
    token = member_token(deployment)
    response = deployment.admin.request(path, method=method, headers={"X-Auth-Token": token},
                                        status=403)
    assert response.json["error"]["title"] == "Forbidden"


def test_admin_call_with_admin_role_token_succeeds(deployment):
    token = admin_token_of(deployment.main)
    users = deployment.admin.get("/v3/users", headers={"X-Auth-Token": token}).json["users"]
    assert [user["name"] for user in users] == ["admin"]


def test_identity_api_is_not_served_by_main_app(deployment):
    deployment.main.get("/v3/users", headers=ADMIN, status=404)


def test_unsupported_method_returns_405_with_allow(deployment):
    response = deployment.admin.put_json("/v3/users", {}, headers=ADMIN, status=405)
    assert response.headers["Allow"] == "GET, HEAD, POST"


# -- users -----------------------------------------------------------------------------------------

def test_create_user_returns_201_with_keystone_shape_and_no_password(deployment):
    user = create(deployment.admin, "users", "user", name="bob", password="s3cret",
                  description="Bob")
    assert set(user) == {"id", "name", "domain_id", "enabled", "description",
                         "password_expires_at", "options", "links"}
    assert (user["name"], user["domain_id"], user["enabled"]) == ("bob", "default", True)
    assert user["password_expires_at"] is None and user["options"] == {}
    assert user["links"] == {"self": f"http://localhost/v3/users/{user['id']}"}
    shown = deployment.admin.get(f"/v3/users/{user['id']}", headers=ADMIN)
    assert shown.json == {"user": user}
    assert "s3cret" not in shown.text and "argon2" not in shown.text


def test_created_user_with_password_can_authenticate(deployment):
    create(deployment.admin, "users", "user", name="bob", password="s3cret")
    deployment.main.post_json("/v3/auth/tokens", password_auth("bob", "s3cret"), status=201)
    deployment.main.post_json("/v3/auth/tokens", password_auth("bob", "wrong"), status=401)


def test_created_user_with_default_project_shows_it(deployment):
    project = create(deployment.admin, "projects", "project", name="demo")
    user = create(deployment.admin, "users", "user", name="bob",
                  default_project_id=project["id"])
    assert user["default_project_id"] == project["id"]


def test_links_include_the_mount_point(deployment):
    response = deployment.admin.get("/v3/users", headers=ADMIN,
                                    extra_environ={"SCRIPT_NAME": "/admin"})
    assert response.json["links"]["self"] == "http://localhost/admin/v3/users"
    assert response.json["users"][0]["links"]["self"].startswith(
        "http://localhost/admin/v3/users/")


def test_list_users_filters_by_name_domain_and_enabled(deployment):
    app = deployment.admin
    create(app, "users", "user", name="bob")
    create(app, "users", "user", name="carol", enabled=False)
    other = create(app, "domains", "domain", name="other")
    create(app, "users", "user", name="bob", domain_id=other["id"])

    def names(**params):
        response = app.get("/v3/users", params, headers=ADMIN)
        return sorted((user["name"], user["domain_id"]) for user in response.json["users"])

    assert names(name="bob") == sorted([("bob", "default"), ("bob", other["id"])])
    assert names(domain_id=other["id"]) == [("bob", other["id"])]
    assert names(enabled="false") == [("carol", "default")]
    assert names(enabled="true", domain_id="default") == [("admin", "default"),
                                                          ("bob", "default")]
    assert names(name="nobody") == []


def test_list_users_has_collection_links(deployment):
    response = deployment.admin.get("/v3/users?name=admin", headers=ADMIN)
    assert response.json["links"] == {"self": "http://localhost/v3/users?name=admin", **LINKS}


def test_list_users_with_bad_enabled_filter_returns_400(deployment):
    response = deployment.admin.get("/v3/users?enabled=maybe", headers=ADMIN, status=400)
    assert "enabled" in response.json["error"]["message"]


def test_list_users_with_undecodable_query_returns_400(deployment):
    deployment.admin.get("/v3/users?name=%ff", headers=ADMIN, status=400)


def test_update_user_changes_name_description_and_default_project(deployment):
    app = deployment.admin
    user = create(app, "users", "user", name="bob")
    project = create(app, "projects", "project", name="demo")
    updated = app.patch_json(f"/v3/users/{user['id']}", {"user": {
        "name": "robert", "description": "Bob", "default_project_id": project["id"],
        "unknown_key": "ignored"}}, headers=ADMIN).json["user"]
    assert (updated["name"], updated["description"]) == ("robert", "Bob")
    assert updated["default_project_id"] == project["id"]
    cleared = app.patch_json(f"/v3/users/{user['id']}", {"user": {
        "default_project_id": None, "description": ""}}, headers=ADMIN).json["user"]
    assert "default_project_id" not in cleared and cleared["description"] == ""
    assert app.get(f"/v3/users/{user['id']}", headers=ADMIN).json["user"] == cleared


def test_create_user_with_duplicate_name_in_domain_returns_409(deployment):
    create(deployment.admin, "users", "user", name="bob")
    response = deployment.admin.post_json("/v3/users", {"user": {"name": "bob"}},
                                          headers=ADMIN, status=409)
    assert "bob" in response.json["error"]["message"]


def test_rename_user_onto_existing_name_returns_409(deployment):
    bob = create(deployment.admin, "users", "user", name="bob")
    deployment.admin.patch_json(f"/v3/users/{bob['id']}", {"user": {"name": "admin"}},
                                headers=ADMIN, status=409)
    assert named(deployment.admin, "users", "bob")["id"] == bob["id"]


@pytest.mark.parametrize("body, mentions", [
    ({}, "user"),
    ({"user": "bob"}, "user"),
    ({"user": {}}, "name"),
    ({"user": {"name": ""}}, "name"),
    ({"user": {"name": 7}}, "attribute name"),
    ({"user": {"name": "x" * 256}}, "attribute name"),
    ({"user": {"name": "a\u0000b"}}, "user.name"),
    ({"user": {"name": "bob", "enabled": "yes"}}, "attribute enabled"),
    ({"user": {"name": "bob", "password": 5}}, "attribute password"),
    ({"user": {"name": "bob", "password": ""}}, "attribute password"),
    ({"user": {"name": "bob", "description": 5}}, "attribute description"),
    ({"user": {"name": "bob", "default_project_id": "nothing"}}, "project"),
])
def test_create_user_with_bad_body_returns_400_naming_the_field(deployment, body, mentions):
    response = deployment.admin.post_json("/v3/users", body, headers=ADMIN, status=400)
    assert mentions in response.json["error"]["message"]
    assert deployment.admin.get("/v3/users?name=bob", headers=ADMIN).json["users"] == []


def test_create_user_with_lone_surrogate_in_name_returns_400(deployment):
    deployment.admin.post("/v3/users", b'{"user": {"name": "a\\ud800"}}', headers=ADMIN,
                          content_type="application/json", status=400)


def test_create_user_with_invalid_json_returns_400(deployment):
    deployment.admin.post("/v3/users", "{not json", headers=ADMIN,
                          content_type="application/json", status=400)


def test_update_user_with_bad_body_returns_400(deployment):
    user = create(deployment.admin, "users", "user", name="bob")
    for body in ({"user": {"enabled": 1}}, {"user": {"name": ""}}, {"user": []}, {}):
        deployment.admin.patch_json(f"/v3/users/{user['id']}", body, headers=ADMIN,
                                    status=400)
    assert deployment.admin.get(f"/v3/users/{user['id']}", headers=ADMIN).json["user"] == user


def test_update_user_domain_returns_400(deployment):
    user = create(deployment.admin, "users", "user", name="bob")
    other = create(deployment.admin, "domains", "domain", name="other")
    response = deployment.admin.patch_json(f"/v3/users/{user['id']}", {"user": {
        "domain_id": other["id"]}}, headers=ADMIN, status=400)
    assert "domain_id" in response.json["error"]["message"]


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_unknown_user_returns_404_naming_it(deployment, method):
    response = deployment.admin.request("/v3/users/nobody", method=method, headers=ADMIN,
                                        body=b'{"user": {}}', content_type="application/json",
                                        status=404)
    assert response.json["error"]["message"] == "Could not find user: nobody."


def test_head_user_returns_200_without_body(deployment):
    user = named(deployment.admin, "users", "admin")
    response = deployment.admin.head(f"/v3/users/{user['id']}", headers=ADMIN, status=200)
    assert response.body == b""


def test_delete_user_returns_204_and_then_404(deployment):
    user = create(deployment.admin, "users", "user", name="bob")
    deployment.admin.delete(f"/v3/users/{user['id']}", headers=ADMIN, status=204)
    deployment.admin.get(f"/v3/users/{user['id']}", headers=ADMIN, status=404)
    deployment.admin.delete(f"/v3/users/{user['id']}", headers=ADMIN, status=404)


# -- users: effects on tokens ------------------------------------------------------------------

def disable(deployment, plural, key, entity_id, enabled=False):
    deployment.admin.patch_json(f"/v3/{plural}/{entity_id}", {key: {"enabled": enabled}},
                                headers=ADMIN)


def test_disable_user_revokes_existing_tokens(deployment):
    token = member_token(deployment)
    validate(deployment, token)
    alice = named(deployment.admin, "users", "alice")

    disable(deployment, "users", "user", alice["id"])
    validate(deployment, token, status=404)
    deployment.main.post_json("/v3/auth/tokens", {"auth": {"identity": {"methods": []}}},
                              extra_environ=cert_environ("alice"), status=401)

    disable(deployment, "users", "user", alice["id"], enabled=True)
    validate(deployment, token, status=404)
    validate(deployment, issue(deployment.main, "alice", "demo"))


def test_password_change_revokes_existing_tokens(deployment):
    add_user(deployment, "bob", project="demo", role="member", password="old-password")
    issued = deployment.main.post_json("/v3/auth/tokens",
                                       password_auth("bob", "old-password", "demo"), status=201)
    old_token = issued.headers["X-Subject-Token"]
    bob = named(deployment.admin, "users", "bob")

    deployment.admin.patch_json(f"/v3/users/{bob['id']}", {"user": {
        "password": "new-password"}}, headers=ADMIN)

    validate(deployment, old_token, status=404)
    deployment.main.post_json("/v3/auth/tokens", password_auth("bob", "old-password"),
                              status=401)
    deployment.main.post_json("/v3/auth/tokens", password_auth("bob", "new-password"),
                              status=201)


def test_harmless_user_update_keeps_tokens_valid(deployment):
    token = member_token(deployment)
    alice = named(deployment.admin, "users", "alice")
    deployment.admin.patch_json(f"/v3/users/{alice['id']}", {"user": {
        "description": "still alice", "enabled": True}}, headers=ADMIN)
    validate(deployment, token)


def test_delete_user_revokes_existing_tokens(deployment):
    token = member_token(deployment)
    alice = named(deployment.admin, "users", "alice")
    deployment.admin.delete(f"/v3/users/{alice['id']}", headers=ADMIN, status=204)
    validate(deployment, token, status=404)
    assert deployment.admin.get(f"/v3/role_assignments?user.id={alice['id']}",
                                headers=ADMIN).json["role_assignments"] == []


# -- projects --------------------------------------------------------------------------------------

def test_create_project_returns_201_with_keystone_shape(deployment):
    project = create(deployment.admin, "projects", "project", name="demo",
                     description="Demo")
    assert set(project) == {"id", "name", "domain_id", "description", "enabled", "parent_id",
                            "is_domain", "tags", "options", "links"}
    assert (project["name"], project["domain_id"], project["enabled"]) == ("demo", "default",
                                                                          True)
    assert project["links"]["self"] == f"http://localhost/v3/projects/{project['id']}"
    shown = deployment.admin.get(f"/v3/projects/{project['id']}", headers=ADMIN).json
    assert shown == {"project": project}


def test_list_projects_filters_by_name_and_domain(deployment):
    app = deployment.admin
    create(app, "projects", "project", name="demo")
    other = create(app, "domains", "domain", name="other")
    elsewhere = create(app, "projects", "project", name="demo", domain_id=other["id"])

    def names(**params):
        return sorted(project["name"] for project in
                      app.get("/v3/projects", params, headers=ADMIN).json["projects"])

    assert names() == ["admin", "demo", "demo"]
    assert names(name="demo") == ["demo", "demo"]
    assert names(domain_id=other["id"]) == ["demo"]
    assert app.get("/v3/projects", {"domain_id": other["id"]},
                   headers=ADMIN).json["projects"] == [elsewhere]


def test_update_project_changes_name_and_description(deployment):
    project = create(deployment.admin, "projects", "project", name="demo")
    updated = deployment.admin.patch_json(f"/v3/projects/{project['id']}", {"project": {
        "name": "demo2", "description": "renamed"}}, headers=ADMIN).json["project"]
    assert (updated["name"], updated["description"]) == ("demo2", "renamed")
    assert named(deployment.admin, "projects", "demo2")["id"] == project["id"]


def test_create_project_with_duplicate_name_in_domain_returns_409(deployment):
    create(deployment.admin, "projects", "project", name="demo")
    deployment.admin.post_json("/v3/projects", {"project": {"name": "demo"}}, headers=ADMIN,
                               status=409)
    project = create(deployment.admin, "projects", "project", name="demo2")
    deployment.admin.patch_json(f"/v3/projects/{project['id']}", {"project": {
        "name": "demo"}}, headers=ADMIN, status=409)


@pytest.mark.parametrize("body, mentions", [
    ({"project": {}}, "name"),
    ({"project": {"name": ["demo"]}}, "attribute name"),
    ({"project": {"name": "demo", "enabled": "false"}}, "attribute enabled"),
    ({"project": {"name": "demo", "domain_id": "nowhere"}}, "domain"),
    ({"project": {"name": "demo", "is_domain": True, "parent_id": "elsewhere"}}, "parent"),
    ({"project": {"name": "demo", "is_domain": "yes"}}, "attribute is_domain"),
])
def test_create_project_with_bad_body_returns_400(deployment, body, mentions):
    response = deployment.admin.post_json("/v3/projects", body, headers=ADMIN, status=400)
    assert mentions in response.json["error"]["message"]


def test_create_project_under_an_unknown_parent_returns_404_naming_it(deployment):
    """As Keystone, whose create looks the parent up (ProjectNotFound)."""
    response = deployment.admin.post_json("/v3/projects", {"project": {
        "name": "demo", "parent_id": "elsewhere"}}, headers=ADMIN, status=404)
    assert response.json["error"]["message"] == "Could not find project: elsewhere."


def test_unknown_project_returns_404_naming_it(deployment):
    response = deployment.admin.get("/v3/projects/nothing", headers=ADMIN, status=404)
    assert response.json["error"]["message"] == "Could not find project: nothing."


def test_delete_project_returns_204_and_then_404(deployment):
    project = create(deployment.admin, "projects", "project", name="demo")
    deployment.admin.delete(f"/v3/projects/{project['id']}", headers=ADMIN, status=204)
    deployment.admin.get(f"/v3/projects/{project['id']}", headers=ADMIN, status=404)


def test_disable_project_revokes_scoped_tokens(deployment):
    token = member_token(deployment)
    project = named(deployment.admin, "projects", "demo")
    disable(deployment, "projects", "project", project["id"])
    validate(deployment, token, status=404)
    deployment.main.post_json("/v3/auth/tokens", {"auth": {"identity": {"methods": []}, "scope": {
        "project": {"id": project["id"]}}}}, extra_environ=cert_environ("alice"), status=401)

    disable(deployment, "projects", "project", project["id"], enabled=True)
    validate(deployment, token, status=404)
    validate(deployment, issue(deployment.main, "alice", "demo"))


def test_disable_project_keeps_unscoped_tokens(deployment):
    member_token(deployment)
    alice = named(deployment.admin, "users", "alice")
    deployment.admin.patch_json(f"/v3/users/{alice['id']}", {"user": {
        "default_project_id": None}}, headers=ADMIN)
    unscoped = issue(deployment.main, "alice")
    disable(deployment, "projects", "project", named(deployment.admin, "projects", "demo")["id"])
    assert "project" not in validate(deployment, unscoped).json["token"]


def test_delete_project_revokes_scoped_tokens(deployment):
    token = member_token(deployment)
    project = named(deployment.admin, "projects", "demo")
    deployment.admin.delete(f"/v3/projects/{project['id']}", headers=ADMIN, status=204)
    validate(deployment, token, status=404)


# -- roles -----------------------------------------------------------------------------------------

def test_create_role_returns_201_with_keystone_shape(deployment):
    role = create(deployment.admin, "roles", "role", name="auditor", description="Reads")
    assert role == {"id": role["id"], "name": "auditor", "domain_id": None,
                    "description": "Reads", "options": {},
                    "links": {"self": f"http://localhost/v3/roles/{role['id']}"}}
    assert deployment.admin.get(f"/v3/roles/{role['id']}", headers=ADMIN).json == {
        "role": role}


def test_list_roles_filters_by_name(deployment):
    names = [role["name"] for role in
             deployment.admin.get("/v3/roles", headers=ADMIN).json["roles"]]
    assert names == ["admin", "manager", "member", "reader", "service"]
    assert named(deployment.admin, "roles", "member")["name"] == "member"


def test_duplicate_role_name_returns_409(deployment):
    deployment.admin.post_json("/v3/roles", {"role": {"name": "member"}}, headers=ADMIN,
                               status=409)
    role = create(deployment.admin, "roles", "role", name="auditor")
    deployment.admin.patch_json(f"/v3/roles/{role['id']}", {"role": {"name": "reader"}},
                                headers=ADMIN, status=409)


def test_update_role_changes_name_and_description(deployment):
    role = create(deployment.admin, "roles", "role", name="auditor")
    updated = deployment.admin.patch_json(f"/v3/roles/{role['id']}", {"role": {
        "name": "observer", "description": "Looks"}}, headers=ADMIN).json["role"]
    assert (updated["name"], updated["description"]) == ("observer", "Looks")


def test_create_role_without_name_returns_400(deployment):
    response = deployment.admin.post_json("/v3/roles", {"role": {"description": "x"}},
                                          headers=ADMIN, status=400)
    assert "name" in response.json["error"]["message"]


def test_unknown_role_returns_404_naming_it(deployment):
    response = deployment.admin.delete("/v3/roles/nothing", headers=ADMIN, status=404)
    assert response.json["error"]["message"] == "Could not find role: nothing."


def test_delete_role_removes_it_from_existing_tokens(deployment):
    token = member_token(deployment)
    app = deployment.admin
    extra = create(app, "roles", "role", name="extra")
    alice, demo = named(app, "users", "alice"), named(app, "projects", "demo")
    app.put(grant_url(demo, alice, extra), headers=ADMIN, status=204)
    assert role_names(validate(deployment, token)) == ["extra", "member", "reader"]

    app.delete(f"/v3/roles/{extra['id']}", headers=ADMIN, status=204)
    assert role_names(validate(deployment, token)) == ["member", "reader"]
    app.get(f"/v3/roles/{extra['id']}", headers=ADMIN, status=404)


# -- grants ----------------------------------------------------------------------------------------

def test_project_grant_put_check_list_and_delete(deployment):
    app = deployment.admin
    user = create(app, "users", "user", name="bob")
    project = create(app, "projects", "project", name="demo")
    role = named(app, "roles", "reader")
    url = grant_url(project, user, role)

    app.head(url, headers=ADMIN, status=404)
    app.put(url, headers=ADMIN, status=204)
    app.put(url, headers=ADMIN, status=204)
    app.head(url, headers=ADMIN, status=204)
    app.get(url, headers=ADMIN, status=204)
    listed = app.get(f"/v3/projects/{project['id']}/users/{user['id']}/roles", headers=ADMIN)
    assert [entry["id"] for entry in listed.json["roles"]] == [role["id"]]
    assert listed.json["links"]["self"] == (
        f"http://localhost/v3/projects/{project['id']}/users/{user['id']}/roles")

    app.delete(url, headers=ADMIN, status=204)
    app.delete(url, headers=ADMIN, status=404)
    app.head(url, headers=ADMIN, status=404)


def test_project_grant_lets_user_get_scoped_token(deployment):
    add_user(deployment, "bob")
    app = deployment.admin
    project = create(app, "projects", "project", name="demo")
    deployment.main.post_json("/v3/auth/tokens", {"auth": {"identity": {"methods": []}, "scope": {
        "project": {"id": project["id"]}}}}, extra_environ=cert_environ("bob"), status=401)
    app.put(grant_url(project, named(app, "users", "bob"), named(app, "roles", "member")),
            headers=ADMIN, status=204)
    assert role_names(validate(deployment, issue(deployment.main, "bob", "demo"))) == [
        "member", "reader"]


@pytest.mark.parametrize("missing", ["project", "user", "role"])
@pytest.mark.parametrize("method", ["PUT", "HEAD", "DELETE"])
def test_grant_with_unknown_part_returns_404_naming_it(deployment, missing, method):
    app = deployment.admin
    parts = {"project": named(app, "projects", "admin"), "user": named(app, "users", "admin"),
             "role": named(app, "roles", "reader")}
    parts[missing] = {"id": "ghost"}
    response = app.request(grant_url(parts["project"], parts["user"], parts["role"]),
                           method=method, headers=ADMIN, status=404)
    if method != "HEAD":
        assert response.json["error"]["message"] == f"Could not find {missing}: ghost."


def test_domain_grant_lets_user_get_domain_scoped_token(deployment):
    add_user(deployment, "bob")
    app = deployment.admin
    bob, member = named(app, "users", "bob"), named(app, "roles", "member")
    url = f"/v3/domains/default/users/{bob['id']}/roles/{member['id']}"
    app.put(url, headers=ADMIN, status=204)
    app.head(url, headers=ADMIN, status=204)
    listed = app.get(f"/v3/domains/default/users/{bob['id']}/roles", headers=ADMIN)
    assert [role["name"] for role in listed.json["roles"]] == ["member"]

    scoped = deployment.main.post_json("/v3/auth/tokens", {"auth": {
        "identity": {"methods": []}, "scope": {"domain": {"id": "default"}}}},
        extra_environ=cert_environ("bob"), status=201)
    assert scoped.json["token"]["domain"]["id"] == "default"
    token = scoped.headers["X-Subject-Token"]

    app.delete(url, headers=ADMIN, status=204)
    validate(deployment, token, status=404)


def test_system_grant_lets_user_get_system_scoped_token(deployment):
    add_user(deployment, "bob")
    app = deployment.admin
    bob, reader = named(app, "users", "bob"), named(app, "roles", "reader")
    system_scope = {"auth": {"identity": {"methods": []}, "scope": {"system": {"all": True}}}}
    deployment.main.post_json("/v3/auth/tokens", system_scope,
                              extra_environ=cert_environ("bob"), status=401)
    url = f"/v3/system/users/{bob['id']}/roles/{reader['id']}"
    app.put(url, headers=ADMIN, status=204)
    issued = deployment.main.post_json("/v3/auth/tokens", system_scope,
                                       extra_environ=cert_environ("bob"), status=201)
    assert issued.json["token"]["system"] == {"all": True}
    (entry,) = app.get("/v3/role_assignments", {"user.id": bob["id"], "scope.system": "all"},
                       headers=ADMIN).json["role_assignments"]
    assert entry["links"]["assignment"] == f"http://localhost{url}"
    app.delete(url, headers=ADMIN, status=204)
    validate(deployment, issued.headers["X-Subject-Token"], status=404)


def test_grant_on_unknown_domain_returns_404(deployment):
    app = deployment.admin
    user, role = named(app, "users", "admin"), named(app, "roles", "reader")
    response = app.put(f"/v3/domains/ghost/users/{user['id']}/roles/{role['id']}",
                       headers=ADMIN, status=404)
    assert response.json["error"]["message"] == "Could not find domain: ghost."


def test_removing_last_role_on_project_revokes_scoped_token(deployment):
    token = member_token(deployment)
    app = deployment.admin
    alice, demo = named(app, "users", "alice"), named(app, "projects", "demo")
    app.delete(grant_url(demo, alice, named(app, "roles", "member")), headers=ADMIN,
               status=204)
    validate(deployment, token, status=404)


def test_removing_one_of_two_roles_keeps_token_with_remaining_role(deployment):
    token = member_token(deployment)
    app = deployment.admin
    alice, demo = named(app, "users", "alice"), named(app, "projects", "demo")
    app.put(grant_url(demo, alice, named(app, "roles", "reader")), headers=ADMIN, status=204)
    assert role_names(validate(deployment, token)) == ["member", "reader"]

    app.delete(grant_url(demo, alice, named(app, "roles", "member")), headers=ADMIN,
               status=204)
    assert role_names(validate(deployment, token)) == ["reader"]


# -- role assignments ------------------------------------------------------------------------------

def test_role_assignments_filter_by_user_project_and_role(deployment):
    member_token(deployment)
    app = deployment.admin
    alice, demo = named(app, "users", "alice"), named(app, "projects", "demo")
    member, admin_role = named(app, "roles", "member"), named(app, "roles", "admin")

    def assignments(**params):
        return app.get("/v3/role_assignments", params, headers=ADMIN).json["role_assignments"]

    (entry,) = assignments(**{"user.id": alice["id"]})
    assert entry == {
        "role": {"id": member["id"]}, "user": {"id": alice["id"]},
        "scope": {"project": {"id": demo["id"]}},
        "links": {"assignment": f"http://localhost{grant_url(demo, alice, member)}"}}
    assert assignments(**{"scope.project.id": demo["id"]}) == [entry]
    assert assignments(**{"role.id": member["id"]}) == [entry]
    assert assignments(**{"user.id": alice["id"], "role.id": admin_role["id"]}) == []
    scopes = [entry["scope"] for entry in assignments(**{"role.id": admin_role["id"]})]
    assert {"system": {"all": True}} in scopes and len(scopes) == 2


def test_role_assignments_include_names(deployment):
    member_token(deployment)
    app = deployment.admin
    alice = named(app, "users", "alice")
    response = app.get("/v3/role_assignments", {"user.id": alice["id"], "include_names": "1"},
                       headers=ADMIN)
    (entry,) = response.json["role_assignments"]
    default = {"id": "default", "name": "Default"}
    assert entry["role"]["name"] == "member"
    assert entry["user"] == {"id": alice["id"], "name": "alice", "domain": default}
    assert entry["scope"]["project"]["name"] == "demo"
    assert entry["scope"]["project"]["domain"] == default
    assert response.json["links"]["self"].startswith("http://localhost/v3/role_assignments?")


def test_role_assignments_filter_by_domain_scope(deployment):
    add_user(deployment, "bob")
    app = deployment.admin
    bob, reader = named(app, "users", "bob"), named(app, "roles", "reader")
    app.put(f"/v3/domains/default/users/{bob['id']}/roles/{reader['id']}", headers=ADMIN,
            status=204)
    entries = app.get("/v3/role_assignments?scope.domain.id=default",
                      headers=ADMIN).json["role_assignments"]
    assert [(entry["user"]["id"], entry["scope"]) for entry in entries] == [
        (bob["id"], {"domain": {"id": "default"}})]


@pytest.mark.parametrize("query", ["include_names=perhaps",
                                   "scope.project.id=a&scope.domain.id=b"])
def test_role_assignments_with_bad_filter_returns_400(deployment, query):
    deployment.admin.get(f"/v3/role_assignments?{query}", headers=ADMIN, status=400)


# -- domains ---------------------------------------------------------------------------------------

def test_domains_list_show_and_create(deployment):
    app = deployment.admin
    default = app.get("/v3/domains/default", headers=ADMIN).json["domain"]
    assert default == {"id": "default", "name": "Default", "description": "The default domain",
                       "enabled": True, "tags": [], "options": {},
                       "links": {"self": "http://localhost/v3/domains/default"}}
    other = create(app, "domains", "domain", name="other", enabled=False)
    assert app.get("/v3/domains", headers=ADMIN).json["domains"] == [default, other]
    assert named(app, "domains", "other") == other
    assert app.get("/v3/domains?enabled=false", headers=ADMIN).json["domains"] == [other]


def test_domain_duplicate_returns_409_and_unknown_returns_404(deployment):
    deployment.admin.post_json("/v3/domains", {"domain": {"name": "Default"}}, headers=ADMIN,
                               status=409)
    response = deployment.admin.get("/v3/domains/ghost", headers=ADMIN, status=404)
    assert response.json["error"]["message"] == "Could not find domain: ghost."


# -- services --------------------------------------------------------------------------------------

def test_service_create_show_update_delete(deployment):
    app = deployment.admin
    service = create(app, "services", "service", type="compute", name="nova")
    assert service == {"id": service["id"], "type": "compute", "name": "nova",
                       "description": "", "enabled": True,
                       "links": {"self": f"http://localhost/v3/services/{service['id']}"}}
    url = f"/v3/services/{service['id']}"
    assert app.get(url, headers=ADMIN).json == {"service": service}
    updated = app.patch_json(url, {"service": {"description": "VMs", "enabled": False}},
                             headers=ADMIN).json["service"]
    assert (updated["description"], updated["enabled"]) == ("VMs", False)
    app.delete(url, headers=ADMIN, status=204)
    response = app.get(url, headers=ADMIN, status=404)
    assert response.json["error"]["message"] == f"Could not find service: {service['id']}."


def test_list_services_filters_by_type(deployment):
    app = deployment.admin
    create(app, "services", "service", type="compute", name="nova")
    assert [s["type"] for s in app.get("/v3/services", headers=ADMIN).json["services"]] == [
        "compute", "identity"]
    assert [s["name"] for s in app.get("/v3/services?type=compute",
                                       headers=ADMIN).json["services"]] == ["nova"]


@pytest.mark.parametrize("body", [{"service": {}}, {"service": {"type": 3}},
                                  {"service": {"type": "compute", "enabled": None,
                                               "name": ""}}])
def test_create_service_with_bad_body_returns_400(deployment, body):
    deployment.admin.post_json("/v3/services", body, headers=ADMIN, status=400)


def test_delete_service_deletes_its_endpoints(deployment):
    app = deployment.admin
    service = create(app, "services", "service", type="compute")
    endpoint = create(app, "endpoints", "endpoint", service_id=service["id"],
                      interface="public", url="http://nova/")
    app.delete(f"/v3/services/{service['id']}", headers=ADMIN, status=204)
    app.get(f"/v3/endpoints/{endpoint['id']}", headers=ADMIN, status=404)


# -- endpoints -------------------------------------------------------------------------------------

def test_endpoint_create_show_update_delete(deployment):
    app = deployment.admin
    service = create(app, "services", "service", type="compute")
    endpoint = create(app, "endpoints", "endpoint", service_id=service["id"],
                      interface="public", url="http://nova/", region_id="RegionOne")
    assert endpoint == {"id": endpoint["id"], "interface": "public", "region_id": "RegionOne",
                        "region": "RegionOne", "url": "http://nova/",
                        "service_id": service["id"], "enabled": True,
                        "links": {"self": f"http://localhost/v3/endpoints/{endpoint['id']}"}}
    url = f"/v3/endpoints/{endpoint['id']}"
    assert app.get(url, headers=ADMIN).json == {"endpoint": endpoint}
    updated = app.patch_json(url, {"endpoint": {"url": "http://nova2/", "interface": "internal",
                                                "region_id": None}},
                             headers=ADMIN).json["endpoint"]
    assert (updated["url"], updated["interface"], updated["region_id"]) == (
        "http://nova2/", "internal", None)
    app.delete(url, headers=ADMIN, status=204)
    app.delete(url, headers=ADMIN, status=404)


def test_list_endpoints_filters_by_service_interface_and_region(deployment):
    app = deployment.admin
    service = create(app, "services", "service", type="compute")
    create(app, "regions", "region", id="RegionTwo")
    nova = create(app, "endpoints", "endpoint", service_id=service["id"], interface="public",
                  url="http://nova/", region_id="RegionTwo")

    def ids(**params):
        return [e["id"] for e in app.get("/v3/endpoints", params,
                                         headers=ADMIN).json["endpoints"]]

    assert ids(service_id=service["id"]) == [nova["id"]]
    assert ids(region_id="RegionTwo") == [nova["id"]]
    assert len(ids(interface="public")) == 2
    assert len(ids(region_id="RegionOne")) == 3


def test_new_endpoint_appears_in_token_catalog(deployment):
    app = deployment.admin
    service = create(app, "services", "service", type="compute", name="nova")
    create(app, "endpoints", "endpoint", service_id=service["id"], interface="public",
           url="http://nova/")
    token = admin_token_of(deployment.main)
    catalog = validate(deployment, token).json["token"]["catalog"]
    (entry,) = [entry for entry in catalog if entry["type"] == "compute"]
    assert [endpoint["url"] for endpoint in entry["endpoints"]] == ["http://nova/"]

    app.patch_json(f"/v3/services/{service['id']}", {"service": {"enabled": False}},
                   headers=ADMIN)
    catalog = validate(deployment, token).json["token"]["catalog"]
    assert "compute" not in [entry["type"] for entry in catalog]


@pytest.mark.parametrize("fields, mentions", [
    ({"interface": "public", "url": "http://x/"}, "service_id"),
    ({"service_id": "SERVICE", "url": "http://x/"}, "interface"),
    ({"service_id": "SERVICE", "interface": "public"}, "url"),
    ({"service_id": "SERVICE", "interface": "outside", "url": "http://x/"}, "interface"),
    ({"service_id": "ghost", "interface": "public", "url": "http://x/"}, "service"),
    ({"service_id": "SERVICE", "interface": "public", "url": 7}, "attribute url"),
])
def test_create_endpoint_with_bad_body_returns_400(deployment, fields, mentions):
    service = create(deployment.admin, "services", "service", type="compute")
    fields = {key: service["id"] if value == "SERVICE" else value
              for key, value in fields.items()}
    response = deployment.admin.post_json("/v3/endpoints", {"endpoint": fields},
                                          headers=ADMIN, status=400)
    assert mentions in response.json["error"]["message"]


@pytest.mark.parametrize("fields", [{"interface": "outside"}, {"service_id": "ghost"},
                                    {"enabled": "no"}])
def test_update_endpoint_with_bad_body_returns_400(deployment, fields):
    endpoint = deployment.admin.get("/v3/endpoints", headers=ADMIN).json["endpoints"][0]
    deployment.admin.patch_json(f"/v3/endpoints/{endpoint['id']}", {"endpoint": fields},
                                headers=ADMIN, status=400)
    shown = deployment.admin.get(f"/v3/endpoints/{endpoint['id']}", headers=ADMIN)
    assert shown.json["endpoint"] == endpoint


# -- regions ---------------------------------------------------------------------------------------

def test_region_create_show_update_delete(deployment):
    app = deployment.admin
    region = create(app, "regions", "region", id="RegionTwo", description="second",
                    parent_region_id="RegionOne")
    assert region == {"id": "RegionTwo", "description": "second",
                      "parent_region_id": "RegionOne",
                      "links": {"self": "http://localhost/v3/regions/RegionTwo"}}
    assert app.get("/v3/regions/RegionTwo", headers=ADMIN).json == {"region": region}
    updated = app.patch_json("/v3/regions/RegionTwo", {"region": {
        "description": "2nd", "parent_region_id": None}}, headers=ADMIN).json["region"]
    assert (updated["description"], updated["parent_region_id"]) == ("2nd", None)
    assert [r["id"] for r in app.get("/v3/regions", headers=ADMIN).json["regions"]] == [
        "RegionOne", "RegionTwo"]
    app.delete("/v3/regions/RegionTwo", headers=ADMIN, status=204)
    response = app.get("/v3/regions/RegionTwo", headers=ADMIN, status=404)
    assert response.json["error"]["message"] == "Could not find region: RegionTwo."


def test_create_region_without_id_generates_one(deployment):
    region = create(deployment.admin, "regions", "region", description="anonymous")
    assert len(region["id"]) == 32
    deployment.admin.get(f"/v3/regions/{region['id']}", headers=ADMIN)


def test_create_region_with_existing_id_returns_409(deployment):
    response = deployment.admin.post_json("/v3/regions", {"region": {"id": "RegionOne"}},
                                          headers=ADMIN, status=409)
    assert "RegionOne" in response.json["error"]["message"]


def test_region_parent_must_exist_and_not_make_a_cycle(deployment):
    app = deployment.admin
    app.post_json("/v3/regions", {"region": {"id": "Two", "parent_region_id": "Atlantis"}},
                  headers=ADMIN, status=400)
    create(app, "regions", "region", id="Two", parent_region_id="RegionOne")
    response = app.patch_json("/v3/regions/RegionOne", {"region": {
        "parent_region_id": "Two"}}, headers=ADMIN, status=400)
    assert "cycle" in response.json["error"]["message"]
    app.patch_json("/v3/regions/Two", {"region": {"parent_region_id": "Two"}}, headers=ADMIN,
                   status=400)


def test_delete_region_in_use_returns_409(deployment):
    app = deployment.admin
    response = app.delete("/v3/regions/RegionOne", headers=ADMIN, status=409)
    assert "endpoints" in response.json["error"]["message"]
    create(app, "regions", "region", id="Parent")
    create(app, "regions", "region", id="Child", parent_region_id="Parent")
    response = app.delete("/v3/regions/Parent", headers=ADMIN, status=409)
    assert "child regions" in response.json["error"]["message"]
    app.get("/v3/regions/Parent", headers=ADMIN)
