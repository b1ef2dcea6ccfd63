"""The ASGI application: one endpoint (``/``) speaking Alibaba's RPC protocol, plus ``/health``.

One request: decode (wire) -> Version and Action known? -> authenticate -> validate the
action's parameters (its table) -> handler -> render JSON or XML -> one log line.

Where the work runs. On the embedded database (SQLite), decoding, authentication (its nonce
is a few probes of the node's mapped nonce table, microseconds) and the handlers of actions
declared ``inline``
(reads and CPU work: Encrypt, DescribeKey, ...) run on the event loop itself: a hop to a thread
and back costs more than such a request's whole work, and the GIL gives threads no parallelism
for it. Handlers that commit durably (an fsync) or may wait long run on a small thread pool, so
they never stall the loop. On PostgreSQL every statement is a network round trip, so each
request's whole processing runs on the pool. asyncio and uvloop set TCP_NODELAY on every
connection, so a response is never held back by Nagle's algorithm. A request with no answer
within ``request_timeout`` (a database that stopped answering) is answered 503
ServiceUnavailableTemporary; on the embedded database the event loop's own work is bounded by
SQLite's busy timeout instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from openkms.api import REGISTRY, ActionSpec
from openkms.api.errors import to_wire
from openkms.auth import Authenticator, Replayed
from openkms.domain import ids
from openkms.domain.errors import DomainError
from openkms.jobs import RunnerThread, build_runner
from openkms.service.access_keys import CredentialStore
from openkms.service.context import CallContext, Caller, build_services
from openkms.service.deployment import DATABASE_UNAVAILABLE, Deployment
from openkms.wire import errors
from openkms.wire.render import JSON_TYPE, render_error, render_success
from openkms.wire.request import MAX_BODY_BYTES, WireRequest, build_request

API_VERSION = "2016-01-20"
log = logging.getLogger("openkms.request")
errlog = logging.getLogger("openkms.error")

Response = tuple[int, bytes, bytes]


class KMSApp:
    """The ASGI callable. Built once per worker process over an open deployment."""

    def __init__(self, dep: Deployment, *, threads: int = 8, run_jobs: bool = True) -> None:
        self.dep = dep
        self.services = build_services(dep)
        credentials = CredentialStore(dep, self.services.caches.credentials)
        self.auth = Authenticator(
            credentials, dep.nonces, dep.clock, dep.settings.time_window, region=dep.settings.region
        )
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="openkms")
        # Every worker runs a job runner; the lease lets one of them (per deployment) work.
        self.jobs = (
            RunnerThread(build_runner(self.services), period=dep.settings.job_period) if run_jobs else None
        )
        self.log_requests = dep.settings.log_requests
        # Requests admitted but not yet answered. Beyond the bound a request is answered 429
        # at once, before its body is read: memory stays bounded under any burst and the
        # process recovers by itself when the burst ends.
        self.inflight = 0
        self.max_inflight = dep.settings.max_inflight
        self.request_timeout = dep.settings.request_timeout
        self.pid = os.getpid()  # which worker process served a request (`serve --workers N`)
        # Local, microsecond statements only: then the event loop may run them (module doc).
        self.inline = dep.db.hot_local

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"] == "/health" and scope["method"] in ("GET", "HEAD"):
            await _send(send, 200, JSON_TYPE, b'{"Status":"ok"}', "")
            return
        request_id = ids.new_request_id()
        if self.inflight >= self.max_inflight:
            status, ctype, payload = render_error(errors.RejectedThrottling(), request_id, "", False)
            await _send(send, status, ctype, payload, request_id, retry_after=True)
            return
        self.inflight += 1
        try:
            body, too_large = await _read_body(receive)
            if self.inline:
                status, ctype, payload = await self._serve_inline(scope, body, too_large, request_id)
            else:
                work = asyncio.get_running_loop().run_in_executor(
                    self.pool, self.process, scope, body, too_large, request_id
                )
                status, ctype, payload = await asyncio.wait_for(work, self.request_timeout)
        except TimeoutError:
            # The database (or something under it) is stuck. The caller hears 503 within the
            # bound; work not yet started is cancelled, work in flight finishes unseen.
            errlog.warning(
                "request %s: no answer within %.1fs; answered ServiceUnavailableTemporary",
                request_id,
                self.request_timeout,
            )
            status, ctype, payload = render_error(
                errors.ServiceUnavailableTemporary(), request_id, _host(scope), False
            )
        finally:
            self.inflight -= 1
        await _send(send, status, ctype, payload, request_id)

    async def _serve_inline(
        self, scope: dict[str, Any], body: bytes, too_large: bool, request_id: str
    ) -> Response:
        """Decode and authenticate on the loop; run the handler there too if its action is
        ``inline``, else on the pool (bounded by ``request_timeout``)."""
        call = _Call(request_id, time.perf_counter())
        response = self._front(call, scope, body, too_large)
        # Yield to the loop once: the requests that arrived together then have their fronts
        # run back to back and their handlers after, and the loop reads more of them per wake-up
        # (less server CPU per request under load, docs/performance.md).
        await asyncio.sleep(0)
        if response is None:
            assert call.spec is not None
            if call.spec.inline:
                response = self._handle(call)
            else:
                work = asyncio.get_running_loop().run_in_executor(self.pool, self._handle, call)
                try:
                    response = await asyncio.wait_for(work, self.request_timeout)
                except TimeoutError:
                    call.code = "ServiceUnavailableTemporary"
                    self._log(call, (503, b"", b""))
                    raise
        self._log(call, response)
        return response

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.jobs is not None:
                    self.jobs.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.jobs is not None:
                    await asyncio.get_running_loop().run_in_executor(None, self.jobs.stop)
                self.pool.shutdown(wait=True)
                self.dep.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def process(self, scope: dict[str, Any], body: bytes, too_large: bool, request_id: str) -> Response:
        """Turn one request into (status, content type, body); never raises."""
        call = _Call(request_id, time.perf_counter())
        response = self._front(call, scope, body, too_large)
        if response is None:
            response = self._handle(call)
        self._log(call, response)
        return response

    def _front(self, call: _Call, scope: dict[str, Any], body: bytes, too_large: bool) -> Response | None:
        """Decode, check Version and Action, authenticate (the nonce last), bind the parameters.

        Returns the error answer, or None with ``call`` ready for :meth:`_handle`.
        """
        try:
            req = call.req = build_request(
                scope["method"],
                scope["path"],
                scope.get("query_string", b""),
                scope.get("headers", []),
                body,
                client=(scope.get("client") or ("", 0))[0],
            )
            if too_large:
                raise errors.InvalidParameter(reason="The request body is too large.")
            if req.method not in ("GET", "POST"):
                raise errors.UnsupportedHTTPMethod()
            call.action = req.action or "-"
            if req.path != "/" or not req.action:
                raise errors.InvalidActionNotFound()
            if req.version != API_VERSION:
                raise errors.InvalidVersion()
            spec = REGISTRY.get(req.action)
            if spec is None:
                raise errors.InvalidActionNotFound()
            try:
                call.caller = self.auth.verify(req).access_key_id
            except Replayed as exc:
                call.caller = exc.principal.access_key_id  # logged for a replay too
                raise
            call.kwargs = spec.bind(req.params)
            call.spec = spec
            return None
        except Exception as exc:  # noqa: BLE001 - every failure becomes an Alibaba error answer
            return self._error(call, exc)

    def _handle(self, call: _Call) -> Response:
        """Run a bound action's handler and render its answer; never raises."""
        assert call.spec is not None and call.req is not None
        try:
            ctx = CallContext(self.services, Caller(call.caller, call.request_id))
            result = call.spec.handler(ctx, **call.kwargs)
            return render_success(call.spec.name, result, call.request_id, call.req.wants_xml)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an Alibaba error answer
            return self._error(call, exc)

    def _error(self, call: _Call, exc: Exception) -> Response:
        error = self._as_kms_error(exc, call.request_id, call.action)
        call.code = error.code
        req = call.req
        wants_xml = req.wants_xml if req is not None else False
        host = req.host if req is not None else ""
        return render_error(error, call.request_id, host, wants_xml)

    def _log(self, call: _Call, response: Response) -> None:
        """One JSON line per request. Only the action name comes from the caller unchecked,
        so only it may need escaping; the line is formatted directly (json.dumps of the whole
        record cost more than the rest of the log call)."""
        if self.log_requests:
            latency = (time.perf_counter() - call.started) * 1000
            log.info(
                '{"request_id":"%s","pid":%d,"action":%s,"access_key_id":%s,"status":%d,"code":"%s",'
                '"latency_ms":%.3f}',
                call.request_id,
                self.pid,
                _json_str(call.action),
                _json_str(call.caller),
                response[0],
                call.code,
                latency,
            )

    @staticmethod
    def _as_kms_error(exc: Exception, request_id: str, action: str) -> errors.KMSError:
        if isinstance(exc, errors.KMSError):
            return exc
        if isinstance(exc, DomainError):
            return to_wire(exc)
        if isinstance(exc, DATABASE_UNAVAILABLE):
            errlog.warning(
                "request %s (%s): database unavailable: %s", request_id, action, type(exc).__name__
            )
            return errors.ServiceUnavailableTemporary()
        # Logged with the request id for the operator; the caller sees only InternalFailure.
        errlog.error("request %s (%s) failed", request_id, action, exc_info=exc)
        return errors.InternalFailure()


def _host(scope: dict[str, Any]) -> str:
    for name, value in scope.get("headers", []):
        if name == b"host":
            return str(value.decode("latin-1"))
    return ""


def _json_str(value: str) -> str:
    if value.isascii() and value.replace("-", "").replace("_", "").isalnum():
        return f'"{value}"'
    return json.dumps(value)


class _Call:
    """One request on its way through the server: what the log line and the handler need."""

    __slots__ = ("action", "caller", "code", "kwargs", "req", "request_id", "spec", "started")

    def __init__(self, request_id: str, started: float) -> None:
        self.request_id = request_id
        self.started = started
        self.req: WireRequest | None = None
        self.action = "-"
        self.caller = "-"
        self.code = "-"
        self.spec: ActionSpec | None = None
        self.kwargs: dict[str, Any] = {}


async def _read_body(receive: Any) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    too_large = False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk)
        else:
            too_large = True
        if not message.get("more_body", False):
            break
    return b"".join(chunks), too_large


async def _send(
    send: Any, status: int, ctype: bytes, payload: bytes, request_id: str, retry_after: bool = False
) -> None:
    headers = [
        (b"content-type", ctype),
        (b"content-length", str(len(payload)).encode()),
    ]
    if request_id:
        headers.append((b"x-acs-request-id", request_id.encode()))
    if retry_after:
        # The Tea SDK turns a positive x-acs-retry-after into its ThrottlingException.
        headers.append((b"x-acs-retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
