"""Implied roles and domain-specific roles, checked against Keystone 30's recorded answers
(``../shared/keystone-golden-next/implied-*.json``): the rules' API, Keystone's refusals,
tokens and ``?effective`` assignments carrying implied roles and never domain-specific ones."""
from __future__ import annotations

import pytest

from builders import (add_user, admin_headers, assert_like_keystone, golden, issue, post_token,
                      project_id)

ADMIN = admin_headers()


def role(app, name: str, **fields) -> str:
    return app.post_json("/v3/roles", {"role": {"name": name, **fields}}, headers=ADMIN,
                         status=201).json["role"]["id"]


def role_id(app, name: str) -> str:
    (found,) = app.get("/v3/roles", {"name": name}, headers=ADMIN).json["roles"]
    return found["id"]


def user_id(app, name: str) -> str:
    (found,) = app.get("/v3/users", {"name": name}, headers=ADMIN).json["users"]
    return found["id"]


def token_roles(deployment, token: str) -> list[str]:
    body = deployment.admin.get("/v3/auth/tokens", headers=admin_headers(token)).json
    return [entry["name"] for entry in body["token"]["roles"]]


# -- the rules' API ----------------------------------------------------------------------------

def test_implied_role_put_get_head_list_and_delete_answer_as_keystone(deployment):
    app = deployment.admin
    created = app.post_json("/v3/roles", {"role": {"name": "golden-prior",
                                                   "description": "implies golden-implied"}},
                            headers=ADMIN)
    assert_like_keystone(created, "implied-role-create.json")
    assert created.json["role"]["domain_id"] is None
    prior, implied = created.json["role"]["id"], role(app, "golden-implied")
    url = f"/v3/roles/{prior}/implies/{implied}"

    put = app.put(url, headers=ADMIN, status=201)
    assert_like_keystone(put, "implied-put.json")
    _status, body, _headers = golden("implied-put.json")
    assert put.json["role_inference"]["prior_role"].keys() == \
        body["role_inference"]["prior_role"].keys()
    assert put.json["role_inference"]["implies"]["name"] == "golden-implied"
    assert put.json["links"]["self"].endswith(url)
    app.put(url, headers=ADMIN, status=201)  # again: idempotent

    assert_like_keystone(app.get(url, headers=ADMIN), "implied-get.json")
    assert_like_keystone(app.head(url, headers=ADMIN), "implied-head.json")
    listed = app.get(f"/v3/roles/{prior}/implies", headers=ADMIN)
    assert_like_keystone(listed, "implied-list-prior.json")
    assert [entry["id"] for entry in listed.json["role_inference"]["implies"]] == [implied]

    inferences = app.get("/v3/role_inferences", headers=ADMIN)
    assert_like_keystone(inferences, "implied-role-inferences.json")
    rules = {entry["prior_role"]["name"]: [role_["name"] for role_ in entry["implies"]]
             for entry in inferences.json["role_inferences"]}
    # Bootstrap's persona chain, as keystone-manage bootstrap makes it, and the new rule.
    assert rules == {"admin": ["manager"], "manager": ["member"], "member": ["reader"],
                     "golden-prior": ["golden-implied"]}

    app.delete(url, headers=ADMIN, status=204)
    for method in (app.get, app.head, app.delete):
        method(url, headers=ADMIN, status=404)
    assert app.get(f"/v3/roles/{prior}/implies", headers=ADMIN).json[
        "role_inference"]["implies"] == []


def test_implying_admin_is_403_as_keystone(deployment):
    app = deployment.admin
    prior = role(app, "golden-prior")
    response = app.put(f"/v3/roles/{prior}/implies/{role_id(app, 'admin')}", headers=ADMIN,
                       status=403)
    assert_like_keystone(response, "implied-put-prohibited-admin.json")
    _status, body, _headers = golden("implied-put-prohibited-admin.json")
    assert response.json["error"]["message"] == body["error"]["message"].replace(
        body["error"]["message"].split()[0], role_id(app, "admin"))


def test_rules_that_would_close_a_cycle_or_imply_a_domain_role_from_a_global_one_are_403(
        deployment):
    app = deployment.admin
    first, second = role(app, "first"), role(app, "second")
    app.put(f"/v3/roles/{first}/implies/{second}", headers=ADMIN, status=201)
    app.put(f"/v3/roles/{second}/implies/{first}", headers=ADMIN, status=403)
    app.put(f"/v3/roles/{first}/implies/{first}", headers=ADMIN, status=403)
    # reader ⇒ ... ⇒ admin would close bootstrap's chain (admin is refused anyway).
    app.put(f"/v3/roles/{role_id(app, 'reader')}/implies/{role_id(app, 'manager')}",
            headers=ADMIN, status=403)
    local = role(app, "local", domain_id="default")
    app.put(f"/v3/roles/{first}/implies/{local}", headers=ADMIN, status=403)
    app.put(f"/v3/roles/{local}/implies/{first}", headers=ADMIN, status=201)
    # A domain role may imply another domain's role (Tempest's test_implied_domain_roles).
    other = app.post_json("/v3/domains", {"domain": {"name": "other"}}, headers=ADMIN,
                          status=201).json["domain"]["id"]
    app.put(f"/v3/roles/{local}/implies/{role(app, 'far', domain_id=other)}", headers=ADMIN,
            status=201)


@pytest.mark.parametrize("path", ["/v3/roles/{missing}/implies/{member}",
                                  "/v3/roles/{member}/implies/{missing}",
                                  "/v3/roles/{missing}/implies"])
def test_rules_of_missing_roles_are_404(deployment, path):
    app = deployment.admin
    url = path.format(missing="no-such-role", member=role_id(app, "member"))
    for method in ("PUT", "GET", "DELETE") if url.count("/") > 4 else ("GET",):
        response = app.request(url, method=method, headers=ADMIN, expect_errors=True)
        assert response.status_int == 404, (method, url)
        assert response.json["error"]["message"] == "Could not find role: no-such-role."


# -- domain-specific roles ---------------------------------------------------------------------

def test_domain_roles_are_created_listed_by_domain_and_named_per_domain(deployment):
    app = deployment.admin
    created = app.post_json("/v3/roles", {"role": {"name": "golden-domain-role",
                                                   "domain_id": "default"}}, headers=ADMIN)
    assert_like_keystone(created, "implied-domain-role-create.json")
    local = created.json["role"]
    assert local["domain_id"] == "default"
    assert app.get(f"/v3/roles/{local['id']}", headers=ADMIN).json["role"] == local

    listed = app.get("/v3/roles?domain_id=default", headers=ADMIN)
    assert_like_keystone(listed, "implied-domain-role-list.json")
    assert listed.json["roles"] == [local]
    # Without ?domain_id: global roles only, as Keystone.
    assert "golden-domain-role" not in [entry["name"] for entry in app.get(
        "/v3/roles", headers=ADMIN).json["roles"]]

    # The same name: a global role, or another domain's, but not twice in one domain.
    role(app, "golden-domain-role")
    app.post_json("/v3/roles", {"role": {"name": "golden-domain-role"}}, headers=ADMIN,
                  status=409)
    other = app.post_json("/v3/domains", {"domain": {"name": "other"}}, headers=ADMIN,
                          status=201).json["domain"]["id"]
    role(app, "golden-domain-role", domain_id=other)
    conflict = app.post_json("/v3/roles", {"role": {"name": "golden-domain-role",
                                                    "domain_id": "default"}},
                             headers=ADMIN, status=409)
    assert conflict.json["error"]["message"].endswith(
        "Duplicate entry found with name golden-domain-role at domain ID default.")
    app.post_json("/v3/roles", {"role": {"name": "x", "domain_id": "no-such-domain"}},
                  headers=ADMIN, status=400)
    app.patch_json(f"/v3/roles/{local['id']}", {"role": {"domain_id": other}},
                   headers=ADMIN, status=400)


def test_deleting_a_domain_deletes_its_roles_and_their_rules(deployment):
    app = deployment.admin
    other = app.post_json("/v3/domains", {"domain": {"name": "other"}}, headers=ADMIN,
                          status=201).json["domain"]["id"]
    doomed = role(app, "doomed", domain_id=other)
    app.put(f"/v3/roles/{doomed}/implies/{role_id(app, 'member')}", headers=ADMIN, status=201)
    app.patch_json(f"/v3/domains/{other}", {"domain": {"enabled": False}}, headers=ADMIN)
    app.delete(f"/v3/domains/{other}", headers=ADMIN, status=204)
    app.get(f"/v3/roles/{doomed}", headers=ADMIN, status=404)
    assert doomed not in repr(app.get("/v3/role_inferences", headers=ADMIN).json)


def test_a_domain_role_is_granted_only_inside_its_domain(deployment):
    app = deployment.admin
    add_user(deployment, "granted", "granted-proj", "reader")
    alice, proj = user_id(app, "granted"), project_id(deployment, "granted-proj")
    other = app.post_json("/v3/domains", {"domain": {"name": "other"}}, headers=ADMIN,
                          status=201).json["domain"]["id"]
    foreign, local = role(app, "foreign", domain_id=other), role(app, "local",
                                                                  domain_id="default")
    app.put(f"/v3/projects/{proj}/users/{alice}/roles/{foreign}", headers=ADMIN, status=403)
    app.put(f"/v3/domains/default/users/{alice}/roles/{foreign}", headers=ADMIN, status=403)
    app.put(f"/v3/system/users/{alice}/roles/{local}", headers=ADMIN, status=400)
    app.put(f"/v3/projects/{proj}/users/{alice}/roles/{local}", headers=ADMIN, status=204)
    app.put(f"/v3/domains/{other}/users/{alice}/roles/{foreign}", headers=ADMIN, status=204)


# -- effects: tokens and ?effective ----------------------------------------------------------

def test_token_carries_implied_roles_transitively_and_never_a_domain_role(deployment):
    app = deployment.admin
    add_user(deployment, "implied-user", "implied-proj", "reader")
    prior, implied = role(app, "golden-prior"), role(app, "golden-implied")
    local, hidden = role(app, "local", domain_id="default"), role(app, "hidden")
    app.put(f"/v3/roles/{prior}/implies/{implied}", headers=ADMIN, status=201)
    app.put(f"/v3/roles/{local}/implies/{hidden}", headers=ADMIN, status=201)
    alice, proj = user_id(app, "implied-user"), project_id(deployment, "implied-proj")
    for granted in (prior, local):
        app.put(f"/v3/projects/{proj}/users/{alice}/roles/{granted}", headers=ADMIN,
                status=204)

    token = issue(deployment.main, "implied-user", "implied-proj")
    _status, body, _headers = golden("implied-token-expanded.json")
    assert [entry["name"] for entry in body["token"]["roles"]] == ["golden-prior",
                                                                   "golden-implied"]
    assert token_roles(deployment, token) == ["golden-prior", "reader", "golden-implied",
                                              "hidden"]
    access = app.get(f"/v2.0/tokens/{token}", headers=ADMIN).json["access"]
    assert [entry["name"] for entry in access["user"]["roles"]] == [
        "golden-prior", "reader", "golden-implied", "hidden"]


def test_a_scope_where_only_a_domain_role_implying_nothing_is_held_gives_no_token(deployment):
    app = deployment.admin
    add_user(deployment, "lonely", "lonely-proj", "reader")
    alice, proj = user_id(app, "lonely"), project_id(deployment, "lonely-proj")
    local = role(app, "local", domain_id="default")
    app.put(f"/v3/projects/{proj}/users/{alice}/roles/{local}", headers=ADMIN, status=204)
    app.delete(f"/v3/projects/{proj}/users/{alice}/roles/{role_id(app, 'reader')}",
               headers=ADMIN, status=204)
    post_token(deployment.main, {"auth": {"identity": {"methods": ["external"]},
                                          "scope": {"project": {"id": proj}}}},
               user="lonely", status=401)


def test_effective_role_assignments_expand_implied_roles_with_prior_role_links(deployment):
    app = deployment.admin
    add_user(deployment, "eff", "eff-proj", "manager")
    alice, proj = user_id(app, "eff"), project_id(deployment, "eff-proj")
    local, extra = role(app, "local", domain_id="default"), role(app, "extra")
    app.put(f"/v3/roles/{local}/implies/{extra}", headers=ADMIN, status=201)
    app.put(f"/v3/projects/{proj}/users/{alice}/roles/{local}", headers=ADMIN, status=204)
    names = {entry["id"]: entry["name"] for entry in app.get("/v3/roles", headers=ADMIN).json[
        "roles"]}

    direct = app.get("/v3/role_assignments", {"user.id": alice}, headers=ADMIN).json[
        "role_assignments"]
    assert sorted(names.get(entry["role"]["id"], "local") for entry in direct) == [
        "local", "manager"]

    effective = app.get("/v3/role_assignments", {"user.id": alice, "effective": ""},
                        headers=ADMIN).json["role_assignments"]
    by_name = {names[entry["role"]["id"]]: entry for entry in effective}
    assert sorted(by_name) == ["extra", "manager", "member", "reader"]  # never "local"
    assert "prior_role" not in by_name["manager"]["links"]
    base = direct[0]["links"]["assignment"].split("/projects/")[0]
    member = by_name["member"]["links"]
    # Keystone's spelling: /prior_role/{implied role}/implies/{the role implying it}.
    assert member["prior_role"] == \
        f"{base}/prior_role/{role_id(app, 'member')}/implies/{role_id(app, 'manager')}"
    assert member["assignment"] == \
        f"{base}/projects/{proj}/users/{alice}/roles/{role_id(app, 'manager')}"
    assert by_name["reader"]["links"]["prior_role"] == \
        f"{base}/prior_role/{role_id(app, 'reader')}/implies/{role_id(app, 'member')}"
    assert by_name["extra"]["links"]["prior_role"] == f"{base}/prior_role/{extra}/implies/{local}"

    only_reader = app.get("/v3/role_assignments", {"user.id": alice, "effective": "",
                                                   "role.id": role_id(app, "reader")},
                          headers=ADMIN).json["role_assignments"]
    assert [entry["role"]["id"] for entry in only_reader] == [role_id(app, "reader")]
