"""Engine helpers: the PostgreSQL driver and its bounded waits, row locks, the schema lock, and
which driver errors are a full disk."""

from __future__ import annotations

import errno
import fcntl
import sqlite3
import threading
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from openkms.store import Database, WouldWait, disk_full, migrate
from openkms.store.engine import (
    driver_url,
    for_update,
    make_engine,
    make_nullpool_engine,
    pg_connect_args,
)
from openkms.store.schema import keys
from tests.support.postgres import PostgresDatabase


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_postgresql_urls_use_psycopg3(given: str, used: str) -> None:
    """`--database postgresql://...` runs on psycopg 3, never on an absent psycopg2."""
    assert driver_url(given) == used


def test_connection_waits_are_bounded() -> None:
    """Connect, statement/lock waits and unacknowledged data are all bounded by the timeout."""
    args = pg_connect_args(3.0)
    assert args["connect_timeout"] == 3
    assert args["tcp_user_timeout"] == 3000
    assert "-c statement_timeout=3000" in args["options"]
    assert "idle_in_transaction_session_timeout=" in args["options"]
    assert pg_connect_args(0.5)["connect_timeout"] == 2  # libpq's floor
    assert "statement_timeout" not in pg_connect_args(3.0, statement_timeout=False)["options"]


def test_for_update_locks_on_postgresql_only() -> None:
    """The same query locks the row on PostgreSQL; SQLite renders no lock (BEGIN IMMEDIATE serialises)."""
    stmt = for_update(select(keys.c.key_id).where(keys.c.key_id == "k"))
    assert str(stmt.compile(dialect=postgresql.dialect())).endswith("FOR UPDATE")
    assert "FOR UPDATE" not in str(stmt.compile(dialect=sqlite.dialect()))


def test_sqlite_schema_lock_excludes_other_processes(tmp_path: Path) -> None:
    """While one process holds the schema lock of a SQLite database, nobody else can take it."""
    engine = make_nullpool_engine(f"sqlite:///{tmp_path / 'openkms.db'}")
    lock_file = tmp_path / "openkms.db.migrate-lock"
    with migrate.schema_lock(engine), open(lock_file, "a+b") as other, pytest.raises(BlockingIOError):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(lock_file, "a+b") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    engine.dispose()


def _sqlite_full(tmp_path: Path) -> sqlite3.OperationalError:
    """The error SQLite answers a write that needs a page past the database's limit."""
    conn = sqlite3.connect(tmp_path / "full.db", isolation_level=None)
    conn.execute("CREATE TABLE t (v BLOB)")
    conn.execute(f"PRAGMA max_page_count={conn.execute('PRAGMA page_count').fetchone()[0]}")
    try:
        conn.execute("INSERT INTO t VALUES (zeroblob(100000))")
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError("the insert fit")


def test_disk_full_recognises_each_driver_s_full_disk(tmp_path: Path) -> None:
    """SQLite's SQLITE_FULL (raw, or as SQLAlchemy wraps it), a shm file that could not grow,
    PostgreSQL's disk_full (SQLSTATE 53100) and an OSError ENOSPC or EDQUOT are a full disk."""
    full = _sqlite_full(tmp_path)
    assert str(full) == "database or disk is full"
    assert disk_full(full)
    assert disk_full(OperationalError("INSERT ...", {}, full))
    shm = sqlite3.OperationalError("disk I/O error")
    shm.sqlite_errorcode = sqlite3.SQLITE_IOERR_SHMSIZE  # type: ignore[attr-defined]
    assert disk_full(shm)
    pg = psycopg.errors.DiskFull('could not extend file "base/16384/16390": No space left on device')
    assert disk_full(OperationalError("INSERT ...", {}, pg))
    assert disk_full(OSError(errno.ENOSPC, "No space left on device", "openkms.db-generation"))
    assert disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))


def test_disk_full_is_false_for_other_failures(tmp_path: Path) -> None:
    """A locked or unreachable database, a statement timeout, another OSError: not a full disk."""
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
    assert not disk_full(locked)
    assert not disk_full(OperationalError("BEGIN", {}, locked))
    refused = psycopg.OperationalError("connection failed: Connection refused")
    assert not disk_full(OperationalError("SELECT 1", {}, refused))
    timeout = psycopg.errors.QueryCanceled("canceling statement due to statement timeout")
    assert not disk_full(OperationalError("SELECT 1", {}, timeout))
    assert not disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not disk_full(RuntimeError("database or disk is full"))


def test_the_event_loop_thread_never_waits_on_postgresql(tmp_path: Path) -> None:
    """After forbid_waits(), every transaction the thread begins on PostgreSQL raises
    WouldWait (the server sends that work to its pool); other threads, and SQLite, are free."""
    stmt = select(keys.c.key_id).limit(1)
    with PostgresDatabase() as pg:
        migrate.upgrade(make_nullpool_engine(pg.url))
        db = Database(make_engine(pg.url))
        try:
            db.forbid_waits()
            for attempt in (
                lambda: db.first(stmt),
                lambda: db.all(stmt),
                lambda: db.read().__enter__(),
                lambda: db.write().__enter__(),
                lambda: db.snapshot().__enter__(),
            ):
                with pytest.raises(WouldWait):
                    attempt()
            elsewhere: list[object] = []
            worker = threading.Thread(target=lambda: elsewhere.append(db.first(stmt)))
            worker.start()
            worker.join()
            assert elsewhere == [None]
        finally:
            db.dispose()
    local = Database(make_engine(f"sqlite:///{tmp_path / 'k.db'}"))
    migrate.upgrade(local.engine)
    local.forbid_waits()
    assert local.first(stmt) is None
    local.dispose()


def test_a_pooled_connection_the_server_closed_is_replaced_at_checkout() -> None:
    """A backend terminated while its connection sits idle in the pool (a PostgreSQL restart,
    an administrator) is seen at checkout without a round trip and replaced: the next
    statement succeeds."""
    with PostgresDatabase() as pg:
        db = Database(make_engine(pg.url, pool_size=1))
        try:
            with db.read() as tx:
                pid = tx.scalar(select(func.pg_backend_pid()))
            with pg.connect() as admin:
                assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
            time.sleep(0.2)  # the farewell reaches the idle connection's socket
            with db.read() as tx:
                assert tx.scalar(select(func.pg_backend_pid())) != pid
        finally:
            db.dispose()
