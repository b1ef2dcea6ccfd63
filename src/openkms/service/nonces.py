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

import asyncio
import contextlib
import queue
import threading
import time
from typing import Protocol

from openkms.store import Database
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

    def entries(self) -> int | None:
        """About how many records the store holds, without a scan (the ``/metrics`` gauge);
        None when not known."""
        ...

    def close(self) -> None: ...


class _Claim:
    """One request's claim, waiting to be committed with a group: ``fresh`` once done, or
    ``error``. A thread waits on ``event``; a coroutine on ``future`` (of ``loop``)."""

    __slots__ = (
        "access_key_id",
        "error",
        "event",
        "expires_at",
        "fresh",
        "future",
        "loop",
        "nonce",
        "now",
        "timer",
    )

    def __init__(self, access_key_id: str, nonce: str, expires_at: float, now: float) -> None:
        self.access_key_id = access_key_id
        self.nonce = nonce
        self.expires_at = expires_at
        self.now = now
        self.fresh = False
        self.error: BaseException | None = None
        self.event: threading.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.future: asyncio.Future[bool] | None = None
        self.timer: asyncio.TimerHandle | None = None

    def result(self) -> bool:
        if self.error is not None:
            raise self.error
        return self.fresh


class SQLNonceStore:
    """The records as rows of the shared database (PostgreSQL deployments).

    Claims are committed in groups by one thread of the process with a connection of its own
    (store.nonces.ClaimConnection): it commits every claim queued at that moment in one
    statement, then the next group. Under load a round trip carries many claims; alone, a claim
    is one round trip as before. A thread waits for its claim (:meth:`use`); the event loop
    awaits it (:meth:`use_async`) and goes on serving meanwhile.

    A claim not answered within ``timeout`` seconds (the database stopped answering) has the
    claim connection cut: its group fails with the database's error (503), and the next group
    opens a new connection.
    """

    def __init__(self, db: Database, *, timeout: float = 5.0, synchronous_commit: bool = False) -> None:
        self._db = db
        self._timeout = timeout
        self._conn = repo.ClaimConnection(db, synchronous_commit=synchronous_commit)
        # A C queue: putting a claim costs the event loop well under a microsecond.
        self._queue: queue.SimpleQueue[_Claim | list[_Claim] | None] = queue.SimpleQueue()
        # The event loop's claims of this iteration, handed over together at its end.
        self._from_loop: list[_Claim] = []
        self._lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None
        # The table's row estimate as of this process's last prune (the job runner's process).
        self._estimate: int | None = None

    def use(self, access_key_id: str, nonce: str, expires_at: float, now: float) -> bool:
        """Record the nonce; False if it was already used and has not expired."""
        claim = _Claim(access_key_id, nonce, expires_at, now)
        claim.event = threading.Event()
        self._enqueue(claim)
        if not claim.event.wait(self._timeout):
            self._conn.cut()
            if not claim.event.wait(self._timeout):
                raise repo.unavailable("no answer to a nonce claim")
        return claim.result()

    def use_async(
        self, access_key_id: str, nonce: str, expires_at: float, now: float
    ) -> asyncio.Future[bool]:
        """:meth:`use` for the event loop (one loop per process): a future of the running loop
        with its answer.

        The claims a loop makes in one iteration (the requests that arrived together) are
        handed to the claim thread together when it ends: one wake-up of that thread, and one
        group in one statement, where handing each over at once would send most of them alone.
        """
        claim = _Claim(access_key_id, nonce, expires_at, now)
        loop = claim.loop = asyncio.get_running_loop()
        claim.future = loop.create_future()
        if self._closed:
            raise RuntimeError("the nonce store is closed")
        self._from_loop.append(claim)
        if len(self._from_loop) == 1:
            loop.call_soon(self._hand_over, loop)
        return claim.future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        group, self._from_loop = self._from_loop, []
        timer = loop.call_later(self._timeout, self._overdue, group)
        for c in group:
            c.timer = timer
        try:
            self._enqueue(group)
        except RuntimeError as exc:  # closed meanwhile (the server is stopping)
            for c in group:
                c.error = exc
            _settle(group)

    def _overdue(self, group: list[_Claim]) -> None:
        """On the loop, ``timeout`` after the loop handed a group over, if it is still waiting."""
        if any(c.future is not None and not c.future.done() for c in group):
            self._conn.cut()

    def _enqueue(self, claim: _Claim | list[_Claim]) -> None:
        if self._closed:
            raise RuntimeError("the nonce store is closed")
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._serve, name="openkms-nonce-claims", daemon=True
                    )
                    self._thread.start()
        self._queue.put(claim)

    def _serve(self) -> None:
        take, take_more = self._queue.get, self._queue.get_nowait
        while True:
            item = take()
            group: list[_Claim] = []
            with contextlib.suppress(queue.Empty):
                while item is not None:
                    if isinstance(item, list):
                        group += item
                    else:
                        group.append(item)
                    item = take_more()
            if group:
                self._finish(group)
            if item is None:
                return

    def _finish(self, group: list[_Claim]) -> None:
        self._commit(group)
        self._answer(group)

    def _commit(self, group: list[_Claim]) -> None:
        first: dict[tuple[str, str], _Claim] = {}
        for c in group:
            first.setdefault((c.access_key_id, c.nonce), c)
        try:
            fresh = self._conn.claim([(c.access_key_id, c.nonce, c.expires_at) for c in first.values()])
            for c in group:
                key = (c.access_key_id, c.nonce)
                if key in fresh and first[key] is c:
                    c.fresh = True
                else:
                    # A record exists: live (a replay, or the same nonce twice in the group)
                    # or expired and not pruned yet.
                    c.fresh = self._conn.reclaim(c.access_key_id, c.nonce, c.expires_at, c.now)
        except Exception as exc:  # noqa: BLE001 - each waiting request answers with it
            for c in group:
                c.error = exc

    @staticmethod
    def _answer(group: list[_Claim]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Claim]] = {}
        for c in group:
            if c.event is not None:
                c.event.set()
            elif c.loop is not None:
                by_loop.setdefault(c.loop, []).append(c)
        for loop, claims in by_loop.items():
            # One wake-up of the loop for the whole group.
            with contextlib.suppress(RuntimeError):  # a loop closed meanwhile
                loop.call_soon_threadsafe(_settle, claims)

    def prune(self, now: float, batch: int = PRUNE_BATCH) -> int:
        """Delete expired records, ``batch`` rows per transaction.

        Every request inserts into this table, on the event loop on SQLite: one DELETE of a
        minute's worth of records would hold the write lock for seconds and stall them all,
        where a batch holds it for milliseconds.
        """
        total = 0
        while True:
            with self._db.write(kept=False) as tx:
                deleted = repo.delete_expired(tx, now, batch)
            total += deleted
            if deleted < batch:
                break
            time.sleep(PRUNE_PAUSE)
        if self._db.engine.dialect.name == "postgresql":
            self._estimate = repo.estimate(self._db)
        return total

    def entries(self) -> int | None:
        """The table's row estimate read after this process's last prune: the process holding
        the job lease knows it, the others None (a count per scrape would scan the table)."""
        return self._estimate

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)  # after every claim queued before it
            thread.join(10)
        self._conn.close()


def _settle(claims: list[_Claim]) -> None:
    for c in claims:
        if c.timer is not None:
            c.timer.cancel()
        future = c.future
        if future is None or future.done():
            continue
        if c.error is not None:
            future.set_exception(c.error)
        else:
            future.set_result(c.fresh)


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

    def entries(self) -> int | None:
        return len(self._used)

    def close(self) -> None:
        """Nothing to release."""
