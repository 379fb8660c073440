"""HTTP/1.1 for the embedded server: read a request within Apache's limits, write a response.

The whole request (head and body) is read on the event loop, within its limits and deadlines,
before a worker thread runs the application: a client that sends slowly, or not at all, costs a
buffer and never a thread. The limits and their defaults are Apache httpd's (``LimitRequest*``,
``RequestReadTimeout``, ``KeepAliveTimeout``); errors are Keystone's JSON.
"""
from __future__ import annotations

import dataclasses
import email.utils
import io
import json
import re
import sys
import time
import urllib.parse

_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # control characters other than HTAB
_TITLES = {400: "Bad Request", 404: "Not Found", 408: "Request Timeout",
           413: "Request Entity Too Large", 414: "Request-URI Too Long",
           431: "Request Header Fields Too Large", 500: "Internal Server Error",
           501: "Not Implemented"}
_NO_BODY = ("1", "204", "304")


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
    return response_head(f"{code} {_TITLES[code]}", [("Content-Type", "application/json")],
                         len(body), keep_alive=False) + body


def response_head(status: str, headers: list, length: int | None, keep_alive: bool) -> bytes:
    """Status line and headers; the server sets ``Content-Length``, ``Date`` and ``Connection``."""
    lines = [f"HTTP/1.1 {status}"]
    lines.extend(f"{name}: {value}" for name, value in headers
                 if name.lower() not in ("content-length", "connection", "transfer-encoding",
                                         "date", "keep-alive"))
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines.append(f"Date: {_date()}")
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


_DATE = [0, ""]


def _date() -> str:
    now = int(time.time())
    if _DATE[0] != now:
        _DATE[:] = now, email.utils.formatdate(now, usegmt=True)
    return _DATE[1]


class RequestReader:
    """Buffered reading of requests from a stream whose ``recv()`` returns bytes, b"" at EOF."""

    def __init__(self, stream, limits: Limits):
        self._stream, self._limits, self._buffer = stream, limits, bytearray()

    async def wait_for_request(self) -> bool:
        """Wait until a request starts; False if the client closed first."""
        return bool(self._buffer) or await self._fill()

    async def read_head(self) -> tuple[bytes, bytes, bytes, list[tuple[bytes, bytes]]]:
        """(method, target, version, [(name, value)]) of the next request head."""
        limits = self._limits
        line = b""
        for _ in range(3):  # RFC 9112 2.2: ignore empty lines before the request line
            line = await self._line(limits.limit_request_line, 414, "The request line is too "
                                    f"long; the limit is {limits.limit_request_line} bytes.")
            if line:
                break
        parts = line.split(b" ")
        if (len(parts) != 3 or not _TOKEN.fullmatch(parts[0])
                or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0") or _BAD_VALUE.search(parts[1])):
            raise HTTPError(400, "The request line is malformed.")
        headers = []
        while field := await self._line(limits.limit_request_field_size, 431, "A request "
                                         "header field is too long; the limit is "
                                         f"{limits.limit_request_field_size} bytes."):
            if len(headers) == limits.limit_request_fields:
                raise HTTPError(400, "The request has too many header fields; the limit is "
                                f"{limits.limit_request_fields}.")
            name, colon, value = field.partition(b":")
            if not colon or not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
                raise HTTPError(400, "A request header field is malformed.")
            headers.append((name.lower(), value.strip(b" \t")))
        framing = [name for name, _ in headers if name in (b"content-length",
                                                             b"transfer-encoding")]
        if len(framing) > 1:  # two ways to find the body's end: refused (request smuggling)
            raise HTTPError(400, "The request has more than one Content-Length or "
                            "Transfer-Encoding.")
        return parts[0], parts[1], parts[2], headers

    def wants_continue(self, headers: dict[bytes, bytes], version: bytes) -> bool:
        """Whether to send ``100 Continue`` before reading the body (not when it will be 413)."""
        length = headers.get(b"content-length", b"")
        return (version == b"HTTP/1.1" and headers.get(b"expect", b"").lower() == b"100-continue"
                and length.isdigit() and 0 < int(length) <= self._limits.limit_request_body)

    async def read_body(self, headers: dict[bytes, bytes], version: bytes) -> bytes:
        """The body that ``headers`` announce (Content-Length or chunked), within the limit."""
        encoding, length = headers.get(b"transfer-encoding"), headers.get(b"content-length")
        if encoding is not None:
            if version != b"HTTP/1.1":
                raise HTTPError(400, "Transfer-Encoding is not allowed here.")
            if encoding.lower() != b"chunked":
                raise HTTPError(501, "Only the chunked transfer coding is supported.")
            return await self._chunked()
        if length is None:
            return b""
        if not length.isdigit() or len(length) > 18:
            raise HTTPError(400, "Content-Length is malformed.")
        self._check_size(int(length))
        return await self._exactly(int(length))

    async def _chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = await self._line(1024, 400, "A chunk size line is too long.")
            size = size_line.partition(b";")[0].strip()
            if not size or len(size) > 16 or not all(c in b"0123456789abcdefABCDEF"
                                                     for c in size):
                raise HTTPError(400, "A chunk size is malformed.")
            if not int(size, 16):
                break
            self._check_size(len(body) + int(size, 16))
            body += await self._exactly(int(size, 16))
            if await self._line(2, 400, "A chunk is malformed."):
                raise HTTPError(400, "A chunk is malformed.")
        for _ in range(self._limits.limit_request_fields + 1):  # trailer fields, ignored
            if not await self._line(self._limits.limit_request_field_size, 431,
                                    "A trailer field is too long."):
                return bytes(body)
        raise HTTPError(400, "The request has too many trailer fields.")

    def _check_size(self, size: int) -> None:
        if size > self._limits.limit_request_body:
            raise HTTPError(413, "Request is too large; the limit is "
                            f"{self._limits.limit_request_body} bytes.")

    async def _line(self, limit: int, code: int, message: str) -> bytes:
        """The next line without its CRLF (or LF); HTTPError(code) past ``limit`` bytes."""
        start = 0
        while (end := self._buffer.find(b"\n", start)) < 0:
            if len(self._buffer) > limit + 1:
                raise HTTPError(code, message)
            start = len(self._buffer)
            if not await self._fill():
                raise HTTPError(400, "The request ended early.")
        line = bytes(self._buffer[:end])
        del self._buffer[:end + 1]
        line = line[:-1] if line.endswith(b"\r") else line
        if len(line) > limit:
            raise HTTPError(code, message)
        return line

    async def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not await self._fill():
                raise HTTPError(400, "The request body ended early.")
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def _fill(self) -> bool:
        data = await self._stream.recv()
        self._buffer += data
        return bool(data)


def wsgi_environ(method: bytes, target: bytes, version: bytes, headers: list, body: bytes,
                 server: tuple, peer: tuple) -> dict:
    """The WSGI environ of one request; headers with ``_`` are dropped, as Apache does."""
    if target.startswith((b"http://", b"https://")):  # absolute form: keep the path
        target = b"/" + target.split(b"/", 3)[3] if target.count(b"/") >= 3 else b"/"
    path, _, query = target.partition(b"?")
    environ = {
        "REQUEST_METHOD": method.decode("ascii"), "SCRIPT_NAME": "",
        "PATH_INFO": urllib.parse.unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query.decode("latin-1"), "SERVER_PROTOCOL": version.decode("ascii"),
        "SERVER_NAME": server[0], "SERVER_PORT": str(server[1]),
        "REMOTE_ADDR": peer[0], "REMOTE_PORT": str(peer[1]),
        "wsgi.version": (1, 0), "wsgi.url_scheme": "https", "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True, "wsgi.errors": sys.stderr, "wsgi.multithread": True,
        "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    if body or any(name in (b"content-length", b"transfer-encoding") for name, _ in headers):
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in headers:
        if b"_" in name or name in (b"content-length", b"transfer-encoding"):
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


def keeps_alive(version: bytes, headers: dict[bytes, bytes]) -> bool:
    """HTTP/1.1 unless the client says close; HTTP/1.0 clients get one request each."""
    tokens = {token.strip() for token in headers.get(b"connection", b"").lower().split(b",")}
    return version == b"HTTP/1.1" and b"close" not in tokens


def body_allowed(status: str) -> bool:
    """Whether a response with ``status`` ("204 No Content") may carry a body."""
    return not status.startswith(_NO_BODY)

