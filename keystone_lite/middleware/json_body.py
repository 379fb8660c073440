"""json_body filter: parse a request body once into ``context['json']``.

The body must be UTF-8 JSON whose top level is an object, with finite numbers, no lone
surrogate escapes (text that could not be stored or sent back as UTF-8) and no NUL characters
(U+0000: PostgreSQL cannot store or even compare them, and no Keystone field has one);
anything else is a 400 before any controller runs, the same on every database backend. No body
leaves ``context['json']`` as None, and so does a body posted to ``FORM_PATHS`` (as Keystone,
which leaves its OAuth 2.0 forms alone).
"""
from __future__ import annotations

import json
import math

import webob

from keystone_lite import errors
from keystone_lite.context import get_context

# Paths (below /v3) whose bodies are forms, not JSON: Keystone's OAuth 2.0 token endpoint.
FORM_PATHS = ("/OS-OAUTH2/",)


class JsonBodyMiddleware:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") in ("POST", "PUT", "PATCH") and not \
                environ.get("PATH_INFO", "").startswith(FORM_PATHS):
            req = webob.Request(environ)
            if req.content_length:
                get_context(environ)["json"] = parse(req.body)
        return self.app(environ, start_response)


def parse(body: bytes) -> dict:
    """Decode a request body; raises ValidationError (400) with a message fit for the client."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.ValidationError("Request body is not valid UTF-8.") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise errors.ValidationError(
            "Expecting to find valid JSON in request body. The server could not comply with "
            "the request since it is either malformed or otherwise incorrect. The client is "
            "assumed to be in error.") from None
    if not isinstance(document, dict):
        raise errors.ValidationError("Request body must be a JSON object.")
    # Decoded UTF-8 holds no surrogates, and strict JSON no raw control characters: only a
    # \uD8xx- or \u0000-style escape can bring one in.
    if "\\u" in text:
        if _has_lone_surrogate(document):
            raise errors.ValidationError("Request body holds a lone UTF-16 surrogate escape.")
        where = _nul_location(document)
        if where is not None:
            raise errors.ValidationError(f"{where} must not contain NUL characters.")
    return document


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):  # 1e999 is Infinity in disguise
        raise ValueError(f"{text} is out of range")
    return value


def _has_lone_surrogate(document) -> bool:
    pending = [document]  # no recursion: the document may be nested as deep as json allows
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _nul_location(document) -> str | None:
    """Where the first string holding U+0000 is, as ``user.name`` or ``a key of auth``."""
    pending = [(document, "")]
    while pending:
        item, path = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path or "request body"
        elif isinstance(item, dict):
            for key, value in item.items():
                if "\x00" in key:
                    return f"a key of {path}" if path else "a key of the request body"
                pending.append((value, f"{path}.{key}" if path else key))
        elif isinstance(item, list):
            pending.extend((value, f"{path}[{index}]") for index, value in enumerate(item))
    return None


def filter_factory(global_conf, **local_conf):
    return JsonBodyMiddleware
