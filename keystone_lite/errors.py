"""The one exception tree of the service and the one function that renders it as Keystone JSON.

Messages are written for the client and must never contain a token, password or key.
"""
from __future__ import annotations

import json
import re

import webob

# A Host header as RFC 3986 allows it: a registered name or an IP literal, and a port.
_HOST = re.compile(r"([A-Za-z0-9._~!$&'()*+,;=%-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]*)?")


class KeystoneError(Exception):
    """Base of every error a client may see; ``code`` and ``title`` follow Keystone."""

    code = 500
    title = "Internal Server Error"
    default_message = "An unexpected error prevented the server from fulfilling your request."

    def __init__(self, message: str | None = None):
        self.message = message or self.default_message
        super().__init__(self.message)

    def headers(self, req: webob.Request) -> list[tuple[str, str]]:
        return []

    def document(self) -> dict:
        """The response body (the OAuth2 endpoint's errors have their own shape)."""
        return {"error": {"code": self.code, "title": self.title, "message": self.message}}


class ValidationError(KeystoneError):
    code = 400
    title = "Bad Request"
    default_message = ("The server could not comply with the request since it is either "
                       "malformed or otherwise incorrect.")


class Unauthorized(KeystoneError):
    """401; Keystone clients read ``WWW-Authenticate`` to find where to authenticate."""

    code = 401
    title = "Unauthorized"
    default_message = "The request you have made requires authentication."

    def headers(self, req):
        base = base_url(req)
        return [("WWW-Authenticate", f'Keystone uri="{base}/v3"')]


class Forbidden(KeystoneError):
    code = 403
    title = "Forbidden"
    default_message = "You are not authorized to perform the requested action."


class NotFound(KeystoneError):
    code = 404
    title = "Not Found"
    default_message = "Could not find the requested resource."


class TokenNotFound(NotFound):
    """A bad, expired, revoked or unknown subject token: always 404, never 401."""

    default_message = "Failed to validate token"


class MethodNotAllowed(KeystoneError):
    code = 405
    title = "Method Not Allowed"
    default_message = "The method is not allowed for the requested URL."

    def __init__(self, allowed: list[str]):
        self.allowed = allowed
        super().__init__()

    def headers(self, req):
        return [("Allow", ", ".join(self.allowed))]


class Conflict(KeystoneError):
    code = 409
    title = "Conflict"
    default_message = "Conflict occurred attempting to store the data."


class RequestTooLarge(KeystoneError):
    code = 413
    title = "Request Entity Too Large"
    default_message = "Request is too large."


class ServiceUnavailable(KeystoneError):
    """503 with ``Retry-After``: storage or keys are down; the request changed nothing.

    ``detail`` is what went wrong (the driver's message, a path) for the log line that the
    catch_errors filter writes with the request id; clients see only ``message``.
    """

    code = 503
    title = "Service Unavailable"
    default_message = "The identity database is unavailable; try again shortly."
    retry_after = 5

    def __init__(self, message: str | None = None, detail: str | None = None):
        super().__init__(message)
        self.detail = detail

    def headers(self, req):
        return [("Retry-After", str(self.retry_after))]


class DatabaseBusy(ServiceUnavailable):
    """Another writer held the database lock for longer than this request could wait."""

    default_message = "The identity database is busy; try again shortly."
    retry_after = 1


class DatabaseFull(ServiceUnavailable):
    """The database (or the disk under it) has no room for the change; nothing was written."""

    default_message = "The identity database is out of space; nothing was changed."
    retry_after = 30


def base_url(req: webob.Request) -> str:
    """The URL of the app: its configured endpoint (``[DEFAULT] public_endpoint`` or
    ``admin_endpoint``, recorded by the request-id filter) when set, else the host the client
    used + SCRIPT_NAME of the mount point.

    Paste's urlmap appends the matched prefix (``/v3``) to SCRIPT_NAME; the mount point is what
    stands before it, recorded by the request-id filter that runs first.
    """
    configured = req.environ.get("keystone_lite.endpoint")
    if configured:
        return configured
    mount = req.environ.get("keystone_lite.mount_script_name", req.script_name)
    host = req.environ.get("HTTP_HOST")
    if host is None or _HOST.fullmatch(host):
        return req.host_url + mount
    # A Host header that is not a host (control characters, spaces, quotes, non-ASCII) is not
    # copied into links and headers such as WWW-Authenticate: the server's own name stands in.
    environ = {key: value for key, value in req.environ.items() if key != "HTTP_HOST"}
    return webob.Request(environ).host_url + mount


def render(error: KeystoneError, req: webob.Request) -> webob.Response:
    """Return the JSON response for ``error`` (Keystone's shape: ``KeystoneError.document``)."""
    response = webob.Response(
        status=error.code,
        content_type="application/json",
        charset=None,
        body=json.dumps(error.document()).encode(),  # webob drops a HEAD response's body
    )
    for name, value in error.headers(req):
        response.headers[name] = value
    return response
