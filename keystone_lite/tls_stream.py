"""Server-side TLS over asyncio streams, with ``ssl.MemoryBIO``: no handshake ever blocks a thread.

asyncio's own TLS transport closes at once when a handshake fails, so the client's unread data
makes the kernel send a reset, and curl reports "connection reset" instead of "alert certificate
required". Driving ``ssl.SSLObject`` here keeps that in our hands: the alert is sent, then the
connection closes the way Apache's lingering close does (``linger``).
"""
from __future__ import annotations

import asyncio
import contextlib
import ssl

LINGER_SECONDS = 2
_READ_SIZE = 65536


def is_plain_http(failure: ssl.SSLError) -> bool:
    """Whether the handshake failed because the client spoke plain HTTP to the TLS port."""
    return failure.reason == "HTTP_REQUEST"


async def send_last(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    data: bytes) -> None:
    """Write ``data``, half-close, read until the client closes (``LINGER_SECONDS`` at most),
    then close: the end of every connection, TLS or plain (see ``TLSStream.linger``)."""
    try:
        writer.write(data)
        async with asyncio.timeout(LINGER_SECONDS):
            await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
            while await reader.read(_READ_SIZE):
                pass
    except (OSError, TimeoutError):
        pass
    finally:
        writer.transport.abort()


class TLSStream:
    """One server-side TLS connection over an asyncio (reader, writer) pair."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 context: ssl.SSLContext):
        self._reader, self._writer = reader, writer
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)

    async def handshake(self) -> None:
        """Complete the handshake; raises ``ssl.SSLError`` (alert queued) or ``ConnectionError``."""
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush()
                if not await self._fill():
                    raise ConnectionResetError("closed during the TLS handshake") from None
        await self._flush()

    async def recv(self) -> bytes:
        """The next decrypted bytes; ``b""`` once the client has closed."""
        while True:
            try:
                return self.tls.read(_READ_SIZE)
            except ssl.SSLWantReadError:
                await self._flush()
                if not await self._fill():
                    return b""
            except ssl.SSLZeroReturnError:
                return b""

    async def send(self, data: bytes) -> None:
        self.tls.write(data)
        await self._flush()

    def queue(self, data: bytes) -> None:
        """Encrypt ``data`` for the next flush (``linger`` sends it)."""
        self.tls.write(data)

    async def linger(self, plain_reply: bytes = b"") -> None:
        """Send what is queued (a TLS alert, a reply, or ``plain_reply`` unencrypted), half-close,
        and read until the client closes (``LINGER_SECONDS`` at most) before closing.

        Closing with the client's request still unread makes the kernel send a reset, and the
        client then loses what was sent: curl reports "getpeername() failed" instead of "alert
        certificate required", or "connection reset" instead of an error reply.
        """
        with contextlib.suppress(OSError):  # ssl.SSLError included
            if self.tls.version() is not None:
                self.tls.unwrap()  # queue close_notify; the peer's is not awaited
        await send_last(self._reader, self._writer, plain_reply + self._outgoing.read())

    def abort(self) -> None:
        self._writer.transport.abort()

    async def _fill(self) -> bool:
        data = await self._reader.read(_READ_SIZE)
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()
        return bool(data)

    async def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self._writer.write(data)
            await self._writer.drain()
