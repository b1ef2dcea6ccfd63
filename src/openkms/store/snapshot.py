"""The embedded database as a file: an online copy through SQLite's backup API, what a copy
holds (for a backup's manifest), and the integrity check a node runs on it at start.

The backup API copies the database a few pages per step. The source connection holds one read
transaction across all the steps, so the copy is the database as of the commit current when the
copy began, whatever writers do meanwhile (in WAL mode a reader never blocks a writer; without
the held transaction SQLite would restart the copy after every write by another connection, and
under a steady write load never finish). The copy is switched out of WAL mode, so it is one
self-contained file.

A plain copy of the file while a server runs (``cp openkms.db``, without its ``-wal``) is sound
and passes quick_check, yet lacks every commit since the last checkpoint. ``serve`` therefore
marks the file itself as served: at start it records the ``serving`` row in the meta table and
checkpoints, so every later state of the file carries the row; a clean stop deletes the row and
checkpoints again. A file that carries the row with no ``-wal`` beside it is either such a copy
or a node whose write-ahead log was lost: either way it is behind its own commits, and
:func:`copied_while_serving` says so. (After a crash the ``-wal`` is still there, and the next
start replays it.) An online copy (:func:`online_copy`) drops the row: it holds every commit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Contents",
    "CopyFailed",
    "DamagedDatabase",
    "check",
    "contents",
    "copied_while_serving",
    "mark_serving",
    "mark_stopped",
    "online_copy",
    "served",
]

# Pages copied per step of the backup API: one progress report each.
_PAGES_PER_STEP = 64
_BUSY_MS = 10_000
# What SQLite answers for a file whose contents are not a sound database (primary codes).
_DAMAGED_CODES = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
# The meta row of a database a server has open (module docstring).
_SERVING = "serving"


class CopyFailed(Exception):
    """The source database could not be read (absent, not a database, locked too long)."""


class DamagedDatabase(Exception):
    """The database file fails SQLite's quick_check, or is not a database at all."""


@dataclass(frozen=True, slots=True)
class Contents:
    """What a database file holds, as a backup's manifest records it."""

    schema_revision: str | None
    root_fingerprint: str | None
    keys: int
    accounts: int
    # Where the root key is (service/roots.py): ``file`` needs a key file; the others carry
    # their root, sealed, in the database.
    root_provider: str = "file"


def online_copy(source: Path, target: Path, progress: Callable[[int, int], None] | None = None) -> None:
    """Copy the database at ``source`` into a new file ``target`` (0600) while others may write
    to it. ``progress(copied_pages, total_pages)`` is called after every step.

    Raises:
        FileExistsError: ``target`` exists.
        DamagedDatabase: the copy fails its quick_check.
        CopyFailed: the source cannot be read.
    """
    fd = target.open("xb")  # O_EXCL: never overwrite
    fd.close()
    target.chmod(0o600)
    # Read-write mode (the copy only reads): a read-only connection cannot open a WAL database
    # whose -shm file is absent, as after a clean stop.
    try:
        src = sqlite3.connect(f"file:{source}?mode=rw", uri=True, timeout=_BUSY_MS / 1000)
    except sqlite3.Error as exc:
        raise CopyFailed(str(exc)) from None
    dst = sqlite3.connect(target)
    try:

        def step(_status: int, remaining: int, total: int) -> None:
            if progress is not None:
                progress(total - remaining, total)

        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot is taken here
        src.backup(dst, pages=_PAGES_PER_STEP, progress=step)
        src.rollback()
        dst.execute("PRAGMA journal_mode=DELETE")
        dst.execute("DELETE FROM meta WHERE name = ?", (_SERVING,))  # the copy holds every commit
        dst.commit()
    except sqlite3.Error as exc:
        raise CopyFailed(str(exc)) from None
    finally:
        src.close()
        dst.close()
    check(target)


def check(path: Path) -> None:
    """SQLite's quick_check over the file at ``path`` (and its -wal, if one is beside it): the
    pages are well formed, every b-tree and index is sound, no page is missing or counted
    twice. A torn copy (taken while a checkpoint rewrote pages, or cut short) fails it.

    Raises:
        DamagedDatabase: with SQLite's first complaint.
        sqlite3.Error: anything else (a full disk, a file that cannot be read), unchanged.
    """
    db = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=_BUSY_MS / 1000)
    try:
        rows = db.execute("PRAGMA quick_check(1)").fetchall()
    except sqlite3.DatabaseError as exc:
        if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in _DAMAGED_CODES:
            raise DamagedDatabase(str(exc)) from None
        raise
    finally:
        db.close()
    if rows != [("ok",)]:
        raise DamagedDatabase(str(rows[0][0]) if rows else "quick_check answered nothing")


def mark_serving(path: Path, since: str) -> None:
    """Record in the file itself that a server has it open (``since``: when, for a reader), and
    checkpoint, so that the main file carries the row from now on."""
    _mark(path, "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (_SERVING, since))


def mark_stopped(path: Path) -> None:
    """Delete the serving row after a clean stop, and checkpoint it into the main file."""
    _mark(path, "DELETE FROM meta WHERE name = ?", (_SERVING,))


def _mark(path: Path, sql: str, params: tuple[str, ...]) -> None:
    db = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=_BUSY_MS / 1000)
    try:
        with db:
            db.execute(sql, params)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        db.close()


def copied_while_serving(path: Path) -> bool:
    """Whether the file carries the serving row with no ``-wal`` beside it: a copy taken while a
    server ran, or a node whose write-ahead log is gone (module docstring). Call it before
    anything opens the database (opening makes a ``-wal``)."""
    if path.with_name(path.name + "-wal").exists():
        return False
    try:
        return served(path)
    except sqlite3.Error:
        return False  # not an openkms database (yet): the start-up checks say what is wrong


def served(path: Path) -> bool:
    """Whether the database carries the serving row (sqlite3.Error if it cannot be read)."""
    db = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=_BUSY_MS / 1000)
    try:
        return db.execute("SELECT 1 FROM meta WHERE name = ?", (_SERVING,)).fetchone() is not None
    finally:
        db.close()


def contents(path: Path) -> Contents:
    """The schema revision, root fingerprint and counts of keys and accounts of a database file
    nobody writes (a snapshot)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        revision = db.execute("SELECT version_num FROM alembic_version").fetchone()
        fingerprint = db.execute("SELECT value FROM meta WHERE name = 'root_fingerprint'").fetchone()
        provider = db.execute("SELECT value FROM meta WHERE name = 'root_provider'").fetchone()
        keys = db.execute("SELECT count(*) FROM keys").fetchone()[0]
        accounts = db.execute("SELECT count(*) FROM accounts").fetchone()[0]
    except sqlite3.Error as exc:
        raise DamagedDatabase(f"not an openkms database: {exc}") from None
    finally:
        db.close()
    return Contents(
        schema_revision=revision[0] if revision else None,
        root_fingerprint=fingerprint[0] if fingerprint else None,
        keys=int(keys),
        accounts=int(accounts),
        root_provider=provider[0] if provider else "file",
    )
