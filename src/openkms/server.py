"""The ASGI application: one endpoint (``/``) speaking Alibaba's RPC protocol, plus ``/health``.

One request: decode (wire) -> Version and Action known? -> authenticate -> validate the
action's parameters (its table) -> handler -> render JSON or XML -> one log line.

Handlers do blocking database work, so each request's processing runs on a small thread pool
and the event loop only moves bytes. asyncio and uvloop set TCP_NODELAY on every connection,
so a response is never held back by Nagle's algorithm. A request with no answer within
``request_timeout`` (a database that stopped answering) is answered 503
ServiceUnavailableTemporary.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from openkms.api import REGISTRY
from openkms.api.errors import to_wire
from openkms.auth import Authenticator
from openkms.domain import ids
from openkms.domain.errors import DomainError
from openkms.jobs import RunnerThread, build_runner
from openkms.service.access_keys import CredentialStore
from openkms.service.aliases import AliasService
from openkms.service.asymmetric import AsymmetricService
from openkms.service.context import CallContext, Caller, Services
from openkms.service.deployment import Deployment
from openkms.service.key_policy import KeyPolicyService
from openkms.service.keys import KeyService
from openkms.service.nonces import SQLNonceStore
from openkms.service.secrets import SecretService
from openkms.service.tags import TagService
from openkms.service.versions import VersionService
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
        keys = KeyService(dep)
        self.services = Services(
            deployment=dep,
            keys=keys,
            versions=VersionService(dep, keys),
            aliases=AliasService(dep, keys),
            tags=TagService(dep, keys),
            key_policies=KeyPolicyService(dep, keys),
            asymmetric=AsymmetricService(dep, keys),
            secrets=SecretService(dep, keys),
        )
        self.auth = Authenticator(
            CredentialStore(dep), SQLNonceStore(dep.nonce_db), dep.clock, dep.settings.time_window
        )
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="openkms")
        # Every worker runs a job runner; the lease lets one of them (per deployment) work.
        self.jobs = (
            RunnerThread(build_runner(dep, self.services.keys), period=dep.settings.job_period)
            if run_jobs
            else None
        )
        self.log_requests = dep.settings.log_requests
        # Requests admitted but not yet answered. Beyond the bound a request is answered 429
        # at once, before its body is read: memory stays bounded under any burst and the
        # process recovers by itself when the burst ends.
        self.inflight = 0
        self.max_inflight = dep.settings.max_inflight
        self.request_timeout = dep.settings.request_timeout
        self.pid = os.getpid()  # which worker process served a request (`serve --workers N`)

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
            loop = asyncio.get_running_loop()
            work = loop.run_in_executor(self.pool, self.process, scope, body, too_large, request_id)
            status, ctype, payload = await asyncio.wait_for(work, self.request_timeout)
        except TimeoutError:
            # The database (or something under it) is stuck. The caller hears 503 within the
            # bound; work not yet started is cancelled, work in flight finishes unseen.
            errlog.warning(
                "request %s: no answer within %.1fs; answered ServiceUnavailableTemporary",
                request_id, self.request_timeout,
            )
            status, ctype, payload = render_error(
                errors.ServiceUnavailableTemporary(), request_id, _host(scope), False
            )
        finally:
            self.inflight -= 1
        await _send(send, status, ctype, payload, request_id)

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

    def process(
        self, scope: dict[str, Any], body: bytes, too_large: bool, request_id: str
    ) -> Response:
        """Turn one request into (status, content type, body); never raises."""
        started = time.perf_counter()
        req: WireRequest | None = None
        action = "-"
        caller = "-"
        code = "-"
        try:
            req = build_request(
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
            action = req.action or "-"
            if req.path != "/" or not req.action:
                raise errors.InvalidActionNotFound()
            if req.version != API_VERSION:
                raise errors.InvalidVersion()
            spec = REGISTRY.get(req.action)
            if spec is None:
                raise errors.InvalidActionNotFound()
            principal = self.auth.authenticate(req)
            caller = principal.access_key_id
            kwargs = spec.bind(req.params)
            ctx = CallContext(self.services, Caller(principal.access_key_id, request_id))
            result = spec.handler(ctx, **kwargs)
            response = render_success(spec.name, result, request_id, req.wants_xml)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an Alibaba error answer
            error = self._as_kms_error(exc, request_id, action)
            code = error.code
            wants_xml = req.wants_xml if req is not None else False
            host = req.host if req is not None else ""
            response = render_error(error, request_id, host, wants_xml)
        if self.log_requests:
            log.info(
                json.dumps(
                    {
                        "request_id": request_id,
                        "pid": self.pid,
                        "action": action,
                        "access_key_id": caller,
                        "status": response[0],
                        "code": code,
                        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                    },
                    separators=(",", ":"),
                )
            )
        return response

    @staticmethod
    def _as_kms_error(exc: Exception, request_id: str, action: str) -> errors.KMSError:
        if isinstance(exc, errors.KMSError):
            return exc
        if isinstance(exc, DomainError):
            return to_wire(exc)
        if isinstance(exc, (OperationalError, PoolTimeout)):
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
