"""Repository functions for keys and key versions; each takes a connection inside a transaction
owned by the caller, so a service can make several of them one atomic change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, select, update

from openkms.domain import keystate
from openkms.domain.key import Key, KeyVersion
from openkms.store import engine
from openkms.store.schema import aliases, import_tokens, key_versions, keys, tags

_KEY_FIELDS = [c.name for c in keys.columns if c.name != "policy"]


def _to_key(row: Row[Any]) -> Key:
    return Key(**{name: row._mapping[name] for name in _KEY_FIELDS})


def insert_key(conn: Connection, **values: Any) -> None:
    conn.execute(insert(keys).values(**values))


def insert_version(conn: Connection, **values: Any) -> None:
    conn.execute(insert(key_versions).values(**values))


# Built once: every Encrypt reads a key by id, and composing this select costs more than running it.
_KEY_BY_ID = select(*[keys.c[n] for n in _KEY_FIELDS]).where(keys.c.key_id == bindparam("key_id"))
# The same, locking the row until the write transaction ends (PostgreSQL; nothing on SQLite).
_KEY_BY_ID_FOR_UPDATE = engine.for_update(_KEY_BY_ID)


def get_key(conn: Connection, key_id: str, *, for_update: bool = False) -> Key | None:
    """One key; ``for_update`` locks its row until the write transaction ends, so a decision
    taken on what was read (a state transition) cannot race another node's write."""
    stmt = _KEY_BY_ID_FOR_UPDATE if for_update else _KEY_BY_ID
    row = conn.execute(stmt, {"key_id": key_id}).first()
    return _to_key(row) if row is not None else None


def update_key(conn: Connection, key_id: str, expected_revision: int | None = None, **values: Any) -> bool:
    """Update a key and bump its revision; with ``expected_revision``, only if unchanged since."""
    stmt = update(keys).where(keys.c.key_id == key_id)
    if expected_revision is not None:
        stmt = stmt.where(keys.c.revision == expected_revision)
    result = conn.execute(stmt.values(revision=keys.c.revision + 1, **values))
    return result.rowcount == 1


def count_keys(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(keys)).scalar_one())


def page_key_ids(conn: Connection, offset: int, limit: int) -> Sequence[str]:
    stmt = (
        select(keys.c.key_id)
        .order_by(keys.c.creation_date, keys.c.key_id)
        .offset(offset)
        .limit(limit)
    )
    return [r[0] for r in conn.execute(stmt)]


def get_version_row(conn: Connection, version_id: str) -> Row[Any] | None:
    return conn.execute(select(key_versions).where(key_versions.c.version_id == version_id)).first()


def list_versions(conn: Connection, key_id: str) -> list[KeyVersion]:
    stmt = (
        select(key_versions.c.key_id, key_versions.c.version_id, key_versions.c.creation_date)
        .where(key_versions.c.key_id == key_id)
        .order_by(key_versions.c.creation_date, key_versions.c.version_id)
    )
    return [KeyVersion(r.key_id, r.version_id, r.creation_date) for r in conn.execute(stmt)]


def get_policy(conn: Connection, key_id: str) -> str | None:
    """A key's stored policy document (NULL: none set, the default applies)."""
    value = conn.execute(select(keys.c.policy).where(keys.c.key_id == key_id)).scalar()
    return None if value is None else str(value)


# Decrypt's only query, built once for the same reason.
_KEY_BY_VERSION = (
    select(key_versions.c.version_id.label("_version_id"), *[keys.c[n] for n in _KEY_FIELDS])
    .select_from(key_versions.outerjoin(keys, keys.c.key_id == key_versions.c.key_id))
    .where(key_versions.c.version_id == bindparam("version_id"))
)


def key_of_version(conn: Connection, version_id: str) -> tuple[bool, Key | None]:
    """Whether a version id exists at all, and its key (None once the key has been destroyed).

    One query: Decrypt names only a version, and this is its whole database read.
    """
    row = conn.execute(_KEY_BY_VERSION, {"version_id": version_id}).first()
    if row is None:
        return False, None
    return True, (_to_key(row) if row._mapping["key_id"] is not None else None)


def has_material(conn: Connection, version_id: str) -> bool:
    stmt = select(key_versions.c.material_wrapped.is_not(None)).where(
        key_versions.c.version_id == version_id
    )
    return bool(conn.execute(stmt).scalar())


def keys_due_for_deletion(conn: Connection, now: float, limit: int) -> list[str]:
    stmt = (
        select(keys.c.key_id)
        .where(keys.c.key_state == keystate.PENDING_DELETION, keys.c.delete_date <= now)
        .order_by(keys.c.delete_date, keys.c.key_id)
        .limit(limit)
    )
    return [r[0] for r in conn.execute(stmt)]


def destroy_key(conn: Connection, key_id: str) -> list[str]:
    """Crypto-shred a key: its row, aliases, tags and import tokens go; its versions keep only
    their ids (tombstones, so a blob of a destroyed key is told apart from a forged one).

    Returns the version ids, so callers can drop them from caches.
    """
    version_ids = [
        r[0] for r in conn.execute(select(key_versions.c.version_id).where(key_versions.c.key_id == key_id))
    ]
    conn.execute(
        update(key_versions)
        .where(key_versions.c.key_id == key_id)
        .values(material_wrapped=None, material_digest=None, public_key_der=None, kek_version=None)
    )
    conn.execute(delete(aliases).where(aliases.c.key_id == key_id))
    conn.execute(delete(tags).where(tags.c.resource_type == "key", tags.c.resource_id == key_id))
    conn.execute(delete(import_tokens).where(import_tokens.c.key_id == key_id))
    conn.execute(delete(keys).where(keys.c.key_id == key_id))
    return version_ids
