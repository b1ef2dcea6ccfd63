"""`openkms serve` on a full disk: a one-line refusal that says so, exit 1, never a SIGBUS.

The disk is a small tmpfs the test mounts and fills, so these tests run only where mounting is
permitted (root); elsewhere they are skipped, and tests/unit/service/test_full_disk.py covers
the same refusals with the failure injected.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import CLI, free_port, run_serve


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """An empty 2 MiB tmpfs of the test's own, unmounted at the end."""
    mount = tmp_path / "disk"
    mount.mkdir(mode=0o700)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def _fill(disk: Path) -> None:
    """Take every free block of ``disk``."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, bytes(4096))
    except OSError as exc:
        assert exc.errno == 28  # ENOSPC
    finally:
        os.close(fd)


def _data_dir(tmp_path: Path) -> Path:
    """A data directory made by `openkms init` (root key, database, nonce files)."""
    made = tmp_path / "made"
    subprocess.run([*CLI, "init", "--data-dir", str(made)], check=True, capture_output=True)
    return made


def _assert_refused(proc: subprocess.CompletedProcess[str], message: str, command: str = "start") -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stderr)  # SIGBUS would be -7
    if command == "start":  # serve logs it: one JSON line
        event = json.loads(proc.stderr)
        assert (event["level"], event["message"]) == ("error", f"cannot start: {message}")
    else:
        assert proc.stderr == f"openkms: cannot {command}: {message}\n"
    assert "Traceback" not in proc.stdout + proc.stderr


def test_no_space_for_the_write_generation_file(tmp_path: Path, disk: Path) -> None:
    """A data directory whose write-generation file is still to be made, on a full disk while
    another process holds the database open (its -shm whole, so SQLite itself needs no space
    to start): the start is refused naming the file. A sparse file, mapped and stored into,
    killed the process with SIGBUS and no word."""
    made = _data_dir(tmp_path)
    (made / "openkms.db-generation").unlink()
    data = disk / "data"
    shutil.copytree(made, data)
    other = sqlite3.connect(data / "openkms.db", isolation_level=None)
    try:
        other.execute("SELECT count(*) FROM sqlite_master").fetchall()
        _fill(disk)
        proc = run_serve("--data-dir", str(data), "--port", str(free_port()))
    finally:
        other.close()
    _assert_refused(proc, f"the disk is full (No space left on device): {data / 'openkms.db-generation'}")


@pytest.mark.parametrize(
    ("kept", "command", "reason"),
    [
        # `init` with the root key made: SQLite cannot make the database file (SQLITE_FULL).
        (("root.key", "openkms.db-generation"), "init", "database or disk is full"),
        # The database is there, but its -shm file cannot grow: SQLITE_IOERR_SHMSIZE.
        (("root.key", "openkms.db-generation", "openkms.db", "nonces"), "serve", "disk I/O error"),
    ],
)
def test_no_space_for_the_database(
    tmp_path: Path, disk: Path, kept: tuple[str, ...], command: str, reason: str
) -> None:
    """A start (or an init) on a full disk where SQLite is the first to need space: the refusal
    says the disk is full, with SQLite's reason, rather than that the database cannot be
    reached."""
    made = _data_dir(tmp_path)
    data = disk / "data"
    data.mkdir(mode=0o700)
    for name in kept:
        if (made / name).is_dir():
            shutil.copytree(made / name, data / name)
        else:
            shutil.copy2(made / name, data / name)
    _fill(disk)
    if command == "init":
        proc = subprocess.run([*CLI, "init", "--data-dir", str(data)], capture_output=True, text=True, timeout=60)
        _assert_refused(proc, f"the database's disk is full ({reason})", "init")
    else:
        proc = run_serve("--data-dir", str(data), "--port", str(free_port()))
        _assert_refused(proc, f"the database's disk is full ({reason})")
