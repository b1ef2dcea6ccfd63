"""A deliberately broken openkms for the crash test's audit guard: it answers a call before
the call's audit event is written, and its writer waits half a second before each group, so a
kill -9 loses the events of calls already answered. The crash test must catch it. Never used
outside tests."""

from __future__ import annotations

import sys
import time
from typing import Any

from openkms import cli
from openkms.service.audit import AuditTrail

_honest_write = AuditTrail._write


async def _answer_first(self: AuditTrail, event: dict[str, Any], within: float | None = None) -> None:
    self.post(event)


def _late_write(self: AuditTrail, group: list[Any]) -> Any:
    time.sleep(0.5)
    return _honest_write(self, group)


AuditTrail.wait = _answer_first  # type: ignore[method-assign]
AuditTrail._write = _late_write  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(cli.main())
