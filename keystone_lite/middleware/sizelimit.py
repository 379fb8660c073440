"""sizelimit filter: refuse request bodies over ``max_request_body_size`` with 413.

A declared Content-Length over the limit is refused before anything is read, whatever the
method. The body of a POST, PUT or PATCH (the only bodies the API reads) is read up to the
limit (one of unknown length, chunked with the server's ``wsgi.input_terminated``, is refused as
soon as it passes it) and handed on in memory, so no filter or app further in reads the network
or spools to a temporary file.
"""
from __future__ import annotations

import webob

from keystone_lite import errors, services


BODY_METHODS = ("POST", "PUT", "PATCH")


class SizeLimitMiddleware:
    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    def __call__(self, environ, start_response):
        if not environ.get("CONTENT_LENGTH") and environ.get("REQUEST_METHOD") not in \
                BODY_METHODS:
            # Nothing declared and a method whose body nobody reads (most requests:
            # validations): nothing to check, without building a request object.
            return self.app(environ, start_response)
        req = webob.Request(environ)
        declared = req.content_length
        if declared is not None and declared > self.limit:
            return self._too_large(req)(environ, start_response)
        # Only these bodies are ever read (json_body); others are left to the server to drain.
        if req.method in BODY_METHODS and req.is_body_readable:
            body = self._read(environ["wsgi.input"],
                              self.limit + 1 if declared is None else declared)
            if len(body) > self.limit:
                return self._too_large(req)(environ, start_response)
            req.body = body  # in memory, seekable, Content-Length set
        return self.app(environ, start_response)

    @staticmethod
    def _read(stream, size: int) -> bytes:
        """Read up to ``size`` bytes: one read() may return less (chunked input does)."""
        chunks, remaining = [], size
        while remaining > 0:
            chunk = stream.read(remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _too_large(self, req):
        return errors.render(errors.RequestTooLarge(
            f"Request is too large; the limit is {self.limit} bytes."), req)


def filter_factory(global_conf, **local_conf):
    limit = services.for_paste(global_conf).settings.max_request_body_size
    return lambda app: SizeLimitMiddleware(app, limit)
