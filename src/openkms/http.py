"""The HTTP/1.1 protocol openkms serves with: uvicorn's httptools protocol, one send per answer.

uvicorn writes a response's status line and headers when the application sends
``http.response.start``, and the body on ``http.response.body``: two writes, two TCP segments,
and on the client two wake-ups for one answer (on loopback the sender's system call also runs
the receiver's TCP work). Every openkms answer is one complete body, so the transport here
holds a response head back and sends it with the body. A head with no body write after it (the
answer to HEAD) goes out when the response completes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _HeadHoldingTransport:
    """A transport that joins a response head to the write that follows it."""

    __slots__ = ("_head", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head = b""

    def write(self, data: bytes) -> None:
        if self._head:
            data = self._head + data
            self._head = b""
        elif data[-4:] == b"\r\n\r\n" and data[:9] == b"HTTP/1.1 " and data[9:10] != b"1":
            # A final response's head (not "100 Continue", which must go out at once).
            self._head = data
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._head:
            head, self._head = self._head, b""
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneSendProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a :class:`_HeadHoldingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_HeadHoldingTransport(transport))  # type: ignore[arg-type]

    def on_response_complete(self) -> None:
        self.transport.flush()  # type: ignore[attr-defined]
        super().on_response_complete()
