"""Roles (``/v3/roles``): the declaration and what is special about roles.

Special, as Keystone: a role with a ``domain_id`` is domain-specific (its name is unique in its
domain; global names among global roles); lists show global roles unless ``?domain_id`` asks
for a domain's, and domain-specific roles have their own policy rules (``identity:*_domain_role``).
Deleting a role deletes its grants, to users and to groups, and its implication rules (the
database cascades them); tokens relying only on it fail their next check.
"""
from __future__ import annotations

from sqlalchemy import delete

from keystone_lite import errors
from keystone_lite.db import models
from keystone_lite.identity import store
from keystone_lite.identity.resources import NULLABLE_ID, TEXT, Field, Hooks, Resource, name


class RoleHooks(Hooks):
    def rule(self, resource, action, subject):
        if action in ("list", "create"):  # subject: the query parameters, or the body
            domain_specific = subject.get("domain_id") is not None
        else:
            domain_specific = subject is not None and subject.domain_id is not None
        if not domain_specific:
            return resource.rule(action)
        return "identity:list_domain_roles" if action == "list" else \
            f"identity:{action}_domain_role"

    def filtering(self, call, params, filters):
        filters.setdefault("domain_id", None)  # without ?domain_id: global roles only

    def creating(self, call, values, body):
        domain_id = values.get("domain_id")
        if domain_id is not None and store.find_domain(call.session, domain_id=domain_id) is None:
            raise errors.ValidationError(f"Could not find domain: {domain_id}.")

    def deleting(self, call, row):
        # Explicit, not only the foreign keys' cascade: the session's identity map forgets them.
        for model in (models.RoleAssignment, models.GroupAssignment):
            call.session.execute(delete(model).where(model.role_id == row.id))
        call.session.execute(delete(models.ImpliedRole).where(
            (models.ImpliedRole.prior_role_id == row.id)
            | (models.ImpliedRole.implied_role_id == row.id)))


ROLES = Resource(
    name="role", collection="roles", model=models.Role,
    fields=(Field("name", name(255), required=True, filter=True),
            Field("description", TEXT, default=""),
            Field("domain_id", NULLABLE_ID, immutable=True, filter=True)),
    shown=("id", "name", "description", "domain_id"), constants=(("options", {}),),
    target=("id", "name"), unique=("name", "domain_id"), hooks=RoleHooks())
