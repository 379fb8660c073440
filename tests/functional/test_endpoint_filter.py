"""OS-EP-FILTER (issue 11): endpoint groups, project ↔ endpoint and project ↔ endpoint group
associations, and their effect: a project's tokens (v3 and v2.0, new and already issued) and
``GET /v3/auth/catalog`` show only the endpoints associated with the project, when it has any.
Shapes and wording from Keystone 30 (keystone/api/os_ep_filter.py, keystone/catalog)."""
from __future__ import annotations

import pytest

from builders import (add_user, admin_headers, assert_keystone_error, grant_role, issue,
                      password_auth, post_token, subject_headers)
from test_identity_parity import ADMIN, create

EP = "/v3/OS-EP-FILTER"


def catalog_of(token_body: dict) -> dict:
    """{service type: sorted [(interface, url)]} of a token body's catalog."""
    return {service["type"]: sorted((endpoint["interface"], endpoint["url"])
                                    for endpoint in service["endpoints"])
            for service in token_body["token"]["catalog"]}


@pytest.fixture
def cloud(deployment):
    """Projects demo (alice, member) and other (bob, member); a compute service with a public
    and an internal endpoint in RegionOne, beside bootstrap's identity service."""
    app = deployment.admin
    add_user(deployment, "alice", project="demo", role="member")
    add_user(deployment, "bob", project="other", role="member")
    compute = create(app, "services", "service", type="compute", name="nova")
    endpoints = {interface: create(app, "endpoints", "endpoint", service_id=compute["id"],
                                   interface=interface, region_id="RegionOne",
                                   url=f"http://nova-{interface}/v2.1")
                 for interface in ("public", "internal")}
    projects = {project["name"]: project["id"]
                for project in app.get("/v3/projects", headers=ADMIN).json["projects"]}
    return {"compute": compute["id"], "endpoints": {key: value["id"] for key, value
                                                    in endpoints.items()},
            "demo": projects["demo"], "other": projects["other"]}


def token_catalog(deployment, user: str, project: str) -> dict:
    return catalog_of(post_token(deployment.main, {"auth": {
        "identity": {"methods": ["external"], "external": {}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}, user=user).json)


# -- endpoint groups -------------------------------------------------------------------------------

def test_endpoint_group_crud_answers_as_keystone(deployment, cloud):
    app = deployment.admin
    created = app.post_json(f"{EP}/endpoint_groups", {"endpoint_group": {
        "name": "computes", "description": "the compute API",
        "filters": {"service_id": cloud["compute"]}}}, headers=ADMIN, status=201)
    group = created.json["endpoint_group"]
    assert set(group) == {"id", "name", "description", "filters", "links"}
    assert group["filters"] == {"service_id": cloud["compute"]}
    assert group["links"]["self"].endswith(f"/v3/OS-EP-FILTER/endpoint_groups/{group['id']}")

    url = f"{EP}/endpoint_groups/{group['id']}"
    assert app.get(url, headers=ADMIN).json["endpoint_group"] == group
    app.head(url, headers=ADMIN, status=200)
    listed = app.get(f"{EP}/endpoint_groups", headers=ADMIN).json
    assert listed["endpoint_groups"] == [group]
    assert listed["links"]["self"].endswith("/v3/OS-EP-FILTER/endpoint_groups")
    assert app.get(f"{EP}/endpoint_groups?name=computes", headers=ADMIN).json[
        "endpoint_groups"] == [group]
    assert app.get(f"{EP}/endpoint_groups?name=other", headers=ADMIN).json[
        "endpoint_groups"] == []

    updated = app.patch_json(url, {"endpoint_group": {
        "name": "internal", "filters": {"interface": "internal"}}}, headers=ADMIN).json
    assert updated["endpoint_group"] | {"links": None} == {
        "id": group["id"], "name": "internal", "description": "the compute API",
        "filters": {"interface": "internal"}, "links": None}

    app.delete(url, headers=ADMIN, status=204)
    error = assert_keystone_error(app.get(url, headers=ADMIN, expect_errors=True), 404)
    assert group["id"] in error["message"]


def test_endpoint_group_without_description_shows_null(deployment):
    group = deployment.admin.post_json(f"{EP}/endpoint_groups", {"endpoint_group": {
        "name": "admins", "filters": {"interface": "admin"}}}, headers=ADMIN,
        status=201).json["endpoint_group"]
    assert group["description"] is None


@pytest.mark.parametrize("body, wording", [
    ({"name": "g", "filters": {"enabled": True}},
     "Expecting to find service_id or region_id or interface in endpoint_group."),
    ({"name": "g", "filters": {}}, "filters field is required and cannot be empty"),
    ({"name": "g", "filters": {"interface": "private"}}, "filters/interface"),
    ({"name": "g"}, "'filters' is a required property"),
    ({"filters": {"interface": "public"}}, "'name' is a required property"),
    ({"name": "g", "filters": {"interface": "public"}, "colour": "red"},
     "Additional properties are not allowed"),
])
def test_endpoint_group_bodies_are_checked_as_keystone(deployment, body, wording):
    response = deployment.admin.post_json(f"{EP}/endpoint_groups", {"endpoint_group": body},
                                          headers=ADMIN, expect_errors=True)
    assert wording in assert_keystone_error(response, 400)["message"]


def test_endpoint_group_update_checks_its_filters(deployment):
    app = deployment.admin
    group = create(app, "OS-EP-FILTER/endpoint_groups", "endpoint_group", name="g",
                   filters={"interface": "public"})
    response = app.patch_json(f"{EP}/endpoint_groups/{group['id']}", {"endpoint_group": {
        "filters": {"url": "http://x"}}}, headers=ADMIN, expect_errors=True)
    assert_keystone_error(response, 400)


# -- the catalog of a project's tokens ----------------------------------------------------------

def test_a_project_with_an_endpoint_sees_only_that_endpoint_in_every_catalog(deployment, cloud):
    main, admin = deployment.main, deployment.admin
    whole = token_catalog(deployment, "alice", "demo")
    assert set(whole) == {"identity", "compute"}
    before = issue(main, "alice", "demo")
    other_before = token_catalog(deployment, "bob", "other")

    association = f"{EP}/projects/{cloud['demo']}/endpoints/{cloud['endpoints']['public']}"
    admin.put(association, headers=ADMIN, status=204)
    admin.head(association, headers=ADMIN, status=204)
    admin.get(association, headers=ADMIN, status=204)

    only_public = {"compute": [("public", "http://nova-public/v2.1")]}
    assert token_catalog(deployment, "alice", "demo") == only_public
    # A token issued before the association shows it at its next validation.
    assert catalog_of(admin.get("/v3/auth/tokens", headers=subject_headers(before)).json) \
        == only_public
    assert main.get("/v3/auth/catalog", headers={"X-Auth-Token": before}).json["catalog"][0][
        "endpoints"][0]["id"] == cloud["endpoints"]["public"]
    v2 = admin.get(f"/v2.0/tokens/{before}", headers=admin_headers()).json
    assert [(service["type"], list(service["endpoints"][0])) for service in
            v2["access"]["serviceCatalog"]] == [("compute", ["region", "id", "publicURL"])]
    # Other projects keep the whole catalog; so do domain-scoped tokens.
    assert token_catalog(deployment, "bob", "other") == other_before == whole
    grant_role(deployment, "alice", "domain", "default", "reader")
    assert set(catalog_of(post_token(main, {"auth": {
        "identity": {"methods": ["external"], "external": {}},
        "scope": {"domain": {"id": "default"}}}}, user="alice").json)) == {"identity", "compute"}

    admin.delete(association, headers=ADMIN, status=204)
    assert token_catalog(deployment, "alice", "demo") == whole
    assert catalog_of(admin.get("/v3/auth/tokens", headers=subject_headers(before)).json) \
        == whole


def test_an_endpoint_group_shows_the_endpoints_its_filters_select(deployment, cloud):
    admin = deployment.admin
    group = create(admin, "OS-EP-FILTER/endpoint_groups", "endpoint_group", name="internal",
                   filters={"interface": "internal"})
    url = f"{EP}/endpoint_groups/{group['id']}/projects/{cloud['demo']}"
    admin.put(url, headers=ADMIN, status=204)

    # Every service's internal endpoints, the identity service's included.
    assert token_catalog(deployment, "alice", "demo") == {
        "identity": [("internal", "http://localhost/main/v3")],
        "compute": [("internal", "http://nova-internal/v2.1")]}
    association = admin.get(url, headers=ADMIN).json["project_endpoint_group"]
    assert association["endpoint_group_id"] == group["id"]
    assert association["project_id"] == cloud["demo"]
    assert association["links"]["self"].endswith(
        f"/v3/OS-EP-FILTER/endpoint_groups/{group['id']}/projects/{cloud['demo']}")
    admin.head(url, headers=ADMIN, status=200)

    in_group = admin.get(f"{EP}/endpoint_groups/{group['id']}/endpoints", headers=ADMIN).json
    assert {endpoint["interface"] for endpoint in in_group["endpoints"]} == {"internal"}
    assert all(endpoint["region"] == endpoint["region_id"] for endpoint in in_group["endpoints"])
    for_project = admin.get(f"{EP}/projects/{cloud['demo']}/endpoints", headers=ADMIN).json
    assert sorted(endpoint["id"] for endpoint in for_project["endpoints"]) == sorted(
        endpoint["id"] for endpoint in in_group["endpoints"])
    assert [project["id"] for project in admin.get(
        f"{EP}/endpoint_groups/{group['id']}/projects", headers=ADMIN).json["projects"]] == [
        cloud["demo"]]
    assert [listed["id"] for listed in admin.get(
        f"{EP}/projects/{cloud['demo']}/endpoint_groups", headers=ADMIN).json[
        "endpoint_groups"]] == [group["id"]]

    # Changing the filters changes the catalog.
    admin.patch_json(f"{EP}/endpoint_groups/{group['id']}", {"endpoint_group": {
        "filters": {"interface": "public", "service_id": cloud["compute"]}}}, headers=ADMIN)
    assert token_catalog(deployment, "alice", "demo") == {
        "compute": [("public", "http://nova-public/v2.1")]}

    admin.delete(url, headers=ADMIN, status=204)
    assert set(token_catalog(deployment, "alice", "demo")) == {"identity", "compute"}


def test_direct_and_group_associations_add_up_and_disabled_endpoints_stay_out(deployment, cloud):
    admin = deployment.admin
    group = create(admin, "OS-EP-FILTER/endpoint_groups", "endpoint_group", name="internal",
                   filters={"interface": "internal", "service_id": cloud["compute"]})
    admin.put(f"{EP}/endpoint_groups/{group['id']}/projects/{cloud['demo']}", headers=ADMIN,
              status=204)
    admin.put(f"{EP}/projects/{cloud['demo']}/endpoints/{cloud['endpoints']['public']}",
              headers=ADMIN, status=204)
    assert token_catalog(deployment, "alice", "demo") == {"compute": [
        ("internal", "http://nova-internal/v2.1"), ("public", "http://nova-public/v2.1")]}

    admin.patch_json(f"/v3/endpoints/{cloud['endpoints']['internal']}",
                     {"endpoint": {"enabled": False}}, headers=ADMIN)
    assert token_catalog(deployment, "alice", "demo") == {"compute": [
        ("public", "http://nova-public/v2.1")]}
    # The association lists still show it, as Keystone's.
    assert len(admin.get(f"{EP}/projects/{cloud['demo']}/endpoints", headers=ADMIN).json[
        "endpoints"]) == 2


def test_each_project_gets_its_own_catalog_from_the_cache(deployment, cloud):
    admin = deployment.admin
    for project, interface in (("demo", "public"), ("other", "internal")):
        admin.put(f"{EP}/projects/{cloud[project]}/endpoints/{cloud['endpoints'][interface]}",
                  headers=ADMIN, status=204)
    for _ in range(3):  # answered from the per-project cache after the first round
        assert token_catalog(deployment, "alice", "demo") == {
            "compute": [("public", "http://nova-public/v2.1")]}
        assert token_catalog(deployment, "bob", "other") == {
            "compute": [("internal", "http://nova-internal/v2.1")]}


def test_without_return_all_endpoints_a_project_without_filter_gets_no_catalog(make_deployment):
    deployment = make_deployment({"endpoint_filter": {
        "return_all_endpoints_if_no_filter": "false"}})
    add_user(deployment, "alice", project="demo", role="member")
    assert token_catalog(deployment, "alice", "demo") == {}
    admin_token = post_token(deployment.main, password_auth("admin", "admin-secret", "admin"))
    identity = admin_token.json["token"]["catalog"]
    assert identity == []
    (endpoint,) = [endpoint for endpoint in deployment.admin.get(
        "/v3/endpoints?interface=public", headers=ADMIN).json["endpoints"]]
    demo = deployment.admin.get("/v3/projects?name=demo", headers=ADMIN).json["projects"][0]
    deployment.admin.put(f"{EP}/projects/{demo['id']}/endpoints/{endpoint['id']}",
                         headers=ADMIN, status=204)
    assert token_catalog(deployment, "alice", "demo") == {
        "identity": [("public", "http://localhost/main/v3")]}


# -- associations: errors and cascades ----------------------------------------------------------

def test_association_errors_are_keystones(deployment, cloud):
    admin = deployment.admin
    public = cloud["endpoints"]["public"]
    missing = assert_keystone_error(admin.put(
        f"{EP}/projects/{cloud['demo']}/endpoints/nope", headers=ADMIN, expect_errors=True), 404)
    assert missing["message"] == "Could not find endpoint: nope."
    assert_keystone_error(admin.put(f"{EP}/projects/nope/endpoints/{public}", headers=ADMIN,
                                    expect_errors=True), 404)
    absent = assert_keystone_error(admin.get(
        f"{EP}/projects/{cloud['demo']}/endpoints/{public}", headers=ADMIN, expect_errors=True),
        404)
    assert absent["message"] == f"Endpoint {public} not found in project {cloud['demo']}"
    assert_keystone_error(admin.delete(f"{EP}/projects/{cloud['demo']}/endpoints/{public}",
                                       headers=ADMIN, expect_errors=True), 404)
    admin.put(f"{EP}/projects/{cloud['demo']}/endpoints/{public}", headers=ADMIN, status=204)
    twice = assert_keystone_error(admin.put(
        f"{EP}/projects/{cloud['demo']}/endpoints/{public}", headers=ADMIN, expect_errors=True),
        409)
    assert twice["message"] == ("Conflict occurred attempting to store project_endpoint - "
                                "Duplicate entry.")

    group = create(admin, "OS-EP-FILTER/endpoint_groups", "endpoint_group", name="g",
                   filters={"interface": "admin"})
    url = f"{EP}/endpoint_groups/{group['id']}/projects/{cloud['demo']}"
    gone = assert_keystone_error(admin.get(url, headers=ADMIN, expect_errors=True), 404)
    assert gone["message"] == "Endpoint Group Project Association not found"
    assert_keystone_error(admin.delete(url, headers=ADMIN, expect_errors=True), 404)
    assert_keystone_error(admin.put(f"{EP}/endpoint_groups/nope/projects/{cloud['demo']}",
                                    headers=ADMIN, expect_errors=True), 404)
    admin.put(url, headers=ADMIN, status=204)
    assert_keystone_error(admin.put(url, headers=ADMIN, expect_errors=True), 409)
    assert_keystone_error(admin.get(f"{EP}/projects/nope/endpoint_groups", headers=ADMIN,
                                    expect_errors=True), 404)
    assert_keystone_error(admin.get(f"{EP}/endpoints/nope/projects", headers=ADMIN,
                                    expect_errors=True), 404)


def test_deleting_an_endpoint_project_or_group_removes_its_associations(deployment, cloud):
    admin = deployment.admin
    public, internal = cloud["endpoints"]["public"], cloud["endpoints"]["internal"]
    for endpoint in (public, internal):
        admin.put(f"{EP}/projects/{cloud['demo']}/endpoints/{endpoint}", headers=ADMIN,
                  status=204)
    admin.put(f"{EP}/projects/{cloud['other']}/endpoints/{public}", headers=ADMIN, status=204)
    group = create(admin, "OS-EP-FILTER/endpoint_groups", "endpoint_group", name="g",
                   filters={"interface": "admin"})
    admin.put(f"{EP}/endpoint_groups/{group['id']}/projects/{cloud['other']}", headers=ADMIN,
              status=204)
    assert [project["id"] for project in admin.get(
        f"{EP}/endpoints/{public}/projects", headers=ADMIN).json["projects"]] == sorted(
        [cloud["demo"], cloud["other"]], key=lambda pid: "demo" if pid == cloud["demo"]
        else "other")

    admin.delete(f"/v3/endpoints/{internal}", headers=ADMIN, status=204)
    assert token_catalog(deployment, "alice", "demo") == {
        "compute": [("public", "http://nova-public/v2.1")]}

    admin.delete(f"/v3/projects/{cloud['demo']}", headers=ADMIN, status=204)
    assert [project["id"] for project in admin.get(
        f"{EP}/endpoints/{public}/projects", headers=ADMIN).json["projects"]] == [cloud["other"]]

    admin.delete(f"{EP}/endpoint_groups/{group['id']}", headers=ADMIN, status=204)
    assert admin.get(f"{EP}/projects/{cloud['other']}/endpoint_groups", headers=ADMIN).json[
        "endpoint_groups"] == []

    admin.delete(f"/v3/services/{cloud['compute']}", headers=ADMIN, status=204)
    assert admin.get(f"{EP}/projects/{cloud['other']}/endpoints", headers=ADMIN).json[
        "endpoints"] == []
    assert set(token_catalog(deployment, "bob", "other")) == {"identity"}


def test_only_admins_manage_endpoint_filters(deployment, cloud):
    token = issue(deployment.main, "alice", "demo")
    response = deployment.admin.put(
        f"{EP}/projects/{cloud['demo']}/endpoints/{cloud['endpoints']['public']}",
        headers={"X-Auth-Token": token}, expect_errors=True)
    assert_keystone_error(response, 403)
    assert_keystone_error(deployment.admin.get(f"{EP}/endpoint_groups", headers={
        "X-Auth-Token": token}, expect_errors=True), 403)
    assert deployment.main.get(f"{EP}/endpoint_groups", headers=ADMIN,
                               expect_errors=True).status_int == 404  # admin app only
