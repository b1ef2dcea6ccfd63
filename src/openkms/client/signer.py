"""Signing a request with V3 (``ACS3-HMAC-SHA256``), as the Tea SDK does by default, or with
V4 (``ACS4-HMAC-SHA256``: the same canonical request under a key scoped to a date, a region and
a product).

Every parameter travels in an ``application/x-www-form-urlencoded`` body (the request line
stays short whatever the values; the body hash covers them all), Action and Version in the
signed ``x-acs-action`` / ``x-acs-version`` headers. The canonical request is built by
:func:`openkms.wire.signing.canonical_request`, the function the server verifies with.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from openkms.wire import signing

FORM_TYPE = "application/x-www-form-urlencoded"
USER_AGENT = "openkms-cli"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What goes on the wire: method, path, headers (lower-case names) and body."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


def form_body(params: Mapping[str, str]) -> bytes:
    """``name=value`` pairs, RFC 3986-encoded (a space is ``%20``, which form decoding reads)."""
    return "&".join(f"{signing.pct(k)}={signing.pct(v)}" for k, v in params.items()).encode()


def sign_v3(
    *,
    host: str,
    action: str,
    version: str,
    params: Mapping[str, str],
    access_key_id: str,
    secret: str,
    security_token: str | None = None,
    date: str | None = None,
    nonce: str | None = None,
    v4_scope: tuple[str, str] | None = None,
) -> SignedRequest:
    """A POST to ``/`` carrying ``params`` in its body, signed with V3 over every header sent.

    ``date`` (``%Y-%m-%dT%H:%M:%SZ``) and ``nonce`` default to now and 16 random bytes in hex;
    tests fix them to compare with a known signature. ``v4_scope`` (region, product such as
    ``Kms``) signs with V4 instead.
    """
    body = form_body(params) if params else b""
    body_hash = hashlib.sha256(body).hexdigest()
    headers: dict[str, str] = {
        "accept": "application/json",
        "host": host,
        "user-agent": USER_AGENT,
        "x-acs-action": action,
        "x-acs-content-sha256": body_hash,
        "x-acs-date": date or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "x-acs-signature-nonce": nonce or secrets.token_hex(16),
        "x-acs-version": version,
    }
    # The server reads the body as parameters only under this type, so it is always signed.
    headers["content-type"] = FORM_TYPE
    if security_token:
        headers["x-acs-security-token"] = security_token
    signed = sorted(headers)
    pairs = [(name, headers[name]) for name in signed]
    canonical = signing.canonical_request("POST", "/", [], pairs, signed, body_hash)
    if v4_scope is None:
        signature = signing.v3_signature(secret, signing.v3_string_to_sign(canonical))
        algorithm, credential = signing.V3_ALGORITHM, access_key_id
    else:
        region, product = v4_scope
        day = headers["x-acs-date"][:10].replace("-", "")
        key = signing.v4_signing_key(secret, day, region, product)
        signature = signing.v4_signature(key, signing.v4_string_to_sign(canonical))
        algorithm = signing.V4_ALGORITHM
        credential = f"{access_key_id}/{day}/{region}/{product}/aliyun_v4_request"
    authorization = (
        f"{algorithm} Credential={credential},SignedHeaders={';'.join(signed)},Signature={signature}"
    )
    return SignedRequest("POST", "/", (*pairs, ("authorization", authorization)), body)
