"""Project tags and the project hierarchy, checked against Keystone 30's recorded answers
(``../shared/keystone-golden-next/projects-*tag*``) and its documented rules."""
from __future__ import annotations


import pytest

from builders import add_user, admin_headers, assert_like_keystone, cert_environ, issue

ADMIN = admin_headers()






def create(app, **fields) -> dict:
    return app.post_json("/v3/projects", {"project": fields}, headers=ADMIN,
                         status=201).json["project"]


# -- tags ------------------------------------------------------------------------------------------

def test_tags_given_at_creation_are_shown_listed_and_added_one_by_one(deployment):
    app = deployment.admin
    created = app.post_json("/v3/projects", {"project": {
        "name": "golden-tagged", "domain_id": "default", "tags": ["beta", "alpha"]}},
        headers=ADMIN)
    assert_like_keystone(created, "projects-create-tags.json")
    project = created.json["project"]
    assert project["tags"] == ["alpha", "beta"]
    assert project["parent_id"] == "default"

    put = app.put(f"/v3/projects/{project['id']}/tags/gamma", headers=ADMIN)
    assert_like_keystone(put, "projects-tag-put.json")
    assert put.headers["Location"].endswith(f"/v3/{project['id']}/tags/gamma")
    app.put(f"/v3/projects/{project['id']}/tags/gamma", headers=ADMIN, status=201)

    listed = app.get(f"/v3/projects/{project['id']}/tags", headers=ADMIN)
    assert_like_keystone(listed, "projects-tags-get.json")
    assert listed.json["tags"] == ["alpha", "beta", "gamma"]
    shown = app.get(f"/v3/projects/{project['id']}", headers=ADMIN)
    assert_like_keystone(shown, "projects-get-with-tags.json")
    assert shown.json["project"]["tags"] == ["alpha", "beta", "gamma"]
    (in_list,) = [entry for entry in app.get("/v3/projects", headers=ADMIN).json["projects"]
                  if entry["id"] == project["id"]]
    assert in_list == shown.json["project"]


def test_tag_check_replace_delete_one_and_all(deployment):
    app = deployment.admin
    project = create(app, name="tagged", tags=["one"])
    base = f"/v3/projects/{project['id']}/tags"
    app.get(f"{base}/one", headers=ADMIN, status=204)
    app.head(f"{base}/one", headers=ADMIN, status=204)
    missing = app.get(f"{base}/two", headers=ADMIN, status=404)
    assert missing.json["error"]["code"] == 404

    replaced = app.put_json(base, {"tags": ["x", "y", "z"]}, headers=ADMIN, status=200)
    assert replaced.json["tags"] == ["x", "y", "z"]
    app.get(f"{base}/one", headers=ADMIN, status=404)
    app.delete(f"{base}/y", headers=ADMIN, status=204)
    app.delete(f"{base}/y", headers=ADMIN, status=404)
    assert app.get(base, headers=ADMIN).json["tags"] == ["x", "z"]
    app.delete(base, headers=ADMIN, status=204)
    assert app.get(base, headers=ADMIN).json["tags"] == []

    updated = app.patch_json(f"/v3/projects/{project['id']}", {"project": {"tags": ["p"]}},
                             headers=ADMIN).json["project"]
    assert updated["tags"] == ["p"]


@pytest.mark.parametrize("tags", [
    ["a/b"], ["a,b"], [""], ["x" * 256], ["same", "same"], [f"t{i}" for i in range(81)],
    "not-a-list", [7],
])
def test_tags_breaking_keystones_rules_are_400(deployment, tags):
    app = deployment.admin
    app.post_json("/v3/projects", {"project": {"name": "p", "tags": tags}}, headers=ADMIN,
                  status=400)
    project = create(app, name="q")
    app.put_json(f"/v3/projects/{project['id']}/tags", {"tags": tags}, headers=ADMIN,
                 status=400)


def test_single_tag_put_refuses_a_comma_and_an_81st_tag(deployment):
    app = deployment.admin
    project = create(app, name="full", tags=[f"t{i}" for i in range(80)])
    app.put(f"/v3/projects/{project['id']}/tags/a,b", headers=ADMIN, status=400)
    app.put(f"/v3/projects/{project['id']}/tags/t80", headers=ADMIN, status=400)
    app.put(f"/v3/projects/{project['id']}/tags/t0", headers=ADMIN, status=201)


def test_list_filters_by_tags_as_keystone(deployment):
    app = deployment.admin
    ids = {name: create(app, name=name, tags=tags)["id"] for name, tags in (
        ("ab", ["a", "b"]), ("a", ["a"]), ("c", ["c"]), ("none", []))}

    def names(query):
        listed = app.get(f"/v3/projects?{query}", headers=ADMIN).json["projects"]
        return sorted(entry["name"] for entry in listed if entry["id"] in ids.values())

    assert names("tags=a,b") == ["ab"]
    assert names("tags=a") == ["a", "ab"]
    assert names("tags-any=b,c") == ["ab", "c"]
    assert names("not-tags=a,b") == ["a", "c", "none"]
    assert names("not-tags-any=a,c") == ["none"]
    assert names("tags=a&not-tags=b") == ["a"]
    assert names("tags=") == []


def test_deleting_a_project_deletes_its_tags(deployment):
    app = deployment.admin
    project = create(app, name="gone", tags=["t"])
    app.delete(f"/v3/projects/{project['id']}", headers=ADMIN, status=204)
    app.get(f"/v3/projects/{project['id']}/tags", headers=ADMIN, status=404)
    again = create(app, name="gone")
    assert again["tags"] == []


def test_project_member_reads_tags_but_only_admins_write_them(deployment):
    add_user(deployment, "alice", "demo", "member")
    token = issue(deployment.main, "alice", "demo")
    app = deployment.admin
    (demo,) = app.get("/v3/projects?name=demo", headers=ADMIN).json["projects"]
    app.put(f"/v3/projects/{demo['id']}/tags/mine", headers=ADMIN, status=201)
    member = {"X-Auth-Token": token}
    assert app.get(f"/v3/projects/{demo['id']}/tags", headers=member).json["tags"] == ["mine"]
    app.put(f"/v3/projects/{demo['id']}/tags/other", headers=member, status=403)
    app.delete(f"/v3/projects/{demo['id']}/tags", headers=member, status=403)
    app.get(f"/v3/projects/{demo['id']}/tags", status=401)


# -- hierarchy -------------------------------------------------------------------------------------

def test_child_project_shows_its_parent_and_the_trees_as_keystone(deployment):
    app = deployment.admin
    root = create(app, name="root")
    assert root["parent_id"] == "default"
    child = create(app, name="child", parent_id=root["id"])
    assert (child["parent_id"], child["domain_id"]) == (root["id"], "default")
    grandchild = create(app, name="grandchild", parent_id=child["id"], domain_id="default")

    def shown(project, query):
        return app.get(f"/v3/projects/{project['id']}?{query}", headers=ADMIN).json["project"]

    assert shown(grandchild, "parents_as_ids")["parents"] == {
        child["id"]: {root["id"]: {"default": None}}}
    assert shown(root, "subtree_as_ids")["subtree"] == {
        child["id"]: {grandchild["id"]: None}}
    assert shown(grandchild, "subtree_as_ids")["subtree"] is None
    assert [entry["project"]["id"] for entry in shown(grandchild, "parents_as_list")[
        "parents"]] == [child["id"], root["id"]]
    assert [entry["project"]["id"] for entry in shown(root, "subtree_as_list")[
        "subtree"]] == [child["id"], grandchild["id"]]
    app.get(f"/v3/projects/{root['id']}?subtree_as_list&subtree_as_ids", headers=ADMIN,
            status=400)

    listed = app.get(f"/v3/projects?parent_id={root['id']}", headers=ADMIN).json["projects"]
    assert [entry["id"] for entry in listed] == [child["id"]]
    top = app.get("/v3/projects?parent_id=default", headers=ADMIN).json["projects"]
    assert root["id"] in {entry["id"] for entry in top}
    assert child["id"] not in {entry["id"] for entry in top}


def test_hierarchy_rules_are_keystones(deployment):
    app = deployment.admin
    other = app.post_json("/v3/domains", {"domain": {"name": "other"}}, headers=ADMIN,
                          status=201).json["domain"]
    root = create(app, name="root")
    child = create(app, name="child", parent_id=root["id"])
    # a parent in another domain, an unknown parent
    app.post_json("/v3/projects", {"project": {"name": "x", "domain_id": other["id"],
                                               "parent_id": root["id"]}},
                  headers=ADMIN, status=400)
    app.post_json("/v3/projects", {"project": {"name": "x", "parent_id": "f" * 32}},
                  headers=ADMIN, status=404)
    # the parent is never changed; a parent with children is neither deleted nor disabled
    app.patch_json(f"/v3/projects/{child['id']}", {"project": {"parent_id": "default"}},
                   headers=ADMIN, status=403)
    app.patch_json(f"/v3/projects/{child['id']}", {"project": {"parent_id": root["id"],
                                                               "description": "same parent"}},
                   headers=ADMIN, status=200)
    app.delete(f"/v3/projects/{root['id']}", headers=ADMIN, status=403)
    app.patch_json(f"/v3/projects/{root['id']}", {"project": {"enabled": False}},
                   headers=ADMIN, status=403)
    app.patch_json(f"/v3/projects/{child['id']}", {"project": {"enabled": False}},
                   headers=ADMIN, status=200)
    app.patch_json(f"/v3/projects/{root['id']}", {"project": {"enabled": False}},
                   headers=ADMIN, status=200)
    # nothing enabled under a disabled project
    app.patch_json(f"/v3/projects/{child['id']}", {"project": {"enabled": True}},
                   headers=ADMIN, status=403)
    app.post_json("/v3/projects", {"project": {"name": "y", "parent_id": child["id"]}},
                  headers=ADMIN, status=400)
    app.delete(f"/v3/projects/{child['id']}", headers=ADMIN, status=204)
    app.delete(f"/v3/projects/{root['id']}", headers=ADMIN, status=204)


def test_hierarchy_depth_is_limited_as_keystones_default(deployment):
    app = deployment.admin
    parent = create(app, name="level1")
    for level in range(2, 6):
        parent = create(app, name=f"level{level}", parent_id=parent["id"])
    app.post_json("/v3/projects", {"project": {"name": "level6", "parent_id": parent["id"]}},
                  headers=ADMIN, status=403)


def test_parent_named_by_its_domain_alone_places_the_project_in_that_domain(deployment):
    app = deployment.admin
    other = app.post_json("/v3/domains", {"domain": {"name": "other"}}, headers=ADMIN,
                          status=201).json["domain"]
    top = create(app, name="top", parent_id=other["id"])
    assert (top["domain_id"], top["parent_id"]) == (other["id"], other["id"])
    below = create(app, name="below", parent_id=top["id"])
    assert below["domain_id"] == other["id"]


def test_token_scoped_to_a_child_project_works(deployment):
    app = deployment.admin
    root = create(app, name="root")
    child = create(app, name="child", parent_id=root["id"])
    add_user(deployment, "alice")
    (alice,) = app.get("/v3/users?name=alice", headers=ADMIN).json["users"]
    (member,) = app.get("/v3/roles?name=member", headers=ADMIN).json["roles"]
    app.put(f"/v3/projects/{child['id']}/users/{alice['id']}/roles/{member['id']}",
            headers=ADMIN, status=204)
    token = issue(deployment.main, "alice", "child")
    body = app.get("/v3/auth/tokens", headers=admin_headers(token)).json["token"]
    assert body["project"]["id"] == child["id"]
    # a (direct) role on the child gives nothing on its parent
    app.post_json("/v3/auth/tokens", {"auth": {"identity": {"methods": ["external"]},
                                               "scope": {"project": {"id": root["id"]}}}},
                  extra_environ=cert_environ("alice"), status=401)


def test_project_created_as_a_domain_is_a_domain(deployment):
    app = deployment.admin
    project = app.post_json("/v3/projects", {"project": {
        "name": "a-domain", "domain_id": None, "is_domain": True}}, headers=ADMIN,
        status=201).json["project"]
    assert (project["is_domain"], project["parent_id"], project["domain_id"]) == (
        True, None, None)
    domain = app.get(f"/v3/domains/{project['id']}", headers=ADMIN).json["domain"]
    assert (domain["id"], domain["name"]) == (project["id"], "a-domain")
    app.post_json("/v3/projects", {"project": {"name": "a-domain", "is_domain": True}},
                  headers=ADMIN, status=409)

    # Served under /v3/projects too, as Keystone's domains are projects.
    listed = app.get("/v3/projects?is_domain=true", headers=ADMIN).json["projects"]
    assert project in listed and "default" in {entry["id"] for entry in listed}
    assert project["id"] not in {entry["id"] for entry in app.get(
        "/v3/projects", headers=ADMIN).json["projects"]}
    assert app.get(f"/v3/projects/{project['id']}", headers=ADMIN).json["project"] == project
    app.delete(f"/v3/projects/{project['id']}", headers=ADMIN, status=403)  # still enabled
    disabled = app.patch_json(f"/v3/projects/{project['id']}", {"project": {"enabled": False}},
                              headers=ADMIN).json["project"]
    assert (disabled["enabled"], disabled["is_domain"]) == (False, True)
    app.delete(f"/v3/projects/{project['id']}", headers=ADMIN, status=204)
    app.get(f"/v3/domains/{project['id']}", headers=ADMIN, status=404)


def test_a_domain_seen_as_a_project_is_guarded_by_the_domain_rules(deployment):
    add_user(deployment, "alice", "demo", "member")
    member = {"X-Auth-Token": issue(deployment.main, "alice", "demo")}
    app = deployment.admin
    app.patch_json("/v3/projects/default", {"project": {"enabled": False}}, headers=member,
                   status=403)
    app.delete("/v3/projects/default", headers=member, status=403)
    app.get("/v3/projects?is_domain=true", headers=member, status=403)


def test_deleting_a_disabled_domain_deletes_its_project_tree_and_tags(deployment):
    app = deployment.admin
    domain = app.post_json("/v3/domains", {"domain": {"name": "tree"}}, headers=ADMIN,
                           status=201).json["domain"]
    root = create(app, name="root", domain_id=domain["id"], tags=["t"])
    child = create(app, name="child", parent_id=root["id"], tags=["t"])
    app.patch_json(f"/v3/domains/{domain['id']}", {"domain": {"enabled": False}},
                   headers=ADMIN)
    app.delete(f"/v3/domains/{domain['id']}", headers=ADMIN, status=204)
    for project in (root, child):
        app.get(f"/v3/projects/{project['id']}", headers=ADMIN, status=404)
    assert app.get("/v3/projects?tags=t", headers=ADMIN).json["projects"] == []
