"""Builders for the policy tests: a second domain with a project, a victim user and a group
holding it, and one
certificate user per persona, each with a token on the scope its persona acts on.

Every persona user lives in the default domain; what it may do comes only from its role and the
scope of its token. The objects it acts on live in the domain ``other``.
"""
from __future__ import annotations

import dataclasses

from builders import ADMIN_PASSWORD, admin_headers, in_store, password_auth, post_token
from keystone_lite.identity import store

ADMIN = admin_headers()
VICTIM_PASSWORD = "victim-secret"

# persona -> (role, target type, target): "other" is the domain ``other``, "op" its project
# ``op``; "service" and "default" are the default domain's project ``service`` and the domain.
PERSONAS = {
    "system_admin": ("admin", "system", "all"),
    "system_reader": ("reader", "system", "all"),
    "admin_project_admin": None,  # the bootstrap admin on the admin project (is_admin_project)
    "domain_admin": ("admin", "domain", "other"),
    "domain_manager": ("manager", "domain", "other"),
    "domain_reader": ("reader", "domain", "other"),
    "project_admin": ("admin", "project", "op"),
    "project_member": ("member", "project", "op"),
    "service": ("service", "project", "service"),
    "manager_elsewhere": ("manager", "domain", "default"),
}


@dataclasses.dataclass
class World:
    domain: str  # id of the domain "other"
    project: str  # id of its project "op"
    victim: str  # id of a user of "other" holding member and reader on "op" and on "other"
    roles: dict  # role name -> id
    tokens: dict  # persona -> token id
    group: str = ""  # id of a group of "other" with the victim in it and no role


def scope_body(kind: str, target: str) -> dict:
    scope = {"system": {"system": {"all": True}},
             "domain": {"domain": {"id": target}},
             "project": {"project": {"id": target}}}[kind]
    return {"auth": {"identity": {"methods": ["external"], "external": {}}, "scope": scope}}


def token_of(app, user: str, kind: str, target: str) -> str:
    return post_token(app, scope_body(kind, target), user=user).headers["X-Subject-Token"]


def build(deployment) -> World:
    admin = deployment.admin
    roles = {role["name"]: role["id"] for role in admin.get("/v3/roles", headers=ADMIN).json[
        "roles"]}
    if "manager" not in roles:  # bootstrap makes it; so do these tests on an older bootstrap
        roles["manager"] = admin.post_json("/v3/roles", {"role": {"name": "manager"}},
                                           headers=ADMIN, status=201).json["role"]["id"]
    domain = admin.post_json("/v3/domains", {"domain": {"name": "other"}}, headers=ADMIN,
                             status=201).json["domain"]["id"]
    project = admin.post_json("/v3/projects", {"project": {"name": "op", "domain_id": domain}},
                              headers=ADMIN, status=201).json["project"]["id"]
    victim = admin.post_json("/v3/users", {"user": {
        "name": "victim", "domain_id": domain, "password": VICTIM_PASSWORD}},
        headers=ADMIN, status=201).json["user"]["id"]
    group = admin.post_json("/v3/groups", {"group": {"name": "og", "domain_id": domain}},
                            headers=ADMIN, status=201).json["group"]["id"]
    admin.put(f"/v3/groups/{group}/users/{victim}", headers=ADMIN, status=204)
    targets = {"other": domain, "op": project, "default": "default", "all": "all"}

    def people(session):
        service = store.find_project(session, name="service", domain_id="default") or \
            store.create_project(session, name="service", domain_id="default")
        targets["service"] = service.id
        for kind, target in (("project", project), ("domain", domain)):
            for role in ("member", "reader"):
                store.grant(session, victim, kind, target, roles[role])
        for name, assignment in PERSONAS.items():
            if assignment is None:
                continue
            role, kind, target = assignment
            user = store.create_user(session, name=name, domain_id="default")
            store.grant(session, user.id, kind, targets[target], roles[role])
        bystander = store.create_user(session, name="bystander", domain_id="default")
        demo = store.create_project(session, name="demo-bystander", domain_id="default")
        store.grant(session, bystander.id, "project", demo.id, roles["member"])
    in_store(deployment, people)

    tokens = {}
    for name, assignment in PERSONAS.items():
        if assignment is None:
            tokens[name] = post_token(deployment.main, password_auth(
                "admin", ADMIN_PASSWORD, "admin")).headers["X-Subject-Token"]
        else:
            _role, kind, target = assignment
            tokens[name] = token_of(deployment.main, name, kind, targets[target])
    return World(domain, project, victim, roles, tokens, group)


def bystander_token(deployment) -> str:
    """A fresh project token of a user no persona is: the subject of the token calls."""
    return post_token(deployment.main, {"auth": {
        "identity": {"methods": ["external"], "external": {}},
        "scope": {"project": {"name": "demo-bystander", "domain": {"id": "default"}}}}},
        user="bystander").headers["X-Subject-Token"]
