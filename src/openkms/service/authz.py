"""The authorization hop: may the caller do what a request asks? Called once per request by
the server, between authentication and the handler; handlers never check permissions.

For a KMS action the permissions table (domain/permissions.py) names the RAM actions it needs and
the parameters that name each resource. This module turns a request into those checks: the ARN
of each resource (an alias resolves to its key, and both are checked; Decrypt's key comes from
the ciphertext's header, without unwrapping), the resource's own policy and tags, and the
caller's identity policies (a user's own and its groups', or a session's role's), then asks
the engine (domain/authorization.py) and refuses with 403 ``Forbidden.NoPermission`` and the
``AccessDeniedDetail`` Alibaba's SDKs read. A resource that does not exist is checked by the ARN
the request names, with no policy of its own: a caller without rights gets 403, never a 404
that tells it the key exists. A RAM action (version 2015-05-01) needs ``ram:<Action>``.

The account root may do anything on its own account's resources and is decided without
reading anything. Everything read for a decision comes through the per-process read cache
(service/caches.py): policies, attachments, tags and key rows follow the node's writes at once
and other nodes' within the staleness bound, like key state.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

from openkms.crypto import aead
from openkms.domain import errors, keypolicy, ram
from openkms.domain import instance as instance_rules
from openkms.domain import secret as secret_rules
from openkms.domain.access import Check, Principal, RequestContext
from openkms.domain.arn import (
    alias_arn,
    alias_container_arn,
    key_arn,
    key_container_arn,
    secret_arn,
    secret_container_arn,
)
from openkms.domain.authorization import Decision, decide
from openkms.domain.ciphertext import parse_blob
from openkms.domain.key import Key
from openkms.domain.permissions import PERMISSIONS, Permission, ResourceKind
from openkms.domain.policy import Policy, PolicyKind, parse_identity_policy, parse_resource_policy
from openkms.domain.ram import Owner
from openkms.domain.secret import Secret, parse_secret_ref
from openkms.domain.system_policies import SYSTEM_POLICIES
from openkms.service.caches import Caches
from openkms.service.deployment import Deployment
from openkms.service.keys import KeyService
from openkms.service.secrets import default_key_meta
from openkms.store import Database, Tx, meta, principals
from openkms.store import keys as key_repo
from openkms.store import policies as policy_repo
from openkms.store import secrets as secret_repo
from openkms.store import tags as tag_repo

__all__ = ["Authorizer", "Circumstances", "attached_policies", "open_diagnostic"]

_NO_TAGS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Circumstances:
    """What a request's condition keys read besides its parameters: the client's address
    (``acs:SourceIp``), whether it came over TLS (``acs:SecureTransport``) and when it arrived
    (``acs:CurrentTime``, seconds since the epoch)."""

    source_ip: str
    secure: bool
    now: float


@dataclass(frozen=True, slots=True)
class _Resource:
    """A resource a check names: its ARN, its policy (None: a container, or it does not exist)
    and its tags."""

    arn: str
    policy: Policy | None = None
    tags: Mapping[str, str] = field(default_factory=lambda: _NO_TAGS)


class Authorizer:
    """Decisions for one deployment, with the process's caches."""

    def __init__(self, dep: Deployment, caches: Caches, keys: KeyService) -> None:
        self.dep = dep
        self.caches = caches
        self.keys = keys

    # -- the hop ------------------------------------------------------------------------------

    def authorize(
        self, owner: Owner, product: str, action: str, params: Mapping[str, str], seen: Circumstances
    ) -> None:
        """Return if ``owner`` may call ``action`` (of ``product``: ``Kms`` or ``Ram``) with
        ``params``; else raise :class:`~openkms.domain.errors.NoPermission`.

        A decision is kept (``caches.reads``, like key state: until the node's next write, or
        another node's heard, and for at most the age bound) under everything it depends on:
        the caller, the action, the parameters that name its resources, the client's address,
        the transport and the algorithm; one whose policies read the time is never kept.
        """
        if product == "Ram":
            if owner.is_root:
                return
            rows: Sequence[Permission] = ()
        elif product == "Kms":
            rows = PERMISSIONS.get(action, ())
            if not rows or (owner.is_root and self._own_account_only(owner.account_uid, rows, params)):
                # The root on its own account's resources: allowed without reading anything.
                return
        else:
            return  # STS decides its own actions (AssumeRole: identity and trust policy)
        named = tuple(_naming(p, params.get(p)) for row in rows for p in row.parameters)
        key = (
            "decision",
            owner,
            product,
            action,
            named,
            seen.source_ip,
            seen.secure,
            params.get("Algorithm"),
        )
        decision, principal, _timed = self.caches.reads.get(
            key,
            lambda: self._decide(owner, product, action, rows, params, seen),
            keep=lambda found: not found[2],
        )
        if not decision.allowed:
            detail = _detail(decision, owner, principal)
            detail["EncodedDiagnosticMessage"] = self._sealed(decision, principal)
            raise errors.NoPermission(detail)

    def _decide(
        self,
        owner: Owner,
        product: str,
        action: str,
        rows: Sequence[Permission],
        params: Mapping[str, str],
        seen: Circumstances,
    ) -> tuple[Decision, Principal, bool]:
        """The decision, with the principal and whether a policy it used has a time condition
        (then it is not kept: the time changes with every request)."""
        if product == "Ram":
            checks = [Check(f"ram:{action}", f"acs:ram:*:{owner.account_uid}:*")]
        else:
            checks = [c for row in rows for c in self._checks(owner, row, params)]
        principal = self._principal(owner)
        session_policy = self._session_policy(owner)
        identity = self._identity_policies(owner)
        ctx = RequestContext(
            principal=principal,
            current_time=datetime.fromtimestamp(seen.now, UTC),
            source_ip=_address(seen.source_ip),
            secure_transport=seen.secure,
            encryption_algorithm=params.get("Algorithm"),
            session_policy=session_policy,
        )
        decision = decide(ctx, checks, identity)
        used = [*identity, *(c.policy for c in checks if c.policy is not None)]
        if session_policy is not None:
            used.append(session_policy)
        return decision, principal, any(_reads_time(p) for p in used)

    def _sealed(self, decision: Decision, principal: Principal) -> str:
        """What the caller may not read but an operator may (``openkms access-denied decode``):
        the resource refused and the statement that denied, sealed under the deployment's KEK."""
        keyring = self.dep.keyring
        version = keyring.current
        facts = {
            "AuthAction": decision.action,
            "AuthResource": decision.resource,
            "AuthPrincipal": principal.arn,
            "NoPermissionType": str(decision.no_permission_type or ""),
            "PolicyType": str(decision.policy_type or ""),
            "DenyingStatement": decision.statement,
        }
        _, sealed = keyring.wrap(json.dumps(facts).encode(), diagnostic_aad(version))
        return base64.b64encode(version.to_bytes(4, "big") + sealed).decode()

    def _own_account_only(self, uid: str, rows: Sequence[Permission], params: Mapping[str, str]) -> bool:
        """Whether every resource the request names is in account ``uid``: no ARN of another
        account among the parameters, and a ciphertext only of one of its keys."""
        for permission in rows:
            for parameter in permission.parameters:
                value = params.get(parameter)
                if not value:
                    continue
                if parameter == "CiphertextBlob":
                    key = self._blob_key(value)
                    if key is not None and key.account_uid != uid:
                        return False
                elif "acs:" in value and f":{uid}:" not in value:
                    return False
        return True

    # -- who ----------------------------------------------------------------------------------

    def _principal(self, owner: Owner) -> Principal:
        if owner.session is not None:
            # Policies name a role in lower case (RAM lowercases it in the role's ARN).
            session = owner.session
            return Principal.session(owner.account_uid, session.role_name.lower(), session.session_name)
        if owner.user_id is None:
            return Principal.root(owner.account_uid)
        user_id = owner.user_id
        user = self.caches.reads.get(
            ("user", user_id), lambda: principals.get_user_by_id(self.dep.db, user_id)
        )
        # A user deleted since its AccessKey was read: nothing it may do (its policies are gone).
        return Principal.user(owner.account_uid, user.user_name if user is not None else f"deleted-{user_id}")

    def _session_policy(self, owner: Owner) -> Policy | None:
        text = owner.session.policy if owner.session is not None else None
        if not text:
            return None
        return self.caches.reads.get(("session policy", text), lambda: parse_identity_policy(text))

    def _identity_policies(self, owner: Owner) -> Sequence[Policy]:
        """A user's policies and its groups', or a session's role's: compiled, kept as key
        state is."""
        if owner.session is not None:
            holders = [(ram.ROLE, owner.session.role_id)]
            key = ("identity", ram.ROLE, owner.session.role_id)
        elif owner.user_id is not None:
            user_id = owner.user_id
            holders = [(ram.USER, user_id)]
            key = ("identity", ram.USER, user_id)
        else:
            return ()

        def load() -> tuple[Policy, ...]:
            with self.dep.db.read() as tx:
                found = list(holders)
                if holders[0][0] == ram.USER:
                    groups = principals.groups_of_user(tx, holders[0][1])
                    found += [(ram.GROUP, g.group_id) for g, _ in groups]
                return tuple(attached_policies(tx, owner.account_uid, found))

        return self.caches.reads.get(key, load, keep=lambda _found: True)

    # -- what ---------------------------------------------------------------------------------

    def _checks(self, owner: Owner, permission: Permission, params: Mapping[str, str]) -> list[Check]:
        uid = owner.account_uid
        region = self.dep.region
        kind = permission.resource
        action = permission.action
        if kind is ResourceKind.ANY:
            return [Check(action, "*")]
        if kind is ResourceKind.KEY_CONTAINER:
            return [Check(action, key_container_arn(region, uid))]
        if kind is ResourceKind.ALIAS_CONTAINER:
            return [Check(action, alias_container_arn(region, uid))]
        if kind is ResourceKind.SECRET_CONTAINER:
            return [Check(action, secret_container_arn(region, uid))]
        if kind in _NAMED_ARN:
            value = next((params[p] for p in permission.parameters if params.get(p)), None)
            if value:
                return [Check(action, _NAMED_ARN[kind](region, uid, value))]
            return [] if kind is ResourceKind.INSTANCE_IF_NAMED else [Check(action, "*")]
        named = [(p, params[p]) for p in permission.parameters if params.get(p)]
        if not named:
            return []  # an optional resource not given (its absence is the action's concern)
        parameter, value = named[0]
        values = _items(value) if permission.each else [value]
        checks: list[Check] = []
        for item in values:
            for resource in self._resources(kind, parameter, item, uid):
                checks.append(Check(action, resource.arn, resource.policy, resource.tags))
        return checks

    def _resources(self, kind: ResourceKind, parameter: str, value: str, uid: str) -> list[_Resource]:
        region = self.dep.region
        if kind is ResourceKind.ALIAS:
            return [_Resource(value if value.startswith("acs:") else alias_arn(region, uid, value))]
        if kind is ResourceKind.SECRET or (kind is ResourceKind.TAGGED and parameter == "SecretName"):
            return [self._secret(value, uid)]
        if kind is ResourceKind.SECRET_KEY:
            key_id = self._secret_key(value, uid)
            return [self._key(key_id, uid, "KeyId")] if key_id else []
        if kind is ResourceKind.TAGGED and parameter == "ResourceId" and not _looks_like_key(value):
            return [self._secret(value, uid)]
        if parameter == "CiphertextBlob":
            return [self._key_of_blob(value, uid)]
        if parameter == "AliasName":  # DeleteAlias: the key the alias names
            target = self._alias_target(value, uid)
            return [self._key(target, uid, "KeyId")] if target else []
        out: list[_Resource] = []
        if value.startswith("alias/") or ":alias/" in value:
            name = value.split(":alias/", 1)[1] if value.startswith("acs:") else value[len("alias/") :]
            out.append(
                _Resource(value if value.startswith("acs:") else alias_arn(region, uid, f"alias/{name}"))
            )
            target = self._alias_target(value, uid)
            if target is None:
                return out
            value = target
        out.append(self._key(value, uid, parameter))
        return out

    def _key(self, value: str, uid: str, parameter: str) -> _Resource:
        """A key by id or ARN: its ARN, policy and tags; a key that does not exist has neither."""
        try:
            key = self.keys.resolve(uid, value, parameter)
        except (errors.KeyNotFound, errors.AliasNotFound, errors.InvalidValue):
            return _Resource(value if value.startswith("acs:") else key_arn(self.dep.region, uid, value))
        owner_uid = key.account_uid
        arn = key_arn(self.dep.region, owner_uid, key.key_id)
        reads, db, key_id = self.caches.reads, self.dep.db, key.key_id
        policy = reads.get(
            ("key policy", key_id),
            lambda: parse_resource_policy(
                key_repo.policy(db, key_id) or keypolicy.default_policy(owner_uid), PolicyKind.KEY
            ),
        )
        tags = reads.get(
            ("key tags", key_id), lambda: _tags(db, owner_uid, "key", key_id), keep=lambda _t: True
        )
        return _Resource(arn, policy, tags)

    def _key_of_blob(self, text: str, uid: str) -> _Resource:
        try:
            version_id = parse_blob(text).version_id
        except errors.InvalidValue:
            # Not a ciphertext: nothing to name; the action answers it as a bad blob, but only
            # to a caller who may use keys at all.
            return _Resource(key_arn(self.dep.region, uid, "*"))
        key = self._version_key(version_id)
        if key is None:
            return _Resource(key_arn(self.dep.region, uid, "*"))
        return self._key(key_arn(self.dep.region, key.account_uid, key.key_id), uid, "KeyId")

    def _version_key(self, version_id: str) -> Key | None:
        db = self.dep.db
        _exists, key = self.caches.reads.get(
            ("key of version", version_id), lambda: key_repo.of_version(db, version_id), keep=lambda f: f[0]
        )
        return key

    def _blob_key(self, text: str) -> Key | None:
        try:
            return self._version_key(parse_blob(text).version_id)
        except errors.InvalidValue:
            return None

    def _alias_target(self, value: str, uid: str) -> str | None:
        try:
            return self.keys.resolve(uid, value, "AliasName").key_id
        except (errors.KeyNotFound, errors.AliasNotFound, errors.InvalidValue):
            return None

    def _secret_row(self, value: str, uid: str) -> tuple[str, str, Secret | None]:
        """(owner account, name, the secret or None) of a secret name or ARN."""
        try:
            ref = parse_secret_ref(value, self.dep.region, uid, "SecretName")
        except errors.InvalidValue:
            return uid, value, None
        account, name, db = ref.account_uid, ref.name, self.dep.db
        found = self.caches.reads.get(
            ("secret row", account, name), lambda: secret_repo.get_secret(db, account, name)
        )
        return account, name, found

    def _secret(self, value: str, uid: str) -> _Resource:
        account, name, found = self._secret_row(value, uid)
        arn = secret_arn(self.dep.region, account, name)
        if found is None:
            return _Resource(value if value.startswith("acs:") else arn)
        db, reads = self.dep.db, self.caches.reads

        def policy() -> Policy:
            with db.read() as tx:
                text = secret_repo.get_policy(tx, account, name)
            return parse_resource_policy(text or secret_rules.default_policy(account), PolicyKind.SECRET)

        return _Resource(
            arn,
            reads.get(("secret policy", account, name), policy),
            reads.get(
                ("secret tags", account, name),
                lambda: _tags(db, account, "secret", name),
                keep=lambda _t: True,
            ),
        )

    def _secret_key(self, value: str, uid: str) -> str | None:
        """The customer key protecting a secret, if it has one: None for a secret under its
        account's default key (the one openkms made for secrets that name none), which, as the
        service's own key, needs no kms:Decrypt of the caller."""
        account, _name, found = self._secret_row(value, uid)
        if found is None or not found.encryption_key_id:
            return None
        db = self.dep.db
        default = self.caches.reads.get(
            ("secrets default key", account), lambda: meta.get(db, default_key_meta(account))
        )
        return None if found.encryption_key_id == default else found.encryption_key_id


# Instance and application access resources: the ARN of the one a parameter names.
_NAMED_ARN = {
    ResourceKind.INSTANCE: instance_rules.instance_arn,
    ResourceKind.INSTANCE_IF_NAMED: instance_rules.instance_arn,
    ResourceKind.NETWORK_RULE: instance_rules.network_rule_arn,
    ResourceKind.AAP_POLICY: instance_rules.policy_arn,
    ResourceKind.AAP: instance_rules.aap_arn,
}


def _tags(db: Database, account: str, resource_type: str, resource_id: str) -> Mapping[str, str]:
    with db.read() as tx:
        return dict(tag_repo.get_tags(tx, account, resource_type, resource_id))


def _items(value: str) -> list[str]:
    """A list parameter: a JSON array (of names, or of objects with a SecretName), or names
    separated by commas."""
    text = value.strip()
    if text.startswith("["):
        try:
            found = json.loads(text)
        except ValueError:
            return [value]
        if not isinstance(found, list):
            return [value]
        # BatchGetSecretValue's SecretsList holds objects that name their secret.
        return [str(v.get("SecretName", "")) if isinstance(v, dict) else str(v) for v in found]
    return [v.strip() for v in text.split(",") if v.strip()]


def _looks_like_key(value: str) -> bool:
    return ":key/" in value or (len(value) == 36 and value.count("-") == 4) or value.startswith("key-")


def _naming(parameter: str, value: str | None) -> str | None:
    """What a parameter contributes to a decision's cache key: its value, but for a ciphertext
    the key version its header names (every ciphertext is new; its key is not)."""
    if value and parameter == "CiphertextBlob":
        try:
            return "version:" + parse_blob(value).version_id
        except errors.InvalidValue:
            return value
    return value


@functools.lru_cache(maxsize=4096)
def _reads_time(policy: Policy) -> bool:
    """Whether a policy has a condition on the time (``acs:CurrentTime``), read once per
    compiled policy."""
    return "currenttime" in policy.text.lower()


@functools.lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The client's address, parsed once per distinct address (parsing costs a user's request
    more than the rest of its decision)."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _detail(decision: Decision, owner: Owner, principal: Principal) -> dict[str, str]:
    """The ``AccessDeniedDetail`` of a refusal (the resource stays out of it, as Alibaba's)."""
    if owner.session is not None:
        kind, display = "AssumedRoleUser", f"{owner.session.role_name}:{owner.session.session_name}"
    else:
        kind, display = "SubUser", principal.arn.rsplit("/", 1)[-1]
    return {
        "AuthAction": decision.action,
        "AuthPrincipalType": kind,
        "AuthPrincipalOwnerId": owner.account_uid,
        "AuthPrincipalDisplayName": display,
        "PolicyType": str(decision.policy_type or ""),
        "NoPermissionType": str(decision.no_permission_type or ""),
        "EncodedDiagnosticMessage": "",
    }


def diagnostic_aad(kek_version: int) -> bytes:
    return b"openkms/access-denied-diagnostic/" + str(kek_version).encode()


def open_diagnostic(dep: Deployment, text: str) -> dict[str, object]:
    """The facts of an ``EncodedDiagnosticMessage`` (ValueError if it is not one of this
    deployment's)."""
    try:
        raw = base64.b64decode(text, validate=True)
        version = int.from_bytes(raw[:4], "big")
        found: dict[str, object] = json.loads(dep.keyring.unwrap(version, raw[4:], diagnostic_aad(version)))
    except (ValueError, aead.NotAuthentic) as exc:
        raise ValueError("not a diagnostic message of this deployment") from exc
    return found


def attached_policies(tx: Tx, account: str, holders: Iterable[tuple[str, str]]) -> list[Policy]:
    """The policies attached to each (principal type, id), compiled. A stored document the
    engine cannot read grants nothing (stored documents pass a looser check than the engine's)."""
    out: list[Policy] = []
    for principal_type, principal_id in holders:
        for a in policy_repo.attachments_of_principal(tx, principal_type, principal_id):
            if a.policy_type == ram.SYSTEM:
                system = SYSTEM_POLICIES.get(a.policy_name)
                if system is not None:
                    out.append(system.policy)
                continue
            if a.policy_type != ram.CUSTOM:
                continue
            stored = policy_repo.get_policy(tx, account, a.policy_name)
            version = (
                policy_repo.get_version(tx, account, a.policy_name, stored.default_version)
                if stored is not None
                else None
            )
            if version is None:
                continue
            try:
                out.append(parse_identity_policy(version.document))
            except errors.PolicyError:
                continue
    return out
