"""Domains (``/v3/domains``): the declaration and what is special about domains.

Special, as Keystone: an enabled domain cannot be deleted (403); deleting a disabled one
deletes its projects, users and groups with their grants, memberships and tokens, the grants on
it and its configuration (whose routes are in domain_config.py). Disabling a domain needs
nothing here: token validation refuses a disabled user domain or scope.
"""
from __future__ import annotations

from sqlalchemy import delete, select

from keystone_lite import errors
from keystone_lite.db import models
from keystone_lite.identity import domain_config, render
from keystone_lite.identity.groups import delete_domain_groups
from keystone_lite.identity.projects import delete_grants_on
from keystone_lite.identity.resources import BOOLEAN, TEXT, Field, Hooks, Resource, name
from keystone_lite.identity.users import delete_dependents


class DomainHooks(Hooks):
    def routes(self, controller):
        return domain_config.routes(controller)

    def deleting(self, call, row):
        if row.enabled:
            raise errors.Forbidden("Cannot delete a domain that is enabled, please disable it "
                                   "first.")
        session = call.session
        project_ids = list(session.scalars(select(models.Project.id).where(
            models.Project.domain_id == row.id)))
        user_ids = list(session.scalars(select(models.User.id).where(
            models.User.domain_id == row.id)))
        delete_grants_on(session, project_ids)
        delete_dependents(session, user_ids)
        for model in (models.RoleAssignment, models.GroupAssignment):
            session.execute(delete(model).where(model.target_type == "domain",
                                                model.target_id == row.id))
        delete_domain_groups(session, row.id)
        domain_config.delete_options(session, row.id)
        session.execute(delete(models.Project).where(models.Project.domain_id == row.id))
        session.execute(delete(models.User).where(models.User.domain_id == row.id))


DOMAINS = Resource(
    name="domain", collection="domains", model=models.Domain,
    fields=(Field("name", name(64), required=True, filter=True),
            Field("enabled", BOOLEAN, default=True, filter=True),
            Field("description", TEXT, default="")),
    render=render.v3_domain, unique=("name",), hooks=DomainHooks())
