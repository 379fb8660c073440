"""sizelimit filter: refuse request bodies over ``max_request_body_size`` with 413.

A declared Content-Length is checked before anything is read; a chunked body is read up to the
limit and refused as soon as it passes it.
"""
from __future__ import annotations

import io

import webob
import webob.dec

from keystone_lite import errors, services


class SizeLimitMiddleware:
    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    @webob.dec.wsgify
    def __call__(self, req):
        too_large = errors.RequestTooLarge(
            f"Request is too large; the limit is {self.limit} bytes.")
        if req.content_length is not None:
            if req.content_length > self.limit:
                return errors.render(too_large, req)
        elif req.is_body_readable:
            body = req.environ["wsgi.input"].read(self.limit + 1)
            if len(body) > self.limit:
                return errors.render(too_large, req)
            req.environ["wsgi.input"] = io.BytesIO(body)
            req.content_length = len(body)
        return req.get_response(self.app)


def filter_factory(global_conf, **local_conf):
    limit = services.for_paste(global_conf).settings.max_request_body_size
    return lambda app: SizeLimitMiddleware(app, limit)
