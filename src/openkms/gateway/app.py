"""The instance gateway: an ASGI app on its own TLS port that speaks the instance SDK's protocol.

One request, end to end::

    Host <instance-id>.<suffix>  -> the instance (404 if none)
    x-kms-apiname                -> the action's table row (gateway/actions.py)
    x-kms-acccesskeyid           -> the client key; its NotBefore/NotAfter
    Date                         -> within the clock window (the shared API's time_window)
    content-sha256, Authorization-> the body's digest, then the RSA signature (gateway/signing.py)
    the signature                -> claimed once in the deployment's nonce store: a request
                                    replayed within the window is refused
    the body                     -> the action's protobuf message
    the key or secret named      -> must be the instance's; the access point's policies and
                                    network rules decide (Directory.refusal)
    the handler                  -> the same services the RPC API calls
    the answer                   -> the action's protobuf response, or an Error message with
                                    the HTTP status; one audit event per call, like the RPC API's

The SDK sends no nonce: a signature covers the body, the Date (to the second) and the headers,
so an identical call repeated within the same second has the same signature and is refused as
``Rejected.Throttling`` (429), which the SDK retries after its back-off with a fresh Date.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError

from openkms.api.errors import to_wire
from openkms.domain import audit as events
from openkms.domain import errors as domain_errors
from openkms.domain import ids
from openkms.domain.instance import ClientKey
from openkms.domain.ram import Owner
from openkms.gateway import messages, signing
from openkms.gateway.actions import ACTIONS, Action, Answer, Call, named_blob
from openkms.service.context import Services
from openkms.service.tenancy import Caller, Scope
from openkms.wire import errors as wire_errors

log = logging.getLogger("openkms.request")

MAX_BODY = 1 << 20
GRANT_TTL = 1.0  # seconds a looked-up client key is kept (its deletion takes effect within it)


class GatewayError(Exception):
    """An answer of the gateway's own (before any service ran)."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


@dataclass(slots=True)
class _Exchange:
    request_id: str
    action: str = ""
    client_key_id: str = ""
    account_uid: str = ""
    params: dict[str, str] | None = None
    result: dict[str, Any] | None = None
    code: str = ""
    message: str = ""


class GatewayApp:
    """The gateway's ASGI app, over a process's services."""

    def __init__(self, services: Services, *, suffix: str, threads: int = 8) -> None:
        self.services = services
        self.dep = services.deployment
        self.instances = services.instances
        self.suffix = "." + suffix.strip(".").lower()
        self.window = self.dep.settings.time_window
        self.audit = services.audit if self.dep.settings.audit else None
        self.inline = self.dep.db.hot_local
        self.log_requests = self.dep.settings.log_requests
        self.pool = None if self.inline else ThreadPoolExecutor(threads, thread_name_prefix="openkms-gw")
        self._grants: dict[str, tuple[float, ClientKey, Any]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        ex = _Exchange(ids.new_request_id())
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        body, too_large = await _read(receive)
        source = (scope.get("client") or ("", 0))[0]
        if self.inline:
            status, payload, extra = self._serve(ex, scope, headers, body, too_large, source)
        else:
            loop = asyncio.get_running_loop()
            status, payload, extra = await loop.run_in_executor(
                self.pool, self._serve, ex, scope, headers, body, too_large, source
            )
        if self.audit is not None:
            try:
                await self.audit.wait(self._event(ex, headers, source), 5.0)
            except Exception as exc:  # noqa: BLE001 - an unwritable trail refuses the answer
                status, payload, extra = self._error(ex, exc)
        out = [
            (b"content-type", b"application/x-protobuf"),
            (b"content-length", str(len(payload)).encode()),
            (b"x-kms-requestid", ex.request_id.encode()),
        ]
        out += [(k.encode(), v.encode()) for k, v in extra]
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": payload})
        if self.log_requests:
            # The API's request line, the gateway's client key as the caller.
            log.info(
                "request",
                extra={
                    "request_id": ex.request_id,
                    "gateway": True,
                    "action": ex.action or "-",
                    "access_key_id": ex.client_key_id or "-",
                    "status": status,
                    "code": ex.code or "-",
                    "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                },
            )

    # -- the request --------------------------------------------------------------------------

    def _serve(
        self,
        ex: _Exchange,
        scope: dict[str, Any],
        headers: dict[str, str],
        body: bytes,
        too_large: bool,
        source: str,
    ) -> tuple[int, bytes, tuple[tuple[str, str], ...]]:
        try:
            if scope["method"] != "POST" or too_large:
                raise GatewayError("InvalidParameter", 400, "A request is one POST of at most 1 MB.")
            instance_id = self._instance(headers)
            ex.action = headers.get(signing.ACTION_HEADER, "")
            action = ACTIONS.get(ex.action)
            if action is None:
                raise GatewayError(
                    "InvalidAction.NotFound", 404, "The action is not served by the instance gateway."
                )
            grant = self._authenticate(ex, headers, body)
            instance = self.instances.instance(instance_id)
            if instance is None or instance.account_uid != grant.account_uid:
                raise GatewayError("Forbidden.DKMSInstanceNotFound", 404, "The instance is not found.")
            account = instance.account_uid
            try:
                message = messages.parse(f"{action.name}Request", body)
            except DecodeError:
                raise GatewayError(
                    "InvalidParameter", 400, "The request body is not the action's message."
                ) from None
            ex.params = _params(message)
            caller = Caller(grant.client_key_id, ex.request_id, account, client=source, secure_transport=True)
            call = Call(self.services, Scope(caller, action.name), message, headers)
            resource = self._resource(call, action, instance_id)
            denied = self.instances.authorize(grant, instance_id, action.name, resource, source)
            if denied is not None:
                raise GatewayError(
                    "Forbidden.NoPermission", 403, f"The client key may not do this: {denied}."
                )
            return self._success(ex, action, action.handler(call))
        except Exception as exc:  # noqa: BLE001 - every failure becomes an Error answer
            return self._error(ex, exc)

    def _instance(self, headers: dict[str, str]) -> str:
        host = headers.get("host", "").rsplit(":", 1)[0].lower() if "]" not in headers.get("host", "") else ""
        if not host.endswith(self.suffix) or "." in host[: -len(self.suffix)]:
            raise GatewayError("Forbidden.DKMSInstanceNotFound", 404, "The host name names no instance.")
        return host[: -len(self.suffix)]

    def _authenticate(self, ex: _Exchange, headers: dict[str, str], body: bytes) -> ClientKey:
        key_id = headers.get(signing.KEY_HEADER, "")
        ex.client_key_id = key_id
        if (
            not key_id
            or headers.get(signing.METHOD_HEADER, signing.SIGNATURE_METHOD) != signing.SIGNATURE_METHOD
        ):
            raise GatewayError("IncompleteSignature", 400, "The request is not signed with a client key.")
        now = self.dep.clock.now()
        try:
            at = signing.request_time(headers)
            if abs(now - at) > self.window:
                raise GatewayError(
                    "InvalidTimeStamp.Expired", 400, "The Date header is outside the server's clock window."
                )
            grant, public_key = self._grant(key_id, now)
            if not grant.valid_at(now):
                raise GatewayError(
                    "Forbidden.ClientKeyExpired", 403, "The client key is outside its validity period."
                )
            signature = signing.signature_of(headers)
            signing.check_body_digest(headers, body)
            signing.verify(public_key, signature, signing.string_to_sign("POST", headers))
        except signing.BadSignature as exc:
            raise GatewayError("SignatureDoesNotMatch", 400, str(exc)) from None
        ex.account_uid = grant.account_uid
        nonce = hashlib.sha256(signature).hexdigest()
        if not self.dep.nonces.use("clientkey/" + key_id, nonce, at + self.window + 60, now):
            raise GatewayError(
                "Rejected.Throttling",
                429,
                "This signed request was already served: send it again with a new Date.",
            )
        return grant

    def _grant(self, key_id: str, now: float) -> tuple[ClientKey, Any]:
        kept = self._grants.get(key_id)
        clock = time.monotonic()
        if kept is not None and clock - kept[0] < GRANT_TTL:
            return kept[1], kept[2]
        grant = self.instances.client_key(key_id)
        if grant is None:
            raise GatewayError("InvalidAccessKeyId.NotFound", 404, "The client key is not found.")
        public_key = signing.load_public_key(grant.public_key_der)
        if len(self._grants) > 10_000:
            self._grants.clear()
        self._grants[key_id] = (clock, grant, public_key)
        return grant, public_key

    def _resource(self, call: Call, action: Action, instance_id: str) -> str | None:
        """``key/<id>`` or ``secret/<name>`` the request names, checked to be the instance's."""
        m, account = call.message, call.scope.account_uid
        if action.resource == "secret":
            name = m.SecretName
            if not name:
                raise domain_errors.InvalidValue("SecretName", "SecretName is required.")
            if self.services.secrets.resolve(account, name).dkms_instance_id != instance_id:
                raise domain_errors.ResourceNotFound("The secret is not found in this instance.")
            return f"secret/{name}"
        if action.resource is None:
            return None
        if m.KeyId:
            key = self.services.keys.get(call.scope, m.KeyId)
        else:
            text = named_blob(m, call.headers) if hasattr(m, "CiphertextBlob") else None
            if text is None:
                raise domain_errors.InvalidValue("KeyId", "KeyId is required.")
            key = self.services.symmetric.decrypting_key(call.scope, text)[0]
        key_id = key.key_id
        if key.dkms_instance_id != instance_id:
            raise domain_errors.KeyNotFound("The key is not found in this instance.")
        return f"key/{key_id}"

    # -- answers ------------------------------------------------------------------------------

    def _success(
        self, ex: _Exchange, action: Action, answer: Answer
    ) -> tuple[int, bytes, tuple[tuple[str, str], ...]]:
        ex.result = {k: v for k, v in answer.fields.items() if k in ("KeyId", "KeyVersionId", "SecretName")}
        payload = messages.encode(f"{action.name}Response", RequestId=ex.request_id, **answer.fields)
        return 200, payload, answer.headers

    def _error(self, ex: _Exchange, exc: BaseException) -> tuple[int, bytes, tuple[tuple[str, str], ...]]:
        if isinstance(exc, GatewayError):
            code, status, message = exc.code, exc.status, exc.message
        else:
            if isinstance(exc, domain_errors.DomainError):
                exc = to_wire(exc)
            if not isinstance(exc, wire_errors.KMSError):
                exc = wire_errors.InternalFailure()
            code, status, message = exc.code, exc.http_status, exc.message
        ex.code, ex.message, ex.result = code, message, None
        body = messages.encode(
            "Error", StatusCode=status, ErrorCode=code, ErrorMessage=message, RequestId=ex.request_id
        )
        return status, body, ()

    def _event(self, ex: _Exchange, headers: dict[str, str], source: str) -> dict[str, Any]:
        assert self.audit is not None
        owner = Owner(ex.account_uid, None, None) if ex.account_uid else None
        return events.api_event(
            events.Call(
                request_id=ex.request_id,
                at=self.dep.clock.now(),
                action=ex.action or "-",
                product="kms-instance",
                api_version=headers.get(signing.VERSION_HEADER, ""),
                host=headers.get("host", ""),
                region=self.dep.region,
                source_ip=source,
                user_agent=headers.get("user-agent", ""),
                secure=True,
                owner=owner,
                access_key_id=ex.client_key_id,
                params=ex.params or {},
                result=ex.result if not ex.code else None,
                error_code=ex.code,
                error_message=ex.message,
            ),
            self.audit.redactor,
        )


def _params(message: Any) -> dict[str, str]:
    """What the audit event records of a request: its names (keys, secrets, algorithms); the
    bytes fields (plaintexts, ciphertexts, digests) only as their size."""
    out: dict[str, str] = {}
    for field, value in message.ListFields():
        if isinstance(value, str):
            out[field.name] = value
        elif isinstance(value, bytes):
            out[field.name + "Bytes"] = str(len(value))
    return out


async def _read(receive: Any) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", True
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= MAX_BODY:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), size > MAX_BODY
