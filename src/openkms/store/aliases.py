"""Aliases: the ``aliases`` table. A name is unique within its account (its primary key is
``(account_uid, alias_name)``). Functions take ``q``, a transaction or the Database (see the
package docstring)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update

from openkms.store.engine import Database, Tx
from openkms.store.schema import aliases

__all__ = ["delete_alias", "insert_alias", "page", "repoint", "target"]

_NAMED = (aliases.c.account_uid == bindparam("account_uid"), aliases.c.alias_name == bindparam("alias_name"))
_TARGET = select(aliases.c.key_id).where(*_NAMED)


def _named(account_uid: str, alias_name: str) -> tuple[Any, Any]:
    return aliases.c.account_uid == account_uid, aliases.c.alias_name == alias_name


def target(q: Tx | Database, account_uid: str, alias_name: str) -> str | None:
    """The key id an alias of ``account_uid`` points at."""
    value = q.scalar(_TARGET, {"account_uid": account_uid, "alias_name": alias_name})
    return None if value is None else str(value)


def insert_alias(tx: Tx, account_uid: str, alias_name: str, key_id: str, now: float) -> None:
    """Insert one alias; a name the account has already raises Conflict (primary key)."""
    tx.run(
        insert(aliases).values(
            account_uid=account_uid, alias_name=alias_name, key_id=key_id, creation_date=now, update_date=now
        )
    )


def repoint(tx: Tx, account_uid: str, alias_name: str, key_id: str, now: float) -> bool:
    stmt = update(aliases).where(*_named(account_uid, alias_name)).values(key_id=key_id, update_date=now)
    return tx.run(stmt) == 1


def delete_alias(tx: Tx, account_uid: str, alias_name: str) -> bool:
    return tx.run(delete(aliases).where(*_named(account_uid, alias_name))) == 1


def page(
    q: Tx, account_uid: str, offset: int, limit: int, key_id: str | None = None
) -> tuple[list[tuple[str, str]], int]:
    """One page of ``(alias_name, key_id)`` of ``account_uid``'s aliases in name order (of one
    key's, with ``key_id``), and the total count."""
    of_account = aliases.c.account_uid == account_uid
    count = select(func.count()).select_from(aliases).where(of_account)
    rows = select(aliases.c.alias_name, aliases.c.key_id).where(of_account).order_by(aliases.c.alias_name)
    if key_id is not None:
        count = count.where(aliases.c.key_id == key_id)
        rows = rows.where(aliases.c.key_id == key_id)
    total = int(q.scalar(count))
    found = q.all(rows.offset(offset).limit(limit))
    return [(r["alias_name"], r["key_id"]) for r in found], total
