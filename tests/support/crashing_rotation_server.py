"""openkms that kills itself (SIGKILL: no shutdown, no flush) right after a managed secret's
rotation records the step named by ``OPENKMS_TEST_CRASH_AT``: ``pending`` (the new version
stored), ``applied`` (the target has the password), ``verified`` (the login worked) or
``promoted`` (ACSCurrent moved). For the kill -9 tests of rotation; never used outside tests.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from openkms import cli
from openkms.service.rotation import RotationService

CRASH_AT = os.environ.get("OPENKMS_TEST_CRASH_AT", "")
_start, _advance, _promote = RotationService.start, RotationService._advance, RotationService._promote


def _die(step: str) -> None:
    if step == CRASH_AT:
        os.kill(os.getpid(), signal.SIGKILL)


def _crash_after_start(self: RotationService, *args: Any, **kwargs: Any) -> bool:
    started = _start(self, *args, **kwargs)
    if started:
        _die("pending")
    return started


def _crash_after_advance(self: RotationService, rotation: Any, step: str, fence: Any) -> None:
    _advance(self, rotation, step, fence)
    _die(step)


def _crash_after_promote(self: RotationService, rotation: Any, fence: Any) -> None:
    _promote(self, rotation, fence)
    _die("promoted")


RotationService.start = _crash_after_start  # type: ignore[method-assign]
RotationService._advance = _crash_after_advance  # type: ignore[method-assign]
RotationService._promote = _crash_after_promote  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(cli.main())
