"""Groups (``/v3/groups``): the declaration, memberships and what is special about groups.

Special: membership routes (``/groups/{g}/users[/{u}]``, ``/users/{u}/groups``); deleting a
group deletes its memberships and grants. What a group is granted its members hold
(store.roles_on): a membership or group grant removed is a write of a tracked table, which
moves the change counter, so every node re-reads the principals of existing tokens and they
lose the role at their next validation.
"""
from __future__ import annotations

import functools

from sqlalchemy import delete, select

from keystone_lite import errors
from keystone_lite.db import models
from keystone_lite.identity import store
from keystone_lite.identity.admin import ident, listing
from keystone_lite.identity.resources import ID, TEXT, Field, Hooks, Resource, name
from keystone_lite.identity.users import USERS, default_domain, require_domain
from keystone_lite.router import no_content


class GroupHooks(Hooks):
    def routes(self, controller):
        member = rf"/groups/{ident('group_id')}/users/{ident('user_id')}"
        return [
            (rf"/groups/{ident('group_id')}/users",
             {"GET": functools.partial(list_members, controller)}),
            (member, {"GET": functools.partial(check_member, controller),
                      "PUT": functools.partial(add_member, controller),
                      "DELETE": functools.partial(remove_member, controller)}),
            (rf"/users/{ident('user_id')}/groups",
             {"GET": functools.partial(list_groups_for_user, controller)}),
        ]

    def creating(self, call, values, body):
        require_domain(call.session, values["domain_id"])

    def deleting(self, call, row):
        delete_dependents(call.session, [row.id])


def delete_dependents(session, group_ids: list[str]) -> None:
    """What goes with groups: their memberships and grants (explicitly, as
    users.delete_dependents does: nothing is left to the backend's foreign keys)."""
    session.execute(delete(models.GroupMembership).where(
        models.GroupMembership.group_id.in_(group_ids)))
    session.execute(delete(models.GroupAssignment).where(
        models.GroupAssignment.group_id.in_(group_ids)))


def delete_domain_groups(session, domain_id: str) -> None:
    """What a deleted domain takes with it of groups: its groups (see domains.py)."""
    group_ids = list(session.scalars(select(models.Group.id).where(
        models.Group.domain_id == domain_id)))
    if group_ids:
        delete_dependents(session, group_ids)
        session.execute(delete(models.Group).where(models.Group.id.in_(group_ids)))


def list_members(controller, req, session, group_id):
    """``GET /groups/{g}/users``: the members, rendered as ``/users`` renders them."""
    base, rows = controller.authorize_on(req, session, "identity:list_users_in_group",
                                         group=group_id)
    users = store.members(session, rows["group"].id)
    call = controller.call(req, session, base)
    bodies = [USERS.show(user, base) for user in users]
    USERS.hooks.decorate(call, users, bodies)
    return listing(req, "users", f"/groups/{group_id}/users", bodies)


def check_member(controller, req, session, group_id, user_id):
    """``HEAD/GET /groups/{g}/users/{u}``: 204 for a member, 404 otherwise."""
    _authorize_member(controller, req, session, "identity:check_user_in_group", group_id,
                      user_id)
    if not store.is_member(session, group_id, user_id):
        raise _not_member(group_id, user_id)
    return no_content()


def add_member(controller, req, session, group_id, user_id):
    _authorize_member(controller, req, session, "identity:add_user_to_group", group_id,
                      user_id)
    store.add_member(session, group_id, user_id)
    controller.services.audit.membership(req, session, "added", group_id, user_id)
    return no_content()


def remove_member(controller, req, session, group_id, user_id):
    _authorize_member(controller, req, session, "identity:remove_user_from_group", group_id,
                      user_id)
    if not store.remove_member(session, group_id, user_id):
        raise _not_member(group_id, user_id)
    controller.services.audit.membership(req, session, "removed", group_id, user_id)
    return no_content()


def list_groups_for_user(controller, req, session, user_id):
    """``GET /users/{u}/groups``: the user's groups, with Keystone's ``membership_expires_at``
    (always null: memberships here do not expire)."""
    base, rows = controller.authorize_on(req, session, "identity:list_groups_for_user",
                                         user=user_id)
    bodies = [{**GROUPS.show(group, base), "membership_expires_at": None}
              for group in store.groups_of(session, rows["user"].id)]
    return listing(req, "groups", f"/users/{user_id}/groups", bodies)


def _authorize_member(controller, req, session, rule, group_id, user_id) -> None:
    controller.authorize_on(req, session, rule, group=group_id, user=user_id)


def _not_member(group_id: str, user_id: str) -> errors.NotFound:
    # Keystone's wording (the golden HEAD's Content-Length matches it).
    return errors.NotFound(f"User '{user_id}' not found in group '{group_id}'")


GROUPS = Resource(
    name="group", collection="groups", model=models.Group,
    fields=(
        Field("name", name(255), required=True, filter=True),
        Field("domain_id", ID, default=default_domain, immutable=True),
        Field("description", TEXT, default=""),
    ),
    shown=("id", "name", "domain_id", "description"), target=("id", "domain_id"),
    unique=("name", "domain_id"), listed_in_domain=True, hooks=GroupHooks())
