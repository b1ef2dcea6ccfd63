"""Raw, signed Alibaba KMS requests built the way the official SDKs build them (stdlib only).

The benchmark pre-signs every request before a run, so the signer is written to be cheap: the
static part of each request (quoted parameters, header lines) is prepared once per request shape
and only the nonce, the timestamp and the signature change from one request to the next.

This module is independent of openkms's own code on purpose: it is a client, written from the
wire description (shared/reference/sdk-wire.md), so a server-side bug cannot cancel itself out.

Two shapes, both POST / over HTTP/1.1 keep-alive:

* ``v1``: the old core SDK (aliyun-python-sdk-core): every parameter in the query, the common
  parameters (``RegionId``, an empty ``SignatureType`` ...) and an HMAC-SHA1 ``Signature``.
* ``v3``: the Tea SDK's default: action parameters in the query, ``x-acs-*`` headers and
  ``Authorization: ACS3-HMAC-SHA256``; an empty form body with the form content type on the
  actions whose Tea model has a body (Decrypt, GenerateDataKey, GetSecretValue).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from functools import lru_cache
from urllib.parse import quote

API_VERSION = "2016-01-20"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
V1_UA = "AlibabaCloud (Linux 6.1;x86_64) Python/3.11.7 Core/2.16.1 python-requests/2.18.3"
V3_UA = "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"
# Tea models with a body dict send the form content type even when the body is empty.
TEA_FORM_ACTIONS = frozenset(
    {"Decrypt", "GenerateDataKey", "GetSecretValue", "AsymmetricDecrypt", "CreateSecret", "PutSecretValue"}
)


@lru_cache(maxsize=4096)
def pct(value: str) -> str:
    """RFC 3986 percent-encoding of UTF-8 (space -> %20, ``~`` kept), as both schemes canonicalise."""
    return quote(value, safe="~")


def timestamp(now: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now))


def nonce() -> str:
    return secrets.token_hex(16)


class Signer:
    """Builds complete raw HTTP/1.1 requests (bytes) for one endpoint and AccessKey."""

    def __init__(self, host: str, access_key_id: str, secret: str) -> None:
        self.host = host
        self.ak = access_key_id
        self.secret = secret
        self._v1_key = (secret + "&").encode()
        self._v3_key = secret.encode()

    # -- V1 (old core SDK) ----------------------------------------------------------------

    def v1(self, action: str, params: dict[str, str], *, nonce_: str | None = None,
           ts: str | None = None, version: str = API_VERSION) -> bytes:
        items = dict(params)
        items.update(
            Version=version, Action=action, Format="JSON", RegionId="cn-hangzhou",
            Timestamp=ts or timestamp(), SignatureMethod="HMAC-SHA1", SignatureType="",
            SignatureVersion="1.0", SignatureNonce=nonce_ or nonce(), AccessKeyId=self.ak,
        )
        quoted = [(pct(k), pct(v)) for k, v in items.items()]
        canon = "&".join(k + "=" + v for k, v in sorted(quoted))
        sts = "POST&%2F&" + pct(canon)
        sig = base64.b64encode(hmac.new(self._v1_key, sts.encode(), hashlib.sha1).digest()).decode()
        # The old SDK sends user parameters first, then the common ones, unsorted.
        target = "/?" + "&".join(k + "=" + v for k, v in quoted) + "&Signature=" + pct(sig)
        head = (
            f"POST {target} HTTP/1.1\r\n"
            f"Host: {self.host}\r\n"
            f"User-Agent: {V1_UA}\r\n"
            "Accept-Encoding: identity\r\n"
            "Accept: */*\r\n"
            "Connection: keep-alive\r\n"
            f"x-acs-action: {action}\r\n"
            f"x-acs-version: {version}\r\n"
            "x-sdk-invoke-type: normal\r\n"
            "x-sdk-client: python/2.0.0\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        return head.encode()

    # -- V3 (Tea SDK default) -------------------------------------------------------------

    def v3(self, action: str, params: dict[str, str], *, nonce_: str | None = None,
           ts: str | None = None) -> bytes:
        # The Tea SDK sorts the query and encodes spaces as '+'; the canonical form uses %20.
        ordered = sorted((pct(k), pct(v)) for k, v in params.items())
        canon_q = "&".join(k + "=" + v for k, v in ordered)
        wire_q = canon_q.replace("%20", "+")
        headers = {
            "accept": "application/json",
            "host": self.host,
            "user-agent": V3_UA,
            "x-acs-action": action,
            "x-acs-content-sha256": EMPTY_SHA256,
            "x-acs-credentials-provider": "static_ak",
            "x-acs-date": ts or timestamp(),
            "x-acs-signature-nonce": nonce_ or nonce(),
            "x-acs-version": API_VERSION,
        }
        if action in TEA_FORM_ACTIONS:
            headers["content-type"] = "application/x-www-form-urlencoded"
        names = sorted(headers)
        signed = ";".join(names)
        creq = "POST\n/\n" + canon_q + "\n" + "".join(f"{n}:{headers[n]}\n" for n in names) + "\n" + signed + "\n" + EMPTY_SHA256
        sts = "ACS3-HMAC-SHA256\n" + hashlib.sha256(creq.encode()).hexdigest()
        sig = hmac.new(self._v3_key, sts.encode(), hashlib.sha256).hexdigest()
        lines = [f"POST /?{wire_q} HTTP/1.1" if wire_q else "POST / HTTP/1.1", "Accept-Encoding: identity"]
        lines += [f"{n}: {headers[n]}" for n in names]
        lines.append(f"Authorization: ACS3-HMAC-SHA256 Credential={self.ak},SignedHeaders={signed},Signature={sig}")
        lines.append("Content-Length: 0")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def sign(self, scheme: str, action: str, params: dict[str, str], **kw: str) -> bytes:
        return self.v1(action, params, **kw) if scheme == "v1" else self.v3(action, params, **kw)


def health_request(host: str) -> bytes:
    return f"GET /health HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n\r\n".encode()
