"""The node's nonce files: probing, generations, several processes, restarts and kill -9."""

from __future__ import annotations

import multiprocessing
import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from openkms.store import nonce_table
from openkms.store.nonce_table import FileNonceStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FileNonceStore]:
    made = FileNonceStore(tmp_path / "nonces")
    yield made
    made.close()


def _tables(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.tbl"))


def test_files_are_private(store: FileNonceStore, tmp_path: Path) -> None:
    """The directory is 0700 and every file in it 0600 (the key file keys the digests)."""
    directory = tmp_path / "nonces"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    names = sorted(p.name for p in directory.iterdir())
    assert names == ["00000001.tbl", "key", "lock"]
    for p in directory.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_a_cluster_is_probed_past_expired_records(store: FileNonceStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records whose digests share a home slot form a run; an expired record in the run is
    reused by the next insert but never hides a live record behind it."""
    home = 7
    digests = {"a": home, "b": home + (1 << 40), "c": home + (2 << 40)}
    monkeypatch.setattr(store, "digest", lambda ak, nonce: digests[nonce])
    assert store.use("AK", "a", 100.0, 10.0)  # slot 7
    assert store.use("AK", "b", 1000.0, 10.0)  # slot 8
    filled = store._gens[-1].filled
    # "a" has expired: "b" behind it is still found, and still live.
    assert not store.use("AK", "b", 1000.0, 200.0)
    # "c" takes the expired slot of "a" (no slot newly filled); "b" stays refused.
    assert store.use("AK", "c", 1000.0, 200.0)
    assert store._gens[-1].filled == filled
    assert not store.use("AK", "b", 1000.0, 300.0)
    assert not store.use("AK", "c", 1000.0, 300.0)
    # "a" is claimable again (its record was overwritten), then refused.
    assert store.use("AK", "a", 1000.0, 300.0)
    assert not store.use("AK", "a", 1000.0, 300.0)


def test_generations_rotate_and_keep_every_live_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When half a table fills, a new one twice as large takes the inserts; every record of
    the older ones is still found. Once all of an older one has expired, pruning deletes it."""
    monkeypatch.setattr(nonce_table, "MIN_CAPACITY", 64)
    store = FileNonceStore(tmp_path / "nonces")
    try:
        for i in range(200):
            assert store.use("AK", f"n{i}", 1000.0 + i, 10.0)
        tables = _tables(tmp_path / "nonces")
        assert len(tables) >= 3
        assert [g.capacity for g in store._gens][:2] == [64, 128]
        assert not any(store.use("AK", f"n{i}", 5000.0, 20.0) for i in range(200))
        assert store.prune(20.0) == 0
        # At 1100 every record of the first tables (expiring by 1000 + their last i) is gone.
        dropped = store.prune(1100.0)
        assert dropped >= 1
        assert len(_tables(tmp_path / "nonces")) == len(tables) - dropped
        assert not any(store.use("AK", f"n{i}", 5000.0, 1100.0) for i in range(101, 200))
    finally:
        store.close()


def test_a_table_gives_way_after_its_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A table that never fills still gives way after ROTATE_AFTER seconds, so the files hold
    only what the window holds; the new one is sized from its predecessor's fill."""
    store = FileNonceStore(tmp_path / "nonces")
    try:
        created = store._gens[-1].created
        assert store.use("AK", "early", created + 100, created + 1)
        late = created + nonce_table.ROTATE_AFTER + 5
        assert store.use("AK", "late", late + 100, late)  # the first claim of the new table
        assert _tables(tmp_path / "nonces") == ["00000001.tbl", "00000002.tbl"]
        assert store._gens[-1].capacity == nonce_table.MIN_CAPACITY
        assert store.prune(created + 50) == 0  # "early" is still live in the first one
        assert not store.use("AK", "early", created + 1000, created + 50)
        assert store.prune(created + 150) == 1
        assert _tables(tmp_path / "nonces") == ["00000002.tbl"]
        assert not store.use("AK", "late", late + 1000, late + 50)
        assert store.use("AK", "early", late + 1000, late + 50)
    finally:
        store.close()


def test_another_process_sees_claims_and_rotations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two stores over one directory (as two worker processes hold): a nonce claimed through
    either is refused through the other, also across the tables one of them started."""
    monkeypatch.setattr(nonce_table, "MIN_CAPACITY", 64)
    one = FileNonceStore(tmp_path / "nonces")
    two = FileNonceStore(tmp_path / "nonces")
    try:
        for i in range(300):
            first, second = (one, two) if i % 3 else (two, one)
            assert first.use("AK", f"n{i}", 1000.0, 10.0)
            assert not second.use("AK", f"n{i}", 1000.0, 10.0)
        assert len(one._gens) >= 3
        assert [g.path for g in one._gens] == [g.path for g in two._gens]
    finally:
        one.close()
        two.close()


def test_records_survive_a_restart(tmp_path: Path) -> None:
    """Closed and opened again (a restart), the store refuses every nonce it accepted."""
    first = FileNonceStore(tmp_path / "nonces")
    for i in range(100):
        assert first.use("AK", f"n{i}", 1000.0, 10.0)
    first.close()
    again = FileNonceStore(tmp_path / "nonces")
    try:
        assert not any(again.use("AK", f"n{i}", 1000.0, 20.0) for i in range(100))
        assert again.use("AK", "new", 1000.0, 20.0)
    finally:
        again.close()


def _claim_forever(directory: str, start: int, report: multiprocessing.connection.Connection) -> None:
    """Claim n{start}, n{start+1}, ... and report each one after its claim returned True."""
    store = FileNonceStore(Path(directory))
    i = start
    while True:
        if store.use("AK", f"n{i}", 4e9, 10.0):
            report.send(i)
        i += 1


def test_kill_9_loses_no_acknowledged_claim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes claim nonces (one shared range, so they also race for the same ones) and
    are killed with SIGKILL mid-stream; every claim either reported is refused afterwards, and
    none was accepted twice."""
    monkeypatch.setattr(nonce_table, "MIN_CAPACITY", 256)  # rotations happen during the run
    ctx = multiprocessing.get_context("fork")
    directory = tmp_path / "nonces"
    FileNonceStore(directory).close()
    reports = []
    workers = []
    for _ in range(2):
        receive, send = ctx.Pipe(duplex=False)
        worker = ctx.Process(target=_claim_forever, args=(str(directory), 0, send), daemon=True)
        worker.start()
        send.close()
        reports.append(receive)
        workers.append(worker)
    accepted: list[int] = []
    while len(accepted) < 1000:  # both run; whichever is ahead reports
        for receive in reports:
            if receive.poll(0.01):
                accepted.append(receive.recv())
    for worker in workers:
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        worker.join()
    for receive in reports:
        while receive.poll():
            try:
                accepted.append(receive.recv())
            except EOFError:
                break
    assert len(accepted) == len(set(accepted)), "a nonce was accepted by both processes"
    after = FileNonceStore(directory)
    try:
        assert not [i for i in accepted if after.use("AK", f"n{i}", 4e9, 20.0)]
        assert len(_tables(directory)) > 1
    finally:
        after.close()


def test_digests_are_keyed_per_node(tmp_path: Path) -> None:
    """Each node's files have their own random key, so digests differ between nodes and
    nobody without the key file can aim a nonce at another's slot."""
    one = FileNonceStore(tmp_path / "a")
    two = FileNonceStore(tmp_path / "b")
    try:
        assert one.digest("AK", "n") != two.digest("AK", "n")
        assert len((tmp_path / "a" / "key").read_bytes()) == nonce_table.KEY_BYTES
    finally:
        one.close()
        two.close()


def test_a_foreign_table_file_is_refused(tmp_path: Path) -> None:
    """A table file that is not one (wrong magic or size) stops the store from opening."""
    directory = tmp_path / "nonces"
    FileNonceStore(directory).close()
    (directory / "00000002.tbl").write_bytes(b"\0" * 4096)
    with pytest.raises(ValueError, match="not a nonce table"):
        FileNonceStore(directory)


@pytest.mark.parametrize(
    ("filled", "capacity", "expected"),
    [
        (1 << 20, 1 << 21, 1 << 22),  # half full: twice as large
        (3_600_000, 1 << 23, 1 << 23),  # 5 minutes at 12,000/s kept under half: the same size
        (100_000, 1 << 23, 1 << 18),  # the rate fell: smaller
        (10, 1 << 20, nonce_table.MIN_CAPACITY),
        (1 << 26, 1 << 26, nonce_table.MAX_CAPACITY),
    ],
)
def test_the_next_table_is_sized_for_the_rate(filled: int, capacity: int, expected: int) -> None:
    """A new table doubles after a half-full one, else is sized to keep what the last one took
    under half its slots, within MIN_CAPACITY and MAX_CAPACITY."""
    assert nonce_table._capacity_for(filled, capacity) == expected


def test_a_full_disk_at_rotation_does_not_fail_the_claim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the next table cannot be made (no space), claims go on in the current one and
    the rotation is tried again by a later insert; a table with no free slot refuses."""
    monkeypatch.setattr(nonce_table, "MIN_CAPACITY", 64)
    store = FileNonceStore(tmp_path / "nonces")
    real_write_new = nonce_table._write_new

    def no_space(path: Path, capacity: int, now: float) -> None:
        raise OSError(28, "No space left on device")

    try:
        monkeypatch.setattr(nonce_table, "_write_new", no_space)
        assert all(store.use("AK", f"n{i}", 1000.0, 10.0) for i in range(64))
        assert _tables(tmp_path / "nonces") == ["00000001.tbl"]
        assert not store.use("AK", "n5", 1000.0, 10.0)
        with pytest.raises(RuntimeError, match="full"):
            store.use("AK", "n64", 1000.0, 10.0)
        monkeypatch.setattr(nonce_table, "_write_new", real_write_new)
        assert store.use("AK", "n64", 1000.0, 10.0)
        assert _tables(tmp_path / "nonces") == ["00000001.tbl", "00000002.tbl"]
        assert not store.use("AK", "n5", 1000.0, 10.0)
    finally:
        store.close()


def test_files_half_made_by_a_crash_are_removed_at_start(tmp_path: Path) -> None:
    """A table or key file a crash left half made (its temporary name) is deleted when a
    store opens; finished tables are kept."""
    directory = tmp_path / "nonces"
    FileNonceStore(directory).close()
    (directory / ".00000002.tbl.tmp").write_bytes(b"\0" * 100)
    (directory / ".key.tmp").write_bytes(b"half")
    FileNonceStore(directory).close()
    assert sorted(p.name for p in directory.iterdir()) == ["00000001.tbl", "key", "lock"]
