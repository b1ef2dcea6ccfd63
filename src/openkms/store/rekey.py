"""The KEK lifecycle's statements: the rows wrapped under a KEK (key-version material, AccessKey
secrets, import tokens' private keys), read in batches and rewritten one by one only if still
as read; what references each KEK version; the KEK rows themselves and the named ``meta`` values
a rekey or a root rotation keeps its progress in (service/rekey.py).

Functions take ``q``, a transaction or the Database (see the package docstring).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, bindparam, delete, func, insert, select, update

from openkms.store.engine import Database, Row, Tx
from openkms.store.schema import access_keys, audit_chains, import_tokens, keks, key_versions, keys, meta

__all__ = [
    "WRAPPED_TABLES",
    "Wrapped",
    "behind",
    "delete_kek",
    "delete_value",
    "digests",
    "prefixed",
    "put_value",
    "references",
    "replace_kek",
    "reread",
    "rewrite",
]

# Every table holding a row wrapped under a KEK, with its version in ``kek_version``.
WRAPPED_TABLES = ("key_versions", "access_keys", "import_tokens")


@dataclass(frozen=True, slots=True)
class Wrapped:
    """One wrapped row: its table and id, the KEK version and blob, and what its wrap's
    associated data names besides the version (key id and spec; a token's fields)."""

    table: str
    row_id: str
    kek_version: int
    blob: bytes
    names: tuple[str, ...]


_v, _a, _t = key_versions, access_keys, import_tokens
_SELECTS = {
    "key_versions": select(
        _v.c.version_id.label("row_id"),
        _v.c.kek_version,
        _v.c.material_wrapped.label("blob"),
        _v.c.key_id,
        keys.c.key_spec,
    )
    .select_from(_v.join(keys, keys.c.key_id == _v.c.key_id))
    .where(_v.c.material_wrapped.is_not(None), _v.c.kek_version.is_not(None)),
    "access_keys": select(
        _a.c.access_key_id.label("row_id"), _a.c.kek_version, _a.c.secret_wrapped.label("blob")
    ),
    "import_tokens": select(
        _t.c.token.label("row_id"),
        _t.c.kek_version,
        _t.c.private_wrapped.label("blob"),
        _t.c.key_id,
        _t.c.wrapping_key_spec,
        _t.c.wrapping_algorithm,
        _t.c.expires_at,
    ),
}
_IDS = {"key_versions": _v.c.version_id, "access_keys": _a.c.access_key_id, "import_tokens": _t.c.token}
_VERSIONS = {
    "key_versions": _v.c.kek_version,
    "access_keys": _a.c.kek_version,
    "import_tokens": _t.c.kek_version,
}
_BLOBS = {
    "key_versions": _v.c.material_wrapped,
    "access_keys": _a.c.secret_wrapped,
    "import_tokens": _t.c.private_wrapped,
}
_TABLES = {"key_versions": _v, "access_keys": _a, "import_tokens": _t}


def _wrapped(table: str, r: Row) -> Wrapped:
    if table == "key_versions":
        names: tuple[str, ...] = (str(r["key_id"]), str(r["key_spec"]))
    elif table == "import_tokens":
        names = (
            str(r["key_id"]),
            str(r["wrapping_key_spec"]),
            str(r["wrapping_algorithm"]),
            str(int(r["expires_at"])),
        )
    else:
        names = ()
    return Wrapped(
        table,
        str(r["row_id"]),
        int(r["kek_version"]),
        bytes(r["blob"]),
        names,
    )


def behind(q: Tx | Database, table: str, target: int, after: str, limit: int) -> list[Wrapped]:
    """Up to ``limit`` rows of ``table`` not under KEK ``target``, in id order after ``after``."""
    ident = _IDS[table]
    stmt = _SELECTS[table].where(_VERSIONS[table] != target, ident > after).order_by(ident).limit(limit)
    return [_wrapped(table, r) for r in q.all(stmt)]


def reread(tx: Tx, table: str, row_id: str) -> Wrapped | None:
    """The row as it stands (None: gone, or its material deleted)."""
    row = tx.first(_SELECTS[table].where(_IDS[table] == row_id))
    return None if row is None else _wrapped(table, row)


def rewrite(tx: Tx, was: Wrapped, kek_version: int, blob: bytes) -> bool:
    """Put ``blob`` under KEK ``kek_version`` in place of ``was``, only if the row is still as
    read (same version and blob); whether it was."""
    t = _TABLES[was.table]
    stmt = (
        update(t)
        .where(
            and_(
                _IDS[was.table] == bindparam("row_id"),
                _VERSIONS[was.table] == bindparam("old_version"),
                _BLOBS[was.table] == bindparam("old_blob"),
            )
        )
        .values({_VERSIONS[was.table].name: kek_version, _BLOBS[was.table].name: blob})
    )
    return tx.run(stmt, {"row_id": was.row_id, "old_version": was.kek_version, "old_blob": was.blob}) == 1


def references(q: Tx | Database) -> dict[str, dict[int, int]]:
    """How many rows of each table name each KEK version (wrapped rows and audit chains)."""
    found: dict[str, dict[int, int]] = {}
    for table in WRAPPED_TABLES:
        column = _VERSIONS[table]
        stmt = select(column.label("v"), func.count().label("n")).where(column.is_not(None)).group_by(column)
        found[table] = {int(r["v"]): int(r["n"]) for r in q.all(stmt)}
    stmt = select(audit_chains.c.kek_version.label("v"), func.count().label("n")).group_by(
        audit_chains.c.kek_version
    )
    found["audit_chains"] = {int(r["v"]): int(r["n"]) for r in q.all(stmt)}
    return found


def digests(q: Tx | Database) -> list[str]:
    """Every imported material's digest (each names the KEK version it was keyed under)."""
    stmt = select(_v.c.material_digest).where(_v.c.material_digest.is_not(None))
    return [str(r["material_digest"]) for r in q.all(stmt)]


def replace_kek(tx: Tx, kek_version: int, wrapped: bytes) -> None:
    """Rewrap KEK ``kek_version`` (under another root)."""
    tx.run(update(keks).where(keks.c.kek_version == kek_version).values(wrapped=wrapped))


def delete_kek(tx: Tx, kek_version: int) -> None:
    tx.run(delete(keks).where(keks.c.kek_version == kek_version))


def prefixed(q: Tx | Database, prefix: str) -> dict[str, str]:
    """The named values whose names begin with ``prefix``."""
    stmt = select(meta.c.name, meta.c.value).where(meta.c.name.startswith(prefix, autoescape=True))
    return {str(r["name"]): str(r["value"]) for r in q.all(stmt)}


def put_value(tx: Tx, name: str, value: str) -> None:
    """Set a named value, whether or not it was set."""
    delete_value(tx, name)
    tx.run(insert(meta).values(name=name, value=value))


def delete_value(tx: Tx, name: str) -> None:
    tx.run(delete(meta).where(meta.c.name == name))
