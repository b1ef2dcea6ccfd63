"""The replay guard: a nonce is single-use per AccessKey within the time window, across every
worker process and node that shares the store, and across restarts (it is a table).

Every signed request records its nonce, so this is on the hot path: the statements are built
once and run through :meth:`Database.hot_write` (one autocommit statement on a raw SQLite
connection of the thread; an ordinary write transaction on PostgreSQL). The INSERT is the
whole check: the primary key (access_key_id, nonce) makes a second use fail atomically, in
whichever process or node it arrives.

On the event loop (the local SQLite store) the requests of one loop iteration share one
transaction: :class:`NonceBatcher` is a group commit. A transaction per nonce cost more than the
INSERT itself (taking the write lock, the commit's WAL frames, and, with several worker
processes, re-reading pages the other process's commit invalidated); a batch pays that once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import bindparam, delete, insert, select, tuple_, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

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


# The batch form: a used nonce is not an error inside a transaction that records others.
_RECORD_NEW = (
    sqlite_insert(nonces)
    .values(access_key_id=bindparam("ak"), nonce=bindparam("n"), expires_at=bindparam("until"))
    .on_conflict_do_nothing()
)


class NonceUse(NamedTuple):
    """One request's claim on a nonce: recorded until ``expires_at``, judged at ``now``."""

    access_key_id: str
    nonce: str
    expires_at: float
    now: float


class SQLNonceStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def use(self, access_key_id: str, nonce: str, expires_at: float, now: float) -> bool:
        """Record the nonce; False if it was already used and has not expired."""
        params = {"ak": access_key_id, "n": nonce, "until": expires_at, "now": now}
        try:
            self._db.hot_write(_RECORD, params)
            return True
        except IntegrityError:
            return self._db.hot_write(_RECLAIM, params) == 1

    def use_many(self, claims: Sequence[NonceUse]) -> list[bool]:
        """:meth:`use` for several nonces in one transaction (a second claim on the same nonce
        within the batch is refused like any other)."""
        if not self._db.hot_local or len(claims) == 1:
            # Alone, one autocommit statement is cheaper than BEGIN, INSERT, COMMIT.
            return [self.use(*c) for c in claims]
        out = []
        with self._db.hot_batch() as run:
            for ak, n, until, now in claims:
                params = {"ak": ak, "n": n, "until": until, "now": now}
                out.append(run(_RECORD_NEW, params) == 1 or run(_RECLAIM, params) == 1)
        return out

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


class NonceBatcher:
    """Group commit of nonce claims on the event loop.

    :meth:`use` queues a claim and returns a future; the first claim of a batch schedules the
    flush with ``call_soon``, so every request that reaches its nonce check in the same loop
    iteration (and in the poll that follows) joins the batch. The flush runs on the loop, like
    the single INSERT it replaces: a local write without fsync, microseconds. A request is
    served only after its batch has committed, so a claim is durable (as durable as a single
    INSERT) before its action runs.
    """

    def __init__(self, store: SQLNonceStore) -> None:
        self._store = store
        self._pending: list[tuple[NonceUse, asyncio.Future[bool]]] = []

    def use(self, claim: NonceUse) -> asyncio.Future[bool]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((claim, future))
        return future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        try:
            results = self._store.use_many([claim for claim, _ in batch])
        except Exception as exc:  # noqa: BLE001 - each waiting request answers with it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), ok in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(ok)
