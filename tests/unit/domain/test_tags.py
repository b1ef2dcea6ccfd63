"""Tag rules: key/value grammar, reserved prefixes, JSON forms of the old-style actions."""

from __future__ import annotations

import json

import pytest

from openkms.domain.errors import InvalidValue
from openkms.domain.tags import check_tag, parse_tag_keys_json, parse_tags_json


def test_tags_json_later_key_wins() -> None:
    """A key repeated in one Tags document takes its last value."""
    text = json.dumps([{"TagKey": "a", "TagValue": "1"}, {"TagKey": "a", "TagValue": "2"}, {"TagKey": "b"}])
    assert parse_tags_json(text) == {"a": "2", "b": ""}


@pytest.mark.parametrize(("key", "value"), [("aliyun-x", "v"), ("ACS:x", "v"), ("", "v"), ("k" * 129, "v"), ("k", "v" * 129), ("k!", "v")])
def test_bad_tags(key: str, value: str) -> None:
    """Reserved prefixes (any case), empty or long keys, long values and bad characters are refused."""
    with pytest.raises(InvalidValue):
        check_tag(key, value)


def test_good_tag_at_bounds() -> None:
    """128-character keys and values and the documented punctuation are accepted."""
    check_tag("k" * 128, "v" * 128)
    check_tag("a/b\\c_d-e.f+g=h:i@j k", "")


def test_tag_keys_json() -> None:
    """TagKeys is a JSON array of 1-128 character strings, at most 20."""
    assert parse_tag_keys_json('["a", "acs:x"]') == ["a", "acs:x"]
    for bad in ("nope", '{"a": 1}', "[1]", '[""]', json.dumps(["k"] * 21)):
        with pytest.raises(InvalidValue):
            parse_tag_keys_json(bad)
