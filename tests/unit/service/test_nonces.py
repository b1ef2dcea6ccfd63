"""The replay guard's store: a nonce is single-use per AccessKey until it expires."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.exc import OperationalError

from openkms.service.nonces import NonceBatcher, NonceUse, SQLNonceStore
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


def test_use_many_records_a_batch_in_one_transaction(tmp_path: Path) -> None:
    """A batch is judged claim by claim (new, used, duplicated within the batch, expired and
    reclaimable) and written in one transaction."""
    store = _store(tmp_path)
    assert store.use("AK1", "used", 1000.0, 10.0)
    assert store.use("AK1", "stale", 100.0, 10.0)
    statements: list[str] = []
    store._db.set_trace(statements.append)
    verdicts = store.use_many(
        [
            NonceUse("AK1", "fresh", 1000.0, 200.0),
            NonceUse("AK1", "used", 1000.0, 200.0),
            NonceUse("AK2", "twice", 1000.0, 200.0),
            NonceUse("AK2", "twice", 1000.0, 200.0),
            NonceUse("AK1", "stale", 1000.0, 200.0),
        ]
    )
    store._db.set_trace(None)
    assert verdicts == [True, False, True, False, True]
    assert sum(s.startswith("BEGIN") for s in statements) == 1
    assert sum(s == "COMMIT" for s in statements) == 1
    assert not store.use("AK1", "fresh", 1000.0, 300.0)
    assert not store.use("AK1", "stale", 1000.0, 300.0)


class _RecordingStore:
    def __init__(self, fail: Exception | None = None) -> None:
        self.batches: list[list[NonceUse]] = []
        self.seen: set[tuple[str, str]] = set()
        self.fail = fail

    def use_many(self, claims: list[NonceUse]) -> list[bool]:
        self.batches.append(list(claims))
        if self.fail is not None:
            raise self.fail
        out = []
        for c in claims:
            out.append((c.access_key_id, c.nonce) not in self.seen)
            self.seen.add((c.access_key_id, c.nonce))
        return out


def test_claims_of_one_loop_iteration_share_one_batch() -> None:
    """Requests that reach the nonce check together are written as one batch, and each hears
    its own verdict; a later claim starts a new batch."""
    store = _RecordingStore()
    batcher = NonceBatcher(store)  # type: ignore[arg-type]

    async def scenario() -> tuple[list[bool], bool]:
        claims = [NonceUse("AK", n, 1000.0, 10.0) for n in ("a", "b", "a", "c")]
        verdicts = await asyncio.gather(*(batcher.use(c) for c in claims))
        later = await batcher.use(NonceUse("AK", "b", 1000.0, 11.0))
        return list(verdicts), later

    verdicts, later = asyncio.run(scenario())
    assert (verdicts, later) == ([True, True, False, True], False)
    assert [len(b) for b in store.batches] == [4, 1]


def test_a_failed_batch_fails_every_waiting_request() -> None:
    """A store error (a database locked past its timeout) reaches every request of the batch."""
    store = _RecordingStore(fail=OperationalError("INSERT", None, Exception("database is locked")))
    batcher = NonceBatcher(store)  # type: ignore[arg-type]

    async def scenario() -> list[object]:
        claims = [NonceUse("AK", n, 1000.0, 10.0) for n in ("a", "b")]
        return list(await asyncio.gather(*(batcher.use(c) for c in claims), return_exceptions=True))

    results = asyncio.run(scenario())
    assert [OperationalError, OperationalError] == [type(r) for r in results]
