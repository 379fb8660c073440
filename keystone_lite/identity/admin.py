"""What every admin identity controller shares: the policy check, path patterns, list documents."""
from __future__ import annotations

from keystone_lite import errors, policy
from keystone_lite.identity import parsing, render
from keystone_lite.router import json_response


def ident(name: str) -> str:
    """A route pattern matching one path segment as the handler keyword ``name``."""
    return rf"(?P<{name}>[^/]+)"


class AdminController:
    """Base of the admin controllers; every handler starts with ``self.authorize(req, rule)``
    or ``self.authorize_on(req, session, rule, kind=id, ...)``. ``resources`` maps a resource
    name (``user``) to its declaration (keystone_lite.identity.resources.Resource)."""

    def __init__(self, services, resources: dict):
        self.services = services
        self.settings = services.settings
        self.tokens = services.tokens
        self.resources = resources

    def authorize(self, req, rule: str, target: dict | None = None) -> str:
        """401 without a valid caller, 403 unless policy ``rule`` allows the call on ``target``;
        returns the links' base URL."""
        policy.enforce(req, self.settings, rule, target)
        return errors.base_url(req)

    def authorize_on(self, req, session, rule: str, **ids) -> tuple[str, dict]:
        """``authorize`` on the rows the path names (``user=user_id``, ...): (base URL,
        {kind: row}). The check comes before the 404 of a missing row, its attributes absent
        from the target (each resource declares which it shows policy), so that a caller no
        row would let in cannot probe which ids exist."""
        declared = {kind: self.resources[kind] for kind in ids}
        rows = {kind: find_row(session, declared[kind].model, entity_id)
                for kind, entity_id in ids.items()}
        target = {f"{kind}.{name}": getattr(row, name) for kind, row in rows.items()
                  if row is not None for name in declared[kind].target}
        base = self.authorize(req, rule, target)
        for kind, entity_id in ids.items():
            if rows[kind] is None:
                parsing.load(session, declared[kind].model, entity_id, kind)  # the 404
        return base, rows


def find_row(session, model, entity_id: str):
    """The row, or None (as for an id no row can have: see parsing.load)."""
    try:
        return parsing.load(session, model, entity_id, "")
    except errors.NotFound:
        return None


def listing(req, key: str, path: str, entities: list[dict]):
    """The 200 list response; ``links.self`` repeats the query string, as Keystone does."""
    self_url = f"{errors.base_url(req)}/v3{path}"
    if req.query_string:
        self_url += f"?{req.query_string}"
    return json_response(render.collection(key, entities, self_url))
