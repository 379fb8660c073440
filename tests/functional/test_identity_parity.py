"""What the resource declarations give the admin API beyond the first round, checked against
Keystone 30's recorded answers (``../shared/keystone-golden-next``): extra attributes kept,
Keystone's name limits and messages, a user's unknown domain, regions by PUT and created for
endpoints, domains updated and deleted."""
from __future__ import annotations


import pytest

from builders import add_user, admin_headers, assert_like_keystone, golden, issue

ADMIN = admin_headers()






def create(app, plural: str, key: str, **fields) -> dict:
    return app.post_json(f"/v3/{plural}", {key: fields}, headers=ADMIN, status=201).json[key]


# -- extra attributes ------------------------------------------------------------------------------

def test_user_extra_attributes_are_kept_and_echoed_as_keystone(deployment):
    app = deployment.admin
    created = app.post_json("/v3/users", {"user": {
        "name": "golden-email-user", "domain_id": "default", "email": "golden@example.com",
        "description": "has extra attributes", "password": "old-secret",
        "favourite_colour": "blue"}}, headers=ADMIN)
    assert_like_keystone(created, "users-create-extra.json")
    user = created.json["user"]
    assert (user["email"], user["favourite_colour"]) == ("golden@example.com", "blue")
    assert "password" not in user

    shown = app.get(f"/v3/users/{user['id']}", headers=ADMIN)
    assert_like_keystone(shown, "users-get-extra.json")
    assert shown.json["user"] == user

    patched = app.patch_json(f"/v3/users/{user['id']}", {"user": {
        "email": "new@example.com", "nickname": "g"}}, headers=ADMIN).json["user"]
    assert (patched["email"], patched["nickname"], patched["favourite_colour"]) == (
        "new@example.com", "g", "blue")
    (listed,) = app.get("/v3/users?name=golden-email-user", headers=ADMIN).json["users"]
    assert listed == patched


def test_project_extra_attributes_are_kept_and_declared_ones_win(deployment):
    app = deployment.admin
    project = create(app, "projects", "project", name="tagged", contact="ops@example.com",
                     id="chosen", links="mine")
    assert project["contact"] == "ops@example.com"
    assert project["id"] != "chosen" and project["links"]["self"].endswith(project["id"])
    shown = app.get(f"/v3/projects/{project['id']}", headers=ADMIN).json["project"]
    assert shown == project
    (listed,) = app.get("/v3/projects?name=tagged", headers=ADMIN).json["projects"]
    assert listed == project


# -- names and domains -----------------------------------------------------------------------------

def test_project_name_of_65_characters_returns_keystones_400(deployment):
    response = deployment.admin.post_json("/v3/projects", {"project": {
        "name": "p" * 65, "domain_id": "default"}}, headers=ADMIN, status=400)
    _status, body, _headers = golden("projects-create-name-65.json")
    assert response.json == body


@pytest.mark.parametrize("plural, key, limit", [("projects", "project", 64),
                                                ("domains", "domain", 64),
                                                ("users", "user", 255),
                                                ("roles", "role", 255)])
def test_name_limits_are_keystones(deployment, plural, key, limit):
    app = deployment.admin
    create(app, plural, key, name="n" * limit)
    response = app.post_json(f"/v3/{plural}", {key: {"name": "m" * (limit + 1)}},
                             headers=ADMIN, status=400)
    assert response.json["error"]["message"].startswith(
        "Invalid input for field/attribute name. Value: mmm")


def test_user_created_in_an_unknown_domain_returns_404(deployment):
    response = deployment.admin.post_json("/v3/users", {"user": {
        "name": "bob", "domain_id": "nowhere"}}, headers=ADMIN, status=404)
    assert response.json["error"]["message"] == "Could not find domain: nowhere."


def test_password_is_never_echoed_in_a_validation_error(deployment):
    response = deployment.admin.post_json("/v3/users", {"user": {
        "name": "bob", "password": "s" * 5000}}, headers=ADMIN, status=400)
    assert "sss" not in response.json["error"]["message"]
    assert "password" in response.json["error"]["message"]


# -- regions ---------------------------------------------------------------------------------------

def test_put_region_creates_it_with_the_chosen_id_and_again_returns_409(deployment):
    app = deployment.admin
    created = app.put_json("/v3/regions/golden-region", {"region": {"description": "put by id"}},
                           headers=ADMIN, status="*")
    assert_like_keystone(created, "regions-put.json")
    assert created.json["region"]["id"] == "golden-region"
    again = app.put_json("/v3/regions/golden-region", {"region": {}}, headers=ADMIN,
                         status="*")
    assert_like_keystone(again, "regions-put-duplicate.json")
    assert "golden-region" in again.json["error"]["message"]


def test_endpoint_with_an_unknown_region_creates_the_region(deployment):
    app = deployment.admin
    service = create(app, "services", "service", type="compute")
    created = app.post_json("/v3/endpoints", {"endpoint": {
        "service_id": service["id"], "interface": "public",
        "url": "http://golden.example:5000/v3", "region": "AutoRegion"}}, headers=ADMIN,
        status="*")
    assert_like_keystone(created, "regions-endpoint-unknown-region.json")
    assert (created.json["endpoint"]["region_id"], created.json["endpoint"]["region"]) == (
        "AutoRegion", "AutoRegion")
    shown = app.get("/v3/regions/AutoRegion", headers=ADMIN)
    assert_like_keystone(shown, "regions-get-auto-created.json")

    moved = app.patch_json(f"/v3/endpoints/{created.json['endpoint']['id']}", {"endpoint": {
        "region_id": "Atlantis"}}, headers=ADMIN).json["endpoint"]
    assert moved["region_id"] == "Atlantis"
    app.get("/v3/regions/Atlantis", headers=ADMIN, status=200)


# -- domains ---------------------------------------------------------------------------------------

def test_domain_patch_then_delete_as_keystone(deployment):
    app = deployment.admin
    domain = create(app, "domains", "domain", name="golden-domain",
                    description="to be deleted")
    url = f"/v3/domains/{domain['id']}"
    assert_like_keystone(app.delete(url, headers=ADMIN, status="*"),
                         "domains-delete-enabled.json")
    patched = app.patch_json(url, {"domain": {"enabled": False}}, headers=ADMIN)
    assert_like_keystone(patched, "domains-patch-disable.json")
    assert patched.json["domain"]["enabled"] is False
    assert_like_keystone(app.delete(url, headers=ADMIN, status="*"),
                         "domains-delete-disabled.json")
    assert_like_keystone(app.delete("/v3/domains/00000000000000000000000000000000",
                                    headers=ADMIN, status="*"), "domains-delete-unknown.json")
    app.get(url, headers=ADMIN, status=404)


def test_deleting_a_disabled_domain_deletes_its_projects_users_and_grants(deployment):
    app = deployment.admin
    domain = create(app, "domains", "domain", name="doomed")
    project = create(app, "projects", "project", name="inside", domain_id=domain["id"])
    user = create(app, "users", "user", name="someone", domain_id=domain["id"])
    outsider = create(app, "users", "user", name="outsider")
    (member,) = app.get("/v3/roles?name=member", headers=ADMIN).json["roles"]
    for url in (f"/v3/projects/{project['id']}/users/{user['id']}/roles/{member['id']}",
                f"/v3/projects/{project['id']}/users/{outsider['id']}/roles/{member['id']}",
                f"/v3/domains/{domain['id']}/users/{outsider['id']}/roles/{member['id']}"):
        app.put(url, headers=ADMIN, status=204)

    app.patch_json(f"/v3/domains/{domain['id']}", {"domain": {"enabled": False}},
                   headers=ADMIN)
    app.delete(f"/v3/domains/{domain['id']}", headers=ADMIN, status=204)

    app.get(f"/v3/projects/{project['id']}", headers=ADMIN, status=404)
    app.get(f"/v3/users/{user['id']}", headers=ADMIN, status=404)
    assert app.get(f"/v3/role_assignments?user.id={outsider['id']}",
                   headers=ADMIN).json["role_assignments"] == []
    app.get(f"/v3/users/{outsider['id']}", headers=ADMIN, status=200)


def test_disabling_a_domain_ends_its_users_tokens(deployment):
    add_user(deployment, "alice", "demo", "member")
    token = issue(deployment.main, "alice", "demo")
    app = deployment.admin
    app.get("/v3/auth/tokens", headers=admin_headers(token), status=200)
    app.patch_json("/v3/domains/default", {"domain": {"enabled": False}}, headers=ADMIN)
    app.get("/v3/auth/tokens", headers=admin_headers(token), status=404)


def test_domain_name_change_is_checked_for_duplicates(deployment):
    app = deployment.admin
    domain = create(app, "domains", "domain", name="one")
    create(app, "domains", "domain", name="two")
    response = app.patch_json(f"/v3/domains/{domain['id']}", {"domain": {"name": "two"}},
                              headers=ADMIN, status=409)
    assert "two" in response.json["error"]["message"]


def test_member_of_a_project_reads_its_domain(deployment):
    """Keystone's identity:get_domain lets any token on the domain or one of its projects
    read the domain."""
    add_user(deployment, "alice", "demo", "member")
    token = issue(deployment.main, "alice", "demo")
    shown = deployment.admin.get("/v3/domains/default", headers={"X-Auth-Token": token})
    assert shown.json["domain"]["id"] == "default"


def test_a_region_id_chosen_in_the_path_is_checked_like_a_body_id(deployment):
    """PUT /v3/regions/{id} with an id longer than a region id may be: 400, never the
    database's refusal (PostgreSQL's "value too long" was a 500)."""
    response = deployment.admin.put_json(f"/v3/regions/{'x' * 256}", {"region": {}},
                                         headers=ADMIN, status=400)
    assert response.json["error"]["code"] == 400
    deployment.admin.put_json(f"/v3/regions/{'x' * 255}", {"region": {}}, headers=ADMIN,
                              status=201)
