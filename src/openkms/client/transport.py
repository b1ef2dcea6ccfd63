"""The HTTP side of a call: the standard library's ``urllib.request``, TLS verified against the
system's CAs or ``--ca``, redirects refused (a signed POST is not re-sent elsewhere), the answer
parsed as JSON. Proxies named by ``HTTPS_PROXY``/``HTTP_PROXY`` are used, except to loopback.

Plain HTTP and unverified TLS are allowed to a loopback address only: off the machine a
signed request and an answer holding a data key's plaintext must travel over verified TLS.
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from openkms.client.credentials import Credentials
from openkms.client.signer import sign_v3


class TransportError(Exception):
    """The call did not produce an Alibaba answer: no connection, a bad endpoint, not JSON."""


class ApiError(Exception):
    """An Alibaba error answer: HTTP status, ``Code``, ``Message`` and ``RequestId``."""

    def __init__(self, status: int, code: str, message: str, request_id: str, body: dict[str, Any]) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.body = body


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    host: str
    port: int
    netloc: str

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_endpoint(text: str) -> Endpoint:
    """``host[:port]`` (HTTPS) or ``http(s)://host[:port]``; plain HTTP only to loopback."""
    url = urlsplit(text if "://" in text else "https://" + text)
    if url.scheme not in ("http", "https") or not url.hostname or url.path not in ("", "/") or url.query:
        raise TransportError(f"endpoint {text!r} is not host[:port] or http(s)://host[:port]")
    try:
        port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError:
        raise TransportError(f"endpoint {text!r} has a bad port") from None
    end = Endpoint(url.scheme, url.hostname, port, url.netloc)
    if end.scheme == "http" and not end.loopback:
        raise TransportError(f"plain HTTP is allowed to a loopback address only, not {end.host}")
    return end


def tls_context(ca: Path | None, insecure: bool) -> ssl.SSLContext:
    """Verified TLS 1.2 or later: against ``ca`` when given, else the system's CAs."""
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Client:
    """Signed calls to one endpoint."""

    def __init__(
        self,
        endpoint: Endpoint,
        credentials: Credentials,
        *,
        ca: Path | None = None,
        insecure: bool = False,
        timeout: float = 30.0,
    ) -> None:
        if insecure and not endpoint.loopback:
            raise TransportError(f"--insecure is allowed to a loopback address only, not {endpoint.host}")
        self.endpoint = endpoint
        self.credentials = credentials
        self.timeout = timeout
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if endpoint.scheme == "https":
            handlers.append(urllib.request.HTTPSHandler(context=tls_context(ca, insecure)))
        if endpoint.loopback:
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    def close(self) -> None:
        """Nothing is kept open between calls; here for ``finally`` blocks."""

    def call(
        self, action: str, version: str, params: Mapping[str, str], v4_scope: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        """The answer of ``action`` as a dict; :class:`ApiError` for an error answer. Signed with
        V3, or with V4 under ``v4_scope`` (region, product)."""
        cred = self.credentials
        request = sign_v3(
            host=self.endpoint.netloc,
            action=action,
            version=version,
            params=params,
            access_key_id=cred.access_key_id,
            secret=cred.secret,
            security_token=cred.security_token,
            v4_scope=v4_scope,
        )
        status, raw = self._send(request.method, request.path, request.headers, request.body)
        try:
            answer = json.loads(raw)
        except ValueError:
            raise TransportError(f"HTTP {status} answer that is not JSON ({len(raw)} bytes)") from None
        if not isinstance(answer, dict):
            raise TransportError(f"HTTP {status} answer that is not a JSON object")
        if status >= 300:
            raise ApiError(
                status,
                str(answer.get("Code", f"HTTP{status}")),
                str(answer.get("Message", "")),
                str(answer.get("RequestId", "")),
                answer,
            )
        return answer

    def _send(
        self, method: str, path: str, headers: tuple[tuple[str, str], ...], body: bytes
    ) -> tuple[int, bytes]:
        # No retry: a call that may have reached the server is not sent twice (it may have acted).
        url = f"{self.endpoint.scheme}://{self.endpoint.netloc}{path}"
        # The scheme is http or https: parse_endpoint allows no other.
        request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)  # noqa: S310
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return int(response.status), response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read()
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ssl.SSLError):
                raise TransportError(
                    f"TLS with {self.endpoint.netloc} failed: {reason.reason or reason}"
                ) from None
            text = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
            raise TransportError(f"cannot reach {self.endpoint.netloc}: {text}") from None
        except (OSError, ValueError) as exc:
            raise TransportError(f"cannot reach {self.endpoint.netloc}: {type(exc).__name__} {exc}") from None
