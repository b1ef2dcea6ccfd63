"""Custom RAM policies of an account and every policy's attachments: the ``ram_policies``,
``ram_policy_versions`` and ``ram_policy_attachments`` tables. System policies are built into
the code and have no row here; their attachments do.

Functions take ``q``, a transaction or the Database (see the package docstring). Versions are
numbers here (``3`` for ``v3``); the service spells them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, bindparam, delete, func, insert, select, update

from openkms.store.engine import Database, Row, Tx
from openkms.store.schema import ram_policies, ram_policy_attachments, ram_policy_versions

__all__ = [
    "Attachment",
    "Policy",
    "Version",
    "attach",
    "attachment_count",
    "attachments_of_policy",
    "attachments_of_principal",
    "count_attached",
    "count_policies",
    "delete_policy",
    "delete_version",
    "detach",
    "detach_all",
    "get_policy",
    "get_version",
    "insert_policy",
    "insert_version",
    "list_policies",
    "update_policy",
    "versions",
]


@dataclass(frozen=True, slots=True)
class Policy:
    account_uid: str
    policy_name: str
    description: str
    default_version: int
    last_version: int
    created: float
    updated: float


@dataclass(frozen=True, slots=True)
class Version:
    version: int
    document: str
    created: float


@dataclass(frozen=True, slots=True)
class Attachment:
    policy_type: str
    policy_name: str
    principal_type: str
    principal_id: str
    attached: float


def _policy(r: Row) -> Policy:
    return Policy(
        r["account_uid"],
        r["policy_name"],
        r["description"],
        r["default_version"],
        r["last_version"],
        r["created"],
        r["updated"],
    )


def _attachment(r: Row) -> Attachment:
    return Attachment(
        r["policy_type"], r["policy_name"], r["principal_type"], r["principal_id"], r["attached"]
    )


_p, _v, _a = ram_policies, ram_policy_versions, ram_policy_attachments
_ACCOUNT: BindParameter[str] = bindparam("account_uid")
_NAME: BindParameter[str] = bindparam("name")

_POLICY = select(*_p.columns).where(_p.c.account_uid == _ACCOUNT, _p.c.policy_name == _NAME)
_POLICIES = (
    select(*_p.columns)
    .where(_p.c.account_uid == _ACCOUNT, _p.c.policy_name > bindparam("after"))
    .order_by(_p.c.policy_name)
    .limit(bindparam("limit"))
)
_COUNT_POLICIES = select(func.count()).select_from(_p).where(_p.c.account_uid == _ACCOUNT)
_INSERT_POLICY = insert(_p).values({c.name: bindparam(c.name) for c in _p.columns})
_DELETE_POLICY = delete(_p).where(_p.c.account_uid == _ACCOUNT, _p.c.policy_name == _NAME)

_VERSIONS = (
    select(_v.c.version, _v.c.document, _v.c.created)
    .where(_v.c.account_uid == _ACCOUNT, _v.c.policy_name == _NAME)
    .order_by(_v.c.version)
)
_VERSION = select(_v.c.version, _v.c.document, _v.c.created).where(
    _v.c.account_uid == _ACCOUNT, _v.c.policy_name == _NAME, _v.c.version == bindparam("version")
)
_INSERT_VERSION = insert(_v).values(
    account_uid=_ACCOUNT,
    policy_name=_NAME,
    version=bindparam("version"),
    document=bindparam("document"),
    created=bindparam("created"),
)
_DELETE_VERSION = delete(_v).where(
    _v.c.account_uid == _ACCOUNT, _v.c.policy_name == _NAME, _v.c.version == bindparam("version")
)
_DELETE_VERSIONS = delete(_v).where(_v.c.account_uid == _ACCOUNT, _v.c.policy_name == _NAME)

_OF_POLICY = (
    select(*_a.columns)
    .where(_a.c.account_uid == _ACCOUNT, _a.c.policy_type == bindparam("type"), _a.c.policy_name == _NAME)
    .order_by(_a.c.principal_type, _a.c.attached, _a.c.principal_id)
)
_COUNT_OF_POLICY = (
    select(func.count())
    .select_from(_a)
    .where(_a.c.account_uid == _ACCOUNT, _a.c.policy_type == bindparam("type"), _a.c.policy_name == _NAME)
)
_OF_PRINCIPAL = (
    select(*_a.columns)
    .where(_a.c.principal_type == bindparam("ptype"), _a.c.principal_id == bindparam("pid"))
    .order_by(_a.c.attached, _a.c.policy_type, _a.c.policy_name)
)
_COUNT_ATTACHED = (
    select(func.count())
    .select_from(_a)
    .where(
        _a.c.principal_type == bindparam("ptype"),
        _a.c.principal_id == bindparam("pid"),
        _a.c.policy_type == bindparam("type"),
    )
)
_ATTACH = insert(_a).values({c.name: bindparam(c.name) for c in _a.columns})
_DETACH = delete(_a).where(
    _a.c.account_uid == _ACCOUNT,
    _a.c.policy_type == bindparam("type"),
    _a.c.policy_name == _NAME,
    _a.c.principal_type == bindparam("ptype"),
    _a.c.principal_id == bindparam("pid"),
)
_DETACH_ALL = delete(_a).where(
    _a.c.account_uid == _ACCOUNT, _a.c.policy_type == bindparam("type"), _a.c.policy_name == _NAME
)


# -- custom policies and their versions ------------------------------------------------------


def get_policy(q: Tx | Database, account_uid: str, name: str) -> Policy | None:
    row = q.first(_POLICY, {"account_uid": account_uid, "name": name})
    return _policy(row) if row is not None else None


def list_policies(q: Tx | Database, account_uid: str, after: str, limit: int) -> list[Policy]:
    """Custom policies by name after ``after``, at most ``limit``."""
    rows = q.all(_POLICIES, {"account_uid": account_uid, "after": after, "limit": limit})
    return [_policy(r) for r in rows]


def count_policies(q: Tx | Database, account_uid: str) -> int:
    return int(q.scalar(_COUNT_POLICIES, {"account_uid": account_uid}))


def insert_policy(q: Tx | Database, policy: Policy) -> None:
    """Add a custom policy; :class:`~openkms.store.Conflict` if the account has one of that name."""
    q.run(_INSERT_POLICY, {name: getattr(policy, name) for name in policy.__slots__})


def update_policy(tx: Tx, account_uid: str, name: str, **changes: Any) -> None:
    """Set the given columns of a policy (``default_version``, ``last_version``, ``updated``)."""
    stmt = update(_p).where(_p.c.account_uid == bindparam("acct"), _p.c.policy_name == bindparam("pname"))
    tx.run(stmt.values(**changes), {"acct": account_uid, "pname": name})


def delete_policy(q: Tx | Database, account_uid: str, name: str) -> None:
    """Delete a custom policy with all its versions."""
    q.run(_DELETE_VERSIONS, {"account_uid": account_uid, "name": name})
    q.run(_DELETE_POLICY, {"account_uid": account_uid, "name": name})


def versions(q: Tx | Database, account_uid: str, name: str) -> list[Version]:
    """The policy's versions, oldest first."""
    rows = q.all(_VERSIONS, {"account_uid": account_uid, "name": name})
    return [Version(r["version"], r["document"], r["created"]) for r in rows]


def get_version(q: Tx | Database, account_uid: str, name: str, version: int) -> Version | None:
    row = q.first(_VERSION, {"account_uid": account_uid, "name": name, "version": version})
    return Version(row["version"], row["document"], row["created"]) if row is not None else None


def insert_version(
    q: Tx | Database, account_uid: str, name: str, version: int, document: str, created: float
) -> None:
    q.run(
        _INSERT_VERSION,
        {
            "account_uid": account_uid,
            "name": name,
            "version": version,
            "document": document,
            "created": created,
        },
    )


def delete_version(q: Tx | Database, account_uid: str, name: str, version: int) -> bool:
    return q.run(_DELETE_VERSION, {"account_uid": account_uid, "name": name, "version": version}) == 1


# -- attachments -----------------------------------------------------------------------------


def attachments_of_policy(
    q: Tx | Database, account_uid: str, policy_type: str, name: str
) -> list[Attachment]:
    rows = q.all(_OF_POLICY, {"account_uid": account_uid, "type": policy_type, "name": name})
    return [_attachment(r) for r in rows]


def attachment_count(q: Tx | Database, account_uid: str, policy_type: str, name: str) -> int:
    return int(q.scalar(_COUNT_OF_POLICY, {"account_uid": account_uid, "type": policy_type, "name": name}))


def attachments_of_principal(q: Tx | Database, principal_type: str, principal_id: str) -> list[Attachment]:
    """The policies attached to a user, group or role, in the order they were attached."""
    return [_attachment(r) for r in q.all(_OF_PRINCIPAL, {"ptype": principal_type, "pid": principal_id})]


def count_attached(q: Tx | Database, principal_type: str, principal_id: str, policy_type: str) -> int:
    """How many policies of ``policy_type`` the principal has."""
    return int(q.scalar(_COUNT_ATTACHED, {"ptype": principal_type, "pid": principal_id, "type": policy_type}))


def attach(
    q: Tx | Database,
    account_uid: str,
    policy_type: str,
    name: str,
    principal_type: str,
    principal_id: str,
    at: float,
) -> None:
    """Attach a policy; :class:`~openkms.store.Conflict` if it is attached to that principal."""
    q.run(
        _ATTACH,
        {
            "account_uid": account_uid,
            "policy_type": policy_type,
            "policy_name": name,
            "principal_type": principal_type,
            "principal_id": principal_id,
            "attached": at,
        },
    )


def detach(
    q: Tx | Database, account_uid: str, policy_type: str, name: str, principal_type: str, principal_id: str
) -> bool:
    params = {
        "account_uid": account_uid,
        "type": policy_type,
        "name": name,
        "ptype": principal_type,
        "pid": principal_id,
    }
    return q.run(_DETACH, params) == 1


def detach_all(q: Tx | Database, account_uid: str, policy_type: str, name: str) -> None:
    """Detach a policy from every principal."""
    q.run(_DETACH_ALL, {"account_uid": account_uid, "type": policy_type, "name": name})
