"""Projects (``/v3/projects``): the declaration and what is special about projects.

Special: tags (project_tags.py) and the hierarchy (project_tree.py); a project created with
``is_domain: true`` is a domain (keystone_lite keeps domains apart from projects: the domain is
created with the project's id, name, description and enabled; project_domains.py answers for
it under /v3/projects in Keystone's project form); deleting a project deletes the grants on it,
its trusts and its tags. Disabling or enabling a project kills the tokens scoped to it for
good (store.update moves the project's revision).
"""
from __future__ import annotations

from sqlalchemy import delete

from keystone_lite import errors
from keystone_lite.db import models
from keystone_lite.identity import project_domains, project_tags, project_tree, render, store
from keystone_lite.identity.resources import (BOOLEAN, NULLABLE_ID, TEXT, Field, Hooks,
                                              Resource, name)
from keystone_lite.identity.users import default_domain
from keystone_lite.token.trust_scope import delete_trusts


class ProjectHooks(Hooks):
    def routes(self, controller):
        return project_tags.routes(controller)

    def wrap(self, controller, routes):
        return project_domains.wrap(controller, routes)

    def creating(self, call, values, body):
        if body.get("is_domain"):
            if body.get("parent_id") is not None:
                raise errors.ValidationError("A project acting as a domain cannot have a "
                                             "parent.")
            return
        project_tree.place(call.session, values, body)
        if store.find_domain(call.session, domain_id=values["domain_id"]) is None:
            raise errors.ValidationError(f"Could not find domain: {values['domain_id']}.")

    def create_instead(self, call, values, body):
        if not body.get("is_domain"):
            return None
        if store.find_domain(call.session, name=values["name"]) is not None:
            raise errors.Conflict(f"Conflict occurred attempting to store project - "
                                  f"Duplicate entry found with name {values['name']}.")
        domain = models.Domain(id=values["id"], name=values["name"],
                               description=values["description"], enabled=values["enabled"])
        call.session.add(domain)
        call.session.flush()
        call.services.audit.changed(call.req, call.session, "created", "domain", domain.id)
        return project_domains.as_project(domain, call.base)

    def created(self, call, row, body):
        if body.get("tags"):
            project_tags.replace(call.session, row.id, body["tags"])

    def updating(self, call, row, changes, body):
        project_tree.check_update(call.session, row, changes, body)

    def updated(self, call, row, changes, body):
        if body.get("tags") is not None:
            project_tags.replace(call.session, row.id, body["tags"])

    def deleting(self, call, row):
        project_tree.check_delete(call.session, row)
        delete_grants_on(call.session, [row.id])

    def list_conditions(self, call, params):
        conditions = project_tags.list_conditions(params)
        parent = project_tree.list_condition(params)
        if parent is not None:
            conditions.append(parent)
        return conditions

    def decorate(self, call, rows, bodies):
        tags = project_tags.tags_of(call.session, [row.id for row in rows])
        for row, body in zip(rows, bodies):
            body["tags"] = tags.get(row.id, [])

    def showing_one(self, call, row, body):
        project_tree.expand(call, row, body)


def delete_grants_on(session, project_ids: list[str]) -> None:
    """The grants on these projects: to users, to groups, and the trusts delegating roles on
    them (as Keystone)."""
    for model in (models.RoleAssignment, models.GroupAssignment):
        session.execute(delete(model).where(model.target_type == "project",
                                            model.target_id.in_(project_ids)))
    delete_trusts(session, models.Trust.project_id.in_(project_ids))


PROJECTS = Resource(
    name="project", collection="projects", model=models.Project,
    fields=(
        Field("name", name(64), required=True, filter=True),
        # null: the default domain (Keystone's domain_id is null for a project acting as a domain)
        Field("domain_id", NULLABLE_ID, default=default_domain, immutable=True),
        Field("enabled", BOOLEAN, default=True, filter=True),
        Field("description", TEXT, default=""),
        Field("is_domain", BOOLEAN, column=False),
        Field("parent_id", NULLABLE_ID, column=False),
        Field("tags", project_tags.TAGS, column=False),
        # Declared so that they are not kept as extra attributes; not stored.
        Field("options", {"type": "object"}, column=False),
    ),
    render=render.v3_project, target=("id", "domain_id"), unique=("name", "domain_id"),
    listed_in_domain=True, keeps_extra=True, hooks=ProjectHooks())
