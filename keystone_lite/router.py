"""The app at the end of each pipeline: match the path, check the method, run the handler
inside one database transaction (run again once if it lost a race for the database), return
its response.

Routes are (pattern, {method: handler}); a handler is ``handler(req, session, **path_params)``
returning a webob Response, or ``handler(req, **path_params)`` when marked
``@outside_transaction`` (it answers from memory and opens transactions only when it must).
HEAD is served by the GET handler (webob drops the body).

The routes of rarely used features come from a function the router calls on the first request
that no other route matches: their modules are imported then, not by every process at start-up.
No path may match both one of those routes and another (tests/functional/test_lazy_features.py
checks it).
"""
from __future__ import annotations

import json
import re
import threading
from typing import Callable

import orjson
import webob

from keystone_lite import errors

#: (SCRIPT_NAME, the compiled pattern) of the route that matched (keystone_lite.metrics).
ROUTE_KEY = "keystone_lite.route"


def json_bytes(body) -> bytes:
    """``body`` as compact UTF-8 JSON (orjson: an order of magnitude faster than json)."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:  # a str orjson refuses (a lone surrogate): json escapes it
        return json.dumps(body).encode()


def json_response(body, status: int = 200, headers: dict | None = None) -> webob.Response:
    """A JSON response; ``body`` is a document, or one already encoded by ``json_bytes``."""
    return webob.Response(status=status, body=body if isinstance(body, bytes) else json_bytes(body),
                          headerlist=[("Content-Type", "application/json"),
                                      *(headers or {}).items()])


def no_content() -> webob.Response:
    return webob.Response(status=204, content_type=None, charset=None)


def outside_transaction(handler):
    """Mark a handler the router calls without a transaction (see the module docstring)."""
    handler.outside_transaction = True
    return handler


class Router:
    def __init__(self, services, routes, lazy_routes: Callable[[], list] | None = None):
        self.services = services
        self.routes = _compiled(routes)
        self._build_lazy_routes = lazy_routes
        self._lazy_routes: list = []
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        return self.respond(webob.Request(environ))(environ, start_response)

    def respond(self, req) -> webob.Response:
        try:
            path = req.path_info.rstrip("/") or "/"
            req.GET  # noqa: B018 - decode the query string once, here, where a 400 is clear
        except UnicodeDecodeError:
            raise errors.ValidationError("The URL is not valid UTF-8.") from None
        found = _find(self.routes, path) or _find(self.lazy_routes(), path)
        if found is None:
            raise errors.NotFound("The resource could not be found.")
        pattern, methods, params = found
        req.environ[ROUTE_KEY] = (req.script_name, pattern)  # the route metrics label
        method = "GET" if req.method == "HEAD" and "HEAD" not in methods else req.method
        handler = methods.get(method)
        if handler is None:
            allowed = sorted(set(methods) | ({"HEAD"} if "GET" in methods else set()))
            raise errors.MethodNotAllowed(allowed)
        if getattr(handler, "outside_transaction", False):
            return handler(req, **params)
        return self.services.run(lambda session: handler(req, session, **params))

    def lazy_routes(self) -> list:
        """The routes of ``lazy_routes``, built by the first call (one thread builds them,
        the others wait for it; a build that fails is tried again by the next request)."""
        if self._build_lazy_routes is not None:
            with self._lock:
                if self._build_lazy_routes is not None:
                    self._lazy_routes = _compiled(self._build_lazy_routes())
                    self._build_lazy_routes = None  # after: readers without the lock see both
        return self._lazy_routes


def _compiled(routes) -> list:
    return [(re.compile(pattern), methods) for pattern, methods in routes]


def _find(routes, path: str) -> tuple | None:
    """(pattern, {method: handler}, path parameters) of the first route matching ``path``, or
    None."""
    for pattern, methods in routes:
        match = pattern.fullmatch(path)
        if match is not None:
            return pattern, methods, match.groupdict()
    return None
