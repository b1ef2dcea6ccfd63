"""The replay guard's store: a nonce is single-use per AccessKey until it expires."""

from __future__ import annotations

from pathlib import Path

from openkms.service.nonces import SQLNonceStore
from openkms.store.engine import Database, make_engine
from openkms.store.schema import nonce_metadata


def _store(tmp_path: Path) -> SQLNonceStore:
    db = Database(make_engine(f"sqlite:///{tmp_path / 'n.db'}", synchronous="NORMAL", page_size=1024))
    nonce_metadata.create_all(db.engine)
    return SQLNonceStore(db)


def test_nonce_is_single_use_per_access_key(tmp_path: Path) -> None:
    """A nonce is accepted once per AccessKey; another AccessKey may use the same nonce."""
    store = _store(tmp_path)
    assert store.use("AK1", "n1", 1000.0, 10.0)
    assert not store.use("AK1", "n1", 1000.0, 20.0)
    assert store.use("AK2", "n1", 1000.0, 20.0)


def test_expired_nonce_record_may_be_reclaimed(tmp_path: Path) -> None:
    """After its record expired (and before pruning), a nonce may be used again, once."""
    store = _store(tmp_path)
    assert store.use("AK1", "n2", 100.0, 10.0)
    assert store.use("AK1", "n2", 2000.0, 150.0)
    assert not store.use("AK1", "n2", 2000.0, 160.0)


def test_nonce_database_uses_small_pages(tmp_path: Path) -> None:
    """The nonce file is created with 1 KiB pages (every request writes it)."""
    store = _store(tmp_path)
    store.use("AK1", "n3", 100.0, 10.0)
    with store._db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 1024


def test_prune_removes_only_expired_records_in_batches(tmp_path: Path) -> None:
    """Pruning deletes every expired record (in several batches) and keeps the live ones."""
    store = _store(tmp_path)
    for i in range(25):
        store.use("AK1", f"old-{i}", 100.0, 10.0)
    for i in range(5):
        store.use("AK1", f"live-{i}", 1000.0, 10.0)
    assert store.prune(500.0, batch=10) == 25
    assert store.prune(500.0, batch=10) == 0
    assert not store.use("AK1", "live-0", 1000.0, 600.0)
    assert store.use("AK1", "old-0", 1000.0, 600.0)
