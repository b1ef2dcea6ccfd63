"""RAM identities of an account: users, their AccessKeys, groups and roles. One use case per RAM
action, shared by the RAM API (api/ram.py) and `openkms ram` (cli.py).

Every write runs in one transaction that first locks the account's row, so a quota counted or
a conflict checked (a user's AccessKeys before deleting it) still holds when the write commits,
on PostgreSQL as on SQLite. The rules (names, quotas, conflicts and their codes) are RAM's and
live in :mod:`openkms.domain.ram`; policies and their attachments are
:mod:`openkms.service.ram_policies`' (which also owns ``check_document``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

from openkms.config import Hidden
from openkms.domain import ram
from openkms.domain.policy import PolicyKind
from openkms.domain.ram import (
    GROUP,
    ROLE,
    USER,
    DeleteConflict,
    EntityAlreadyExists,
    EntityNotExist,
    Owner,
    QuotaExceeded,
    decode_marker,
    encode_marker,
)
from openkms.service import access_keys as pairs
from openkms.service.deployment import Deployment
from openkms.service.ram_policies import check_document
from openkms.store import Conflict, Tx, accounts, principals
from openkms.store import access_keys as pair_repo
from openkms.store import policies as policy_repo
from openkms.store.principals import Group, Role, User

__all__ = ["AccessKeyRecord", "Group", "Page", "RamService", "Role", "User", "page_of"]

T = TypeVar("T")
DEFAULT_MAX_ITEMS = 100


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a RAM List* answer: ``marker`` is set (and ``truncated``) when more follow."""

    items: list[T]
    truncated: bool
    marker: str


@dataclass(frozen=True, slots=True)
class AccessKeyRecord:
    access_key_id: str
    status: str
    created: float
    secret: Hidden | None = None  # only when just created


def page_of(rows: Sequence[T], limit: int, position: Callable[[T], str]) -> Page[T]:
    """A page from up to ``limit + 1`` rows read: the extra row says whether more follow."""
    items = list(rows[:limit])
    if len(rows) > limit:
        return Page(items, True, encode_marker(position(items[-1])))
    return Page(items, False, "")


class RamService:
    """Users, AccessKeys, groups and roles of the accounts of one deployment."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep

    # -- users ------------------------------------------------------------------------------

    def create_user(
        self,
        account: str,
        user_name: str,
        display_name: str = "",
        comments: str = "",
        email: str = "",
        mobile_phone: str = "",
    ) -> User:
        """Raises EntityAlreadyExists.User, LimitExceeded.User, InvalidParameter.*."""
        ram.check_name("UserName", user_name, ram.USER_NAME)
        ram.check_length("DisplayName", display_name, ram.MAX_DISPLAY_NAME)
        ram.check_length("Comments", comments, ram.MAX_COMMENTS)
        now = self.dep.clock.now()
        user = User(
            ram.new_principal_id(),
            account,
            user_name,
            display_name or user_name,
            comments,
            email,
            mobile_phone,
            now,
            now,
        )
        with self._write(account) as tx:
            if principals.get_user(tx, account, user_name) is not None:
                raise EntityAlreadyExists(USER)
            if principals.count_users(tx, account) >= ram.MAX_USERS:
                raise QuotaExceeded(USER)
            try:
                principals.insert_user(tx, user)
            except Conflict:
                raise EntityAlreadyExists(USER) from None
        return user

    def get_user(self, account: str, user_name: str) -> User:
        with self.dep.db.read() as tx:
            return self._user(tx, account, user_name)

    def update_user(
        self,
        account: str,
        user_name: str,
        *,
        new_user_name: str | None = None,
        new_display_name: str | None = None,
        new_comments: str | None = None,
        new_email: str | None = None,
        new_mobile_phone: str | None = None,
    ) -> User:
        """Change what is given; raises EntityNotExist.User, EntityAlreadyExists.User (a new
        name taken)."""
        changes: dict[str, str | float] = {}
        if new_user_name:
            changes["user_name"] = ram.check_name("NewUserName", new_user_name, ram.USER_NAME)
        if new_display_name:
            changes["display_name"] = ram.check_length(
                "NewDisplayName", new_display_name, ram.MAX_DISPLAY_NAME
            )
        if new_comments is not None:
            changes["comments"] = ram.check_length("NewComments", new_comments, ram.MAX_COMMENTS)
        if new_email is not None:
            changes["email"] = new_email
        if new_mobile_phone is not None:
            changes["mobile_phone"] = new_mobile_phone
        with self._write(account) as tx:
            user = self._user(tx, account, user_name)
            if (
                new_user_name
                and new_user_name != user_name
                and principals.get_user(tx, account, new_user_name)
            ):
                raise EntityAlreadyExists(USER)
            changes["updated"] = self.dep.clock.now()
            try:
                principals.update_user(tx, user.user_id, **changes)
            except Conflict:
                raise EntityAlreadyExists(USER) from None
            updated = principals.get_user_by_id(tx, user.user_id)
        assert updated is not None
        return updated

    def user_name_of(self, user_id: str) -> str:
        """The name of the user with that id (the RAM user that signed a request)."""
        with self.dep.db.read() as tx:
            user = principals.get_user_by_id(tx, user_id)
        if user is None:
            raise EntityNotExist(USER)
        return user.user_name

    def list_users(
        self, account: str, marker: str | None = None, max_items: int = DEFAULT_MAX_ITEMS
    ) -> Page[User]:
        after = decode_marker(marker)
        with self.dep.db.read() as tx:
            rows = principals.list_users(tx, account, after, max_items + 1)
        return page_of(rows, max_items, lambda u: u.user_name)

    def delete_user(self, account: str, user_name: str) -> None:
        """Raises EntityNotExist.User, DeleteConflict.User.AccessKey / .Group / .Policy."""
        with self._write(account) as tx:
            user = self._user(tx, account, user_name)
            if pair_repo.count_for_user(tx, user.user_id):
                raise DeleteConflict("User.AccessKey")
            if principals.count_groups_of_user(tx, user.user_id):
                raise DeleteConflict("User.Group")
            if policy_repo.attachments_of_principal(tx, USER, user.user_id):
                raise DeleteConflict("User.Policy")
            principals.delete_user(tx, user.user_id)

    # -- AccessKeys -------------------------------------------------------------------------

    def create_access_key(
        self, account: str, user_name: str | None, access_key_id: str | None = None, secret: str | None = None
    ) -> AccessKeyRecord:
        """A new pair for the user ``user_name`` (None: the account's root). Raises
        EntityNotExist.User, LimitExceeded.User.AccessKey (a user holds at most two)."""
        with self._write(account) as tx:
            owner = self._owner(tx, account, user_name)
            if (
                owner.user_id is not None
                and pair_repo.count_for_user(tx, owner.user_id) >= ram.MAX_ACCESS_KEYS_PER_USER
            ):
                raise QuotaExceeded("User.AccessKey")
            try:
                akid, value, created = pairs.insert(self.dep, tx, owner, access_key_id, secret)
            except Conflict:
                raise pairs.AccessKeyError(f"AccessKey {access_key_id} already exists") from None
        return AccessKeyRecord(akid, ram.ACTIVE, created, value)

    def update_access_key(self, account: str, user_name: str | None, access_key_id: str, status: str) -> None:
        """Set a pair's status (Active or Inactive). Raises EntityNotExist.User,
        EntityNotExist.User.AccessKey (no such pair of that owner)."""
        with self._write(account) as tx:
            self._pair(tx, account, user_name, access_key_id)
            pair_repo.set_status(tx, access_key_id, status)

    def list_access_keys(self, account: str, user_name: str | None) -> list[AccessKeyRecord]:
        with self.dep.db.read() as tx:
            owner = self._owner(tx, account, user_name)
            found = pair_repo.list_for_owner(tx, account, owner.user_id)
        return [AccessKeyRecord(p.access_key_id, p.status, p.created) for p in found]

    def delete_access_key(self, account: str, user_name: str | None, access_key_id: str) -> None:
        """Raises EntityNotExist.User, EntityNotExist.User.AccessKey."""
        with self._write(account) as tx:
            self._pair(tx, account, user_name, access_key_id)
            pair_repo.remove(tx, access_key_id)

    # -- groups -----------------------------------------------------------------------------

    def create_group(self, account: str, group_name: str, comments: str = "") -> Group:
        """Raises EntityAlreadyExists.Group, LimitExceeded.Group."""
        ram.check_name("GroupName", group_name, ram.GROUP_NAME)
        ram.check_length("Comments", comments, ram.MAX_COMMENTS)
        now = self.dep.clock.now()
        group = Group(ram.new_principal_id(), account, group_name, comments, now, now)
        with self._write(account) as tx:
            if principals.get_group(tx, account, group_name) is not None:
                raise EntityAlreadyExists(GROUP)
            if principals.count_groups(tx, account) >= ram.MAX_GROUPS:
                raise QuotaExceeded(GROUP)
            try:
                principals.insert_group(tx, group)
            except Conflict:
                raise EntityAlreadyExists(GROUP) from None
        return group

    def get_group(self, account: str, group_name: str) -> Group:
        with self.dep.db.read() as tx:
            return self._group(tx, account, group_name)

    def list_groups(
        self, account: str, marker: str | None = None, max_items: int = DEFAULT_MAX_ITEMS
    ) -> Page[Group]:
        after = decode_marker(marker)
        with self.dep.db.read() as tx:
            rows = principals.list_groups(tx, account, after, max_items + 1)
        return page_of(rows, max_items, lambda g: g.group_name)

    def delete_group(self, account: str, group_name: str) -> None:
        """Raises EntityNotExist.Group, DeleteConflict.Group.User / .Group.Policy."""
        with self._write(account) as tx:
            group = self._group(tx, account, group_name)
            if principals.count_members(tx, group.group_id):
                raise DeleteConflict("Group.User")
            if policy_repo.attachments_of_principal(tx, GROUP, group.group_id):
                raise DeleteConflict("Group.Policy")
            principals.delete_group(tx, group.group_id)

    def add_user_to_group(self, account: str, group_name: str, user_name: str) -> None:
        """Raises EntityNotExist.Group / .User, EntityAlreadyExists.User.Group,
        LimitExceeded.User.Group."""
        with self._write(account) as tx:
            group = self._group(tx, account, group_name)
            user = self._user(tx, account, user_name)
            if principals.is_member(tx, group.group_id, user.user_id):
                raise EntityAlreadyExists("User.Group")
            if principals.count_groups_of_user(tx, user.user_id) >= ram.MAX_GROUPS_PER_USER:
                raise QuotaExceeded("User.Group")
            principals.add_member(tx, group.group_id, user.user_id, self.dep.clock.now())

    def remove_user_from_group(self, account: str, group_name: str, user_name: str) -> None:
        """Raises EntityNotExist.Group / .User / .User.Group (not a member)."""
        with self._write(account) as tx:
            group = self._group(tx, account, group_name)
            user = self._user(tx, account, user_name)
            if not principals.remove_member(tx, group.group_id, user.user_id):
                raise EntityNotExist("User.Group")

    def list_groups_for_user(self, account: str, user_name: str) -> list[tuple[Group, float]]:
        with self.dep.db.read() as tx:
            user = self._user(tx, account, user_name)
            return principals.groups_of_user(tx, user.user_id)

    def list_users_for_group(
        self, account: str, group_name: str, marker: str | None = None, max_items: int = DEFAULT_MAX_ITEMS
    ) -> Page[tuple[User, float]]:
        after = decode_marker(marker)
        with self.dep.db.read() as tx:
            group = self._group(tx, account, group_name)
            rows = principals.members_of_group(tx, group.group_id, after, max_items + 1)
        return page_of(rows, max_items, lambda m: m[0].user_name)

    # -- roles ------------------------------------------------------------------------------

    def create_role(
        self,
        account: str,
        role_name: str,
        trust_policy: str,
        description: str = "",
        max_session_duration: int | None = None,
    ) -> Role:
        """Raises EntityAlreadyExists.Role (any case), LimitExceeded.Role, MalformedPolicyDocument."""
        ram.check_name("RoleName", role_name, ram.ROLE_NAME)
        ram.check_length("Description", description, ram.MAX_DESCRIPTION)
        check_document(trust_policy, PolicyKind.TRUST)
        now = self.dep.clock.now()
        duration = max_session_duration or ram.DEFAULT_SESSION_DURATION
        role = Role(ram.new_principal_id(), account, role_name, trust_policy, duration, description, now, now)
        with self._write(account) as tx:
            if principals.get_role(tx, account, role_name) is not None:
                raise EntityAlreadyExists(ROLE)
            if principals.count_roles(tx, account) >= ram.MAX_ROLES:
                raise QuotaExceeded(ROLE)
            try:
                principals.insert_role(tx, role)
            except Conflict:
                raise EntityAlreadyExists(ROLE) from None
        return role

    def get_role(self, account: str, role_name: str) -> Role:
        with self.dep.db.read() as tx:
            return self._role(tx, account, role_name)

    def update_role(
        self,
        account: str,
        role_name: str,
        *,
        new_trust_policy: str | None = None,
        new_description: str | None = None,
        new_max_session_duration: int | None = None,
    ) -> Role:
        changes: dict[str, str | int | float] = {}
        if new_trust_policy:
            check_document(new_trust_policy, PolicyKind.TRUST)
            changes["trust_policy"] = new_trust_policy
        if new_description is not None:
            changes["description"] = ram.check_length("NewDescription", new_description, ram.MAX_DESCRIPTION)
        if new_max_session_duration is not None:
            changes["max_session_duration"] = new_max_session_duration
        with self._write(account) as tx:
            role = self._role(tx, account, role_name)
            changes["updated"] = self.dep.clock.now()
            principals.update_role(tx, role.role_id, **changes)
            updated = principals.get_role(tx, account, role_name)
        assert updated is not None
        return updated

    def list_roles(
        self, account: str, marker: str | None = None, max_items: int = DEFAULT_MAX_ITEMS
    ) -> Page[Role]:
        after = decode_marker(marker)
        with self.dep.db.read() as tx:
            rows = principals.list_roles(tx, account, after, max_items + 1)
        return page_of(rows, max_items, lambda r: r.role_name.lower())

    def delete_role(self, account: str, role_name: str) -> None:
        """Raises EntityNotExist.Role, DeleteConflict.Role.Policy."""
        with self._write(account) as tx:
            role = self._role(tx, account, role_name)
            if policy_repo.attachments_of_principal(tx, ROLE, role.role_id):
                raise DeleteConflict("Role.Policy")
            principals.delete_role(tx, role.role_id)

    # -- lookups inside a transaction ----------------------------------------------------------

    @contextmanager
    def _write(self, account: str) -> Iterator[Tx]:
        """A write transaction holding the account's row lock (module docstring)."""
        with self.dep.db.write() as tx:
            if not accounts.lock(tx, account):
                raise LookupError(f"no account {account}")
            yield tx

    @staticmethod
    def _user(tx: Tx, account: str, user_name: str) -> User:
        user = principals.get_user(tx, account, user_name)
        if user is None:
            raise EntityNotExist(USER)
        return user

    @staticmethod
    def _group(tx: Tx, account: str, group_name: str) -> Group:
        group = principals.get_group(tx, account, group_name)
        if group is None:
            raise EntityNotExist(GROUP)
        return group

    @staticmethod
    def _role(tx: Tx, account: str, role_name: str) -> Role:
        role = principals.get_role(tx, account, role_name)
        if role is None:
            raise EntityNotExist(ROLE)
        return role

    def _owner(self, tx: Tx, account: str, user_name: str | None) -> Owner:
        if user_name is None:
            return Owner(account)
        return Owner(account, self._user(tx, account, user_name).user_id)

    def _pair(
        self, tx: Tx, account: str, user_name: str | None, access_key_id: str
    ) -> pair_repo.StoredAccessKey:
        owner = self._owner(tx, account, user_name)
        pair = pair_repo.get(tx, access_key_id)
        if pair is None or pair.account_uid != account or pair.user_id != owner.user_id:
            raise EntityNotExist("User.AccessKey")
        return pair
