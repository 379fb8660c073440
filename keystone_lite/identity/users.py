"""Users (``/v3/users``): the declaration and what is special about users.

Special: the password is hashed (never stored or echoed as sent) and may expire; Keystone's
user options live in their own table; a new password, or enabling, ends a lockout; deleting a
user deletes its grants, group memberships, trusts and uuid tokens. Disabling or enabling a
user, or giving it a new password, kills its existing tokens for good (store.update moves the
user's revision).
"""
from __future__ import annotations

import functools

from sqlalchemy import delete

from keystone_lite import errors
from keystone_lite.db import models
from keystone_lite.identity import application_credential_store, parsing, passwords, render, store
from keystone_lite.identity.admin import ident, listing
from keystone_lite.identity.lockout import Lockout
from keystone_lite.identity.resources import (BOOLEAN, ID, NULLABLE_ID, TEXT, Field, Hooks,
                                              Resource, name)
from keystone_lite.token.trust_scope import delete_trusts

PASSWORD_MAX = 4096
OPTIONS = {"type": ["object", "null"], "additionalProperties": False,
           "properties": {option: {"type": ["boolean", "null"]} for option in store.USER_OPTIONS}}


def default_domain(call) -> str:
    return call.settings.default_domain_id


def require_domain(session, domain_id: str) -> None:
    """404 for an unknown domain, as Keystone answers a user created in one."""
    if store.find_domain(session, domain_id=domain_id) is None:
        raise errors.NotFound(f"Could not find domain: {domain_id}.")


class UserHooks(Hooks):
    def routes(self, controller):
        return [(rf"/users/{ident('user_id')}/projects",
                 {"GET": functools.partial(list_user_projects, controller)})]

    def creating(self, call, values, body):
        require_domain(call.session, values["domain_id"])
        _check_default_project(call.session, values.get("default_project_id"))
        password = body.get("password")
        if password is not None:
            exempt = (body.get("options") or {}).get("ignore_password_expiry") is True
            values["password_hash"] = call.services.passwords.hash(password)
            values["password_expires_at"] = passwords.expiry(
                call.settings.password_expires_days, exempt)

    def created(self, call, row, body):
        store.set_user_options(call.session, row.id, body.get("options") or {})

    def updating(self, call, row, changes, body):
        _check_default_project(call.session, changes.get("default_project_id"))
        options = body.get("options") or {}
        password = body.get("password")
        if password is not None:
            exempt = {**store.user_options(call.session, [row.id]).get(row.id, {}),
                      **options}.get("ignore_password_expiry") is True
            changes["password_hash"] = call.services.passwords.hash(password)
            changes["password_expires_at"] = passwords.expiry(
                call.settings.password_expires_days, exempt)
        elif options.get("ignore_password_expiry") is True:
            changes["password_expires_at"] = None  # the option is the way out of an expiry

    def updated(self, call, row, changes, body):
        store.set_user_options(call.session, row.id, body.get("options") or {})
        if body.get("password") is not None or changes.get("enabled") is True:
            # As Keystone for enabling; a new password set by an administrator likewise.
            Lockout.reset(call.session, row.id)

    def deleting(self, call, row):
        delete_dependents(call.session, [row.id])

    def decorate(self, call, rows, bodies):
        options = store.user_options(call.session, [row.id for row in rows])
        for row, body in zip(rows, bodies):
            body["options"] = options.get(row.id, {})


def delete_dependents(session, user_ids: list[str]) -> None:
    """What goes with users: their grants, group memberships, trusts (as trustor or trustee,
    as Keystone), application credentials, access rules and uuid tokens (options and failure
    counts go by their foreign keys' ON DELETE CASCADE)."""
    application_credential_store.remove_for_users(session, user_ids)
    session.execute(delete(models.RoleAssignment).where(
        models.RoleAssignment.user_id.in_(user_ids)))
    session.execute(delete(models.GroupMembership).where(
        models.GroupMembership.user_id.in_(user_ids)))
    delete_trusts(session, models.Trust.trustor_user_id.in_(user_ids)
                  | models.Trust.trustee_user_id.in_(user_ids))
    session.execute(delete(models.Token).where(models.Token.user_id.in_(user_ids)))


def _check_default_project(session, project_id: str | None) -> None:
    if project_id is not None and store.find_project(session, project_id=project_id) is None:
        raise errors.ValidationError(f"Could not find project: {project_id}.")


def list_user_projects(controller, req, session, user_id):
    """``/users/{id}/projects``: projects on which the user holds a role (disabled ones too, as
    Keystone)."""
    base, rows = controller.authorize_on(req, session, "identity:list_user_projects",
                                         user=user_id)
    user = rows["user"]
    params = parsing.query(req)
    enabled = parsing.query_bool(params, "enabled")
    wanted = params.get("name")
    projects = store.projects_for_user(session, user.id, enabled_only=False)
    return listing(req, "projects", f"/users/{user.id}/projects", [
        render.v3_project(project, base) for project in projects
        if (enabled is None or project.enabled is enabled)
        and (wanted is None or project.name == wanted)])


USERS = Resource(
    name="user", collection="users", model=models.User,
    fields=(
        Field("name", name(255), required=True, filter=True),
        Field("domain_id", ID, default=default_domain, immutable=True),
        Field("enabled", BOOLEAN, default=True, filter=True),
        Field("description", TEXT, default=""),
        Field("default_project_id", NULLABLE_ID, filter=True),
        Field("password", {"type": ["string", "null"], "minLength": 1, "maxLength": PASSWORD_MAX},
              column=False, secret=True),
        Field("options", OPTIONS, column=False),
    ),
    render=render.v3_user, target=("id", "domain_id"), unique=("name", "domain_id"),
    listed_in_domain=True, keeps_extra=True, hooks=UserHooks())
