"""The write generation of an embedded database: a number every committed write changes.

Every process that opens the SQLite file maps the same small file beside it
(``<database>-generation``, 0600). A write transaction, once committed, stores a fresh random
64-bit value there; readers compare the value with the one they saw when they last read from the
database, which costs a load from shared memory where a SELECT costs a query. That
lets a process keep what it read from mutable rows (key state, secrets) for as long as nothing
was written, and see the node's own writes at once (service/caches.py).

A random value rather than a counter: two processes that commit at once need no lock between
them, since whichever store lands last, the value differs from anything a reader saw before
either commit (a repeat has a chance of 2^-64). A torn read of a value being stored can only be a
mix of old and new bytes, which also differs from the old value unless it is the old value.

What this cannot see: a process killed between its commit and its store. Caches built on it
therefore also bound the age of an entry (service/caches.py), so such a write is seen within
that bound at the latest.
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

_VALUE = struct.Struct("=Q")
SUFFIX = "-generation"


class WriteGeneration:
    """The mapped value; :meth:`current` to read it, :meth:`advance` after a commit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            # The file's block is allocated here, so a full disk fails this call (ENOSPC) and
            # not a later store through the map, which would kill the process with SIGBUS. It
            # is asked for on every open: a file left sparse by a process that died before
            # storing is made whole, and one already whole costs nothing. Several processes may
            # start at once: this never shrinks nor changes what another wrote, and a
            # zero-filled start is as good a value as any.
            try:
                os.posix_fallocate(fd, 0, _VALUE.size)
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror, str(path)) from None
            self._map = mmap.mmap(fd, _VALUE.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        self._unpack = _VALUE.unpack_from
        self._pack = _VALUE.pack_into

    def current(self) -> int:
        return int(self._unpack(self._map, 0)[0])

    def advance(self) -> None:
        """Store a new value (called after a write committed, or may have)."""
        value = int.from_bytes(os.urandom(8), "little")
        while value == self.current():
            value = int.from_bytes(os.urandom(8), "little")
        self._pack(self._map, 0, value)
