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
    return time.strftime(ISO_FORMAT, time.gmtime(ts))


# Seeded with a true pair: any seed is answered without checks, so it must be a valid one.
_last_parsed: tuple[str, float] = ("1970-01-01T00:00:00Z", 0.0)


def parse_iso(text: str) -> float:
    """Parse ``yyyy-MM-ddTHH:mm:ssZ``; raises ValueError on anything else.

    Every signed request carries one, and requests of the same second carry the same one, so
    the last answer is kept (``strptime`` is slow for something every request does).
    """
    global _last_parsed
    last = _last_parsed
    if text == last[0]:
        return last[1]
    if (
        len(text) != 20
        or not text.isascii()
        or text[4] != "-"
        or text[7] != "-"
        or text[10] != "T"
        or text[13] != ":"
        or text[16] != ":"
        or text[19] != "Z"
    ):
        raise ValueError(f"not an ISO 8601 UTC timestamp: {text!r}")
    parts = (text[0:4], text[5:7], text[8:10], text[11:13], text[14:16], text[17:19])
    if not all(p.isdigit() for p in parts):
        raise ValueError(f"not an ISO 8601 UTC timestamp: {text!r}")
    y, mo, d, h, mi, s = map(int, parts)
    value = datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp()  # range-checks every field
    _last_parsed = (text, value)
    return value
