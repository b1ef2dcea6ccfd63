"""each_due (service/due.py): due items listed in batches, each acted on in a write transaction
of its own that is fenced by the job lease first and re-reads the item."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Float, MetaData, String, Table, bindparam, insert, select, update

from openkms.domain.clock import FixedClock
from openkms.jobs import JobRunner, LeaseLost
from openkms.service.due import each_due
from openkms.store import Database, Tx
from openkms.store.engine import make_engine
from openkms.store.schema import metadata

NOW = 1000.0
_test_tables = MetaData()
# An item is due when due_at <= NOW and it is not done yet.
items = Table(
    "items",
    _test_tables,
    Column("item_id", String(16), primary_key=True),
    Column("due_at", Float, nullable=False),
    Column("done_at", Float, nullable=True),
)
_DUE = (
    select(items.c.item_id)
    .where(items.c.due_at <= NOW, items.c.done_at.is_(None))
    .order_by(items.c.item_id)
    .limit(bindparam("limit"))
)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(make_engine(f"sqlite:///{tmp_path / 'due.db'}", synchronous="NORMAL"))
    metadata.create_all(database.engine)
    _test_tables.create_all(database.engine)
    yield database
    database.dispose()


def _add(db: Database, *due: tuple[str, float]) -> None:
    with db.write() as tx:
        tx.run(insert(items), [{"item_id": i, "due_at": at, "done_at": None} for i, at in due])


def _done(db: Database) -> list[str]:
    with db.read() as tx:
        return [r["item_id"] for r in tx.all(select(items.c.item_id).where(items.c.done_at.is_not(None)))]


def _finder(batch: int, calls: list[int] | None = None) -> Callable[[Tx], list[str]]:
    def find_due(tx: Tx) -> list[str]:
        found = [r["item_id"] for r in tx.all(_DUE, {"limit": batch})]
        if calls is not None:
            calls.append(len(found))
        return found

    return find_due


def act(tx: Tx, item_id: str) -> bool:
    """As the real jobs do: re-read the item, act only if it is still due."""
    row = tx.first(select(items.c.due_at, items.c.done_at).where(items.c.item_id == item_id))
    if row is None or row["done_at"] is not None or row["due_at"] > NOW:
        return False
    tx.run(update(items).where(items.c.item_id == item_id).values(done_at=NOW))
    return True


def test_every_due_item_is_acted_on_in_batches(db: Database) -> None:
    """Batches are listed until one comes up short; items not due are left; the count is of
    the items acted on."""
    _add(db, *[(f"i{n}", NOW - n) for n in range(5)], ("later", NOW + 1))
    calls: list[int] = []
    fenced: list[Tx] = []
    assert each_due(db, _finder(2, calls), act, fenced.append, 2) == 5
    assert calls == [2, 2, 1]
    assert sorted(_done(db)) == [f"i{n}" for n in range(5)]


def test_a_full_last_batch_is_followed_by_an_empty_one(db: Database) -> None:
    _add(db, ("a", NOW), ("b", NOW))
    calls: list[int] = []
    assert each_due(db, _finder(2, calls), act, lambda tx: None, 2) == 2
    assert calls == [2, 0]


def test_fence_runs_first_in_each_items_write_transaction(db: Database) -> None:
    """For every item: fence, then act, both given the same transaction, a new one per item."""
    _add(db, ("a", NOW), ("b", NOW), ("c", NOW))
    events: list[tuple[str, Tx, str]] = []  # holding each Tx: no two can share an address

    def fence(tx: Tx) -> None:
        events.append(("fence", tx, ""))

    def acting(tx: Tx, item_id: str) -> bool:
        events.append(("act", tx, item_id))
        return act(tx, item_id)

    assert each_due(db, _finder(10), acting, fence, 10) == 3
    assert [(e[0], e[2]) for e in events] == [
        ("fence", ""), ("act", "a"), ("fence", ""), ("act", "b"), ("fence", ""), ("act", "c")
    ]
    transactions = [e[1] for e in events[::2]]
    assert [e[1] for e in events[1::2]] == transactions
    assert len({id(tx) for tx in transactions}) == 3


def test_a_lost_lease_stops_before_the_next_write(db: Database) -> None:
    """The lease lapses while the first item is worked on: the second item's fence raises
    LeaseLost and nothing after the first is written."""
    clock = FixedClock(NOW)
    runner = JobRunner(db, clock, holder="a", lease_seconds=30)
    assert runner.acquire(clock.now())
    _add(db, ("a", NOW), ("b", NOW), ("c", NOW))

    def slow(tx: Tx, item_id: str) -> bool:
        clock.advance(31)  # paused past the lease
        return act(tx, item_id)

    with pytest.raises(LeaseLost):
        each_due(db, _finder(10), slow, runner.fence, 10)
    assert _done(db) == ["a"]


def test_an_item_no_longer_due_when_its_turn_comes_is_left_alone(db: Database, tmp_path: Path) -> None:
    """An item changed after the batch was listed (a deletion cancelled) is re-read in its own
    transaction: not acted on, not counted, and the rest go on."""
    _add(db, ("a", NOW), ("b", NOW), ("c", NOW))
    listed = _finder(10)
    other = Database(make_engine(f"sqlite:///{tmp_path / 'due.db'}", synchronous="NORMAL"))
    after: list[str] = []

    def find_then_cancel_b(tx: Tx) -> list[str]:
        found = listed(tx)
        if found:
            with other.write() as w:  # another process, once the batch is listed
                w.run(update(items).where(items.c.item_id == "b").values(due_at=NOW + 3600))
        return found

    try:
        assert each_due(db, find_then_cancel_b, act, lambda tx: None, 10, after=after.append) == 2
    finally:
        other.dispose()
    assert _done(db) == ["a", "c"]
    assert after == ["a", "c"]


def test_after_runs_once_the_item_is_committed(db: Database) -> None:
    """``after`` sees the item's transaction committed (a new read finds it done)."""
    _add(db, ("a", NOW))
    seen: list[list[str]] = []
    each_due(db, _finder(10), act, lambda tx: None, 10, after=lambda item: seen.append(_done(db)))
    assert seen == [["a"]]
