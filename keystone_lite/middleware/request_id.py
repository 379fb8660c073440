"""request_id filter: give each request an id, send it back, and remember the mount point.

It also sends ``Vary: X-Auth-Token`` on every response, as Keystone does: answers depend on the
caller's token, so no cache may share them between callers.
"""
from __future__ import annotations

import uuid

from keystone_lite.context import get_context

HEADER = "X-Openstack-Request-Id"


class RequestIdMiddleware:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        request_id = f"req-{uuid.uuid4()}"
        get_context(environ)["request_id"] = request_id
        # Paste's urlmap (further in) appends "/v3" to SCRIPT_NAME; links need the mount.
        environ.setdefault("keystone_lite.mount_script_name", environ.get("SCRIPT_NAME", ""))

        def start_with_id(status, headers, exc_info=None):
            headers.append((HEADER, request_id))
            headers.append(("Vary", "X-Auth-Token"))
            return start_response(status, headers, exc_info)

        return self.app(environ, start_with_id)


def filter_factory(global_conf, **local_conf):
    return RequestIdMiddleware
