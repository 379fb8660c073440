"""Render validated tokens and the catalog as Keystone v3 and v2.0 documents."""
from __future__ import annotations

import time

from keystone_lite.identity.render import password_expires_at
from keystone_lite.token import trust_scope
from keystone_lite.token.payload import HIDDEN_METHODS
from keystone_lite.token.service import ValidatedToken


def isotime(microseconds: int, *, subsecond: bool = True) -> str:
    """ISO 8601 in UTC with a ``Z``; Keystone prints microseconds, truncated to the second."""
    # time.gmtime and %-formatting: a third of datetime.strftime's cost, on every issue.
    text = "%04d-%02d-%02dT%02d:%02d:%02d" % time.gmtime(microseconds // 1_000_000)[:6]
    return text + (".000000Z" if subsecond else "Z")


def v3_catalog(catalog) -> list[dict]:
    return [{
        "endpoints": [{
            "id": endpoint.id,
            "interface": endpoint.interface,
            "region_id": endpoint.region_id,
            "url": endpoint.url,
            "region": endpoint.region_id,
        } for endpoint in endpoints],
        "id": service.id,
        "type": service.type,
        "name": service.name,
    } for service, endpoints in catalog]


def v3_token(token: ValidatedToken, catalog=None, *, is_admin_project: bool = False) -> dict:
    """The ``{"token": ...}`` body; ``catalog`` None leaves the catalog out (``?nocatalog``)."""
    payload = token.payload
    methods = list(payload.methods)
    if HIDDEN_METHODS.intersection(methods):
        # As Keystone: its OAuth 2.0 mutual-TLS tokens show no method.
        methods = [method for method in methods if method not in HIDDEN_METHODS]
    body = {
        "methods": methods,
        "user": _user(token.user, token.user_domain),
        "audit_ids": payload.shown_audit_ids,
        "expires_at": isotime(payload.expires_at),
        "issued_at": isotime(payload.issued_at),
    }
    if token.project is not None:
        body["project"] = {
            "domain": {"id": token.domain.id, "name": token.domain.name},
            "id": token.project.id,
            "name": token.project.name,
        }
        body["is_domain"] = False
    elif payload.scope_kind == "domain":
        body["domain"] = {"id": token.domain.id, "name": token.domain.name}
    elif payload.scope_kind == "system":
        body["system"] = {"all": True}
    if payload.scope_kind is not None:
        body["roles"] = [{"id": role.id, "name": role.name} for role in token.roles]
    if token.principal.oauth1 is not None:  # made with an OAuth1 access token
        body["OS-OAUTH1"] = {"access_token_id": token.principal.oauth1.access_token_id,
                             "consumer_id": token.principal.oauth1.consumer_id}
    if token.principal.trust is not None:
        trust_scope.render_into(body, token, _user)
    if payload.bound:
        # Keystone's binding, which keystonemiddleware's oauth2_mtls_token filter checks.
        body["oauth2_credential"] = {"x5t#S256": token.certificate.keystone_x5t}
    # Stated explicitly on every token: clients treat a missing flag as "admin project".
    body["is_admin_project"] = is_admin_project
    if catalog is not None and payload.scope_kind is not None:
        body["catalog"] = v3_catalog(catalog)
    credential = token.application_credential
    if credential is not None:
        # What keystonemiddleware enforces access rules from: shown exactly, when there are any.
        body["application_credential"] = {"id": credential.id, "name": credential.name,
                                          "restricted": not credential.unrestricted}
        if credential.access_rules:
            body["application_credential"]["access_rules"] = list(credential.access_rules)
    return {"token": body}


def _user(user, domain) -> dict:
    return {
        "domain": {"id": domain.id, "name": domain.name},
        "id": user.id,
        "name": user.name,
        "password_expires_at": password_expires_at(user.password_expires_at),
    }


def v2_access(token: ValidatedToken, catalog=None) -> dict:
    """The v2.0 ``{"access": ...}`` document the 2012-era clients read."""
    payload = token.payload
    token_body = {
        "id": token.id,
        "expires": isotime(payload.expires_at, subsecond=False),
        "issued_at": isotime(payload.issued_at),
        "audit_ids": payload.shown_audit_ids,
    }
    if token.project is not None:
        token_body["tenant"] = {
            "id": token.project.id,
            "name": token.project.name,
            "description": token.project.description,
            "enabled": token.project.enabled,
        }
    access = {
        "token": token_body,
        "user": {
            "id": token.user.id,
            "name": token.user.name,
            "username": token.user.name,
            "roles": [{"name": role.name} for role in token.roles],
            "roles_links": [],
        },
        "serviceCatalog": v2_catalog(catalog) if catalog is not None and token.project else [],
        "metadata": {
            "is_admin": 0,
            "roles": [role.id for role in token.roles],
        },
    }
    return {"access": access}


def v2_catalog(catalog) -> list[dict]:
    services = []
    for service, endpoints in catalog:
        by_region: dict[str | None, dict] = {}
        for endpoint in endpoints:
            entry = by_region.setdefault(endpoint.region_id, {"region": endpoint.region_id,
                                                              "id": endpoint.id})
            entry[f"{endpoint.interface}URL"] = endpoint.url
        services.append({"name": service.name, "type": service.type,
                         "endpoints": list(by_region.values()), "endpoints_links": []})
    return services
