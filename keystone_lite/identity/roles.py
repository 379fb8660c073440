"""Roles (``/v3/roles``): the declaration; deleting a role deletes every grant of it, to users
and to groups (tokens relying only on it fail their next check)."""
from __future__ import annotations

from sqlalchemy import delete

from keystone_lite.db import models
from keystone_lite.identity.resources import TEXT, Field, Hooks, Resource, name


class RoleHooks(Hooks):
    def deleting(self, call, row):
        for model in (models.RoleAssignment, models.GroupAssignment):
            call.session.execute(delete(model).where(model.role_id == row.id))


ROLES = Resource(
    name="role", collection="roles", model=models.Role,
    fields=(Field("name", name(255), required=True, filter=True),
            Field("description", TEXT, default="")),
    shown=("id", "name", "description"), constants=(("domain_id", None), ("options", {})),
    target=("id", "name"), unique=("name",), hooks=RoleHooks())
