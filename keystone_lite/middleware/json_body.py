"""json_body filter: parse a request body once into ``context['json']``.

The body must be UTF-8 JSON whose top level is an object; anything else is a 400 before any
controller runs. No body leaves ``context['json']`` as None.
"""
from __future__ import annotations

import json

import webob.dec

from keystone_lite import errors
from keystone_lite.context import get_context

class JsonBodyMiddleware:
    def __init__(self, app):
        self.app = app

    @webob.dec.wsgify
    def __call__(self, req):
        if req.method in ("POST", "PUT", "PATCH") and req.content_length:
            get_context(req.environ)["json"] = parse(req.body)
        return req.get_response(self.app)


def parse(body: bytes) -> dict:
    """Decode a request body; raises ValidationError (400) with a message fit for the client."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.ValidationError("Request body is not valid UTF-8.") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise errors.ValidationError(
            "Expecting to find valid JSON in request body. The server could not comply with "
            "the request since it is either malformed or otherwise incorrect. The client is "
            "assumed to be in error.") from None
    if not isinstance(document, dict):
        raise errors.ValidationError("Request body must be a JSON object.")
    return document


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def filter_factory(global_conf, **local_conf):
    return JsonBodyMiddleware
