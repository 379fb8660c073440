"""Keystone's unified limits: registered limits (``/v3/registered_limits``: a service's default
for a resource, optionally per region), limits (``/v3/limits``: a project's or a domain's
override of one) and the enforcement model (``GET /v3/limits/model``), declared here with
their special cases.

As Keystone's: both are created in lists (``{"registered_limits": [...]}``: all or none); a
limit needs a registered limit for its service, region and resource name (403 otherwise) and
takes those from it; duplicates are 409; a registered limit that limits refer to can be
neither changed nor deleted (403); a limit changes only its ``resource_limit`` and
``description``. Anyone with a token reads registered limits and the model; a limit is read by
the system, the domain it or its project is in and its project, and a list shows the caller's
scope's limits only (all of them to the system). ``[unified_limit] enforcement_model``
``strict_two_level`` keeps every project limit at most its domain's (or, without one, the
registered default) and every domain limit at least each of its projects'.
"""
from __future__ import annotations

import functools

from sqlalchemy import false, or_, select, true

from keystone_lite import errors, policy
from keystone_lite.context import get_context
from keystone_lite.db import models
from keystone_lite.identity.catalog import NULLABLE_REGION_ID
from keystone_lite.identity.resources import ID, NULLABLE_ID, TEXT, Field, Hooks, Resource, name
from keystone_lite.router import json_response

# Keystone's: -1 is "no limit"; the maximum is a signed 32-bit integer's.
LIMIT_VALUE = {"type": "integer", "minimum": -1, "maximum": 0x7FFFFFFF}
MODELS = {
    "flat": "Limit enforcement and validation does not take project hierarchy into "
            "consideration.",
    "strict_two_level": "This model requires project hierarchy never exceeds a depth of two",
}


def create_many(controller, req, session):
    """POST of a list (``{"registered_limits": [...]}``, ``{"limits": [...]}``): each item is
    validated, then all are created (one transaction: all or none); 201 with the list."""
    resource = controller.resource
    base = controller.authorize(req, resource.hooks.rule(resource, "create", None))
    document = get_context(req.environ)["json"]
    items = document.get(resource.collection) if isinstance(document, dict) else None
    if not isinstance(items, list) or not items or not all(
            isinstance(item, dict) for item in items):
        raise errors.ValidationError(f"Expecting to find {resource.collection} in request "
                                     "body: a list of at least one object.")
    for item in items:
        resource.validate(item, creating=True)
    call = controller.call(req, session, base)
    created = [controller.insert(call, item) for item in items]
    resource.hooks.created_all(call, created)
    return json_response({resource.collection: created}, status=201)


class LimitHooksBase(Hooks):
    def rule(self, resource, action, subject):
        # Keystone's create rules are plural: identity:create_registered_limits, ...
        return f"{resource.rule(action)}s" if action == "create" else resource.rule(action)

    def wrap(self, controller, routes):
        path, methods = routes[0]
        return [(path, {**methods, "POST": functools.partial(create_many, controller)}),
                *routes[1:]]

    def created_all(self, call, created: list[dict]) -> None:
        """After every item of a create is in."""


# -- registered limits --------------------------------------------------------------------------

class RegisteredLimitHooks(LimitHooksBase):
    def creating(self, call, values, body):
        _check_references(call.session, values, "registered_limit")
        _ensure_unique_registered(call.session, values)

    def updating(self, call, row, changes, body):
        _refuse_if_referenced(call.session, row)
        _check_references(call.session, changes, "registered_limit")
        after = {key: changes.get(key, getattr(row, key))
                 for key in ("service_id", "region_id", "resource_name")}
        if any(after[key] != getattr(row, key) for key in after):
            _ensure_unique_registered(call.session, after)

    def deleting(self, call, row):
        _refuse_if_referenced(call.session, row)


def _refuse_if_referenced(session, registered) -> None:
    if session.scalar(select(models.Limit.id).where(
            models.Limit.registered_limit_id == registered.id).limit(1)) is not None:
        raise errors.Forbidden(f"Unable to update or delete registered limit {registered.id} "
                               "because there are project limits associated with it.")


def _ensure_unique_registered(session, values: dict) -> None:
    if _registered(session, values) is not None:
        raise errors.Conflict("Conflict occurred attempting to store registered_limit - "
                              "Duplicate entry.")


def _registered(session, values: dict):
    """The registered limit of ``values``' service, region and resource name, or None."""
    return session.scalar(select(models.RegisteredLimit).where(
        models.RegisteredLimit.service_id == values["service_id"],
        models.RegisteredLimit.region_id == values.get("region_id"),  # None: IS NULL
        models.RegisteredLimit.resource_name == values["resource_name"]))


def _check_references(session, values: dict, target: str) -> None:
    """400 worded as Keystone's for a service, region, project or domain that does not exist;
    a ``project_id`` naming a domain makes the limit the domain's, as in Keystone."""
    if values.get("project_id") is not None and session.get(
            models.Domain, values["project_id"]) is not None:
        values["domain_id"], values["project_id"] = values["project_id"], None
    for key, model in (("service_id", models.Service), ("region_id", models.Region),
                       ("project_id", models.Project), ("domain_id", models.Domain)):
        if values.get(key) is not None and session.get(model, values[key]) is None:
            raise errors.ValidationError(
                f"Expecting to find {key} in {target}. The server could not comply with the "
                "request since it is either malformed or otherwise incorrect. The client is "
                "assumed to be in error.")


REGISTERED_LIMITS = Resource(
    name="registered_limit", collection="registered_limits", model=models.RegisteredLimit,
    fields=(Field("service_id", ID, required=True, filter=True),
            Field("region_id", NULLABLE_REGION_ID, filter=True),
            Field("resource_name", name(255), required=True, filter=True),
            Field("default_limit", LIMIT_VALUE, required=True),
            Field("description", TEXT)),
    shown=("id", "service_id", "region_id", "resource_name", "default_limit", "description"),
    order_by=("service_id", "resource_name", "id"), closed=True, hooks=RegisteredLimitHooks())


# -- limits -------------------------------------------------------------------------------------

REGISTERED_ATTRIBUTES = ("service_id", "region_id", "resource_name")
UPDATABLE = ("resource_limit", "description")


class LimitHooks(LimitHooksBase):
    def wrap(self, controller, routes):
        # Before /limits/{limit_id}, which "model" would match.
        return [(r"/limits/model", {"GET": functools.partial(get_model, controller)}),
                *super().wrap(controller, routes)]

    def creating(self, call, values, body):
        for key in REGISTERED_ATTRIBUTES:
            values[key] = body.get(key)
        if (values["project_id"] is None) == (values["domain_id"] is None):
            raise errors.ValidationError("A limit is either a project's (project_id) or a "
                                         "domain's (domain_id): give exactly one of them.")
        _check_references(call.session, values, "limit")
        registered = _registered(call.session, values)
        if registered is None:
            raise errors.Forbidden("Unable to create a limit that has no corresponding "
                                   "registered limit.")
        for key in REGISTERED_ATTRIBUTES:
            del values[key]
        values["registered_limit_id"] = registered.id
        owner = (models.Limit.project_id == values["project_id"] if values["project_id"]
                 else models.Limit.domain_id == values["domain_id"])
        if call.session.scalar(select(models.Limit.id).where(
                models.Limit.registered_limit_id == registered.id, owner)) is not None:
            raise errors.Conflict("Conflict occurred attempting to store limit - Duplicate "
                                  "entry.")

    def created_all(self, call, created):
        # Checked once every new limit is in: a domain limit and its projects' may come in
        # one request, in any order.
        _check_model(call, [call.session.get(models.Limit, body["id"]) for body in created])

    def updating(self, call, row, changes, body):
        refused = sorted(key for key in body if key not in UPDATABLE)
        if refused:
            raise errors.ValidationError(f"Only {' and '.join(UPDATABLE)} of a limit can be "
                                         f"changed, not {', '.join(refused)}.")

    def updated(self, call, row, changes, body):
        _check_model(call, [row])

    def list_conditions(self, call, params):
        conditions = [_in_scope(policy.credentials_of(call.req, call.settings))]
        wanted = {key: params[key] for key in REGISTERED_ATTRIBUTES if key in params}
        if wanted:
            conditions.append(models.Limit.registered_limit_id.in_(select(
                models.RegisteredLimit.id).where(*(
                    getattr(models.RegisteredLimit, key) == value
                    for key, value in wanted.items()))))
        return conditions

    def decorate(self, call, rows, bodies):
        registered = {row.id: row for row in call.session.scalars(
            select(models.RegisteredLimit).where(models.RegisteredLimit.id.in_(
                {row.registered_limit_id for row in rows})))}
        for row, body in zip(rows, bodies):
            for key in REGISTERED_ATTRIBUTES:
                body[key] = getattr(registered[row.registered_limit_id], key)


def _in_scope(creds):
    """The limits a list shows the caller, as Keystone: all to the system (and the admin
    token), a domain's and its projects' to a domain token, its project's to a project token,
    none to an unscoped one."""
    if creds.system or creds.user_id is None:
        return true()
    if creds.domain_id is not None:
        return or_(models.Limit.domain_id == creds.domain_id,
                   models.Limit.project_id.in_(select(models.Project.id).where(
                       models.Project.domain_id == creds.domain_id)))
    if creds.project_id is not None:
        return models.Limit.project_id == creds.project_id
    return false()


def _check_model(call, limits: list) -> None:
    """403 unless ``strict_two_level`` holds for these limits (nothing to check when flat)."""
    if call.settings.limit_enforcement_model != "strict_two_level":
        return
    session = call.session
    for limit in limits:
        registered = session.get(models.RegisteredLimit, limit.registered_limit_id)
        same_resource = (models.Limit.registered_limit_id == registered.id,)
        if limit.project_id is not None:
            # The parent: the project's parent project (which has no domain limit, so the
            # registered default stands, as in Keystone) or its domain.
            project = session.get(models.Project, limit.project_id)
            parent = session.scalar(select(models.Limit.resource_limit).where(
                *same_resource,
                models.Limit.domain_id == (project.parent_id or project.domain_id)))
            ceiling = parent if parent is not None else registered.default_limit
            broken = bool(ceiling) and limit.resource_limit > ceiling
        else:
            children = session.scalars(select(models.Limit.resource_limit).where(
                *same_resource, models.Limit.project_id.in_(select(models.Project.id).where(
                    models.Project.domain_id == limit.domain_id))))
            broken = any(child and limit.resource_limit < child for child in children)
        if broken:
            level, owner = (("project_id", limit.project_id) if limit.project_id
                            else ("domain_id", limit.domain_id))
            raise errors.Forbidden(
                f"Invalid resource limit: The resource limit ({level}: {owner}, "
                f"resource_name: {registered.resource_name}, resource_limit: "
                f"{limit.resource_limit}, service_id: {registered.service_id}, region_id: "
                f"{registered.region_id}) doesn't satisfy current hierarchy model.")


def get_model(controller, req, session):
    """``GET /v3/limits/model``: the configured enforcement model, named and described as
    Keystone does."""
    controller.authorize(req, "identity:get_limit_model")
    model = controller.settings.limit_enforcement_model
    return json_response({"model": {"name": model, "description": MODELS[model]}})


LIMITS = Resource(
    name="limit", collection="limits", model=models.Limit,
    fields=(Field("project_id", NULLABLE_ID, filter=True),
            Field("domain_id", NULLABLE_ID, filter=True),
            Field("service_id", ID, required=True, column=False),
            Field("region_id", NULLABLE_REGION_ID, column=False),
            Field("resource_name", name(255), required=True, column=False),
            Field("resource_limit", LIMIT_VALUE, required=True),
            Field("description", TEXT)),
    shown=("id", "project_id", "domain_id", "resource_limit", "description"),
    order_by=("id",), target=("id", "project_id", "domain_id", "project_domain_id"),
    closed=True, hooks=LimitHooks())
