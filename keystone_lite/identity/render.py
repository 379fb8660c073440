"""Render identity entities as Keystone v3 documents (with ``links.self``)."""
from __future__ import annotations

import json
import time


def password_expires_at(microseconds: int | None) -> str | None:
    """A password's expiry as Keystone's user API prints it (``2016-11-06T15:32:17.000000``,
    UTC, no zone), or None."""
    if microseconds is None:
        return None
    seconds, fraction = divmod(microseconds, 1_000_000)
    return "%04d-%02d-%02dT%02d:%02d:%02d" % time.gmtime(seconds)[:6] + f".{fraction:06d}"


def _extra(row) -> dict:
    """The row's kept extra attributes (rendered first: declared attributes win)."""
    extra = getattr(row, "extra", None)
    return json.loads(extra) if extra else {}


def v3_project(project, base: str) -> dict:
    return {
        **_extra(project),
        "id": project.id,
        "name": project.name,
        "domain_id": project.domain_id,
        "description": project.description,
        "enabled": project.enabled,
        # Top-level projects have no parent project: their parent is the domain, as Keystone
        # shows it.
        "parent_id": getattr(project, "parent_id", None) or project.domain_id,
        "is_domain": False,
        "tags": [],
        "options": {},
        "links": {"self": f"{base}/v3/projects/{project.id}"},
    }


def v3_user(user, base: str, options: dict | None = None) -> dict:
    """Never carries the password hash; ``default_project_id`` only when set, as Keystone;
    ``options`` are the user options set (store.user_options); extra attributes as stored."""
    body = {
        **_extra(user),
        "id": user.id,
        "name": user.name,
        "domain_id": user.domain_id,
        "enabled": user.enabled,
        "description": user.description,
        "password_expires_at": password_expires_at(user.password_expires_at),
        "options": options or {},
        "links": {"self": f"{base}/v3/users/{user.id}"},
    }
    if user.default_project_id is not None:
        body["default_project_id"] = user.default_project_id
    return body


def v3_domain(domain, base: str) -> dict:
    return {
        "id": domain.id,
        "name": domain.name,
        "description": domain.description,
        "enabled": domain.enabled,
        "tags": [],
        "options": {},
        "links": {"self": f"{base}/v3/domains/{domain.id}"},
    }


def grant_path(assignment, role_id: str | None = None) -> str:
    """The URL path (after ``/v3``) at which a role assignment can be checked or deleted: for
    a member's share of a group grant (``via_group``), the group grant's; for what an
    inherited grant gives a project (``source``), the inherited grant's, under
    ``/OS-INHERIT``; with ``role_id``, that role's grant (the one implying the assignment's)."""
    target_type, target_id = assignment.source or (assignment.target_type,
                                                   assignment.target_id)
    target = {"project": f"/projects/{target_id}", "domain": f"/domains/{target_id}",
              "system": "/system"}[target_type]
    actor = f"groups/{assignment.via_group}" if assignment.via_group else \
        f"{assignment.actor}s/{assignment.actor_id}"
    path = f"{target}/{actor}/roles/{role_id or assignment.role_id}"
    return f"/OS-INHERIT{path}/inherited_to_projects" if assignment.inherited else path


def v3_role_assignment(assignment, base: str, names: dict | None = None,
                       prior_role_id: str | None = None) -> dict:
    """One entry of ``/v3/role_assignments`` (see assignment_controller.Listed).

    ``names`` (for ``?include_names``) maps ``"role"``, ``"user"`` or ``"group"`` and
    ``"scope"`` to the extra keys to merge into that part, e.g.
    ``{"user": {"name": ..., "domain": {...}}}``. An implied role of ``?effective`` names the
    role that implied it (``prior_role_id``): as Keystone, its ``assignment`` link is that
    role's grant, and ``prior_role`` names both roles. An inherited grant, and with
    ``?effective`` what it gives each project, says so in its scope, as Keystone's do.
    """
    names = names or {}
    if assignment.target_type == "system":
        scope = {"system": {"all": True}}
    else:
        scope = {assignment.target_type: {"id": assignment.target_id, **names.get("scope", {})}}
    if assignment.inherited:
        scope["OS-INHERIT:inherited_to"] = "projects"
    links = {"assignment": f"{base}/v3{grant_path(assignment, prior_role_id)}"}
    if prior_role_id is not None:
        # Keystone's own spelling: the implied role, then the one implying it.
        links["prior_role"] = f"{base}/v3/prior_role/{assignment.role_id}/implies/{prior_role_id}"
    if assignment.via_group:
        links["membership"] = (f"{base}/v3/groups/{assignment.via_group}/users/"
                               f"{assignment.actor_id}")
    return {
        "role": {"id": assignment.role_id, **names.get("role", {})},
        assignment.actor: {"id": assignment.actor_id, **names.get(assignment.actor, {})},
        "scope": scope,
        "links": links,
    }


def collection(key: str, entities: list[dict], self_url: str) -> dict:
    """A Keystone list document; keystone_lite does not paginate."""
    return {key: entities, "links": {"self": self_url, "previous": None, "next": None}}
