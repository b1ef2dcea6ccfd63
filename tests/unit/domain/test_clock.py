"""The API's one timestamp format, parsed strictly and rendered in UTC."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkms.domain.clock import iso, parse_iso


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)))
def test_parse_iso_round_trips_with_iso(moment: datetime) -> None:
    """parse_iso(iso(t)) is t to the second, for every representable second."""
    seconds = moment.replace(tzinfo=UTC, microsecond=0).timestamp()
    assert seconds == parse_iso(iso(seconds))
    assert seconds == parse_iso(iso(seconds))  # the cached answer is the same answer


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "",
        "2026-11-28T06:18:06",
        "2026-11-28 06:18:06Z",
        "2026-1-28T06:18:06Z ",
        "2026-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2026-11-28T24:00:00Z",
        "2026-11-28T06:18:06.123Z",
        "\uff12\uff10\uff12\uff16-11-28T06:18:06Z",
        "+026-11-28T06:18:06Z",
    ],
)
def test_parse_iso_refuses_anything_but_yyyy_mm_ddThh_mm_ssZ(text: str) -> None:
    """Only yyyy-MM-ddTHH:mm:ssZ with ASCII digits and valid fields is a timestamp."""
    with pytest.raises(ValueError):
        parse_iso(text)


def test_a_fresh_process_refuses_the_empty_timestamp() -> None:
    """The last-answer cache's seed is never an unchecked free pass (a fresh copy of the module)."""
    spec = importlib.util.find_spec("openkms.domain.clock")
    assert spec is not None and spec.loader is not None
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    seed_text, seed_value = fresh._last_parsed
    with pytest.raises(ValueError):
        fresh.parse_iso("")
    assert seed_value == parse_iso(seed_text)  # the seed is a true pair


def test_iso_renders_utc_and_empty_for_none() -> None:
    """Epoch seconds render as UTC with a Z; a missing time renders empty."""
    assert iso(1795846686.9) == "2026-11-28T06:18:06Z"
    assert iso(None) == ""
