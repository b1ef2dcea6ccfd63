"""Tag rules shared by CreateKey, CreateSecret and the tag actions."""

from __future__ import annotations

import json
import re

from openkms.domain.errors import InvalidValue

MAX_TAGS = 20
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
