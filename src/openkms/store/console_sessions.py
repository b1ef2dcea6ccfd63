"""The console's sessions (service/console_sessions.py). Functions take ``q``, a transaction or
the Database (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, insert, select

from openkms.store.engine import Database, Row, Tx
from openkms.store.schema import console_sessions

__all__ = ["SessionRow", "delete_all", "delete_expired", "delete_for_key", "delete_one", "get", "insert_one"]


@dataclass(frozen=True, slots=True)
class SessionRow:
    id_digest: str
    account_uid: str
    access_key_id: str
    kek_version: int
    sealed: bytes
    created: float
    expires: float


_GET = select(console_sessions).where(console_sessions.c.id_digest == bindparam("digest"))
_INSERT = insert(console_sessions)
_DELETE = delete(console_sessions).where(console_sessions.c.id_digest == bindparam("digest"))
_DELETE_KEY = delete(console_sessions).where(console_sessions.c.access_key_id == bindparam("key"))
_DELETE_EXPIRED = delete(console_sessions).where(console_sessions.c.expires <= bindparam("now"))
_DELETE_ALL = delete(console_sessions)


def get(q: Database | Tx, digest: str) -> SessionRow | None:
    row: Row | None = q.first(_GET, {"digest": digest})
    if row is None:
        return None
    return SessionRow(
        row["id_digest"], row["account_uid"], row["access_key_id"], int(row["kek_version"]),
        bytes(row["sealed"]), float(row["created"]), float(row["expires"]),
    )  # fmt: skip


def insert_one(tx: Tx, row: SessionRow) -> None:
    values: dict[str, Any] = {
        "id_digest": row.id_digest,
        "account_uid": row.account_uid,
        "access_key_id": row.access_key_id,
        "kek_version": row.kek_version,
        "sealed": row.sealed,
        "created": row.created,
        "expires": row.expires,
    }
    tx.run(_INSERT, values)


def delete_one(tx: Tx, digest: str) -> int:
    return tx.run(_DELETE, {"digest": digest})


def delete_for_key(tx: Tx, access_key_id: str) -> int:
    return tx.run(_DELETE_KEY, {"key": access_key_id})


def delete_expired(tx: Tx, now: float) -> int:
    return tx.run(_DELETE_EXPIRED, {"now": now})


def delete_all(tx: Tx) -> int:
    return tx.run(_DELETE_ALL)
