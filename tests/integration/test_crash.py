"""kill -9 at random moments under load: every acknowledged write is there afterwards, and the
database passes its integrity check (security.md R1, with the R1m mutation guard).

The default run does a few kills; `make test-chaos` runs the long mode (50+ kills).
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from alibabacloud_kms20160120 import models as m

from tests.support.clients import tea_client
from tests.support.server import ServerProcess


class Ledger:
    """What the server acknowledged, recorded only after the answer arrived."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.lock = threading.Lock()


def _load(endpoint: str, ledger: Ledger, stop: threading.Event) -> None:
    client = tea_client(endpoint)
    while not stop.is_set():
        try:
            key_id = client.create_key(m.CreateKeyRequest(description="crash")).body.key_metadata.key_id
        except Exception:
            time.sleep(0.01)
            continue
        with ledger.lock:
            ledger.keys.append(key_id)


def _run_cycles(srv: ServerProcess, cycles: int, threads: int = 3) -> tuple[Ledger, list[str]]:
    ledger = Ledger()
    for _ in range(cycles):
        stop = threading.Event()
        workers = [threading.Thread(target=_load, args=(srv.endpoint, ledger, stop)) for _ in range(threads)]
        for w in workers:
            w.start()
        time.sleep(0.3 + secrets.randbelow(700) / 1000)
        srv.kill9()
        stop.set()
        for w in workers:
            w.join(30)
        srv.start()
    client = tea_client(srv.endpoint)
    missing = []
    for key_id in ledger.keys:
        try:
            client.describe_key(m.DescribeKeyRequest(key_id=key_id))
        except Exception:
            missing.append(key_id)
    return ledger, missing


def _integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def _check(make: Callable[[Path], ServerProcess], tmp_path: Path, cycles: int) -> tuple[Ledger, list[str]]:
    srv = make(tmp_path / "data")
    srv.start()
    try:
        ledger, missing = _run_cycles(srv, cycles)
    finally:
        srv.stop()
    assert _integrity(tmp_path / "data" / "openkms.db") == "ok"
    return ledger, missing


def test_acknowledged_keys_survive_kill9(tmp_path: Path) -> None:
    """A few kill -9 cycles under CreateKey load lose no acknowledged key."""
    ledger, missing = _check(ServerProcess, tmp_path, cycles=3)
    assert len(ledger.keys) > 0
    assert missing == []


@pytest.mark.chaos
def test_acknowledged_keys_survive_many_kills(tmp_path: Path) -> None:
    """Long mode: 50 kill -9 cycles under load lose nothing acknowledged."""
    ledger, missing = _check(ServerProcess, tmp_path, cycles=50)
    assert len(ledger.keys) > 100
    assert missing == []


def test_guard_catches_acknowledge_before_commit(tmp_path: Path) -> None:
    """Mutation guard: a server that acknowledges before COMMIT loses keys, and this test sees it."""

    def broken(data: Path) -> ServerProcess:
        return ServerProcess(data, module="tests.support.broken_server")

    missing: list[str] = []
    for attempt in range(6):  # each attempt kills once; one loss is proof enough
        (tmp_path / str(attempt)).mkdir()
        _, missing = _check(broken, tmp_path / str(attempt), cycles=1)
        if missing:
            break
    assert missing, "the crash test no longer detects acknowledged-but-uncommitted writes"
