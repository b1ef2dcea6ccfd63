"""The key hierarchy below the root: versioned key-encryption keys (KEKs) and the wrapping of
everything stored secret (key-version material, AccessKey secrets) under the current KEK.

Every wrap binds associated data naming what is wrapped (key id, version id, spec, KEK version),
so a wrapped row copied onto another key or version does not unwrap.

What is sealed for a purpose other than storage (STS SecurityTokens) is sealed under a subkey
of a KEK derived for that purpose alone (HKDF-SHA256, its label as info): every node sharing
the root and the database derives the same subkey, and a blob sealed for one purpose never
opens as another's.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from openkms.crypto import aead, keyed

if TYPE_CHECKING:
    from openkms.rootkey import RootKeyProvider


def kek_aad(kek_version: int, fingerprint: str) -> bytes:
    return f"openkms/kek/v1|{kek_version}|{fingerprint}".encode()


def material_aad(key_id: str, version_id: str, key_spec: str, kek_version: int) -> bytes:
    return f"openkms/material/v1|{key_id}|{version_id}|{key_spec}|{kek_version}".encode()


def import_key_aad(
    token: str,
    key_id: str,
    wrapping_key_spec: str,
    wrapping_algorithm: str,
    expires_at: int,
    kek_version: int,
) -> bytes:
    """An import token's wrapping private key: bound to its token, key, algorithm and expiry, so a
    row moved to another key, or given a later expiry, does not unwrap."""
    return (
        f"openkms/import-key/v1|{token}|{key_id}|{wrapping_key_spec}|{wrapping_algorithm}"
        f"|{expires_at}|{kek_version}"
    ).encode()


def access_key_aad(access_key_id: str, kek_version: int) -> bytes:
    return f"openkms/access-key/v1|{access_key_id}|{kek_version}".encode()


class Keyring:
    """Unwrapped KEKs by version, held in memory only; new wraps use the newest version."""

    def __init__(self, root: RootKeyProvider, wrapped_keks: dict[int, bytes]) -> None:
        self._keks = {v: root.unwrap(blob, kek_aad(v, root.fingerprint)) for v, blob in wrapped_keks.items()}
        if not self._keks:
            raise ValueError("a keyring needs at least one KEK")
        self.current = max(self._keks)
        self._subkeys: dict[tuple[int, bytes], bytes] = {}

    @staticmethod
    def new_kek(root: RootKeyProvider, kek_version: int) -> bytes:
        """Generate a KEK and return it wrapped under the root, ready to store."""
        return root.wrap(secrets.token_bytes(32), kek_aad(kek_version, root.fingerprint))

    def wrap(self, plaintext: bytes, aad_for: bytes) -> tuple[int, bytes]:
        """Wrap under the current KEK; ``aad_for`` must already name ``self.current``."""
        return self.current, aead.seal(self._keks[self.current], plaintext, aad_for)

    def unwrap(self, kek_version: int, blob: bytes, aad: bytes) -> bytes:
        kek = self._keks.get(kek_version)
        if kek is None:
            raise aead.NotAuthentic
        return aead.open_(kek, blob, aad)

    def seal_for(self, label: bytes, plaintext: bytes, aad: bytes) -> tuple[int, bytes]:
        """Seal under the current KEK's subkey for ``label``: (KEK version, blob)."""
        return self.current, aead.seal(self._subkey(self.current, label), plaintext, aad)

    def open_for(self, kek_version: int, label: bytes, blob: bytes, aad: bytes) -> bytes:
        """Open what :meth:`seal_for` sealed under KEK ``kek_version``; raises
        :class:`~openkms.crypto.aead.NotAuthentic` for anything else (an unknown version too)."""
        if kek_version not in self._keks:
            raise aead.NotAuthentic
        return aead.open_(self._subkey(kek_version, label), blob, aad)

    @property
    def versions(self) -> list[int]:
        return sorted(self._keks)

    def derived(self, label: bytes, kek_version: int | None = None) -> tuple[int, bytes]:
        """A key for ``label`` alone (the audit chain's MAC key): (KEK version, key), from the
        current KEK unless a version is named; an unknown version raises KeyError."""
        version = self.current if kek_version is None else kek_version
        if version not in self._keks:
            raise KeyError(version)
        return version, self._subkey(version, label)

    def _subkey(self, kek_version: int, label: bytes) -> bytes:
        # Derived once per (version, label): opening a token is on the request path.
        found = self._subkeys.get((kek_version, label))
        if found is None:
            found = self._subkeys[(kek_version, label)] = keyed.subkey(self._keks[kek_version], label)
        return found

    def digest(self, label: bytes, data: bytes) -> tuple[int, bytes]:
        """A keyed digest of ``data`` under the current KEK (see :mod:`openkms.crypto.keyed`)."""
        return self.current, keyed.digest(self._keks[self.current], label, data)

    def verify_digest(self, kek_version: int, label: bytes, data: bytes, expected: bytes) -> None:
        """Raises :class:`~openkms.crypto.keyed.DigestMismatch` unless ``data`` has the digest
        ``expected`` under KEK ``kek_version`` (an unknown version never matches)."""
        kek = self._keks.get(kek_version)
        if kek is None:
            raise keyed.DigestMismatch
        keyed.verify(kek, label, data, expected)

    def __repr__(self) -> str:
        return f"Keyring(versions={sorted(self._keks)})"
