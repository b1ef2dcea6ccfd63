"""Opaque string parameters measured the way Alibaba counts them: as UTF-8 bytes."""

from __future__ import annotations

from openkms.domain.errors import InvalidValue


def utf8_within(text: str, limit: int, parameter: str) -> bytes:
    """The UTF-8 bytes of ``text``, refused when over ``limit`` bytes or not encodable
    (a lone surrogate).

    Raises:
        InvalidValue: naming ``parameter``.
    """
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidValue(parameter, "It must be valid Unicode.") from None
    if len(data) > limit:
        raise InvalidValue(parameter, f"It must be at most {limit} bytes.")
    return data
