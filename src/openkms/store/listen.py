"""Other nodes' writes, heard over PostgreSQL: LISTEN/NOTIFY moves this node's write generation.

Every write transaction on PostgreSQL that changes rows a process may keep sends a notification
on :data:`CHANNEL` as it commits (``Database.write``), whichever node or offline command makes
it. Each process of a node that keeps reads listens on a connection of its own and, on every
notification, moves the node's write generation (store/generation.py): what any process of
the node kept before is then read again. Another node's write is thus seen within the
notification's delivery, a few milliseconds, where the age bound of service/caches.py (1 s)
would otherwise be the only limit.

The age bound still holds when the listener cannot: while its connection is down (the
database restarting, a partition) nothing is heard, so on every (re)connection the generation
moves once more, covering whatever was written unheard, and the age bound covers the time
until then.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy.exc import SQLAlchemyError

from openkms.store.generation import WriteGeneration

__all__ = ["CHANNEL", "NOTIFY", "WriteListener"]

CHANNEL = "openkms_writes"
NOTIFY = f"NOTIFY {CHANNEL}"
# Seconds between attempts to listen again after the connection failed.
RETRY_SECONDS = 1.0
# How often the listening thread looks up from its connection to see whether it must stop.
POLL_SECONDS = 0.5

log = logging.getLogger("openkms.store")


class WriteListener:
    """A daemon thread that moves ``generation`` on every notification of :data:`CHANNEL`.

    ``connect`` returns a new psycopg connection (the thread's own, never pooled).
    """

    def __init__(self, connect: Callable[[], Any], generation: WriteGeneration) -> None:
        self._connect = connect
        self._generation = generation
        self._closing = threading.Event()
        self._conn: Any = None
        self.listening = threading.Event()  # set while notifications can be heard
        self._thread = threading.Thread(target=self._run, name="openkms-write-listener", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        failed = False
        while not self._closing.is_set():
            try:
                conn = self._conn = self._connect()
                conn.autocommit = True
                conn.execute(f"LISTEN {CHANNEL}")
                # Whatever was committed while nobody listened is stale from now on.
                self._generation.advance()
                self.listening.set()
                if failed:
                    log.info("listening for other nodes' writes again")
                    failed = False
                while not self._closing.is_set():
                    for _ in conn.notifies(timeout=POLL_SECONDS):
                        self._generation.advance()
            except (psycopg.Error, SQLAlchemyError, OSError) as exc:
                self.listening.clear()
                self._generation.advance()
                if not self._closing.is_set():
                    if not failed:
                        log.warning(
                            "not hearing other nodes' writes (%s); kept reads are used for at "
                            "most their age bound until the database answers again",
                            type(exc).__name__,
                        )
                    failed = True
                self._close_conn()
                self._closing.wait(RETRY_SECONDS)
            except Exception:  # the thread must outlive any one failure
                log.exception("the write listener failed; it starts again")
                self.listening.clear()
                self._generation.advance()
                self._close_conn()
                self._closing.wait(RETRY_SECONDS)
        self._close_conn()

    def _close_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        self._closing.set()
        self._thread.join(POLL_SECONDS + 5)
