"""The key hierarchy below the root: versioned key-encryption keys (KEKs) and the wrapping of
everything stored secret (key-version material, AccessKey secrets) under the current KEK.

KEKs are added and made current online (`openkms operator rekey`, service/rekey.py): a serving
process learns of a KEK added after it started from the deployment's state (:class:`KekState`,
read through the source :meth:`Keyring.attach` gives it): at once when it meets a version it
does not hold, and every ``interval`` seconds in the background, which is also how it learns
which version new wraps use. A KEK added that way comes through a bridge: the new KEK wrapped
under one the process already holds (the process keeps no root after start or unseal).

Every wrap binds associated data naming what is wrapped (key id, version id, spec, KEK version),
so a wrapped row copied onto another key or version does not unwrap.

What is sealed for a purpose other than storage (STS SecurityTokens) is sealed under a subkey
of a KEK derived for that purpose alone (HKDF-SHA256, its label as info): every node sharing
the root and the database derives the same subkey, and a blob sealed for one purpose never
opens as another's.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from openkms.crypto import aead, keyed
from openkms.domain.errors import Sealed

if TYPE_CHECKING:
    from openkms.rootkey import RootKeyProvider


def kek_aad(kek_version: int, fingerprint: str) -> bytes:
    return f"openkms/kek/v1|{kek_version}|{fingerprint}".encode()


def bridge_aad(from_version: int, to_version: int) -> bytes:
    """A KEK wrapped under another KEK, so a running process can take it up (see the module)."""
    return f"openkms/kek-bridge/v1|{from_version}|{to_version}".encode()


def retained_aad(kek_version: int, label: bytes, under: int) -> bytes:
    """A retired KEK's subkey for one label (the audit chains' MAC key), kept under KEK ``under``."""
    return b"openkms/retained/v1|%d|%s|%d" % (kek_version, label, under)


_log = logging.getLogger("openkms.keyring")
# A miss (a version this process does not hold) reads the deployment's state at most this often:
# a caller naming versions at random (a forged token's header) costs no more than one read a second.
MISS_READ_EVERY = 1.0


@dataclass(frozen=True, slots=True)
class KekState:
    """What the deployment records of its KEKs for a running process: the version new wraps use;
    bridges, by the version they carry: (the version wrapping it, blob); retained subkeys of retired
    KEKs, by (retired version, label): (the version wrapping it, blob)."""

    current: int
    bridges: Mapping[int, tuple[int, bytes]] = field(default_factory=dict)
    retained: Mapping[tuple[int, bytes], tuple[int, bytes]] = field(default_factory=dict)


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
    """Unwrapped KEKs by version, held in memory only; new wraps use the current version (the
    deployment's choice, else the newest).

    A keyring may be sealed (:meth:`sealed`, :meth:`wipe`): it then holds nothing and every use
    raises :class:`~openkms.domain.errors.Sealed`, until :meth:`load` fills it. It stays the
    same object throughout, so what holds it (the services) needs no rebuilding.
    """

    def __init__(
        self, root: RootKeyProvider, wrapped_keks: dict[int, bytes], current: int | None = None
    ) -> None:
        self._ring: _Ring | None = None
        self._source: Callable[[], KekState] | None = None
        self._interval = 0.0
        self._checked = 0.0
        self._missed = -MISS_READ_EVERY
        self._lock = threading.Lock()
        self._checking = 0  # the pid whose thread is reading the state (0: none)
        self.load(root, wrapped_keks, current)

    @classmethod
    def sealed(cls) -> Keyring:
        """A keyring that holds nothing until :meth:`load`."""
        ring = cls.__new__(cls)
        ring._ring = None
        ring._source = None
        ring._interval = 0.0
        ring._checked = 0.0
        ring._missed = -MISS_READ_EVERY
        ring._lock = threading.Lock()
        ring._checking = 0
        return ring

    def load(
        self,
        root: RootKeyProvider,
        wrapped_keks: dict[int, bytes],
        current: int | None = None,
        retained: Mapping[tuple[int, bytes], tuple[int, bytes]] | None = None,
    ) -> None:
        """Unwrap every KEK under ``root`` (all or none: a failure leaves the keyring as it was).
        ``current``: the version new wraps use (default: the newest)."""
        keks = {v: root.unwrap(blob, kek_aad(v, root.fingerprint)) for v, blob in wrapped_keks.items()}
        if not keks:
            raise ValueError("a keyring needs at least one KEK")
        chosen = max(keks) if current is None else current
        if chosen not in keks:
            raise ValueError(f"the current KEK version {chosen} is not among the KEKs")
        ring = _Ring(chosen, keks, {})
        ring.retained = _open_retained(keks, retained or {})
        with self._lock:
            self._ring = ring
            self._checked = time.monotonic()

    def attach(self, source: Callable[[], KekState] | None, interval: float) -> None:
        """Read the deployment's KEK state from ``source`` on a miss and every ``interval``
        seconds (in a background thread, started by a use of the keyring)."""
        self._source = source
        self._interval = interval

    def refresh(self) -> None:
        """Read the deployment's KEK state at once and take up what it adds (see the module)."""
        source = self._source
        if source is None:
            return
        state = source()
        with self._lock:
            ring = self._ring
            if ring is None:
                return
            self._ring = ring.learned(state)
            self._checked = time.monotonic()

    def _tick(self) -> None:
        # On the request path: one clock read; the state is read by a thread of its own.
        if self._source is None or time.monotonic() - self._checked < self._interval:
            return
        with self._lock:
            # A reader started before a fork (serve --workers) is not this process's.
            if self._checking == os.getpid():
                return
            self._checking = os.getpid()
            self._checked = time.monotonic()
        threading.Thread(target=self._background, name="openkms-keyring", daemon=True).start()

    def _background(self) -> None:
        try:
            self.refresh()
        except Exception:  # noqa: BLE001 - a background thread: anything is logged, then retried
            _log.warning("reading the deployment's KEKs failed; the keyring is unchanged", exc_info=True)
        finally:
            self._checking = 0

    def _miss(self, kek_version: int) -> _Ring:
        """The ring after a use of ``kek_version`` it lacks: read the state again (at most once
        a second), in case the version was added after this process took up the state."""
        now = time.monotonic()
        if self._source is not None and now - self._missed >= MISS_READ_EVERY:
            # Counted once it has read: a read refused on this thread (the event loop, which may
            # not wait on PostgreSQL) is read again by the thread the request moves to.
            self.refresh()
            self._missed = now
        return self._held()

    def wipe(self) -> None:
        """Seal: drop every KEK and subkey. The bytes objects cannot be overwritten in CPython;
        dropping the last reference frees them (docs/root-of-trust.md, "Memory")."""
        with self._lock:
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

    def _for_wrap(self) -> _Ring:
        self._tick()
        return self._held()

    def _holding(self, kek_version: int) -> _Ring:
        ring = self._held()
        if kek_version not in ring.keks:
            ring = self._miss(kek_version)
        return ring

    @property
    def current(self) -> int:
        return self._for_wrap().current

    @staticmethod
    def new_kek(root: RootKeyProvider, kek_version: int) -> bytes:
        """Generate a KEK and return it wrapped under the root, ready to store."""
        return root.wrap(secrets.token_bytes(32), kek_aad(kek_version, root.fingerprint))

    def export(self, kek_version: int) -> bytes:
        """KEK ``kek_version`` itself, to wrap under another root or KEK (rekey and root
        rotation, service/rekey.py; never stored or shown as it is)."""
        ring = self._holding(kek_version)
        if kek_version not in ring.keks:
            raise KeyError(kek_version)
        return ring.keks[kek_version]

    def wrap(self, plaintext: bytes, aad_for: bytes) -> tuple[int, bytes]:
        """Wrap under the current KEK; ``aad_for`` must already name ``self.current``."""
        ring = self._for_wrap()
        return ring.current, aead.seal(ring.keks[ring.current], plaintext, aad_for)

    def unwrap(self, kek_version: int, blob: bytes, aad: bytes) -> bytes:
        kek = self._holding(kek_version).keks.get(kek_version)
        if kek is None:
            raise aead.NotAuthentic
        return aead.open_(kek, blob, aad)

    def seal_for(self, label: bytes, plaintext: bytes, aad: bytes) -> tuple[int, bytes]:
        """Seal under the current KEK's subkey for ``label``: (KEK version, blob)."""
        ring = self._for_wrap()
        return ring.current, aead.seal(ring.subkey(ring.current, label), plaintext, aad)

    def open_for(self, kek_version: int, label: bytes, blob: bytes, aad: bytes) -> bytes:
        """Open what :meth:`seal_for` sealed under KEK ``kek_version``; raises
        :class:`~openkms.crypto.aead.NotAuthentic` for anything else (an unknown version too)."""
        ring = self._holding(kek_version)
        if kek_version not in ring.keks:
            raise aead.NotAuthentic
        return aead.open_(ring.subkey(kek_version, label), blob, aad)

    @property
    def versions(self) -> list[int]:
        return sorted(self._held().keks)

    def derived(self, label: bytes, kek_version: int | None = None) -> tuple[int, bytes]:
        """A key for ``label`` alone (the audit chain's MAC key): (KEK version, key), from the
        current KEK unless a version is named; an unknown version raises KeyError. A retired
        KEK's subkey kept for its label (:func:`retained_aad`) still answers."""
        ring = self._for_wrap() if kek_version is None else self._holding(kek_version)
        version = ring.current if kek_version is None else kek_version
        if version not in ring.keks:
            kept = ring.retained.get((version, label))
            if kept is None:
                raise KeyError(version)
            return version, kept
        return version, ring.subkey(version, label)

    def digest(self, label: bytes, data: bytes) -> tuple[int, bytes]:
        """A keyed digest of ``data`` under the current KEK (see :mod:`openkms.crypto.keyed`)."""
        ring = self._for_wrap()
        return ring.current, keyed.digest(ring.keks[ring.current], label, data)

    def verify_digest(self, kek_version: int, label: bytes, data: bytes, expected: bytes) -> None:
        """Raises :class:`~openkms.crypto.keyed.DigestMismatch` unless ``data`` has the digest
        ``expected`` under KEK ``kek_version`` (an unknown version never matches)."""
        ring = self._holding(kek_version)
        kek = ring.keks.get(kek_version)
        if kek is not None:
            keyed.verify(kek, label, data, expected)
            return
        kept = ring.retained.get((kek_version, label))  # a retired KEK's subkey for ``label``
        if kept is None or not hmac.compare_digest(hmac.new(kept, data, hashlib.sha256).digest(), expected):
            raise keyed.DigestMismatch

    def __repr__(self) -> str:
        ring = self._ring
        if ring is None:
            return "Keyring(sealed)"
        return f"Keyring(versions={sorted(ring.keks)}, current={ring.current})"


def _open_retained(
    keks: Mapping[int, bytes], retained: Mapping[tuple[int, bytes], tuple[int, bytes]]
) -> dict[tuple[int, bytes], bytes]:
    opened = {}
    for (version, label), (under, blob) in retained.items():
        kek = keks.get(under)
        if kek is None or version in keks:
            continue
        try:
            opened[(version, label)] = aead.open_(kek, blob, retained_aad(version, label, under))
        except aead.NotAuthentic:
            _log.warning("the retained key of KEK version %d does not open; left", version)
    return opened


@dataclass(slots=True)
class _Ring:
    """What an unsealed keyring holds, replaced whole (never edited) by load, refresh and wipe."""

    current: int
    keks: dict[int, bytes]
    subkeys: dict[tuple[int, bytes], bytes]
    retained: dict[tuple[int, bytes], bytes] = field(default_factory=dict)

    def subkey(self, kek_version: int, label: bytes) -> bytes:
        # Derived once per (version, label): opening a token is on the request path.
        found = self.subkeys.get((kek_version, label))
        if found is None:
            found = self.subkeys[(kek_version, label)] = keyed.subkey(self.keks[kek_version], label)
        return found

    def learned(self, state: KekState) -> _Ring:
        """This ring with what ``state`` adds: KEKs over bridges from KEKs held (a chain of
        them too), the current version if it is held. A bridge that does not open is left."""
        keks = dict(self.keks)
        grew = True
        while grew:
            grew = False
            for to, (frm, blob) in state.bridges.items():
                if to in keks or frm not in keks:
                    continue
                try:
                    keks[to] = aead.open_(keks[frm], blob, bridge_aad(frm, to))
                except aead.NotAuthentic:
                    _log.warning("the bridge to KEK version %d does not open; left", to)
                    continue
                grew = True
        current = state.current if state.current in keks else self.current
        retained = {**self.retained, **_open_retained(keks, state.retained)}
        return _Ring(current, keks, self.subkeys, retained)
