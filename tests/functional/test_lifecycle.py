"""Token life cycle (issue 6 §3) for both providers: what kills a token, everywhere it is used.

A dead token must fail wherever it is presented: as the subject of v3 GET/HEAD (404, also with
``allow_expired``) and of v2.0 GET (404), as the caller's ``X-Auth-Token`` (401) and as the
parent of a rescope (401). Every test here runs for ``fernet`` and ``uuid``.

Where each case of the issue lives (``tl`` = this file):

- expiry: tl ``test_expired_token_...`` (both providers, every entry point, allow_expired);
  test_token_providers ``test_expired_tokens_are_404_for_both_providers``; test_v3_tokens
  ``test_allow_expired_validates_a_recently_expired_token``.
- DELETE: tl ``test_delete_...``; test_token_providers ``test_issued_token_validates_until_
  revoked_then_is_404`` (both); test_v3_tokens ``test_delete_revokes_then_get_head_...``;
  test_v2_tokens ``test_delete_revokes_a_token_for_v2_and_v3``.
- user disabled, re-enabled (old tokens stay dead): tl ``test_disabling_a_user_...``;
  test_identity_api ``test_disable_user_revokes_existing_tokens`` (fernet); a login racing the
  change, and a token of a node whose clock is ahead: security/test_revocation_races.
- changes that kill nothing (rename, enabling what is enabled): tl
  ``test_changes_that_kill_nothing_...``.
- user deleted: tl ``test_deleting_a_user_...``; test_identity_api
  ``test_delete_user_revokes_existing_tokens`` (fernet).
- project disabled: tl ``test_disabling_a_project_...``; test_identity_api
  ``test_disable_project_revokes_scoped_tokens``, ``..._keeps_unscoped_tokens`` (fernet).
- project deleted: tl ``test_deleting_a_project_...``; test_identity_api
  ``test_delete_project_revokes_scoped_tokens`` (fernet).
- role removed: tl ``test_removing_the_last_role_...``, ``test_removing_one_role_of_two_...``,
  ``test_deleting_the_only_role_...``; test_identity_api
  ``test_removing_last_role_on_project_revokes_scoped_token``,
  ``test_removing_one_of_two_roles_keeps_token_with_remaining_role``,
  ``test_delete_role_removes_it_from_existing_tokens`` (fernet).
- group role lost (membership removed, group deleted, group grant revoked): tl
  ``test_losing_a_group_role_...``, ``test_a_group_role_beside_a_direct_one_...``.
- inherited role lost (the inherited grant on the domain or a parent, the membership or group
  it comes through, the domain) or changed (an implication of its role removed), and a domain
  token untouched by it: test_inherited_grants_lifecycle (both providers).
- password changed: tl ``test_changing_the_password_...``, ``test_bootstrap_with_a_new_admin_
  password_...``; test_identity_api ``test_password_change_revokes_existing_tokens`` (fernet);
  an old-password login racing the change: security/test_revocation_races.
- key rotated out beyond max_active_keys: tl ``test_rotating_keys_past_max_active_keys_...``
  (fernet dies, uuid unaffected); test_token_providers
  ``test_rotating_beyond_max_active_keys_retires_the_oldest_key``,
  ``test_max_active_keys_is_honoured`` (fernet).
- rescope cannot widen scope or lifetime, keeps the audit chain: tl
  ``test_rescope_cannot_widen_...``, ``test_rescope_keeps_...``; test_v3_tokens
  ``test_rescope_*``; test_token_providers ``test_rescoped_token_keeps_expiry_and_dies_with_
  its_parent`` (both).
- revoking a parent revokes rescoped tokens: tl ``test_revoking_a_parent_...``; test_v3_tokens
  ``test_revoking_a_parent_kills_its_rescoped_children``; test_token_providers (both).
- revoking a rescoped token revokes what was rescoped from it, however deep, and spares the
  token the chain started from (R → T → U: DELETE T kills U, not R): test_v3_tokens
  ``test_revoking_a_rescoped_child_leaves_its_parent_valid``; security/test_revocation_races
  ``test_deleting_a_rescoped_token_...``, ``test_deleting_a_deep_rescope_...`` (both).
- OAuth1 delegation (access token deleted, consumer deleted, delegated role lost, user
  disabled or deleted, access token expired): test_oauth1 (both providers).
- repeated method → 400: tl ``test_a_repeated_method_...``; test_token_errors
  ``test_repeated_method_is_400``.
"""
from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from builders import (ADMIN_PASSWORD, ADMIN_TOKEN, add_user, admin_headers, assert_keystone_error,
                      external_auth, grant_role, in_store, issue, password_auth, post_token,
                      project_id, subject_headers, token_auth)
from keystone_lite.db import models

PROVIDERS = ["fernet", "uuid"]
ALICE_PASSWORD = "alice-Pa55word"
ADMIN = admin_headers()


@pytest.fixture(params=PROVIDERS)
def provider(request) -> str:
    return request.param


@pytest.fixture
def keystone(make_deployment, provider):
    """A deployment of ``provider`` where alice (password and certificate) is a member of
    ``demo``, her default project."""
    deployment = make_deployment({"token": {"provider": provider}})
    add_user(deployment, "alice", "demo", "member", password=ALICE_PASSWORD)
    return deployment


# -- builders local to these tests ---------------------------------------------------------------

def entity_id(deployment, plural: str, name: str) -> str:
    (entity,) = deployment.admin.get(f"/v3/{plural}", {"name": name},
                                     headers=ADMIN).json[plural]
    return entity["id"]


def unscoped_token(deployment, user: str = "alice") -> str:
    return post_token(deployment.main, {"auth": {"identity": {"methods": ["external"]},
                                                 "scope": "unscoped"}},
                      user=user).headers["X-Subject-Token"]


def scoped_token(deployment, scope: dict, user: str = "alice") -> str:
    return post_token(deployment.main, {"auth": {"identity": {"methods": ["external"]},
                                                 "scope": scope}},
                      user=user).headers["X-Subject-Token"]


def rescoped(deployment, parent: str, project: str | None = None, status: int = 201):
    return post_token(deployment.main, token_auth(parent, project), status=status)


def alices_tokens(deployment) -> dict[str, str]:
    """One token of each way alice can hold one."""
    unscoped = unscoped_token(deployment)
    return {
        "external, project": issue(deployment.main, "alice", "demo"),
        "external, unscoped": unscoped,
        "password, project": post_token(deployment.main, password_auth(
            "alice", ALICE_PASSWORD, "demo")).headers["X-Subject-Token"],
        "rescoped to project": rescoped(deployment, unscoped, "demo").headers["X-Subject-Token"],
    }


def validate(deployment, token: str, status: int = 200, query: str = ""):
    return deployment.admin.get(f"/v3/auth/tokens{query}", headers=subject_headers(token),
                                status=status)


def assert_alive(deployment, token: str) -> dict:
    return validate(deployment, token).json["token"]


def assert_dead(deployment, token: str) -> None:
    """Refused wherever a token is accepted (see the module docstring)."""
    admin, main = deployment.admin, deployment.main
    assert_keystone_error(validate(deployment, token, status=404), 404)
    admin.head("/v3/auth/tokens", headers=subject_headers(token), status=404)
    validate(deployment, token, status=404, query="?allow_expired=1")
    admin.get(f"/v2.0/tokens/{token}", headers={"X-Auth-Token": ADMIN_TOKEN}, status=404)
    caller = main.get("/v3/auth/projects", headers={"X-Auth-Token": token}, status=401)
    assert caller.headers["WWW-Authenticate"].startswith('Keystone uri="')
    assert_keystone_error(rescoped(deployment, token, status=401), 401)


def set_enabled(deployment, plural: str, key: str, entity: str, enabled: bool) -> None:
    deployment.admin.patch_json(f"/v3/{plural}/{entity}", {key: {"enabled": enabled}},
                                headers=ADMIN)


def grant_url(kind: str, target: str, user: str, role: str) -> str:
    prefix = "/v3/system" if kind == "system" else f"/v3/{kind}/{target}"
    return f"{prefix}/users/{user}/roles/{role}"


def stored_tokens(deployment) -> int:
    return in_store(deployment, lambda session: session.scalar(
        select(func.count()).select_from(models.Token)))


# -- expiry and DELETE -----------------------------------------------------------------------------

def test_expired_token_is_dead_everywhere_but_allow_expired_and_a_revoked_one_even_there(
        make_deployment):
    deployments, tokens = {}, {}
    for provider in PROVIDERS:  # one sleep for both providers
        deployment = deployments[provider] = make_deployment(
            {"token": {"provider": provider, "expiration": "1"}})
        add_user(deployment, "alice", "demo", "member")
        tokens[provider] = issue(deployment.main, "alice", "demo"), issue(
            deployment.main, "alice", "demo")
        deployment.admin.delete("/v3/auth/tokens", headers=subject_headers(tokens[provider][1]),
                                status=204)

    time.sleep(1.05)

    for provider, deployment in deployments.items():
        expired, revoked = tokens[provider]
        assert_keystone_error(validate(deployment, expired, status=404), 404)
        deployment.admin.get(f"/v2.0/tokens/{expired}", headers=ADMIN, status=404)
        deployment.main.get("/v3/auth/projects", headers={"X-Auth-Token": expired}, status=401)
        rescoped(deployment, expired, status=401)
        # allow_expired shows an expired token to a validating service, and nothing else...
        assert validate(deployment, expired, query="?allow_expired=1").json["token"]
        # ...and never one that was revoked.
        validate(deployment, revoked, status=404, query="?allow_expired=1")


def test_delete_kills_the_token_everywhere_and_only_that_token(keystone):
    tokens = alices_tokens(keystone)
    victim = tokens.pop("external, project")

    keystone.admin.delete("/v3/auth/tokens", headers=subject_headers(victim), status=204)

    assert_dead(keystone, victim)
    keystone.admin.delete("/v3/auth/tokens", headers=subject_headers(victim), status=404)
    for token in tokens.values():
        assert_alive(keystone, token)


# -- users -----------------------------------------------------------------------------------------

def test_disabling_a_user_kills_every_token_and_re_enabling_revives_none(keystone):
    tokens = alices_tokens(keystone)
    alice = entity_id(keystone, "users", "alice")

    set_enabled(keystone, "users", "user", alice, False)
    for token in tokens.values():
        assert_dead(keystone, token)
    post_token(keystone.main, external_auth("demo"), user="alice", status=401)

    set_enabled(keystone, "users", "user", alice, True)
    for token in tokens.values():
        assert_dead(keystone, token)
    assert_alive(keystone, issue(keystone.main, "alice", "demo"))


def test_deleting_a_user_kills_every_token_and_a_namesake_inherits_none(keystone):
    tokens = alices_tokens(keystone)

    keystone.admin.delete(f"/v3/users/{entity_id(keystone, 'users', 'alice')}",
                          headers=ADMIN, status=204)
    for token in tokens.values():
        assert_dead(keystone, token)

    add_user(keystone, "alice", "demo", "member", password=ALICE_PASSWORD)  # a new alice
    for token in tokens.values():
        assert_dead(keystone, token)
    assert_alive(keystone, issue(keystone.main, "alice", "demo"))


def test_changing_the_password_kills_password_tokens(keystone):
    password = post_token(keystone.main, password_auth("alice", ALICE_PASSWORD, "demo")
                          ).headers["X-Subject-Token"]
    child = rescoped(keystone, password).headers["X-Subject-Token"]

    keystone.admin.patch_json(f"/v3/users/{entity_id(keystone, 'users', 'alice')}",
                              {"user": {"password": "new-Pa55word"}}, headers=ADMIN)

    assert_dead(keystone, password)
    assert_dead(keystone, child)
    post_token(keystone.main, password_auth("alice", ALICE_PASSWORD), status=401)
    assert_alive(keystone, post_token(keystone.main, password_auth(
        "alice", "new-Pa55word", "demo")).headers["X-Subject-Token"])


def test_changes_that_kill_nothing_keep_every_token(keystone):
    """Renaming, or "enabling" a user or project that is enabled, is no reason to log out."""
    tokens = alices_tokens(keystone)
    alice, demo = entity_id(keystone, "users", "alice"), entity_id(keystone, "projects", "demo")

    keystone.admin.patch_json(f"/v3/users/{alice}", {"user": {"enabled": True, "name": "alicia",
                                                               "description": "x"}},
                              headers=ADMIN)
    set_enabled(keystone, "projects", "project", demo, True)

    for token in tokens.values():
        assert_alive(keystone, token)


def test_bootstrap_with_a_new_admin_password_kills_the_admins_tokens(keystone):
    token = post_token(keystone.main, password_auth("admin", ADMIN_PASSWORD, "admin")
                       ).headers["X-Subject-Token"]

    keystone.cli("bootstrap", "--bootstrap-password", ADMIN_PASSWORD)  # an idempotent re-run
    assert_alive(keystone, token)
    keystone.cli("bootstrap", "--bootstrap-password", "another-Pa55word")

    assert_dead(keystone, token)
    post_token(keystone.main, password_auth("admin", "another-Pa55word", "admin"))


# -- projects --------------------------------------------------------------------------------------

def test_disabling_a_project_kills_its_tokens_and_re_enabling_revives_none(keystone):
    tokens = alices_tokens(keystone)
    unscoped = tokens.pop("external, unscoped")
    demo = entity_id(keystone, "projects", "demo")

    set_enabled(keystone, "projects", "project", demo, False)
    for token in tokens.values():
        assert_dead(keystone, token)
    assert_alive(keystone, unscoped)
    rescoped(keystone, unscoped, "demo", status=401)

    set_enabled(keystone, "projects", "project", demo, True)
    for token in tokens.values():
        assert_dead(keystone, token)
    assert_alive(keystone, issue(keystone.main, "alice", "demo"))


def test_deleting_a_project_kills_its_tokens_and_a_namesake_inherits_none(keystone):
    tokens = alices_tokens(keystone)
    unscoped = tokens.pop("external, unscoped")

    keystone.admin.delete(f"/v3/projects/{entity_id(keystone, 'projects', 'demo')}",
                          headers=ADMIN, status=204)
    for token in tokens.values():
        assert_dead(keystone, token)
    assert_alive(keystone, unscoped)

    new_demo = keystone.admin.post_json("/v3/projects", {"project": {"name": "demo"}},
                                        headers=ADMIN, status=201).json["project"]["id"]
    grant_role(keystone, "alice", "project", new_demo, "member")
    for token in tokens.values():
        assert_dead(keystone, token)
    assert assert_alive(keystone, issue(keystone.main, "alice", "demo"))["project"]["id"] == \
        new_demo


# -- roles -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["projects", "domains", "system"])
def test_removing_the_last_role_kills_scoped_tokens(keystone, kind):
    targets = {"projects": project_id(keystone, "demo"), "domains": "default", "system": "all"}
    scopes = {"projects": {"project": {"id": targets["projects"]}},
              "domains": {"domain": {"id": "default"}}, "system": {"system": {"all": True}}}
    if kind != "projects":
        grant_role(keystone, "alice", kind.rstrip("s"), targets[kind], "member")
    token = scoped_token(keystone, scopes[kind])
    unscoped = unscoped_token(keystone)
    assert [role["name"] for role in assert_alive(keystone, token)["roles"]] == ["member", "reader"]

    keystone.admin.delete(grant_url(kind, targets[kind], entity_id(keystone, "users", "alice"),
                                    entity_id(keystone, "roles", "member")),
                          headers=ADMIN, status=204)

    assert_dead(keystone, token)
    assert_alive(keystone, unscoped)
    post_token(keystone.main, {"auth": {"identity": {"methods": ["external"]},
                                        "scope": scopes[kind]}}, user="alice", status=401)


# -- groups (issue 11): what a user holds through a group goes with the membership or grant --

def bob_in_a_group_holding_member_on_demo(keystone) -> dict:
    """bob (certificate user, no role of his own) in the group devs, which holds member on
    demo; returns the ids and the URLs that take it away."""
    app = keystone.admin
    add_user(keystone, "bob")
    bob = entity_id(keystone, "users", "bob")
    group = app.post_json("/v3/groups", {"group": {"name": "devs"}}, headers=ADMIN,
                          status=201).json["group"]["id"]
    app.put(f"/v3/groups/{group}/users/{bob}", headers=ADMIN, status=204)
    grant = (f"/v3/projects/{project_id(keystone, 'demo')}/groups/{group}/roles/"
             f"{entity_id(keystone, 'roles', 'member')}")
    app.put(grant, headers=ADMIN, status=204)
    return {"membership": f"/v3/groups/{group}/users/{bob}", "group": f"/v3/groups/{group}",
            "grant": grant}


@pytest.mark.parametrize("removed", ["membership", "group", "grant"])
def test_losing_a_group_role_kills_the_members_scoped_tokens(keystone, removed):
    urls = bob_in_a_group_holding_member_on_demo(keystone)
    token = issue(keystone.main, "bob", "demo")
    unscoped = unscoped_token(keystone, "bob")
    # Validated once before the change: the answer is in this process's caches.
    assert [role["name"] for role in assert_alive(keystone, token)["roles"]] == [
        "member", "reader"]  # member ⇒ reader (bootstrap's rule)

    keystone.admin.delete(urls[removed], headers=ADMIN, status=204)

    assert_dead(keystone, token)
    assert_alive(keystone, unscoped)
    post_token(keystone.main, external_auth("demo"), user="bob", status=401)


def test_a_group_role_beside_a_direct_one_leaves_the_token_with_the_direct_one(keystone):
    urls = bob_in_a_group_holding_member_on_demo(keystone)
    grant_role(keystone, "bob", "project", project_id(keystone, "demo"), "reader")
    token = issue(keystone.main, "bob", "demo")
    assert [role["name"] for role in assert_alive(keystone, token)["roles"]] == [
        "member", "reader"]

    keystone.admin.delete(urls["membership"], headers=ADMIN, status=204)

    assert [role["name"] for role in assert_alive(keystone, token)["roles"]] == ["reader"]


def test_removing_one_role_of_two_leaves_the_token_with_the_other(keystone):
    token = issue(keystone.main, "alice", "demo")
    alice, demo = entity_id(keystone, "users", "alice"), project_id(keystone, "demo")
    keystone.admin.put(grant_url("projects", demo, alice, entity_id(keystone, "roles", "reader")),
                       headers=ADMIN, status=204)

    keystone.admin.delete(grant_url("projects", demo, alice,
                                    entity_id(keystone, "roles", "member")),
                          headers=ADMIN, status=204)

    assert [role["name"] for role in assert_alive(keystone, token)["roles"]] == ["reader"]
    # The role is gone from what the token lets its holder do, not only from its body.
    access = keystone.admin.get(f"/v2.0/tokens/{token}", headers=ADMIN).json["access"]
    assert [role["name"] for role in access["user"]["roles"]] == ["reader"]


def test_deleting_the_only_role_kills_tokens_that_relied_on_it(keystone):
    token = issue(keystone.main, "alice", "demo")
    auditor = keystone.admin.post_json("/v3/roles", {"role": {"name": "auditor"}},
                                       headers=ADMIN, status=201).json["role"]["id"]
    alice, demo = entity_id(keystone, "users", "alice"), project_id(keystone, "demo")
    keystone.admin.put(grant_url("projects", demo, alice, auditor), headers=ADMIN, status=204)
    keystone.admin.delete(grant_url("projects", demo, alice,
                                    entity_id(keystone, "roles", "member")),
                          headers=ADMIN, status=204)
    assert [role["name"] for role in assert_alive(keystone, token)["roles"]] == ["auditor"]

    keystone.admin.delete(f"/v3/roles/{auditor}", headers=ADMIN, status=204)

    assert_dead(keystone, token)


# -- implied roles ---------------------------------------------------------------------------------

def role_names(deployment, token: str) -> list[str]:
    return [role["name"] for role in assert_alive(deployment, token)["roles"]]


def test_adding_and_deleting_an_implication_rule_changes_existing_tokens(keystone):
    token = issue(keystone.main, "alice", "demo")
    assert role_names(keystone, token) == ["member", "reader"]  # bootstrap's member ⇒ reader
    auditor = keystone.admin.post_json("/v3/roles", {"role": {"name": "auditor"}},
                                       headers=ADMIN, status=201).json["role"]["id"]
    rule = f"/v3/roles/{entity_id(keystone, 'roles', 'member')}/implies/{auditor}"

    keystone.admin.put(rule, headers=ADMIN, status=201)
    assert role_names(keystone, token) == ["member", "auditor", "reader"]
    keystone.admin.delete(rule, headers=ADMIN, status=204)
    assert role_names(keystone, token) == ["member", "reader"]
    access = keystone.admin.get(f"/v2.0/tokens/{token}", headers=ADMIN).json["access"]
    assert [role["name"] for role in access["user"]["roles"]] == ["member", "reader"]


def test_deleting_an_implied_role_takes_it_from_existing_tokens(keystone):
    token = issue(keystone.main, "alice", "demo")
    auditor = keystone.admin.post_json("/v3/roles", {"role": {"name": "auditor"}},
                                       headers=ADMIN, status=201).json["role"]["id"]
    keystone.admin.put(f"/v3/roles/{entity_id(keystone, 'roles', 'reader')}/implies/{auditor}",
                       headers=ADMIN, status=201)
    assert role_names(keystone, token) == ["member", "reader", "auditor"]

    keystone.admin.delete(f"/v3/roles/{auditor}", headers=ADMIN, status=204)

    assert role_names(keystone, token) == ["member", "reader"]


def test_deleting_the_rule_a_domain_role_held_its_token_by_kills_the_token(keystone):
    """A domain-specific role stands only for what it implies: without its rule, nothing."""
    alice, demo = entity_id(keystone, "users", "alice"), project_id(keystone, "demo")
    local = keystone.admin.post_json("/v3/roles", {"role": {"name": "local",
                                                            "domain_id": "default"}},
                                     headers=ADMIN, status=201).json["role"]["id"]
    rule = f"/v3/roles/{local}/implies/{entity_id(keystone, 'roles', 'reader')}"
    keystone.admin.put(rule, headers=ADMIN, status=201)
    keystone.admin.put(grant_url("projects", demo, alice, local), headers=ADMIN, status=204)
    keystone.admin.delete(grant_url("projects", demo, alice,
                                    entity_id(keystone, "roles", "member")),
                          headers=ADMIN, status=204)
    token = issue(keystone.main, "alice", "demo")
    assert role_names(keystone, token) == ["reader"]

    keystone.admin.delete(rule, headers=ADMIN, status=204)

    assert_dead(keystone, token)


# -- keys ------------------------------------------------------------------------------------------

def test_rotating_keys_past_max_active_keys_kills_fernet_tokens_only(keystone, provider):
    tokens = alices_tokens(keystone)

    keystone.cli("fernet_rotate")  # max_active_keys = 3: the signing key is still active
    for token in tokens.values():
        assert_alive(keystone, token)
    keystone.cli("fernet_rotate")  # now it is purged

    for token in tokens.values():
        if provider == "fernet":
            assert_dead(keystone, token)
        else:  # uuid tokens are rows in the database: keys play no part
            assert_alive(keystone, token)
    assert_alive(keystone, issue(keystone.main, "alice", "demo"))


# -- rescoping -------------------------------------------------------------------------------------

WIDENINGS = {
    "project to another project": ({"project": "demo"}, {"project": "admin"}),
    "project to its domain": ({"project": "demo"}, {"domain": "default"}),
    "project to the system": ({"project": "demo"}, {"system": "all"}),
    "domain to a project": ({"domain": "default"}, {"project": "admin"}),
    "system to a project": ({"system": "all"}, {"project": "admin"}),
}


def scope_document(deployment, scope: dict) -> dict:
    (kind, name), = scope.items()
    if kind == "project":
        return {"project": {"id": project_id(deployment, name)}}
    return {"domain": {"id": name}} if kind == "domain" else {"system": {"all": True}}


@pytest.mark.parametrize("start, wider", WIDENINGS.values(), ids=WIDENINGS.keys())
def test_rescope_cannot_widen_the_scope(keystone, start, wider):
    """alice holds a role on every scope involved: only the token's own scope limits it."""
    grant_role(keystone, "alice", "project", project_id(keystone, "admin"), "member")
    grant_role(keystone, "alice", "domain", "default", "member")
    grant_role(keystone, "alice", "system", "all", "reader")
    token = scoped_token(keystone, scope_document(keystone, start))
    body = token_auth(token)
    body["auth"]["scope"] = scope_document(keystone, wider)

    assert_keystone_error(post_token(keystone.main, body, status=403), 403)


def test_rescope_cannot_widen_the_scope_by_way_of_an_unscoped_token(keystone):
    """demo → unscoped → admin would turn a token of demo into one of admin."""
    grant_role(keystone, "alice", "project", project_id(keystone, "admin"), "member")
    demo_token = issue(keystone.main, "alice", "demo")
    body = token_auth(demo_token)
    body["auth"]["scope"] = "unscoped"
    dropped = post_token(keystone.main, body).headers["X-Subject-Token"]

    for project in ("admin", "demo"):  # a scope, once given up, is not regained either
        response = rescoped(keystone, dropped, project, status=403)
        assert "rescope" in assert_keystone_error(response, 403)["message"]
    # The token it came from, and a fresh login, still give what alice may have.
    assert_alive(keystone, demo_token)
    assert_alive(keystone, issue(keystone.main, "alice", "admin"))


def test_rescope_keeps_the_lifetime_and_the_audit_chain_down_the_chain(keystone):
    root = post_token(keystone.main, {"auth": {"identity": {"methods": ["external"]},
                                               "scope": "unscoped"}}, user="alice")
    child = rescoped(keystone, root.headers["X-Subject-Token"], "demo")
    time.sleep(0.01)  # a later grandchild would expire later if lifetimes were renewed
    grandchild = rescoped(keystone, child.headers["X-Subject-Token"])

    bodies = [response.json["token"] for response in (root, child, grandchild)]
    root_audit = bodies[0]["audit_ids"][0]
    assert {body["expires_at"] for body in bodies} == {bodies[0]["expires_at"]}
    assert bodies[1]["audit_ids"][1:] == [root_audit]
    assert bodies[2]["audit_ids"][1:] == [root_audit]
    assert len({body["audit_ids"][0] for body in bodies}) == 3
    validated = assert_alive(keystone, grandchild.headers["X-Subject-Token"])
    assert (validated["expires_at"], validated["audit_ids"]) == (bodies[2]["expires_at"],
                                                                 bodies[2]["audit_ids"])


@pytest.mark.parametrize("revoke_with", ["v3", "v2.0"])
def test_revoking_a_parent_kills_every_token_rescoped_from_it(keystone, revoke_with):
    root = unscoped_token(keystone)
    child = rescoped(keystone, root, "demo").headers["X-Subject-Token"]
    grandchild = rescoped(keystone, child).headers["X-Subject-Token"]
    other = issue(keystone.main, "alice", "demo")  # another chain of the same user

    if revoke_with == "v3":
        keystone.admin.delete("/v3/auth/tokens", headers=subject_headers(root), status=204)
    else:
        keystone.admin.delete(f"/v2.0/tokens/{root}", headers=ADMIN, status=204)

    for token in (root, child, grandchild):
        assert_dead(keystone, token)
    assert_alive(keystone, other)


# -- repeated methods ------------------------------------------------------------------------------

@pytest.mark.parametrize("methods", [
    ["external", "external"], ["password", "password"], ["token", "token"],
    ["token", "external", "token"], ["external"] * 5000,  # 60 kB, under the body limit
], ids=["external", "password", "token", "token-external-token", "external-5000"])
def test_a_repeated_method_is_400_and_issues_nothing(keystone, methods):
    """OSSA-2014-013: each repetition cost a full authentication; here none is tried."""
    parent = unscoped_token(keystone)
    identity = {**password_auth("alice", ALICE_PASSWORD)["auth"]["identity"],
                "methods": methods, "token": {"id": parent}}
    before = stored_tokens(keystone)

    response = post_token(keystone.main, {"auth": {"identity": identity}}, user="alice",
                          status=400)

    assert "repeated" in assert_keystone_error(response, 400)["message"]
    assert "X-Subject-Token" not in response.headers
    assert stored_tokens(keystone) == before
