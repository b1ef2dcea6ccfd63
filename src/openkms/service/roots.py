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

A provider whose root lives outside the database and the data directory (a token, an upstream
KMS) is one more class here over its rootkey module, and one more row.

``file`` is the plain key file; ``passphrase`` and ``shamir`` keep the root in ``meta``, sealed
(rootkey/passphrase.py, rootkey/shamir.py), so every node of a PostgreSQL deployment and every
backup carries it, useless without the passphrase or the shares. ``kms`` keeps it in ``meta``
as a CiphertextBlob of an upstream KMS (rootkey/upstream.py), which the node asks to decrypt at
start and, while that fails, again in the background (service/auto_unseal.py).
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from openkms.config import ConfigError, Settings
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
from openkms.rootkey.upstream import (
    Upstream,
    UpstreamRefused,
    UpstreamSdkMissing,
    UpstreamUnavailable,
)
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
log = logging.getLogger("openkms.roots")
# Shares given to a node that has not reached the threshold are forgotten after this long.
SHARE_TIMEOUT = 600.0


class RootError(RuntimeError):
    """The root of trust cannot be made or found (the message says why); nothing is served."""


class UnsealRefused(Exception):
    """Operator input that does not unseal (a wrong passphrase, a bad share, a share set that
    does not recombine the root); the node stays sealed. The message is safe to show.
    ``final``: asking again cannot help (an upstream that refuses the blob itself)."""

    def __init__(self, message: str, *, final: bool = False) -> None:
        super().__init__(message)
        self.final = final


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


class KmsProvider:
    """The root as a CiphertextBlob of an upstream KMS (Alibaba Cloud KMS, or another openkms)
    in meta, bound by an EncryptionContext naming this deployment; decrypted at start through
    the official SDK. While the upstream cannot answer the node stays sealed and asks again
    (:attr:`_KmsUnsealer.automatic`; `openkms operator unseal` asks at once)."""

    name = "kms"

    def __init__(self) -> None:
        # The upstream each deployment id was created or started with in this process: the
        # unsealer is asked for without the settings (``unsealer(records)``), after either.
        self._upstreams: dict[str, Upstream] = {}

    def create(self, settings: Settings, request: InitRequest) -> Created:
        if not settings.kms_key_id:
            raise RootError("root_provider kms needs kms_key_id: the upstream key that encrypts the root key")
        upstream = _upstream(settings)
        deployment = secrets.token_hex(16)
        key = secrets.token_bytes(root_file.KEY_LEN)
        try:
            blob = upstream.encrypt(settings.kms_key_id, key, _kms_context(deployment))
        except RootKeyError as exc:
            raise RootError(f"the upstream KMS did not encrypt the root key: {exc}") from None
        self._upstreams[deployment] = upstream
        records = {
            "kms_root_blob": blob,
            "kms_deployment": deployment,
            "kms_root_key_id": settings.kms_key_id,
        }
        return Created(MemoryRootKey(key), records)

    def start(self, settings: Settings, records: Mapping[str, str]) -> RootKeyProvider | None:
        unsealer = _KmsUnsealer(_upstream(settings), records)
        self._upstreams[records["kms_deployment"]] = unsealer.upstream
        try:
            return unsealer.submit("")
        except UnsealRefused as exc:
            if exc.final:
                raise RootError(str(exc)) from None
            log.warning("starting sealed: %s; asking the upstream KMS again in the background", exc)
            return None

    def unsealer(self, records: Mapping[str, str]) -> Unsealer | None:
        upstream = self._upstreams.get(records.get("kms_deployment", ""))
        if upstream is None:
            raise RootError("the kms root provider was asked to unseal a deployment it did not start")
        return _KmsUnsealer(upstream, records)


def _kms_context(deployment: str) -> dict[str, str]:
    return {"openkms": "root", "deployment": deployment}


def _upstream(settings: Settings) -> Upstream:
    """The upstream KMS the settings name; RootError naming what is missing."""
    if not settings.kms_endpoint or not settings.kms_access_key_id:
        raise RootError("root_provider kms needs kms_endpoint and kms_access_key_id")
    try:
        secret = settings.kms_secret()
    except ConfigError as exc:
        raise RootError(str(exc)) from None
    if secret is None:
        raise RootError(
            "root_provider kms needs the upstream AccessKey secret: kms_access_key_secret_file "
            "or OPENKMS_KMS_ACCESS_KEY_SECRET"
        )
    return Upstream(
        settings.kms_endpoint,
        settings.kms_region or settings.region,
        settings.kms_access_key_id,
        secret.reveal(),
        settings.kms_security_token or None,
        str(settings.kms_ca_file) if settings.kms_ca_file is not None else None,
    )


class _KmsUnsealer:
    """Asks the upstream to decrypt the recorded blob; the operator's input is not read."""

    threshold = 1
    # The node unseals itself: it asks again in the background while sealed.
    automatic = True

    def __init__(self, upstream: Upstream, records: Mapping[str, str]) -> None:
        blob, deployment = records.get("kms_root_blob"), records.get("kms_deployment")
        if not blob or not deployment:
            raise RootError("the deployment records no upstream blob (meta kms_root_blob, kms_deployment)")
        self.upstream = upstream
        self._blob = blob
        self._context = _kms_context(deployment)

    def progress(self) -> int:
        return 0

    def submit(self, material: str) -> RootKeyProvider | None:
        try:
            key = self.upstream.decrypt(self._blob, self._context)
        except UpstreamUnavailable as exc:
            raise UnsealRefused(f"{exc}; the node stays sealed") from None
        except UpstreamSdkMissing as exc:
            raise UnsealRefused(str(exc), final=True) from None
        except UpstreamRefused as exc:
            raise UnsealRefused(
                f"{exc} (the blob or its context is not this deployment's)", final=True
            ) from None
        if len(key) != root_file.KEY_LEN:
            raise UnsealRefused("the upstream KMS decrypted a root key of the wrong length", final=True)
        return MemoryRootKey(key)

    def reset(self) -> None:
        pass


# The providers `openkms init --root-provider` offers. A provider is one row here.
PROVIDERS: dict[str, Provider] = {
    "file": FileProvider(),
    "passphrase": PassphraseProvider(),
    "shamir": ShamirProvider(),
    "pkcs11": Pkcs11Provider(),
    "kms": KmsProvider(),
}
