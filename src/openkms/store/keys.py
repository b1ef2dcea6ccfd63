"""Repository functions for keys and key versions; each takes a connection inside a transaction
owned by the caller, so a service can make several of them one atomic change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, select, update

from openkms.domain import keystate
from openkms.domain.key import Key, KeyVersion
from openkms.store import engine
from openkms.store.engine import Database
from openkms.store.schema import aliases, import_tokens, key_versions, keys, tags

_KEY_FIELDS = [c.name for c in keys.columns if c.name != "policy"]
# Hot-path statements, built once (Database.first compiles each once); _KEY_BY_ID is below.
_ALIAS_TARGET = select(aliases.c.key_id).where(aliases.c.alias_name == bindparam("alias_name"))
_VERSION_BY_ID = select(
    key_versions.c.key_id, key_versions.c.kek_version, key_versions.c.material_wrapped
).where(key_versions.c.version_id == bindparam("version_id"))


def _to_key(row: Row[Any]) -> Key:
    return Key(**{name: row._mapping[name] for name in _KEY_FIELDS})


def find_key(db: Database, key_id: str) -> Key | None:
    """A key by id, read on the hot path (its own one-statement read, see Database.first)."""
    row = db.first(_KEY_BY_ID, {"key_id": key_id})
    return Key(*row) if row is not None else None


def find_alias_target(db: Database, alias_name: str) -> str | None:
    row = db.first(_ALIAS_TARGET, {"alias_name": alias_name})
    return str(row[0]) if row is not None else None


_VERSION_PUBLIC = select(key_versions.c.key_id, key_versions.c.public_key_der).where(
    key_versions.c.version_id == bindparam("version_id")
)


def find_version_public(db: Database, version_id: str) -> tuple[str, bytes | None] | None:
    """(key id, public key DER) of a key version, read on the hot path."""
    row = db.first(_VERSION_PUBLIC, {"version_id": version_id})
    return (row[0], row[1]) if row is not None else None


def find_version_material(db: Database, version_id: str) -> tuple[str, int | None, bytes | None] | None:
    """(key id, KEK version, wrapped material) of a key version, read on the hot path."""
    row = db.first(_VERSION_BY_ID, {"version_id": version_id})
    return (row[0], row[1], row[2]) if row is not None else None


_COUNT_KEYS = select(func.count()).select_from(keys)
_PAGE_KEY_IDS = (
    select(keys.c.key_id)
    .order_by(keys.c.creation_date, keys.c.key_id)
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)


def find_page_of_key_ids(db: Database, offset: int, limit: int) -> tuple[list[str], int]:
    """One page of all key ids in creation order and the total count, read on the hot path."""
    count = db.first(_COUNT_KEYS, {})
    page = db.all(_PAGE_KEY_IDS, {"limit": limit, "offset": offset})
    return [r[0] for r in page], int(count[0]) if count is not None else 0


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


def find_key_of_version(db: Database, version_id: str) -> tuple[bool, Key | None]:
    """:func:`key_of_version` on the hot path (its own one-statement read, see Database.first)."""
    row = db.first(_KEY_BY_VERSION, {"version_id": version_id})
    if row is None:
        return False, None
    return True, (Key(*row[1:]) if row[1] is not None else None)


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
