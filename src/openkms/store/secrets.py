"""Secrets, their versions and stages. Functions take ``q``, a transaction or the Database (see
the package docstring); one Secrets Manager change is one transaction of the caller's.

A secret is named by its account and its name (a name is unique within an account); its
versions, stages and tags carry both. Values arrive here already encrypted (``ciphertext``);
this module never sees plaintext.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, false, func, insert, select, update

from openkms.domain.secret import Secret
from openkms.store.engine import Database, Row, Tx, for_update
from openkms.store.schema import secret_rotations, secret_version_stages, secret_versions, secrets, tags

__all__ = [
    "StoredValue",
    "VersionRow",
    "delete_secret",
    "delete_versions",
    "get_ciphertext",
    "get_policy",
    "get_secret",
    "get_stages",
    "get_value",
    "insert_secret",
    "insert_tags",
    "insert_version",
    "list_versions",
    "page_secrets",
    "secret_exists",
    "secrets_due_for_deletion",
    "set_stages",
    "tags_of",
    "update_secret",
]

_SECRET_FIELDS = [c.name for c in secrets.columns if c.name != "policy"]
TAG_TYPE = "secret"


@dataclass(frozen=True, slots=True)
class VersionRow:
    version_id: str
    secret_data_type: str
    create_time: float
    seq: int


@dataclass(frozen=True, slots=True)
class StoredValue:
    """One version as GetSecretValue reads it: its value (still sealed) and the stages on it."""

    version_id: str
    secret_data_type: str
    create_time: float
    ciphertext: bytes
    stages: list[str]


# Statements built once (Database.first/all compile each once); GetSecretValue's reads.
_SECRET_BY_NAME = select(*[secrets.c[n] for n in _SECRET_FIELDS]).where(
    secrets.c.account_uid == bindparam("account"), secrets.c.secret_name == bindparam("name")
)
_SECRET_BY_NAME_FOR_UPDATE = for_update(_SECRET_BY_NAME)
_EXISTS = select(secrets.c.secret_name).where(
    secrets.c.account_uid == bindparam("account"), secrets.c.secret_name == bindparam("name")
)
_v, _s = secret_versions, secret_version_stages
# A version with the stages on it: one row per stage (one with stage NULL if it has none).
_VERSION_AND_STAGES = select(
    _v.c.version_id, _v.c.secret_data_type, _v.c.create_time, _v.c.ciphertext, _s.c.stage
).select_from(
    _v.outerjoin(
        _s,
        and_(
            _s.c.account_uid == _v.c.account_uid,
            _s.c.secret_name == _v.c.secret_name,
            _s.c.version_id == _v.c.version_id,
        ),
    )
)
_VERSION_OF_SECRET = (_v.c.account_uid == bindparam("account"), _v.c.secret_name == bindparam("name"))
_VALUE_BY_VERSION = _VERSION_AND_STAGES.where(*_VERSION_OF_SECRET, _v.c.version_id == bindparam("version_id"))
# The version a stage points at, found by that stage's row in the same statement.
_asked = secret_version_stages.alias("asked")
_VALUE_BY_STAGE = _VERSION_AND_STAGES.where(
    *_VERSION_OF_SECRET,
    _v.c.version_id
    == select(_asked.c.version_id)
    .where(
        _asked.c.account_uid == bindparam("account"),
        _asked.c.secret_name == bindparam("name"),
        _asked.c.stage == bindparam("stage"),
    )
    .scalar_subquery(),
)


def _versions_of(account: str, name: str) -> tuple[Any, Any]:
    return secret_versions.c.account_uid == account, secret_versions.c.secret_name == name


def _stages_of(account: str, name: str) -> tuple[Any, Any]:
    return secret_version_stages.c.account_uid == account, secret_version_stages.c.secret_name == name


def _secret_named(account: str, name: str) -> tuple[Any, Any]:
    return secrets.c.account_uid == account, secrets.c.secret_name == name


def _secret(row: Row) -> Secret:
    return Secret(**{n: row[n] for n in _SECRET_FIELDS})


def get_secret(q: Tx | Database, account: str, name: str, *, lock: bool = False) -> Secret | None:
    """One secret; ``lock`` (in a write transaction) locks its row until the transaction ends
    (PostgreSQL: the writers of one secret queue instead of failing; SQLite's write transaction
    already holds the database lock)."""
    row = q.first(_SECRET_BY_NAME_FOR_UPDATE if lock else _SECRET_BY_NAME, {"account": account, "name": name})
    return _secret(row) if row is not None else None


def secret_exists(q: Tx | Database, account: str, name: str) -> bool:
    return q.scalar(_EXISTS, {"account": account, "name": name}) is not None


def get_value(
    q: Tx | Database, account: str, name: str, version_id: str | None, stage: str
) -> StoredValue | None:
    """The version ``version_id`` of a secret, or if None the one ``stage`` points at, with the
    stages on it, in one statement."""
    if version_id is not None:
        rows = q.all(_VALUE_BY_VERSION, {"account": account, "name": name, "version_id": version_id})
    else:
        rows = q.all(_VALUE_BY_STAGE, {"account": account, "name": name, "stage": stage})
    if not rows:
        return None
    first = rows[0]
    return StoredValue(
        first["version_id"],
        first["secret_data_type"],
        first["create_time"],
        bytes(first["ciphertext"]),
        [r["stage"] for r in rows if r["stage"] is not None],
    )


def insert_secret(tx: Tx, **values: Any) -> None:
    tx.run(insert(secrets).values(**values))


def update_secret(tx: Tx, account: str, name: str, expected_revision: int, **values: Any) -> bool:
    """Update a secret and bump its revision, only if nobody changed it since it was read."""
    stmt = (
        update(secrets)
        .where(*_secret_named(account, name), secrets.c.revision == expected_revision)
        .values(revision=secrets.c.revision + 1, **values)
    )
    return tx.run(stmt) == 1


def delete_secret(tx: Tx, account: str, name: str) -> None:
    """Remove a secret for good: its versions (ciphertexts), stages, tags, rotation and row."""
    tx.run(
        delete(secret_rotations).where(
            secret_rotations.c.account_uid == account, secret_rotations.c.secret_name == name
        )
    )
    tx.run(delete(secret_version_stages).where(*_stages_of(account, name)))
    tx.run(delete(secret_versions).where(*_versions_of(account, name)))
    tx.run(
        delete(tags).where(
            tags.c.account_uid == account, tags.c.resource_type == TAG_TYPE, tags.c.resource_id == name
        )
    )
    tx.run(delete(secrets).where(*_secret_named(account, name)))


def get_policy(tx: Tx, account: str, name: str) -> str | None:
    value = tx.scalar(select(secrets.c.policy).where(*_secret_named(account, name)))
    return None if value is None else str(value)


# -- versions and stages ------------------------------------------------------------------------


def list_versions(tx: Tx, account: str, name: str) -> list[VersionRow]:
    """Every version of a secret, oldest first (no ciphertexts)."""
    stmt = (
        select(
            secret_versions.c.version_id,
            secret_versions.c.secret_data_type,
            secret_versions.c.create_time,
            secret_versions.c.seq,
        )
        .where(*_versions_of(account, name))
        .order_by(secret_versions.c.seq)
    )
    return [
        VersionRow(r["version_id"], r["secret_data_type"], r["create_time"], r["seq"]) for r in tx.all(stmt)
    ]


def get_ciphertext(tx: Tx, account: str, name: str, version_id: str) -> tuple[VersionRow, bytes] | None:
    row = tx.first(
        select(secret_versions).where(
            *_versions_of(account, name), secret_versions.c.version_id == version_id
        )
    )
    if row is None:
        return None
    version = VersionRow(row["version_id"], row["secret_data_type"], row["create_time"], row["seq"])
    return version, bytes(row["ciphertext"])


def insert_version(
    tx: Tx, account: str, name: str, version_id: str, data_type: str, ciphertext: bytes, now: float
) -> None:
    seq = tx.scalar(
        select(func.coalesce(func.max(secret_versions.c.seq), 0)).where(*_versions_of(account, name))
    )
    tx.run(
        insert(secret_versions).values(
            account_uid=account,
            secret_name=name,
            version_id=version_id,
            secret_data_type=data_type,
            ciphertext=ciphertext,
            create_time=now,
            seq=int(seq) + 1,
        )
    )


def delete_versions(tx: Tx, account: str, name: str, version_ids: Sequence[str]) -> None:
    if version_ids:
        tx.run(
            delete(secret_versions).where(
                *_versions_of(account, name), secret_versions.c.version_id.in_(version_ids)
            )
        )


def get_stages(tx: Tx, account: str, name: str) -> dict[str, str]:
    stmt = (
        select(secret_version_stages.c.stage, secret_version_stages.c.version_id)
        .where(*_stages_of(account, name))
        .order_by(secret_version_stages.c.stage)
    )
    return {r["stage"]: r["version_id"] for r in tx.all(stmt)}


def set_stages(tx: Tx, account: str, name: str, old: Mapping[str, str], new: Mapping[str, str]) -> None:
    """Write the difference between two stage maps."""
    gone = [s for s in old if old[s] != new.get(s)]
    if gone:
        tx.run(
            delete(secret_version_stages).where(
                *_stages_of(account, name), secret_version_stages.c.stage.in_(gone)
            )
        )
    added = [
        {"account_uid": account, "secret_name": name, "stage": s, "version_id": v}
        for s, v in new.items()
        if old.get(s) != v
    ]
    if added:
        tx.run(insert(secret_version_stages), added)


# -- listing, tags, deletion --------------------------------------------------------------------


def _tag_match(column: Any, values: list[str]) -> Any:
    return exists().where(
        tags.c.account_uid == secrets.c.account_uid,
        tags.c.resource_type == TAG_TYPE,
        tags.c.resource_id == secrets.c.secret_name,
        column.in_(values),
    )


def page_secrets(
    tx: Tx, filters: Mapping[str, list[str]], account: str, offset: int, limit: int
) -> tuple[list[Secret], int]:
    """One page of ``account``'s secrets (oldest first) matching ListSecrets filters, and the
    total count.

    Values of one filter key are OR-ed, different keys AND-ed; matching is exact. Every secret
    of an account was created by it, so a ``Creator`` filter keeps all or none.
    """
    conditions: list[Any] = [secrets.c.account_uid == account]
    for name, values in filters.items():
        if name == "SecretName":
            conditions.append(secrets.c.secret_name.in_(values))
        elif name == "Description":
            conditions.append(secrets.c.description.in_(values))
        elif name == "SecretType":
            conditions.append(secrets.c.secret_type.in_(values))
        elif name == "TagKey":
            conditions.append(_tag_match(tags.c.tag_key, values))
        elif name == "TagValue":
            conditions.append(_tag_match(tags.c.tag_value, values))
        elif name == "Creator" and account not in values:
            conditions.append(false())
        elif name == "DKMSInstanceId":
            conditions.append(secrets.c.dkms_instance_id.in_(values))
    where = and_(*conditions)
    count = select(func.count()).select_from(secrets).where(where)
    page = (
        select(*[secrets.c[n] for n in _SECRET_FIELDS])
        .where(where)
        .order_by(secrets.c.create_time, secrets.c.secret_name)
    )
    total = int(tx.scalar(count))
    return [_secret(r) for r in tx.all(page.offset(offset).limit(limit))], total


def tags_of(tx: Tx, account: str, names: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """The tags of ``account``'s secrets ``names``, by name."""
    out: dict[str, list[tuple[str, str]]] = {n: [] for n in names}
    if names:
        stmt = (
            select(tags.c.resource_id, tags.c.tag_key, tags.c.tag_value)
            .where(
                tags.c.account_uid == account,
                tags.c.resource_type == TAG_TYPE,
                tags.c.resource_id.in_(list(names)),
            )
            .order_by(tags.c.resource_id, tags.c.tag_key)
        )
        for r in tx.all(stmt):
            out[r["resource_id"]].append((r["tag_key"], r["tag_value"]))
    return out


def insert_tags(tx: Tx, account: str, name: str, tag_map: Mapping[str, str]) -> None:
    if tag_map:
        tx.run(
            insert(tags),
            [
                {
                    "account_uid": account,
                    "resource_type": TAG_TYPE,
                    "resource_id": name,
                    "tag_key": k,
                    "tag_value": v,
                }
                for k, v in tag_map.items()
            ],
        )


def secrets_due_for_deletion(tx: Tx, now: float, limit: int) -> list[tuple[str, str]]:
    """``(account, name)`` of secrets of every account whose recovery window ended by ``now``."""
    stmt = (
        select(secrets.c.account_uid, secrets.c.secret_name)
        .where(secrets.c.planned_delete_time.is_not(None), secrets.c.planned_delete_time <= now)
        .order_by(secrets.c.planned_delete_time, secrets.c.account_uid, secrets.c.secret_name)
        .limit(limit)
    )
    return [(r["account_uid"], r["secret_name"]) for r in tx.all(stmt)]
