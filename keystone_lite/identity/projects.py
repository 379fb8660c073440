"""Projects (``/v3/projects``): the declaration and what is special about projects.

Special: no hierarchy (a project's parent is its domain) and no project acting as a domain;
deleting a project deletes the grants on it. Disabling or enabling a project kills the tokens
scoped to it for good (store.update moves the project's revision).
"""
from __future__ import annotations

from sqlalchemy import delete

from keystone_lite import errors
from keystone_lite.db import models
from keystone_lite.identity import render, store
from keystone_lite.identity.resources import (BOOLEAN, ID, NULLABLE_ID, TEXT, Field, Hooks,
                                              Resource, name)
from keystone_lite.identity.users import default_domain

TAGS = {"type": "array", "items": name(255), "maxItems": 80}


class ProjectHooks(Hooks):
    def creating(self, call, values, body):
        if store.find_domain(call.session, domain_id=values["domain_id"]) is None:
            raise errors.ValidationError(f"Could not find domain: {values['domain_id']}.")
        if body.get("is_domain"):
            raise errors.ValidationError("Projects acting as domains are not supported.")
        parent_id = body.get("parent_id")
        if parent_id is not None and parent_id != values["domain_id"]:
            raise errors.ValidationError("Project hierarchies are not supported: parent_id must "
                                         "be the project's domain.")

    def deleting(self, call, row):
        delete_grants_on(call.session, [row.id])


def delete_grants_on(session, project_ids: list[str]) -> None:
    """The grants, to users and to groups, on these projects."""
    for model in (models.RoleAssignment, models.GroupAssignment):
        session.execute(delete(model).where(model.target_type == "project",
                                            model.target_id.in_(project_ids)))


PROJECTS = Resource(
    name="project", collection="projects", model=models.Project,
    fields=(
        Field("name", name(64), required=True, filter=True),
        Field("domain_id", ID, default=default_domain, immutable=True),
        Field("enabled", BOOLEAN, default=True, filter=True),
        Field("description", TEXT, default=""),
        Field("is_domain", BOOLEAN, column=False),
        Field("parent_id", NULLABLE_ID, column=False),
        # Declared so that they are not kept as extra attributes; not stored yet.
        Field("tags", TAGS, column=False),
        Field("options", {"type": "object"}, column=False),
    ),
    render=render.v3_project, target=("id", "domain_id"), unique=("name", "domain_id"),
    listed_in_domain=True, keeps_extra=True, hooks=ProjectHooks())
