"""The default root of trust: a 0600 key file in the data directory (or wherever
``--root-key-file`` points, for example a mounted secret kept off the database volume).

File format (48 bytes): ``b"OPENKMS1" || 32 random bytes || SHA-256(magic || key)[:8]``.
Creation is atomic and race-safe: a private temp file (O_EXCL, 0600) is written and fsynced,
then hard-linked into place; whoever links first wins and every process reads the winner.
The directory is fsynced before anyone uses the key.

Protection stated plainly: the database alone (a dump, a backup, a replica) is useless without
this file. Whoever controls the host controls the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from openkms.crypto import aead

MAGIC = b"OPENKMS1"
KEY_LEN = 32
FILE_LEN = len(MAGIC) + KEY_LEN + 8


class RootKeyError(RuntimeError):
    """The root key file is missing, unsafe or damaged; the server must not start."""


def _checksum(key: bytes) -> bytes:
    return hashlib.sha256(MAGIC + key).digest()[:8]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create(path: Path, key: bytes | None = None) -> bool:
    """Create the key file if absent, holding ``key`` (else a new random key). Returns True if
    this call created it."""
    if key is None:
        key = secrets.token_bytes(KEY_LEN)
    if len(key) != KEY_LEN:
        raise RootKeyError(f"a root key is {KEY_LEN} bytes")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, MAGIC + key + _checksum(key))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
        created = True
    except FileExistsError:
        created = False
    finally:
        os.unlink(tmp)
    _fsync_dir(path.parent)
    return created


def read(path: Path) -> bytes:
    """Read and check the key file; raises :class:`RootKeyError` with the reason."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise RootKeyError(f"root key file {path} does not exist") from None
    if not stat.S_ISREG(st.st_mode):
        raise RootKeyError(f"root key file {path} is not a regular file")
    if st.st_mode & 0o077:
        raise RootKeyError(
            f"root key file {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o}); it must be 0600"
        )
    if st.st_uid != os.geteuid():
        raise RootKeyError(f"root key file {path} is owned by another user")
    data = path.read_bytes()
    if len(data) != FILE_LEN or not data.startswith(MAGIC):
        raise RootKeyError(f"root key file {path} is truncated or not an openkms root key")
    key = data[len(MAGIC) : len(MAGIC) + KEY_LEN]
    if not hmac.compare_digest(_checksum(key), data[len(MAGIC) + KEY_LEN :]):
        raise RootKeyError(f"root key file {path} is damaged (checksum mismatch)")
    return key


def fingerprint(key: bytes) -> str:
    """What the database records of a root key: an HMAC of a fixed label, never the key."""
    return hmac.new(key, b"openkms root fingerprint v1", hashlib.sha256).hexdigest()[:32]


class FileRootKey:
    """Root-of-trust provider backed by a key file. Wraps KEKs with AES-256-GCM."""

    name = "file"

    def __init__(self, key: bytes) -> None:
        self._key = key
        self.fingerprint = fingerprint(key)

    @classmethod
    def load(cls, path: Path) -> FileRootKey:
        """The key of an existing key file; :class:`RootKeyError` if it is absent or unusable."""
        return cls(read(path))

    @classmethod
    def load_or_create(cls, path: Path) -> FileRootKey:
        if not path.exists():
            create(path)
        return cls(read(path))

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        return aead.seal(self._key, plaintext, aad)

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        return aead.open_(self._key, blob, aad)

    def __repr__(self) -> str:
        return f"FileRootKey(fingerprint={self.fingerprint!r})"
