"""Parsing of token request bodies, field by field: a wrong type, a missing or empty field is a
400 naming it.

A scope is parsed in two steps: ``parse_scope`` checks its shape and reads nothing, and
``resolve_scope`` looks the names up, which the controller does only once the client is
authenticated (keystone_lite.token.authentication). So what a client that proved nothing names
is never looked up, and whether a project exists cannot be told from how long a failed
authentication takes.
"""
from __future__ import annotations

import dataclasses

from keystone_lite import audit, errors
from keystone_lite.identity import store
from keystone_lite.token.service import Scope

# An explicitly unscoped request: no scope, and no default project either.
UNSCOPED = Scope("unscoped", "")
TRUST = "OS-TRUST:trust"  # the scope key of a trust


def field(document: dict, key: str, kind, where: str, required: bool = True):
    """``document[key]`` checked to be of ``kind``; 400 naming ``where.key`` otherwise."""
    if key not in document or document[key] is None:
        if required:
            raise errors.ValidationError(f"Expecting to find {key} in {where}.")
        return None
    value = document[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise errors.ValidationError(f"Invalid type for {where}.{key}.")
    if isinstance(value, str) and not value.strip():
        raise errors.ValidationError(f"{where}.{key} must not be empty.")
    return value


def domain_reference(document: dict, where: str) -> dict:
    """A ``{"id": ...}`` or ``{"name": ...}`` domain reference, as ``store.find_domain``'s
    keyword arguments."""
    domain_id = field(document, "id", str, where, required=False)
    if domain_id is not None:
        return {"domain_id": domain_id}
    name = field(document, "name", str, where, required=False)
    if name is None:
        raise errors.ValidationError(f"Expecting to find id or name in {where}.")
    return {"name": name}


@dataclasses.dataclass(frozen=True)
class NamedScope:
    """A project or domain scope as the client named it, not yet looked up."""

    kind: str  # "project" or "domain"
    project: dict | None = None  # store.find_project's keyword arguments, but the domain's
    domain: dict | None = None  # store.find_domain's keyword arguments


@dataclasses.dataclass(frozen=True)
class TrustScope:
    """A trust scope (``{"OS-TRUST:trust": {"id": ...}}``), not yet looked up: see
    keystone_lite.token.trust_scope."""

    id: str


def parse_scope(auth: dict) -> Scope | NamedScope | TrustScope | None:
    """The requested scope, checked for shape only: nothing is looked up.

    None when no scope is asked for (the user's default project may then apply); UNSCOPED
    for an explicitly unscoped request: ``"scope": "unscoped"`` (what keystoneauth1 sends for
    ``unscoped=True``) or ``{"unscoped": {}}``.
    """
    if auth.get("scope") == "unscoped":
        return UNSCOPED
    scope = field(auth, "scope", dict, "auth", required=False)
    if scope is None:
        return None
    kinds = [kind for kind in ("project", "domain", "system", TRUST, "unscoped")
             if kind in scope]
    if len(kinds) != 1:
        raise errors.ValidationError("auth.scope must name exactly one of project, domain, "
                                     f"system, {TRUST} or unscoped.")
    kind = kinds[0]
    if kind == "unscoped":
        return UNSCOPED
    target = field(scope, kind, dict, "auth.scope")
    if kind == TRUST:
        return TrustScope(field(target, "id", str, f"auth.scope.{TRUST}"))
    if kind == "system":
        if target.get("all") is not True:
            raise errors.ValidationError("auth.scope.system must be {\"all\": true}.")
        return Scope("system", "all")
    if kind == "domain":
        return NamedScope("domain", domain=domain_reference(target, "auth.scope.domain"))
    project_id = field(target, "id", str, "auth.scope.project", required=False)
    if project_id is not None:
        return NamedScope("project", project={"project_id": project_id})
    name = field(target, "name", str, "auth.scope.project")
    domain_ref = field(target, "domain", dict, "auth.scope.project")
    return NamedScope("project", project={"name": name},
                      domain=domain_reference(domain_ref, "auth.scope.project.domain"))


def resolve_scope(find, requested: Scope | NamedScope | TrustScope | None
                  ) -> Scope | TrustScope | None:
    """The Scope a parsed request names; 401 when its project or domain does not exist.

    ``find`` runs a store read (see keystone_lite.token.lookups). Call it only for an
    authenticated client.
    """
    if not isinstance(requested, NamedScope):
        return requested
    domain = find(store.find_domain, **requested.domain) if requested.domain else None
    if requested.kind == "domain":
        found = domain
    elif requested.domain is None:
        found = find(store.find_project, **requested.project)
    else:
        found = domain and find(store.find_project, **requested.project, domain_id=domain.id)
    if found is None:
        raise audit.refused(audit.NO_SUCH_SCOPE)
    return Scope(requested.kind, found.id)
