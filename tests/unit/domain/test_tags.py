"""Tag rules: key/value grammar, reserved prefixes, and the tag map of a list of tags.

The JSON texts of the old-style actions (Tags, TagKeys) are checked by the action tables:
tests/unit/api/test_json_array.py."""

from __future__ import annotations

import pytest

from openkms.domain.errors import InvalidValue
from openkms.domain.tags import check_tag, tag_map


def test_tag_map_later_key_wins() -> None:
    """A key repeated in one list of tags takes its last value; order is kept."""
    assert list(tag_map([("b", ""), ("a", "1"), ("a", "2")]).items()) == [("b", ""), ("a", "2")]


def test_tag_map_checks_every_tag_naming_the_parameter() -> None:
    """One bad tag anywhere in the list refuses the whole list, naming the parameter given."""
    with pytest.raises(InvalidValue) as info:
        tag_map([("ok", "1"), ("aliyun-x", "2")], "Tags")
    assert info.value.parameter == "Tags"


@pytest.mark.parametrize(("key", "value"), [("aliyun-x", "v"), ("ACS:x", "v"), ("", "v"), ("k" * 129, "v"), ("k", "v" * 129), ("k!", "v")])
def test_bad_tags(key: str, value: str) -> None:
    """Reserved prefixes (any case), empty or long keys, long values and bad characters are refused."""
    with pytest.raises(InvalidValue):
        check_tag(key, value)


def test_good_tag_at_bounds() -> None:
    """128-character keys and values and the documented punctuation are accepted."""
    check_tag("k" * 128, "v" * 128)
    check_tag("a/b\\c_d-e.f+g=h:i@j k", "")
