"""ListKeys filters on what hangs off a key (tags, aliases), as correlated EXISTS subqueries.

They run in the database with the column filters, so paging and TotalCount stay exact however
many keys there are. Values of one filter are OR-ed. ``TagKey`` and ``TagValue`` given together
must hold for the *same* tag (a key tagged ``env=prod`` matches TagKey ``env`` with TagValue
``prod``; one tagged ``env=dev, team=prod`` does not).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, exists

from openkms.store.schema import aliases, keys, tags

RELATED_FILTERS = ("TagKey", "TagValue", "AliasName")


def related_conditions(filters: Mapping[str, Sequence[str]]) -> list[Any]:
    """The EXISTS conditions for the related-object filters present in ``filters``."""
    out: list[Any] = []
    tag_keys, tag_values = filters.get("TagKey"), filters.get("TagValue")
    if tag_keys is not None or tag_values is not None:
        condition = and_(tags.c.resource_type == "key", tags.c.resource_id == keys.c.key_id)
        if tag_keys is not None:
            condition = and_(condition, tags.c.tag_key.in_(list(tag_keys)))
        if tag_values is not None:
            condition = and_(condition, tags.c.tag_value.in_(list(tag_values)))
        out.append(exists().where(condition))
    alias_names = filters.get("AliasName")
    if alias_names is not None:
        out.append(
            exists().where(aliases.c.key_id == keys.c.key_id, aliases.c.alias_name.in_(list(alias_names)))
        )
    return out
