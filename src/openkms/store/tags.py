"""Repository functions for tags, generic over the resource type (``key``, ``secret``).

Rows are ``(account_uid, resource_type, resource_id, tag_key) -> tag_value``, the account being
the resource's owner (a secret's name is unique only within it); the primary key orders them,
which is also the order of :func:`page` within one account (keyset paging, so a page costs the
same anywhere in the listing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import and_, delete, exists, insert, or_, select, update

from openkms.store.engine import Tx
from openkms.store.schema import tags

__all__ = ["get_tags", "page", "put_tags", "remove_tags"]


def _of(account_uid: str, resource_type: str, resource_id: str) -> Any:
    return and_(
        tags.c.account_uid == account_uid,
        tags.c.resource_type == resource_type,
        tags.c.resource_id == resource_id,
    )


def get_tags(tx: Tx, account_uid: str, resource_type: str, resource_id: str) -> dict[str, str]:
    stmt = (
        select(tags.c.tag_key, tags.c.tag_value)
        .where(_of(account_uid, resource_type, resource_id))
        .order_by(tags.c.tag_key)
    )
    return {r["tag_key"]: r["tag_value"] for r in tx.all(stmt)}


def put_tags(
    tx: Tx,
    account_uid: str,
    resource_type: str,
    resource_id: str,
    new: Mapping[str, str],
    current: Mapping[str, str] | None = None,
) -> None:
    """Add tags, overwriting the values of keys the resource already has.

    ``current`` is the resource's tags if the caller has just read them (saves a query).
    """
    if current is None:
        current = get_tags(tx, account_uid, resource_type, resource_id)
    for tag_key, tag_value in new.items():
        where = and_(_of(account_uid, resource_type, resource_id), tags.c.tag_key == tag_key)
        if tag_key in current:
            if current[tag_key] != tag_value:
                tx.run(update(tags).where(where).values(tag_value=tag_value))
        else:
            tx.run(
                insert(tags).values(
                    account_uid=account_uid,
                    resource_type=resource_type,
                    resource_id=resource_id,
                    tag_key=tag_key,
                    tag_value=tag_value,
                )
            )


def remove_tags(
    tx: Tx, account_uid: str, resource_type: str, resource_id: str, tag_keys: Iterable[str] | None
) -> int:
    """Remove the named tag keys (absent ones are skipped), or every tag when ``None``."""
    stmt = delete(tags).where(_of(account_uid, resource_type, resource_id))
    if tag_keys is not None:
        stmt = stmt.where(tags.c.tag_key.in_(list(tag_keys)))
    return tx.run(stmt)


def page(
    tx: Tx,
    account_uid: str,
    resource_type: str,
    *,
    resource_ids: Sequence[str] | None,
    match: Sequence[tuple[str, str | None]],
    after: tuple[str, str] | None,
    limit: int,
) -> list[tuple[str, str, str]]:
    """Up to ``limit`` rows ``(resource_id, tag_key, tag_value)`` of ``account_uid``'s
    resources after ``after``.

    ``resource_ids`` restricts the resources; ``match`` keeps only resources that carry every
    ``(key, value)`` given (``value`` ``None``: any value). All of a kept resource's tags are
    listed.
    """
    stmt = select(tags.c.resource_id, tags.c.tag_key, tags.c.tag_value).where(
        tags.c.account_uid == account_uid, tags.c.resource_type == resource_type
    )
    if resource_ids is not None:
        stmt = stmt.where(tags.c.resource_id.in_(list(resource_ids)))
    for tag_key, tag_value in match:
        other = tags.alias()
        condition = and_(
            other.c.account_uid == tags.c.account_uid,
            other.c.resource_type == tags.c.resource_type,
            other.c.resource_id == tags.c.resource_id,
            other.c.tag_key == tag_key,
        )
        if tag_value is not None:
            condition = and_(condition, other.c.tag_value == tag_value)
        stmt = stmt.where(exists().where(condition))
    if after is not None:
        stmt = stmt.where(
            or_(
                tags.c.resource_id > after[0],
                and_(tags.c.resource_id == after[0], tags.c.tag_key > after[1]),
            )
        )
    stmt = stmt.order_by(tags.c.resource_id, tags.c.tag_key).limit(limit)
    return [(r["resource_id"], r["tag_key"], r["tag_value"]) for r in tx.all(stmt)]
