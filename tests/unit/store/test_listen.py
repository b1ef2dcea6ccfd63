"""Other nodes' writes heard over PostgreSQL (store/listen.py): a write committed by one node
moves the write generation of another within milliseconds; a write of rows nobody keeps does
not; a listener whose connection was lost listens again and counts what it missed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from openkms.store import Database, meta, migrate
from openkms.store.engine import make_engine, make_nullpool_engine
from openkms.store.schema import meta as meta_table
from tests.support.postgres import PostgresDatabase


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[Database, Database]]:
    with PostgresDatabase() as pg:
        migrate.upgrade(make_nullpool_engine(pg.url))
        a = Database(make_engine(pg.url), generation=tmp_path / "a-generation")
        b = Database(make_engine(pg.url), generation=tmp_path / "b-generation")
        try:
            for db in (a, b):
                assert db._listener is not None and db._listener.listening.wait(5)
            yield a, b
        finally:
            a.dispose()
            b.dispose()


def _moves_within(db: Database, before: int, seconds: float) -> bool:
    assert db.generation is not None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if db.generation.current() != before:
            return True
        time.sleep(0.002)
    return False


def test_a_write_on_one_node_moves_the_generation_of_the_other(two_nodes: tuple[Database, Database]) -> None:
    a, b = two_nodes
    assert b.generation is not None
    before = b.generation.current()
    with a.write() as tx:
        meta.insert_value(tx, "listen-test", "1")
    assert _moves_within(b, before, 1.0)


def test_a_write_of_rows_nobody_keeps_is_not_announced(two_nodes: tuple[Database, Database]) -> None:
    a, b = two_nodes
    assert b.generation is not None
    time.sleep(0.1)  # anything still in flight from the fixture's start
    before = b.generation.current()
    with a.write(kept=False) as tx:
        tx.first(select(meta_table.c.name).limit(1))
    assert not _moves_within(b, before, 0.3)


def test_a_listener_cut_off_listens_again_and_counts_what_it_missed(
    two_nodes: tuple[Database, Database],
) -> None:
    """The listener's backend is terminated: the generation moves (writes may have gone
    unheard), the listener connects again, and later writes are heard."""
    a, b = two_nodes
    assert b.generation is not None and b._listener is not None
    with a.read() as tx:
        tx.scalar(select(meta_table.c.name).limit(1))
    with b.read() as tx:
        killed = tx.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN %' AND datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    assert killed == 2
    before = b.generation.current()
    assert _moves_within(b, before, 3.0)
    assert b._listener.listening.wait(5)
    time.sleep(0.1)
    before = b.generation.current()
    with a.write() as tx:
        meta.insert_value(tx, "listen-test-2", "1")
    assert _moves_within(b, before, 1.0)
