"""What a request answers when the embedded store fails under it: a write lock held past the
busy timeout and a full database are 503 ServiceUnavailableTemporary, logged in one line that
says which, without a traceback. With the audit trail on, a full database refuses every call,
reads too, until it has room again (fail-closed)."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from openkms.config import Settings
from openkms.server import KMSApp
from openkms.service.audit import verify
from openkms.service.deployment import init_deployment
from openkms.store import engine as store_engine
from tests.support.clients import RawSigner

AK = "LTAI5tFaultsAccessKey0001"
SECRET = "FaultsAccessKeySecret0123456789AB"


def _app(tmp_path: Path, audit: bool) -> Iterator[KMSApp]:
    settings = Settings(data_dir=tmp_path / "data", audit=audit)
    dep, _ = init_deployment(settings, root_access_key=(AK, SECRET))
    kms = KMSApp(dep, run_jobs=False)
    yield kms
    kms.pool.shutdown()
    kms.services.audit.close()
    dep.close()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[KMSApp]:
    """The server of an embedded deployment of the test's own, with one AccessKey; no audit
    trail, whose own writes would meet the fault first."""
    yield from _app(tmp_path, audit=False)


@pytest.fixture
def audited(tmp_path: Path) -> Iterator[KMSApp]:
    yield from _app(tmp_path, audit=True)


def _call(app: KMSApp, action: str) -> tuple[int, dict[str, Any]]:
    """A signed V1 request through the ASGI app: the HTTP status and the JSON body."""
    query = RawSigner("kms.test", AK, SECRET).v1_query(action)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "query_string": query.encode(),
        "headers": [(b"host", b"kms.test")],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], json.loads(sent[1]["body"])


def _error_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "openkms.error"]


def test_a_write_lock_held_past_the_busy_timeout_is_503(
    app: KMSApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process holding the write lock past the busy timeout makes a write 503
    ServiceUnavailableTemporary with one warning line; writes go through once it lets go."""
    monkeypatch.setattr(store_engine, "SQLITE_BUSY_MS", 100)
    other = sqlite3.connect(tmp_path / "data" / "openkms.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with caplog.at_level(logging.WARNING, logger="openkms.error"):
            status, body = _call(app, "CreateKey")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert (status, body["Code"]) == (503, "ServiceUnavailableTemporary")
    [line] = _error_lines(caplog)
    assert line.levelno == logging.WARNING and line.exc_info is None
    assert "(CreateKey): database unavailable: OperationalError" in line.getMessage()
    assert _call(app, "CreateKey")[0] == 200


def test_a_full_database_is_503_and_logged_as_full(app: KMSApp, caplog: pytest.LogCaptureFixture) -> None:
    """A database that can grow no more (SQLITE_FULL, here by PRAGMA max_page_count as a full
    disk gives it) answers writes 503 and logs that the disk is full, not a database down."""
    db = app.dep.db
    with db.read() as tx:
        pages = tx.scalar(text("PRAGMA page_count"))

    @event.listens_for(db.engine, "connect")
    def _no_growth(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count={pages}").fetchall()

    db.engine.dispose()  # the pooled connections are made again, capped
    with caplog.at_level(logging.WARNING, logger="openkms.error"):
        for _ in range(500):
            status, body = _call(app, "CreateKey")
            if status != 200:
                break
    assert (status, body["Code"]) == (503, "ServiceUnavailableTemporary")
    [line] = _error_lines(caplog)
    assert line.levelno == logging.WARNING and line.exc_info is None
    assert "(CreateKey): database unavailable: the database's disk is full" in line.getMessage()
    assert _call(app, "ListKeys")[0] == 200  # reads are still served


def test_an_audit_trail_that_cannot_be_written_refuses_calls_until_it_can(
    audited: KMSApp, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call whose event cannot be written (here: the database's disk is full for the audit
    writer's transaction) is answered 503 (audit_mode reject), and a call that would change
    state is refused before it acts. Once the events can be written again, calls are served
    without a restart, and the chain has no gap where the writes failed."""
    db = audited.dep.db
    assert _call(audited, "ListKeys")[0] == 200
    honest = db.run_batch
    full = {"on": True}

    def run_batch(steps: Any) -> None:
        if full["on"]:
            raise sqlite3.OperationalError("database or disk is full")
        honest(steps)

    monkeypatch.setattr(db, "run_batch", run_batch)
    status, body = _call(audited, "ListKeys")
    assert (status, body["Code"]) == (503, "ServiceUnavailableTemporary")
    assert audited.services.audit.failed == 1 and audited.services.audit.failing
    assert "audit events could not be written" in caplog.text
    with db.read() as tx:
        keys_before = tx.scalar(text("SELECT count(*) FROM keys"))
    monkeypatch.setattr(audited.services.audit, "writable", lambda: False)
    status, body = _call(audited, "CreateKey")
    assert (status, body["Code"]) == (503, "ServiceUnavailableTemporary")
    with db.read() as tx:
        assert tx.scalar(text("SELECT count(*) FROM keys")) == keys_before  # refused before it acted
    full["on"] = False
    monkeypatch.undo()
    assert _call(audited, "CreateKey")[0] == 200
    assert _call(audited, "ListKeys")[0] == 200
    chains, checked, findings = verify(audited.dep)
    assert (chains, findings) == (1, []) and checked >= 4
