"""Project hierarchy, as Keystone's: a project's parent is another project of its domain, or
the domain itself (``parent_id`` stored NULL, shown as the domain's id).

Keystone's rules kept here: a parent is set at creation and never changed (403); at most
``MAX_DEPTH`` levels of projects under a domain (403); no project is created under a disabled
one (400); a project with enabled children cannot be disabled, nor one under a disabled parent
enabled (403); a project with children cannot be deleted (403; Keystone's cascade option is not
offered). Roles go down the tree only by grants flagged inherited (store.roles_on).
"""
from __future__ import annotations

from sqlalchemy import or_

from keystone_lite import errors, policy
from keystone_lite.db import models
from keystone_lite.identity import parsing, render, store

MAX_DEPTH = 5  # Keystone's [DEFAULT] max_project_tree_depth


def place(session, values: dict, body: dict) -> None:
    """Set ``values["parent_id"]`` (and the domain, when only the parent names it) for a new
    project, or refuse the parent."""
    parent_id = body.get("parent_id")
    values["parent_id"] = None
    if parent_id is None:
        return
    if body.get("domain_id") is None and store.find_domain(session, domain_id=parent_id):
        values["domain_id"] = parent_id  # the parent named is a domain: a top-level project
    if parent_id == values["domain_id"]:
        return
    parent = store.find_project(session, project_id=parent_id) if len(parent_id) <= 64 else None
    if parent is None:
        raise errors.NotFound(f"Could not find project: {parent_id}.")
    if body.get("domain_id") is None:
        values["domain_id"] = parent.domain_id
    elif parent.domain_id != values["domain_id"]:
        raise errors.ValidationError(
            f"Cannot create project, since it specifies its domain_id {values['domain_id']}, "
            f"but specifies a parent in a different domain ({parent.domain_id}).")
    lineage = [parent, *store.ancestors(session, parent)]
    disabled = next((project for project in lineage if not project.enabled), None)
    if disabled is not None:
        raise errors.ValidationError(f"cannot create a project in a branch containing a "
                                     f"disabled project: {disabled.id}")
    if len(lineage) + 1 > MAX_DEPTH:
        raise errors.Forbidden(f"Max hierarchy depth reached for {parent.id} branch.")
    values["parent_id"] = parent.id


def check_update(session, row, changes: dict, body: dict) -> None:
    if "parent_id" in body and body["parent_id"] != (row.parent_id or row.domain_id):
        raise errors.Forbidden("Update of `parent_id` is not allowed.")
    if "is_domain" in body and body["is_domain"] is not False:
        raise errors.ValidationError("Update of `is_domain` is not allowed.")
    enabled = changes.get("enabled")
    if enabled is False and row.enabled and any(
            child.enabled for child in store.descendants(session, [row.id])):
        raise errors.Forbidden(f"Cannot disable project {row.id} since its subtree contains "
                               "enabled projects.")
    if enabled is True and not row.enabled and any(
            not parent.enabled for parent in store.ancestors(session, row)):
        raise errors.Forbidden(f"Cannot enable project {row.id} since it has disabled "
                               "parents.")


def check_delete(session, row) -> None:
    if store.children(session, [row.id]):
        raise errors.Forbidden(f"Cannot delete the project {row.id} since it is not a leaf in "
                               "the hierarchy. Use the cascade option if you want to delete a "
                               "whole subtree.")


def list_condition(params: dict):
    """``?parent_id=``: the children of a project, or the top-level projects of a domain."""
    if "parent_id" not in params:
        return None
    parent_id = params["parent_id"]
    return or_(models.Project.parent_id == parent_id,
               (models.Project.parent_id.is_(None)) & (models.Project.domain_id == parent_id))


def expand(call, row, body: dict) -> None:
    """Keystone's ``?parents_as_list``, ``?parents_as_ids``, ``?subtree_as_list`` and
    ``?subtree_as_ids`` of a project GET. The lists hold only projects on which the caller
    holds a role (as Keystone's), the id trees every project."""
    params = parsing.query(call.req)
    wanted = {name: parsing.query_bool(params, name) for name in (
        "parents_as_list", "parents_as_ids", "subtree_as_list", "subtree_as_ids")}
    for side in ("parents", "subtree"):
        if wanted[f"{side}_as_list"] and wanted[f"{side}_as_ids"]:
            raise errors.ValidationError(f"Cannot use {side}_as_list and {side}_as_ids query "
                                         "params at the same time.")
    session = call.session
    if wanted["parents_as_ids"]:
        tree = {row.domain_id: None}
        for parent in reversed(store.ancestors(session, row)):
            tree = {parent.id: tree}
        body["parents"] = tree
    if wanted["subtree_as_ids"]:
        nodes: dict[str, dict | None] = {row.id: None}
        for child in store.descendants(session, [row.id]):
            nodes[child.id] = None
            nodes[child.parent_id] = {**(nodes[child.parent_id] or {}), child.id: None}
        body["subtree"] = _nest(nodes, row.id)
    if wanted["parents_as_list"] or wanted["subtree_as_list"]:
        visible = _visible(call)
        if wanted["parents_as_list"]:
            body["parents"] = [{"project": render.v3_project(parent, call.base)}
                               for parent in store.ancestors(session, row) if visible(parent)]
        if wanted["subtree_as_list"]:
            body["subtree"] = [{"project": render.v3_project(child, call.base)}
                               for child in store.descendants(session, [row.id])
                               if visible(child)]


def _nest(nodes: dict, project_id: str):
    below = nodes[project_id]
    if below is None:
        return None
    return {child: _nest(nodes, child) for child in below}


def _visible(call):
    """Whether the caller may see a project in a parents or subtree list: one on which it
    holds a role; the admin token (no user) sees all, as in Keystone."""
    user_id = policy.credentials_of(call.req, call.settings).user_id
    if user_id is None:
        return lambda project: True
    mine = {project.id for project in store.projects_for_user(call.session, user_id,
                                                              enabled_only=False)}
    return lambda project: project.id in mine
