"""Repository functions for imported key material: import tokens and the material columns of an
EXTERNAL key's versions. Each takes a connection inside a transaction owned by the caller."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from openkms.store.schema import import_tokens, key_versions, keys


@dataclass(frozen=True, slots=True)
class ImportToken:
    """One row of ``import_tokens``; ``private_wrapped`` is the wrapping private key under a KEK."""

    token: str
    key_id: str
    wrapping_key_spec: str
    wrapping_algorithm: str
    private_wrapped: bytes
    kek_version: int
    public_key_der: bytes
    expires_at: float


def insert_token(conn: Connection, token: ImportToken) -> None:
    conn.execute(
        insert(import_tokens).values(
            token=token.token,
            key_id=token.key_id,
            wrapping_key_spec=token.wrapping_key_spec,
            wrapping_algorithm=token.wrapping_algorithm,
            private_wrapped=token.private_wrapped,
            kek_version=token.kek_version,
            public_key_der=token.public_key_der,
            expires_at=token.expires_at,
        )
    )


def get_token(conn: Connection, token: str) -> ImportToken | None:
    row = conn.execute(select(import_tokens).where(import_tokens.c.token == token)).first()
    if row is None:
        return None
    return ImportToken(
        token=row.token,
        key_id=row.key_id,
        wrapping_key_spec=row.wrapping_key_spec,
        wrapping_algorithm=row.wrapping_algorithm,
        private_wrapped=bytes(row.private_wrapped),
        kek_version=row.kek_version,
        public_key_der=bytes(row.public_key_der),
        expires_at=row.expires_at,
    )


def delete_token(conn: Connection, token: str) -> None:
    conn.execute(delete(import_tokens).where(import_tokens.c.token == token))


def prune_tokens(conn: Connection, before: float) -> int:
    """Delete tokens that expired before ``before``; returns how many."""
    result = conn.execute(delete(import_tokens).where(import_tokens.c.expires_at < before))
    return int(result.rowcount)


def get_material_digest(conn: Connection, version_id: str) -> str | None:
    value = conn.execute(
        select(key_versions.c.material_digest).where(key_versions.c.version_id == version_id)
    ).scalar()
    return None if value is None else str(value)


def set_material(conn: Connection, version_id: str, *, kek_version: int, wrapped: bytes, digest: str) -> None:
    conn.execute(
        update(key_versions)
        .where(key_versions.c.version_id == version_id)
        .values(kek_version=kek_version, material_wrapped=wrapped, material_digest=digest)
    )


def clear_material(conn: Connection, key_id: str) -> list[str]:
    """Delete the wrapped material of every version of a key, keeping each version's digest (the
    key may only ever take the same material again). Returns the version ids, for caches."""
    version_ids = [
        r[0] for r in conn.execute(select(key_versions.c.version_id).where(key_versions.c.key_id == key_id))
    ]
    conn.execute(
        update(key_versions)
        .where(key_versions.c.key_id == key_id)
        .values(material_wrapped=None, kek_version=None)
    )
    return version_ids


def keys_with_expired_material(conn: Connection, now: float, limit: int) -> list[str]:
    stmt = (
        select(keys.c.key_id)
        .where(keys.c.material_expire_time.is_not(None), keys.c.material_expire_time <= now)
        .order_by(keys.c.material_expire_time, keys.c.key_id)
        .limit(limit)
    )
    return [r[0] for r in conn.execute(stmt)]
