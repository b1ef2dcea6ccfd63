"""Alibaba request signatures, as pure functions over the bytes a request arrived with.

Three schemes reach a KMS endpoint:

* V1 (``Signature`` parameter, HMAC-SHA1): the old core SDK and the Tea SDK with
  ``signature_algorithm='v2'``. Signs every query *and* form-body parameter.
* V3 (``Authorization: ACS3-HMAC-SHA256 ...``): the Tea SDK's default. Signs a canonical
  request over the query, the headers the client named in ``SignedHeaders`` and the body hash.
* V4 (``Authorization: ACS4-HMAC-SHA256 ...``): the Tea SDK with ``signature_version='v4'``;
  the V3 canonical request under a date/region/product-scoped signing key.

Nothing here does I/O or knows about secrets beyond the bytes handed in; the caller looks up
the secret, checks the clock and the nonce. Signatures are compared with
``hmac.compare_digest`` by :func:`signatures_equal`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# Canonicalisation runs on every parameter of every request, so percent-encoding is a table
# lookup per UTF-8 byte (urllib.parse.quote costs 2-3x more), with a fast path for the common
# value that needs no encoding at all.
_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
_PCT_BYTE = [chr(b) if chr(b) in _UNRESERVED else f"%{b:02X}" for b in range(256)]
_needs_pct = re.compile(r"[^A-Za-z0-9_.~-]").search


_PCT_ASCII = {chr(b): f"%{b:02X}" for b in range(128) if chr(b) not in _UNRESERVED}
_pct_sub = re.compile(r"[^A-Za-z0-9_.~-]").sub


def _pct_match(m: re.Match[str]) -> str:
    return _PCT_ASCII[m.group()]


def pct(value: str) -> str:
    """RFC 3986 percent-encoding of UTF-8, as both schemes canonicalise (space -> %20)."""
    if _needs_pct(value) is None:
        return value
    if value.isascii() and len(value) > 24:
        # Long ASCII values (Base64 plaintexts, blobs) have few characters to encode.
        return _pct_sub(_pct_match, value)
    return "".join(map(_PCT_BYTE.__getitem__, value.encode("utf-8")))


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """Sorted ``pct(name)=pct(value)`` pairs joined by ``&`` (code-point order of the names)."""
    ordered = sorted(params)
    return "&".join([pct(k) + "=" + pct(v) for k, v in ordered])


def _pct_canonical(canon: str) -> str:
    """``pct`` of a canonical query, whose only characters outside the unreserved set are
    ``%``, ``=`` and ``&`` (every name and value in it is already percent-encoded)."""
    return canon.replace("%", "%25").replace("=", "%3D").replace("&", "%26")


# --- V1 -----------------------------------------------------------------------------------


def v1_string_to_sign(method: str, params: Iterable[tuple[str, str]]) -> str:
    """``METHOD&%2F&pct(canonical query)`` over every parameter except ``Signature``."""
    canon = canonical_query([(k, v) for k, v in params if k != "Signature"])
    return method.upper() + "&%2F&" + _pct_canonical(canon)


def v1_signature(secret: str, string_to_sign: str) -> str:
    """Base64 HMAC-SHA1 with key ``secret + "&"``."""
    # HMAC-SHA1 is what signature V1 is defined with; it is not our choice of primitive.
    mac = hmac.digest((secret + "&").encode(), string_to_sign.encode(), hashlib.sha1)
    return base64.b64encode(mac).decode()


# --- V3 / V4 ------------------------------------------------------------------------------

V3_ALGORITHM = "ACS3-HMAC-SHA256"
V4_ALGORITHM = "ACS4-HMAC-SHA256"


@dataclass(frozen=True, slots=True)
class Authorization:
    """A parsed ``Authorization`` header of scheme V3 or V4."""

    algorithm: str
    credential: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def access_key_id(self) -> str:
        return self.credential.split("/", 1)[0]

    @property
    def scope(self) -> tuple[str, ...]:
        """V4 credential scope: (date, region, product, terminator); empty for V3."""
        return tuple(self.credential.split("/")[1:])


def parse_authorization(value: str) -> Authorization | None:
    """Parse ``ALG Credential=..,SignedHeaders=..,Signature=..``; None when malformed."""
    algorithm, sep, rest = value.strip().partition(" ")
    if not sep or algorithm not in (V3_ALGORITHM, V4_ALGORITHM):
        return None
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, eq, val = item.strip().partition("=")
        if not eq or name in fields:
            return None
        fields[name] = val
    try:
        credential = fields["Credential"]
        signed = fields["SignedHeaders"]
        signature = fields["Signature"]
    except KeyError:
        return None
    headers = tuple(signed.split(";")) if signed else ()
    if not credential or not signature or any(not h or h != h.lower() for h in headers):
        return None
    return Authorization(algorithm, credential, headers, signature)


def canonical_request(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Sequence[tuple[str, str]],
    signed_headers: Sequence[str],
    body_sha256: str,
) -> str:
    """The V3/V4 canonical request: method, URI, query, signed headers, header list, body hash.

    ``headers`` are (name, value) pairs as received; names are matched case-insensitively.
    Form-body parameters are not part of the query here: the body hash covers them.
    """
    by_name: dict[str, list[str]] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered in by_name:
            by_name[lowered].append(value.strip())
        else:
            by_name[lowered] = [value.strip()]
    parts = []
    for h in signed_headers:
        values = by_name.get(h, [])
        joined = values[0] if len(values) == 1 else ",".join(sorted(values))
        parts.append(f"{h}:{joined}\n")
    lines = "".join(parts)
    return "\n".join(
        [
            method.upper(),
            path or "/",
            canonical_query(query),
            lines,
            ";".join(signed_headers),
            body_sha256,
        ]
    )


def v3_string_to_sign(canonical: str) -> str:
    return V3_ALGORITHM + "\n" + hashlib.sha256(canonical.encode()).hexdigest()


def v3_signature(secret: str, string_to_sign: str) -> str:
    """Lower-hex HMAC-SHA256 keyed with the raw secret (no ``&`` suffix)."""
    return hmac.digest(secret.encode(), string_to_sign.encode(), hashlib.sha256).hex()


def v4_string_to_sign(canonical: str) -> str:
    return V4_ALGORITHM + "\n" + hashlib.sha256(canonical.encode()).hexdigest()


def v4_signing_key(secret: str, date: str, region: str, product: str) -> bytes:
    key = ("aliyun_v4" + secret).encode()
    for part in (date, region, product, "aliyun_v4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def v4_signature(signing_key: bytes, string_to_sign: str) -> str:
    return hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def signatures_equal(expected: str, given: str) -> bool:
    """Constant-time comparison of two signature strings."""
    return hmac.compare_digest(expected.encode(), given.encode())
