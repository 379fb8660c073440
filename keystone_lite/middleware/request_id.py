"""request_id filter: give each request an id, send it back, and remember where the app is.

"Where" is the configured base URL of the app (``[DEFAULT] public_endpoint``, or
``admin_endpoint`` with ``interface = admin`` in the paste ini) under
``keystone_lite.endpoint``, else the mount point under ``keystone_lite.mount_script_name``;
``errors.base_url`` builds every link from them.

It also sends ``Vary: X-Auth-Token`` on every response, as Keystone does: answers depend on the
caller's token, so no cache may share them between callers. A response that sets its own
``Vary`` (token responses) names X-Auth-Token itself.
"""
from __future__ import annotations

import uuid

from keystone_lite import services
from keystone_lite.context import get_context
from keystone_lite.settings import ConfigError

HEADER = "X-Openstack-Request-Id"
INTERFACES = ("public", "admin")


class RequestIdMiddleware:
    def __init__(self, app, endpoint: str | None = None):
        self.app = app
        self.endpoint = endpoint

    def __call__(self, environ, start_response):
        request_id = f"req-{uuid.uuid4()}"
        get_context(environ)["request_id"] = request_id
        # Paste's urlmap (further in) appends "/v3" to SCRIPT_NAME; links need the mount.
        environ.setdefault("keystone_lite.mount_script_name", environ.get("SCRIPT_NAME", ""))
        if self.endpoint:
            environ["keystone_lite.endpoint"] = self.endpoint

        def start_with_id(status, headers, exc_info=None):
            headers.append((HEADER, request_id))
            if not any(name.lower() == "vary" for name, _ in headers):
                headers.append(("Vary", "X-Auth-Token"))
            return start_response(status, headers, exc_info)

        return self.app(environ, start_with_id)


def filter_factory(global_conf, interface="public", **local_conf):
    """``interface`` (paste ini) says which configured base URL is this app's."""
    if interface not in INTERFACES:
        raise ConfigError(f"paste ini: request_id filter: interface = {interface!r}; "
                          f"choose one of: {', '.join(INTERFACES)}")
    settings = services.for_paste(global_conf).settings
    endpoint = settings.admin_endpoint if interface == "admin" else settings.public_endpoint
    return lambda app: RequestIdMiddleware(app, endpoint)
