"""A deliberately broken openkms for the console's authorization test: its console path runs
handlers without the authorization hop. The denied-action test must catch it. Never used
outside tests."""

from __future__ import annotations

import sys

from openkms import cli
from openkms.server import KMSApp, Response, _Call


def _unchecked(self: KMSApp, call: _Call) -> Response:
    call.bound = True
    return self._handle(call)


KMSApp._permitted = _unchecked  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(cli.main())
