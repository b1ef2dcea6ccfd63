"""ListKeys / ListSecrets ``Filters``: a list of ``(Key, Values)`` entries.

Values of one Key are OR-ed (also across repeated entries of the same Key); different Keys
are AND-ed. The JSON text, its shape and the allowed Key names are checked by the action
table (``Filters`` is a JSONArray parameter); this module owns what the entries mean.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_FILTERS = 10
MAX_VALUES = 10


def combine_filters(entries: Iterable[tuple[str, list[str]]]) -> dict[str, list[str]]:
    """The values each Key may take: repeated entries of one Key add to its values.

    ``{"KeyState": ["Enabled"]}`` and ``{"KeyState": ["Disabled"]}`` give
    ``{"KeyState": ["Enabled", "Disabled"]}``, read as KeyState in (Enabled, Disabled).
    """
    out: dict[str, list[str]] = {}
    for name, values in entries:
        out.setdefault(name, []).extend(values)
    return out
