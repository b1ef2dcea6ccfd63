"""Tag rules shared by CreateKey, CreateSecret and the tag actions.

A tag is a key (1-128 characters, not beginning with ``aliyun`` or ``acs:``) and a value (0-128
characters), both from ``[A-Za-z0-9/\\_-.+=:@ ]``. A resource carries at most 20 tags; one call
sets or removes at most 20.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

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


def tag_map(tags: Iterable[tuple[str, str]], parameter: str = "Tags") -> dict[str, str]:
    """Check each ``(key, value)`` and collect them in order; a key given twice takes its later value.

    Raises:
        InvalidValue: naming ``parameter``, for the first tag that breaks the rules above.
    """
    out: dict[str, str] = {}
    for key, value in tags:
        check_tag(key, value, parameter)
        out[key] = value
    return out
