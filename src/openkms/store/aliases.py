"""Repository functions for aliases. Each takes a connection inside the caller's transaction."""

from __future__ import annotations

from sqlalchemy import Connection, delete, func, insert, select, update

from openkms.store.schema import aliases


def get_key_id(conn: Connection, alias_name: str) -> str | None:
    value = conn.execute(select(aliases.c.key_id).where(aliases.c.alias_name == alias_name)).scalar()
    return None if value is None else str(value)


def insert_alias(conn: Connection, alias_name: str, key_id: str, now: float) -> None:
    """Insert one alias; a duplicate name raises Conflict (primary key)."""
    conn.execute(
        insert(aliases).values(alias_name=alias_name, key_id=key_id, creation_date=now, update_date=now)
    )


def repoint(conn: Connection, alias_name: str, key_id: str, now: float) -> bool:
    result = conn.execute(
        update(aliases).where(aliases.c.alias_name == alias_name).values(key_id=key_id, update_date=now)
    )
    return result.rowcount == 1


def delete_alias(conn: Connection, alias_name: str) -> bool:
    return conn.execute(delete(aliases).where(aliases.c.alias_name == alias_name)).rowcount == 1


def delete_for_key(conn: Connection, key_id: str) -> int:
    """Remove every alias of a key (for key destruction); returns how many went."""
    return conn.execute(delete(aliases).where(aliases.c.key_id == key_id)).rowcount


def page(
    conn: Connection, offset: int, limit: int, key_id: str | None = None
) -> tuple[list[tuple[str, str]], int]:
    """One page of ``(alias_name, key_id)`` in name order, and the total count."""
    count = select(func.count()).select_from(aliases)
    rows = select(aliases.c.alias_name, aliases.c.key_id).order_by(aliases.c.alias_name)
    if key_id is not None:
        count = count.where(aliases.c.key_id == key_id)
        rows = rows.where(aliases.c.key_id == key_id)
    total = int(conn.execute(count).scalar_one())
    found = conn.execute(rows.offset(offset).limit(limit))
    return [(r.alias_name, r.key_id) for r in found], total
