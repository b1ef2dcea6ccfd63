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
from dataclasses import dataclass
from typing import TYPE_CHECKING

from openkms.crypto import aead, keyed
from openkms.domain.errors import Sealed

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
    """Unwrapped KEKs by version, held in memory only; new wraps use the newest version.

    A keyring may be sealed (:meth:`sealed`, :meth:`wipe`): it then holds nothing and every use
    raises :class:`~openkms.domain.errors.Sealed`, until :meth:`load` fills it. It stays the
    same object throughout, so what holds it (the services) needs no rebuilding.
    """

    def __init__(self, root: RootKeyProvider, wrapped_keks: dict[int, bytes]) -> None:
        self._ring: _Ring | None = None
        self.load(root, wrapped_keks)

    @classmethod
    def sealed(cls) -> Keyring:
        """A keyring that holds nothing until :meth:`load`."""
        ring = cls.__new__(cls)
        ring._ring = None
        return ring

    def load(self, root: RootKeyProvider, wrapped_keks: dict[int, bytes]) -> None:
        """Unwrap every KEK under ``root`` (all or none: a failure leaves the keyring as it was)."""
        keks = {v: root.unwrap(blob, kek_aad(v, root.fingerprint)) for v, blob in wrapped_keks.items()}
        if not keks:
            raise ValueError("a keyring needs at least one KEK")
        self._ring = _Ring(max(keks), keks, {})

    def wipe(self) -> None:
        """Seal: drop every KEK and subkey. The bytes objects cannot be overwritten in CPython;
        dropping the last reference frees them (docs/root-of-trust.md, "Memory")."""
        self._ring = None

    @property
    def is_sealed(self) -> bool:
        return self._ring is None

    def _held(self) -> _Ring:
        # One read of the attribute per call: a wipe from another thread is seen whole.
        ring = self._ring
        if ring is None:
            raise Sealed
        return ring

    @property
    def current(self) -> int:
        return self._held().current

    @staticmethod
    def new_kek(root: RootKeyProvider, kek_version: int) -> bytes:
        """Generate a KEK and return it wrapped under the root, ready to store."""
        return root.wrap(secrets.token_bytes(32), kek_aad(kek_version, root.fingerprint))

    def wrap(self, plaintext: bytes, aad_for: bytes) -> tuple[int, bytes]:
        """Wrap under the current KEK; ``aad_for`` must already name ``self.current``."""
        ring = self._held()
        return ring.current, aead.seal(ring.keks[ring.current], plaintext, aad_for)

    def unwrap(self, kek_version: int, blob: bytes, aad: bytes) -> bytes:
        kek = self._held().keks.get(kek_version)
        if kek is None:
            raise aead.NotAuthentic
        return aead.open_(kek, blob, aad)

    def seal_for(self, label: bytes, plaintext: bytes, aad: bytes) -> tuple[int, bytes]:
        """Seal under the current KEK's subkey for ``label``: (KEK version, blob)."""
        ring = self._held()
        return ring.current, aead.seal(ring.subkey(ring.current, label), plaintext, aad)

    def open_for(self, kek_version: int, label: bytes, blob: bytes, aad: bytes) -> bytes:
        """Open what :meth:`seal_for` sealed under KEK ``kek_version``; raises
        :class:`~openkms.crypto.aead.NotAuthentic` for anything else (an unknown version too)."""
        ring = self._held()
        if kek_version not in ring.keks:
            raise aead.NotAuthentic
        return aead.open_(ring.subkey(kek_version, label), blob, aad)

    @property
    def versions(self) -> list[int]:
        return sorted(self._held().keks)

    def derived(self, label: bytes, kek_version: int | None = None) -> tuple[int, bytes]:
        """A key for ``label`` alone (the audit chain's MAC key): (KEK version, key), from the
        current KEK unless a version is named; an unknown version raises KeyError."""
        ring = self._held()
        version = ring.current if kek_version is None else kek_version
        if version not in ring.keks:
            raise KeyError(version)
        return version, ring.subkey(version, label)

    def digest(self, label: bytes, data: bytes) -> tuple[int, bytes]:
        """A keyed digest of ``data`` under the current KEK (see :mod:`openkms.crypto.keyed`)."""
        ring = self._held()
        return ring.current, keyed.digest(ring.keks[ring.current], label, data)

    def verify_digest(self, kek_version: int, label: bytes, data: bytes, expected: bytes) -> None:
        """Raises :class:`~openkms.crypto.keyed.DigestMismatch` unless ``data`` has the digest
        ``expected`` under KEK ``kek_version`` (an unknown version never matches)."""
        kek = self._held().keks.get(kek_version)
        if kek is None:
            raise keyed.DigestMismatch
        keyed.verify(kek, label, data, expected)

    def __repr__(self) -> str:
        ring = self._ring
        return "Keyring(sealed)" if ring is None else f"Keyring(versions={sorted(ring.keks)})"


@dataclass(slots=True)
class _Ring:
    """What an unsealed keyring holds, replaced whole (never edited) by load and wipe."""

    current: int
    keks: dict[int, bytes]
    subkeys: dict[tuple[int, bytes], bytes]

    def subkey(self, kek_version: int, label: bytes) -> bytes:
        # Derived once per (version, label): opening a token is on the request path.
        found = self.subkeys.get((kek_version, label))
        if found is None:
            found = self.subkeys[(kek_version, label)] = keyed.subkey(self.keks[kek_version], label)
        return found
