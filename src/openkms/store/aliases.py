"""Aliases: the ``aliases`` table. Functions take ``q``, a transaction or the Database (see
the package docstring)."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, func, insert, select, update

from openkms.store.engine import Database, Tx
from openkms.store.schema import aliases

__all__ = ["delete_alias", "insert_alias", "page", "repoint", "target"]

_TARGET = select(aliases.c.key_id).where(aliases.c.alias_name == bindparam("alias_name"))


def target(q: Tx | Database, alias_name: str) -> str | None:
    """The key id an alias points at."""
    value = q.scalar(_TARGET, {"alias_name": alias_name})
    return None if value is None else str(value)


def insert_alias(tx: Tx, alias_name: str, key_id: str, now: float) -> None:
    """Insert one alias; a duplicate name raises Conflict (primary key)."""
    tx.run(insert(aliases).values(alias_name=alias_name, key_id=key_id, creation_date=now, update_date=now))


def repoint(tx: Tx, alias_name: str, key_id: str, now: float) -> bool:
    stmt = update(aliases).where(aliases.c.alias_name == alias_name).values(key_id=key_id, update_date=now)
    return tx.run(stmt) == 1


def delete_alias(tx: Tx, alias_name: str) -> bool:
    return tx.run(delete(aliases).where(aliases.c.alias_name == alias_name)) == 1


def page(q: Tx, offset: int, limit: int, key_id: str | None = None) -> tuple[list[tuple[str, str]], int]:
    """One page of ``(alias_name, key_id)`` in name order, and the total count."""
    count = select(func.count()).select_from(aliases)
    rows = select(aliases.c.alias_name, aliases.c.key_id).order_by(aliases.c.alias_name)
    if key_id is not None:
        count = count.where(aliases.c.key_id == key_id)
        rows = rows.where(aliases.c.key_id == key_id)
    total = int(q.scalar(count))
    found = q.all(rows.offset(offset).limit(limit))
    return [(r["alias_name"], r["key_id"]) for r in found], total
