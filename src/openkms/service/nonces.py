"""The replay guard: a nonce is single-use per AccessKey within the time window, across every
worker process and node that shares the store, and across restarts.

Every signed request records its nonce before its action runs, so this is on the hot path.
Two stores keep the records: on the embedded default the node's own files
(:class:`openkms.store.nonce_table.FileNonceStore`, shared by the worker processes through
file-backed maps), on PostgreSQL the ``nonces`` table of the shared database
(:class:`SQLNonceStore`), so that every node of the deployment sees every nonce. The INSERT is
the whole check there: the primary key (access_key_id, nonce) makes a second use fail
atomically, in whichever node it arrives.
"""

from __future__ import annotations

import time
from typing import NamedTuple, Protocol

from sqlalchemy import bindparam, delete, insert, select, tuple_, update

from openkms.store import Conflict
from openkms.store.engine import Database
from openkms.store.schema import nonces

PRUNE_BATCH = 2000
# Between prune batches, so that waiting inserts get the write lock.
PRUNE_PAUSE = 0.005

_RECORD = insert(nonces).values(
    access_key_id=bindparam("ak"), nonce=bindparam("n"), expires_at=bindparam("until")
)
# Only an expired record (one the pruner has not reached yet) may be reclaimed.
_RECLAIM = (
    update(nonces)
    .where(
        nonces.c.access_key_id == bindparam("ak"),
        nonces.c.nonce == bindparam("n"),
        nonces.c.expires_at < bindparam("now"),
    )
    .values(expires_at=bindparam("until"))
)


class NonceUse(NamedTuple):
    """One request's claim on a nonce: recorded until ``expires_at``, judged at ``now``."""

    access_key_id: str
    nonce: str
    expires_at: float
    now: float


class NonceStore(Protocol):
    """Where the records live; ``use`` is False for a nonce already used within its window."""

    def use(self, access_key_id: str, nonce: str, expires_at: float, now: float) -> bool: ...

    def prune(self, now: float) -> int: ...

    def close(self) -> None: ...


class SQLNonceStore:
    """The records as rows of the shared database (PostgreSQL deployments)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def use(self, access_key_id: str, nonce: str, expires_at: float, now: float) -> bool:
        """Record the nonce; False if it was already used and has not expired."""
        params = {"ak": access_key_id, "n": nonce, "until": expires_at, "now": now}
        try:
            self._db.hot_write(_RECORD, params)
            return True
        except Conflict:
            return self._db.hot_write(_RECLAIM, params) == 1

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
            expired = (
                select(nonces.c.access_key_id, nonces.c.nonce)
                .where(nonces.c.expires_at < now)
                .order_by(nonces.c.expires_at)
                .limit(batch)
            )
            with self._db.write() as conn:
                keys = [tuple(r) for r in conn.execute(expired)]
                if keys:
                    conn.execute(
                        delete(nonces).where(tuple_(nonces.c.access_key_id, nonces.c.nonce).in_(keys))
                    )
            total += len(keys)
            if len(keys) < batch:
                return total
            time.sleep(PRUNE_PAUSE)
