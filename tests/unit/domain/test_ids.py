"""Identifiers handed to callers have Alibaba's shapes."""

from __future__ import annotations

import uuid

from openkms.domain import ids


def test_request_id_is_an_upper_case_uuid4() -> None:
    """RequestId is a random, upper-case, RFC 4122 version-4 UUID, new every time."""
    seen = set()
    for _ in range(200):
        rid = ids.new_request_id()
        parsed = uuid.UUID(rid)
        assert (4, uuid.RFC_4122, rid) == (parsed.version, parsed.variant, str(parsed).upper())
        seen.add(rid)
    assert len(seen) == 200
