"""The instance SDK's request signature: what is signed, and its check against a client key.

The string to sign is::

    POST \\n <content-sha256> \\n <content-type> \\n <date> \\n
    <every x-kms-* header, sorted by name, as name:trimmed value\\n> /

where ``content-sha256`` is the upper-case hex SHA-256 of the body and ``date`` the RFC 1123
Date header. ``Authorization: Bearer <Base64 RSASSA-PKCS1-v1_5 SHA-256 signature>`` is made
with the client key's private half; the key is named by ``x-kms-acccesskeyid`` (the SDK's own
spelling, three c's).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

KEY_HEADER = "x-kms-acccesskeyid"
ACTION_HEADER = "x-kms-apiname"
VERSION_HEADER = "x-kms-apiversion"
METHOD_HEADER = "x-kms-signaturemethod"
SIGNATURE_METHOD = "RSA_PKCS1_SHA_256"
CONTENT_TYPE = "application/x-protobuf"


class BadSignature(Exception):
    """The request is not signed as the protocol says; the message is safe to show."""


def string_to_sign(method: str, headers: Mapping[str, str]) -> str:
    """What the client signed, from the request's headers (names lower-case)."""
    head = "\n".join(
        (method, headers.get("content-sha256", ""), headers.get("content-type", ""), headers.get("date", ""))
    )
    kms = "".join(
        f"{name}:{headers[name].strip()}\n" for name in sorted(headers) if name.startswith("x-kms-")
    )
    return f"{head}\n{kms}/"


def check_body_digest(headers: Mapping[str, str], body: bytes) -> None:
    """The signed content-sha256 must be the body's."""
    digest = hashlib.sha256(body).hexdigest().upper()
    if not hmac.compare_digest(headers.get("content-sha256", "").upper(), digest):
        raise BadSignature("The content-sha256 header does not match the request body.")


def request_time(headers: Mapping[str, str]) -> float:
    """The Date header as a Unix time."""
    try:
        return parsedate_to_datetime(headers.get("date", "")).timestamp()
    except (TypeError, ValueError, IndexError):
        raise BadSignature("The Date header is missing or not an RFC 1123 date.") from None


def signature_of(headers: Mapping[str, str]) -> bytes:
    """The raw signature from ``Authorization: Bearer <Base64>``."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme != "Bearer" or not value:
        raise BadSignature("The Authorization header must be 'Bearer <signature>'.")
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadSignature("The Authorization signature is not Base64.") from None


def load_public_key(der: bytes) -> rsa.RSAPublicKey:
    """A client key's public half (SubjectPublicKeyInfo DER)."""
    key = serialization.load_der_public_key(der)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("a client key is an RSA key")
    return key


def verify(public_key: rsa.RSAPublicKey, signature: bytes, text: str) -> None:
    """Raises BadSignature unless ``signature`` is the client key's over ``text``."""
    try:
        public_key.verify(signature, text.encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise BadSignature("The request signature does not match.") from None


def sign(private_key: rsa.RSAPrivateKey, text: str) -> str:
    """The Authorization value for ``text`` (for the test and benchmark clients)."""
    return (
        "Bearer "
        + base64.b64encode(private_key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
    )
