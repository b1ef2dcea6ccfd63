"""The embedded database's write generation: shared by every process, changed by every write."""

from __future__ import annotations

import errno
import multiprocessing
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, text

from openkms.store.engine import Database, make_engine
from openkms.store.generation import SUFFIX, WriteGeneration
from openkms.store.schema import meta


def test_the_file_is_private_and_shared(tmp_path: Path) -> None:
    one = WriteGeneration(tmp_path / "g")
    two = WriteGeneration(tmp_path / "g")
    assert stat.S_IMODE((tmp_path / "g").stat().st_mode) == 0o600
    assert one.current() == two.current()
    before = one.current()
    one.advance()
    assert two.current() == one.current() != before


def _advance(path: str) -> None:
    WriteGeneration(Path(path)).advance()


def test_another_process_sees_the_change(tmp_path: Path) -> None:
    gen = WriteGeneration(tmp_path / "g")
    seen = {gen.current()}
    ctx = multiprocessing.get_context("fork")
    for _ in range(5):
        proc = ctx.Process(target=_advance, args=(str(tmp_path / "g"),))
        proc.start()
        proc.join(10)
        assert proc.exitcode == 0
        assert gen.current() not in seen  # a new value each time, never one seen before
        seen.add(gen.current())


def test_a_short_file_is_extended_not_rejected(tmp_path: Path) -> None:
    (tmp_path / "g").write_bytes(b"\x01")
    gen = WriteGeneration(tmp_path / "g")
    gen.advance()
    assert (tmp_path / "g").stat().st_size == 8


def test_a_full_disk_fails_the_open_not_a_later_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file's space is reserved when it is made: on a full disk that fails with ENOSPC
    naming the file, where a sparse file would fail the first store through the map (SIGBUS)."""
    reserved: list[tuple[int, int]] = []

    def no_space(fd: int, offset: int, length: int) -> None:
        reserved.append((offset, length))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    with pytest.raises(OSError) as failed:
        WriteGeneration(tmp_path / "g")
    assert failed.value.errno == errno.ENOSPC
    assert failed.value.filename == str(tmp_path / "g")
    assert reserved == [(0, 8)]


def test_a_sparse_file_is_made_whole(tmp_path: Path) -> None:
    """A file left sized but unallocated (by a process that died before storing) gets its
    block when opened, so a store through the map cannot meet a full disk."""
    path = tmp_path / "g"
    path.touch(mode=0o600)
    os.truncate(path, 8)
    if path.stat().st_blocks != 0:
        pytest.skip("this filesystem allocates on truncate")
    WriteGeneration(path)
    assert path.stat().st_blocks > 0
    assert path.stat().st_size == 8


def _database(path: Path) -> Database:
    db = Database(make_engine(f"sqlite:///{path}", synchronous="FULL"))
    with db.engine.begin() as conn:
        meta.create(conn, checkfirst=True)
    return db


def test_every_write_of_the_database_changes_it(tmp_path: Path) -> None:
    """write() blocks (committed or failed) and hot writes change the value; reads do not."""
    db = _database(tmp_path / "x.db")
    assert db.generation is not None
    assert (tmp_path / f"x.db{SUFFIX}").exists()
    seen = db.generation.current()
    with db.read() as tx:
        tx.scalar(text("SELECT 1"))
    assert db.generation.current() == seen
    assert db.first(meta.select().where(meta.c.name == "nothing"), {}) is None
    assert db.generation.current() == seen

    with db.write() as tx:
        tx.run(insert(meta).values(name="a", value="1"))
    assert db.generation.current() != seen
    seen = db.generation.current()

    db.run(insert(meta).values(name="b", value="2"))
    assert db.generation.current() != seen
    seen = db.generation.current()

    try:
        with db.write() as tx:
            tx.run(insert(meta).values(name="c", value="3"))
            raise RuntimeError("after the insert")
    except RuntimeError:
        pass
    assert db.generation.current() != seen  # rolled back, but the value need not know that
    db.dispose()


def test_no_generation_without_a_database_file(tmp_path: Path) -> None:
    """A database that is not a SQLite file (here in-memory; PostgreSQL likewise) has none, and
    so nothing may be kept."""
    db = Database(create_engine("sqlite://"))
    assert db.generation is None
    db.dispose()
