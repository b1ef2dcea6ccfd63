"""Alias names: ``alias/`` followed by 1 to 255 of ``[A-Za-z0-9_/-]``; ``alias/acs`` is Alibaba's.

An alias names exactly one key; a key may have many aliases. Names are unique per account and
region (the primary key of ``aliases``). Deleting an alias never touches its key.
"""

from __future__ import annotations

import re

from openkms.domain.errors import InvalidValue

PREFIX = "alias/"
# What the action tables declare for AliasName, so the docs and the check are one string.
NAME_PATTERN = r"alias/[A-Za-z0-9_/\-]{1,255}"
MAX_NAME_LEN = len(PREFIX) + 255
# Names beginning with this are reserved for Alibaba's service keys. The docs spell it in lower
# case and so does the check: ``alias/ACS...`` is an ordinary name.
RESERVED_PREFIX = "alias/acs"

_NAME = re.compile(NAME_PATTERN)


def check_alias_name(name: str, parameter: str = "AliasName") -> None:
    """Refuse a name a caller may not create.

    Raises:
        InvalidValue: bad characters or length, or the reserved ``alias/acs`` prefix.
    """
    if not _NAME.fullmatch(name):
        raise InvalidValue(parameter, "It is alias/ followed by 1-255 of A-Z a-z 0-9 _ / -.")
    if name.startswith(RESERVED_PREFIX):
        raise InvalidValue(parameter, "Names beginning with alias/acs are reserved.")
