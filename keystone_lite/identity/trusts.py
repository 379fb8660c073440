"""Trusts (``/v3/OS-TRUST/trusts``, Keystone's OS-TRUST): the declaration and what is special
about trusts. Served by both apps: users make their own (docs/compatibility.md).

A trust lets its trustee act with some of its trustor's roles on one project (tokens scoped to
it: keystone_lite.token.trust_scope), as itself or as the trustor (``impersonation``), until
``expires_at``, for ``remaining_uses`` tokens, and pass it on (``allow_redelegation``,
``redelegation_count``) by creating a trust with a token of the trust.

Special, as Keystone: only the trustor creates a trust, with roles it holds on the project (or,
redelegating, roles of the trust it passes on); a trust that does not exist, has expired or has
no use left is 404 before any policy check (lp#1840288); the list of every trust is an
administrator's, a trustor's or trustee's own list its own; a delegated token (an application
credential's, an OAuth1 or OAuth 2.0 one: token.delegation) makes, reads and deletes no trust,
while a trust-scoped token may; trusts are not updated (no PATCH);
deleting one deletes those redelegated from it, and deleting a user or a project deletes its
trusts (``trust_scope.delete_trusts``, called by users.py and projects.py). Every write moves
the change counter, and the tokens of a deleted trust fail their next validation.
"""
from __future__ import annotations

import datetime
import functools

from sqlalchemy import delete

from keystone_lite import errors, policy
from keystone_lite.context import get_context
from keystone_lite.db import models
from keystone_lite.identity import parsing, store
from keystone_lite.identity.admin import ident, listing
from keystone_lite.identity.resources import (BOOLEAN, ID, NULLABLE_ID, Field, Hooks, Resource,
                                              ResourceController, name)
from keystone_lite.identity.roles import ROLES
from keystone_lite.router import json_response
from keystone_lite.token.delegation import TRUSTS_REFUSED, is_delegated
from keystone_lite.token.payload import now_us
from keystone_lite.token.trust_scope import (MAX_REDELEGATION_COUNT, chain, delete_trusts,
                                             delegated_roles, held_role_ids)

PATH = "OS-TRUST/trusts"
ROLE_REFERENCE = {"type": "object", "properties": {"id": ID, "name": name(255)},
                  "minProperties": 1, "maxProperties": 1, "additionalProperties": False}
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_BAD_REQUEST = ("The server could not comply with the request since it is either malformed or "
                "otherwise incorrect. The client is assumed to be in error.")


def routes(services) -> list:
    """The trust routes, for both apps."""
    return ResourceController(services, {"trust": TRUSTS}, TRUSTS).routes()


def forbidden(action: str) -> errors.Forbidden:
    """Keystone's ForbiddenAction."""
    return errors.Forbidden(f"You are not authorized to perform the requested action: {action}.")


def refuse_delegated(req) -> None:
    """Keystone's _check_delegated_token, after the policy check of every trust call: a
    delegated token (an application credential's, restricted or not, ...) manages no trust;
    a trust-scoped one may, to pass its trust on."""
    if is_delegated(get_context(req.environ)["caller"], counting_trusts=False):
        raise errors.Forbidden(TRUSTS_REFUSED)


def isotime(microseconds: int | None) -> str | None:
    """A trust's expiry as Keystone prints it (``2026-12-05T22:30:36.000000Z``), or None."""
    if microseconds is None:
        return None
    return (_EPOCH + datetime.timedelta(microseconds=microseconds)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


def parse_expiry(text: str | None, now: int) -> int | None:
    """``expires_at`` of a new trust, in µs: an ISO 8601 time (UTC unless it says otherwise),
    not in the past; 400 as Keystone words it otherwise."""
    if text is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        # OverflowError past the end of year 9999 in UTC, which could not be printed back.
        moment = moment.astimezone(datetime.timezone.utc)
        microseconds = (moment - _EPOCH) // datetime.timedelta(microseconds=1)
    except (ValueError, OverflowError):
        raise errors.ValidationError(f"Timestamp not in expected format. {_BAD_REQUEST}") from None
    if microseconds < now:
        raise errors.ValidationError(f"The 'expires_at' must not be before now. {_BAD_REQUEST}")
    return microseconds


def render(trust, base: str) -> dict:
    return {
        "id": trust.id,
        "trustor_user_id": trust.trustor_user_id,
        "trustee_user_id": trust.trustee_user_id,
        "project_id": trust.project_id,
        "impersonation": trust.impersonation,
        "expires_at": isotime(trust.expires_at),
        "remaining_uses": trust.remaining_uses,
        "deleted_at": None,  # Keystone keeps deleted trusts; here they are gone
        "redelegated_trust_id": trust.redelegated_trust_id,
        "redelegation_count": trust.redelegation_count,
        "links": {"self": f"{base}/v3/{PATH}/{trust.id}"},
    }


def usable(session, trust_id: str):
    """The trust, unless it does not exist, has expired or has no use left: then 404, as
    Keystone answers before any policy check."""
    trust = parsing.load(session, models.Trust, trust_id, "trust")
    if trust.remaining_uses == 0 or (trust.expires_at is not None
                                     and trust.expires_at <= now_us()):
        raise errors.NotFound(f"Could not find trust: {trust_id}.")
    return trust


class TrustHooks(Hooks):
    def routes(self, controller):
        one = rf"/{PATH}/{ident('trust_id')}/roles"
        return [(one, {"GET": functools.partial(list_roles, controller)}),
                (rf"{one}/{ident('role_id')}", {"GET": functools.partial(get_role, controller)})]

    def wrap(self, controller, routes):
        """No PATCH (trusts do not change); a missing or spent trust is 404 first."""
        one = rf"/{PATH}/{ident('trust_id')}"
        wrapped = []
        for pattern, methods in routes:
            if pattern == one:
                methods = {method: _usable_first(handler) for method, handler in methods.items()
                           if method != "PATCH"}
            wrapped.append((pattern, methods))
        return wrapped

    def rule(self, resource, action, subject):
        if action == "list":  # subject: the query parameters
            for who in ("trustor", "trustee"):
                if subject.get(f"{who}_user_id"):
                    return f"identity:list_trusts_for_{who}"
        return resource.rule(action)

    def filtering(self, call, params, filters):
        refuse_delegated(call.req)

    def list_target(self, params):
        return {f"trust.{key}": params[key] for key in ("trustor_user_id", "trustee_user_id")
                if params.get(key)}

    def creating(self, call, values, body):
        """Keystone's checks, in its order; ``body["roles"]`` becomes the roles' ids."""
        refuse_delegated(call.req)
        session = call.session
        if values["project_id"] is not None and not body.get("roles"):
            raise forbidden("At least one role should be specified")
        if policy.credentials_of(call.req, call.settings).user_id != values["trustor_user_id"]:
            raise forbidden("The authenticated user should match the trustor")
        parsing.load(session, models.User, values["trustee_user_id"], "user")
        role_ids = [_role(session, reference).id for reference in body.get("roles") or ()]
        body["roles"] = role_ids = list(dict.fromkeys(role_ids))
        parent = _redelegated_from(call)
        if parent is None:
            _check_held(session, values, role_ids)
        values["expires_at"] = parse_expiry(body.get("expires_at"), now_us())
        values["redelegation_count"] = _redelegation_count(values, body, parent)
        if parent is not None:
            _check_redelegation(session, values, role_ids, parent)

    def created(self, call, row, body):
        for role_id in body["roles"]:
            call.session.add(models.TrustRole(trust_id=row.id, role_id=role_id))
        call.session.flush()

    def deleting(self, call, row):
        refuse_delegated(call.req)
        delete_trusts(call.session, models.Trust.redelegated_trust_id == row.id)
        call.session.execute(delete(models.TrustRole).where(models.TrustRole.trust_id == row.id))

    def showing_one(self, call, row, body):
        refuse_delegated(call.req)
        body["roles"] = [ROLES.show(role, call.base)
                         for role in delegated_roles(call.session, row.id)]
        # Keystone's link lacks "OS-TRUST/trusts/"; this one leads somewhere.
        body["roles_links"] = {"self": f"{call.base}/v3/{PATH}/{row.id}/roles", "next": None,
                               "previous": None}


def _usable_first(handler):
    def usable_first(req, session, trust_id):
        usable(session, trust_id)
        return handler(req, session, trust_id=trust_id)
    return usable_first


def _role(session, reference: dict):
    """The role a ``{"id"}`` or ``{"name"}`` of the body names (a global role by name)."""
    if "id" in reference:
        role = store.find_role(session, role_id=reference["id"])
    else:
        role = store.find_role(session, name=reference["name"])
    if role is None:
        raise errors.NotFound(f"Could not find role: {reference.get('id', reference.get('name'))}.")
    return role


def _check_held(session, values: dict, role_ids: list[str]) -> None:
    """The trustor holds every role on the project (directly, through a group or implied);
    Keystone answers another (any, without a project) 404, as an unknown role."""
    held = set()
    if values["project_id"] is not None:
        project = parsing.load(session, models.Project, values["project_id"], "project")
        held = held_role_ids(session, values["trustor_user_id"], project.id)
    for role_id in role_ids:
        if role_id not in held:
            raise errors.NotFound(f"Could not find role: {role_id}.")


def _redelegated_from(call):
    """The trust of the caller's token when it is trust-scoped: the new trust passes it on."""
    caller = get_context(call.req.environ)["caller"]
    if caller is None or caller.payload.trust_id is None:
        return None
    return parsing.load(call.session, models.Trust, caller.payload.trust_id, "trust")


def _redelegation_count(values: dict, body: dict, parent) -> int:
    """How many more times the new trust may be passed on (Keystone's trust core)."""
    requested = body.get("redelegation_count")
    redelegatable = body.get("allow_redelegation") is True and requested != 0
    if redelegatable:
        if requested is not None and requested > MAX_REDELEGATION_COUNT:
            raise errors.Forbidden(f"Requested redelegation depth of {requested} is greater "
                                   f"than allowed {MAX_REDELEGATION_COUNT}.")
        if values["remaining_uses"] is not None:
            raise errors.ValidationError("remaining_uses must not be set if redelegation is "
                                         "allowed")
    if parent is None:
        return (requested or MAX_REDELEGATION_COUNT) if redelegatable else 0
    remaining = parent.redelegation_count - 1
    if redelegatable and requested and requested != remaining:
        raise errors.Forbidden('Modifying "redelegation_count" upon redelegation is forbidden. '
                               "Omitting this parameter is advised.")
    return max(remaining, 0) if redelegatable else 0


def _check_redelegation(session, values: dict, role_ids: list[str], parent) -> None:
    """A trust passed on from ``parent`` (by its trustee, now the trustor) delegates no more
    than every trust of its chain: on the same project, no later, with no limit on uses,
    some of their roles; each may still be passed on."""
    if values["project_id"] != parent.project_id:
        raise errors.Forbidden("A redelegated trust must be on the project of the trust it "
                               "comes from.")
    values["redelegated_trust_id"] = parent.id
    for link in chain(session, parent):
        if link is None:
            raise errors.NotFound(f"Could not find trust: {parent.id}.")
        if not 0 < link.redelegation_count <= MAX_REDELEGATION_COUNT:
            raise errors.Forbidden(f"Remaining redelegation depth of {link.redelegation_count} "
                                   f"out of allowed range of [0..{MAX_REDELEGATION_COUNT}].")
        if values["remaining_uses"] is not None:
            raise errors.Forbidden(f'Field "remaining_uses" is set to {values["remaining_uses"]}'
                                   " while it must not be set in order to redelegate a trust.")
        if values["expires_at"] is None:
            values["expires_at"] = link.expires_at
        elif link.expires_at is not None and link.expires_at < values["expires_at"]:
            raise errors.Forbidden("Requested expiration time is more than redelegated trust "
                                   "can provide.")
        if set(role_ids) - {role.id for role in delegated_roles(session, link.id)}:
            raise errors.Forbidden("Some of requested roles are not in redelegated trust.")


def list_roles(controller, req, session, trust_id):
    """``GET /OS-TRUST/trusts/{id}/roles``: the roles the trust delegates."""
    usable(session, trust_id)
    base, _rows = controller.authorize_on(req, session, "identity:list_roles_for_trust",
                                          trust=trust_id)
    refuse_delegated(req)
    roles = [ROLES.show(role, base) for role in delegated_roles(session, trust_id)]
    return listing(req, "roles", f"/{PATH}/{trust_id}/roles", roles)


def get_role(controller, req, session, trust_id, role_id):
    """``GET/HEAD /OS-TRUST/trusts/{id}/roles/{role_id}``: the role, if the trust delegates it."""
    usable(session, trust_id)
    base, _rows = controller.authorize_on(req, session, "identity:get_role_for_trust",
                                          trust=trust_id)
    refuse_delegated(req)
    for role in delegated_roles(session, trust_id):
        if role.id == role_id:
            return json_response({"role": ROLES.show(role, base)})
    raise errors.NotFound(f"Could not find role: {role_id[:64]}.")


USER_ID = {"type": "string"}  # as Keystone: any string (identity backends choose their ids)

TRUSTS = Resource(
    name="trust", collection="trusts", prefix="/OS-TRUST", model=models.Trust,
    fields=(
        Field("trustor_user_id", USER_ID, required=True, filter=True),
        Field("trustee_user_id", USER_ID, required=True, filter=True),
        Field("impersonation", BOOLEAN, required=True),
        Field("project_id", NULLABLE_ID),
        Field("remaining_uses", {"type": ["integer", "null"], "minimum": 1,
                                 "maximum": 2**31 - 1}),  # the column's INTEGER
        Field("expires_at", {"type": ["string", "null"]}, column=False),
        Field("allow_redelegation", {"type": ["boolean", "null"]}, column=False),
        Field("redelegation_count", {"type": ["integer", "null"], "minimum": 0}, column=False),
        Field("roles", {"type": "array", "items": ROLE_REFERENCE}, column=False),
    ),
    render=render, order_by=("id",), target=("id", "trustor_user_id", "trustee_user_id"),
    hooks=TrustHooks())
