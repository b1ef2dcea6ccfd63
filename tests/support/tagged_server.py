"""openkms with every answer tagged with the worker process that served it
(``x-openkms-test-worker: <pid>``), so multi-worker tests can tell the workers apart and send a
request to one worker and its replay to another. The server is otherwise unchanged. The patch
is applied at import, so it holds in uvicorn's spawned worker processes too (they re-import this
main module). Never used outside tests."""

from __future__ import annotations

import os
import sys
from typing import Any

from openkms import cli

HEADER = b"x-openkms-test-worker"
_create_app = cli.create_app


def _create_tagged_app() -> object:
    app: Any = _create_app()
    pid = str(os.getpid()).encode()

    async def tagged(scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def send_tagged(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (HEADER, pid)]}
            await send(message)

        await app(scope, receive, send_tagged)

    return tagged


cli.create_app = _create_tagged_app

if __name__ == "__main__":
    sys.exit(cli.main())
