"""The ASGI application: one endpoint (``/``) speaking Alibaba's RPC protocol, plus ``/health``
(liveness: the process answers), ``/ready`` (the node can serve: its database answers, with the
expected schema) and ``/metrics`` (Prometheus text format, metrics.py; behind a bearer token
when ``metrics_token`` is set).

One request: decode (wire) -> Version (KMS, RAM) and Action known? -> authenticate -> validate the
action's parameters (its table) -> handler -> render JSON or XML -> one log line.

A request reaches the application only once its head and whole body have arrived (http.py), and
counts toward the in-flight limit (``max_inflight`` per process, beyond it 429) from then on.

Where the work runs. On the embedded database (SQLite), decoding, authentication (its nonce
is a few probes of the node's mapped nonce table, microseconds) and the handlers of actions
declared ``inline``
(reads and CPU work: Encrypt, DescribeKey, ...) run on the event loop itself: a hop to a thread
and back costs more than such a request's whole work, and the GIL gives threads no parallelism
for it. Actions that commit durably (an fsync) or may take long (key generation) are
authenticated and run on a small thread pool, so they never stall the loop. On PostgreSQL every
statement is a network round trip, which the loop never waits for (``Database.forbid_waits``):
an inline action is checked and handled on the loop from the process's caches (the AccessKey,
the key's state, its material), its nonce claim is awaited while the loop serves others (claims
are committed in groups, service/nonces.py), and whatever needs a statement of its own raises
``WouldWait`` and goes on to the pool from there; every other action runs on the pool. asyncio
and uvloop set TCP_NODELAY on every connection, so a response is never held back by Nagle's
algorithm.

Admission. A request is decided before any of its work starts: one that cannot start within
``queue_timeout`` of its arrival (no pool thread free in time, or an event loop that far behind)
is answered 429 Rejected.Throttling and has had no effect, not even on its nonce. Once started,
a request runs to its end and is answered with its result, however long that takes: an
acknowledged failure never leaves a change behind. What bounds a started request is the
database: on SQLite its busy timeout, on PostgreSQL ``db_timeout`` per wait and, at
``request_timeout`` after arrival, the connections of the thread serving it are cut (a database
that stopped answering), so the request fails with the database's error (503
ServiceUnavailableTemporary) and its transaction is rolled back by the server.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any
from urllib.parse import urlencode

from openkms import admin
from openkms.api import REGISTRY, VERSIONS, ActionSpec
from openkms.api.errors import to_wire
from openkms.auth import Authenticator, Replayed
from openkms.console import ConsoleApp, Outcome
from openkms.domain import audit as events
from openkms.domain import ids
from openkms.domain.errors import DomainError, Sealed
from openkms.domain.ram import Owner
from openkms.gateway import listener as gateway_listener
from openkms.gateway.app import GatewayApp
from openkms.gateway.listener import Listener
from openkms.jobs import RunnerThread, build_runner
from openkms.metrics import Metrics, Sample, render
from openkms.service.access_keys import CredentialStore
from openkms.service.audit import AuditFailed
from openkms.service.authz import Circumstances
from openkms.service.auto_unseal import AutoUnseal
from openkms.service.console_sessions import ConsoleSessions
from openkms.service.context import CallContext, Caller, Scope, build_services
from openkms.service.deployment import DATABASE_UNAVAILABLE, Deployment, WouldWait, disk_full, readiness
from openkms.service.nonces import SQLNonceStore
from openkms.wire import errors
from openkms.wire.render import JSON_TYPE, render_error, render_success
from openkms.wire.request import MAX_BODY_BYTES, WireRequest, build_request

log = logging.getLogger("openkms.request")
errlog = logging.getLogger("openkms.error")

Response = tuple[int, bytes, bytes]
# The scope key under which the protocol (http.py) puts the time.monotonic() at which the
# request became whole.
ARRIVED = "openkms.arrived"
# GET /ready: a database check answers for this many seconds (probes cannot load the database),
# and one that takes longer than READY_TIMEOUT answers not ready.
READY_TTL = 1.0
READY_TIMEOUT = 2.0
TEXT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


class KMSApp:
    """The ASGI callable. Built once per worker process over an open deployment."""

    def __init__(self, dep: Deployment, *, threads: int = 8, run_jobs: bool = True) -> None:
        self.dep = dep
        self.services = build_services(dep)
        credentials = CredentialStore(dep, self.services.caches.credentials, self.services.sts.tokens)
        self.auth = Authenticator(
            credentials, dep.nonces, dep.clock, dep.settings.time_window, region=dep.settings.region
        )
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="openkms")
        # Every worker runs a job runner; the lease lets one of them (per deployment) work.
        self.jobs = (
            RunnerThread(build_runner(self.services), period=dep.settings.job_period) if run_jobs else None
        )
        self.log_requests = dep.settings.log_requests
        # The audit hop (service/audit.py): every answered call's event is durable first.
        self.audit = self.services.audit if dep.settings.audit else None
        # Whole requests (head and body arrived) not yet answered. Beyond the bound a request is
        # answered 429 at once: memory stays bounded under any burst and the process recovers
        # by itself when the burst ends.
        self.inflight = 0
        self.max_inflight = dep.settings.max_inflight
        self.queue_timeout = dep.settings.queue_timeout
        self.request_timeout = dep.settings.request_timeout
        self.pid = os.getpid()  # which worker process served a request (`serve --workers N`)
        # Local, microsecond statements only: then the event loop may run them (module doc).
        self.inline = dep.db.hot_local
        # On PostgreSQL: inline actions start on the loop and go to the pool when they need the
        # database (module doc).
        self.nonces = dep.nonces if isinstance(dep.nonces, SQLNonceStore) else None
        self.trusted = trusted_networks(dep.settings.trusted_proxies)
        data_dir = dep.settings.data_dir
        self.metrics = Metrics(self.pid, data_dir / "metrics" if data_dir.is_dir() else None)
        self.metrics_token = dep.settings.metrics_token.encode()
        # With metrics_listen, /metrics is answered on that port only, and only /metrics is.
        metrics_at = dep.settings.metrics_address()
        self.metrics_port = None if metrics_at is None else metrics_at[1]
        # The instance gateway (gateway/): its own port and certificate, served by this process.
        self.gateway_at = dep.settings.gateway_address()
        self.gateway = (
            None
            if self.gateway_at is None
            else GatewayApp(self.services, suffix=dep.settings.gateway_suffix, threads=threads)
        )
        self._gateway_listener: Listener | None = None
        self._publisher: asyncio.Task[None] | None = None
        # The admin socket (admin.py) of a deployment that can be sealed; sealing drops the caches.
        self._admin: asyncio.AbstractServer | None = None
        self._auto_unseal: AutoUnseal | None = None
        if dep.seal is not None:
            dep.seal.on_seal.append(self.services.caches.drop_secrets)
        # GET /ready: (monotonic time of the last check, its reason or None), and the check
        # running (one at a time, on a thread of its own: never on the loop or the request pool).
        self._ready: tuple[float, str | None] = (float("-inf"), "not checked yet")
        self._ready_check: asyncio.Future[str | None] | None = None
        self._ready_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openkms-ready")
        # The web console (console/): its pages call actions through invoke() below.
        self.console = ConsoleApp(self, ConsoleSessions(dep), dep.settings) if dep.settings.console else None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if self.metrics_port is not None and (scope.get("server") or ("", 0))[1] == self.metrics_port:
            if scope["path"] == "/metrics" and scope["method"] in ("GET", "HEAD"):
                await self._send_metrics(scope, send)
            else:
                await _send(send, 404, JSON_TYPE, b'{"Status":"not found"}', "")
            return
        if scope["path"] == "/health" and scope["method"] in ("GET", "HEAD"):
            # Alive either way (200); sealed says an operator must unseal it (service/seal.py).
            health = b'{"Status":"sealed"}' if self.dep.sealed else b'{"Status":"ok"}'
            await _send(send, 200, JSON_TYPE, health, "")
            return
        if scope["path"] == "/ready" and scope["method"] in ("GET", "HEAD"):
            why = "sealed" if self.dep.sealed else await self.ready()
            if why is None:
                await _send(send, 200, JSON_TYPE, b'{"Status":"ready"}', "")
            else:
                body = json.dumps({"Status": "not ready", "Reason": why}).encode()
                await _send(send, 503, JSON_TYPE, body, "")
            return
        if scope["path"] == "/metrics" and scope["method"] in ("GET", "HEAD"):
            if self.metrics_port is None:
                await self._send_metrics(scope, send)
            else:
                await _send(send, 404, JSON_TYPE, b'{"Status":"not found"}', "")
            return
        path = scope["path"]
        if self.console is not None and (path == "/console" or path.startswith("/console/")):
            # The console's pages count toward the in-flight limit as API requests do.
            if self.inflight >= self.max_inflight:
                self.metrics.rejected += 1
                await _send(send, 429, b"text/plain", b"Too many requests: try again.", "", retry_after=True)
                return
            self.inflight += 1
            try:
                await self.console(scope, receive, send)
            finally:
                self.inflight -= 1
            return
        request_id = ids.new_request_id()
        if self.inflight >= self.max_inflight:
            self.metrics.rejected += 1
            if self.audit is not None:
                self.audit.post(self._refused_event(scope, request_id, errors.RejectedThrottling()))
            status, ctype, payload = render_error(errors.RejectedThrottling(), request_id, "", False)
            await _send(send, status, ctype, payload, request_id, retry_after=True)
            return
        self.inflight += 1
        try:
            body, too_large = await _read_body(receive)
            call = _Call(request_id, time.perf_counter())
            # The protocol (http.py) stamps when the request became whole.
            arrived = scope.get(ARRIVED) or time.monotonic()
            if time.monotonic() > arrived + self.queue_timeout:
                status, ctype, payload = self._throttled(call)  # the event loop is that far behind
                if self.audit is not None:
                    call.secure = scope.get("scheme") == "https"
                    self.audit.post(self._event(call, scope))
                self._log(call, (status, ctype, payload))
            else:
                status, ctype, payload = await self._serve(call, scope, body, too_large, arrived)
        finally:
            self.inflight -= 1
        await _send(send, status, ctype, payload, request_id, retry_after=status == 429)

    async def _serve(
        self, call: _Call, scope: dict[str, Any], body: bytes, too_large: bool, arrived: float
    ) -> Response:
        """Decode on the loop; then authenticate and handle where the action and the store say
        (module docstring, "Where the work runs")."""
        response = self._decode(call, scope, body, too_large)
        inline = response is None and call.spec is not None and call.spec.inline
        if self.inline:
            if inline:
                response = self._authorize(call)
            # Yield to the loop once: the requests that arrived together then have their fronts
            # run back to back and their handlers after, and the loop reads more of them per
            # wake-up (less server CPU per request under load, docs/performance.md).
            await asyncio.sleep(0)
            if response is None:
                response = self._handle(call) if inline else await self._on_pool(call, arrived)
        elif response is None:
            on_loop = inline and self.nonces is not None
            response = await (self._on_loop(call, arrived) if on_loop else self._on_pool(call, arrived))
        if self.audit is not None:
            response = await self._audited(call, scope, response, arrived)
        self._log(call, response)
        return response

    async def _audited(
        self, call: _Call, scope: dict[str, Any], response: Response, arrived: float
    ) -> Response:
        """The answer once the call's event is durable; 503 instead if it cannot be written
        (audit_mode reject)."""
        assert self.audit is not None
        # Within the request's deadline, and at least a second past a handler that used it up.
        within = max(1.0, arrived + self.request_timeout - time.monotonic())
        try:
            await self.audit.wait(self._event(call, scope), within)
        except (AuditFailed, Sealed) as exc:
            if response[0] == 503:
                return response  # the call's own 503 (a sealed node) says more than the audit's
            call.result = None
            return self._error(call, exc)
        return response

    def _event(self, call: _Call, scope: dict[str, Any]) -> dict[str, Any]:
        """The call's audit event, from what the request carried and how it was answered."""
        assert self.audit is not None
        req = call.req
        spec = call.spec
        return events.api_event(
            events.Call(
                request_id=call.request_id,
                at=self.dep.clock.now(),
                action=call.action,
                product=spec.service if spec is not None else "kms",
                api_version=(req.version or "") if req is not None else "",
                host=req.host if req is not None else _host(scope),
                region=self.dep.region,
                source_ip=self._client(req) if req is not None else (scope.get("client") or ("", 0))[0],
                user_agent=(req.header("user-agent") or "") if req is not None else "",
                secure=call.secure,
                owner=call.owner,
                access_key_id=call.caller,
                params=req.params if req is not None else {},
                result=call.result,
                error_code=call.code if call.code != "-" else "",
                error_message=call.message,
            ),
            self.audit.redactor,
        )

    def _refused_event(
        self, scope: dict[str, Any], request_id: str, error: errors.KMSError
    ) -> dict[str, Any]:
        """The event of a request answered before it was read (the in-flight limit)."""
        call = _Call(request_id, 0.0)
        call.code = error.code
        call.message = error.message
        call.secure = scope.get("scheme") == "https"
        return self._event(call, scope)

    async def _on_loop(self, call: _Call, arrived: float) -> Response:
        """An inline action over PostgreSQL: checked and handled on the loop from the caches, its
        nonce claimed with a group (service/nonces.py) while the loop serves others; whatever
        needs a statement of its own (a cache miss: WouldWait) goes on to the pool from where
        it stopped. Inline actions change nothing before their reads, so a handler stopped by
        a miss runs again from its start."""
        assert call.req is not None and call.spec is not None and self.nonces is not None
        try:
            checked = self.auth.check(call.req, call.product)
        except WouldWait:
            return await self._on_pool(call, arrived)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an Alibaba error answer
            return self._error(call, exc)
        call.caller = checked.principal.access_key_id
        call.owner = checked.principal.owner
        try:
            if not await self.nonces.use_async(*checked.claim(self.dep.clock.now())):
                raise Replayed(checked.principal)
            call.kwargs = call.spec.bind(call.req.params)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an Alibaba error answer
            return self._error(call, exc)
        try:
            self._permit(call)
        except WouldWait:
            return await self._on_pool(call, arrived, self._permitted)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an Alibaba error answer
            return self._error(call, exc)
        call.bound = True
        try:
            return self._handle(call)
        except WouldWait:
            return await self._on_pool(call, arrived, self._handle)

    async def _on_pool(
        self, call: _Call, arrived: float, step: Callable[[_Call], Response] | None = None
    ) -> Response:
        """Authenticate and handle ``call`` (or run ``step`` of it) on the pool if a thread
        takes it within the queue deadline, else answer 429 with nothing done (module
        docstring, "Admission")."""
        ticket = _Ticket(arrived + self.queue_timeout)
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self.pool, ticket.run, partial(step or self._authorized, call))
        done, _ = await asyncio.wait({work}, timeout=max(0.0, ticket.deadline - time.monotonic()))
        if not done and ticket.expire():
            work.cancel()
            return self._throttled(call)
        cut = None
        if not done:
            # Started: wait for its answer. A database that stopped answering is cut off at the
            # request deadline, so the request fails (and rolls back) with the database's error.
            delay = max(0.0, arrived + self.request_timeout - time.monotonic())
            cut = loop.call_later(delay, self._cut, call, ticket)
        try:
            result = await work
        finally:
            if cut is not None:
                cut.cancel()
        return self._throttled(call) if result is None else result

    def _authorized(self, call: _Call) -> Response:
        return self._authorize(call) or self._handle(call)

    def _cut(self, call: _Call, ticket: _Ticket) -> None:
        if ticket.cut(self.dep.db.interrupt, self.dep.db.resume):
            errlog.warning(
                "request %s (%s): no answer from the database within %.1fs; its connection was cut",
                call.request_id,
                call.action,
                self.request_timeout,
                extra={"request_id": call.request_id},
            )

    def _throttled(self, call: _Call) -> Response:
        self.metrics.rejected += 1
        call.code = errors.RejectedThrottling.code
        call.message = errors.RejectedThrottling.default_message
        req = call.req
        return render_error(
            errors.RejectedThrottling(),
            call.request_id,
            req.host if req is not None else "",
            req.wants_xml if req is not None else False,
        )

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # The loop never waits on PostgreSQL: what needs it goes to the pool.
                self.dep.db.forbid_waits()
                if self.jobs is not None:
                    self.jobs.start()
                self._publisher = asyncio.get_running_loop().create_task(self._publish())
                if self.gateway is not None:
                    pair = self.dep.settings.gateway_pair()
                    assert self.gateway_at is not None and pair is not None
                    self._gateway_listener = await gateway_listener.start(
                        self.gateway, self.gateway_at, pair, self.dep.settings.keep_alive_timeout
                    )
                if self.dep.seal is not None and self.dep.seal.can_unseal:
                    self._admin = await admin.serve(
                        self.dep.seal,
                        admin.socket_path(self.dep.settings.data_dir, self.pid),
                        drop_again_after=self.request_timeout + 1.0,
                    )
                    if self.dep.seal.automatic and self.dep.seal.sealed:
                        self._auto_unseal = AutoUnseal(self.dep.seal, self.dep.settings.kms_unseal_retry_max)
                        self._auto_unseal.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._auto_unseal is not None:
                    await asyncio.get_running_loop().run_in_executor(None, self._auto_unseal.stop)
                if self._admin is not None:
                    self._admin.close()
                    admin.remove(admin.socket_path(self.dep.settings.data_dir, self.pid))
                if self._gateway_listener is not None:
                    self._gateway_listener.close()
                if self._publisher is not None:
                    self._publisher.cancel()
                self._ready_pool.shutdown(wait=False)
                if self.jobs is not None:
                    await asyncio.get_running_loop().run_in_executor(None, self.jobs.stop)
                self.pool.shutdown(wait=True)
                await asyncio.get_running_loop().run_in_executor(None, self.services.audit.close)
                self.dep.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _decode(self, call: _Call, scope: dict[str, Any], body: bytes, too_large: bool) -> Response | None:
        """Decode, check Version and Action: pure work, no effect.

        Returns the error answer, or None with ``call.req`` and ``call.spec`` set.
        """
        try:
            call.secure = scope.get("scheme") == "https"
            req = call.req = build_request(
                scope["method"],
                scope["path"],
                scope.get("query_string", b""),
                scope.get("headers", []),
                body,
                client=(scope.get("client") or ("", 0))[0],
            )
            # Until the signature names the caller, the log names the one the request claims.
            call.caller = req.claimed_access_key_id or "-"
            if too_large:
                raise errors.InvalidParameter(reason="The request body is too large.")
            if req.method not in ("GET", "POST"):
                raise errors.UnsupportedHTTPMethod()
            call.action = req.action or "-"
            if req.path != "/" or not req.action:
                raise errors.InvalidActionNotFound()
            product = VERSIONS.get(req.version or "")
            if product is None:
                raise errors.InvalidVersion()
            spec = REGISTRY.get((product.version, req.action))
            if spec is None:
                raise errors.InvalidActionNotFound()
            call.spec = spec
            call.product = product.name
            return None
        except Exception as exc:  # noqa: BLE001 - every failure becomes an Alibaba error answer
            return self._error(call, exc)

    def _authorize(self, call: _Call) -> Response | None:
        """Authenticate (the nonce last) and bind the parameters of a decoded call.

        Returns the error answer, or None with ``call`` ready for :meth:`_handle`.
        """
        assert call.req is not None and call.spec is not None
        try:
            try:
                principal = self.auth.verify(call.req, call.product)
                call.caller = principal.access_key_id
                call.owner = principal.owner
            except Replayed as exc:
                call.caller = exc.principal.access_key_id  # logged for a replay too
                raise
            call.kwargs = call.spec.bind(call.req.params)
            self._permit(call)
            call.bound = True
            return None
        except Exception as exc:  # noqa: BLE001 - every failure becomes an Alibaba error answer
            return self._error(call, exc)

    def _permit(self, call: _Call) -> None:
        """The authorization hop (service/authz.py): raises NoPermission (403) unless the
        caller's policies allow the call."""
        req = call.req
        assert req is not None and call.owner is not None
        seen = Circumstances(self._client(req), call.secure, self.dep.clock.now())
        self.services.authz.authorize(call.owner, call.product, call.action, req.params, seen)
        audit = self.audit
        if (
            audit is not None
            and audit.failing
            and events.event_rw(call.action) == "Write"
            and not audit.writable()
        ):
            # Refused before it acts: its event could not be written (fail-closed).
            raise AuditFailed("the audit trail cannot be written")

    # -- the console's way in (console/) ---------------------------------------------------

    def sign_in(self, access_key_id: str, secret: str, token: str) -> Owner:
        """The owner of an AccessKey pair given to the console (auth.Authenticator.pair);
        raises the wire error a signed request with it would get."""
        return self.auth.pair(access_key_id, secret, token).owner

    def console_event(
        self, scope: dict[str, Any], action: str, access_key_id: str, owner: Owner | None, code: str = ""
    ) -> None:
        """Record an event of the console's own (ConsoleSignIn, ConsoleSignOut): who, from
        where, and the code a refused sign-in got."""
        if self.audit is None:
            return
        call = _Call(ids.new_request_id(), 0.0)
        call.action = action
        call.caller = access_key_id[:128]
        call.owner = owner
        call.secure = scope.get("scheme") == "https"
        if code:
            call.code = code
        self.audit.post(self._event(call, scope))

    async def invoke(
        self, scope: dict[str, Any], access_key_id: str, owner: Owner, version: str, action: str,
        params: dict[str, str],
    ) -> Outcome:  # fmt: skip
        """One action of a console page, for a principal the console authenticated: the request
        is built as a signed one decodes (the form way, from the page's own request: client
        address, host, user agent, TLS), then goes through the same steps as one: its action
        table, the authorization hop, the handler on the pool and the audit hop. Only the
        signature check is not made (the console checked the pair itself)."""
        call = _Call(ids.new_request_id(), time.perf_counter())
        arrived = time.monotonic()
        call.action = action
        call.caller = access_key_id
        call.owner = owner
        call.secure = scope.get("scheme") == "https"
        kept = (b"host", b"user-agent", b"x-forwarded-for")
        headers = [(k, v) for k, v in scope.get("headers", []) if k in kept]
        headers.append((b"content-type", b"application/x-www-form-urlencoded"))
        body = urlencode({**params, "Action": action, "Version": version}).encode()
        response: Response | None = None
        try:
            call.req = build_request(
                "POST", "/", b"", headers, body, client=(scope.get("client") or ("", 0))[0]
            )
            product = VERSIONS[version]
            spec = REGISTRY.get((product.version, action))
            if spec is None:
                raise errors.InvalidActionNotFound()
            call.spec = spec
            call.product = product.name
            call.kwargs = spec.bind(call.req.params)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an Alibaba error answer
            response = self._error(call, exc)
        if response is None:
            response = await self._on_pool(call, arrived, self._permitted)
        if self.audit is not None:
            response = await self._audited(call, scope, response, arrived)
        self._log(call, response)
        if call.code != "-":
            return Outcome(call.request_id, action, None, response[0], call.code, call.message)
        return Outcome(call.request_id, action, call.result or {}, response[0], "", "")

    def _client(self, req: WireRequest) -> str:
        """The client policies see (acs:SourceIp): the peer, or, when the peer is a trusted
        proxy, the nearest address in X-Forwarded-For that is not one."""
        if not self.trusted or not _within(req.client, self.trusted):
            return req.client
        forwarded = [a.strip() for a in (req.header("x-forwarded-for") or "").split(",") if a.strip()]
        for address in reversed(forwarded):
            if not _within(address, self.trusted):
                return address
        return forwarded[0] if forwarded else req.client

    def _permitted(self, call: _Call) -> Response:
        """On the pool: the authorization hop, then the handler (the loop could not decide
        from its caches)."""
        try:
            self._permit(call)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an Alibaba error answer
            return self._error(call, exc)
        call.bound = True
        return self._handle(call)

    def _handle(self, call: _Call) -> Response:
        """Call a bound action's handler and render its answer; never raises."""
        assert call.spec is not None and call.req is not None and call.bound
        try:
            owner = call.owner
            assert owner is not None
            caller = Caller(
                call.caller,
                call.request_id,
                owner.account_uid,
                owner.user_id,
                owner.session,
                self._client(call.req),
                call.secure,
            )
            ctx = CallContext(self.services, Scope(caller, call.spec.name))
            result = call.spec.handler(ctx, **call.kwargs)
            call.result = result
            return render_success(call.spec.name, result, call.request_id, call.req.wants_xml)
        except WouldWait:
            raise  # on the loop over PostgreSQL: the pool runs it (_on_loop)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an Alibaba error answer
            return self._error(call, exc)

    async def ready(self) -> str | None:
        """None if the node can serve, else why not (GET /ready). The database is asked at most
        once per READY_TTL, on a thread of its own; the loop waits at most READY_TIMEOUT."""
        checked, why = self._ready
        if time.monotonic() - checked < READY_TTL:
            return why
        if self._ready_check is None or self._ready_check.done():
            self._ready_check = asyncio.get_running_loop().run_in_executor(
                self._ready_pool, readiness, self.dep
            )
        try:
            why = await asyncio.wait_for(asyncio.shield(self._ready_check), READY_TIMEOUT)
        except TimeoutError:
            why = f"the database did not answer within {READY_TIMEOUT:g}s"
        except Exception as exc:  # noqa: BLE001 - any failure of the check means not ready
            errlog.warning("readiness check failed: %s", type(exc).__name__)
            why = f"readiness check failed ({type(exc).__name__})"
        self._ready = (time.monotonic(), why)
        return why

    async def _send_metrics(self, scope: dict[str, Any], send: Any) -> None:
        if self.metrics_token:
            given = b""
            for name, value in scope.get("headers", []):
                if name == b"authorization":
                    given = value
            if not hmac.compare_digest(given, b"Bearer " + self.metrics_token):
                await _send(send, 401, JSON_TYPE, b'{"Status":"unauthorized"}', "")
                return
        samples = [*self.metrics.samples(self._gauges()), *self.metrics.others()]
        await _send(send, 200, TEXT_TYPE, render(samples), "")

    def _gauges(self) -> list[Sample]:
        """The gauges of this process, read when they are written out."""
        caches = self.services.caches
        out: list[Sample] = [("openkms_requests_in_flight", (), self.inflight)]
        for name, cache in (
            ("reads", caches.reads),
            ("material", caches.material),
            ("parsed_keys", caches.parsed_keys),
            ("credentials", caches.credentials),
            ("sessions", caches.sessions),
        ):
            labels = (("cache", name),)
            out.append(("openkms_cache_entries", labels, len(cache)))
            out.append(("openkms_cache_hits_total", labels, cache.hits))
            out.append(("openkms_cache_misses_total", labels, cache.misses))
        nonces = self.dep.nonces.entries()
        if nonces is not None:
            out.append(("openkms_nonce_store_entries", (), nonces))
        out.append(("openkms_sealed", (), 1 if self.dep.sealed else 0))
        audit = self.services.audit
        if self.audit is not None:
            out.append(("openkms_audit_events_written_total", (), audit.written))
            out.append(("openkms_audit_events_failed_total", (), audit.failed))
            out.append(("openkms_audit_events_pending", (), audit.pending))
            out.append(("openkms_audit_failing", (), 1 if audit.failing else 0))
        checked, why = self._ready
        if checked > float("-inf"):
            out.append(("openkms_ready", (), 1 if why is None else 0))
        if self.jobs is not None:
            runner = self.jobs.runner
            now = self.dep.clock.now()
            out.append(("openkms_jobs_lease_held", (), 1 if runner.holding else 0))
            for job, at in list(runner.last_success.items()):
                out.append(("openkms_job_last_success_timestamp_seconds", (("job", job),), at))
                out.append(("openkms_job_lag_seconds", (("job", job),), max(0.0, now - at)))
        return out

    async def _publish(self) -> None:
        """Once a second, this worker's series for the worker that answers a scrape (metrics.py)."""
        while True:
            await asyncio.sleep(1.0)
            try:
                self.metrics.publish(self._gauges())
            except OSError as exc:
                errlog.warning("could not write this worker's metrics: %s", type(exc).__name__)

    def _error(self, call: _Call, exc: Exception) -> Response:
        error = self._as_kms_error(exc, call.request_id, call.action)
        call.code = error.code
        call.message = error.message
        req = call.req
        wants_xml = req.wants_xml if req is not None else False
        host = req.host if req is not None else ""
        return render_error(error, call.request_id, host, wants_xml)

    def _log(self, call: _Call, response: Response) -> None:
        """One log line per request, its fields as ``extra=`` (logs.py writes them as JSON
        members, with the time, level, logger and pid). The request is counted here too."""
        seconds = time.perf_counter() - call.started
        self.metrics.request(call.action, call.code, response[0], seconds)
        if self.log_requests:
            log.info(
                "request",
                extra={
                    "request_id": call.request_id,
                    "action": call.action,
                    "access_key_id": call.caller,
                    "status": response[0],
                    "code": call.code,
                    "latency_ms": round(seconds * 1000, 3),
                },
            )

    def _as_kms_error(self, exc: Exception, request_id: str, action: str) -> errors.KMSError:
        if isinstance(exc, errors.KMSError):
            return exc
        if isinstance(exc, DomainError):
            return to_wire(exc)
        if isinstance(exc, DATABASE_UNAVAILABLE):
            why = "disk_full" if disk_full(exc) else "unavailable"
            self.metrics.unavailable[why] = self.metrics.unavailable.get(why, 0) + 1
            errlog.warning(
                "request %s (%s): database unavailable: %s",
                request_id,
                action,
                "the database's disk is full" if disk_full(exc) else type(exc).__name__,
                extra={"request_id": request_id},
            )
            return errors.ServiceUnavailableTemporary()
        # Logged with the request id for the operator; the caller sees only InternalFailure.
        errlog.error(
            "request %s (%s) failed", request_id, action, exc_info=exc, extra={"request_id": request_id}
        )
        return errors.InternalFailure()


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(text: str) -> tuple[Network, ...]:
    """``--trusted-proxies``: comma-separated addresses or CIDR blocks (ValueError if one is not)."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def _within(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _host(scope: dict[str, Any]) -> str:
    for name, value in scope.get("headers", []):
        if name == b"host":
            return str(value.decode("latin-1"))
    return ""


class _Call:
    """One request on its way through the server: what the log line and the handler need."""

    __slots__ = (
        "action", "bound", "caller", "code", "kwargs", "message", "owner", "product", "req", "request_id",
        "result", "secure", "spec", "started",
    )  # fmt: skip

    def __init__(self, request_id: str, started: float) -> None:
        self.request_id = request_id
        self.started = started
        self.req: WireRequest | None = None
        self.action = "-"
        self.caller = "-"
        self.code = "-"
        self.message = ""
        self.result: dict[str, Any] | None = None
        self.spec: ActionSpec | None = None
        self.product = "Kms"
        self.owner: Owner | None = None
        self.kwargs: dict[str, Any] = {}
        self.bound = False
        self.secure = False  # arrived over TLS (acs:SecureTransport)


class _Ticket:
    """A request waiting for a pool thread. Exactly one of two things happens to it, decided
    under its lock: a thread starts it before its deadline, or it expires (never to start)."""

    __slots__ = ("deadline", "lock", "resume", "state", "thread")

    QUEUED, STARTED, DONE, EXPIRED = range(4)

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.lock = threading.Lock()
        self.state = self.QUEUED
        self.thread = 0
        self.resume: Callable[[], None] | None = None

    def run(self, work: Callable[[], Response]) -> Response | None:
        """On a pool thread: ``work()``, or None without running it if the ticket expired."""
        with self.lock:
            if self.state != self.QUEUED or time.monotonic() > self.deadline:
                self.state = self.EXPIRED
                return None
            self.state = self.STARTED
            self.thread = threading.get_ident()
        try:
            return work()
        finally:
            with self.lock:
                self.state = self.DONE
                resume = self.resume
            if resume is not None:
                resume()

    def expire(self) -> bool:
        """On the loop, at the deadline: True if the ticket will never start."""
        with self.lock:
            if self.state == self.QUEUED:
                self.state = self.EXPIRED
            return self.state == self.EXPIRED

    def cut(self, interrupt: Callable[[int], bool], resume: Callable[[], None]) -> bool:
        """Call ``interrupt`` with the thread running the ticket, if it still runs it; that
        thread calls ``resume`` when it is done with the ticket."""
        with self.lock:
            if self.state != self.STARTED or not interrupt(self.thread):
                return False
            self.resume = resume
            return True


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
