"""RAM identities of an account: the ``ram_users``, ``ram_groups``, ``ram_group_members`` and
``ram_roles`` tables.

Functions take ``q``, a transaction or the Database (see the package docstring). Lists page by
name (keyset): ``after`` is the last name of the previous page, ``limit`` the page's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, bindparam, delete, func, insert, select, update

from openkms.store.engine import Database, Row, Tx
from openkms.store.schema import ram_group_members, ram_groups, ram_roles, ram_users

__all__ = [
    "Group",
    "Role",
    "User",
    "add_member",
    "count_groups",
    "count_groups_of_user",
    "count_members",
    "count_roles",
    "count_users",
    "delete_group",
    "delete_role",
    "delete_user",
    "get_group",
    "get_group_by_id",
    "get_role",
    "get_role_by_id",
    "get_user",
    "get_user_by_id",
    "groups_of_user",
    "insert_group",
    "insert_role",
    "insert_user",
    "is_member",
    "list_groups",
    "list_roles",
    "list_users",
    "members_of_group",
    "remove_member",
    "update_role",
    "update_user",
]


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    account_uid: str
    user_name: str
    display_name: str
    comments: str
    email: str
    mobile_phone: str
    created: float
    updated: float


@dataclass(frozen=True, slots=True)
class Group:
    group_id: str
    account_uid: str
    group_name: str
    comments: str
    created: float
    updated: float


@dataclass(frozen=True, slots=True)
class Role:
    role_id: str
    account_uid: str
    role_name: str
    trust_policy: str
    max_session_duration: int
    description: str
    created: float
    updated: float


def _user(r: Row) -> User:
    return User(
        r["user_id"],
        r["account_uid"],
        r["user_name"],
        r["display_name"],
        r["comments"],
        r["email"],
        r["mobile_phone"],
        r["created"],
        r["updated"],
    )


def _group(r: Row) -> Group:
    return Group(r["group_id"], r["account_uid"], r["group_name"], r["comments"], r["created"], r["updated"])


def _role(r: Row) -> Role:
    return Role(
        r["role_id"],
        r["account_uid"],
        r["role_name"],
        r["trust_policy"],
        r["max_session_duration"],
        r["description"],
        r["created"],
        r["updated"],
    )


_u, _g, _m, _r = ram_users, ram_groups, ram_group_members, ram_roles
_ACCOUNT: BindParameter[str] = bindparam("account_uid")

_USER = select(*_u.columns).where(_u.c.account_uid == _ACCOUNT, _u.c.user_name == bindparam("name"))
_USER_BY_ID = select(*_u.columns).where(_u.c.user_id == bindparam("user_id"))
_USERS = (
    select(*_u.columns)
    .where(_u.c.account_uid == _ACCOUNT, _u.c.user_name > bindparam("after"))
    .order_by(_u.c.user_name)
    .limit(bindparam("limit"))
)
_COUNT_USERS = select(func.count()).select_from(_u).where(_u.c.account_uid == _ACCOUNT)
_INSERT_USER = insert(_u).values({c.name: bindparam(c.name) for c in _u.columns})
_DELETE_USER = delete(_u).where(_u.c.user_id == bindparam("user_id"))

_GROUP = select(*_g.columns).where(_g.c.account_uid == _ACCOUNT, _g.c.group_name == bindparam("name"))
_GROUP_BY_ID = select(*_g.columns).where(_g.c.group_id == bindparam("group_id"))
_GROUPS = (
    select(*_g.columns)
    .where(_g.c.account_uid == _ACCOUNT, _g.c.group_name > bindparam("after"))
    .order_by(_g.c.group_name)
    .limit(bindparam("limit"))
)
_COUNT_GROUPS = select(func.count()).select_from(_g).where(_g.c.account_uid == _ACCOUNT)
_INSERT_GROUP = insert(_g).values({c.name: bindparam(c.name) for c in _g.columns})
_DELETE_GROUP = delete(_g).where(_g.c.group_id == bindparam("group_id"))

_IS_MEMBER = select(_m.c.joined).where(
    _m.c.group_id == bindparam("group_id"), _m.c.user_id == bindparam("user_id")
)
_ADD_MEMBER = insert(_m).values(
    group_id=bindparam("group_id"), user_id=bindparam("user_id"), joined=bindparam("at")
)
_REMOVE_MEMBER = delete(_m).where(
    _m.c.group_id == bindparam("group_id"), _m.c.user_id == bindparam("user_id")
)
_GROUPS_OF_USER = (
    select(*_g.columns, _m.c.joined)
    .join(_m, _m.c.group_id == _g.c.group_id)
    .where(_m.c.user_id == bindparam("user_id"))
    .order_by(_g.c.group_name)
)
_COUNT_GROUPS_OF_USER = select(func.count()).select_from(_m).where(_m.c.user_id == bindparam("user_id"))
_MEMBERS = (
    select(*_u.columns, _m.c.joined)
    .join(_m, _m.c.user_id == _u.c.user_id)
    .where(_m.c.group_id == bindparam("group_id"), _u.c.user_name > bindparam("after"))
    .order_by(_u.c.user_name)
    .limit(bindparam("limit"))
)
_COUNT_MEMBERS = select(func.count()).select_from(_m).where(_m.c.group_id == bindparam("group_id"))

_ROLE = select(*_r.columns).where(_r.c.account_uid == _ACCOUNT, _r.c.name_key == bindparam("key"))
_ROLE_BY_ID = select(*_r.columns).where(_r.c.role_id == bindparam("role_id"))
_ROLES = (
    select(*_r.columns)
    .where(_r.c.account_uid == _ACCOUNT, _r.c.name_key > bindparam("after"))
    .order_by(_r.c.name_key)
    .limit(bindparam("limit"))
)
_COUNT_ROLES = select(func.count()).select_from(_r).where(_r.c.account_uid == _ACCOUNT)
_INSERT_ROLE = insert(_r).values({c.name: bindparam(c.name) for c in _r.columns})
_DELETE_ROLE = delete(_r).where(_r.c.role_id == bindparam("role_id"))


# -- users ----------------------------------------------------------------------------------


def get_user(q: Tx | Database, account_uid: str, user_name: str) -> User | None:
    row = q.first(_USER, {"account_uid": account_uid, "name": user_name})
    return _user(row) if row is not None else None


def get_user_by_id(q: Tx | Database, user_id: str) -> User | None:
    row = q.first(_USER_BY_ID, {"user_id": user_id})
    return _user(row) if row is not None else None


def list_users(q: Tx | Database, account_uid: str, after: str, limit: int) -> list[User]:
    """Users of the account whose name sorts after ``after``, at most ``limit``, by name."""
    return [_user(r) for r in q.all(_USERS, {"account_uid": account_uid, "after": after, "limit": limit})]


def count_users(q: Tx | Database, account_uid: str) -> int:
    return int(q.scalar(_COUNT_USERS, {"account_uid": account_uid}))


def insert_user(q: Tx | Database, user: User) -> None:
    """Add a user; :class:`~openkms.store.Conflict` if the account has one of that name."""
    q.run(_INSERT_USER, _fields(user))


def update_user(tx: Tx, user_id: str, **changes: Any) -> None:
    """Set the given columns of a user (``user_name``, ``display_name`` ...); a new name taken
    already is :class:`~openkms.store.Conflict`."""
    tx.run(update(_u).where(_u.c.user_id == bindparam("uid")).values(**changes), {"uid": user_id})


def delete_user(q: Tx | Database, user_id: str) -> bool:
    return q.run(_DELETE_USER, {"user_id": user_id}) == 1


# -- groups and their members ----------------------------------------------------------------


def get_group(q: Tx | Database, account_uid: str, group_name: str) -> Group | None:
    row = q.first(_GROUP, {"account_uid": account_uid, "name": group_name})
    return _group(row) if row is not None else None


def get_group_by_id(q: Tx | Database, group_id: str) -> Group | None:
    row = q.first(_GROUP_BY_ID, {"group_id": group_id})
    return _group(row) if row is not None else None


def list_groups(q: Tx | Database, account_uid: str, after: str, limit: int) -> list[Group]:
    return [_group(r) for r in q.all(_GROUPS, {"account_uid": account_uid, "after": after, "limit": limit})]


def count_groups(q: Tx | Database, account_uid: str) -> int:
    return int(q.scalar(_COUNT_GROUPS, {"account_uid": account_uid}))


def insert_group(q: Tx | Database, group: Group) -> None:
    """Add a group; :class:`~openkms.store.Conflict` if the account has one of that name."""
    q.run(_INSERT_GROUP, _fields(group))


def delete_group(q: Tx | Database, group_id: str) -> bool:
    return q.run(_DELETE_GROUP, {"group_id": group_id}) == 1


def is_member(q: Tx | Database, group_id: str, user_id: str) -> bool:
    return q.first(_IS_MEMBER, {"group_id": group_id, "user_id": user_id}) is not None


def add_member(q: Tx | Database, group_id: str, user_id: str, at: float) -> None:
    """Add a user to a group; :class:`~openkms.store.Conflict` if a member already."""
    q.run(_ADD_MEMBER, {"group_id": group_id, "user_id": user_id, "at": at})


def remove_member(q: Tx | Database, group_id: str, user_id: str) -> bool:
    return q.run(_REMOVE_MEMBER, {"group_id": group_id, "user_id": user_id}) == 1


def groups_of_user(q: Tx | Database, user_id: str) -> list[tuple[Group, float]]:
    """The user's groups by name, each with when the user joined it."""
    return [(_group(r), r["joined"]) for r in q.all(_GROUPS_OF_USER, {"user_id": user_id})]


def count_groups_of_user(q: Tx | Database, user_id: str) -> int:
    return int(q.scalar(_COUNT_GROUPS_OF_USER, {"user_id": user_id}))


def members_of_group(q: Tx | Database, group_id: str, after: str, limit: int) -> list[tuple[User, float]]:
    """The group's members by name after ``after``, at most ``limit``, each with when it joined."""
    rows = q.all(_MEMBERS, {"group_id": group_id, "after": after, "limit": limit})
    return [(_user(r), r["joined"]) for r in rows]


def count_members(q: Tx | Database, group_id: str) -> int:
    return int(q.scalar(_COUNT_MEMBERS, {"group_id": group_id}))


# -- roles ------------------------------------------------------------------------------------


def get_role(q: Tx | Database, account_uid: str, role_name: str) -> Role | None:
    """The account's role of that name, in any case."""
    row = q.first(_ROLE, {"account_uid": account_uid, "key": role_name.lower()})
    return _role(row) if row is not None else None


def get_role_by_id(q: Tx | Database, role_id: str) -> Role | None:
    row = q.first(_ROLE_BY_ID, {"role_id": role_id})
    return _role(row) if row is not None else None


def list_roles(q: Tx | Database, account_uid: str, after: str, limit: int) -> list[Role]:
    """Roles by lowercased name after ``after`` (a lowercased name), at most ``limit``."""
    return [_role(r) for r in q.all(_ROLES, {"account_uid": account_uid, "after": after, "limit": limit})]


def count_roles(q: Tx | Database, account_uid: str) -> int:
    return int(q.scalar(_COUNT_ROLES, {"account_uid": account_uid}))


def insert_role(q: Tx | Database, role: Role) -> None:
    """Add a role; :class:`~openkms.store.Conflict` if the account has one of that name in any case."""
    q.run(_INSERT_ROLE, {**_fields(role), "name_key": role.role_name.lower()})


def update_role(tx: Tx, role_id: str, **changes: Any) -> None:
    """Set the given columns of a role (``trust_policy``, ``max_session_duration`` ...)."""
    tx.run(update(_r).where(_r.c.role_id == bindparam("rid")).values(**changes), {"rid": role_id})


def delete_role(q: Tx | Database, role_id: str) -> bool:
    return q.run(_DELETE_ROLE, {"role_id": role_id}) == 1


def _fields(record: User | Group | Role) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__slots__}
