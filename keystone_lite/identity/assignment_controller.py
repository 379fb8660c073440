"""Admin API for grants (``/{projects,domains}/{id}/{users,groups}/{id}/roles[/{r}]``,
``/system/...``), inherited grants (``/OS-INHERIT/...``) and ``GET /role_assignments``.

Removing a grant needs no revocation event: token validation re-reads the roles (the write
moves the change counter), so a token loses the role at its next check and dies once no role
on its scope is left; a group grant likewise for every member's tokens, and an inherited grant
for the tokens of every project under its target.

Inherited grants are Keystone's OS-INHERIT: a grant flagged ``inherited`` on a domain gives its
role on every project of the domain, on a project on every project below it, never on the
target itself (store.roles_on); it is a grant of its own beside the direct grant of the same
role, with its own routes and the same policy rules.
"""
from __future__ import annotations

import dataclasses
import functools

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
INHERITED_SUFFIX = "/inherited_to_projects"


@dataclasses.dataclass(frozen=True)
class Listed:
    """One entry of /role_assignments: a grant to ``actor`` (``user`` or ``group``), or, with
    ``?effective``, a member's share of a group grant (``via_group``: the group's id) or what
    an inherited grant gives one project (``source``: the grant's (target_type, target_id)).
    ``inherited``: an inherited grant, or what one gives."""

    actor: str
    actor_id: str
    target_type: str
    target_id: str
    role_id: str
    via_group: str | None = None
    inherited: bool = False
    source: tuple[str, str] | None = None


class AssignmentController(AdminController):
    def routes(self):
        target = rf"/(?P<kind>projects|domains)/{ident('target_id')}"
        actor = rf"/(?P<actors>users|groups)/{ident('actor_id')}/roles"
        routes = []
        for prefix in (target, r"/(?P<kind>system)"):
            roles = f"{prefix}{actor}"
            routes += [
                (roles, {"GET": self.list_grants}),
                (f"{roles}/{ident('role_id')}", {
                    "GET": self.check_grant, "PUT": self.add_grant,
                    "DELETE": self.remove_grant}),
            ]
        # OS-INHERIT: the same handlers on inherited grants; Keystone lists them on domains
        # only.
        def inherited(handler):
            return functools.partial(handler, inherited=True)
        routes += [
            (rf"/OS-INHERIT/(?P<kind>domains)/{ident('target_id')}{actor}{INHERITED_SUFFIX}",
             {"GET": inherited(self.list_grants)}),
            (f"/OS-INHERIT{target}{actor}/{ident('role_id')}{INHERITED_SUFFIX}", {
                "GET": inherited(self.check_grant), "PUT": inherited(self.add_grant),
                "DELETE": inherited(self.remove_grant)}),
        ]
        return routes + [(r"/role_assignments", {"GET": self.list_assignments})]

    # GET .../{users,groups}/{id}/roles: the actor's own grants
    def list_grants(self, req, session, kind, actors, actor_id, target_id="all",
                    inherited=False):
        base, target_type = self._authorize_grant(req, session, "list", kind, target_id,
                                                  actors, actor_id)
        roles = store.granted_roles(session, actor_id, target_type, target_id,
                                    actor=ACTORS[actors], inherited=inherited)
        path = "/system" if kind == "system" else f"/{kind}/{target_id}"
        path = f"{path}/{actors}/{actor_id}/roles"
        if inherited:
            path = f"/OS-INHERIT{path}{INHERITED_SUFFIX}"
        return listing(req, "roles", path,
                       [self.resources["role"].show(role, base) for role in roles])

    # GET/HEAD .../{users,groups}/{id}/roles/{r}: 204 when granted
    def check_grant(self, req, session, kind, actors, actor_id, role_id, target_id="all",
                    inherited=False):
        key = self._grant_key(req, session, "check", kind, target_id, actors, actor_id,
                              role_id)
        if not store.has_grant(session, *key, actor=ACTORS[actors], inherited=inherited):
            raise _grant_not_found(key)
        return no_content()

    # PUT .../{users,groups}/{id}/roles/{r}: idempotent
    def add_grant(self, req, session, kind, actors, actor_id, role_id, target_id="all",
                  inherited=False):
        key = self._grant_key(req, session, "add", kind, target_id, actors, actor_id, role_id)
        _check_role_domain(session, *key[1:])
        store.grant(session, *key, actor=ACTORS[actors], inherited=inherited)
        self.services.audit.role_assignment(req, session, "created", key, ACTORS[actors], inherited)
        return no_content()

    # DELETE .../{users,groups}/{id}/roles/{r}
    def remove_grant(self, req, session, kind, actors, actor_id, role_id, target_id="all",
                     inherited=False):
        key = self._grant_key(req, session, "remove", kind, target_id, actors, actor_id,
                              role_id)
        if not store.revoke_grant(session, *key, actor=ACTORS[actors], inherited=inherited):
            raise _grant_not_found(key)
        self.services.audit.role_assignment(req, session, "deleted", key, ACTORS[actors], inherited)
        return no_content()

    # GET /role_assignments
    def list_assignments(self, req, session):
        params = parsing.query(req)
        subtree = parsing.query_bool(params, "include_subtree")
        if not subtree:
            base = self.authorize(req, "identity:list_role_assignments")
        elif "scope.project.id" in params:
            base, _rows = self.authorize_on(req, session,
                                            "identity:list_role_assignments_for_tree",
                                            project=params["scope.project.id"])
        else:
            self.authorize(req, "identity:list_role_assignments_for_tree")
            raise errors.ValidationError("scope.project.id must be specified if "
                                         "include_subtree is also specified")
        include_names = parsing.query_bool(params, "include_names")
        effective = parsing.query_bool(params, "effective")
        # As Keystone: present, the filter selects inherited grants when it says "projects",
        # the others when it says anything else.
        inherited = params[INHERITED] == "projects" if INHERITED in params else None
        if sum(name in params for name in SCOPE_FILTERS) > 1:
            raise errors.ValidationError("Specify at most one of scope.project.id, "
                                         "scope.domain.id and scope.system.")
        if effective and "group.id" in params:
            # As Keystone: an effective list is of users' roles, never of a group's.
            raise errors.ValidationError("Combining effective and group filter will always "
                                         "result in an empty list.")
        if effective and inherited and "scope.domain.id" in params:
            raise errors.ValidationError("Combining effective, domain and inherited filters "
                                         "will always result in an empty list.")
        projects = [params["scope.project.id"]] if "scope.project.id" in params else None
        if subtree:
            projects += [project.id for project in store.descendants(session, projects)]
        assignments = _assignments(session, params, effective, inherited, projects, subtree)
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


def _assignments(session, params: dict, effective: bool, inherited: bool | None,
                 projects: list[str] | None, subtree: bool) -> list[Listed]:
    """The grants the filters select (``projects``: the ``scope.project.id`` filter, with its
    subtree for ``?include_subtree``; ``inherited``: the OS-INHERIT filter).

    With ``effective``, what they give users, as Keystone's list: each group grant becomes one
    entry per member and each inherited grant one per project it reaches (the group and the
    inherited grant themselves are not listed); a user's list counts its groups' grants.
    """
    user_id, group_id = params.get("user.id"), params.get("group.id")
    actors = {"user": None if user_id is None else [user_id],
              "group": None if group_id is None else [group_id]}
    if effective and user_id is not None:
        actors["group"] = [group.id for group in store.groups_of(session, user_id)]
    elif user_id is not None:
        del actors["group"]  # a user's direct grants only: its groups' are the groups'
    elif group_id is not None:
        del actors["user"]
    # With ``effective`` the role filter applies after implied roles are added (_effective).
    role_id = None if effective else params.get("role.id")

    def grants(inherited, target_type=None, target_ids=None) -> list[Listed]:
        return [Listed(actor, getattr(row, f"{actor}_id"), row.target_type, row.target_id,
                       row.role_id, inherited=row.inherited)
                for actor, actor_ids in actors.items()
                for row in store.assignments(session, actor, actor_ids=actor_ids,
                                             target_type=target_type, target_ids=target_ids,
                                             role_id=role_id, inherited=inherited)]

    scope = (("domain", [params["scope.domain.id"]]) if "scope.domain.id" in params
             else ("project", projects) if projects is not None
             else ("system", None) if "scope.system" in params else (None, None))
    if not effective:
        return grants(inherited, *scope)
    if scope[0] in ("domain", "system"):
        inherited = False  # what is inherited is held on projects only
    found = grants(False, *scope) if inherited is not True else []
    if inherited is not False:
        found += _inherited_to_projects(session, grants, projects, subtree)
    return _to_members(session, found, user_id)


def _inherited_to_projects(session, grants, projects: list[str] | None, subtree: bool
                           ) -> list[Listed]:
    """What the inherited grants give: one entry per project reached and grant (only the
    ``projects`` asked for when they are given), as Keystone's _expand_indirect_assignment."""
    if projects is None:
        found = grants(True)
    else:
        # Only grants above them can reach them: on their domain or on a parent project
        # (for a subtree also on its projects, which reach part of it).
        top = parsing.load(session, models.Project, projects[0], "project")
        above = [parent.id for parent in store.ancestors(session, top)]
        found = grants(True, "domain", [top.domain_id]) + grants(
            True, "project", above + (projects if subtree else []))
    reached: dict[tuple, list[str]] = {}  # grant target -> the projects it reaches
    expanded = []
    for grant in found:
        target = (grant.target_type, grant.target_id)
        if target not in reached:
            if projects is not None and not (subtree and target[1] in projects):
                reached[target] = projects
            elif grant.target_type == "domain":
                reached[target] = store.project_ids_in(session, target[1])
            else:
                reached[target] = [project.id
                                   for project in store.descendants(session, [target[1]])]
        expanded += [dataclasses.replace(grant, target_type="project", target_id=project_id,
                                         source=target)
                     for project_id in reached[target]]
    return expanded


def _to_members(session, found: list[Listed], user_id: str | None) -> list[Listed]:
    """Each group grant as one entry per member (only ``user_id``'s, when given)."""
    members = store.member_ids(session, sorted({entry.actor_id for entry in found
                                                if entry.actor == "group"}))
    users = [entry for entry in found if entry.actor == "user"]
    return users + [
        dataclasses.replace(entry, actor="user", actor_id=member, via_group=entry.actor_id)
        for entry in found if entry.actor == "group"
        for member in members.get(entry.actor_id, []) if user_id in (None, member)]


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
