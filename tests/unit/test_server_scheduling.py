"""How the event loop runs the requests that arrive together (the embedded store)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from openkms.config import Settings
from openkms.server import KMSApp, _Call
from openkms.service.deployment import open_deployment


def test_requests_that_arrive_together_run_their_fronts_before_their_handlers(tmp_path: Path) -> None:
    """Each request yields to the loop once after authentication, so the fronts of requests
    ready together run back to back and their handlers after (the batching measured in
    docs/performance.md); each still gets its own answer."""
    dep = open_deployment(Settings(data_dir=tmp_path / "data"))
    app = KMSApp(dep, run_jobs=False)
    assert app.inline
    order: list[str] = []

    def front(call: _Call, scope: dict[str, Any], body: bytes, too_large: bool) -> None:
        order.append(f"front {body.decode()}")
        call.spec = type("Spec", (), {"inline": True})()  # type: ignore[assignment]
        return None

    def handle(call: _Call) -> tuple[int, bytes, bytes]:
        order.append(f"handle {call.request_id}")
        return 200, b"text/plain", call.request_id.encode()

    app._front = front  # type: ignore[method-assign,assignment]
    app._handle = handle  # type: ignore[method-assign,assignment]
    app._log = lambda call, response: None  # type: ignore[method-assign,assignment]

    async def both() -> list[tuple[int, bytes, bytes]]:
        return list(
            await asyncio.gather(
                app._serve_inline({}, b"a", False, "a"), app._serve_inline({}, b"b", False, "b")
            )
        )

    try:
        answers = asyncio.run(both())
    finally:
        app.pool.shutdown()
        dep.close()
    assert order == ["front a", "front b", "handle a", "handle b"]
    assert [a[2] for a in answers] == [b"a", b"b"]
