"""Engines and transactions for SQLite (the embedded default) and PostgreSQL.

SQLite runs in WAL mode with ``synchronous=FULL`` for the key database: a success answer is
sent only after COMMIT has returned, and COMMIT is then on disk. Writes take the database lock
up front (``BEGIN IMMEDIATE``) so two writers never deadlock upgrading a read lock.

PostgreSQL (psycopg 3, one pool per worker process) runs at READ COMMITTED; a write that reads
a row to decide what to write locks it first (:func:`for_update`, ``SELECT ... FOR UPDATE``), which
SQLite does not need because ``BEGIN IMMEDIATE`` already serialises writers. Every wait on the
database is bounded by ``timeout`` seconds (connect, pool checkout, statement and lock waits, and
unacknowledged TCP data), so a node whose database is gone fails its requests instead of hanging.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Select, create_engine, event
from sqlalchemy.pool import NullPool

SQLITE_BUSY_MS = 10_000
# Seconds any single wait on PostgreSQL may take (``--db-timeout``).
DEFAULT_TIMEOUT = 5.0


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(
    url: str, *, synchronous: str = "FULL", pool_size: int = 5, timeout: float = DEFAULT_TIMEOUT
) -> Engine:
    """Create an engine; ``synchronous`` applies to SQLite only (FULL for keys, NORMAL for nonces).

    ``timeout`` bounds PostgreSQL waits (see the module docstring); SQLite waits for a busy
    database up to :data:`SQLITE_BUSY_MS`.
    """
    if is_sqlite(url):
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_MS / 1000, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=10,
        )

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
            # Take transaction control from the driver so BEGIN IMMEDIATE is ours to issue.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            if conn.get_execution_options().get("write"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

        return engine
    return create_engine(
        driver_url(url),
        pool_size=pool_size,
        max_overflow=10,
        pool_timeout=timeout,
        pool_pre_ping=True,
        connect_args=pg_connect_args(timeout),
    )


def driver_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 (SQLAlchemy would otherwise pick psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def pg_connect_args(timeout: float, *, statement_timeout: bool = True) -> dict[str, Any]:
    """libpq settings that bound every wait of one connection by about ``timeout`` seconds."""
    ms = int(timeout * 1000)
    options = [
        # A transaction left open by a vanished node must not hold its row locks for long.
        f"-c idle_in_transaction_session_timeout={max(ms * 6, 30_000)}",
    ]
    if statement_timeout:
        options.append(f"-c statement_timeout={ms}")
    return {
        # libpq counts whole seconds and treats anything below 2 as 2.
        "connect_timeout": max(2, math.ceil(timeout)),
        # A peer that stops acknowledging (a partition) breaks the connection instead of a hang.
        "tcp_user_timeout": ms,
        "keepalives": 1,
        "keepalives_idle": max(1, math.ceil(timeout)),
        "keepalives_interval": 1,
        "keepalives_count": 3,
        "options": " ".join(options),
        "application_name": "openkms",
    }


def for_update(stmt: Select[Any]) -> Select[Any]:
    """Lock the selected rows until the write transaction ends (PostgreSQL).

    On SQLite SQLAlchemy renders nothing for it: ``BEGIN IMMEDIATE`` has already taken the
    database's write lock, so the read-then-write inside a write transaction is serialised there.
    """
    return stmt.with_for_update()


def make_nullpool_engine(url: str, *, timeout: float = DEFAULT_TIMEOUT) -> Engine:
    """An engine for one-off work (offline commands, migrations): no pool left behind, and on
    PostgreSQL no statement timeout (a migration or a wait for the migration lock may be long)."""
    if is_sqlite(url):
        return create_engine(url, poolclass=NullPool)
    return create_engine(
        driver_url(url), poolclass=NullPool, connect_args=pg_connect_args(timeout, statement_timeout=False)
    )


class Database:
    """One engine and the two kinds of transaction the services use."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction; it has committed (durably) when the block exits normally."""
        with self.engine.connect().execution_options(write=True) as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()
