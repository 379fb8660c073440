"""The operations listener: plain HTTP for load balancers and monitoring, beside the TLS port.

A load balancer's health probe has no client certificate, and the embedded server (like the
shipped Apache vhost) demands one in the TLS handshake. So ``keystone-lite serve --health-port``
opens a second listener, plain HTTP, on loopback unless told otherwise, that answers only the
paths in ``OPS_PATHS`` and 404 for anything else: it never reaches the API, so it needs no
certificate. ``/healthcheck`` is the main app's, ``/metrics`` the paste ini's unauthenticated
``[app:metrics]`` (the admin app's own ``/metrics`` wants an admin token:
keystone_lite.metrics_wsgi).
"""
from __future__ import annotations

import asyncio
import contextlib

from keystone_lite.embedded_http import Limits, error_body
from keystone_lite.tls_stream import send_last

DEFAULT_HOST = "127.0.0.1"
# path -> the key, in the apps given to OpsPaths, of the app that serves it (a mount of
# server.load_apps, or "metrics": server.load_app("metrics")).
OPS_PATHS = {"/healthcheck": "/main", "/metrics": "metrics"}
_READ_SIZE = 65536


class OpsPaths:
    """WSGI app: the paths of ``OPS_PATHS`` to their apps, everything else 404 (JSON)."""

    def __init__(self, apps: dict, paths: dict | None = None):
        self.routes = {path: apps[key] for path, key in (paths or OPS_PATHS).items()
                       if key in apps}

    def __call__(self, environ, start_response):
        app = self.routes.get(environ["PATH_INFO"].rstrip("/") or "/")
        if app is None:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [error_body(404, "Could not find the requested resource.")]
        return app(environ, start_response)


class PlainStream:
    """A plain TCP connection with TLSStream's interface (no handshake, nothing to decrypt)."""

    tls = None

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader, self._writer = reader, writer
        self._queued = b""

    async def handshake(self) -> None:
        return None

    async def recv(self) -> bytes:
        return await self._reader.read(_READ_SIZE)

    async def send(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    def queue(self, data: bytes) -> None:
        self._queued += data

    async def linger(self, plain_reply: bytes = b"") -> None:
        """Send what is queued, half-close, read until the client closes (as TLSStream)."""
        await send_last(self._reader, self._writer, plain_reply + self._queued)


def make_ops_server(apps: dict, host: str, port: int, limits: Limits = Limits()):
    """An EmbeddedServer speaking plain HTTP that serves only ``OPS_PATHS`` of ``apps``."""
    from keystone_lite.server import EmbeddedServer  # server imports this module
    return EmbeddedServer(OpsPaths(apps), None, host, port, threads=2, limits=limits)


@contextlib.contextmanager
def running(ops_server):
    """Serve ``ops_server`` (bound already: ``prepare()``) on a thread of its own while the
    block runs; stop it after."""
    import threading
    thread = threading.Thread(target=ops_server.serve, name="keystone-lite-ops", daemon=True)
    thread.start()
    try:
        yield ops_server
    finally:
        ops_server.stop()
        thread.join(10)
