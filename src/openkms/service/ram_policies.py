"""RAM policies of an account: custom policies and their versions, the built-in system policies,
and attachments of either to users, groups and roles. One use case per RAM action, shared by the
RAM API (api/ram_policies.py) and `openkms ram policy` (cli.py).

:func:`check_document` is the one place a policy document (a custom policy's version, a role's
trust policy) is judged: everything that stores a document calls it.

Writes lock the account's row first, as in :mod:`openkms.service.ram`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from openkms.domain import ram
from openkms.domain.errors import PolicyError
from openkms.domain.policy import PolicyKind, parse_identity_policy, parse_trust_policy
from openkms.domain.ram import (
    CUSTOM,
    GROUP,
    ROLE,
    SYSTEM,
    USER,
    DeleteConflict,
    EntityAlreadyExists,
    EntityNotExist,
    MalformedPolicyDocument,
    QuotaExceeded,
    decode_marker,
    encode_marker,
)
from openkms.domain.system_policies import SYSTEM_POLICIES as BUILT_IN
from openkms.service.deployment import Deployment
from openkms.store import Conflict, Tx, accounts, principals
from openkms.store import policies as repo

__all__ = [
    "SYSTEM_POLICIES",
    "AttachedPolicy",
    "Entity",
    "PolicyInfo",
    "PolicyService",
    "VersionInfo",
    "check_document",
    "version_id",
]

EFFECTS = ("Allow", "Deny")


def check_document(text: str, kind: PolicyKind = PolicyKind.IDENTITY) -> None:
    """Refuse a document that is not a policy of ``kind`` (an identity policy, or a role's trust
    policy) in the policy language (domain/policy.py), with the grammar's reason.

    Raises:
        MalformedPolicyDocument: saying what is wrong.
    """
    try:
        if kind is PolicyKind.TRUST:
            parse_trust_policy(text, parameter="AssumeRolePolicyDocument")
        else:
            parse_identity_policy(text, parameter="PolicyDocument")
    except PolicyError as exc:
        raise MalformedPolicyDocument(str(exc) or "The policy document is not valid.") from None


@dataclass(frozen=True, slots=True)
class SystemPolicy:
    name: str
    description: str
    document: str
    created: float = 0.0  # the epoch: built in, older than any account


# The built-in, read-only system policies (domain/system_policies.py), as RAM lists them.
SYSTEM_POLICIES: dict[str, SystemPolicy] = {
    p.name: SystemPolicy(p.name, p.description, p.document) for p in BUILT_IN.values()
}


def version_id(number: int) -> str:
    return f"v{number}"


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    policy_type: str
    policy_name: str
    description: str
    default_version: str
    created: float
    updated: float
    attachment_count: int
    document: str  # the default version's


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version_id: str
    document: str
    is_default: bool
    created: float


@dataclass(frozen=True, slots=True)
class AttachedPolicy:
    policy_type: str
    policy_name: str
    description: str
    default_version: str
    attached: float


@dataclass(frozen=True, slots=True)
class Entity:
    """A principal a policy is attached to, as ListEntitiesForPolicy names it."""

    principal_type: str
    principal_id: str
    name: str
    display: str  # a user's DisplayName, a group's Comments, a role's Description
    arn: str
    attached: float


class PolicyService:
    """Custom and system policies and their attachments, for the accounts of one deployment."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep

    # -- custom policies ----------------------------------------------------------------------

    def create_policy(
        self, account: str, policy_name: str, document: str, description: str = ""
    ) -> PolicyInfo:
        """A custom policy whose v1 (its default) is ``document``. Raises
        EntityAlreadyExists.Policy (a custom or system policy of that name), LimitExceeded.Policy,
        MalformedPolicyDocument."""
        ram.check_name("PolicyName", policy_name, ram.POLICY_NAME)
        ram.check_length("Description", description, ram.MAX_DESCRIPTION)
        check_document(document)
        now = self.dep.clock.now()
        with self._write(account) as tx:
            if policy_name in SYSTEM_POLICIES or repo.get_policy(tx, account, policy_name) is not None:
                raise EntityAlreadyExists("Policy")
            if repo.count_policies(tx, account) >= ram.MAX_CUSTOM_POLICIES:
                raise QuotaExceeded("Policy")
            try:
                repo.insert_policy(tx, repo.Policy(account, policy_name, description, 1, 1, now, now))
            except Conflict:
                raise EntityAlreadyExists("Policy") from None
            repo.insert_version(tx, account, policy_name, 1, document, now)
        return PolicyInfo(CUSTOM, policy_name, description, "v1", now, now, 0, document)

    def get_policy(self, account: str, policy_type: str, policy_name: str) -> PolicyInfo:
        with self.dep.db.read() as tx:
            return self._info(tx, account, policy_type, policy_name)

    def list_policies(
        self, account: str, policy_type: str | None, marker: str | None = None, max_items: int = 100
    ) -> tuple[list[PolicyInfo], bool, str]:
        """System policies (by name) then custom ones (by name), or only those of ``policy_type``.
        Returns (policies, truncated, marker)."""
        position = decode_marker(marker)
        kind, _, after = position.partition(":") if position else ("", "", "")
        out: list[PolicyInfo] = []
        with self.dep.db.read() as tx:
            if policy_type in (None, SYSTEM) and kind in ("", SYSTEM):
                for name in sorted(SYSTEM_POLICIES):
                    if name > after or not kind:
                        out.append(self._info(tx, account, SYSTEM, name))
            if policy_type in (None, CUSTOM):
                start = after if kind == CUSTOM else ""
                for p in repo.list_policies(tx, account, start, max_items + 1):
                    out.append(self._custom_info(tx, p))
        if len(out) > max_items:
            last = out[max_items - 1]
            return out[:max_items], True, encode_marker(f"{last.policy_type}:{last.policy_name}")
        return out, False, ""

    def delete_policy(self, account: str, policy_name: str, cascading: bool = False) -> None:
        """Raises EntityNotExist.Policy, DeleteConflict.Policy.User / .Group / .Role (attached) and
        DeleteConflict.Policy.Version (versions besides the default), unless ``cascading``, which
        detaches it and deletes every version."""
        with self._write(account) as tx:
            policy = self._custom(tx, account, policy_name)
            attached = repo.attachments_of_policy(tx, account, CUSTOM, policy_name)
            if attached and not cascading:
                raise DeleteConflict(f"Policy.{attached[0].principal_type}")
            if len(repo.versions(tx, account, policy_name)) > 1 and not cascading:
                raise DeleteConflict("Policy.Version")
            repo.detach_all(tx, account, CUSTOM, policy.policy_name)
            repo.delete_policy(tx, account, policy.policy_name)

    # -- versions ---------------------------------------------------------------------------

    def create_version(
        self,
        account: str,
        policy_name: str,
        document: str,
        set_as_default: bool = False,
        rotate: str = ram.ROTATE_NONE,
    ) -> VersionInfo:
        """A new version ``v<last + 1>``. At five versions, LimitExceeded.Policy.Version unless
        ``rotate`` is DeleteOldestNonDefaultVersionWhenLimitExceeded, which deletes the oldest
        version that is not the default first."""
        check_document(document)
        now = self.dep.clock.now()
        with self._write(account) as tx:
            policy = self._custom(tx, account, policy_name)
            existing = repo.versions(tx, account, policy_name)
            if len(existing) >= ram.MAX_POLICY_VERSIONS:
                if rotate != ram.ROTATE_DELETE_OLDEST:
                    raise QuotaExceeded("Policy.Version")
                oldest = next(v for v in existing if v.version != policy.default_version)
                repo.delete_version(tx, account, policy_name, oldest.version)
            number = policy.last_version + 1
            repo.insert_version(tx, account, policy_name, number, document, now)
            changes: dict[str, int | float] = {"last_version": number, "updated": now}
            if set_as_default:
                changes["default_version"] = number
            repo.update_policy(tx, account, policy_name, **changes)
        return VersionInfo(version_id(number), document, set_as_default, now)

    def get_version(self, account: str, policy_type: str, policy_name: str, version: str) -> VersionInfo:
        number = ram.check_version_id("VersionId", version)
        return (
            next(
                (
                    v
                    for v in self.list_versions(account, policy_type, policy_name)
                    if v.version_id == version_id(number)
                ),
                None,
            )
            or _no_version()
        )

    def list_versions(self, account: str, policy_type: str, policy_name: str) -> list[VersionInfo]:
        if policy_type == SYSTEM:
            system = self._system(policy_name)
            return [VersionInfo("v1", system.document, True, system.created)]
        with self.dep.db.read() as tx:
            policy = self._custom(tx, account, policy_name)
            found = repo.versions(tx, account, policy_name)
        return [
            VersionInfo(version_id(v.version), v.document, v.version == policy.default_version, v.created)
            for v in found
        ]

    def set_default_version(self, account: str, policy_name: str, version: str) -> None:
        number = ram.check_version_id("VersionId", version)
        with self._write(account) as tx:
            self._custom(tx, account, policy_name)
            if repo.get_version(tx, account, policy_name, number) is None:
                raise EntityNotExist("Policy.Version")
            repo.update_policy(tx, account, policy_name, default_version=number, updated=self.dep.clock.now())

    def delete_version(self, account: str, policy_name: str, version: str) -> None:
        """Raises EntityNotExist.Policy.Version, DeleteConflict.Policy.Version.Default."""
        number = ram.check_version_id("VersionId", version)
        with self._write(account) as tx:
            policy = self._custom(tx, account, policy_name)
            if repo.get_version(tx, account, policy_name, number) is None:
                raise EntityNotExist("Policy.Version")
            if number == policy.default_version:
                raise DeleteConflict("Policy.Version.Default")
            repo.delete_version(tx, account, policy_name, number)

    # -- attachments ------------------------------------------------------------------------

    def attach(
        self, account: str, policy_type: str, policy_name: str, principal_type: str, principal_name: str
    ) -> None:
        """Raises EntityNotExist.Policy / .User / .Group / .Role, EntityAlreadyExists.<Type>.Policy,
        LimitExceeded.<Type>.Policy (20 system and 10 custom policies per principal)."""
        with self._write(account) as tx:
            self._info(tx, account, policy_type, policy_name)
            principal_id = _principal_id(tx, account, principal_type, principal_name)
            limit = (
                ram.MAX_SYSTEM_POLICIES_PER_PRINCIPAL
                if policy_type == SYSTEM
                else ram.MAX_CUSTOM_POLICIES_PER_PRINCIPAL
            )
            if repo.count_attached(tx, principal_type, principal_id, policy_type) >= limit:
                raise QuotaExceeded(f"{principal_type}.Policy")
            try:
                repo.attach(
                    tx, account, policy_type, policy_name, principal_type, principal_id, self.dep.clock.now()
                )
            except Conflict:
                raise EntityAlreadyExists(f"{principal_type}.Policy") from None

    def detach(
        self, account: str, policy_type: str, policy_name: str, principal_type: str, principal_name: str
    ) -> None:
        """Raises EntityNotExist.Policy / .User / .Group / .Role, EntityNotExist.<Type>.Policy."""
        with self._write(account) as tx:
            self._info(tx, account, policy_type, policy_name)
            principal_id = _principal_id(tx, account, principal_type, principal_name)
            if not repo.detach(tx, account, policy_type, policy_name, principal_type, principal_id):
                raise EntityNotExist(f"{principal_type}.Policy")

    def policies_for(self, account: str, principal_type: str, principal_name: str) -> list[AttachedPolicy]:
        """The policies attached to a user, group or role, in the order attached."""
        out: list[AttachedPolicy] = []
        with self.dep.db.read() as tx:
            principal_id = _principal_id(tx, account, principal_type, principal_name)
            for a in repo.attachments_of_principal(tx, principal_type, principal_id):
                if a.policy_type == SYSTEM:
                    system = SYSTEM_POLICIES.get(a.policy_name)
                    description = system.description if system is not None else ""
                    out.append(AttachedPolicy(SYSTEM, a.policy_name, description, "v1", a.attached))
                    continue
                policy = repo.get_policy(tx, account, a.policy_name)
                if policy is not None:
                    out.append(
                        AttachedPolicy(
                            CUSTOM,
                            a.policy_name,
                            policy.description,
                            version_id(policy.default_version),
                            a.attached,
                        )
                    )
        return out

    def entities_for(self, account: str, policy_type: str, policy_name: str) -> list[Entity]:
        """The users, groups and roles a policy is attached to."""
        out: list[Entity] = []
        with self.dep.db.read() as tx:
            self._info(tx, account, policy_type, policy_name)
            for a in repo.attachments_of_policy(tx, account, policy_type, policy_name):
                entity = _entity(tx, a)
                if entity is not None:
                    out.append(entity)
        return out

    # -- inside a transaction -------------------------------------------------------------------

    @contextmanager
    def _write(self, account: str) -> Iterator[Tx]:
        with self.dep.db.write() as tx:
            if not accounts.lock(tx, account):
                raise LookupError(f"no account {account}")
            yield tx

    @staticmethod
    def _system(name: str) -> SystemPolicy:
        system = SYSTEM_POLICIES.get(name)
        if system is None:
            raise EntityNotExist("Policy")
        return system

    @staticmethod
    def _custom(tx: Tx, account: str, name: str) -> repo.Policy:
        policy = repo.get_policy(tx, account, name)
        if policy is None:
            raise EntityNotExist("Policy")
        return policy

    def _info(self, tx: Tx, account: str, policy_type: str, name: str) -> PolicyInfo:
        if policy_type == SYSTEM:
            system = self._system(name)
            count = repo.attachment_count(tx, account, SYSTEM, name)
            return PolicyInfo(
                SYSTEM, name, system.description, "v1", system.created, system.created, count, system.document
            )
        return self._custom_info(tx, self._custom(tx, account, name))

    @staticmethod
    def _custom_info(tx: Tx, policy: repo.Policy) -> PolicyInfo:
        default = repo.get_version(tx, policy.account_uid, policy.policy_name, policy.default_version)
        count = repo.attachment_count(tx, policy.account_uid, CUSTOM, policy.policy_name)
        return PolicyInfo(
            CUSTOM,
            policy.policy_name,
            policy.description,
            version_id(policy.default_version),
            policy.created,
            policy.updated,
            count,
            default.document if default is not None else "",
        )


def _no_version() -> VersionInfo:
    raise EntityNotExist("Policy.Version")


def _principal_id(tx: Tx, account: str, principal_type: str, name: str) -> str:
    if principal_type == USER:
        user = principals.get_user(tx, account, name)
        if user is None:
            raise EntityNotExist(USER)
        return user.user_id
    if principal_type == GROUP:
        group = principals.get_group(tx, account, name)
        if group is None:
            raise EntityNotExist(GROUP)
        return group.group_id
    role = principals.get_role(tx, account, name)
    if role is None:
        raise EntityNotExist(ROLE)
    return role.role_id


def _entity(tx: Tx, a: repo.Attachment) -> Entity | None:
    if a.principal_type == USER:
        user = principals.get_user_by_id(tx, a.principal_id)
        if user is None:
            return None
        return Entity(
            USER,
            user.user_id,
            user.user_name,
            user.display_name,
            ram.user_arn(user.account_uid, user.user_name),
            a.attached,
        )
    if a.principal_type == GROUP:
        group = principals.get_group_by_id(tx, a.principal_id)
        if group is None:
            return None
        return Entity(GROUP, group.group_id, group.group_name, group.comments, "", a.attached)
    role = principals.get_role_by_id(tx, a.principal_id)
    if role is None:
        return None
    return Entity(
        ROLE,
        role.role_id,
        role.role_name,
        role.description,
        ram.role_arn(role.account_uid, role.role_name),
        a.attached,
    )
