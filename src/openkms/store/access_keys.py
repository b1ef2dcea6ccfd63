"""AccessKey pairs: the ``access_keys`` table (secrets stored wrapped under the KEK), each owned
by an account's root (``user_id`` NULL) or by one of its RAM users.

Functions take ``q``, a transaction or the Database (see the package docstring); every statement
is a module constant, compiled once, so each may run on the hot path (the lookup a request makes,
:func:`get`, does).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, insert, select, update

from openkms.store.engine import Database, Row, Tx
from openkms.store.schema import access_keys

__all__ = [
    "StoredAccessKey",
    "count_for_user",
    "exists",
    "get",
    "insert_pair",
    "list_all",
    "list_for_owner",
    "remove",
    "set_status",
]


@dataclass(frozen=True, slots=True)
class StoredAccessKey:
    """One row: the secret still wrapped under KEK ``kek_version``."""

    access_key_id: str
    secret_wrapped: bytes
    kek_version: int
    status: str
    description: str
    created: float
    account_uid: str
    user_id: str | None

    @property
    def is_root(self) -> bool:
        return self.user_id is None


_ak = access_keys
_GET = select(*_ak.columns).where(_ak.c.access_key_id == bindparam("ak"))
_EXISTS = select(_ak.c.access_key_id).where(_ak.c.access_key_id == bindparam("ak"))
_ALL = select(*_ak.columns).order_by(_ak.c.created, _ak.c.access_key_id)
_OF_USER = (
    select(*_ak.columns)
    .where(_ak.c.user_id == bindparam("user_id"))
    .order_by(_ak.c.created, _ak.c.access_key_id)
)
_OF_ROOT = (
    select(*_ak.columns)
    .where(_ak.c.account_uid == bindparam("account_uid"), _ak.c.user_id.is_(None))
    .order_by(_ak.c.created, _ak.c.access_key_id)
)
_COUNT_OF_USER = select(func.count()).select_from(_ak).where(_ak.c.user_id == bindparam("user_id"))
_INSERT = insert(_ak).values({c.name: bindparam(c.name) for c in _ak.columns})
_SET_STATUS = update(_ak).where(_ak.c.access_key_id == bindparam("ak")).values(status=bindparam("new_status"))
_REMOVE = delete(_ak).where(_ak.c.access_key_id == bindparam("ak"))


def _stored(row: Row) -> StoredAccessKey:
    return StoredAccessKey(
        access_key_id=row["access_key_id"],
        secret_wrapped=bytes(row["secret_wrapped"]),
        kek_version=row["kek_version"],
        status=row["status"],
        description=row["description"],
        created=row["created"],
        account_uid=row["account_uid"],
        user_id=row["user_id"],
    )


def get(q: Tx | Database, access_key_id: str) -> StoredAccessKey | None:
    row = q.first(_GET, {"ak": access_key_id})
    return _stored(row) if row is not None else None


def exists(q: Tx | Database, access_key_id: str) -> bool:
    return q.first(_EXISTS, {"ak": access_key_id}) is not None


def list_all(q: Tx | Database) -> list[StoredAccessKey]:
    """Every pair of every owner, oldest first."""
    return [_stored(r) for r in q.all(_ALL)]


def list_for_owner(q: Tx | Database, account_uid: str, user_id: str | None) -> list[StoredAccessKey]:
    """The pairs of one user, or of the account's root when ``user_id`` is None; oldest first."""
    if user_id is None:
        return [_stored(r) for r in q.all(_OF_ROOT, {"account_uid": account_uid})]
    return [_stored(r) for r in q.all(_OF_USER, {"user_id": user_id})]


def count_for_user(q: Tx | Database, user_id: str) -> int:
    return int(q.scalar(_COUNT_OF_USER, {"user_id": user_id}))


def insert_pair(
    q: Tx | Database,
    *,
    access_key_id: str,
    secret_wrapped: bytes,
    kek_version: int,
    status: str,
    description: str,
    created: float,
    account_uid: str,
    user_id: str | None,
) -> None:
    """Add a pair; :class:`~openkms.store.Conflict` if the AccessKeyId exists."""
    q.run(
        _INSERT,
        {
            "access_key_id": access_key_id,
            "secret_wrapped": secret_wrapped,
            "kek_version": kek_version,
            "status": status,
            "description": description,
            "created": created,
            "account_uid": account_uid,
            "user_id": user_id,
        },
    )


def set_status(q: Tx | Database, access_key_id: str, status: str) -> bool:
    """Set a pair's status; False if there is no such pair."""
    return q.run(_SET_STATUS, {"ak": access_key_id, "new_status": status}) == 1


def remove(q: Tx | Database, access_key_id: str) -> bool:
    """Delete a pair; False if there is no such pair."""
    return q.run(_REMOVE, {"ak": access_key_id}) == 1
