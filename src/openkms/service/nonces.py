"""The replay guard: a nonce is single-use per AccessKey within the time window, across every
worker process and node that shares the store, and across restarts.

Every signed request records its nonce before its action runs, so this is on the hot path.
Two stores keep the records: on the embedded default the node's own files
(:class:`openkms.store.nonce_table.FileNonceStore`, shared by the worker processes through
file-backed maps), on PostgreSQL the ``nonces`` table of the shared database
(:class:`SQLNonceStore`, statements in store/nonces.py), so that every node of the deployment
sees every nonce. The INSERT is the whole check there: the primary key (access_key_id, nonce)
makes a second use fail atomically, in whichever node it arrives.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from openkms.store import Conflict, Database
from openkms.store import nonces as repo

PRUNE_BATCH = 2000
# Between prune batches, so that waiting inserts get the write lock.
PRUNE_PAUSE = 0.005


class NonceStore(Protocol):
    """Where the records live: the node's files (``FileNonceStore``) or the shared database's
    table (:class:`SQLNonceStore`)."""

    def use(self, access_key_id: str, nonce: str, expires_at: float, now: float) -> bool:
        """Record the nonce until ``expires_at``; False if it was already used and its record
        has not expired by ``now``."""
        ...

    def prune(self, now: float) -> int:
        """Drop records expired by ``now``; how many (records or files, by store)."""
        ...

    def close(self) -> None: ...


class SQLNonceStore:
    """The records as rows of the shared database (PostgreSQL deployments)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def use(self, access_key_id: str, nonce: str, expires_at: float, now: float) -> bool:
        """Record the nonce; False if it was already used and has not expired."""
        try:
            repo.record(self._db, access_key_id, nonce, expires_at)
            return True
        except Conflict:
            return repo.reclaim(self._db, access_key_id, nonce, expires_at, now)

    def close(self) -> None:
        """The database is the deployment's; nothing of its own to release."""

    def prune(self, now: float, batch: int = PRUNE_BATCH) -> int:
        """Delete expired records, ``batch`` rows per transaction.

        Every request inserts into this table, on the event loop on SQLite: one DELETE of a
        minute's worth of records would hold the write lock for seconds and stall them all,
        where a batch holds it for milliseconds.
        """
        total = 0
        while True:
            with self._db.write() as tx:
                deleted = repo.delete_expired(tx, now, batch)
            total += deleted
            if deleted < batch:
                return total
            time.sleep(PRUNE_PAUSE)


class MemoryNonceStore:
    """The records in this process only (an in-memory deployment: tests, throwaway tools)."""

    def __init__(self) -> None:
        self._used: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def use(self, access_key_id: str, nonce: str, expires_at: float, now: float) -> bool:
        with self._lock:
            seen = self._used.get((access_key_id, nonce))
            if seen is not None and seen >= now:
                return False
            self._used[(access_key_id, nonce)] = expires_at
            return True

    def prune(self, now: float) -> int:
        with self._lock:
            gone = [k for k, until in self._used.items() if until < now]
            for k in gone:
                del self._used[k]
            return len(gone)

    def close(self) -> None:
        """Nothing to release."""
