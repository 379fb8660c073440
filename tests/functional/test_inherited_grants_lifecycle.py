"""Inherited grants (OS-INHERIT) in the token life cycle, for both providers, with the fixtures
and checks of test_lifecycle: a project token that holds its roles only by inheritance dies at
its next validation once what the inheritance rests on goes (the inherited grant on the domain
or on a parent project, the membership of the group holding it, the group, the domain), and
changes to what such a grant stands for (implied roles) show at the next validation too."""
from __future__ import annotations

import pytest

from builders import add_user, post_token
from test_lifecycle import (ADMIN, PROVIDERS, assert_alive, assert_dead, entity_id, role_names,
                            scoped_token, unscoped_token)


@pytest.fixture(params=PROVIDERS)
def keystone(request, make_deployment):
    return make_deployment({"token": {"provider": request.param}})


def carol_in_acme(keystone) -> dict:
    """carol (certificate user of the default domain, no role) in the group heirs; the domain
    acme with the project top and leaf under it."""
    app = keystone.admin
    add_user(keystone, "carol")

    def create(plural, **fields):
        return app.post_json(f"/v3/{plural}", {plural[:-1]: fields}, headers=ADMIN,
                             status=201).json[plural[:-1]]["id"]
    acme = create("domains", name="acme")
    top = create("projects", name="top", domain_id=acme)
    world = {"acme": acme, "top": top,
             "leaf": create("projects", name="leaf", domain_id=acme, parent_id=top),
             "heirs": create("groups", name="heirs", domain_id=acme),
             "carol": entity_id(keystone, "users", "carol"),
             "member": entity_id(keystone, "roles", "member")}
    app.put(f"/v3/groups/{world['heirs']}/users/{world['carol']}", headers=ADMIN, status=204)
    return world


def inherited(world, target: str, actor: str, role: str = "member") -> str:
    kind = "domains" if target == "acme" else "projects"
    actor_id = world["carol"] if actor == "users" else world["heirs"]
    return (f"/v3/OS-INHERIT/{kind}/{world[target]}/{actor}/{actor_id}/roles/"
            f"{world.get(role, role)}/inherited_to_projects")


def leaf_token(keystone, world) -> str:
    return scoped_token(keystone, {"project": {"id": world["leaf"]}}, user="carol")


# What carol holds member on leaf by (the grant made), and what takes it away.
REMOVALS = {
    "the domain's user grant": ("acme", "users", "grant"),
    "the parent's user grant": ("top", "users", "grant"),
    "the domain's group grant": ("acme", "groups", "grant"),
    "the membership": ("top", "groups", "membership"),
    "the group": ("acme", "groups", "group"),
    "the domain": ("acme", "users", "domain"),
}


@pytest.mark.parametrize("source, actor, removed", REMOVALS.values(), ids=REMOVALS.keys())
def test_losing_an_inherited_role_kills_the_project_tokens_it_gave(keystone, source, actor,
                                                                  removed):
    world = carol_in_acme(keystone)
    app = keystone.admin
    grant = inherited(world, source, actor)
    app.put(grant, headers=ADMIN, status=204)
    token = leaf_token(keystone, world)
    unscoped = unscoped_token(keystone, "carol")
    # Validated once before the change: the answer is in this process's caches.
    assert role_names(keystone, token) == ["member", "reader"]  # member ⇒ reader

    if removed == "grant":
        app.delete(grant, headers=ADMIN, status=204)
    elif removed == "membership":
        app.delete(f"/v3/groups/{world['heirs']}/users/{world['carol']}", headers=ADMIN,
                   status=204)
    elif removed == "group":
        app.delete(f"/v3/groups/{world['heirs']}", headers=ADMIN, status=204)
    else:
        app.patch_json(f"/v3/domains/{world['acme']}", {"domain": {"enabled": False}},
                       headers=ADMIN)
        app.delete(f"/v3/domains/{world['acme']}", headers=ADMIN, status=204)

    assert_dead(keystone, token)
    assert_alive(keystone, unscoped)
    scoped = {"auth": {"identity": {"methods": ["external"]},
                       "scope": {"project": {"id": world["leaf"]}}}}
    post_token(keystone.main, scoped, user="carol", status=401)


def test_an_inherited_role_beside_a_direct_one_leaves_the_token_with_the_direct_one(keystone):
    world = carol_in_acme(keystone)
    app = keystone.admin
    app.put(inherited(world, "top", "users"), headers=ADMIN, status=204)
    reader = entity_id(keystone, "roles", "reader")
    app.put(f"/v3/projects/{world['leaf']}/users/{world['carol']}/roles/{reader}",
            headers=ADMIN, status=204)
    token = leaf_token(keystone, world)
    assert role_names(keystone, token) == ["member", "reader"]

    app.delete(inherited(world, "top", "users"), headers=ADMIN, status=204)

    assert role_names(keystone, token) == ["reader"]


def test_an_inherited_grant_added_or_its_implication_removed_shows_in_existing_tokens(
        keystone):
    world = carol_in_acme(keystone)
    app = keystone.admin
    app.put(inherited(world, "acme", "users"), headers=ADMIN, status=204)
    token = leaf_token(keystone, world)
    lead = app.post_json("/v3/roles", {"role": {"name": "lead"}}, headers=ADMIN,
                         status=201).json["role"]["id"]
    rule = f"/v3/roles/{lead}/implies/{entity_id(keystone, 'roles', 'manager')}"
    app.put(rule, headers=ADMIN, status=201)

    app.put(inherited(world, "top", "groups", lead), headers=ADMIN, status=204)
    assert role_names(keystone, token) == ["lead", "member", "manager", "reader"]

    app.delete(rule, headers=ADMIN, status=204)
    assert role_names(keystone, token) == ["lead", "member", "reader"]


def test_a_domain_token_carries_no_role_inherited_to_the_domains_projects(keystone):
    world = carol_in_acme(keystone)
    app = keystone.admin
    reader = entity_id(keystone, "roles", "reader")
    app.put(f"/v3/domains/{world['acme']}/users/{world['carol']}/roles/{reader}",
            headers=ADMIN, status=204)
    app.put(inherited(world, "acme", "users"), headers=ADMIN, status=204)
    token = scoped_token(keystone, {"domain": {"id": world["acme"]}}, user="carol")
    assert role_names(keystone, token) == ["reader"]

    app.delete(inherited(world, "acme", "users"), headers=ADMIN, status=204)
    assert role_names(keystone, token) == ["reader"]
    app.delete(f"/v3/domains/{world['acme']}/users/{world['carol']}/roles/{reader}",
               headers=ADMIN, status=204)
    assert_dead(keystone, token)
