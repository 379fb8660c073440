"""HTTP/1.1 for the embedded server, with h11: read a request within Apache's limits, answer it.

The whole request (head and body) is read on the event loop, within its limits and deadlines,
before a worker thread runs the application: a client that sends slowly, or not at all, costs a
buffer and never a thread. h11 parses and frames; this module adds what h11 leaves to its user:
the limits and their defaults, which are Apache httpd's (``LimitRequest*``, ``RequestReadTimeout``,
``KeepAliveTimeout``), the status of each refusal, and Keystone's JSON for errors.
"""
from __future__ import annotations

import dataclasses
import email.utils
import io
import json
import logging
import re
import sys
import time
import urllib.parse

import h11

LOG = logging.getLogger(__name__)
_TITLES = {400: "Bad Request", 404: "Not Found", 408: "Request Timeout",
           413: "Request Entity Too Large", 414: "Request-URI Too Long",
           431: "Request Header Fields Too Large", 500: "Internal Server Error",
           501: "Not Implemented"}
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # h11 lets these through in field values
_SERVER_SET = (b"content-length", b"connection", b"transfer-encoding", b"date", b"keep-alive")
_FRAMING = (b"content-length", b"transfer-encoding")


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one client may send and how long it may take; defaults as in Apache httpd."""

    limit_request_line: int = 8190         # LimitRequestLine: longer gets 414
    limit_request_field_size: int = 8190   # LimitRequestFieldSize: longer gets 431
    limit_request_fields: int = 100        # LimitRequestFields: more get 400
    limit_request_body: int = 114688       # [DEFAULT] max_request_body_size: more gets 413
    handshake_timeout: float = 10.0        # RequestReadTimeout handshake=: then closed
    header_timeout: float = 20.0           # RequestReadTimeout header=: then 408
    body_timeout: float = 20.0             # RequestReadTimeout body=: then 408
    keepalive_timeout: float = 5.0         # KeepAliveTimeout: idle between requests, then closed
    timeout: float = 60.0                  # Timeout: for sending a response
    max_connections: int = 500             # open connections in all, then refused
    max_connections_per_client: int = 64   # open connections per client address, then refused

    @property
    def head_size(self) -> int:
        """The longest request head within the limits (request line, fields, CRLFs)."""
        return (self.limit_request_line + 2
                + self.limit_request_fields * (self.limit_request_field_size + 2) + 2)


class HTTPError(Exception):
    """The request cannot be served; the connection answers ``code`` and closes."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def error_body(code: int, message: str) -> bytes:
    """Keystone's error JSON."""
    return json.dumps({"error": {"code": code, "title": _TITLES[code],
                                 "message": message}}).encode()


def error_reply(code: int, message: str) -> bytes:
    """A complete ``Connection: close`` response with Keystone's error JSON."""
    body = error_body(code, message)
    return _frame(h11.Connection(h11.SERVER), code, _TITLES[code].encode(),
                  [(b"Content-Type", b"application/json"),
                   (b"Content-Length", str(len(body)).encode()), (b"Connection", b"close")], body)


def _frame(connection: h11.Connection, code: int, reason: bytes, headers: list,
           body: bytes) -> bytes:
    """One response through ``connection``; ``Date`` added, the body only where allowed."""
    headers.append((b"Date", _date()))
    data = connection.send(h11.Response(status_code=code, reason=reason, headers=headers))
    if body:
        data += connection.send(h11.Data(data=body))
    return data + connection.send(h11.EndOfMessage())


_DATE = [0, b""]


def _date() -> bytes:
    now = int(time.time())
    if _DATE[0] != now:
        _DATE[:] = now, email.utils.formatdate(now, usegmt=True).encode()
    return _DATE[1]


class HTTPConnection:
    """The requests and responses of one connection: h11 fed from ``stream``, within ``limits``.

    ``stream.recv()`` returns bytes, b"" at EOF; ``stream.send(data)`` sends.
    """

    def __init__(self, stream, limits: Limits):
        self._stream, self._limits = stream, limits
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.head_size)
        self.request: h11.Request | None = None

    async def wait_for_request(self) -> bool:
        """Wait until a request starts; False if the client closed first."""
        if self._h11.trailing_data[0]:  # pipelined
            return True
        data = await self._stream.recv()
        self._h11.receive_data(data)
        return bool(data)

    async def read_head(self) -> h11.Request:
        """The next request's line and header fields, within the limits."""
        self.request = request = await self._next()
        limits = self._limits
        if request.http_version not in (b"1.0", b"1.1"):
            raise HTTPError(400, "The request line is malformed.")
        if len(request.method) + len(request.target) + 10 > limits.limit_request_line:
            raise self._too_long(414)
        if len(request.headers) > limits.limit_request_fields:
            raise self._too_long(400)
        for name, value in request.headers:
            if len(name) + 2 + len(value) > limits.limit_request_field_size:
                raise self._too_long(431)
            if _CONTROL.search(value):
                raise HTTPError(400, "A request header field is malformed.")
        framing = [name for name, _ in request.headers if name in _FRAMING]
        if len(framing) > 1 or (framing == [b"transfer-encoding"]
                                and request.http_version == b"1.0"):
            # two ways to find the body's end (request smuggling), or chunks HTTP/1.0 lacks
            raise HTTPError(400, "The request has both Content-Length and Transfer-Encoding, "
                            "or Transfer-Encoding in HTTP/1.0.")
        if framing == [b"content-length"]:
            self._check_size(int(dict(request.headers)[b"content-length"]))
        return request

    async def read_body(self) -> bytes:
        """The request's body (Content-Length or chunked), within the limit."""
        body = bytearray()
        while type(event := await self._next()) is h11.Data:
            body += event.data
            self._check_size(len(body))
        return bytes(body)

    def respond(self, status: str, headers: list, body: bytes, close: bool) -> bytes:
        """The response to the request read, as bytes to send: ``Content-Length`` set from
        ``body`` (or the app's, for HEAD), no body where none is allowed."""
        code, _, reason = status.partition(" ")
        no_body, head_only = code in ("204", "304"), self.request.method == b"HEAD"
        fields = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        length = next((value for name, value in fields if name.lower() == b"content-length"
                       and head_only), str(len(body)).encode())
        fields = [field for field in fields if field[0].lower() not in _SERVER_SET]
        if not no_body:
            fields.append((b"Content-Length", length))
        if close:
            fields.append((b"Connection", b"close"))
        return _frame(self._h11, int(code), reason.encode("latin-1"), fields,
                      b"" if head_only or no_body else body)

    def next_cycle(self) -> bool:
        """After a response: whether the connection stays open for another request."""
        if self._h11.our_state is not h11.DONE:  # HTTP/1.0 or Connection: close
            return False
        self._h11.start_next_cycle()
        self.request = None
        return True

    async def _next(self):
        """The next h11 event; reads as needed, answers ``100 Continue`` when the body is."""
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as error:
                LOG.debug("refused a request: %s", error)
                if error.error_status_hint == 431:  # more buffered than the limits allow
                    raise self._too_long(431) from None
                if error.error_status_hint == 501:
                    raise HTTPError(501, "Only the chunked transfer coding is "
                                    "supported.") from None
                raise HTTPError(400, "The request is malformed.") from None
            if event is not h11.NEED_DATA:
                return event
            if self._h11.they_are_waiting_for_100_continue:
                await self._stream.send(self._h11.send(h11.InformationalResponse(
                    status_code=100, reason=b"Continue", headers=[])))
            self._h11.receive_data(await self._stream.recv())

    def _too_long(self, code: int) -> HTTPError:
        """The error for a head over the limits: ``code`` once a request is read; before, h11
        only says that more is buffered than the limits allow, so the buffered lines tell."""
        limits = self._limits
        if self.request is None:  # measure the raw head buffered
            sizes = [len(line.removesuffix(b"\r"))
                     for line in self._h11.trailing_data[0].split(b"\n")]
            code = (414 if sizes[0] > limits.limit_request_line
                    else 431 if max(sizes) > limits.limit_request_field_size else 400)
        return HTTPError(code, {
            414: f"The request line is too long; the limit is {limits.limit_request_line} "
                 "bytes.",
            431: "A request header field is too long; the limit is "
                 f"{limits.limit_request_field_size} bytes.",
            400: "The request has too many header fields; the limit is "
                 f"{limits.limit_request_fields}."}[code])

    def _check_size(self, size: int) -> None:
        if size > self._limits.limit_request_body:
            raise HTTPError(413, "Request is too large; the limit is "
                            f"{self._limits.limit_request_body} bytes.")


def wsgi_environ(request: h11.Request, body: bytes, server: tuple, peer: tuple) -> dict:
    """The WSGI environ of one request; headers with ``_`` are dropped, as Apache does."""
    target, headers = request.target, request.headers
    if target.startswith((b"http://", b"https://")):  # absolute form: keep the path
        target = b"/" + target.split(b"/", 3)[3] if target.count(b"/") >= 3 else b"/"
    path, _, query = target.partition(b"?")
    environ = {
        "REQUEST_METHOD": request.method.decode("ascii"), "SCRIPT_NAME": "",
        "PATH_INFO": urllib.parse.unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query.decode("latin-1"),
        "SERVER_PROTOCOL": "HTTP/" + request.http_version.decode("ascii"),
        "SERVER_NAME": server[0], "SERVER_PORT": str(server[1]),
        "REMOTE_ADDR": peer[0], "REMOTE_PORT": str(peer[1]),
        "wsgi.version": (1, 0), "wsgi.url_scheme": "https", "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True, "wsgi.errors": sys.stderr, "wsgi.multithread": True,
        "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    if body or any(name in _FRAMING for name, _ in headers):
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in headers:
        if b"_" in name or name in _FRAMING:
            continue
        key = ("CONTENT_TYPE" if name == b"content-type"
               else "HTTP_" + name.decode("ascii").upper().replace("-", "_"))
        value = value.decode("latin-1")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def call_app(app, environ: dict) -> tuple[str, list, bytes]:
    """Run a WSGI app to completion: (status, headers, body)."""
    response = []

    def start_response(status, headers, exc_info=None):
        response[:] = [status, headers]
        return body.append

    body = []
    result = app(environ, start_response)
    try:
        body.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return response[0], response[1], b"".join(body)

