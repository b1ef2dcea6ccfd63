"""HMAC (RFC 2104) with the hashes Alibaba's GenerateMac offers: SM3 and SHA-224/256/384/512."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "HMAC_SM3": hashes.SM3,
    "HMAC_SHA_224": hashes.SHA224,
    "HMAC_SHA_256": hashes.SHA256,
    "HMAC_SHA_384": hashes.SHA384,
    "HMAC_SHA_512": hashes.SHA512,
}


def _hmac(algorithm: str, key: bytes, message: bytes) -> hmac.HMAC:
    h = hmac.HMAC(key, _HASHES[algorithm]())
    h.update(message)
    return h


def generate(algorithm: str, key: bytes, message: bytes) -> bytes:
    """The HMAC tag of ``message``."""
    return _hmac(algorithm, key, message).finalize()


def verify(algorithm: str, key: bytes, message: bytes, tag: bytes) -> bool:
    """Whether ``tag`` is the HMAC of ``message``, compared in constant time."""
    try:
        _hmac(algorithm, key, message).verify(tag)
    except InvalidSignature:
        return False
    return True
