"""Fuzz targets over the parsers that take attacker bytes: the query and V3
canonicalisers, the EncryptionContext parser, the CiphertextBlob parser, the STS SecurityToken's
layout and claims, and every action's parameter table.

Each target takes raw bytes and may end in exactly two ways: the input is accepted and the
target's properties hold, or it is refused with the catalogue error of that parser. Anything
else (another exception, a failed property) escapes and is a finding. The same targets run
under atheris (tests/fuzz/run.py, ``make fuzz``) and under hypothesis in the default suite
(tests/fuzz/test_targets.py), so the harness cannot rot unnoticed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from urllib.parse import quote, urlencode

from openkms.api import KMS_ACTIONS as REGISTRY
from openkms.domain.ciphertext import (
    MAX_CONTEXT_CHARS,
    build_blob,
    canonical_context,
    parse_blob,
    parse_context,
)
from openkms.domain.errors import InvalidCiphertext, InvalidValue
from openkms.domain.sts import Claims, TokenMalformed, decode_claims, encode_claims, pack, unpack
from openkms.wire import errors, signing
from openkms.wire.request import build_request, parse_form
from tests.support.slots import slots

SEP = b"\xff\xfe"


def _parts(data: bytes, n: int) -> list[bytes]:
    parts = data.split(SEP, n - 1)
    return parts + [b""] * (n - len(parts))


def canonicaliser(data: bytes) -> None:
    """Query, headers and body bytes -> request -> V1 string to sign and V3 canonical request.

    Properties: the V1 string to sign is ASCII and depends on the decoded parameters only
    (re-encoding them gives the same string); the V3 canonical request does not depend on the
    case of header names."""
    query, header_bytes, body = _parts(data, 3)
    headers = [tuple(line.split(b":", 1)) for line in header_bytes.split(b"\n") if b":" in line]
    try:
        req = build_request("POST", "/", query, headers, body)  # type: ignore[arg-type]
    except errors.KMSError as exc:
        assert exc.http_status == 400, exc
        return
    params = req.query_params + req.body_params
    sts = signing.v1_string_to_sign(req.method, params)
    assert sts.isascii()
    assert sts == signing.v1_string_to_sign(req.method, parse_form(urlencode(params, quote_via=quote)))
    auth = signing.parse_authorization(req.header("authorization") or "")
    signed = auth.signed_headers if auth is not None else tuple(sorted({k.lower() for k, _ in req.headers}))
    body_hash = signing.EMPTY_SHA256
    creq = signing.canonical_request(req.method, req.path, req.query_params, req.headers, signed, body_hash)
    lowered = [(k.lower(), v) for k, v in req.headers]
    assert creq == signing.canonical_request(req.method, req.path, req.query_params, lowered, signed, body_hash)
    signing.v3_string_to_sign(creq)


def encryption_context(data: bytes) -> None:
    """Text -> EncryptionContext. Properties: a map of strings; JSON of it parses back to it; its
    canonical bytes do not depend on key order."""
    for text in (data.decode("utf-8", errors="replace"), data.decode("latin-1")):
        try:
            context = parse_context(text)
        except InvalidValue as exc:
            assert exc.parameter == "EncryptionContext"
            continue
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in context.items())
        canonical = canonical_context(context)
        assert canonical == canonical_context(dict(reversed(list(context.items()))))
        dumped = json.dumps(context, ensure_ascii=False)
        if len(dumped) <= MAX_CONTEXT_CHARS:
            assert context == parse_context(dumped)


def ciphertext(data: bytes) -> None:
    """Text -> CiphertextBlob parts. Property: a blob that parses lays out to the very same text."""
    for text in (data.decode("latin-1"), base64.b64encode(data).decode()):
        try:
            blob = parse_blob(text)
        except InvalidCiphertext as exc:
            assert exc.parameter == "CiphertextBlob" and exc.detail is None
            continue
        assert text == build_blob(blob.version_id, blob.iv, blob.sealed)


def security_token(data: bytes) -> None:
    """Text -> SecurityToken parts, bytes -> claims. Properties: a token that unpacks packs to the
    very same text; claims that decode encode and decode to themselves. Refusals are only
    TokenMalformed."""
    token, _, claims = data.partition(SEP)
    for text in (token.decode("latin-1"), "CAIS" + base64.urlsafe_b64encode(token).decode().rstrip("=")):
        try:
            header, _, sealed = unpack(text)
        except TokenMalformed:
            continue
        assert text == pack(header, sealed)
    try:
        decoded = decode_claims(claims)
    except TokenMalformed:
        return
    assert decode_claims(encode_claims(decoded)) == decoded


ACTIONS = sorted(REGISTRY)


def parameter_tables(data: bytes) -> None:
    """First byte picks an action; the rest, split on a separator, fills its declared parameters in
    order and then arbitrary ``name=value`` pairs. Binding raises only 400 catalogue errors, and a
    bound call has exactly the handler's keyword arguments."""
    if not data:
        return
    action = ACTIONS[data[0] % len(ACTIONS)]
    spec = REGISTRY[action]
    names = [name for p in spec.params for name, _ in slots(p)]
    raw: dict[str, str] = {}
    for i, field in enumerate(data[1:].split(b"\xff")):
        value = field.decode("utf-8", errors="replace")
        if i < len(names):
            raw[names[i]] = value
        else:
            name, _, rest = value.partition("=")
            raw[name] = rest
    try:
        kwargs = spec.bind(raw)
    except errors.KMSError as exc:
        assert exc.http_status == 400, exc
        return
    assert set(kwargs) == {p.arg for p in spec.params} | ({"raw"} if spec.takes_raw else set())


TARGETS: dict[str, Callable[[bytes], None]] = {
    "canonicaliser": canonicaliser,
    "encryption_context": encryption_context,
    "ciphertext": ciphertext,
    "parameter_tables": parameter_tables,
    "security_token": security_token,
}


def seeds(name: str) -> list[bytes]:
    """A few well-formed inputs per target, so the fuzzer starts from the accepted paths."""
    vid = b"86a9efd9-3d16-4894-bd4f-1fc43f3f2abf"
    if name == "canonicaliser":
        query = b"AccessKeyId=LTAI&Action=Encrypt&EncryptionContext=%7B%22a%22%3A%221%22%7D&Plaintext=a+b%20c&Version=2016-01-20"
        headers = (b"host:127.0.0.1:8080\nx-acs-action:Encrypt\ncontent-type:application/x-www-form-urlencoded\n"
                   b"authorization:ACS3-HMAC-SHA256 Credential=LTAI,SignedHeaders=host;x-acs-action,Signature=00")
        return [query, query + SEP + headers + SEP + b"SecretData=%E2%82%AC&x=1"]
    if name == "encryption_context":
        return [b'{"a":"1","b":"2"}', '{"Bucket":"photos","Object":"caf\u00e9.jpg"}'.encode(), b'{"a":"\\u00e9"}', b"{}"]
    if name == "security_token":
        claims = encode_claims(
            Claims("STS.a", "s" * 32, "1111111111111111", "1", "r", "s1", 1, 2, None, "acs:ram::1:user/a")
        )
        return [b"\x01\x00\x00\x00\x01" + bytes(40) + SEP + claims, b"CAISAQAAAAE" + b"A" * 60]
    if name == "ciphertext":
        return [vid + bytes(12) + bytes(16), vid + bytes(12) + b"plaintext" + bytes(16)]
    return [bytes([i]) + b"x\xff1\xff{}" for i in range(len(ACTIONS))]
