"""Key versions: the ``key_versions`` table (material, public keys, imported material's digest).

Functions take ``q``, a transaction or the Database (see the package docstring).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, func, insert, select, update

from openkms.domain.key import KeyVersion
from openkms.store.engine import Database, Tx
from openkms.store.schema import key_versions

__all__ = [
    "Material",
    "clear_material",
    "count",
    "get",
    "has_material",
    "insert_version",
    "material",
    "material_digest",
    "page",
    "public_key",
    "set_material",
]


@dataclass(frozen=True, slots=True)
class Material:
    """A version's wrapped material (None: none yet, or deleted) and the KEK it is under."""

    key_id: str
    kek_version: int | None
    wrapped: bytes | None


_v = key_versions
_GET = select(_v.c.key_id, _v.c.version_id, _v.c.creation_date).where(
    _v.c.version_id == bindparam("version_id")
)
_MATERIAL = select(_v.c.key_id, _v.c.kek_version, _v.c.material_wrapped).where(
    _v.c.version_id == bindparam("version_id")
)
_PUBLIC = select(_v.c.key_id, _v.c.public_key_der).where(_v.c.version_id == bindparam("version_id"))
_COUNT = select(func.count()).select_from(_v).where(_v.c.key_id == bindparam("key_id"))
_PAGE = (
    select(_v.c.key_id, _v.c.version_id, _v.c.creation_date)
    .where(_v.c.key_id == bindparam("key_id"))
    .order_by(_v.c.creation_date, _v.c.version_id)
    .offset(bindparam("offset"))
    .limit(bindparam("limit"))
)
_HAS_MATERIAL = select(_v.c.material_wrapped.is_not(None).label("present")).where(
    _v.c.version_id == bindparam("version_id")
)
_DIGEST = select(_v.c.material_digest).where(_v.c.version_id == bindparam("version_id"))
_IDS_OF_KEY = select(_v.c.version_id).where(_v.c.key_id == bindparam("key_id"))


def get(q: Tx | Database, version_id: str) -> KeyVersion | None:
    row = q.first(_GET, {"version_id": version_id})
    return KeyVersion(row["key_id"], row["version_id"], row["creation_date"]) if row else None


def material(q: Tx | Database, version_id: str) -> Material | None:
    row = q.first(_MATERIAL, {"version_id": version_id})
    if row is None:
        return None
    wrapped = row["material_wrapped"]
    return Material(row["key_id"], row["kek_version"], bytes(wrapped) if wrapped is not None else None)


def public_key(q: Tx | Database, version_id: str) -> tuple[str, bytes | None] | None:
    """(key id, SubjectPublicKeyInfo DER or None) of a version."""
    row = q.first(_PUBLIC, {"version_id": version_id})
    if row is None:
        return None
    der = row["public_key_der"]
    return row["key_id"], bytes(der) if der is not None else None


def count(q: Tx | Database, key_id: str) -> int:
    return int(q.scalar(_COUNT, {"key_id": key_id}) or 0)


def page(q: Tx | Database, key_id: str, offset: int, limit: int) -> list[KeyVersion]:
    """A key's versions, oldest first."""
    rows = q.all(_PAGE, {"key_id": key_id, "offset": offset, "limit": limit})
    return [KeyVersion(r["key_id"], r["version_id"], r["creation_date"]) for r in rows]


def insert_version(
    tx: Tx,
    *,
    version_id: str,
    key_id: str,
    creation_date: float,
    kek_version: int | None,
    material_wrapped: bytes | None,
    public_key_der: bytes | None,
) -> None:
    tx.run(
        insert(_v).values(
            version_id=version_id,
            key_id=key_id,
            creation_date=creation_date,
            kek_version=kek_version,
            material_wrapped=material_wrapped,
            public_key_der=public_key_der,
        )
    )


def has_material(q: Tx | Database, version_id: str) -> bool:
    return bool(q.scalar(_HAS_MATERIAL, {"version_id": version_id}))


def material_digest(q: Tx | Database, version_id: str) -> str | None:
    value = q.scalar(_DIGEST, {"version_id": version_id})
    return None if value is None else str(value)


def set_material(tx: Tx, version_id: str, *, kek_version: int, wrapped: bytes, digest: str) -> None:
    tx.run(
        update(_v)
        .where(_v.c.version_id == version_id)
        .values(kek_version=kek_version, material_wrapped=wrapped, material_digest=digest)
    )


def clear_material(tx: Tx, key_id: str) -> list[str]:
    """Delete the wrapped material of every version of a key, keeping each version's digest (the
    key may only ever take the same material again). Returns the version ids, for caches."""
    version_ids = [r["version_id"] for r in tx.all(_IDS_OF_KEY, {"key_id": key_id})]
    tx.run(update(_v).where(_v.c.key_id == key_id).values(material_wrapped=None, kek_version=None))
    return version_ids
