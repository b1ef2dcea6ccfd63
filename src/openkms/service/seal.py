"""Sealed and unsealed: whether this process holds the deployment's key-encryption keys.

A deployment whose root of trust starts sealed (``passphrase``, ``shamir``: service/roots.py)
opens with an empty :class:`~openkms.rootkey.Keyring`: every use of it raises
:class:`~openkms.domain.errors.Sealed`, which the server answers 503 ServiceUnavailableTemporary
(authentication too: AccessKey secrets are wrapped). :meth:`Seal.submit` takes operator input
(through the admin socket, admin.py) and, once it yields the root, checks the root against the
fingerprint the deployment records and unwraps the KEKs into the keyring; the root itself is
not kept. :meth:`Seal.seal` empties the keyring and every cache of unwrapped material again.

Each process (each worker of `serve --workers N`, each node over PostgreSQL) has its own Seal
and is unsealed on its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from openkms.rootkey import Keyring, RootKeyProvider
from openkms.service.roots import Unsealer, UnsealRefused

__all__ = ["Seal", "SealStatus", "UnsealRefused"]


@dataclass(frozen=True)
class SealStatus:
    sealed: bool
    provider: str
    # Shares given so far (shamir) and how many unseal: progress of `threshold`.
    progress: int
    threshold: int

    def as_dict(self) -> dict[str, object]:
        return {
            "Sealed": self.sealed,
            "Provider": self.provider,
            "Progress": self.progress,
            "Threshold": self.threshold,
        }


class Seal:
    """One process's seal over ``keyring``.

    ``load(root)`` unwraps the deployment's KEKs under ``root`` into the keyring; it raises
    :class:`UnsealRefused` when ``root`` is not the deployment's (fingerprint mismatch).
    ``unsealer`` is None for a provider with nothing to unseal (``file``).
    """

    def __init__(
        self,
        keyring: Keyring,
        provider: str,
        unsealer: Unsealer | None,
        load: Callable[[RootKeyProvider], None],
    ) -> None:
        self.keyring = keyring
        self.provider = provider
        self._unsealer = unsealer
        self._load = load
        self._lock = threading.Lock()
        # Called after sealing: each drops what it holds unwrapped (service/caches.py).
        self.on_seal: list[Callable[[], None]] = []

    @property
    def can_unseal(self) -> bool:
        """Whether this provider is sealed and unsealed by operator input."""
        return self._unsealer is not None

    @property
    def automatic(self) -> bool:
        """Whether this provider unseals without operator input (``kms``: the upstream is asked
        again while sealed, service/auto_unseal.py)."""
        return bool(getattr(self._unsealer, "automatic", False))

    @property
    def sealed(self) -> bool:
        return self.keyring.is_sealed

    def status(self) -> SealStatus:
        with self._lock:
            u = self._unsealer
            return SealStatus(
                self.sealed,
                self.provider,
                u.progress() if u is not None and self.sealed else 0,
                u.threshold if u is not None else 0,
            )

    def submit(self, material: str) -> SealStatus:
        """Give a passphrase or one share. Raises :class:`UnsealRefused` (the node stays sealed)
        for wrong input, or when this provider has nothing to unseal."""
        with self._lock:
            if self._unsealer is None:
                raise UnsealRefused(f"the {self.provider} root of trust has nothing to unseal")
            if self.sealed:
                root = self._unsealer.submit(material)
                if root is not None:
                    self._load(root)
        return self.status()

    def seal(self) -> SealStatus:
        """Empty the keyring and the caches of unwrapped material; partial shares are dropped.
        Raises :class:`UnsealRefused` for a provider that could not unseal again."""
        with self._lock:
            if self._unsealer is None:
                raise UnsealRefused(
                    f"the {self.provider} root of trust cannot be sealed: nothing could unseal it"
                )
            self._unsealer.reset()
            self.keyring.wipe()
        for drop in self.on_seal:
            drop()
        return self.status()
