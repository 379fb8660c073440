"""The embedded HTTPS server: ``/main`` and ``/admin`` on one port, with client certificates.

It stands in for Apache httpd + mod_ssl + mod_wsgi: the TLS handshake verifies the client
certificate against the CA (a connection without a valid one fails, as with ``SSLVerifyClient
require``), and the application receives exactly the environ keys mod_ssl would set
(``keystone_lite.tls_environ``), computed once per connection from the verified certificate.

One asyncio event loop accepts connections, runs their TLS handshakes and reads their requests,
each within a deadline and the limits of ``embedded_http.Limits``; only a complete request
reaches one of the worker threads that run the application. Idle, slow and oversized clients
thus cost a little memory each (bounded per client and in total), never a thread or the time of
others. (cheroot, used before, ran each handshake on its accept thread and read requests in its
workers: one idle socket stalled every client for 10 s.)
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import logging
import os
import signal
import socket
import ssl
import sys
import tempfile
import threading

from cryptography import x509
from paste.deploy import loadapp

from keystone_lite import tls_environ
from keystone_lite.certificates import crl
from keystone_lite.ops_listener import PlainStream
from keystone_lite.embedded_http import (HTTPConnection, HTTPError, Limits, call_app,
                                         error_body, error_reply, wsgi_environ)
from keystone_lite.tls_stream import TLSStream, is_plain_http
from keystone_lite.wsgi import paste_file

LOG = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5443
STOP_GRACE_SECONDS = 5
_PLAIN_HTTP_MESSAGE = "This port speaks HTTPS only; use an https:// URL."
_CERT_REVOKED = 23  # OpenSSL's X509_V_ERR_CERT_REVOKED


@dataclasses.dataclass(frozen=True)
class TLSFiles:
    certificate: str
    key: str
    ca: str


class ModSslKeys:
    """The TLS context, and the mod_ssl environ keys of each connection made with it.

    With ``revocations`` (``[cert_auth] crl_file``) the handshake checks the client
    certificate against its issuer's CRL (``VERIFY_CRL_CHECK_LEAF``): a revoked certificate, or
    one whose CRL is missing or out of date, fails the handshake as in Apache with
    ``SSLCARevocationCheck``. The context is rebuilt when the CRLs change: new connections get
    the new CRL without a restart, open ones keep the context they were made with.
    """

    def __init__(self, files: TLSFiles, user_attribute: str, require_client_certificate=True,
                 revocations: crl.RevocationList | None = None):
        self._files = files
        self._verify_mode = (ssl.CERT_REQUIRED if require_client_certificate
                             else ssl.CERT_OPTIONAL)
        self._revocations = revocations
        self._context_version = None
        if revocations is None:
            self._context = self._new_context(None)
        else:
            self._refresh_context()
        self.user_attribute = user_attribute
        with open(files.certificate, "rb") as handle:
            server_certificate = x509.load_pem_x509_certificate(handle.read())
        self._fixed = {"HTTPS": "on", "SSL_VERSION_LIBRARY": ssl.OPENSSL_VERSION,
                       "SSL_VERSION_INTERFACE": f"keystone_lite Python/{sys.version.split()[0]}",
                       **tls_environ.certificate_environ("SSL_SERVER", server_certificate)}
        self._key_sizes = {(cipher["name"], cipher["protocol"]): str(cipher["alg_bits"])
                           for cipher in self._context.get_ciphers()}

    @property
    def context(self) -> ssl.SSLContext:
        """The context for a new connection (rebuilt first if the CRLs changed)."""
        if self._revocations is not None and self._revocations.version != self._context_version:
            self._refresh_context()
        return self._context

    def _refresh_context(self) -> None:
        version, pem = self._revocations.pem()
        self._context = self._new_context(pem)
        self._context_version = version

    def _new_context(self, crls: bytes | None) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=self._files.ca)
        context.load_cert_chain(self._files.certificate, self._files.key)
        context.verify_mode = self._verify_mode
        if self._revocations is not None:
            # No CRL loaded (the file became unusable) fails every client certificate: closed.
            context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
            if crls:
                # OpenSSL reads CRLs from a file only (cadata takes certificates).
                with tempfile.NamedTemporaryFile(prefix="keystone-lite-crl-", suffix=".pem") \
                        as handle:
                    handle.write(crls)
                    handle.flush()
                    context.load_verify_locations(cafile=handle.name)
        return context

    def environ(self, tls: ssl.SSLObject) -> dict[str, str]:
        name, protocol, bits = tls.cipher()
        keys = {**self._fixed, "SSL_PROTOCOL": protocol, "SSL_CIPHER": name,
                "SSL_CIPHER_USEKEYSIZE": str(bits)}
        if (name, protocol) in self._key_sizes:
            keys["SSL_CIPHER_ALGKEYSIZE"] = self._key_sizes[name, protocol]
        if tls.session is not None and tls.session.id:
            keys["SSL_SESSION_ID"] = tls.session.id.hex()
        keys.update(tls_environ.client_environ(tls.getpeercert(binary_form=True),
                                               self.user_attribute))
        return keys


class Mounts:
    """WSGI app: each request to the app mounted at its path's first segment(s), else 404."""

    def __init__(self, apps: dict):
        self.apps = sorted(apps.items(), key=lambda item: -len(item[0]))

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        for mount, app in self.apps:
            if path == mount or path.startswith(mount + "/"):
                environ["SCRIPT_NAME"], environ["PATH_INFO"] = mount, path[len(mount):]
                return app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [error_body(404, "Could not find the requested resource.")]


class EmbeddedServer:
    """``prepare()`` binds, ``serve()`` runs until ``stop()`` (from any thread).

    ``tls`` None: plain HTTP, for the operations listener (keystone_lite.ops_listener) only.
    """

    def __init__(self, app, tls: ModSslKeys | None, host: str, port: int, threads: int,
                 limits: Limits):
        self.app, self.tls, self.limits = app, tls, limits
        self.bind_addr = (host, port)
        self._threads = threads
        self._socket: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested = threading.Event()
        self._connections: set[asyncio.Task] = set()
        self._per_client: collections.Counter = collections.Counter()

    def prepare(self) -> None:
        if self._socket is not None:
            return  # bound already (to report a busy port before anything else runs)
        family = socket.AF_INET6 if ":" in self.bind_addr[0] else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(self.bind_addr)
        self._socket.listen(socket.SOMAXCONN)
        self.bind_addr = self._socket.getsockname()[:2]

    def serve(self) -> None:
        if self._socket is None:
            self.prepare()
        asyncio.run(self._serve())

    def stop(self) -> None:
        """Safe from signal handlers and other threads: ``serve`` notices within 0.1 s."""
        self._stop_requested.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        workers = concurrent.futures.ThreadPoolExecutor(self._threads, "keystone-lite")
        self._loop.set_default_executor(workers)
        listener = await asyncio.start_server(self._accept, sock=self._socket)
        try:
            while not self._stop_requested.is_set():
                await asyncio.sleep(0.1)
        finally:
            listener.close()
            for task in self._connections:
                task.cancel()
            if self._connections:
                await asyncio.wait(self._connections, timeout=STOP_GRACE_SECONDS)
            workers.shutdown(wait=True, cancel_futures=True)
            self._loop = None

    async def _accept(self, reader, writer) -> None:
        client = writer.get_extra_info("peername")
        if (len(self._connections) >= self.limits.max_connections
                or self._per_client[client[0]] >= self.limits.max_connections_per_client):
            LOG.debug("refused a connection from %s: too many open", client[0])
            writer.transport.abort()
            return
        task = asyncio.current_task()
        self._connections.add(task)
        self._per_client[client[0]] += 1
        try:
            stream = (TLSStream(reader, writer, self.tls.context) if self.tls is not None
                      else PlainStream(reader, writer))
            await self._connection(stream, client)
        except asyncio.CancelledError:
            pass
        except Exception:  # noqa: BLE001 - a bug here must not reach asyncio's logger unformatted
            LOG.exception("the connection from %s failed", client[0])
        finally:
            self._connections.discard(task)
            self._per_client[client[0]] -= 1
            if not self._per_client[client[0]]:
                del self._per_client[client[0]]
            writer.transport.abort()

    async def _connection(self, stream: TLSStream, client: tuple) -> None:
        limits = self.limits
        try:
            async with asyncio.timeout(limits.handshake_timeout):
                await stream.handshake()
        except ssl.SSLError as failure:
            if getattr(failure, "verify_code", None) == _CERT_REVOKED:
                # The CRL's own problems (missing, out of date) are logged by certificates.crl.
                LOG.warning("TLS handshake with %s refused: the client certificate is revoked "
                            "(crl_file)", client[0])
            else:
                LOG.debug("TLS handshake with %s failed: %s", client[0],
                          getattr(failure, "verify_message", None) or failure.reason)
            await stream.linger(error_reply(400, _PLAIN_HTTP_MESSAGE)
                                if is_plain_http(failure) else b"")
            return
        except (OSError, TimeoutError):
            return
        tls_keys = self.tls.environ(stream.tls) if self.tls is not None else {}
        http = HTTPConnection(stream, limits)
        wait = limits.header_timeout
        try:
            while True:
                try:
                    async with asyncio.timeout(wait):
                        if not await http.wait_for_request():
                            return
                except TimeoutError:
                    return  # no request began: close, as Apache does after KeepAliveTimeout
                if not await self._exchange(stream, http, tls_keys, client):
                    return
                wait = limits.keepalive_timeout
        except HTTPError as error:
            stream.queue(error_reply(error.code, error.message))
            await stream.linger()
        except (OSError, ssl.SSLError, TimeoutError):
            return

    async def _exchange(self, stream: TLSStream, http: HTTPConnection, tls_keys: dict,
                        client: tuple) -> bool:
        """Read one request, answer it; whether the connection stays open."""
        limits = self.limits
        try:
            async with asyncio.timeout(limits.header_timeout):
                request = await http.read_head()
            async with asyncio.timeout(limits.body_timeout):
                body = await http.read_body()
        except TimeoutError:
            raise HTTPError(408, "The server timed out waiting for the request.") from None
        environ = wsgi_environ(request, body, self.bind_addr, client)
        if self.tls is None:
            environ["wsgi.url_scheme"] = "http"
        tls_environ.replace(environ, tls_keys)
        try:
            status, headers, body = await self._loop.run_in_executor(None, call_app, self.app,
                                                                     environ)
            reply = http.respond(status, headers, body, close=self._stop_requested.is_set())
        except Exception:  # noqa: BLE001 - the last resort: logged, answered with JSON 500
            # Not the path: v2.0 admin paths carry token ids.
            LOG.exception("the application failed on a %s request to %s",
                          environ["REQUEST_METHOD"], environ["SCRIPT_NAME"])
            reply = error_reply(500, "An unexpected error prevented the server from "
                                "fulfilling your request.")
        async with asyncio.timeout(limits.timeout):
            await stream.send(reply)
        if not http.next_cycle():
            await stream.linger()
            return False
        return True


def load_apps(paste: str | None = None) -> dict:
    """``{"/main": app, "/admin": app}`` from the paste file (default: as ``keystone_lite.wsgi``).

    The configuration file is found as the paste file says ($KEYSTONE_LITE_CONFIG first).
    """
    return {f"/{name}": load_app(name, paste) for name in ("main", "admin")}


def load_app(name: str, paste: str | None = None):
    """The paste file's app ``name`` (``main``, ``admin``, ``metrics``)."""
    return loadapp(f"config:{paste or paste_file(__file__)}", name=name)


def make_server(apps: dict, files: TLSFiles, user_attribute: str,
                host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                require_client_certificate: bool = True, threads: int = 10,
                limits: Limits = Limits(),
                revocations: crl.RevocationList | None = None) -> EmbeddedServer:
    """A server for ``apps`` ({mount: wsgi app}); call ``serve`` (or ``prepare`` first) on it.

    ``revocations``: the CRLs the handshake checks client certificates against (see
    ModSslKeys). Raises ``ssl.SSLError`` or ``OSError`` if the certificate, key or CA cannot
    be used.
    """
    return EmbeddedServer(Mounts(apps), ModSslKeys(files, user_attribute,
                                                   require_client_certificate, revocations),
                          host, port, threads, limits)


def serve(server: EmbeddedServer, on_ready=None) -> None:
    """Listen, call ``on_ready()``, serve until SIGINT or SIGTERM, then stop cleanly."""
    previous = {number: signal.signal(number, lambda *_: server.stop())
                for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.prepare()
        LOG.info("listening on https://%s:%s (pid %s)", *server.bind_addr[:2], os.getpid())
        if on_ready is not None:
            on_ready()
        server.serve()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    LOG.info("stopped")
