"""How the event loop runs the requests that arrive together (the embedded store)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

from openkms.config import Settings
from openkms.server import KMSApp, _Call, _Ticket
from openkms.service.deployment import init_deployment


def test_requests_that_arrive_together_run_their_fronts_before_their_handlers(tmp_path: Path) -> None:
    """Each request yields to the loop once after authentication, so the fronts of requests
    ready together run back to back and their handlers after (the batching measured in
    docs/performance.md); each still gets its own answer."""
    # The audit hop would add a wait of its own after each answer (tested in test_audit_hop.py).
    dep = init_deployment(Settings(data_dir=tmp_path / "data", audit=False))[0]
    app = KMSApp(dep, run_jobs=False)
    assert app.inline
    order: list[str] = []

    def decode(call: _Call, scope: dict[str, Any], body: bytes, too_large: bool) -> None:
        order.append(f"decode {body.decode()}")
        call.spec = type("Spec", (), {"inline": True})()  # type: ignore[assignment]
        return None

    def authorize(call: _Call) -> None:
        order.append(f"authorize {call.request_id}")
        call.bound = True
        return None

    def handle(call: _Call) -> tuple[int, bytes, bytes]:
        order.append(f"handle {call.request_id}")
        return 200, b"text/plain", call.request_id.encode()

    app._decode = decode  # type: ignore[method-assign,assignment]
    app._authorize = authorize  # type: ignore[method-assign,assignment]
    app._handle = handle  # type: ignore[method-assign,assignment]
    app._log = lambda call, response: None  # type: ignore[method-assign,assignment]

    async def both() -> list[tuple[int, bytes, bytes]]:
        now = time.monotonic()
        return list(
            await asyncio.gather(
                app._serve(_Call("a", 0.0), {}, b"a", False, now), app._serve(_Call("b", 0.0), {}, b"b", False, now)
            )
        )

    try:
        answers = asyncio.run(both())
    finally:
        app.pool.shutdown()
        dep.close()
    assert order == ["decode a", "authorize a", "decode b", "authorize b", "handle a", "handle b"]
    assert [a[2] for a in answers] == [b"a", b"b"]


def test_a_request_that_cannot_start_in_time_is_refused_and_never_runs(tmp_path: Path) -> None:
    """With the one pool thread busy past the queue deadline, a request is answered 429
    Rejected.Throttling at the deadline and its work never runs, not even after the thread frees
    up; a request the thread takes in time runs to its end however long that is."""
    dep = init_deployment(Settings(data_dir=tmp_path / "data", queue_timeout=0.2))[0]
    app = KMSApp(dep, threads=1, run_jobs=False)
    ran: list[str] = []
    release = threading.Event()

    def authorized(call: _Call) -> tuple[int, bytes, bytes]:
        ran.append(call.request_id)
        if call.request_id == "slow":
            release.wait(5)
        return 200, b"text/plain", b"done"

    app._authorized = authorized  # type: ignore[method-assign,assignment]

    async def scenario() -> tuple[tuple[int, bytes, bytes], tuple[int, bytes, bytes], float]:
        slow = asyncio.ensure_future(app._on_pool(_Call("slow", 0.0), time.monotonic()))
        await asyncio.sleep(0.05)  # the thread has taken "slow"
        asyncio.get_running_loop().call_later(0.6, release.set)  # past the other's deadline
        started = time.monotonic()
        refused = await app._on_pool(_Call("queued", 0.0), time.monotonic())
        waited = time.monotonic() - started
        return await slow, refused, waited

    try:
        slow, refused, waited = asyncio.run(scenario())
        app.pool.submit(lambda: None).result(5)  # the thread is free again: nothing else ran
    finally:
        app.pool.shutdown()
        dep.close()
    assert slow == (200, b"text/plain", b"done")
    assert refused[0] == 429 and json.loads(refused[2])["Code"] == "Rejected.Throttling"
    assert 0.15 <= waited < 0.5
    assert ran == ["slow"]


def test_a_ticket_starts_or_expires_never_both() -> None:
    """The deadline decides: a thread taking the ticket after it has passed does not run the
    work even when the loop has not expired it yet; one started cannot expire, and a thread cut
    off while running it resumes when it is done."""
    late = _Ticket(time.monotonic() - 1)
    assert late.run(lambda: (200, b"", b"")) is None
    assert late.expire()

    ticket = _Ticket(time.monotonic() + 5)
    cut: list[int] = []
    resumed: list[int] = []

    def work() -> tuple[int, bytes, bytes]:
        assert not ticket.expire()
        assert ticket.cut(lambda thread: cut.append(thread) is None, lambda: resumed.append(threading.get_ident()))
        return 200, b"", b"ok"

    assert ticket.run(work) == (200, b"", b"ok")
    assert cut == resumed == [threading.get_ident()]
    assert not ticket.cut(lambda thread: True, lambda: None)  # done: nothing left to cut
