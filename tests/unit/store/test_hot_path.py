"""The hot path of the store: one-statement reads and writes on raw SQLite connections, with
the same answers, errors and durability level as SQLAlchemy transactions."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import bindparam, create_engine, insert, select

from openkms.store import UNAVAILABLE, Conflict
from openkms.store import engine as engine_mod
from openkms.store.engine import Database, make_engine
from openkms.store.schema import access_keys, metadata

SELECT_AK = select(access_keys.c.access_key_id, access_keys.c.user_id, access_keys.c.created).where(
    access_keys.c.access_key_id == bindparam("ak")
)
ALL_AKS = select(access_keys.c.access_key_id).order_by(access_keys.c.access_key_id)
INSERT_AK = insert(access_keys).values(
    access_key_id=bindparam("ak"), secret_wrapped=b"w", kek_version=1, status="Active",
    user_id=bindparam("root"), description="", created=1.5, account_uid="1000000000000001",
)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A file database with the schema, as a deployment opens it."""
    database = Database(make_engine(f"sqlite:///{tmp_path / 'k.db'}", synchronous="NORMAL"))
    metadata.create_all(database.engine)
    yield database
    database.dispose()


def test_first_converts_columns_like_sqlalchemy(db: Database) -> None:
    """A hot read answers the row SQLAlchemy would, by column name (a NULL as None), and None
    when absent."""
    db.run(INSERT_AK, {"ak": "AK1", "root": None})
    assert db.first(SELECT_AK, {"ak": "AK1"}) == {"access_key_id": "AK1", "user_id": None, "created": 1.5}
    with db.read() as tx:
        assert tx.first(SELECT_AK, {"ak": "AK1"}) == db.first(SELECT_AK, {"ak": "AK1"})
    assert db.first(SELECT_AK, {"ak": "nope"}) is None


def test_all_returns_every_row_in_order(db: Database) -> None:
    """A hot read of several rows answers them all, in the statement's order."""
    for ak in ("B", "A", "C"):
        db.run(INSERT_AK, {"ak": ak, "root": "U1"})
    assert db.all(ALL_AKS, {}) == [{"access_key_id": ak} for ak in ("A", "B", "C")]


def test_hot_write_is_committed_and_visible_to_transactions(db: Database) -> None:
    """A hot write has committed when it returns: an ordinary read transaction sees it."""
    assert db.run(INSERT_AK, {"ak": "AK2", "root": False}) == 1
    with db.read() as tx:
        assert tx.scalar(select(access_keys.c.access_key_id)) == "AK2"


def test_hot_write_raises_conflict_on_duplicate(db: Database) -> None:
    """A duplicate key is Conflict, as in a write() block."""
    db.run(INSERT_AK, {"ak": "AK3", "root": False})
    with pytest.raises(Conflict):
        db.run(INSERT_AK, {"ak": "AK3", "root": False})


def test_hot_connections_keep_the_durability_level(db: Database) -> None:
    """The raw connection runs at the engine's synchronous level, in WAL mode."""
    db.first(SELECT_AK, {"ak": "x"})
    raw = db._raw_conn()
    assert (
        raw.execute("PRAGMA synchronous").fetchone()[0],
        raw.execute("PRAGMA journal_mode").fetchone()[0],
    ) == (1, "wal")


def test_hot_write_waits_for_another_writer(db: Database, tmp_path: Path) -> None:
    """A write lock held elsewhere (another process) delays a hot write; it does not fail it."""
    other = sqlite3.connect(tmp_path / "k.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.2, lambda: other.execute("COMMIT"))
    release.start()
    assert db.run(INSERT_AK, {"ak": "AK4", "root": False}) == 1
    release.join()
    other.close()


def test_hot_write_gives_up_after_the_busy_timeout(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lock held past the busy timeout fails the statement with one of the store's
    UNAVAILABLE errors (answered 503 ServiceUnavailableTemporary)."""
    monkeypatch.setattr(engine_mod, "SQLITE_BUSY_MS", 50)
    other = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(UNAVAILABLE, match="database is locked"):
            db.run(INSERT_AK, {"ak": "AK5", "root": False})
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert db.run(INSERT_AK, {"ak": "AK5", "root": False}) == 1


def test_write_block_gives_up_after_the_busy_timeout(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write block whose BEGIN IMMEDIATE waits past the busy timeout fails with one of the
    store's UNAVAILABLE errors, and its pooled connection serves the next block."""
    monkeypatch.setattr(engine_mod, "SQLITE_BUSY_MS", 50)
    other = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(UNAVAILABLE, match="database is locked"), db.write() as tx:
            tx.run(INSERT_AK, {"ak": "AK6", "root": False})
    finally:
        other.execute("ROLLBACK")
        other.close()
    with db.write() as tx:
        assert tx.run(INSERT_AK, {"ak": "AK6", "root": False}) == 1


def test_hot_writes_are_checkpointed_in_the_background(db: Database, tmp_path: Path) -> None:
    """The WAL of a hot-written database is copied back by the checkpoint thread, not the writer."""
    for i in range(200):
        db.run(INSERT_AK, {"ak": f"W{i}", "root": False})
    deadline = time.monotonic() + 5
    check = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    try:
        while time.monotonic() < deadline:
            _busy, frames, done = check.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if frames == done:
                break
            time.sleep(0.05)
        assert frames == done
    finally:
        check.close()


def test_in_memory_database_uses_ordinary_transactions() -> None:
    """Without a database file there is no hot connection: reads and writes use the pool."""
    database = Database(create_engine("sqlite://"))
    assert not database.hot_local
    database.dispose()


def test_snapshot_reads_one_state_while_another_connection_commits(db: Database, tmp_path: Path) -> None:
    """Hot reads inside snapshot() do not see a commit made between them; reads after it do."""
    db.run(INSERT_AK, {"ak": "A", "root": False})
    other = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    try:
        with db.snapshot():
            before = db.all(ALL_AKS, {})
            other.execute(
                "INSERT INTO access_keys (access_key_id, secret_wrapped, kek_version, status, account_uid,"
                " description, created) VALUES ('B', x'00', 1, 'Active', '1000000000000001', '', 1.0)"
            )
            inside = (db.all(ALL_AKS, {}), db.first(SELECT_AK, {"ak": "B"}))
        after = db.all(ALL_AKS, {})
    finally:
        other.close()
    assert (before, None) == inside
    assert after == [{"access_key_id": "A"}, {"access_key_id": "B"}]


def test_snapshot_ends_its_transaction_when_the_block_raises(db: Database) -> None:
    """An error inside snapshot() propagates and rolls back: the connection is left outside
    any transaction and the next snapshot sees the latest commits."""
    with pytest.raises(KeyError), db.snapshot():
        db.first(SELECT_AK, {"ak": "A"})
        raise KeyError("boom")
    assert db._raw_conn().in_transaction is False
    db.run(INSERT_AK, {"ak": "C", "root": False})
    with db.snapshot():
        assert db.all(ALL_AKS, {}) == [{"access_key_id": "C"}]
    assert db._raw_conn().in_transaction is False


def test_snapshot_refuses_nesting_and_writes(db: Database) -> None:
    """A second snapshot() or a run() inside one is a RuntimeError; the outer
    snapshot still reads and ends normally."""
    with db.snapshot():
        with pytest.raises(RuntimeError, match="does not nest"), db.snapshot():
            pass
        with pytest.raises(RuntimeError, match="only reads"):
            db.run(INSERT_AK, {"ak": "D", "root": False})
        assert db.all(ALL_AKS, {}) == []
    assert db._raw_conn().in_transaction is False
    assert db.run(INSERT_AK, {"ak": "D", "root": False}) == 1


def test_snapshot_of_an_in_memory_database_uses_one_read_transaction() -> None:
    """Without a database file, the hot reads of a snapshot run on one pooled read transaction."""
    database = Database(create_engine("sqlite://"))
    metadata.create_all(database.engine)
    with database.write() as tx:
        tx.run(INSERT_AK, {"ak": "M", "root": None})
    with database.snapshot():
        assert (database.first(SELECT_AK, {"ak": "M"}), database.all(ALL_AKS, {})) == (
            {"access_key_id": "M", "user_id": None, "created": 1.5},
            [{"access_key_id": "M"}],
        )
    database.dispose()
