"""The official SDKs pointed at a test server, and a raw signer for hand-made requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from alibabacloud_kms20160120.client import Client as TeaClient
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_tea_openapi import models as open_api_models
from aliyunsdkcore.client import AcsClient

from tests.support.server import ACCESS_KEY_ID, ACCESS_KEY_SECRET

REGION = "cn-hangzhou"


def tea_client(endpoint: str, mode: str = "v3", ak: str = ACCESS_KEY_ID, secret: str = ACCESS_KEY_SECRET) -> TeaClient:
    """The Tea SDK (alibabacloud-kms20160120): mode ``v3`` (default), ``v2`` (HMAC-SHA1) or ``v4``."""
    extra: dict[str, str] = {}
    if mode == "v2":
        extra["signature_algorithm"] = "v2"
    elif mode == "v4":
        extra["signature_version"] = "v4"
    return TeaClient(
        open_api_models.Config(
            access_key_id=ak, access_key_secret=secret, region_id=REGION,
            endpoint=endpoint, protocol="http", **extra,
        )
    )


def ram_client(endpoint: str, ak: str = ACCESS_KEY_ID, secret: str = ACCESS_KEY_SECRET, mode: str = "v3") -> RamClient:
    """The official RAM SDK (alibabacloud-ram20150501) pointed at ``endpoint``: V3 signing, or
    HMAC-SHA1 with ``mode`` v2."""
    extra = {"signature_algorithm": "v2"} if mode == "v2" else {}
    return RamClient(
        open_api_models.Config(
            access_key_id=ak, access_key_secret=secret, region_id=REGION, endpoint=endpoint, protocol="http", **extra,
        )
    )


class OldClient:
    """The old SDK (aliyun-python-sdk-core + aliyun-python-sdk-kms); ``call`` returns parsed JSON."""

    def __init__(self, endpoint: str, ak: str = ACCESS_KEY_ID, secret: str = ACCESS_KEY_SECRET) -> None:
        self.endpoint = endpoint
        self.client = AcsClient(ak, secret, REGION)

    def call(self, request: Any, **params: Any) -> dict[str, Any]:
        request.set_endpoint(self.endpoint)
        request.set_protocol_type("http")
        for name, value in params.items():
            getattr(request, f"set_{name}")(value)
        return json.loads(self.client.do_action_with_exception(request))


def http_connection(endpoint: str, timeout: float = 10.0) -> http.client.HTTPConnection:
    """A plain HTTP connection to ``endpoint`` (host:port), kept alive across requests."""
    host, port = endpoint.split(":")
    return http.client.HTTPConnection(host, int(port), timeout=timeout)


def pct(s: str) -> str:
    """Percent-encoding as Alibaba's signatures use it: RFC 3986 unreserved characters kept, "/" encoded too."""
    return quote(s, safe="~")


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class RawSigner:
    """Builds and sends V1/V3 requests by hand, with every knob a test needs to turn."""

    def __init__(self, endpoint: str, ak: str = ACCESS_KEY_ID, secret: str = ACCESS_KEY_SECRET) -> None:
        self.endpoint = endpoint
        self.ak = ak
        self.secret = secret
        self.timeout = 10.0  # seconds to wait for an answer (a hang fails the test)

    @staticmethod
    def timestamp(offset: float = 0.0) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))

    def v1_params(self, action: str, params: dict[str, str], *, method: str = "POST",
                  offset: float = 0.0, nonce: str | None = None, secret: str | None = None,
                  version: str = "2016-01-20", fmt: str = "JSON") -> list[tuple[str, str]]:
        common = {
            "Action": action, "Version": version, "Format": fmt, "AccessKeyId": self.ak,
            "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
            "SignatureNonce": nonce or secrets.token_hex(16), "Timestamp": self.timestamp(offset),
        }
        items = sorted({**common, **params}.items())
        canon = "&".join(pct(k) + "=" + pct(v) for k, v in items)
        sts = method + "&%2F&" + pct(canon)
        key = ((secret or self.secret) + "&").encode()
        sig = base64.b64encode(hmac.new(key, sts.encode(), hashlib.sha1).digest()).decode()
        return [*items, ("Signature", sig)]

    def send(self, method: str, query: str, body: bytes = b"", headers: dict[str, str] | None = None) -> RawResponse:
        req = urllib.request.Request(
            f"http://{self.endpoint}/?{query}" if query else f"http://{self.endpoint}/",
            data=body if method == "POST" else None, method=method, headers=headers or {},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return RawResponse(r.status, dict(r.headers), r.read())
        except urllib.error.HTTPError as e:
            return RawResponse(e.code, dict(e.headers), e.read())

    def v1_query(self, action: str, params: dict[str, str] | None = None, **kw: Any) -> str:
        """A signed V1 query string, to send (or send again) with :meth:`send`."""
        return urlencode(self.v1_params(action, params or {}, **kw), quote_via=quote)

    def v1(self, action: str, params: dict[str, str] | None = None, **kw: Any) -> RawResponse:
        method = kw.pop("method", "POST")
        return self.send(method, self.v1_query(action, params, method=method, **kw))

    def v3(self, action: str, params: dict[str, str] | None = None, *, offset: float = 0.0,
           nonce: str | None = None, secret: str | None = None, body: bytes = b"",
           content_type: str | None = None, tamper: dict[str, str] | None = None,
           signed: dict[str, str] | None = None, version: str = "2016-01-20") -> RawResponse:
        """A V3 request; ``signed`` adds headers that are signed, ``tamper`` headers (or new
        values) added after signing."""
        query = urlencode(sorted((params or {}).items()), quote_via=quote)
        headers = {
            "host": self.endpoint, "x-acs-action": action, "x-acs-version": version,
            "x-acs-date": self.timestamp(offset), "x-acs-signature-nonce": nonce or secrets.token_hex(16),
            "x-acs-content-sha256": hashlib.sha256(body).hexdigest(), **(signed or {}),
        }
        if content_type:
            headers["content-type"] = content_type
        names = sorted(headers)
        canon_q = "&".join(pct(k) + "=" + pct(v) for k, v in sorted((params or {}).items()))
        canon_h = "".join(f"{n}:{headers[n].strip()}\n" for n in names)
        creq = "\n".join(["POST", "/", canon_q, canon_h, ";".join(names), headers["x-acs-content-sha256"]])
        sts = "ACS3-HMAC-SHA256\n" + hashlib.sha256(creq.encode()).hexdigest()
        sig = hmac.new((secret or self.secret).encode(), sts.encode(), hashlib.sha256).hexdigest()
        headers["Authorization"] = f"ACS3-HMAC-SHA256 Credential={self.ak},SignedHeaders={';'.join(names)},Signature={sig}"
        headers.update(tamper or {})
        return self.send("POST", query, body, headers)
