"""A root of trust that lives in this process only: a random key, never written anywhere.

For tests and throwaway deployments (:func:`openkms.service.deployment.open_in_memory`): what it
wraps is lost with the process, which is the point.
"""

from __future__ import annotations

import secrets

from openkms.crypto import aead
from openkms.rootkey.file import fingerprint

__all__ = ["MemoryRootKey"]


class MemoryRootKey:
    """Wraps KEKs with AES-256-GCM under a key of this process (a fresh random one unless given)."""

    name = "memory"

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)
        self.fingerprint = fingerprint(self._key)

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        return aead.seal(self._key, plaintext, aad)

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        return aead.open_(self._key, blob, aad)

    def __repr__(self) -> str:
        return f"MemoryRootKey(fingerprint={self.fingerprint!r})"
