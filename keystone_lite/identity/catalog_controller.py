"""Admin API for the catalog: ``/services``, ``/endpoints`` and ``/regions``.

Tokens render the catalog from these tables on every issue and validation, so a change shows
in the next token response without any cache to flush.
"""
from __future__ import annotations

from keystone_lite import errors
from keystone_lite.db import models
from keystone_lite.identity import parsing, render, store
from keystone_lite.identity.admin import AdminController, ident, listing
from keystone_lite.router import json_response, no_content


class CatalogController(AdminController):
    def routes(self):
        return [
            (r"/services", {"GET": self.list_services, "POST": self.create_service}),
            (rf"/services/{ident('service_id')}", {
                "GET": self.get_service, "PATCH": self.update_service,
                "DELETE": self.delete_service}),
            (r"/endpoints", {"GET": self.list_endpoints, "POST": self.create_endpoint}),
            (rf"/endpoints/{ident('endpoint_id')}", {
                "GET": self.get_endpoint, "PATCH": self.update_endpoint,
                "DELETE": self.delete_endpoint}),
            (r"/regions", {"GET": self.list_regions, "POST": self.create_region}),
            (rf"/regions/{ident('region_id')}", {
                "GET": self.get_region, "PATCH": self.update_region,
                "DELETE": self.delete_region}),
        ]

    # -- services ------------------------------------------------------------------------------

    def list_services(self, req, session):
        base = self.authorize(req, "identity:list_services")
        params = parsing.query(req)
        services = store.list_services(session, service_type=params.get("type"))
        return listing(req, "services", "/services", [
            render.v3_service(service, base) for service in services
            if "name" not in params or service.name == params["name"]])

    def create_service(self, req, session):
        base = self.authorize(req, "identity:create_service")
        body = parsing.entity(req, "service")
        service = store.create_service(
            session, type=parsing.text(body, "type", "service", required=True),
            name=parsing.text(body, "name", "service") or "",
            description=parsing.description(body, "service") or "",
            enabled=parsing.flag(body, "enabled", "service", default=True))
        return json_response({"service": render.v3_service(service, base)}, status=201)

    def get_service(self, req, session, service_id):
        base = self.authorize(req, "identity:get_service")
        service = parsing.load(session, models.Service, service_id, "service")
        return json_response({"service": render.v3_service(service, base)})

    def update_service(self, req, session, service_id):
        base = self.authorize(req, "identity:update_service")
        service = parsing.load(session, models.Service, service_id, "service")
        body = parsing.entity(req, "service")
        changes = {"type": parsing.text(body, "type", "service"),
                   "name": parsing.text(body, "name", "service"),
                   "description": parsing.description(body, "service"),
                   "enabled": parsing.flag(body, "enabled", "service")}
        store.update(session, service, _given(changes))
        return json_response({"service": render.v3_service(service, base)})

    def delete_service(self, req, session, service_id):
        self.authorize(req, "identity:delete_service")
        store.delete_service(session, parsing.load(session, models.Service, service_id,
                                                   "service"))
        return no_content()

    # -- endpoints -----------------------------------------------------------------------------

    def list_endpoints(self, req, session):
        base = self.authorize(req, "identity:list_endpoints")
        params = parsing.query(req)
        endpoints = store.list_endpoints(session, service_id=params.get("service_id"),
                                         interface=params.get("interface"))
        return listing(req, "endpoints", "/endpoints", [
            render.v3_endpoint(endpoint, base) for endpoint in endpoints
            if "region_id" not in params or endpoint.region_id == params["region_id"]])

    def create_endpoint(self, req, session):
        base = self.authorize(req, "identity:create_endpoint")
        body = parsing.entity(req, "endpoint")
        endpoint = store.create_endpoint(
            session,
            service_id=parsing.text(body, "service_id", "endpoint", required=True),
            interface=parsing.text(body, "interface", "endpoint", required=True),
            url=parsing.text(body, "url", "endpoint", required=True, max_length=None),
            region_id=_region_id(session, body),
            enabled=parsing.flag(body, "enabled", "endpoint", default=True))
        return json_response({"endpoint": render.v3_endpoint(endpoint, base)}, status=201)

    def get_endpoint(self, req, session, endpoint_id):
        base = self.authorize(req, "identity:get_endpoint")
        endpoint = parsing.load(session, models.Endpoint, endpoint_id, "endpoint")
        return json_response({"endpoint": render.v3_endpoint(endpoint, base)})

    def update_endpoint(self, req, session, endpoint_id):
        base = self.authorize(req, "identity:update_endpoint")
        endpoint = parsing.load(session, models.Endpoint, endpoint_id, "endpoint")
        body = parsing.entity(req, "endpoint")
        changes = _given({
            "interface": parsing.text(body, "interface", "endpoint"),
            "url": parsing.text(body, "url", "endpoint", max_length=None),
            "service_id": parsing.text(body, "service_id", "endpoint"),
            "enabled": parsing.flag(body, "enabled", "endpoint")})
        if changes.get("interface", endpoint.interface) not in store.INTERFACES:
            raise errors.ValidationError(
                f"interface must be one of {', '.join(store.INTERFACES)}.")
        if "service_id" in changes and store.find_service(
                session, changes["service_id"]) is None:
            raise errors.ValidationError(f"Could not find service: {changes['service_id']}.")
        if "region_id" in body or "region" in body:
            changes["region_id"] = _region_id(session, body)
        store.update(session, endpoint, changes)
        return json_response({"endpoint": render.v3_endpoint(endpoint, base)})

    def delete_endpoint(self, req, session, endpoint_id):
        self.authorize(req, "identity:delete_endpoint")
        store.delete_endpoint(session, parsing.load(session, models.Endpoint, endpoint_id,
                                                    "endpoint"))
        return no_content()

    # -- regions -------------------------------------------------------------------------------

    def list_regions(self, req, session):
        base = self.authorize(req, "identity:list_regions")
        params = parsing.query(req)
        return listing(req, "regions", "/regions", [
            render.v3_region(region, base) for region in store.list_regions(session)
            if "parent_region_id" not in params
            or region.parent_region_id == params["parent_region_id"]])

    def create_region(self, req, session):
        base = self.authorize(req, "identity:create_region")
        body = parsing.entity(req, "region")
        region = store.create_region(
            session, region_id=parsing.text(body, "id", "region") or store.new_id(),
            description=parsing.description(body, "region") or "",
            parent_region_id=_parent_region_id(session, body, None))
        return json_response({"region": render.v3_region(region, base)}, status=201)

    def get_region(self, req, session, region_id):
        base = self.authorize(req, "identity:get_region")
        region = parsing.load(session, models.Region, region_id, "region")
        return json_response({"region": render.v3_region(region, base)})

    def update_region(self, req, session, region_id):
        base = self.authorize(req, "identity:update_region")
        region = parsing.load(session, models.Region, region_id, "region")
        body = parsing.entity(req, "region")
        changes = _given({"description": parsing.description(body, "region")})
        if "parent_region_id" in body:
            changes["parent_region_id"] = _parent_region_id(session, body, region.id)
        store.update(session, region, changes)
        return json_response({"region": render.v3_region(region, base)})

    def delete_region(self, req, session, region_id):
        self.authorize(req, "identity:delete_region")
        store.delete_region(session, parsing.load(session, models.Region, region_id, "region"))
        return no_content()


def _given(changes: dict) -> dict:
    """Drop the fields a PATCH body left out (None)."""
    return {key: value for key, value in changes.items() if value is not None}


def _region_id(session, body: dict) -> str | None:
    """``endpoint.region_id`` (or Keystone's older alias ``region``); 400 if no such region."""
    key = "region_id" if "region_id" in body else "region"
    region_id = parsing.text(body, key, "endpoint")
    if region_id is not None and store.find_region(session, region_id) is None:
        raise errors.ValidationError(f"Could not find region: {region_id}.")
    return region_id


def _parent_region_id(session, body: dict, region_id: str | None) -> str | None:
    """``region.parent_region_id``; 400 when unknown or when it would make a cycle."""
    parent_id = parsing.text(body, "parent_region_id", "region")
    if parent_id is None:
        return None
    if store.find_region(session, parent_id) is None:
        raise errors.ValidationError(f"Could not find region: {parent_id}.")
    if region_id is not None and region_id in store.region_ancestors(session, parent_id):
        raise errors.ValidationError(f"Region {parent_id} cannot be the parent of "
                                     f"{region_id}: that would make a cycle.")
    return parent_id
