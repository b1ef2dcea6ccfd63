"""A start on a full disk is refused with a message that says the disk is full, whichever file
or database meets it first, and never as a database that cannot be reached."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

from openkms.config import Settings
from openkms.service import deployment
from openkms.service.deployment import StartupError, init_deployment


def test_no_space_for_the_write_generation_is_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write-generation file's space is reserved when it is made; on a full disk the start
    is refused naming the file (where a sparse file would have died of SIGBUS)."""

    def no_space(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    settings = Settings(data_dir=tmp_path / "data")
    with pytest.raises(StartupError) as refused:
        init_deployment(settings)
    generation = settings.data_dir / "openkms.db-generation"
    assert str(refused.value) == f"the disk is full (No space left on device): {generation}"


def test_a_database_that_cannot_grow_is_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLITE_FULL while the schema is made (a database of at most one page, as a full disk
    answers) is refused as a full disk, not as a database out of reach."""
    made = deployment.make_engine

    def capped(*args: Any, **kwargs: Any) -> Engine:
        engine = made(*args, **kwargs)
        event.listen(
            engine, "connect", lambda conn, _record: conn.execute("PRAGMA max_page_count=1").fetchall()
        )
        return engine

    monkeypatch.setattr(deployment, "make_engine", capped)
    with pytest.raises(StartupError) as refused:
        init_deployment(Settings(data_dir=tmp_path / "data"))
    assert str(refused.value) == "the database's disk is full (database or disk is full)"


def test_postgresql_disk_full_is_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL's disk_full (SQLSTATE 53100), as SQLAlchemy raises it, is refused as a full
    disk with the server's reason."""
    reason = 'could not extend file "base/16384/16390": No space left on device'

    def full(*args: Any) -> None:
        raise OperationalError("INSERT INTO meta ...", {}, psycopg.errors.DiskFull(reason))

    monkeypatch.setattr(deployment, "_prepare_schema", full)
    with pytest.raises(StartupError) as refused:
        init_deployment(Settings(data_dir=tmp_path / "data"))
    assert str(refused.value) == f"the database's disk is full ({reason})"


def test_an_unreachable_database_is_still_said_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any other driver failure at start keeps its message: the database cannot be reached."""

    def down(*args: Any) -> None:
        raise OperationalError(
            "SELECT 1", {}, psycopg.OperationalError("connection failed: Connection refused")
        )

    monkeypatch.setattr(deployment, "_prepare_schema", down)
    with pytest.raises(StartupError) as refused:
        init_deployment(Settings(data_dir=tmp_path / "data"))
    assert str(refused.value) == "cannot reach the database: connection failed: Connection refused"
