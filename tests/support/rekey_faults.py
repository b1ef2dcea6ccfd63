"""openkms with a kill -9 injected at one step of `operator rekey|rotate-root|migrate-root`, for
the crash tests: ``OPENKMS_TEST_KILL_AT`` names the step (``added``, ``switched``, ``batch``,
``finished``, ``retired``, ``staged``) and, after a colon, which time it is met (``batch:3``).
The process kills itself with SIGKILL right after that step committed. Never used outside
tests."""

from __future__ import annotations

import os
import signal

from openkms import cli, cli_operator

_name, _, _nth = os.environ.get("OPENKMS_TEST_KILL_AT", "").partition(":")
_met = 0


def _kill_at(step: str) -> None:
    global _met
    if step != _name:
        return
    _met += 1
    if _met >= int(_nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


cli_operator.on_step = _kill_at

if __name__ == "__main__":
    raise SystemExit(cli.main())
