"""KMS instances and application access: the use cases of the instance and AAP actions, the quota
checks that CreateKey and CreateSecret make, and the reads the instance gateway makes for every
request (docs/instances.md).

Every management call acts in one account (the caller's); the gateway's reads start from an id
that is unique across the deployment (an instance id, a client key id) and return the owner with
the record. Each write is one transaction. Quotas are decided under the instance row's lock
(:func:`store.instances.lock_instance`), so two nodes creating keys at once cannot both take the
last one.

The gateway's reads (:meth:`InstanceService.instance`, :meth:`InstanceService.client_key`,
:meth:`InstanceService.access_policies`) go through the read cache: they are on its hot path and
their rows change rarely; a node's own write is seen at once, another node's within the read
cache's bound.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from openkms.crypto import client_key as client_key_crypto
from openkms.domain import aap as aap_rules
from openkms.domain import errors
from openkms.domain.clock import parse_iso
from openkms.domain.instance import (
    AAP_AUTHENTICATION,
    CLIENT_KEY_ALGORITHM,
    CLIENT_KEY_ORIGIN,
    CLIENT_KEY_YEARS,
    CONNECTED,
    DEFAULT_KEY_NUM,
    DEFAULT_SECRET_NUM,
    DEFAULT_SPEC,
    DEFAULT_VPC_NUM,
    MAX_KEY_NUM,
    MAX_SECRET_NUM,
    MAX_VPC_NUM,
    MIN_KEY_NUM,
    NETWORK_RULE_TYPE,
    SPECS,
    UNINITIALIZED,
    AapPolicy,
    AccessPoint,
    BindVpc,
    ClientKey,
    KmsInstance,
    NetworkRule,
    check_client_key_password,
    check_name,
    new_client_key_id,
    new_instance_id,
)
from openkms.service.caches import Caches
from openkms.service.deployment import Deployment
from openkms.store import Conflict, Database, Tx
from openkms.store import instances as repo

_T = TypeVar("_T")

__all__ = [
    "QUOTA_KEY",
    "QUOTA_SECRET",
    "CreatedClientKey",
    "InstanceService",
    "QuotaInfo",
    "admit",
    "usable",
]

QUOTA_KEY = "key"
QUOTA_SECRET = "secret"  # noqa: S105 - a resource type
QUOTA_VPC = "vpc"
QUOTA_QPS = "qps"
QUOTA_TYPES = (QUOTA_KEY, QUOTA_SECRET, QUOTA_QPS, QUOTA_VPC)


@dataclass(frozen=True, slots=True)
class QuotaInfo:
    resource_type: str
    quota: int
    used: int


@dataclass(frozen=True, slots=True)
class CreatedClientKey:
    """CreateClientKey's answer: the stored public half, and the PKCS#12 bundle (private key
    and certificate under the caller's password), which exists only in this answer."""

    key: ClientKey
    pkcs12: bytes


class InstanceService:
    def __init__(self, dep: Deployment, caches: Caches) -> None:
        self.dep = dep
        self.caches = caches

    # -- the instance gateway's reads (stable interface) ----------------------------------------

    def instance(self, instance_id: str) -> KmsInstance | None:
        """The instance ``instance_id`` of any account (its owner is ``account_uid``), or None."""
        return self.caches.reads.get(
            ("kms-instance", instance_id), lambda: repo.get_instance(self.dep.db, instance_id)
        )

    def client_key(self, client_key_id: str) -> ClientKey | None:
        """The client key ``client_key_id`` of any account (public key, certificate, validity,
        access point and owner), or None. The caller checks ``valid_at(now)``."""
        return self.caches.reads.get(
            ("client-key", client_key_id), lambda: repo.get_client_key(self.dep.db, client_key_id)
        )

    def access_policies(self, account_uid: str, aap_name: str) -> tuple[aap_rules.GrantingPolicy, ...]:
        """The policies of ``account_uid``'s access point ``aap_name``, with their network rules
        resolved to networks: what :func:`openkms.domain.aap.decide` takes. Empty when the
        access point does not exist (a client key outliving it grants nothing)."""
        return self.caches.reads.get(
            ("aap-policies", account_uid, aap_name),
            lambda: self._granting(account_uid, aap_name),
            keep=lambda _: True,
        )

    def authorize(
        self, key: ClientKey, instance_id: str, action: str, resource: str | None, source: str | None
    ) -> aap_rules.Denial | None:
        """Whether ``key`` may do ``action`` on ``resource`` (``key/<KeyId>``,
        ``secret/<SecretName>``, or None) of ``instance_id`` from ``source``: None if allowed,
        else why not. The instance must be the key's account's."""
        inst = self.instance(instance_id)
        if inst is None or inst.account_uid != key.account_uid:
            return aap_rules.Denial.NO_POLICY
        policies = self.access_policies(key.account_uid, key.aap_name)
        return aap_rules.decide(
            policies, instance_id=instance_id, action=action, resource=resource, source=source
        )

    def _granting(self, account_uid: str, aap_name: str) -> tuple[aap_rules.GrantingPolicy, ...]:
        with self.dep.db.read() as tx:
            aap = repo.get_aap(tx, account_uid, aap_name)
            if aap is None:
                return ()
            policies = repo.get_policies(tx, account_uid, aap.policies)
            names = sorted({r for p in policies.values() for r in p.network_rules})
            rules = repo.get_network_rules(tx, account_uid, names)
        out = []
        for name in aap.policies:
            policy = policies.get(name)
            if policy is None:
                continue
            cidrs = [c for r in policy.network_rules if r in rules for c in rules[r].source_private_ips]
            out.append(
                aap_rules.GrantingPolicy(
                    policy.name,
                    policy.kms_instance,
                    frozenset(policy.permissions),
                    policy.resources,
                    aap_rules.networks_of(cidrs),
                )
            )
        return tuple(out)

    # -- instances ------------------------------------------------------------------------------

    def create_instance(
        self,
        account_uid: str,
        name: str,
        *,
        spec: int = DEFAULT_SPEC,
        key_num: int = DEFAULT_KEY_NUM,
        secret_num: int = DEFAULT_SECRET_NUM,
        vpc_num: int = DEFAULT_VPC_NUM,
        connect: bool = True,
    ) -> KmsInstance:
        """A new instance of ``account_uid`` (what buying one is on Alibaba). Connected at once
        when ``connect``, else ``Uninitialized`` until ConnectKmsInstance."""
        if not name or len(name) > 128:
            raise errors.InvalidValue("InstanceName", "The instance name must be 1-128 characters.")
        if spec not in SPECS:
            raise errors.InvalidValue("Spec", f"The Spec must be one of {', '.join(map(str, SPECS))}.")
        if not MIN_KEY_NUM <= key_num <= MAX_KEY_NUM:
            raise errors.InvalidValue("KeyNum", f"The KeyNum must be {MIN_KEY_NUM}-{MAX_KEY_NUM}.")
        if not 0 <= secret_num <= MAX_SECRET_NUM:
            raise errors.InvalidValue("SecretNum", f"The SecretNum must be 0-{MAX_SECRET_NUM}.")
        if not 1 <= vpc_num <= MAX_VPC_NUM:
            raise errors.InvalidValue("VpcNum", f"The VpcNum must be 1-{MAX_VPC_NUM}.")
        inst = KmsInstance(
            instance_id=new_instance_id(self.dep.region),
            account_uid=account_uid,
            instance_name=name,
            spec=spec,
            key_num=key_num,
            secret_num=secret_num,
            vpc_num=vpc_num,
            status=CONNECTED if connect else UNINITIALIZED,
            vpc_id="",
            vswitch_ids=(),
            zone_ids=(),
            bind_vpcs=(),
            deletion_protection=False,
            deletion_protection_description="",
            create_time=self.dep.clock.now(),
            end_time=None,
        )
        with self.dep.db.write() as tx:
            repo.insert_instance(tx, inst)
        return inst

    def get_instance(self, account_uid: str, instance_id: str) -> KmsInstance:
        """``account_uid``'s instance; InstanceNotFound for another's or none."""
        inst = repo.get_instance(self.dep.db, instance_id)
        if inst is None or inst.account_uid != account_uid:
            raise errors.InstanceNotFound()
        return inst

    def list_instances(self, account_uid: str, page: int, size: int) -> tuple[list[KmsInstance], int]:
        with self.dep.db.read() as tx:
            return repo.page_instances(tx, account_uid, (page - 1) * size, size)

    def all_instances(self, account_uid: str) -> list[KmsInstance]:
        with self.dep.db.read() as tx:
            return repo.page_instances(tx, account_uid, 0, 1 << 30)[0]

    def _locked(self, tx: Tx, account_uid: str, instance_id: str) -> KmsInstance:
        inst = repo.lock_instance(tx, instance_id)
        if inst is None or inst.account_uid != account_uid:
            raise errors.InstanceNotFound()
        return inst

    def connect(
        self,
        account_uid: str,
        instance_id: str,
        vpc_id: str,
        vswitch_ids: Sequence[str],
        zone_ids: Sequence[str],
    ) -> None:
        """ConnectKmsInstance: record the network the instance is attached to and make it usable.
        Connecting a connected instance again is refused."""
        with self.dep.db.write() as tx:
            inst = self._locked(tx, account_uid, instance_id)
            if inst.connected:
                raise errors.InstanceStateInvalid("The KMS instance is already connected.")
            repo.update_instance(
                tx,
                replace(
                    inst,
                    status=CONNECTED,
                    vpc_id=vpc_id,
                    vswitch_ids=tuple(vswitch_ids),
                    zone_ids=tuple(zone_ids),
                ),
            )

    def update_bind_vpcs(self, account_uid: str, instance_id: str, vpcs: Sequence[BindVpc]) -> None:
        """UpdateKmsInstanceBindVpc: replace the extra VPCs, within the instance's VPC quota."""
        with self.dep.db.write() as tx:
            inst = self._locked(tx, account_uid, instance_id)
            if len(vpcs) > inst.vpc_num:
                raise errors.LimitExceeded(f"The instance may bind at most {inst.vpc_num} VPCs.")
            repo.update_instance(tx, replace(inst, bind_vpcs=tuple(vpcs)))

    def quota_infos(self, account_uid: str, instance_id: str, resource_type: str | None) -> list[QuotaInfo]:
        """Quota and use per resource type (``key``, ``secret``, ``qps``, ``vpc``), or of one."""
        inst = self.get_instance(account_uid, instance_id)
        wanted = (resource_type,) if resource_type else QUOTA_TYPES
        out = []
        for kind in wanted:
            if kind == QUOTA_KEY:
                out.append(QuotaInfo(kind, inst.key_num, repo.count_keys(self.dep.db, instance_id)))
            elif kind == QUOTA_SECRET:
                out.append(QuotaInfo(kind, inst.secret_num, repo.count_secrets(self.dep.db, instance_id)))
            elif kind == QUOTA_VPC:
                out.append(QuotaInfo(kind, inst.vpc_num, len(inst.bind_vpcs)))
            elif kind == QUOTA_QPS:
                out.append(QuotaInfo(kind, inst.spec, 0))
        return out

    def release(self, account_uid: str, instance_id: str) -> None:
        """ReleaseKmsInstance: refused while the instance holds keys or secrets, is under deletion
        protection, or a policy is scoped to it."""
        with self.dep.db.write() as tx:
            inst = self._locked(tx, account_uid, instance_id)
            if inst.deletion_protection:
                raise errors.StateTransitionRefused("The KMS instance is under deletion protection.")
            held = repo.count_keys(tx, instance_id), repo.count_secrets(tx, instance_id)
            if any(held):
                raise errors.ResourceInUse(f"The KMS instance holds {held[0]} keys and {held[1]} secrets.")
            scoped = repo.policies_of_instance(tx, instance_id)
            if scoped:
                raise errors.ResourceInUse(f"The policy {scoped[0].name} applies to the KMS instance.")
            repo.delete_instance(tx, instance_id)

    def set_deletion_protection(self, account_uid: str, instance_id: str, on: bool, description: str) -> None:
        with self.dep.db.write() as tx:
            inst = self._locked(tx, account_uid, instance_id)
            repo.update_instance(
                tx,
                replace(
                    inst, deletion_protection=on, deletion_protection_description=description if on else ""
                ),
            )

    def admit(self, tx: Tx, account_uid: str, instance_id: str, resource_type: str) -> KmsInstance:
        """:func:`admit` (for callers that hold the service)."""
        return admit(tx, account_uid, instance_id, resource_type)

    # -- network rules --------------------------------------------------------------------------

    def create_network_rule(
        self, account_uid: str, name: str, rule_type: str, source_ips: Sequence[str], description: str
    ) -> NetworkRule:
        check_name("Name", name)
        if rule_type != NETWORK_RULE_TYPE:
            raise errors.InvalidValue("Type", f"The Type must be {NETWORK_RULE_TYPE}.")
        rule = NetworkRule(account_uid, name, rule_type, tuple(source_ips), description, self.dep.clock.now())
        try:
            with self.dep.db.write() as tx:
                repo.insert_network_rule(tx, rule)
        except Conflict:
            raise errors.AlreadyExists(f"A network rule named {name} exists.") from None
        return rule

    def get_network_rule(self, account_uid: str, name: str) -> NetworkRule:
        return _found(repo.get_network_rule(self.dep.db, account_uid, name), "network rule", name)

    def update_network_rule(
        self, account_uid: str, name: str, source_ips: Sequence[str] | None, description: str | None
    ) -> None:
        with self.dep.db.write() as tx:
            rule = _found(repo.get_network_rule(tx, account_uid, name), "network rule", name)
            repo.update_network_rule(
                tx,
                replace(
                    rule,
                    source_private_ips=tuple(source_ips)
                    if source_ips is not None
                    else rule.source_private_ips,
                    description=description if description is not None else rule.description,
                ),
            )

    def delete_network_rule(self, account_uid: str, name: str) -> None:
        """Refused while a policy names the rule."""
        with self.dep.db.write() as tx:
            users = repo.policies_naming_rule(tx, account_uid, name)
            if users:
                raise errors.ResourceInUse(f"The policy {users[0]} names the network rule {name}.")
            if not repo.delete_network_rule(tx, account_uid, name):
                raise errors.ResourceNotFound(f"No network rule named {name}.")

    def list_network_rules(self, account_uid: str, page: int, size: int) -> tuple[list[NetworkRule], int]:
        with self.dep.db.read() as tx:
            return repo.page_network_rules(tx, account_uid, (page - 1) * size, size)

    # -- AAP policies ---------------------------------------------------------------------------

    def _check_policy_refs(self, tx: Tx, account_uid: str, kms_instance: str, rules: Sequence[str]) -> None:
        inst = repo.get_instance(tx, kms_instance)
        if inst is None or inst.account_uid != account_uid:
            raise errors.InstanceNotFound()
        found = repo.get_network_rules(tx, account_uid, rules)
        missing = [r for r in rules if r not in found]
        if missing:
            raise errors.InvalidValue("AccessControlRules", f"No network rule named {missing[0]}.")

    def create_policy(
        self,
        account_uid: str,
        name: str,
        kms_instance: str,
        permissions: Sequence[str],
        resources: Sequence[str],
        network_rules: Sequence[str],
        description: str,
    ) -> AapPolicy:
        check_name("Name", name)
        policy = AapPolicy(
            account_uid,
            name,
            kms_instance,
            tuple(permissions),
            tuple(resources),
            tuple(network_rules),
            description,
            self.dep.clock.now(),
        )
        try:
            with self.dep.db.write() as tx:
                self._check_policy_refs(tx, account_uid, kms_instance, network_rules)
                if repo.get_policy(tx, account_uid, name) is not None:
                    raise errors.AlreadyExists(f"A policy named {name} exists.")
                repo.insert_policy(tx, policy)
        except Conflict:
            raise errors.AlreadyExists(f"A policy named {name} exists.") from None
        return policy

    def get_policy(self, account_uid: str, name: str) -> AapPolicy:
        return _found(repo.get_policy(self.dep.db, account_uid, name), "policy", name)

    def update_policy(
        self,
        account_uid: str,
        name: str,
        *,
        permissions: Sequence[str] | None,
        resources: Sequence[str] | None,
        network_rules: Sequence[str] | None,
        description: str | None,
    ) -> None:
        with self.dep.db.write() as tx:
            policy = _found(repo.get_policy(tx, account_uid, name), "policy", name)
            updated = replace(
                policy,
                permissions=tuple(permissions) if permissions is not None else policy.permissions,
                resources=tuple(resources) if resources is not None else policy.resources,
                network_rules=tuple(network_rules) if network_rules is not None else policy.network_rules,
                description=description if description is not None else policy.description,
            )
            self._check_policy_refs(tx, account_uid, updated.kms_instance, updated.network_rules)
            repo.update_policy(tx, updated)

    def delete_policy(self, account_uid: str, name: str) -> None:
        """Refused while an access point attaches the policy."""
        with self.dep.db.write() as tx:
            users = repo.aaps_naming_policy(tx, account_uid, name)
            if users:
                raise errors.ResourceInUse(f"The access point {users[0]} attaches the policy {name}.")
            if not repo.delete_policy(tx, account_uid, name):
                raise errors.ResourceNotFound(f"No policy named {name}.")

    def list_policies(self, account_uid: str, page: int, size: int) -> tuple[list[AapPolicy], int]:
        with self.dep.db.read() as tx:
            return repo.page_policies(tx, account_uid, (page - 1) * size, size)

    # -- access points --------------------------------------------------------------------------

    def _check_policies_exist(self, tx: Tx, account_uid: str, names: Sequence[str]) -> None:
        found = repo.get_policies(tx, account_uid, names)
        missing = [n for n in names if n not in found]
        if missing:
            raise errors.InvalidValue("Policies", f"No policy named {missing[0]}.")

    def create_aap(
        self,
        account_uid: str,
        name: str,
        authentication_method: str,
        policies: Sequence[str],
        description: str,
    ) -> AccessPoint:
        check_name("Name", name)
        if authentication_method != AAP_AUTHENTICATION:
            raise errors.InvalidValue(
                "AuthenticationMethod", f"The AuthenticationMethod must be {AAP_AUTHENTICATION}."
            )
        aap = AccessPoint(
            account_uid, name, authentication_method, tuple(policies), description, self.dep.clock.now()
        )
        try:
            with self.dep.db.write() as tx:
                self._check_policies_exist(tx, account_uid, policies)
                if repo.get_aap(tx, account_uid, name) is not None:
                    raise errors.AlreadyExists(f"An application access point named {name} exists.")
                repo.insert_aap(tx, aap)
        except Conflict:
            raise errors.AlreadyExists(f"An application access point named {name} exists.") from None
        return aap

    def get_aap(self, account_uid: str, name: str) -> AccessPoint:
        return _found(repo.get_aap(self.dep.db, account_uid, name), "application access point", name)

    def update_aap(
        self, account_uid: str, name: str, policies: Sequence[str] | None, description: str | None
    ) -> None:
        with self.dep.db.write() as tx:
            aap = _found(repo.get_aap(tx, account_uid, name), "application access point", name)
            if policies is not None:
                self._check_policies_exist(tx, account_uid, policies)
            repo.update_aap(
                tx,
                replace(
                    aap,
                    policies=tuple(policies) if policies is not None else aap.policies,
                    description=description if description is not None else aap.description,
                ),
            )

    def delete_aap(self, account_uid: str, name: str) -> None:
        """Refused while client keys of the access point exist."""
        with self.dep.db.write() as tx:
            held = repo.count_client_keys(tx, account_uid, name)
            if held:
                raise errors.ResourceInUse(f"The application access point {name} has {held} client keys.")
            if not repo.delete_aap(tx, account_uid, name):
                raise errors.ResourceNotFound(f"No application access point named {name}.")

    def list_aaps(self, account_uid: str, page: int, size: int) -> tuple[list[AccessPoint], int]:
        with self.dep.db.read() as tx:
            return repo.page_aaps(tx, account_uid, (page - 1) * size, size)

    # -- client keys ----------------------------------------------------------------------------

    def create_client_key(
        self, account_uid: str, aap_name: str, password: str, not_before: str | None, not_after: str | None
    ) -> CreatedClientKey:
        """A new client key of the access point ``aap_name``, valid from NotBefore (default now)
        to NotAfter (default five years on); the private key leaves only in the answer."""
        check_client_key_password(password)
        now = float(int(self.dep.clock.now()))
        if (not_before is None) != (not_after is None):
            missing = "NotAfter" if not_after is None else "NotBefore"
            raise errors.InvalidValue(missing, "NotBefore and NotAfter are given together.")
        start = _instant("NotBefore", not_before) if not_before is not None else now
        end = (
            _instant("NotAfter", not_after) if not_after is not None else _years_after(now, CLIENT_KEY_YEARS)
        )
        if end <= start:
            raise errors.InvalidValue("NotAfter", "The NotAfter must be later than NotBefore.")
        if end <= now:
            raise errors.InvalidValue("NotAfter", "The NotAfter has passed.")
        self.get_aap(account_uid, aap_name)  # before the costly key generation
        client_key_id = new_client_key_id()
        material = client_key_crypto.make(client_key_id, password, start, end)
        key = ClientKey(
            client_key_id=client_key_id,
            account_uid=account_uid,
            aap_name=aap_name,
            key_algorithm=CLIENT_KEY_ALGORITHM,
            key_origin=CLIENT_KEY_ORIGIN,
            public_key_der=material.public_key_der,
            certificate_der=material.certificate_der,
            not_before=start,
            not_after=end,
            create_time=now,
        )
        with self.dep.db.write() as tx:
            if repo.get_aap(tx, account_uid, aap_name) is None:
                raise errors.ResourceNotFound(f"No application access point named {aap_name}.")
            repo.insert_client_key(tx, key)
        return CreatedClientKey(key, material.pkcs12)

    @staticmethod
    def public_key_pem(key: ClientKey) -> str:
        """The client key's public key as PEM (GetClientKey's PublicKeyData)."""
        return client_key_crypto.public_pem(key.public_key_der)

    def get_client_key(self, account_uid: str, client_key_id: str) -> ClientKey:
        key = repo.get_client_key(self.dep.db, client_key_id)
        if key is None or key.account_uid != account_uid:
            raise errors.ResourceNotFound(f"No client key {client_key_id}.")
        return key

    def list_client_keys(self, account_uid: str, aap_name: str | None) -> list[ClientKey]:
        with self.dep.db.read() as tx:
            return repo.client_keys_of(tx, account_uid, aap_name)

    def delete_client_key(self, account_uid: str, client_key_id: str) -> None:
        with self.dep.db.write() as tx:
            if not repo.delete_client_key(tx, account_uid, client_key_id):
                raise errors.ResourceNotFound(f"No client key {client_key_id}.")


def _found(value: _T | None, what: str, name: str) -> _T:
    """``value``, or ResourceNotFound naming the ``what`` called ``name``."""
    if value is None:
        raise errors.ResourceNotFound(f"No {what} named {name}.")
    return value


def _instant(parameter: str, text: str) -> float:
    try:
        return parse_iso(text)
    except ValueError:
        raise errors.InvalidValue(parameter, f"The {parameter} must be yyyy-MM-ddTHH:mm:ssZ.") from None


def _years_after(ts: float, years: int) -> float:
    start = datetime.datetime.fromtimestamp(ts, datetime.UTC)
    try:
        end = start.replace(year=start.year + years)
    except ValueError:  # 29 February
        end = start.replace(year=start.year + years, day=28)
    return end.timestamp()


def usable(db: Database, account_uid: str, instance_id: str) -> KmsInstance:
    """``account_uid``'s instance ``instance_id``, once it is known to be connected: the check
    CreateKey and CreateSecret make before their costly work (:func:`admit` decides again
    inside their transaction).

    Raises:
        InstanceNotFound, InstanceStateInvalid.
    """
    inst = repo.get_instance(db, instance_id)
    if inst is None or inst.account_uid != account_uid:
        raise errors.InstanceNotFound()
    if not inst.connected:
        raise errors.InstanceStateInvalid()
    return inst


def admit(tx: Tx, account_uid: str, instance_id: str, resource_type: str) -> KmsInstance:
    """Inside the transaction that creates a key (``resource_type`` ``key``) or a secret
    (``secret``) in ``instance_id``: the instance, its row locked until the transaction ends,
    once it is known to be ``account_uid``'s, connected, and below that quota.

    Raises:
        InstanceNotFound, InstanceStateInvalid, LimitExceeded.
    """
    inst = repo.lock_instance(tx, instance_id)
    if inst is None or inst.account_uid != account_uid:
        raise errors.InstanceNotFound()
    if not inst.connected:
        raise errors.InstanceStateInvalid()
    if resource_type == QUOTA_KEY:
        quota, used = inst.key_num, repo.count_keys(tx, instance_id)
    else:
        quota, used = inst.secret_num, repo.count_secrets(tx, instance_id)
    if used >= quota:
        raise errors.LimitExceeded(f"The KMS instance holds its quota of {quota} {resource_type}s.")
    return inst
