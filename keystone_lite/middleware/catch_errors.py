"""catch_errors filter: render KeystoneError raised further in; turn anything else into a
JSON 500 without details, logged with the request id (the one place a traceback is logged)."""
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
            return errors.render(error, req)
        except Exception:  # noqa: BLE001 - last resort: the client gets no detail
            # No path in the line: v2.0 paths carry token ids.
            LOG.exception("unexpected error handling a %s request (request id %s)",
                          req.method, get_context(req.environ)["request_id"])
            return errors.render(errors.KeystoneError(), req)


def filter_factory(global_conf, **local_conf):
    return CatchErrorsMiddleware
