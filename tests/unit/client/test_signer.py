"""The client's V3 and V4 signatures, checked against the recipe of the reference written out
independently (hashlib and hmac only), and the request's shape: every parameter in a signed
form body, the headers the server requires among the signed ones."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl, quote

from openkms.client.signer import sign_v3

AKID, SECRET = "LTAI5tFakeAccessKeyId0001", "FakeAccessKeySecret0123456789ABCD"
DATE, NONCE = "2026-11-28T06:18:35Z", "a90a3723fed620c866957f02658ce9b1"
PARAMS = {"KeyId": "alias/demo", "Plaintext": "hello world+/=", "EncryptionContext": '{"ctx key":"v/1+2"}'}


def _canonical(headers: dict[str, str], body: bytes) -> tuple[str, str]:
    names = sorted(headers)
    lines = "".join(f"{n}:{headers[n].strip()}\n" for n in names)
    signed = ";".join(names)
    return "\n".join(["POST", "/", "", lines, signed, hashlib.sha256(body).hexdigest()]), signed


def _sign(**extra: object) -> tuple[dict[str, str], bytes]:
    req = sign_v3(
        host="127.0.0.1:18931", action="Encrypt", version="2016-01-20", params=PARAMS,
        access_key_id=AKID, secret=SECRET, date=DATE, nonce=NONCE, **extra,  # type: ignore[arg-type]
    )
    assert (req.method, req.path) == ("POST", "/")
    return dict(req.headers), req.body


def test_v3_signature_follows_the_reference_recipe() -> None:
    headers, body = _sign()
    auth = headers.pop("authorization")
    canonical, signed = _canonical(headers, body)
    string_to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    signature = hmac.new(SECRET.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    assert auth == f"ACS3-HMAC-SHA256 Credential={AKID},SignedHeaders={signed},Signature={signature}"
    required = {"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce",
                "x-acs-content-sha256", "content-type"}
    assert required <= set(signed.split(";"))
    assert headers["x-acs-content-sha256"] == hashlib.sha256(body).hexdigest()
    assert (headers["x-acs-action"], headers["x-acs-version"], headers["x-acs-date"]) == ("Encrypt", "2016-01-20", DATE)


def test_parameters_travel_in_the_body_percent_encoded() -> None:
    _, body = _sign()
    assert dict(parse_qsl(body.decode(), strict_parsing=True)) == PARAMS
    assert b"+" not in body  # a literal + is %2B and a space %20: no form-decoding ambiguity
    assert quote("hello world+/=", safe="~").encode() in body


def test_a_security_token_is_sent_and_signed() -> None:
    headers, _ = _sign(security_token="tok en")
    assert headers["x-acs-security-token"] == "tok en"
    assert "x-acs-security-token" in headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")


def test_v4_signature_follows_the_reference_recipe() -> None:
    headers, body = _sign(v4_scope=("cn-shanghai", "Kms"))
    auth = headers.pop("authorization")
    canonical, signed = _canonical(headers, body)
    key = ("aliyun_v4" + SECRET).encode()
    for part in ("20261128", "cn-shanghai", "Kms", "aliyun_v4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    string_to_sign = "ACS4-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    credential = f"{AKID}/20261128/cn-shanghai/Kms/aliyun_v4_request"
    assert auth == f"ACS4-HMAC-SHA256 Credential={credential},SignedHeaders={signed},Signature={signature}"


def test_each_request_has_its_own_nonce_and_the_current_time() -> None:
    a = sign_v3(host="h", action="ListKeys", version="2016-01-20", params={}, access_key_id=AKID, secret=SECRET)
    b = sign_v3(host="h", action="ListKeys", version="2016-01-20", params={}, access_key_id=AKID, secret=SECRET)
    nonce = lambda r: dict(r.headers)["x-acs-signature-nonce"]  # noqa: E731
    assert nonce(a) != nonce(b) and len(nonce(a)) == 32
    assert a.body == b""
