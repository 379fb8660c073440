"""catch_errors filter: render KeystoneError raised further in; turn anything else into a
JSON 500 without details, logged with the request id (the one place a traceback is logged).

Server-side errors (5xx, e.g. the database or the keys being unavailable) are logged here, once,
with the request id and their ``detail``; nothing else logs them."""
from __future__ import annotations

import logging

import webob

from keystone_lite import errors
from keystone_lite.context import get_context
from keystone_lite.escape import printable

LOG = logging.getLogger(__name__)


class CatchErrorsMiddleware:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        try:
            # Errors raised while the body is produced are not caught: every response here is
            # built in full before it is returned (the router's webob responses are).
            return self.app(environ, start_response)
        except errors.KeystoneError as error:
            if error.code >= 500:
                # No path in the line: v2.0 paths carry token ids.
                LOG.error("%s handling a %s request (request id %s): %s", error.title,
                          _method(environ), get_context(environ)["request_id"],
                          printable(getattr(error, "detail", None) or error.message,
                                    limit=1000))
            response = errors.render(error, webob.Request(environ))
        except Exception:  # noqa: BLE001 - last resort: the client gets no detail
            # No path in the line: v2.0 paths carry token ids.
            LOG.exception("unexpected error handling a %s request (request id %s)",
                          _method(environ), get_context(environ)["request_id"])
            response = errors.render(errors.KeystoneError(), webob.Request(environ))
        return response(environ, start_response)


def _method(environ) -> str:
    """The request method, escaped: servers pass on whatever token the client sent."""
    return printable(str(environ.get("REQUEST_METHOD")))


def filter_factory(global_conf, **local_conf):
    return CatchErrorsMiddleware
