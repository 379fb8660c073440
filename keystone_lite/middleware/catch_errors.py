"""catch_errors filter: render KeystoneError raised further in; turn anything else into a
JSON 500 without details, logged with the request id (the one place a traceback is logged).

Server-side errors (5xx, e.g. the database or the keys being unavailable) are logged here, once,
with the request id and their ``detail``; nothing else logs them."""
from __future__ import annotations

import logging

import webob.dec

from keystone_lite import errors
from keystone_lite.context import get_context

LOG = logging.getLogger(__name__)


class CatchErrorsMiddleware:
    def __init__(self, app):
        self.app = app

    @webob.dec.wsgify
    def __call__(self, req):
        try:
            return req.get_response(self.app)
        except errors.KeystoneError as error:
            if error.code >= 500:
                # No path in the line: v2.0 paths carry token ids.
                LOG.error("%s handling a %s request (request id %s): %s", error.title,
                          req.method, get_context(req.environ)["request_id"],
                          getattr(error, "detail", None) or error.message)
            return errors.render(error, req)
        except Exception:  # noqa: BLE001 - last resort: the client gets no detail
            # No path in the line: v2.0 paths carry token ids.
            LOG.exception("unexpected error handling a %s request (request id %s)",
                          req.method, get_context(req.environ)["request_id"])
            return errors.render(errors.KeystoneError(), req)


def filter_factory(global_conf, **local_conf):
    return CatchErrorsMiddleware
