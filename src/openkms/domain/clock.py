"""Time: an injectable clock and the one timestamp format of the API (``2026-11-28T06:18:06Z``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class Clock(Protocol):
    """Seconds since the epoch, UTC. Tests inject a clock they can move."""

    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class FixedClock:
    """A clock for tests: it stands still until moved."""

    def __init__(self, at: float) -> None:
        self.at = at

    def now(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds


def iso(ts: float | None) -> str:
    """Render epoch seconds as the API's UTC timestamp; None renders as the empty string."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime(ISO_FORMAT)


def parse_iso(text: str) -> float:
    """Parse ``yyyy-MM-ddTHH:mm:ssZ``; raises ValueError on anything else."""
    return datetime.strptime(text, ISO_FORMAT).replace(tzinfo=UTC).timestamp()
