"""The HTTP/1.1 front door openkms serves with: uvicorn's httptools protocol, guarded against
clients that send slowly, send too much or open too many connections, and sending each answer
in one write.

One send per answer. uvicorn writes a response's status line and headers when the application
sends ``http.response.start``, and the body on ``http.response.body``: two writes, two TCP
segments, and on the client two wake-ups for one answer (on loopback the sender's system call
also runs the receiver's TCP work). Every openkms answer is one complete body, so the transport
here holds a response head back and sends it with the body. A head with no body write after it
(the answer to HEAD) goes out when the response completes.

The guard (:class:`GuardedProtocol`, limits in :class:`Limits`, set once per process by
:func:`configure`):

- A request reaches the application only once its head and its whole body have arrived. Until
  then it holds a connection and the bytes it has sent, never a request slot: the in-flight
  limit of server.py counts whole requests only.
- Time: a request head must be complete within ``head_timeout`` of the connection's opening (the
  first request) or of its first byte (the next ones on a kept-alive connection); a body within
  ``body_timeout`` of the end of its head, and, once past its first :data:`BODY_GRACE` seconds,
  at an average of at least ``body_min_rate`` bytes per second since the head. A connection that
  misses either is closed. An idle kept-alive connection is closed by uvicorn after its
  ``timeout_keep_alive``.
- Size: at most ``max_headers`` header fields of ``max_header_bytes`` in all (names and values),
  else 431; a request target of at most :data:`MAX_URL_BYTES` (the most the parser reads), else
  414; a body of at most ``wire.request.MAX_BODY_BYTES``, else 400, refused from its
  Content-Length before it is read.
- Memory: at most ``max_connections`` open connections per process (one more is answered 503
  and closed at once), and at most ``max_pending_bytes`` of requests not yet whole held in
  memory per process (a request whose bytes would pass it is answered 503 and its connection
  closed). Partial heads and bodies count; a request handed to the application no longer does.

Every refusal is an Alibaba error body (wire.render) with ``connection: close``, and the
connection is closed after it. Timeouts close the connection without an answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

from openkms.domain import ids
from openkms.wire import errors
from openkms.wire.render import render_error
from openkms.wire.request import MAX_BODY_BYTES

log = logging.getLogger("openkms.http")

# The longest request target the parser hands over (its URL offsets are 16-bit). The old SDK
# sends every parameter in the query, so its largest requests need most of it.
MAX_URL_BYTES = 65535
# Seconds a body may take before the minimum rate applies.
BODY_GRACE = 2.0
# After a refusal, the most the connection reads and throws away before it closes.
LINGER_SECONDS = 2.0
LINGER_BYTES = MAX_BODY_BYTES + (64 << 10)
# A scope key: time.monotonic() when the request became whole (server.py's queue deadline).
ARRIVED = "openkms.arrived"


@dataclass(frozen=True)
class Limits:
    """The guard's limits, per worker process (docs/deployment.md, "The front door")."""

    head_timeout: float = 10.0
    body_timeout: float = 30.0
    body_min_rate: int = 1024
    max_header_bytes: int = 16 * 1024
    max_headers: int = 100
    max_connections: int = 4096
    max_pending_bytes: int = 64 << 20

    @property
    def max_head_bytes(self) -> int:
        """Raw bytes of a head still incomplete: request line, fields and their separators."""
        return MAX_URL_BYTES + 64 + self.max_header_bytes + 4 * (self.max_headers + 1)


class _Door:
    """The process's limits and what its connections hold (one event loop: no lock)."""

    def __init__(self) -> None:
        self.limits = Limits()
        self.pending = 0  # bytes of requests not yet whole, over every connection
        self.events: dict[str, int] = {}  # refusals and closed connections not yet in the log
        self.reported = 0.0


DOOR = _Door()


def configure(limits: Limits) -> None:
    """Set the limits of every connection this process accepts from now on."""
    DOOR.limits = limits


class HeadTooLarge(errors.KMSError):
    code = errors.InvalidParameter.code
    http_status = 431
    default_message = "The request head is too large."


class TargetTooLong(errors.KMSError):
    code = errors.InvalidParameter.code
    http_status = 414
    default_message = "The request URL is too long."


_IDLE, _HEAD, _BODY = 0, 1, 2


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


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a :class:`_HeadHoldingTransport`, with the guard of the
    module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limits = self.limits = DOOR.limits
        self._max_headers = limits.max_headers
        self._max_header_bytes = limits.max_header_bytes
        self._max_pending = limits.max_pending_bytes
        self._phase = _IDLE
        self._timer: asyncio.TimerHandle | None = None
        self._linger = -1  # after a refusal: bytes still to discard before closing
        self._head_raw = 0  # raw bytes of the current head while it is incomplete
        self._url_bytes = 0
        self._body_started = 0.0
        self._body_bytes = 0
        self._held = 0  # this connection's share of DOOR.pending
        self._deferred: tuple[RequestResponseCycle, Any] | None = None
        self._running: RequestResponseCycle | None = None

    # -- connection ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_HeadHoldingTransport(transport))  # type: ignore[arg-type]
        if len(self.connections) > self.limits.max_connections:
            error = errors.ServiceUnavailableTemporary("Too many connections are open; try again.")
            self._refuse(error, linger=False)  # shed it now: it would linger over the limit
            return
        # The first request's head is due within head_timeout of the connection's opening.
        self._arm(self.loop.time() + self.limits.head_timeout, self._head_due)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._release()
        self._deferred = None
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """Graceful shutdown: a connection with no request being served closes now (uvicorn's own
        would wait for a request still arriving)."""
        running = self._running
        if running is None or running.response_complete:
            self.transport.close()
        else:
            running.keep_alive = False

    def data_received(self, data: bytes) -> None:
        if self._linger >= 0:
            self._discard(len(data))
            return
        self._unset_keepalive_if_required()
        starts_in_head = self._phase != _BODY
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, errors.KMSError):
                self._refuse(cause)
            else:
                self._refuse(errors.InvalidParameter(reason="The request is not valid HTTP/1.1."))
            return
        except httptools.HttpParserUpgrade:
            return  # no upgrade is served; a request with a whole body is served as it is
        except httptools.HttpParserError:
            self._refuse(errors.InvalidParameter(reason="The request is not valid HTTP/1.1."))
            return
        if self._phase == _HEAD:
            if starts_in_head:
                # Every byte of this read belongs to the head (a read that began in a body may
                # end in the next head: at most one read goes uncounted).
                self._head_raw += len(data)
                if self._head_raw > self.limits.max_head_bytes:
                    self._refuse(HeadTooLarge())
                    return
                if not self._hold(len(data)):
                    return
            if self._timer is None:
                # A later request whose head began in this read: due from its first byte.
                self._arm(self.loop.time() + self.limits.head_timeout, self._head_due)
        elif self._phase == _BODY and self._timer is None:
            # The head ended in this read (else the body's timer would be running).
            self._body_started = self.loop.time()
            self._arm_body()

    # -- parser callbacks -----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        HttpToolsProtocol.on_message_begin(self)
        self._phase = _HEAD
        self._head_raw = self._url_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > MAX_URL_BYTES:
            raise TargetTooLong(f"The request URL is longer than {MAX_URL_BYTES} bytes.")
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        # uvicorn's own, with the limits (not a call to it: this runs for every header). The
        # bytes are counted once the head is in: until then the raw head limit bounds them.
        headers = self.headers
        if len(headers) >= self._max_headers:
            raise self._head_too_large()
        name = name.lower()
        # llhttp keeps trailing whitespace, which is not part of the value (RFC 9110, 5.5).
        value = value.rstrip(b" \t")
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        elif name == b"content-length" and value.isdigit() and int(value) > MAX_BODY_BYTES:
            raise errors.InvalidParameter(reason="The request body is too large.")
        headers.append((name, value))

    def on_headers_complete(self) -> None:
        if sum(map(len, chain.from_iterable(self.headers))) > self._max_header_bytes:
            raise self._head_too_large()
        if self._timer is not None:
            self._disarm()
        self._phase = _BODY
        self._body_bytes = 0
        HttpToolsProtocol.on_headers_complete(self)
        running = self._running
        if self.expect_100_continue and (running is None or running.response_complete):
            # The application starts only with the whole body: ask for it now (not while an
            # earlier request's answer may be on its way).
            self.cycle.waiting_for_100_continue = False
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _head_too_large(self) -> HeadTooLarge:
        limits = self.limits
        return HeadTooLarge(
            f"The request head is too large: at most {limits.max_headers} header fields "
            f"of {limits.max_header_bytes} bytes in all."
        )

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if cycle.response_complete:
            return
        size = len(body)
        self._body_bytes += size
        if self._body_bytes > MAX_BODY_BYTES:
            raise errors.InvalidParameter(reason="The request body is too large.")
        pending = DOOR.pending + size
        if pending > self._max_pending:
            raise errors.ServiceUnavailableTemporary("Too many requests are arriving; try again.")
        DOOR.pending = pending
        self._held += size
        # Never paused: the body is bounded here, and the application reads it only when whole.
        cycle.body += body

    def on_message_complete(self) -> None:
        if self._timer is not None:
            self._disarm()
        self._phase = _IDLE
        HttpToolsProtocol.on_message_complete(self)
        deferred = self._deferred
        if deferred is not None and not deferred[0].more_body:
            self._deferred = None
            self._start_asgi_task(*deferred)

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        if cycle.more_body:
            self._deferred = (cycle, app)  # started by on_message_complete
            return
        if self._held:
            DOOR.pending -= self._held
            self._held = 0
        self._running = cycle
        scope: dict[str, Any] = cycle.scope  # type: ignore[assignment]
        scope[ARRIVED] = time.monotonic()
        HttpToolsProtocol._start_asgi_task(self, cycle, app)

    def on_response_complete(self) -> None:
        self.transport.flush()  # type: ignore[attr-defined]
        super().on_response_complete()

    # -- the guard ------------------------------------------------------------------------------

    def _arm(self, when: float, callback: Callable[[], None]) -> None:
        self._disarm()
        self._timer = self.loop.call_at(when, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm_body(self) -> None:
        limits = self.limits
        due = self._body_started + limits.body_timeout
        if limits.body_min_rate > 0:
            due = min(due, self._body_started + BODY_GRACE + self._body_bytes / limits.body_min_rate)
        self._arm(max(due, self.loop.time()) + 0.01, self._body_due)

    def _head_due(self) -> None:
        self._timer = None
        if self._phase != _BODY:
            self._drop("closed at the head timeout")

    def _body_due(self) -> None:
        self._timer = None
        if self._phase != _BODY:
            return
        limits = self.limits
        elapsed = self.loop.time() - self._body_started
        if elapsed >= limits.body_timeout:
            self._drop("closed at the body timeout")
        elif limits.body_min_rate > 0 and self._body_bytes < limits.body_min_rate * (elapsed - BODY_GRACE):
            self._drop("closed below the body rate")
        else:
            self._arm_body()

    def _drop(self, event: str) -> None:
        """Close a connection that missed a deadline, without an answer."""
        self._release()
        if not self.transport.is_closing():
            self.transport.close()
            _report(event)

    def _hold(self, size: int) -> bool:
        """Count ``size`` more bytes of a request not yet whole against the process's budget;
        False, the connection refused, when they do not fit."""
        if DOOR.pending + size > self._max_pending:
            self._refuse(errors.ServiceUnavailableTemporary("Too many requests are arriving; try again."))
            return False
        DOOR.pending += size
        self._held += size
        return True

    def _release(self) -> None:
        DOOR.pending -= self._held
        self._held = 0

    def _refuse(self, error: errors.KMSError, *, linger: bool = True) -> None:
        """Answer ``error`` as an Alibaba error body and close the connection.

        The close lingers: the sending side is shut after the answer, and what the client still
        sends (the rest of a body it was refused for) is read and thrown away for up to
        :data:`LINGER_SECONDS` and :data:`LINGER_BYTES`, or until the client closes, so it
        reads the answer instead of a reset connection.
        """
        self._disarm()
        self._release()
        self._deferred = None
        if self.transport.is_closing() or self._linger >= 0:
            return
        running = self._running
        if running is not None and not running.response_complete:
            # A request sent behind one still being answered: an answer now would cut into that
            # one's, so the connection just closes.
            self.transport.close()
            _report(f"closed, refusing {error.http_status} {error.code} behind a request in progress")
            return
        request_id = ids.new_request_id()
        host = ""
        for name, value in self.headers or ():
            if name == b"host":
                host = value.decode("latin-1")
        status, ctype, payload = render_error(error, request_id, host, False)
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: ",
            ctype,
            b"\r\ncontent-length: ",
            str(len(payload)).encode(),
            b"\r\nx-acs-request-id: ",
            request_id.encode(),
            b"\r\nconnection: close\r\n\r\n",
            payload,
        ]
        self.transport.write(b"".join(head))
        _report(f"refused {status} {error.code}")
        if not linger:
            self.transport.close()
            return
        self._linger = LINGER_BYTES
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the answer is whole: a client reading to the end has it
        self.flow.resume_reading()
        self._arm(self.loop.time() + LINGER_SECONDS, self.transport.close)

    def _discard(self, size: int) -> None:
        self._linger = max(0, self._linger - size)
        if self._linger == 0:
            self.transport.close()


def _report(event: str) -> None:
    """Count a refusal or a closed connection; a warning with the counts at most every ten
    seconds per process (a flood of them must not flood the log)."""
    counts = DOOR.events
    counts[event] = counts.get(event, 0) + 1
    now = time.monotonic()
    if now - DOOR.reported >= 10.0:
        log.warning(
            "front door, last 10 s: %s", ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
        )
        counts.clear()
        DOOR.reported = now
