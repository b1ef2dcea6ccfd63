"""Roots of trust. A provider wraps and unwraps key-encryption keys and has a fingerprint that
the database records, so a mismatched key file and database refuse to start together.
"""

from __future__ import annotations

from typing import Protocol

from openkms.rootkey.file import FileRootKey, RootKeyError
from openkms.rootkey.keyring import KekState, Keyring
from openkms.rootkey.memory import MemoryRootKey
from openkms.rootkey.pkcs11 import Pkcs11RootKey, Pkcs11Unavailable


class RootKeyProvider(Protocol):
    """Wraps KEKs; never hands out its own key."""

    name: str
    fingerprint: str

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, blob: bytes, aad: bytes) -> bytes: ...


__all__ = [
    "FileRootKey",
    "KekState",
    "Keyring",
    "MemoryRootKey",
    "Pkcs11RootKey",
    "Pkcs11Unavailable",
    "RootKeyError",
    "RootKeyProvider",
]
