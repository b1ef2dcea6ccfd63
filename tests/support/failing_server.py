"""openkms with one action broken on purpose: ``ListAliases`` fails inside the server with an
unexpected exception, so a test sees how an internal failure is answered (InternalFailure) and
logged (its traceback in one JSON field). Never used outside tests."""

from __future__ import annotations

import sys
from typing import Any

from openkms import cli, server

FAILING_ACTION = "ListAliases"
_render = server.render_success


def _failing_render(action: str, result: Any, *args: Any, **kwargs: Any) -> Any:
    if action == FAILING_ACTION:
        raise RuntimeError("the renderer broke on purpose")
    return _render(action, result, *args, **kwargs)


server.render_success = _failing_render

if __name__ == "__main__":
    sys.exit(cli.main())
