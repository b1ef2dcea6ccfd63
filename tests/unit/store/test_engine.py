"""Engine helpers: the PostgreSQL driver and its bounded waits, row locks, the schema lock."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from openkms.store import migrate
from openkms.store.engine import driver_url, for_update, make_nullpool_engine, pg_connect_args
from openkms.store.schema import keys


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
