"""Admin API for grants (``/{projects,domains}/{id}/{users,groups}/{id}/roles[/{r}]``,
``/system/...``) and ``GET /role_assignments``.

Removing a grant needs no revocation event: token validation re-reads the roles (the write
moves the change counter), so a token loses the role at its next check and dies once no role
on its scope is left; a group grant likewise for every member's tokens.
"""
from __future__ import annotations

import dataclasses

from keystone_lite import errors, policy
from keystone_lite.db import models
from keystone_lite.identity import parsing, render, store
from keystone_lite.identity.admin import AdminController, ident, listing
from keystone_lite.router import no_content

# Path segment -> assignment target_type; -> who the grant is to.
TARGETS = {"projects": "project", "domains": "domain", "system": "system"}
ACTORS = {"users": "user", "groups": "group"}
# Policy rules: (project or domain grants, system grants to users, system grants to groups).
RULES = {"list": ("identity:list_grants", "identity:list_system_grants_for_user",
                  "identity:list_system_grants_for_group"),
         "check": ("identity:check_grant", "identity:check_system_grant_for_user",
                   "identity:check_system_grant_for_group"),
         "add": ("identity:create_grant", "identity:create_system_grant_for_user",
                 "identity:create_system_grant_for_group"),
         "remove": ("identity:revoke_grant", "identity:revoke_system_grant_for_user",
                    "identity:revoke_system_grant_for_group")}
SCOPE_FILTERS = ("scope.project.id", "scope.domain.id", "scope.system")
INHERITED = "scope.OS-INHERIT:inherited_to"


@dataclasses.dataclass(frozen=True)
class Listed:
    """One entry of /role_assignments: a grant to ``actor`` (``user`` or ``group``), or, with
    ``?effective``, a member's share of a group grant (``via_group``: the group's id)."""

    actor: str
    actor_id: str
    target_type: str
    target_id: str
    role_id: str
    via_group: str | None = None


class AssignmentController(AdminController):
    def routes(self):
        target = rf"/(?P<kind>projects|domains)/{ident('target_id')}"
        routes = []
        for prefix in (target, r"/(?P<kind>system)"):
            roles = f"{prefix}/(?P<actors>users|groups)/{ident('actor_id')}/roles"
            routes += [
                (roles, {"GET": self.list_grants}),
                (f"{roles}/{ident('role_id')}", {
                    "GET": self.check_grant, "PUT": self.add_grant,
                    "DELETE": self.remove_grant}),
            ]
        return routes + [(r"/role_assignments", {"GET": self.list_assignments})]

    # GET .../{users,groups}/{id}/roles: the actor's own grants
    def list_grants(self, req, session, kind, actors, actor_id, target_id="all"):
        base, target_type = self._authorize_grant(req, session, "list", kind, target_id,
                                                  actors, actor_id)
        roles = store.granted_roles(session, actor_id, target_type, target_id,
                                    actor=ACTORS[actors])
        path = "/system" if kind == "system" else f"/{kind}/{target_id}"
        return listing(req, "roles", f"{path}/{actors}/{actor_id}/roles",
                       [self.resources["role"].show(role, base) for role in roles])

    # GET/HEAD .../{users,groups}/{id}/roles/{r}: 204 when granted
    def check_grant(self, req, session, kind, actors, actor_id, role_id, target_id="all"):
        key = self._grant_key(req, session, "check", kind, target_id, actors, actor_id,
                              role_id)
        if not store.has_grant(session, *key, actor=ACTORS[actors]):
            raise _grant_not_found(key)
        return no_content()

    # PUT .../{users,groups}/{id}/roles/{r}: idempotent
    def add_grant(self, req, session, kind, actors, actor_id, role_id, target_id="all"):
        key = self._grant_key(req, session, "add", kind, target_id, actors, actor_id, role_id)
        _check_role_domain(session, *key[1:])
        store.grant(session, *key, actor=ACTORS[actors])
        return no_content()

    # DELETE .../{users,groups}/{id}/roles/{r}
    def remove_grant(self, req, session, kind, actors, actor_id, role_id, target_id="all"):
        key = self._grant_key(req, session, "remove", kind, target_id, actors, actor_id,
                              role_id)
        if not store.revoke_grant(session, *key, actor=ACTORS[actors]):
            raise _grant_not_found(key)
        return no_content()

    # GET /role_assignments
    def list_assignments(self, req, session):
        base = self.authorize(req, "identity:list_role_assignments")
        params = parsing.query(req)
        include_names = parsing.query_bool(params, "include_names")
        effective = parsing.query_bool(params, "effective")
        if sum(name in params for name in SCOPE_FILTERS) > 1:
            raise errors.ValidationError("Specify at most one of scope.project.id, "
                                         "scope.domain.id and scope.system.")
        if effective and "group.id" in params:
            # As Keystone: an effective list is of users' roles, never of a group's.
            raise errors.ValidationError("Combining effective and group filter will always "
                                         "result in an empty list.")
        # No inherited assignment exists: that filter matches nothing.
        assignments = [] if INHERITED in params else _assignments(session, params, effective)
        if "scope.domain.id" in params:
            assignments = [assignment for assignment in assignments
                           if assignment.target_type == "domain"
                           and assignment.target_id == params["scope.domain.id"]]
        elif "scope.system" in params:
            assignments = [assignment for assignment in assignments
                           if assignment.target_type == "system"]
        domain_id = policy.credentials_of(req, self.settings).domain_id
        if domain_id is not None:  # a domain token sees its domain's assignments, as Keystone
            assignments = [assignment for assignment in assignments
                           if _domain_of_target(session, assignment) == domain_id]
        entries = [(assignment, None) for assignment in assignments]
        if effective:
            entries = [(assignment, prior) for assignment, prior in _effective(session, assignments)
                       if params.get("role.id") in (None, assignment.role_id)]
        return listing(req, "role_assignments", "/role_assignments", [
            render.v3_role_assignment(assignment, base,
                                      _names(session, assignment) if include_names else None,
                                      prior)
            for assignment, prior in entries])

    # -- helpers -------------------------------------------------------------------------------

    def _authorize_grant(self, req, session, action, kind, target_id, actors, actor_id,
                         role_id=None):
        """Enforce the action's rule on the target, user or group and role (404 when one is
        missing); returns (base URL, assignment target_type)."""
        target_type = TARGETS[kind]
        actor = ACTORS[actors]
        ids = {} if target_type == "system" else {target_type: target_id}
        ids[actor] = actor_id
        if role_id is not None:
            ids["role"] = role_id
        rule = RULES[action][0 if target_type != "system" else 1 if actor == "user" else 2]
        base, _rows = self.authorize_on(req, session, rule, **ids)
        return base, target_type

    def _grant_key(self, req, session, action, kind, target_id, actors, actor_id,
                   role_id) -> tuple:
        """(actor_id, target_type, target_id, role_id) once the action is allowed on them."""
        _base, target_type = self._authorize_grant(req, session, action, kind, target_id,
                                                   actors, actor_id, role_id)
        return actor_id, target_type, target_id, role_id


def _assignments(session, params: dict, effective: bool) -> list[Listed]:
    """The user and group grants the filters select; with ``effective``, each group grant
    becomes one entry per member (as Keystone: the group itself is not listed)."""
    user_id, group_id = params.get("user.id"), params.get("group.id")
    # With ``effective`` the role filter applies after implied roles are added (_effective).
    filters = {"role_id": None if effective else params.get("role.id"),
               "project_id": params.get("scope.project.id")}
    found: list[Listed] = []
    if group_id is None:
        found += [Listed("user", row.user_id, row.target_type, row.target_id, row.role_id)
                  for row in store.list_assignments(session, user_id=user_id, **filters)]
    if user_id is not None and not effective:
        return found  # a user's direct grants only: its groups' are the groups'
    group_ids = [group_id] if group_id is not None else (
        [group.id for group in store.groups_of(session, user_id)] if user_id is not None
        else None)
    group_rows = store.list_group_assignments(session, group_ids=group_ids, **filters)
    if not effective:
        return found + [Listed("group", row.group_id, row.target_type, row.target_id,
                               row.role_id) for row in group_rows]
    members = store.member_ids(session, sorted({row.group_id for row in group_rows}))
    for row in group_rows:
        for member in members.get(row.group_id, []):
            if user_id is None or member == user_id:
                found.append(Listed("user", member, row.target_type, row.target_id,
                                    row.role_id, via_group=row.group_id))
    return found


def _check_role_domain(session, target_type: str, target_id: str, role_id: str) -> None:
    """A domain-specific role is granted only inside its domain (Keystone's 403
    DomainSpecificRoleMismatch), never on the system (Keystone's 400)."""
    role = session.get(models.Role, role_id)
    if role.domain_id is None:
        return
    if target_type == "system":
        raise errors.ValidationError(f"Role {role_id} is a domain-specific role. Unable to "
                                     "grant it on the system.")
    domain_id = target_id if target_type == "domain" else \
        session.get(models.Project, target_id).domain_id
    if domain_id != role.domain_id:
        raise errors.Forbidden(f"{target_type.capitalize()} {target_id} must be in the same "
                               f"domain as the role {role_id} being assigned.")


def _grant_not_found(key: tuple) -> errors.NotFound:
    actor_id, _target_type, target_id, role_id = key
    return errors.NotFound(f"Could not find role assignment with role: {role_id}, user or "
                           f"group: {actor_id}, project, domain, or system: {target_id}.")


def _effective(session, assignments) -> list[tuple]:
    """``?effective``: each grant with the roles its role implies, as (assignment, id of the
    implying role or None); domain-specific roles only through the roles they imply (what
    store.expand_implied gives tokens), and each user, target and role once, a grant before
    an implication."""
    expanded: dict[str, list] = {}  # role id -> inferences (a few distinct roles)
    for assignment in assignments:
        if assignment.role_id not in expanded:
            expanded[assignment.role_id] = store.inferences(
                session, [session.get(models.Role, assignment.role_id)])
    direct = [(assignment, None) for assignment in assignments
              if expanded[assignment.role_id][0][0].domain_id is None]
    seen = {_key(assignment) for assignment, _ in direct}
    implied = []
    for assignment in assignments:
        for role, prior in expanded[assignment.role_id][1:]:
            entry = dataclasses.replace(assignment, role_id=role.id)
            if role.domain_id is None and _key(entry) not in seen:
                seen.add(_key(entry))
                implied.append((entry, prior))
    return direct + implied


def _key(assignment) -> tuple:
    return (assignment.actor_id, assignment.target_type, assignment.target_id,
            assignment.role_id)


def _domain_of_target(session, assignment) -> str | None:
    if assignment.target_type == "domain":
        return assignment.target_id
    if assignment.target_type == "project":
        project = session.get(models.Project, assignment.target_id)
        return project.domain_id if project is not None else None
    return None


def _names(session, assignment) -> dict:
    """The ``?include_names`` additions; parts whose row has vanished stay id-only."""
    names: dict = {}
    role = session.get(models.Role, assignment.role_id)
    if role is not None:
        names["role"] = {"name": role.name}
    actor = session.get(models.User if assignment.actor == "user" else models.Group,
                        assignment.actor_id)
    if actor is not None:
        names[assignment.actor] = {"name": actor.name,
                                   "domain": _domain_ref(session, actor.domain_id)}
    if assignment.target_type == "project":
        project = session.get(models.Project, assignment.target_id)
        if project is not None:
            names["scope"] = {"name": project.name,
                              "domain": _domain_ref(session, project.domain_id)}
    elif assignment.target_type == "domain":
        domain = session.get(models.Domain, assignment.target_id)
        if domain is not None:
            names["scope"] = {"name": domain.name}
    return names


def _domain_ref(session, domain_id: str) -> dict:
    domain = session.get(models.Domain, domain_id)
    return {"id": domain_id, "name": domain.name if domain is not None else None}
