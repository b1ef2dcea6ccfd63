"""Keys: the ``keys`` table (and, for ListKeys, the tags and aliases that hang off a key).

A key id is unique across the deployment, so a key is read by its id alone and its row says
which account owns it; listings are of one account's keys.

Functions take ``q``, a transaction or the Database (see the package docstring). The statements
the hot path runs on the Database are module constants, compiled once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, insert, select, update

from openkms.domain import keystate
from openkms.domain.key import Key
from openkms.store.engine import Database, Row, Tx, for_update
from openkms.store.schema import aliases, import_tokens, key_versions, keys, tags

__all__ = [
    "COLUMN_FILTERS",
    "RELATED_FILTERS",
    "destroy",
    "due_for_deletion",
    "due_for_rotation",
    "get",
    "insert_key",
    "of_version",
    "page_ids",
    "policy",
    "update_key",
    "with_expired_material",
]

FIELDS = tuple(c.name for c in keys.columns if c.name != "policy")
# ListKeys filters on a column of the key.
COLUMN_FILTERS = {
    "KeyState": keys.c.key_state,
    "KeySpec": keys.c.key_spec,
    "KeyUsage": keys.c.key_usage,
    "ProtectionLevel": keys.c.protection_level,
    "CreatorType": keys.c.creator_type,
    "KeyId": keys.c.key_id,
    "Creator": keys.c.creator,
    "DKMSInstanceId": keys.c.dkms_instance_id,
}
# ListKeys filters on what hangs off a key.
RELATED_FILTERS = ("TagKey", "TagValue", "AliasName")

_BY_ID = select(*[keys.c[n] for n in FIELDS]).where(keys.c.key_id == bindparam("key_id"))
# The same, locking the row until the write transaction ends (PostgreSQL; nothing on SQLite).
_BY_ID_FOR_UPDATE = for_update(_BY_ID)
# Decrypt's whole read: whether a version exists, and its key (NULL columns once destroyed).
_BY_VERSION = (
    select(key_versions.c.version_id.label("_version_id"), *[keys.c[n] for n in FIELDS])
    .select_from(key_versions.outerjoin(keys, keys.c.key_id == key_versions.c.key_id))
    .where(key_versions.c.version_id == bindparam("version_id"))
)
_OF_ACCOUNT = keys.c.account_uid == bindparam("account_uid")
_COUNT = select(func.count()).select_from(keys).where(_OF_ACCOUNT)
_PAGE = (
    select(keys.c.key_id)
    .where(_OF_ACCOUNT)
    .order_by(keys.c.creation_date, keys.c.key_id)
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)
_POLICY = select(keys.c.policy).where(keys.c.key_id == bindparam("key_id"))


def _key(row: Row) -> Key:
    return Key(**{name: row[name] for name in FIELDS})


def get(q: Tx | Database, key_id: str, *, lock: bool = False) -> Key | None:
    """One key. ``lock`` (in a write transaction) locks its row until the transaction ends, so
    a decision taken on what was read cannot race another node's write (PostgreSQL)."""
    row = q.first(_BY_ID_FOR_UPDATE if lock else _BY_ID, {"key_id": key_id})
    return _key(row) if row is not None else None


def of_version(q: Tx | Database, version_id: str) -> tuple[bool, Key | None]:
    """Whether a version id exists at all, and its key (None once the key was destroyed)."""
    row = q.first(_BY_VERSION, {"version_id": version_id})
    if row is None:
        return False, None
    return True, (_key(row) if row["key_id"] is not None else None)


def insert_key(tx: Tx, **values: Any) -> None:
    tx.run(insert(keys).values(**values))


def update_key(tx: Tx, key_id: str, expected_revision: int | None = None, **values: Any) -> bool:
    """Update a key and bump its revision; with ``expected_revision``, only if unchanged since."""
    stmt = update(keys).where(keys.c.key_id == key_id)
    if expected_revision is not None:
        stmt = stmt.where(keys.c.revision == expected_revision)
    return tx.run(stmt.values(revision=keys.c.revision + 1, **values)) == 1


def policy(q: Tx | Database, key_id: str) -> str | None:
    """A key's stored policy document (None: none set, the default applies)."""
    value = q.scalar(_POLICY, {"key_id": key_id})
    return None if value is None else str(value)


def _related(filters: Mapping[str, Sequence[str]]) -> list[Any]:
    """ListKeys filters on tags and aliases, as correlated EXISTS subqueries: they run in the
    database with the column filters, so paging and TotalCount stay exact. ``TagKey`` and
    ``TagValue`` given together must hold for the *same* tag."""
    out: list[Any] = []
    tag_keys, tag_values = filters.get("TagKey"), filters.get("TagValue")
    if tag_keys is not None or tag_values is not None:
        condition = and_(
            tags.c.account_uid == keys.c.account_uid,
            tags.c.resource_type == "key",
            tags.c.resource_id == keys.c.key_id,
        )
        if tag_keys is not None:
            condition = and_(condition, tags.c.tag_key.in_(list(tag_keys)))
        if tag_values is not None:
            condition = and_(condition, tags.c.tag_value.in_(list(tag_values)))
        out.append(exists().where(condition))
    alias_names = filters.get("AliasName")
    if alias_names is not None:
        out.append(
            exists().where(aliases.c.key_id == keys.c.key_id, aliases.c.alias_name.in_(list(alias_names)))
        )
    return out


def page_ids(
    db: Database, account_uid: str, offset: int, limit: int, filters: Mapping[str, Sequence[str]]
) -> tuple[list[str], int]:
    """One page of the ids of ``account_uid``'s keys in creation order matching ListKeys
    ``filters`` (values of one filter OR-ed, filters AND-ed), and the total count. Unfiltered,
    two hot statements; else one read transaction."""
    conditions = [COLUMN_FILTERS[n].in_(list(v)) for n, v in filters.items() if n in COLUMN_FILTERS]
    conditions.extend(_related(filters))
    bound = {"account_uid": account_uid}
    if not conditions:
        page = db.all(_PAGE, {**bound, "limit": limit, "offset": offset})
        return [r["key_id"] for r in page], int(db.scalar(_COUNT, bound) or 0)
    where = and_(keys.c.account_uid == account_uid, *conditions)
    with db.read() as tx:
        total = int(tx.scalar(select(func.count()).select_from(keys).where(where)))
        rows = tx.all(
            select(keys.c.key_id)
            .where(where)
            .order_by(keys.c.creation_date, keys.c.key_id)
            .offset(offset)
            .limit(limit)
        )
    return [r["key_id"] for r in rows], total


def due_for_deletion(tx: Tx, now: float, limit: int) -> list[str]:
    """Keys pending deletion whose DeleteDate has passed, soonest first."""
    stmt = (
        select(keys.c.key_id)
        .where(keys.c.key_state == keystate.PENDING_DELETION, keys.c.delete_date <= now)
        .order_by(keys.c.delete_date, keys.c.key_id)
        .limit(limit)
    )
    return [r["key_id"] for r in tx.all(stmt)]


def due_for_rotation(tx: Tx, now: float, limit: int) -> list[str]:
    """Enabled keys with automatic rotation whose NextRotationDate has passed."""
    stmt = (
        select(keys.c.key_id)
        .where(
            keys.c.automatic_rotation.is_(True),
            keys.c.key_state == keystate.ENABLED,
            keys.c.next_rotation_date.is_not(None),
            keys.c.next_rotation_date <= now,
        )
        .order_by(keys.c.next_rotation_date, keys.c.key_id)
        .limit(limit)
    )
    return [r["key_id"] for r in tx.all(stmt)]


def with_expired_material(tx: Tx, now: float, limit: int) -> list[str]:
    """EXTERNAL keys whose MaterialExpireTime has passed, soonest first."""
    stmt = (
        select(keys.c.key_id)
        .where(keys.c.material_expire_time.is_not(None), keys.c.material_expire_time <= now)
        .order_by(keys.c.material_expire_time, keys.c.key_id)
        .limit(limit)
    )
    return [r["key_id"] for r in tx.all(stmt)]


def destroy(tx: Tx, key_id: str) -> list[str]:
    """Crypto-shred a key: its row, aliases, tags and import tokens go; its versions keep only
    their ids (tombstones, so a blob of a destroyed key is told apart from a forged one).

    Returns the version ids, so callers can drop them from caches.
    """
    account_uid = tx.scalar(select(keys.c.account_uid).where(keys.c.key_id == key_id))
    version_ids = [
        r["version_id"]
        for r in tx.all(select(key_versions.c.version_id).where(key_versions.c.key_id == key_id))
    ]
    tx.run(
        update(key_versions)
        .where(key_versions.c.key_id == key_id)
        .values(material_wrapped=None, material_digest=None, public_key_der=None, kek_version=None)
    )
    tx.run(delete(aliases).where(aliases.c.key_id == key_id))
    tx.run(
        delete(tags).where(
            tags.c.account_uid == account_uid, tags.c.resource_type == "key", tags.c.resource_id == key_id
        )
    )
    tx.run(delete(import_tokens).where(import_tokens.c.key_id == key_id))
    tx.run(delete(keys).where(keys.c.key_id == key_id))
    return version_ids
