"""The catalog: services (``/v3/services``), endpoints (``/v3/endpoints``) and regions
(``/v3/regions``), declared here with their special cases.

Special: deleting a service deletes its endpoints (and their OS-EP-FILTER associations, by
their foreign keys); an endpoint names an existing service, and a region that does not exist
yet is created for it (as Keystone); region ids are chosen by clients (PUT), parents must exist
and never make a cycle, and a region still in use (by endpoints, child regions or registered
limits), like a service with registered limits, cannot be deleted. Tokens render the catalog
from these tables, so a change shows in the next token response without any cache to flush.
"""
from __future__ import annotations

from sqlalchemy import delete, select

from keystone_lite import errors
from keystone_lite.db import models
from keystone_lite.identity import store
from keystone_lite.identity.resources import BOOLEAN, ID, TEXT, Field, Hooks, Resource, name

REGION_ID = {"type": "string", "minLength": 1, "maxLength": 255}
NULLABLE_REGION_ID = {**REGION_ID, "type": ["string", "null"]}


class ServiceHooks(Hooks):
    def deleting(self, call, row):
        _refuse_if_limited(call.session, models.RegisteredLimit.service_id, "Service", row.id)
        call.session.execute(delete(models.Endpoint).where(models.Endpoint.service_id == row.id))


def _refuse_if_limited(session, column, what: str, row_id: str) -> None:
    """409 while registered limits (limits.py) name the service or region: quotas are not
    dropped as a side effect."""
    if session.scalar(select(models.RegisteredLimit.id).where(column == row_id).limit(1)):
        raise errors.Conflict(f"{what} {row_id} still has registered limits; delete them "
                              "first.")


SERVICES = Resource(
    name="service", collection="services", model=models.Service,
    fields=(Field("type", name(255), required=True, filter=True),
            Field("name", name(255), default="", filter=True),
            Field("description", TEXT, default=""),
            Field("enabled", BOOLEAN, default=True, filter=True)),
    shown=("id", "type", "name", "description", "enabled"), order_by=("type", "name"), hooks=ServiceHooks())


class EndpointHooks(Hooks):
    def creating(self, call, values, body):
        _check_service(call.session, values["service_id"])
        values["region_id"] = _region_id(call.session, body)

    def updating(self, call, row, changes, body):
        if "service_id" in changes:
            _check_service(call.session, changes["service_id"])
        if "region_id" in body or "region" in body:
            changes["region_id"] = _region_id(call.session, body)

    def decorate(self, call, rows, bodies):
        for row, body in zip(rows, bodies):
            body["region"] = row.region_id  # Keystone's older name, still sent


def _check_service(session, service_id: str) -> None:
    if session.get(models.Service, service_id) is None:
        raise errors.ValidationError(f"Could not find service: {service_id}.")


def _region_id(session, body: dict) -> str | None:
    """``endpoint.region_id`` (or Keystone's older alias ``region``); a region that does not
    exist yet is created, as Keystone does."""
    region_id = body.get("region_id") if "region_id" in body else body.get("region")
    if region_id is not None:
        store.ensure_region(session, region_id)
    return region_id


ENDPOINTS = Resource(
    name="endpoint", collection="endpoints", model=models.Endpoint,
    fields=(Field("service_id", ID, required=True, filter=True),
            Field("interface", {"enum": list(store.INTERFACES)}, required=True, filter=True),
            Field("url", {"type": "string", "minLength": 1},
                  required=True),
            Field("region_id", NULLABLE_REGION_ID, filter=True),
            Field("region", NULLABLE_REGION_ID, column=False),
            Field("enabled", BOOLEAN, default=True, filter=True)),
    shown=("id", "interface", "region_id", "url", "service_id", "enabled"), order_by=("service_id", "interface"), hooks=EndpointHooks())


class RegionHooks(Hooks):
    def creating(self, call, values, body):
        if call.session.get(models.Region, values["id"]) is not None:
            raise errors.Conflict(f"Conflict occurred attempting to store region - Duplicate "
                                  f"ID, {values['id']}.")
        _check_parent(call.session, values.get("parent_region_id"), None)

    def updating(self, call, row, changes, body):
        if "parent_region_id" in changes:
            _check_parent(call.session, changes["parent_region_id"], row.id)

    def deleting(self, call, row):
        session = call.session
        _refuse_if_limited(session, models.RegisteredLimit.region_id, "Region", row.id)
        if session.scalar(select(models.Endpoint.id).where(
                models.Endpoint.region_id == row.id).limit(1)) is not None:
            raise errors.Conflict(f"Region {row.id} still has endpoints; delete or move them "
                                  "first.")
        if session.scalar(select(models.Region.id).where(
                models.Region.parent_region_id == row.id).limit(1)) is not None:
            raise errors.Conflict(f"Region {row.id} still has child regions; delete or move "
                                  "them first.")


def _check_parent(session, parent_id: str | None, region_id: str | None) -> None:
    """400 when the parent is unknown or would make a cycle."""
    if parent_id is None:
        return
    if session.get(models.Region, parent_id) is None:
        raise errors.ValidationError(f"Could not find region: {parent_id}.")
    if region_id is not None and region_id in _ancestors(session, parent_id):
        raise errors.ValidationError(f"Region {parent_id} cannot be the parent of "
                                     f"{region_id}: that would make a cycle.")


def _ancestors(session, region_id: str) -> list[str]:
    """Ids from ``region_id`` up to its root, stopping early on a (corrupt) cycle."""
    chain: list[str] = []
    while region_id is not None and region_id not in chain:
        chain.append(region_id)
        region = session.get(models.Region, region_id)
        region_id = region.parent_region_id if region is not None else None
    return chain


REGIONS = Resource(
    name="region", collection="regions", model=models.Region,
    fields=(Field("id", REGION_ID, immutable=True),
            Field("description", TEXT, default=""),
            Field("parent_region_id", NULLABLE_REGION_ID, filter=True)),
    shown=("id", "description", "parent_region_id"), order_by=("id",), client_ids=True, hooks=RegionHooks())
