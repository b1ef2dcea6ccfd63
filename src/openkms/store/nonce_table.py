"""The embedded node's nonce records: hash tables in memory-mapped files, shared by every worker
process of the node and kept across restarts.

Every signed request records its nonce, so this is on the hot path of every request. In a
SQLite table each nonce, a random key, would dirty a B-tree page of its own, write it to the WAL
and copy it back at the checkpoint: a large share of an Encrypt (docs/performance.md). Here a
claim is a few probes of an open-addressing table under a file lock.

Layout of the directory (``DATA_DIR/nonces``, 0700; every file 0600):

- ``lock``: every claim holds an exclusive ``flock`` on it. Its first page is mapped and holds
  the *epoch*, a counter bumped whenever the set of table files changes; a process that finds
  it changed re-lists the files before it looks at any table.
- ``key``: 32 random bytes keying the digest, so nobody outside can craft colliding nonces.
- ``NNNNNNNN.tbl``: one generation of the table. A 64-byte header (magic, capacity, slots ever
  filled, latest expiry in it, creation time) and ``capacity`` slots of 16 bytes: the 64-bit
  keyed digest of (AccessKeyId, nonce), 0 for an empty slot, and the whole second the record
  expires at. Only the newest generation takes inserts; a claim looks in every generation that
  still holds an unexpired record. A generation gives way to a new one when half its slots are
  filled (the new one twice as large) or after :data:`ROTATE_AFTER` seconds (the new one sized
  for the rate the last one saw), and its file is deleted once its latest expiry has passed, so
  the files hold what the time window holds: at a steady 6,000 claims/s about 7.6 million records
  (the 5 minutes of the current table and the 16 minutes a record lives), 16 bytes each at a
  load under one half.

Durability: the maps are ``MAP_SHARED`` file pages, so a record is in the kernel's page cache
before the request it admits runs: a kill -9 of any process loses nothing. Dirty pages are
fsynced every :data:`SYNC_EVERY` seconds by a background thread, so an operating-system crash
may forget the last fraction of a second of nonces, as the WAL checkpoint of the SQLite table
did. Files are allocated in full when made (``posix_fallocate``), so a full disk fails the
rotation with an error instead of a SIGBUS on a write through the map.

Only the digest is kept, so two different claims whose digests collide would make the later
one refused as a replay (never one accepted twice): with 10 million live records the chance is
about one in 1.8·10^12 per claim, and without the key file nobody can aim for it.

Linear probing never empties a slot: an expired record's slot is reused by the next insert
that passes it, and a lookup runs to the first empty slot, so a record is always found
(:meth:`_Generation.probe`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import math
import mmap
import os
import secrets
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

CONTROL_MAGIC = b"OKNLOCK1"
TABLE_MAGIC = b"OKNTBL01"
CONTROL = struct.Struct("<8sQ")  # magic, epoch
HEADER = struct.Struct("<8sQQQd")  # magic, capacity, filled, latest expiry, created
HEADER_SIZE = 64
SLOT = struct.Struct("<QQ")  # digest (0: empty), expires at (whole seconds, rounded up)
SLOT_SIZE = SLOT.size
MIN_CAPACITY = 1 << 16  # 1 MiB
MAX_CAPACITY = 1 << 26  # 1 GiB; beyond it generations rotate at this size
ROTATE_AFTER = 300.0
SYNC_EVERY = 0.5
KEY_BYTES = 32

log = logging.getLogger("openkms.nonces")


class _Generation:
    """One table file, mapped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seq = int(path.stem)
        fd = os.open(path, os.O_RDWR)
        try:
            self.map = mmap.mmap(fd, 0)
        finally:
            os.close(fd)
        magic, self.capacity, _, _, self.created = HEADER.unpack_from(self.map, 0)
        if (
            magic != TABLE_MAGIC
            or self.capacity & (self.capacity - 1)
            or (len(self.map) != HEADER_SIZE + self.capacity * SLOT_SIZE)
        ):
            self.map.close()
            raise ValueError(f"{path} is not a nonce table")
        self.mask = self.capacity - 1
        self.dirty = False

    @property
    def filled(self) -> int:
        return int(HEADER.unpack_from(self.map, 0)[2])

    @property
    def latest_expiry(self) -> int:
        return int(HEADER.unpack_from(self.map, 0)[3])

    def probe(self, digest: int, now: float) -> tuple[int, bool, bool]:
        """Find ``digest``: (offset of its slot or of the slot to insert it at, or -1 if the
        table has none; live; empty).

        The probe runs to ``digest`` or to the first empty slot, remembering the first expired
        slot on the way: an insert reuses that one, an empty slot only if none was passed.
        """
        unpack = SLOT.unpack_from
        table = self.map
        i = digest & self.mask
        reuse = -1
        for _ in range(self.capacity):
            offset = HEADER_SIZE + i * SLOT_SIZE
            found, expires = unpack(table, offset)
            if found == digest:
                return offset, expires >= now, False
            if found == 0:
                return (offset, False, True) if reuse < 0 else (reuse, False, False)
            if reuse < 0 and expires < now:
                reuse = offset
            i = (i + 1) & self.mask
        return reuse, False, False  # every slot taken and live: no place (-1) for an insert

    def put(self, offset: int, digest: int, expires: int, empty: bool) -> None:
        SLOT.pack_into(self.map, offset, digest, expires)
        magic, capacity, filled, latest, created = HEADER.unpack_from(self.map, 0)
        HEADER.pack_into(self.map, 0, magic, capacity, filled + empty, max(latest, expires), created)
        self.dirty = True

    def close(self) -> None:
        self.map.close()


def _write_new(path: Path, capacity: int, now: float) -> None:
    """Make a zeroed table file of ``capacity`` slots, whole, then give it its name."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.posix_fallocate(fd, 0, HEADER_SIZE + capacity * SLOT_SIZE)
        os.pwrite(fd, HEADER.pack(TABLE_MAGIC, capacity, 0, 0, now), 0)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def _capacity_for(filled: int, capacity: int) -> int:
    """The next table's slots: twice as many when the last one filled half its slots, else the
    power of two that would have kept the last one's records under half (a rate that fell
    gives a smaller table); within the bounds."""
    want = max(MIN_CAPACITY, 2 * capacity if 2 * filled >= capacity else 2 * filled)
    return min(MAX_CAPACITY, 1 << (want - 1).bit_length())


class FileNonceStore:
    """Records nonces of one node's worker processes; see the module doc."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        directory.mkdir(mode=0o700, exist_ok=True)
        self._mutex = threading.Lock()  # flock does not exclude threads sharing the descriptor
        self._lock_fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        self._gens: list[_Generation] = []
        self._epoch = -1
        try:
            self._open()
        except BaseException:
            for gen in self._gens:
                gen.close()
            os.close(self._lock_fd)
            raise
        self._closed = threading.Event()
        self._syncer = threading.Thread(target=self._sync_loop, name="openkms-nonce-sync", daemon=True)
        self._syncer.start()

    def _open(self) -> None:
        with self._locked():
            if os.fstat(self._lock_fd).st_size < mmap.PAGESIZE:
                os.posix_fallocate(self._lock_fd, 0, mmap.PAGESIZE)
            self._control = mmap.mmap(self._lock_fd, mmap.PAGESIZE)
            if CONTROL.unpack_from(self._control, 0)[0] != CONTROL_MAGIC:
                CONTROL.pack_into(self._control, 0, CONTROL_MAGIC, 0)
            self._key = self._load_key()
            for leftover in self._dir.glob(".*.tmp"):  # a table or key half made by a crash
                leftover.unlink(missing_ok=True)
            # A process that died between naming a new table and bumping the epoch left a
            # table nobody else has listed: every start bumps it, so all processes re-list.
            self._bump()
            self._reload(time.time())

    # -- the claim ---------------------------------------------------------------------------

    def digest(self, access_key_id: str, nonce: str) -> int:
        ak = access_key_id.encode()
        h = hashlib.blake2b(len(ak).to_bytes(2, "little") + ak + nonce.encode(), digest_size=8, key=self._key)
        return int.from_bytes(h.digest(), "little") or 1  # 0 marks an empty slot

    def use(self, access_key_id: str, nonce: str, expires_at: float, now: float) -> bool:
        """Record the nonce; False if it was already used and has not expired."""
        digest = self.digest(access_key_id, nonce)
        # _locked() spelled out: this runs once per request, and a context manager costs more
        # than the claim's probes.
        with self._mutex:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                return self._claim(digest, math.ceil(expires_at), now)
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _claim(self, digest: int, expires: int, now: float) -> bool:
        if CONTROL.unpack_from(self._control, 0)[1] != self._epoch:
            self._reload(now)
        current = self._gens[-1]
        if 2 * current.filled >= current.capacity or now - current.created > ROTATE_AFTER:
            try:
                self._rotate(now)
            except OSError as exc:
                # No room for the next table (a full disk): claims go on in this one (fuller,
                # so slower) and the next claim tries again; only a table with no free slot
                # refuses claims (RuntimeError, answered 500).
                log.warning("nonce table %s could not give way to a new one: %s", current.path, exc)
        *older, current = self._gens
        for gen in older:
            if gen.latest_expiry >= now and gen.probe(digest, now)[1]:
                return False
        offset, live, empty = current.probe(digest, now)
        if live:
            return False
        if offset < 0:
            raise RuntimeError(f"nonce table {current.path} is full")
        current.put(offset, digest, expires, empty)
        return True

    def entries(self) -> int:
        """Slots filled in the tables this process has mapped: the records held, counting an
        expired one until its slot is reused or its table deleted. A header read per table."""
        with self._mutex:
            return sum(gen.filled for gen in self._gens)

    # -- generations -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._mutex:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _bump(self) -> None:
        magic, epoch = CONTROL.unpack_from(self._control, 0)
        CONTROL.pack_into(self._control, 0, magic, epoch + 1)

    def _reload(self, now: float) -> None:
        """Map the table files as they are now (under the lock); make the first if none."""
        names = sorted(p for p in os.listdir(self._dir) if p.endswith(".tbl") and p[:-4].isdigit())
        if not names:
            _write_new(self._dir / f"{1:08d}.tbl", MIN_CAPACITY, now)
            self._bump()
            names = [f"{1:08d}.tbl"]
        mapped = {gen.path.name: gen for gen in self._gens}
        gens = []
        for name in names:
            gen = mapped.pop(name, None)
            gens.append(gen if gen is not None else _Generation(self._dir / name))
        for gone in mapped.values():
            gone.close()
        self._gens = gens
        self._epoch = CONTROL.unpack_from(self._control, 0)[1]

    def _rotate(self, now: float) -> None:
        """Start a new generation sized from the current one's fill; drop expired ones."""
        current = self._gens[-1]
        capacity = _capacity_for(current.filled, current.capacity)
        _write_new(self._dir / f"{current.seq + 1:08d}.tbl", capacity, now)
        self._drop_expired(now)
        self._bump()
        self._reload(now)

    def _drop_expired(self, now: float) -> int:
        dropped = 0
        for gen in self._gens[:-1]:
            if gen.latest_expiry < now:
                gen.path.unlink(missing_ok=True)
                dropped += 1
        return dropped

    def prune(self, now: float) -> int:
        """Delete the table files whose every record has expired; the count of files."""
        with self._locked():
            if CONTROL.unpack_from(self._control, 0)[1] != self._epoch:
                self._reload(now)
            dropped = self._drop_expired(now)
            if dropped:
                self._bump()
                self._reload(now)
            return dropped

    # -- key, durability ---------------------------------------------------------------------

    def _load_key(self) -> bytes:
        path = self._dir / "key"
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            key = secrets.token_bytes(KEY_BYTES)
            tmp = self._dir / ".key.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, key)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, path)
        if len(key) != KEY_BYTES:
            raise ValueError(f"{path} is not a nonce key ({len(key)} bytes)")
        return key

    def sync(self) -> None:
        """fsync the tables this process wrote to since the last sync."""
        with self._mutex:
            dirty = [gen.path for gen in self._gens if gen.dirty]
            for gen in self._gens:
                gen.dirty = False
        for path in dirty:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:  # dropped meanwhile: nothing in it is needed
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _sync_loop(self) -> None:
        while not self._closed.wait(SYNC_EVERY):
            try:
                self.sync()
            except OSError:  # the next tick tries again; a claim never waits for this
                continue

    def close(self) -> None:
        self._closed.set()
        self._syncer.join(5)
        self.sync()
        with self._mutex:
            for gen in self._gens:
                gen.close()
            self._gens = []
            self._control.close()
            os.close(self._lock_fd)
