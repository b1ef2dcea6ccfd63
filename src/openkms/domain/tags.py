"""Tag rules shared by CreateKey, CreateSecret and the tag actions.

A tag is a key (1-128 characters, not beginning with ``aliyun`` or ``acs:``) and a value (0-128
characters), both from ``[A-Za-z0-9/\\_-.+=:@ ]``. A resource carries at most 20 tags; one call
sets or removes at most 20.
"""

from __future__ import annotations

import json
import re

from openkms.domain.errors import InvalidValue

MAX_TAGS = 20
# Per resource. The 2021 docs said 10; CreateKey and CreateSecret now take 20 at creation, and
# a resource created with 20 must stay valid, so 20 it is.
MAX_TAGS_PER_RESOURCE = 20
_CHARS = re.compile(r"[A-Za-z0-9/\\_\-.+=:@ ]{1,128}")
_VALUE_CHARS = re.compile(r"[A-Za-z0-9/\\_\-.+=:@ ]{0,128}")
RESERVED_PREFIXES = ("aliyun", "acs:")


def check_tag(key: str, value: str, parameter: str = "Tags") -> None:
    if not _CHARS.fullmatch(key) or key.lower().startswith(RESERVED_PREFIXES):
        raise InvalidValue(parameter, "A TagKey is 1-128 allowed characters, not aliyun* or acs:*.")
    if not _VALUE_CHARS.fullmatch(value):
        raise InvalidValue(parameter, "A TagValue is 0-128 allowed characters.")


def parse_tags_json(text: str, parameter: str = "Tags") -> dict[str, str]:
    """Parse ``[{"TagKey":..,"TagValue":..}, ...]`` into an ordered dict (a later key wins)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidValue(parameter, "It must be a JSON array.") from None
    if not isinstance(data, list) or len(data) > MAX_TAGS:
        raise InvalidValue(parameter, f"It must be a JSON array of at most {MAX_TAGS} tags.")
    out: dict[str, str] = {}
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("TagKey"), str):
            raise InvalidValue(parameter, 'Each tag is {"TagKey": "...", "TagValue": "..."}.')
        value = item.get("TagValue", "")
        if not isinstance(value, str):
            raise InvalidValue(parameter, "A TagValue must be a string.")
        check_tag(item["TagKey"], value, parameter)
        out[item["TagKey"]] = value
    return out


def parse_tag_keys_json(text: str, parameter: str = "TagKeys") -> list[str]:
    """Parse ``["k1", "k2"]`` (UntagResource). Keys not on the resource are skipped later, so
    only the shape and length are checked here, not the reserved prefixes."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidValue(parameter, "It must be a JSON array of strings.") from None
    if not isinstance(data, list) or len(data) > MAX_TAGS:
        raise InvalidValue(parameter, f"It must be a JSON array of at most {MAX_TAGS} tag keys.")
    if not all(isinstance(k, str) and 1 <= len(k) <= 128 for k in data):
        raise InvalidValue(parameter, "Each tag key is a string of 1-128 characters.")
    return list(data)
