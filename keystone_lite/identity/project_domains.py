"""Domains seen as projects: Keystone stores a domain as a project with ``is_domain: true``
and serves it under ``/v3/projects`` too. keystone_lite keeps domains in their own table; this
module answers for them where the projects API names one: ``GET /v3/projects?is_domain=true``
lists the domains, and ``GET``/``PATCH``/``DELETE /v3/projects/{id}`` of a domain's id act on
the domain, under the domain's policy rules (it is a domain: its rules are the ones that
protect it) and with the domain's rules (an enabled domain is not deleted).
"""
from __future__ import annotations

from sqlalchemy import select

from keystone_lite import errors
from keystone_lite.db import models
from keystone_lite.identity import parsing, store
from keystone_lite.identity.admin import ident, listing
from keystone_lite.identity.resources import remove
from keystone_lite.router import json_response, no_content


def as_project(domain, base: str) -> dict:
    """A domain in Keystone's form of a project acting as a domain."""
    return {"id": domain.id, "name": domain.name, "domain_id": None,
            "description": domain.description, "enabled": domain.enabled, "parent_id": None,
            "is_domain": True, "tags": [], "options": {},
            "links": {"self": f"{base}/v3/projects/{domain.id}"}}


def wrap(controller, routes: list) -> list:
    """The projects' routes with the list and the one-project handlers answering for domains."""
    one = rf"/projects/{ident('project_id')}"
    wrapped = []
    for pattern, methods in routes:
        if pattern == "/projects":
            methods = {**methods, "GET": _list(controller, methods["GET"])}
        elif pattern == one:
            methods = {method: _one(controller, handler, method)
                       for method, handler in methods.items()}
        wrapped.append((pattern, methods))
    return wrapped


def _domain(session, project_id: str):
    """The domain with this id when no project has it, else None."""
    if len(project_id) > 64 or "\x00" in project_id:
        return None
    if session.get(models.Project, project_id) is not None:
        return None
    return store.find_domain(session, domain_id=project_id)


def _list(controller, generic):
    def handler(req, session):
        params = parsing.query(req)
        if not parsing.query_bool(params, "is_domain"):
            return generic(req, session)
        base = controller.authorize(req, "identity:list_domains")
        query = select(models.Domain).order_by(models.Domain.name)
        if "name" in params:
            query = query.where(models.Domain.name == params["name"])
        enabled = parsing.query_bool(params, "enabled")
        if enabled is not None:
            query = query.where(models.Domain.enabled.is_(enabled))
        return listing(req, "projects", "/projects",
                       [as_project(domain, base) for domain in session.scalars(query)])
    return handler


def _one(controller, generic, method: str):
    act = {"GET": _get, "PATCH": _update, "DELETE": _delete}.get(method)
    if act is None:
        return generic

    def handler(req, session, project_id):
        domain = _domain(session, project_id)
        if domain is None:
            return generic(req, session, project_id=project_id)
        return act(controller, req, session, domain)
    return handler


def _get(controller, req, session, domain):
    base = controller.authorize(req, "identity:get_domain", {"domain.id": domain.id})
    return json_response({"project": as_project(domain, base)})


def _update(controller, req, session, domain):
    base = controller.authorize(req, "identity:update_domain", {"domain.id": domain.id})
    body = parsing.entity(req, "project")
    controller.resource.validate(body, creating=False)
    if body.get("is_domain") is False or body.get("parent_id") is not None:
        raise errors.ValidationError("Update of `is_domain` or `parent_id` is not allowed.")
    changes = {key: body[key] for key in ("name", "enabled") if body.get(key) is not None}
    if "description" in body:
        changes["description"] = body["description"] or ""
    if changes.get("name", domain.name) != domain.name and store.find_domain(
            session, name=changes["name"]) is not None:
        raise errors.Conflict(f"Conflict occurred attempting to store domain - Duplicate "
                              f"entry found with name {changes['name']}.")
    store.update(session, domain, changes)
    controller.services.audit.changed(req, session, "updated", "domain", domain.id)
    return json_response({"project": as_project(domain, base)})


def _delete(controller, req, session, domain):
    controller.authorize(req, "identity:delete_domain", {"domain.id": domain.id})
    from keystone_lite.identity import domains  # domains.py imports projects.py, this its user
    domains.DOMAINS.hooks.deleting(controller.call(req, session, errors.base_url(req)), domain)
    remove(session, domain)
    controller.services.audit.changed(req, session, "deleted", "domain", domain.id)
    return no_content()
