"""The instance gateway's wire, pure parts: the protobuf field numbers, the string to sign and
the signature check (the official SDKs drive the whole in tests/integration/test_gateway.py)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from openkms.gateway import messages, signing
from openkms.gateway.actions import ACTIONS


def test_field_numbers_are_the_sdks() -> None:
    # EncryptRequest: KeyId = 1, Plaintext = 2 (length-delimited); Error: StatusCode = 1 (varint).
    assert messages.encode("EncryptRequest", KeyId="k", Plaintext=b"x") == b"\n\x01k\x12\x01x"
    assert messages.encode("Error", StatusCode=403, ErrorCode="C") == b"\x08\x93\x03\x12\x01C"
    # GetSecretValueResponse.VersionStages = 5, repeated.
    assert messages.encode("GetSecretValueResponse", VersionStages=["A", "B"]) == b"*\x01A*\x01B"
    parsed = messages.parse("AdvanceEncryptResponse", messages.encode("AdvanceEncryptResponse", KeyVersionId="v"))
    assert parsed.KeyVersionId == "v"


def test_every_action_has_its_request_and_response() -> None:
    for name in ACTIONS:
        assert f"{name}Request" in messages.SCHEMA and f"{name}Response" in messages.SCHEMA
        assert ("RequestId", messages.STR) in messages.SCHEMA[f"{name}Response"]


HEADERS = {
    "content-sha256": "ABC",
    "content-type": "application/x-protobuf",
    "date": "Wed, 02 Dec 2026 21:00:00 GMT",
    "x-kms-apiname": "Encrypt",
    "x-kms-acccesskeyid": "KAAP.1",
    "host": "kst-1.example",
    "authorization": "Bearer x",
}


def test_the_string_to_sign() -> None:
    assert signing.string_to_sign("POST", HEADERS) == (
        "POST\nABC\napplication/x-protobuf\nWed, 02 Dec 2026 21:00:00 GMT\n"
        "x-kms-acccesskeyid:KAAP.1\nx-kms-apiname:Encrypt\n/"
    )


def test_a_signature_verifies_only_over_what_was_signed() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public = signing.load_public_key(der)
    headers = {**HEADERS, "authorization": signing.sign(private, signing.string_to_sign("POST", HEADERS))}
    signing.verify(public, signing.signature_of(headers), signing.string_to_sign("POST", headers))
    changed = {**headers, "x-kms-apiname": "Decrypt"}
    with pytest.raises(signing.BadSignature):
        signing.verify(public, signing.signature_of(changed), signing.string_to_sign("POST", changed))
    with pytest.raises(signing.BadSignature):
        signing.signature_of({"authorization": "Basic abc"})
    with pytest.raises(signing.BadSignature):
        signing.check_body_digest({"content-sha256": hashlib.sha256(b"a").hexdigest().upper()}, b"b")
    signing.check_body_digest({"content-sha256": hashlib.sha256(b"a").hexdigest().upper()}, b"a")
    with pytest.raises(signing.BadSignature):
        signing.request_time({"date": "yesterday"})
