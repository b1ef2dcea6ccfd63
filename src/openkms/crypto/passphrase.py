"""Sealing under a passphrase (a backup's root key): scrypt derives an AES-256 key from the
passphrase and a random salt, :mod:`openkms.crypto.aead` seals with it.

Sealed format: ``b"OKPW1" || salt(16) || aead.seal(...)``; the scrypt cost is fixed by the
format (n=2**15, r=8, p=1: about 32 MB and a tenth of a second per try).
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from openkms.crypto import aead

__all__ = ["WrongPassphrase", "open_", "seal"]

_MAGIC = b"OKPW1"
_SALT_LEN = 16
_N, _R, _P = 2**15, 8, 1


class WrongPassphrase(Exception):
    """The blob does not open under this passphrase (or was altered)."""


def _key(passphrase: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=_N, r=_R, p=_P).derive(passphrase.encode())


def seal(passphrase: str, plaintext: bytes, aad: bytes) -> bytes:
    salt = os.urandom(_SALT_LEN)
    return _MAGIC + salt + aead.seal(_key(passphrase, salt), plaintext, _MAGIC + aad)


def open_(passphrase: str, blob: bytes, aad: bytes) -> bytes:
    if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + _SALT_LEN:
        raise WrongPassphrase
    salt = blob[len(_MAGIC) : len(_MAGIC) + _SALT_LEN]
    try:
        return aead.open_(_key(passphrase, salt), blob[len(_MAGIC) + _SALT_LEN :], _MAGIC + aad)
    except aead.NotAuthentic:
        raise WrongPassphrase from None
