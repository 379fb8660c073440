"""Request parsing for the admin identity API: the entity object of a body, query filters and
path ids (the entity itself is checked against its declaration: resources.Resource.validate).

NUL characters are refused here because PostgreSQL refuses them with a DataError, which would
otherwise surface as a 500 for what is the client's mistake (bodies never get this far with one:
the json_body filter refuses them, and lone surrogates).
"""
from __future__ import annotations

import copy

from keystone_lite import errors
from keystone_lite.context import get_context
from keystone_lite.token.body import field

NAME_MAX = 255
_TRUE = ("", "1", "true", "yes")
_FALSE = ("0", "false", "no")


def entity(req, key: str) -> dict:
    """A copy of the ``{key: {...}}`` object of the request body; 400 when absent or not an
    object. A copy: hooks may rewrite it (a trust's role references become ids), and a request
    retried after a lock conflict (db.session) must start again from what the client sent."""
    document = get_context(req.environ)["json"]
    if document is None:
        raise errors.ValidationError(f"Expecting to find {key} in request body.")
    return copy.deepcopy(field(document, key, dict, "request body"))


def query(req) -> dict[str, str]:
    """The query parameters (last value wins); 400 when they are not UTF-8."""
    try:
        params = dict(req.GET.items())
    except UnicodeDecodeError:
        raise errors.ValidationError("The query string is not valid UTF-8.") from None
    for name, value in params.items():
        _check_storable(value, f"query parameter {name}")
    return params


def query_bool(params: dict[str, str], name: str) -> bool | None:
    """``?name`` / ``=true`` / ``=1`` → True, ``=false`` / ``=0`` → False, absent → None."""
    if name not in params:
        return None
    value = params[name].strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise errors.ValidationError(f"Invalid value for query parameter {name}: expected true or "
                                 "false.")


def load(session, model, entity_id: str, what: str):
    """The row of ``model`` with this path id, or NotFound worded as Keystone does
    (``Could not find user: <id>.``). Ids no row can have are refused without a query."""
    entity = None
    if len(entity_id) <= NAME_MAX and "\x00" not in entity_id:
        entity = session.get(model, entity_id)
    if entity is None:
        raise errors.NotFound(f"Could not find {what}: {entity_id[:NAME_MAX]}.")
    return entity


def _check_storable(value: str, name: str) -> None:
    if "\x00" in value:
        raise errors.ValidationError(f"{name} must not contain NUL characters.")
