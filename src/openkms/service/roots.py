"""The roots of trust a deployment may be created with, one row each in :data:`PROVIDERS`; the
deployment records its provider's name in ``meta`` (``root_provider``) and a node started with
another refuses.

A provider answers three questions:

- ``create``: at `openkms init`, the root key and what the deployment must record of it (meta
  values written in init's one transaction), what to show the operator once (Shamir shares),
  and how to undo what it wrote outside the database if init is refused.
- ``start``: at start, the root, or None when the node starts sealed.
- ``unsealer``: for a provider that starts sealed, what turns operator input (a passphrase, a
  share at a time) into the root.

A provider whose root lives outside the database and the data directory (a token) is one more
class here over its rootkey module, and one more row.

``file`` is the plain key file; ``passphrase`` and ``shamir`` keep the root in ``meta``, sealed
(rootkey/passphrase.py, rootkey/shamir.py), so every node of a PostgreSQL deployment and every
backup carries it, useless without the passphrase or the shares.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from openkms.config import Settings
from openkms.crypto import aead
from openkms.rootkey import (
    FileRootKey,
    MemoryRootKey,
    Pkcs11Unavailable,
    RootKeyError,
    RootKeyProvider,
    shamir,
)
from openkms.rootkey import file as root_file
from openkms.rootkey import passphrase as root_passphrase
from openkms.service.token_root import open_token_root

__all__ = [
    "DEFAULT_PROVIDER",
    "PROVIDERS",
    "Created",
    "InitRequest",
    "Provider",
    "RootError",
    "UnsealRefused",
    "Unsealer",
]

DEFAULT_PROVIDER = "file"
# Shares given to a node that has not reached the threshold are forgotten after this long.
SHARE_TIMEOUT = 600.0


class RootError(RuntimeError):
    """The root of trust cannot be made or found (the message says why); nothing is served."""


class UnsealRefused(Exception):
    """Operator input that does not unseal (a wrong passphrase, a bad share, a share set that
    does not recombine the root); the node stays sealed. The message is safe to show."""


@dataclass(frozen=True)
class InitRequest:
    """What `openkms init` was given for the provider."""

    passphrase: bytes | None = None
    shares: int = 5
    threshold: int = 3


@dataclass
class Created:
    root: RootKeyProvider
    records: dict[str, str]
    shares: list[str] = field(default_factory=list)
    undo: Callable[[], None] = lambda: None


class Unsealer(Protocol):
    """Turns operator input into the root; keeps partial input (shares) for a while."""

    threshold: int

    def progress(self) -> int: ...

    def submit(self, material: str) -> RootKeyProvider | None:
        """The root once enough was given, else None; :class:`UnsealRefused` for input that
        is wrong (partial input is then discarded)."""
        ...

    def reset(self) -> None: ...


class Provider(Protocol):
    name: str

    def create(self, settings: Settings, request: InitRequest) -> Created: ...

    def start(self, settings: Settings, records: Mapping[str, str]) -> RootKeyProvider | None: ...

    def unsealer(self, records: Mapping[str, str]) -> Unsealer | None: ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _sealed_root(records: Mapping[str, str]) -> bytes:
    text = records.get("root_sealed")
    if text is None:
        raise RootError("the deployment records no sealed root key (meta root_sealed)")
    return base64.b64decode(text)


class FileProvider:
    """The root key file (rootkey/file.py); nothing to unseal."""

    name = "file"

    def create(self, settings: Settings, request: InitRequest) -> Created:
        path: Path = settings.root_key_path
        old_umask = os.umask(0o077)
        try:
            made = not path.exists() and root_file.create(path)
            root = FileRootKey.load(path)
        except (RootKeyError, OSError) as exc:
            raise RootError(str(exc)) from exc
        finally:
            os.umask(old_umask)
        # A key file this init wrote is removed if init is refused (another deployment there).
        return Created(root, {}, undo=(lambda: path.unlink(missing_ok=True)) if made else (lambda: None))

    def start(self, settings: Settings, records: Mapping[str, str]) -> RootKeyProvider | None:
        try:
            return FileRootKey.load(settings.root_key_path)
        except RootKeyError as exc:
            raise RootError(str(exc)) from exc

    def unsealer(self, records: Mapping[str, str]) -> Unsealer | None:
        return None


class PassphraseProvider:
    """The root sealed under Argon2id(passphrase) in meta; starts sealed."""

    name = "passphrase"

    def create(self, settings: Settings, request: InitRequest) -> Created:
        if request.passphrase is None or len(request.passphrase) < root_passphrase.MIN_PASSPHRASE:
            raise RootError(
                f"the passphrase provider needs a passphrase of at least "
                f"{root_passphrase.MIN_PASSPHRASE} characters"
            )
        key = secrets.token_bytes(root_file.KEY_LEN)
        blob = root_passphrase.seal_root(request.passphrase, key)
        return Created(MemoryRootKey(key), {"root_sealed": _b64(blob)})

    def start(self, settings: Settings, records: Mapping[str, str]) -> RootKeyProvider | None:
        return None

    def unsealer(self, records: Mapping[str, str]) -> Unsealer | None:
        return _PassphraseUnsealer(_sealed_root(records))


class _PassphraseUnsealer:
    threshold = 1

    def __init__(self, blob: bytes) -> None:
        self._blob = blob

    def progress(self) -> int:
        return 0

    def submit(self, material: str) -> RootKeyProvider | None:
        try:
            return MemoryRootKey(root_passphrase.open_root(material.encode(), self._blob))
        except root_passphrase.WrongPassphrase:
            raise UnsealRefused("wrong passphrase; the node stays sealed") from None

    def reset(self) -> None:
        pass


class ShamirProvider:
    """The root sealed under an unseal key split into shares; starts sealed."""

    name = "shamir"

    def create(self, settings: Settings, request: InitRequest) -> Created:
        n, t = request.shares, request.threshold
        if not 2 <= t <= n <= 255:
            raise RootError("shamir needs 2 <= --threshold <= --shares <= 255")
        key = secrets.token_bytes(root_file.KEY_LEN)
        unseal_key = secrets.token_bytes(shamir.SECRET_LEN)
        set_id = secrets.token_hex(4)
        shares = [s.text() for s in shamir.split(unseal_key, n, t, set_id)]
        records = {
            "root_sealed": _b64(shamir.seal_root(unseal_key, key, set_id)),
            "shamir_set": set_id,
            "shamir_threshold": str(t),
            "shamir_shares": str(n),
        }
        return Created(MemoryRootKey(key), records, shares=shares)

    def start(self, settings: Settings, records: Mapping[str, str]) -> RootKeyProvider | None:
        return None

    def unsealer(self, records: Mapping[str, str]) -> Unsealer | None:
        return _ShamirUnsealer(
            _sealed_root(records), records.get("shamir_set", ""), int(records.get("shamir_threshold", "0"))
        )


class _ShamirUnsealer:
    def __init__(
        self, blob: bytes, set_id: str, threshold: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if threshold < 2:
            raise RootError("the deployment records no share threshold (meta shamir_threshold)")
        self._blob = blob
        self._set_id = set_id
        self.threshold = threshold
        self._clock = clock
        self._shares: list[shamir.Share] = []
        self._first = 0.0

    def progress(self) -> int:
        if self._shares and self._clock() - self._first > SHARE_TIMEOUT:
            self.reset()
        return len(self._shares)

    def submit(self, material: str) -> RootKeyProvider | None:
        try:
            share = shamir.Share.parse(material)
        except shamir.BadShare as exc:
            raise UnsealRefused(f"share refused: {exc}; the shares given so far are kept") from None
        if share.set_id != self._set_id:
            raise UnsealRefused(
                "share refused: it belongs to another share set (another deployment or split); "
                "the shares given so far are kept"
            )
        if self.progress() == 0:
            self._first = self._clock()
        if any(s.x == share.x for s in self._shares):
            raise UnsealRefused("share refused: this share was given already")
        self._shares.append(share)
        if len(self._shares) < self.threshold:
            return None
        shares, self._shares = self._shares, []
        try:
            return MemoryRootKey(shamir.open_root(shamir.combine(shares), self._blob, self._set_id))
        except (aead.NotAuthentic, shamir.BadShare):
            raise UnsealRefused(
                "the shares do not recombine the root key (one of them is wrong); the node stays "
                "sealed and the shares given are discarded"
            ) from None

    def reset(self) -> None:
        self._shares = []


class Pkcs11Provider:
    """The root as a non-extractable key on a PKCS#11 token (rootkey/pkcs11.py), made there at
    init; nothing to unseal by hand (the PIN comes from a file or the environment)."""

    name = "pkcs11"

    def create(self, settings: Settings, request: InitRequest) -> Created:
        return Created(self._open(settings, create=True), {})

    def start(self, settings: Settings, records: Mapping[str, str]) -> RootKeyProvider | None:
        return self._open(settings, create=False)

    def unsealer(self, records: Mapping[str, str]) -> Unsealer | None:
        return None

    @staticmethod
    def _open(settings: Settings, *, create: bool) -> RootKeyProvider:
        try:
            return open_token_root(settings, create=create)
        except Pkcs11Unavailable as exc:
            raise RootError(str(exc)) from None


# The providers `openkms init --root-provider` offers. A provider is one row here.
PROVIDERS: dict[str, Provider] = {
    "file": FileProvider(),
    "passphrase": PassphraseProvider(),
    "shamir": ShamirProvider(),
    "pkcs11": Pkcs11Provider(),
}
