"""Keyed digests: HMAC-SHA256 under a subkey derived (HKDF-SHA256) from a key-encryption key for
one labelled purpose, so a digest stored beside wrapped data reveals nothing without the KEK and
the KEK's use for wrapping and for digests never meet.

Used to bind an EXTERNAL key to the one material it may take again (key_versions.material_digest):
a plain hash of 32 bytes of material would let anyone holding the database test a guess.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class DigestMismatch(Exception):
    """The data does not have the expected keyed digest."""


def subkey(key: bytes, label: bytes) -> bytes:
    """HKDF-SHA256(key, info=label): 32 bytes for one labelled purpose."""
    return HKDF(hashes.SHA256(), 32, salt=None, info=label).derive(key)


def digest(key: bytes, label: bytes, data: bytes) -> bytes:
    """HMAC-SHA256(HKDF-SHA256(key, info=label), data): 32 bytes."""
    mac = crypto_hmac.HMAC(subkey(key, label), hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def verify(key: bytes, label: bytes, data: bytes, expected: bytes) -> None:
    """Compare in constant time.

    Raises:
        DigestMismatch: ``data`` does not have the digest ``expected``.
    """
    if not hmac.compare_digest(digest(key, label, data), expected):
        raise DigestMismatch
