"""The replay guard's stores: a nonce is single-use per AccessKey until its record expires.

The same rules hold for both stores: the node's nonce files (embedded default) and the shared
database's table (PostgreSQL; here on a SQLite engine, which runs the same statements).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from openkms.service.nonces import NonceStore, SQLNonceStore
from openkms.store.engine import Database, make_engine
from openkms.store.nonce_table import FileNonceStore
from openkms.store.schema import nonce_metadata


def _sql_store(tmp_path: Path) -> SQLNonceStore:
    db = Database(make_engine(f"sqlite:///{tmp_path / 'n.db'}", synchronous="NORMAL"))
    nonce_metadata.create_all(db.engine)
    return SQLNonceStore(db)


@pytest.fixture(params=["files", "table"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NonceStore]:
    made: NonceStore = FileNonceStore(tmp_path / "nonces") if request.param == "files" else _sql_store(tmp_path)
    yield made
    made.close()


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


def test_prune_removes_only_expired_records_in_batches(tmp_path: Path) -> None:
    """The table: pruning deletes every expired record (in several batches) and keeps the
    live ones."""
    store = _sql_store(tmp_path)
    for i in range(25):
        store.use("AK1", f"old-{i}", 100.0, 10.0)
    for i in range(5):
        store.use("AK1", f"live-{i}", 1000.0, 10.0)
    assert store.prune(500.0, batch=10) == 25
    assert store.prune(500.0, batch=10) == 0
    assert not store.use("AK1", "live-0", 1000.0, 600.0)
    assert store.use("AK1", "old-0", 1000.0, 600.0)
