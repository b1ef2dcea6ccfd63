"""Secret targets and the rotations of managed secrets in flight. Functions take ``q``, a
transaction or the Database (see the package docstring).

A target names where an account's managed secrets rotate; it carries no credential (its admin
account is in a Generic secret it names). A rotation row exists only while a rotation is in
flight; each step's change is a compare-and-set on the step it read, so two runners cannot both
move one rotation on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, insert, select, update

from openkms.domain.rotation import Rotation
from openkms.store.engine import Database, Row, Tx, for_update
from openkms.store.schema import secret_rotation_requests, secret_rotations, secret_targets, secrets

__all__ = [
    "TargetRow",
    "count_requests",
    "delete_rotation",
    "delete_target",
    "get_rotation",
    "get_target",
    "insert_rotation",
    "insert_target",
    "list_targets",
    "record_request",
    "rotations_due",
    "secrets_due_for_rotation",
    "targets_in_use",
    "update_rotation",
]


@dataclass(frozen=True, slots=True)
class TargetRow:
    account_uid: str
    name: str
    target_type: str
    dsn: str
    admin_secret: str
    create_time: float


# Statements built once: Database.first compiles each once and keeps it (see engine.py).
_TARGET = select(secret_targets).where(
    secret_targets.c.account_uid == bindparam("account"), secret_targets.c.name == bindparam("name")
)
_ROTATION = select(secret_rotations).where(
    secret_rotations.c.account_uid == bindparam("account"),
    secret_rotations.c.secret_name == bindparam("name"),
)
_ROTATION_FOR_UPDATE = for_update(_ROTATION)


def _target(row: Row) -> TargetRow:
    return TargetRow(
        row["account_uid"],
        row["name"],
        row["target_type"],
        row["dsn"],
        row["admin_secret"],
        row["create_time"],
    )


def _rotation(row: Row) -> Rotation:
    return Rotation(**{c.name: row[c.name] for c in secret_rotations.columns})


def insert_target(tx: Tx, target: TargetRow) -> None:
    """Register a target; Conflict if the account has one of that name."""
    tx.run(
        insert(secret_targets).values(
            account_uid=target.account_uid,
            name=target.name,
            target_type=target.target_type,
            dsn=target.dsn,
            admin_secret=target.admin_secret,
            create_time=target.create_time,
        )
    )


def get_target(q: Tx | Database, account: str, name: str) -> TargetRow | None:
    row = q.first(_TARGET, {"account": account, "name": name})
    return _target(row) if row is not None else None


def list_targets(tx: Tx, account: str) -> list[TargetRow]:
    stmt = (
        select(secret_targets).where(secret_targets.c.account_uid == account).order_by(secret_targets.c.name)
    )
    return [_target(r) for r in tx.all(stmt)]


def delete_target(tx: Tx, account: str, name: str) -> bool:
    stmt = delete(secret_targets).where(
        secret_targets.c.account_uid == account, secret_targets.c.name == name
    )
    return tx.run(stmt) == 1


def targets_in_use(tx: Tx, account: str) -> list[str]:
    """The ExtendedConfig texts of ``account``'s managed secrets (to tell which targets they name)."""
    stmt = select(secrets.c.extended_config).where(
        secrets.c.account_uid == account, secrets.c.extended_config.is_not(None)
    )
    return [str(r["extended_config"]) for r in tx.all(stmt)]


# -- rotations in flight ------------------------------------------------------------------------


def _named(account: str, name: str) -> tuple[Any, Any]:
    return secret_rotations.c.account_uid == account, secret_rotations.c.secret_name == name


def get_rotation(q: Tx | Database, account: str, name: str, *, lock: bool = False) -> Rotation | None:
    row = q.first(_ROTATION_FOR_UPDATE if lock else _ROTATION, {"account": account, "name": name})
    return _rotation(row) if row is not None else None


def insert_rotation(tx: Tx, rotation: Rotation) -> None:
    tx.run(
        insert(secret_rotations).values(
            **{c.name: getattr(rotation, c.name) for c in secret_rotations.columns}
        )
    )


def update_rotation(tx: Tx, account: str, name: str, expected_step: str, **values: Any) -> bool:
    """Change a rotation only if it is still at ``expected_step`` (another runner may have moved it)."""
    stmt = update(secret_rotations).where(*_named(account, name), secret_rotations.c.step == expected_step)
    return tx.run(stmt.values(**values)) == 1


def delete_rotation(tx: Tx, account: str, name: str) -> None:
    tx.run(delete(secret_rotations).where(*_named(account, name)))


def rotations_due(tx: Tx, now: float, limit: int) -> list[tuple[str, str]]:
    """``(account, name)`` of rotations in flight whose next attempt is due by ``now``."""
    stmt = (
        select(secret_rotations.c.account_uid, secret_rotations.c.secret_name)
        .where(secret_rotations.c.next_attempt <= now)
        .order_by(secret_rotations.c.next_attempt)
        .limit(limit)
    )
    return [(r["account_uid"], r["secret_name"]) for r in tx.all(stmt)]


def secrets_due_for_rotation(tx: Tx, now: float, limit: int) -> list[tuple[str, str]]:
    """``(account, name)`` of managed secrets with automatic rotation whose next rotation is due,
    not pending deletion and with no rotation in flight."""
    in_flight = exists().where(
        and_(
            secret_rotations.c.account_uid == secrets.c.account_uid,
            secret_rotations.c.secret_name == secrets.c.secret_name,
        )
    )
    stmt = (
        select(secrets.c.account_uid, secrets.c.secret_name)
        .where(
            secrets.c.automatic_rotation == "Enabled",
            secrets.c.next_rotation_date.is_not(None),
            secrets.c.next_rotation_date <= now,
            secrets.c.planned_delete_time.is_(None),
            ~in_flight,
        )
        .order_by(secrets.c.next_rotation_date)
        .limit(limit)
    )
    return [(r["account_uid"], r["secret_name"]) for r in tx.all(stmt)]


# -- RotateSecret's limit -------------------------------------------------------------------------

_REQ = secret_rotation_requests.c


def count_requests(tx: Tx, account: str, since: float) -> int:
    """How many rotations RotateSecret started for ``account`` after ``since``."""
    stmt = select(func.count()).where(_REQ.account_uid == account, _REQ.requested > since)
    return int(tx.scalar(stmt) or 0)


def record_request(tx: Tx, account: str, name: str, version_id: str, now: float, keep_after: float) -> None:
    """Count a rotation RotateSecret started, and drop the account's rows from before ``keep_after``."""
    tx.run(delete(secret_rotation_requests).where(_REQ.account_uid == account, _REQ.requested <= keep_after))
    tx.run(
        insert(secret_rotation_requests).values(
            account_uid=account, secret_name=name, version_id=version_id, requested=now
        )
    )
