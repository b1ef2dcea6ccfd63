"""The ``passphrase`` root of trust: the 32-byte root key sealed under a key derived from an
operator's passphrase with Argon2id (memory-hard, so a stolen database cannot be searched for
the passphrase cheaply).

Sealed format, stored in the deployment's ``meta`` table (so every node of a PostgreSQL
deployment, and a backup, carries it): ``b"OKRP1" || memory_kib(4) || iterations(4) ||
lanes(4) || salt(16) || aead.seal(derived, root_key, b"openkms/root/passphrase/v1")``. The cost
parameters travel with the blob, so raising them for new deployments keeps old ones opening.
"""

from __future__ import annotations

import os
import struct

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from openkms.crypto import aead

__all__ = ["MIN_PASSPHRASE", "WrongPassphrase", "open_root", "seal_root"]

_MAGIC = b"OKRP1"
_AAD = b"openkms/root/passphrase/v1"
_PARAMS = struct.Struct(">III")
_SALT_LEN = 16
# About 64 MiB and a fifth of a second per try on a small machine: each unseal pays it once.
MEMORY_KIB = 64 * 1024
ITERATIONS = 3
LANES = 4
# A passphrase shorter than this is refused at init: Argon2id slows a search, it does not make
# a short passphrase long.
MIN_PASSPHRASE = 12


class WrongPassphrase(Exception):
    """The sealed root does not open under this passphrase (or the blob was altered)."""


def _derive(passphrase: bytes, salt: bytes, memory_kib: int, iterations: int, lanes: int) -> bytes:
    kdf = Argon2id(salt=salt, length=32, iterations=iterations, lanes=lanes, memory_cost=memory_kib)
    return kdf.derive(passphrase)


def seal_root(passphrase: bytes, root_key: bytes) -> bytes:
    """The root key sealed under ``passphrase`` with a fresh salt."""
    salt = os.urandom(_SALT_LEN)
    key = _derive(passphrase, salt, MEMORY_KIB, ITERATIONS, LANES)
    head = _MAGIC + _PARAMS.pack(MEMORY_KIB, ITERATIONS, LANES) + salt
    return head + aead.seal(key, root_key, _AAD + head)


def open_root(passphrase: bytes, blob: bytes) -> bytes:
    """The root key; :class:`WrongPassphrase` for any other passphrase or an altered blob."""
    start = len(_MAGIC) + _PARAMS.size
    if not blob.startswith(_MAGIC) or len(blob) < start + _SALT_LEN:
        raise WrongPassphrase
    memory_kib, iterations, lanes = _PARAMS.unpack(blob[len(_MAGIC) : start])
    # Bounds keep a tampered blob from asking for gigabytes or hours.
    if not (8 * lanes <= memory_kib <= 4 * 1024 * 1024 and 1 <= iterations <= 64 and 1 <= lanes <= 64):
        raise WrongPassphrase
    head = blob[: start + _SALT_LEN]
    key = _derive(passphrase, blob[start : start + _SALT_LEN], memory_kib, iterations, lanes)
    try:
        return aead.open_(key, blob[len(head) :], _AAD + head)
    except aead.NotAuthentic:
        raise WrongPassphrase from None
