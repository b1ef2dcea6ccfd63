"""The replay guard's stores: a nonce is single-use per AccessKey until its record expires.

The same rules hold for both stores: the node's nonce files (embedded default) and the shared
database's table (PostgreSQL, on a database of its own on the test server), whose claims are
committed in groups.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from openkms.service.nonces import NonceStore, SQLNonceStore
from openkms.store import UNAVAILABLE
from openkms.store.engine import Database, make_engine
from openkms.store.nonce_table import FileNonceStore
from openkms.store.schema import nonce_metadata
from tests.support.postgres import PostgresDatabase


@pytest.fixture
def pg_db() -> Iterator[Database]:
    with PostgresDatabase() as pg:
        db = Database(make_engine(pg.url, timeout=2.0))
        nonce_metadata.create_all(db.engine)
        try:
            yield db
        finally:
            db.dispose()


@pytest.fixture
def sql_store(pg_db: Database) -> Iterator[SQLNonceStore]:
    made = SQLNonceStore(pg_db, timeout=2.0)
    yield made
    made.close()


@pytest.fixture(params=["files", "table"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NonceStore]:
    if request.param == "files":
        made: NonceStore = FileNonceStore(tmp_path / "nonces")
        yield made
        made.close()
    else:
        yield request.getfixturevalue("sql_store")


def test_nonce_is_single_use_per_access_key(store: NonceStore) -> None:
    """A nonce is accepted once per AccessKey; another AccessKey may use the same nonce."""
    assert store.use("AK1", "n1", 1000.0, 10.0)
    assert not store.use("AK1", "n1", 1000.0, 20.0)
    assert store.use("AK2", "n1", 1000.0, 20.0)


def test_expired_nonce_record_may_be_reclaimed(store: NonceStore) -> None:
    """After its record expired (and before pruning), a nonce may be used again, once."""
    assert store.use("AK1", "n2", 100.0, 10.0)
    assert not store.use("AK1", "n2", 2000.0, 99.0)
    assert store.use("AK1", "n2", 2000.0, 150.0)
    assert not store.use("AK1", "n2", 2000.0, 160.0)


def test_the_parts_of_a_claim_are_not_confused(store: NonceStore) -> None:
    """(AccessKeyId, nonce) is one key: moving characters from one part to the other is
    another claim."""
    assert store.use("AK1", "23", 1000.0, 10.0)
    assert store.use("AK12", "3", 1000.0, 10.0)
    assert store.use("AK", "123", 1000.0, 10.0)


def test_prune_removes_only_expired_records_in_batches(sql_store: SQLNonceStore, pg_db: Database) -> None:
    """The table: pruning deletes every expired record (in several batches) and keeps the
    live ones, without making the node's kept reads stale."""
    store = sql_store
    assert pg_db.generation is None  # no data directory here: see the generation test below
    for i in range(25):
        store.use("AK1", f"old-{i}", 100.0, 10.0)
    for i in range(5):
        store.use("AK1", f"live-{i}", 1000.0, 10.0)
    assert store.prune(500.0, batch=10) == 25
    assert store.prune(500.0, batch=10) == 0
    assert not store.use("AK1", "live-0", 1000.0, 600.0)
    assert store.use("AK1", "old-0", 1000.0, 600.0)


def test_entries_are_counted_without_a_scan(store: NonceStore) -> None:
    """The /metrics gauge: the files count their filled slots at once; the table's estimate
    (the planner's row count, never a COUNT) is known after a prune by the pruning process."""
    for i in range(30):
        assert store.use("AK1", f"n-{i}", 1000.0, 10.0)
    if isinstance(store, SQLNonceStore):
        assert store.entries() is None  # not pruned yet in this process
        with store._db.engine.begin() as conn:
            conn.execute(text("ANALYZE nonces"))
        store.prune(10.0)
    assert store.entries() == 30


def test_claims_racing_from_many_threads_are_committed_in_groups_each_nonce_once(
    sql_store: SQLNonceStore,
) -> None:
    """64 threads claim 8 nonces 8 times each at once: each nonce is admitted exactly once,
    and the claims travel in fewer statements than there are claims."""
    statements = 0
    claim = sql_store._conn.claim

    def counted(records: list[tuple[str, str, float]]) -> set[tuple[str, str]]:
        nonlocal statements
        statements += 1
        time.sleep(0.01)  # a slow database: the next claims queue meanwhile
        return claim(records)

    sql_store._conn.claim = counted  # type: ignore[method-assign]
    start = threading.Barrier(64)
    admitted: list[str] = []

    def one(i: int) -> None:
        start.wait()
        if sql_store.use("AK1", f"n{i % 8}", 1000.0, 10.0):
            admitted.append(f"n{i % 8}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(admitted) == [f"n{i}" for i in range(8)]
    assert statements < 64


def test_the_event_loop_awaits_its_claims_while_it_serves_others(sql_store: SQLNonceStore) -> None:
    """use_async: the loop's claims are answered as futures; a replay among them is refused."""

    async def claims() -> list[bool]:
        return list(
            await asyncio.gather(
                *(sql_store.use_async("AK1", f"a{i % 5}", 1000.0, 10.0) for i in range(10))
            )
        )

    answers = asyncio.run(claims())
    assert answers.count(True) == 5
    assert not sql_store.use("AK1", "a0", 1000.0, 20.0)


def test_a_claim_the_database_does_not_answer_fails_within_the_timeout(pg_db: Database) -> None:
    """A claim connection that hangs (a statement blocked on a lock the test holds) is cut at
    the store's timeout: the claim fails as an unavailable database does (503), and the next
    claim, on a new connection, succeeds."""
    store = SQLNonceStore(pg_db, timeout=0.5)
    blocker = pg_db.engine.raw_connection()
    try:
        assert store.use("AK1", "first", 1000.0, 10.0)  # the connection is open
        blocker.cursor().execute("LOCK TABLE nonces IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(UNAVAILABLE):
            store.use("AK1", "held", 1000.0, 10.0)
        assert time.monotonic() - started < 1.5  # the cut, before the statement timeout (2 s)
        blocker.rollback()

        async def late() -> bool:
            return await store.use_async("AK1", "after", 1000.0, 10.0)

        assert asyncio.run(late())
    finally:
        blocker.close()
        store.close()


def test_pruning_and_claims_leave_the_write_generation_alone(tmp_path: Path) -> None:
    """Nonce rows are never kept by a cache: claiming and pruning do not make the node's kept
    reads stale (its write generation does not move), an ordinary write does."""
    with PostgresDatabase() as pg:
        db = Database(make_engine(pg.url), generation=tmp_path / "gen")
        nonce_metadata.create_all(db.engine)
        store = SQLNonceStore(db)
        try:
            assert db.generation is not None
            before = db.generation.current()
            assert store.use("AK1", "n", 100.0, 10.0)
            store.prune(500.0)
            assert db.generation.current() == before
            with db.write():
                pass
            assert db.generation.current() != before
        finally:
            store.close()
            db.dispose()


@pytest.mark.parametrize(
    "nonce",
    ['quote"d', "back\\slash", "a,b", "{braces}", "NULL", " spaced ", "ünïcødé", '\\"', "tab\there"],
)
def test_a_nonce_of_any_characters_is_claimed_as_it_is(sql_store: SQLNonceStore, nonce: str) -> None:
    """The claims travel as array literals: quotes, backslashes, commas, braces and the word
    NULL arrive as written (claimed once, then a replay), and are not confused with a near
    spelling."""
    assert sql_store.use("AK1", nonce, 1000.0, 10.0)
    assert not sql_store.use("AK1", nonce, 1000.0, 20.0)
    assert sql_store.use("AK1", nonce + "x", 1000.0, 20.0)
