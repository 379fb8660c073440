"""The embedded HTTPS server: cheroot serving ``/main`` and ``/admin`` with client certificates.

It stands in for Apache httpd + mod_ssl + mod_wsgi: the TLS handshake verifies the client
certificate against the CA (a connection without a valid one fails, as with ``SSLVerifyClient
require``), and the application receives exactly the environ keys mod_ssl would set
(``keystone_lite.tls_environ``), computed once per connection from the verified certificate.

cheroot's own ``BuiltinSSLAdapter`` is not enough: it names the UID attribute ``userId`` (so no
``SSL_CLIENT_S_DN_UID``), prints DNs in certificate order rather than RFC 2253, and sets no
``REMOTE_USER``. ``ModSslAdapter`` keeps its handshake and error handling and replaces those keys.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import ssl
import threading
import time

from cheroot import errors, wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from cryptography import x509
from paste.deploy import loadapp

from keystone_lite import tls_environ
from keystone_lite.wsgi import paste_file

LOG = logging.getLogger(__name__)

#: Private environ key through which the adapter hands a connection's TLS keys to the app.
TLS_KEY = "keystone_lite.tls_environ"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5443
LINGER_SECONDS = 2
_lingering = threading.BoundedSemaphore(32)
_PLAIN_HTTP_MESSAGE = b"This port speaks HTTPS only; use an https:// URL.\n"
_PLAIN_HTTP_REPLY = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close"
                     b"\r\nContent-Length: %d\r\n\r\n%s" % (len(_PLAIN_HTTP_MESSAGE),
                                                          _PLAIN_HTTP_MESSAGE))


@dataclasses.dataclass(frozen=True)
class TLSFiles:
    certificate: str
    key: str
    ca: str


class ModSslAdapter(BuiltinSSLAdapter):
    """cheroot's TLS adapter, verifying client certificates and exporting mod_ssl's keys."""

    def __init__(self, files: TLSFiles, user_attribute: str, require_client_certificate=True):
        super().__init__(files.certificate, files.key, certificate_chain=files.ca)
        self.context.verify_mode = (ssl.CERT_REQUIRED if require_client_certificate
                                    else ssl.CERT_OPTIONAL)
        self.user_attribute = user_attribute
        with open(files.certificate, "rb") as handle:
            server_certificate = x509.load_pem_x509_certificate(handle.read())
        self._server_keys = tls_environ.certificate_environ("SSL_SERVER", server_certificate)

    def wrap(self, sock):
        """cheroot's handshake, plus Apache's lingering close when it fails (see ``_linger``)."""
        spare, lingering = sock.dup(), False
        try:
            return super().wrap(sock)
        except (errors.FatalSSLAlert, errors.NoSSLError) as failure:
            lingering = _lingering.acquire(blocking=False)
            if lingering:
                reply = _PLAIN_HTTP_REPLY if isinstance(failure, errors.NoSSLError) else b""
                threading.Thread(target=_linger, args=(spare, reply), daemon=True).start()
            raise
        finally:
            if not lingering:
                spare.close()

    def get_environ(self, sock):
        """Per connection: ``wsgi.url_scheme`` and, under TLS_KEY, every mod_ssl key."""
        keys = {key: str(value) for key, value in super().get_environ(sock).items()
                if tls_environ.is_server_set(key) and value not in (None, "")
                and not key.startswith(("SSL_CLIENT_", "SSL_SERVER_"))}
        keys.update(self._server_keys)
        keys.update(tls_environ.client_environ(sock.getpeercert(binary_form=True),
                                               self.user_attribute))
        keys["HTTPS"] = "on"
        return {"wsgi.url_scheme": "https", TLS_KEY: keys}


def _linger(connection: socket.socket, reply: bytes) -> None:
    """Send ``reply``, half-close and drain before closing, so the client reads what was sent.

    Closing at once with the client's request still unread makes the kernel send a reset: curl
    then reports "getpeername() failed" instead of "alert certificate required", or "connection
    reset" instead of the 400 for plain HTTP.
    """
    deadline = time.monotonic() + LINGER_SECONDS
    try:
        connection.settimeout(LINGER_SECONDS)
        connection.sendall(reply)
        connection.shutdown(socket.SHUT_WR)
        while (remaining := deadline - time.monotonic()) > 0:
            connection.settimeout(remaining)
            if not connection.recv(4096):
                break
    except OSError:
        pass
    finally:
        connection.close()
        _lingering.release()


class TLSEnviron:
    """WSGI wrapper: the app sees the connection's TLS keys and no other claim to them."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        tls_environ.replace(environ, environ.pop(TLS_KEY, None) or {})
        return self.app(environ, start_response)


def load_apps(paste: str | None = None) -> dict:
    """``{"/main": app, "/admin": app}`` from the paste file (default: as ``keystone_lite.wsgi``).

    The configuration file is found as the paste file says ($KEYSTONE_LITE_CONFIG first).
    """
    uri = f"config:{paste or paste_file(__file__)}"
    return {f"/{name}": loadapp(uri, name=name) for name in ("main", "admin")}


def make_server(apps: dict, files: TLSFiles, user_attribute: str,
                host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                require_client_certificate: bool = True, threads: int = 10) -> wsgi.Server:
    """A cheroot server for ``apps`` ({mount: wsgi app}); call ``serve`` or ``start`` on it."""
    dispatcher = TLSEnviron(wsgi.PathInfoDispatcher(apps))
    server = wsgi.Server((host, port), dispatcher, numthreads=threads,
                         server_name=host)
    server.ssl_adapter = ModSslAdapter(files, user_attribute, require_client_certificate)
    return server


def serve(server: wsgi.Server, on_ready=None) -> None:
    """Listen, call ``on_ready()``, serve until SIGINT or SIGTERM, then stop cleanly.

    The signal handlers only set an event that a watcher thread turns into ``server.stop()``:
    Python's default KeyboardInterrupt can strike inside cheroot's loop while a lock is held, and
    the server then hangs instead of stopping.
    """
    stop_requested = threading.Event()

    def stop_when_requested():
        stop_requested.wait()
        server.stop()

    watcher = threading.Thread(target=stop_when_requested, name="stop-watcher", daemon=True)
    watcher.start()
    previous = {number: signal.signal(number, lambda *_: stop_requested.set())
                for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.prepare()
        LOG.info("listening on https://%s:%s (pid %s)", *server.bind_addr[:2], os.getpid())
        if on_ready is not None:
            on_ready()
        server.serve()
    finally:
        stop_requested.set()
        watcher.join()
        for number, handler in previous.items():
            signal.signal(number, handler)
    LOG.info("stopped")
