"""What every admin identity controller shares: the admin check, path patterns, list documents."""
from __future__ import annotations

from keystone_lite import errors, policy
from keystone_lite.identity import render
from keystone_lite.router import json_response


def ident(name: str) -> str:
    """A route pattern matching one path segment as the handler keyword ``name``."""
    return rf"(?P<{name}>[^/]+)"


class AdminController:
    """Base of the admin controllers; every handler starts with ``base = self.authorize(req)``."""

    def __init__(self, services):
        self.services = services
        self.settings = services.settings
        self.tokens = services.tokens

    def authorize(self, req) -> str:
        """401 without a valid caller, 403 unless it is an admin; returns the links' base URL."""
        policy.require_admin(req, self.settings)
        return errors.base_url(req)


def listing(req, key: str, path: str, entities: list[dict]):
    """The 200 list response; ``links.self`` repeats the query string, as Keystone does."""
    self_url = f"{errors.base_url(req)}/v3{path}"
    if req.query_string:
        self_url += f"?{req.query_string}"
    return json_response(render.collection(key, entities, self_url))
