"""Accounts: the ``accounts`` table (one row per tenant).

Functions take ``q``, a transaction or the Database (see the package docstring).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select

from openkms.store.engine import Database, Tx, for_update
from openkms.store.schema import accounts

__all__ = ["Account", "exists", "get", "insert_account", "list_all", "lock"]


@dataclass(frozen=True, slots=True)
class Account:
    uid: str
    display_name: str
    created: float


_GET = select(*accounts.columns).where(accounts.c.uid == bindparam("uid"))
_LOCK = for_update(select(accounts.c.uid).where(accounts.c.uid == bindparam("uid")))
_ANY = select(accounts.c.uid).limit(1)
_ALL = select(*accounts.columns).order_by(accounts.c.created, accounts.c.uid)
_INSERT = insert(accounts).values(
    uid=bindparam("uid"), display_name=bindparam("display_name"), created=bindparam("created")
)


def get(q: Tx | Database, uid: str) -> Account | None:
    row = q.first(_GET, {"uid": uid})
    return Account(row["uid"], row["display_name"], row["created"]) if row is not None else None


def exists(q: Tx | Database) -> bool:
    """Whether any account exists."""
    return q.first(_ANY) is not None


def list_all(q: Tx | Database) -> list[Account]:
    return [Account(r["uid"], r["display_name"], r["created"]) for r in q.all(_ALL)]


def lock(tx: Tx, uid: str) -> bool:
    """Lock the account's row until the write transaction ends (PostgreSQL; SQLite's writers are
    serialised already), so that checks of its quotas and of what a delete conflicts with hold
    until the write commits. False if there is no such account."""
    return tx.first(_LOCK, {"uid": uid}) is not None


def insert_account(q: Tx | Database, uid: str, display_name: str, created: float) -> None:
    """Add an account; :class:`~openkms.store.Conflict` if the uid exists."""
    q.run(_INSERT, {"uid": uid, "display_name": display_name, "created": created})
