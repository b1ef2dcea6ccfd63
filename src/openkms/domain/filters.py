"""ListKeys / ListSecrets ``Filters``: a JSON array of ``{"Key": name, "Values": [...]}``.

Values of one Key are OR-ed (also across repeated entries of the same Key); different Keys
are AND-ed.
"""

from __future__ import annotations

import json

from openkms.domain.errors import InvalidValue

MAX_FILTERS = 10
MAX_VALUES = 10


def parse_filters(
    text: str | None, allowed: tuple[str, ...], parameter: str = "Filters"
) -> dict[str, list[str]]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidValue(parameter, "It must be a JSON array.") from None
    if not isinstance(data, list) or len(data) > MAX_FILTERS:
        raise InvalidValue(parameter, f"It must be a JSON array of at most {MAX_FILTERS} filters.")
    out: dict[str, list[str]] = {}
    for item in data:
        if not isinstance(item, dict):
            raise InvalidValue(parameter, 'Each filter is {"Key": "...", "Values": [...]}.')
        name, values = item.get("Key"), item.get("Values")
        if name not in allowed:
            raise InvalidValue(parameter, f"Filter keys: {', '.join(allowed)}.")
        if (
            not isinstance(values, list)
            or len(values) > MAX_VALUES
            or not all(isinstance(v, str) for v in values)
        ):
            raise InvalidValue(parameter, f"Values is a list of at most {MAX_VALUES} strings.")
        out.setdefault(name, []).extend(values)
    return out
