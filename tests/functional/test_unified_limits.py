"""Unified limits (issue 11): registered limits, project and domain limits and the enforcement
model, as Keystone 30's (keystone/api/registered_limits.py, limits.py, keystone/limit): shapes,
checks, who sees what, and the strict_two_level model. oslo.limit as a client:
tests/compat/test_oslo_limit.py."""
from __future__ import annotations

import pytest

from builders import (add_user, assert_keystone_error, create_domain, grant_role, issue,
                      post_token)
from test_identity_parity import ADMIN, create

REGISTERED_KEYS = {"id", "service_id", "region_id", "resource_name", "default_limit",
                   "description", "links"}
LIMIT_KEYS = {"id", "project_id", "domain_id", "service_id", "region_id", "resource_name",
              "resource_limit", "description", "links"}


def register(app, *limits: dict, status: int = 201):
    return app.post_json("/v3/registered_limits", {"registered_limits": list(limits)},
                         headers=ADMIN, status=status, expect_errors=status >= 400)


def limit(app, *limits: dict, status: int = 201):
    return app.post_json("/v3/limits", {"limits": list(limits)}, headers=ADMIN, status=status,
                         expect_errors=status >= 400)


@pytest.fixture
def quota(deployment):
    """A compute service, projects demo (alice, member) and other (bob, member), and the
    registered limits cores (20, RegionOne) and ram (1024, no region)."""
    app = deployment.admin
    add_user(deployment, "alice", project="demo", role="member")
    add_user(deployment, "bob", project="other", role="member")
    service = create(app, "services", "service", type="compute")["id"]
    cores, ram = register(app, {"service_id": service, "region_id": "RegionOne",
                                "resource_name": "cores", "default_limit": 20},
                          {"service_id": service, "resource_name": "ram",
                           "default_limit": 1024, "description": "MiB"}).json[
        "registered_limits"]
    projects = {project["name"]: project["id"]
                for project in app.get("/v3/projects", headers=ADMIN).json["projects"]}
    return {"service": service, "cores": cores, "ram": ram, "demo": projects["demo"],
            "other": projects["other"]}


def cores_for(quota, owner: dict, value: int) -> dict:
    return {"service_id": quota["service"], "region_id": "RegionOne", "resource_name": "cores",
            "resource_limit": value, **owner}


# -- registered limits ---------------------------------------------------------------------------

def test_registered_limits_answer_as_keystone(deployment, quota):
    app = deployment.admin
    cores, ram = quota["cores"], quota["ram"]
    assert set(cores) == set(ram) == REGISTERED_KEYS
    assert (cores["region_id"], cores["default_limit"], cores["description"]) == (
        "RegionOne", 20, None)
    assert (ram["region_id"], ram["description"]) == (None, "MiB")
    assert cores["links"]["self"].endswith(f"/v3/registered_limits/{cores['id']}")

    listed = app.get("/v3/registered_limits", headers=ADMIN).json
    assert sorted(item["id"] for item in listed["registered_limits"]) == sorted(
        [cores["id"], ram["id"]])
    assert listed["links"]["self"].endswith("/v3/registered_limits")
    for query, expected in (("resource_name=ram", [ram]), ("region_id=RegionOne", [cores]),
                            (f"service_id={quota['service']}&resource_name=cores", [cores]),
                            ("service_id=nope", [])):
        assert app.get(f"/v3/registered_limits?{query}", headers=ADMIN).json[
            "registered_limits"] == expected, query
    assert app.get(f"/v3/registered_limits/{ram['id']}", headers=ADMIN).json[
        "registered_limit"] == ram

    updated = app.patch_json(f"/v3/registered_limits/{ram['id']}", {"registered_limit": {
        "default_limit": 2048, "description": None}}, headers=ADMIN).json["registered_limit"]
    assert (updated["default_limit"], updated["description"]) == (2048, None)

    app.delete(f"/v3/registered_limits/{ram['id']}", headers=ADMIN, status=204)
    assert_keystone_error(app.get(f"/v3/registered_limits/{ram['id']}", headers=ADMIN,
                                  expect_errors=True), 404)


@pytest.mark.parametrize("change, wording", [
    ({"default_limit": -2}, "default_limit"),
    ({"default_limit": 2 ** 31}, "default_limit"),
    ({"default_limit": "10"}, "default_limit"),
    ({"resource_name": " "}, "resource_name"),
    ({"resource_name": "r" * 256}, "resource_name"),
    ({"service_id": None}, "service_id"),
    ({"colour": "red"}, "Additional properties are not allowed"),
    ({"service_id": "nope"}, "Expecting to find service_id in registered_limit."),
    ({"region_id": "nowhere"}, "Expecting to find region_id in registered_limit."),
])
def test_registered_limit_bodies_are_checked_as_keystone(deployment, quota, change, wording):
    body = {"service_id": quota["service"], "resource_name": "disk", "default_limit": 5,
            **change}
    response = register(deployment.admin, body, status=400)
    assert wording in assert_keystone_error(response, 400)["message"]


@pytest.mark.parametrize("document", [{}, {"registered_limits": []},
                                      {"registered_limits": {"resource_name": "x"}},
                                      {"registered_limits": ["x"]}, ["x"]])
def test_a_create_takes_a_list_of_objects(deployment, document):
    response = deployment.admin.post_json("/v3/registered_limits", document, headers=ADMIN,
                                          expect_errors=True)
    assert_keystone_error(response, 400)


def test_duplicate_registered_limits_are_409_and_nothing_of_the_request_is_kept(deployment,
                                                                                 quota):
    app = deployment.admin
    duplicate = {"service_id": quota["service"], "resource_name": "ram", "default_limit": 1}
    error = assert_keystone_error(register(app, duplicate, status=409), 409)
    assert error["message"] == ("Conflict occurred attempting to store registered_limit - "
                                "Duplicate entry.")
    disk = {"service_id": quota["service"], "resource_name": "disk", "default_limit": 1}
    assert_keystone_error(register(app, disk, disk, status=409), 409)
    assert app.get("/v3/registered_limits?resource_name=disk", headers=ADMIN).json[
        "registered_limits"] == []
    # The same name in another region is another registered limit.
    register(app, {**duplicate, "region_id": "RegionOne"})
    assert_keystone_error(app.patch_json(f"/v3/registered_limits/{quota['cores']['id']}", {
        "registered_limit": {"region_id": None, "resource_name": "ram"}}, headers=ADMIN,
        expect_errors=True), 409)


def test_a_registered_limit_with_limits_is_neither_changed_nor_deleted(deployment, quota):
    app = deployment.admin
    (created,) = limit(app, cores_for(quota, {"project_id": quota["demo"]}, 5)).json["limits"]
    url = f"/v3/registered_limits/{quota['cores']['id']}"
    for response in (app.patch_json(url, {"registered_limit": {"default_limit": 30}},
                                    headers=ADMIN, expect_errors=True),
                     app.delete(url, headers=ADMIN, expect_errors=True)):
        error = assert_keystone_error(response, 403)
        assert error["message"] == (
            f"Unable to update or delete registered limit {quota['cores']['id']} because there "
            "are project limits associated with it.")
    app.delete(f"/v3/limits/{created['id']}", headers=ADMIN, status=204)
    app.delete(url, headers=ADMIN, status=204)


def test_a_service_or_region_with_registered_limits_is_not_deleted(deployment, quota):
    app = deployment.admin
    assert_keystone_error(app.delete(f"/v3/services/{quota['service']}", headers=ADMIN,
                                     expect_errors=True), 409)
    assert_keystone_error(app.delete("/v3/regions/RegionOne", headers=ADMIN,
                                     expect_errors=True), 409)
    for registered in (quota["cores"], quota["ram"]):
        app.delete(f"/v3/registered_limits/{registered['id']}", headers=ADMIN, status=204)
    app.delete(f"/v3/services/{quota['service']}", headers=ADMIN, status=204)


# -- limits --------------------------------------------------------------------------------------

def test_limits_answer_as_keystone(deployment, quota):
    app = deployment.admin
    created = limit(app, cores_for(quota, {"project_id": quota["demo"]}, 5),
                    {"service_id": quota["service"], "resource_name": "ram",
                     "resource_limit": 512, "domain_id": "default", "description": "small"})
    assert set(created.json) == {"limits"}  # no links, as Keystone
    cores, ram = created.json["limits"]
    assert set(cores) == set(ram) == LIMIT_KEYS
    assert (cores["project_id"], cores["domain_id"], cores["region_id"], cores["resource_name"],
            cores["resource_limit"], cores["service_id"]) == (
        quota["demo"], None, "RegionOne", "cores", 5, quota["service"])
    assert (ram["project_id"], ram["domain_id"], ram["region_id"], ram["description"]) == (
        None, "default", None, "small")
    assert cores["links"]["self"].endswith(f"/v3/limits/{cores['id']}")

    assert app.get(f"/v3/limits/{cores['id']}", headers=ADMIN).json["limit"] == cores
    for query, expected in ((f"project_id={quota['demo']}", [cores]),
                            ("domain_id=default", [ram]), ("resource_name=ram", [ram]),
                            ("region_id=RegionOne", [cores]),
                            (f"service_id={quota['service']}&resource_name=cores", [cores]),
                            (f"project_id={quota['other']}", [])):
        assert app.get(f"/v3/limits?{query}", headers=ADMIN).json["limits"] == expected, query
    assert len(app.get("/v3/limits", headers=ADMIN).json["limits"]) == 2

    updated = app.patch_json(f"/v3/limits/{cores['id']}", {"limit": {
        "resource_limit": 0, "description": "none"}}, headers=ADMIN).json["limit"]
    assert (updated["resource_limit"], updated["description"]) == (0, "none")
    refused = app.patch_json(f"/v3/limits/{cores['id']}", {"limit": {
        "project_id": quota["other"]}}, headers=ADMIN, expect_errors=True)
    assert_keystone_error(refused, 400)

    app.delete(f"/v3/limits/{cores['id']}", headers=ADMIN, status=204)
    assert_keystone_error(app.get(f"/v3/limits/{cores['id']}", headers=ADMIN,
                                  expect_errors=True), 404)


def test_a_limit_needs_its_registered_limit(deployment, quota):
    app = deployment.admin
    for body in ({**cores_for(quota, {"project_id": quota["demo"]}, 5), "region_id": None},
                 {**cores_for(quota, {"project_id": quota["demo"]}, 5), "resource_name": "gpu"}):
        error = assert_keystone_error(limit(app, body, status=403), 403)
        assert error["message"] == ("Unable to create a limit that has no corresponding "
                                    "registered limit.")


@pytest.mark.parametrize("owner, status, wording", [
    ({"project_id": "nope"}, 400, "Expecting to find project_id in limit."),
    ({"domain_id": "nope"}, 400, "Expecting to find domain_id in limit."),
    ({}, 400, "give exactly one of them"),
    ({"project_id": "DEMO", "domain_id": "default"}, 400, "give exactly one of them"),
])
def test_a_limit_names_one_existing_project_or_domain(deployment, quota, owner, status,
                                                      wording):
    owner = {key: quota["demo"] if value == "DEMO" else value for key, value in owner.items()}
    response = limit(deployment.admin, cores_for(quota, owner, 5), status=status)
    assert wording in assert_keystone_error(response, status)["message"]


def test_a_project_id_naming_a_domain_makes_a_domain_limit(deployment, quota):
    (created,) = limit(deployment.admin, cores_for(quota, {"project_id": "default"}, 5)).json[
        "limits"]
    assert (created["project_id"], created["domain_id"]) == (None, "default")


def test_duplicate_limits_are_409(deployment, quota):
    app = deployment.admin
    body = cores_for(quota, {"project_id": quota["demo"]}, 5)
    limit(app, body)
    error = assert_keystone_error(limit(app, {**body, "resource_limit": 6}, status=409), 409)
    assert error["message"] == "Conflict occurred attempting to store limit - Duplicate entry."
    limit(app, {**body, "project_id": quota["other"]})


def test_limits_go_with_their_project_or_domain(deployment, quota):
    app = deployment.admin
    domain = create_domain(deployment, "limited")
    limit(app, cores_for(quota, {"project_id": quota["demo"]}, 5),
          cores_for(quota, {"domain_id": domain}, 50))
    app.delete(f"/v3/projects/{quota['demo']}", headers=ADMIN, status=204)
    app.patch_json(f"/v3/domains/{domain}", {"domain": {"enabled": False}}, headers=ADMIN)
    app.delete(f"/v3/domains/{domain}", headers=ADMIN, status=204)
    assert app.get("/v3/limits", headers=ADMIN).json["limits"] == []
    app.delete(f"/v3/registered_limits/{quota['cores']['id']}", headers=ADMIN, status=204)


# -- who sees what --------------------------------------------------------------------------------

def test_a_project_member_sees_its_own_project_limits_only(deployment, quota):
    app, main = deployment.admin, deployment.main
    mine, theirs, domain_wide = limit(
        app, cores_for(quota, {"project_id": quota["demo"]}, 5),
        cores_for(quota, {"project_id": quota["other"]}, 6),
        cores_for(quota, {"domain_id": "default"}, 50)).json["limits"]
    alice = {"X-Auth-Token": issue(main, "alice", "demo")}
    assert app.get("/v3/limits", headers=alice).json["limits"] == [mine]
    assert app.get(f"/v3/limits?project_id={quota['other']}", headers=alice).json[
        "limits"] == []
    assert app.get(f"/v3/limits/{mine['id']}", headers=alice).json["limit"] == mine
    for other in (theirs, domain_wide):
        assert_keystone_error(app.get(f"/v3/limits/{other['id']}", headers=alice,
                                      expect_errors=True), 403)
    assert len(app.get("/v3/registered_limits", headers=alice).json["registered_limits"]) == 2
    assert app.get(f"/v3/registered_limits/{quota['ram']['id']}", headers=alice).status_int \
        == 200
    assert app.get("/v3/limits/model", headers=alice).json["model"]["name"] == "flat"
    for response in (
            app.post_json("/v3/limits", {"limits": [cores_for(quota, {
                "project_id": quota["demo"]}, 99)]}, headers=alice, expect_errors=True),
            app.patch_json(f"/v3/limits/{mine['id']}", {"limit": {"resource_limit": 99}},
                           headers=alice, expect_errors=True),
            app.delete(f"/v3/limits/{mine['id']}", headers=alice, expect_errors=True),
            app.post_json("/v3/registered_limits", {"registered_limits": [{
                "service_id": quota["service"], "resource_name": "x", "default_limit": 1}]},
                headers=alice, expect_errors=True)):
        assert_keystone_error(response, 403)
    assert_keystone_error(app.get("/v3/limits", expect_errors=True), 401)


def test_domain_and_system_tokens_see_their_scopes_limits(deployment, quota):
    app, main = deployment.admin, deployment.main
    other_domain = create_domain(deployment, "elsewhere")
    mine, theirs, domain_wide, foreign = limit(
        app, cores_for(quota, {"project_id": quota["demo"]}, 5),
        cores_for(quota, {"project_id": quota["other"]}, 6),
        cores_for(quota, {"domain_id": "default"}, 50),
        cores_for(quota, {"domain_id": other_domain}, 60)).json["limits"]
    add_user(deployment, "dora")
    grant_role(deployment, "dora", "domain", "default", "reader")
    dora = post_token(main, {"auth": {"identity": {"methods": ["external"], "external": {}},
                                      "scope": {"domain": {"id": "default"}}}}, user="dora")
    headers = {"X-Auth-Token": dora.headers["X-Subject-Token"]}
    assert sorted(item["id"] for item in app.get("/v3/limits", headers=headers).json[
        "limits"]) == sorted(item["id"] for item in (mine, theirs, domain_wide))
    assert app.get(f"/v3/limits/{theirs['id']}", headers=headers).status_int == 200
    assert_keystone_error(app.get(f"/v3/limits/{foreign['id']}", headers=headers,
                                  expect_errors=True), 403)

    add_user(deployment, "sam")
    grant_role(deployment, "sam", "system", "all", "reader")
    sam = post_token(main, {"auth": {"identity": {"methods": ["external"], "external": {}},
                                     "scope": {"system": {"all": True}}}}, user="sam")
    headers = {"X-Auth-Token": sam.headers["X-Subject-Token"]}
    assert len(app.get("/v3/limits", headers=headers).json["limits"]) == 4
    assert app.get(f"/v3/limits/{foreign['id']}", headers=headers).status_int == 200

    unscoped = post_token(main, {"auth": {"identity": {"methods": ["external"],
                                                       "external": {}}}}, user="sam")
    assert app.get("/v3/limits", headers={
        "X-Auth-Token": unscoped.headers["X-Subject-Token"]}).json["limits"] == []


# -- the enforcement model ------------------------------------------------------------------------

def test_the_model_is_flat_by_default_as_keystone_describes_it(deployment):
    assert deployment.admin.get("/v3/limits/model", headers=ADMIN).json == {"model": {
        "name": "flat", "description": "Limit enforcement and validation does not take "
                                       "project hierarchy into consideration."}}


@pytest.fixture
def two_level(make_deployment):
    deployment = make_deployment({"unified_limit": {"enforcement_model": "strict_two_level"}})
    app = deployment.admin
    service = create(app, "services", "service", type="compute")["id"]
    register(app, {"service_id": service, "resource_name": "cores", "default_limit": 10,
                   "region_id": "RegionOne"})
    demo = create(app, "projects", "project", name="demo")["id"]
    child = create(app, "projects", "project", name="child", parent_id=demo)["id"]
    return deployment, {"service": service, "demo": demo, "child": child}


def test_strict_two_level_keeps_project_limits_under_their_domains(two_level):
    deployment, quota = two_level
    app = deployment.admin
    assert app.get("/v3/limits/model", headers=ADMIN).json["model"] == {
        "name": "strict_two_level",
        "description": "This model requires project hierarchy never exceeds a depth of two"}
    # Without a domain limit, the registered default (10) is the ceiling.
    error = assert_keystone_error(limit(app, cores_for(quota, {"project_id": quota["demo"]},
                                                       11), status=403), 403)
    assert error["message"] == (
        f"Invalid resource limit: The resource limit (project_id: {quota['demo']}, "
        f"resource_name: cores, resource_limit: 11, service_id: {quota['service']}, "
        "region_id: RegionOne) doesn't satisfy current hierarchy model.")
    # A domain limit and its projects' in one request, in any order.
    created = limit(app, cores_for(quota, {"project_id": quota["demo"]}, 15),
                    cores_for(quota, {"domain_id": "default"}, 20)).json["limits"]
    demo_limit, domain_limit = created
    assert_keystone_error(app.patch_json(f"/v3/limits/{domain_limit['id']}", {"limit": {
        "resource_limit": 14}}, headers=ADMIN, expect_errors=True), 403)
    assert_keystone_error(app.patch_json(f"/v3/limits/{demo_limit['id']}", {"limit": {
        "resource_limit": 21}}, headers=ADMIN, expect_errors=True), 403)
    app.patch_json(f"/v3/limits/{domain_limit['id']}", {"limit": {"resource_limit": 15}},
                   headers=ADMIN)
    # A project under a project has no domain limit above it: the registered default holds.
    assert_keystone_error(limit(app, cores_for(quota, {"project_id": quota["child"]}, 12),
                                status=403), 403)
    limit(app, cores_for(quota, {"project_id": quota["child"]}, 10))
    assert_keystone_error(app.patch_json(f"/v3/limits/{domain_limit['id']}", {"limit": {
        "resource_limit": 9}}, headers=ADMIN, expect_errors=True), 403)


def test_strict_two_level_refuses_a_whole_request_for_one_bad_limit(two_level):
    deployment, quota = two_level
    app = deployment.admin
    limit(app, cores_for(quota, {"domain_id": "default"}, 8),
          cores_for(quota, {"project_id": quota["demo"]}, 9), status=403)
    assert app.get("/v3/limits", headers=ADMIN).json["limits"] == []
