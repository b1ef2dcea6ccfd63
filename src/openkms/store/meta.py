"""The deployment's own records: the ``meta`` table (named values: the root key's fingerprint,
the account id, the secrets' default key) and the ``keks`` table (key-encryption keys, wrapped
under the root key).

Functions take ``q``, a transaction or the Database (see the package docstring).
"""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select, update

from openkms.store.engine import Database, Tx
from openkms.store.schema import keks, meta

__all__ = ["any_kek", "get", "insert_kek", "insert_value", "replace", "setdefault", "values", "wrapped_keks"]

_GET = select(meta.c.value).where(meta.c.name == bindparam("key"))
_INSERT = insert(meta).values(name=bindparam("key"), value=bindparam("new_value"))
_REPLACE = (
    update(meta)
    .where(meta.c.name == bindparam("key"), meta.c.value == bindparam("old_value"))
    .values(value=bindparam("new_value"))
)
_ALL = select(meta.c.name, meta.c.value)
_ANY_KEK = select(keks.c.kek_version).limit(1)
_KEKS = select(keks.c.kek_version, keks.c.wrapped)
_INSERT_KEK = insert(keks).values(
    kek_version=bindparam("version"), wrapped=bindparam("blob"), created=bindparam("at")
)


def get(q: Tx | Database, name: str) -> str | None:
    """A named value (None: never set)."""
    value = q.scalar(_GET, {"key": name})
    return None if value is None else str(value)


def values(q: Tx | Database) -> dict[str, str]:
    """Every named value (none of them is secret)."""
    return {str(r["name"]): str(r["value"]) for r in q.all(_ALL)}


def insert_value(q: Tx | Database, name: str, value: str) -> None:
    """Set a value not set before; :class:`~openkms.store.Conflict` if it is (another writer
    was first)."""
    q.run(_INSERT, {"key": name, "new_value": value})


def setdefault(tx: Tx, name: str, value: str) -> str:
    """The stored value, after setting it to ``value`` if there was none.

    Two transactions racing to set it both read none: the second to commit meets
    :class:`~openkms.store.Conflict`, and the caller reads the value again in a new transaction.
    """
    existing = get(tx, name)
    if existing is not None:
        return existing
    insert_value(tx, name, value)
    return value


def replace(q: Tx | Database, name: str, old: str, new: str) -> bool:
    """Compare-and-set: change the value to ``new`` only if it is still ``old``."""
    return q.run(_REPLACE, {"key": name, "old_value": old, "new_value": new}) == 1


def any_kek(q: Tx | Database) -> bool:
    """Whether a key-encryption key exists."""
    return q.first(_ANY_KEK) is not None


def insert_kek(q: Tx | Database, kek_version: int, wrapped: bytes, created: float) -> None:
    """Add a KEK; :class:`~openkms.store.Conflict` if that version exists."""
    q.run(_INSERT_KEK, {"version": kek_version, "blob": wrapped, "at": created})


def wrapped_keks(q: Tx | Database) -> dict[int, bytes]:
    """Every KEK, wrapped, by version."""
    return {int(r["kek_version"]): bytes(r["wrapped"]) for r in q.all(_KEKS)}
