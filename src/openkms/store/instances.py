"""KMS instances and application access: network rules, AAP policies, access points and client
keys. Functions take ``q``, a transaction or the Database (see the package docstring).

Instance and client key ids are unique across the deployment, so both are read by id and say
their owner; rules, policies and access points are named within an account. List-valued
fields are stored as JSON text and handed up as tuples.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Table, bindparam, delete, func, insert, select, update

from openkms.domain.instance import AapPolicy, AccessPoint, BindVpc, ClientKey, KmsInstance, NetworkRule
from openkms.store.engine import Database, Row, Tx, for_update
from openkms.store.schema import (
    aap_policies,
    access_points,
    client_keys,
    keys,
    kms_instances,
    network_rules,
    secrets,
)

__all__ = [
    "aaps_naming_policy",
    "client_keys_of",
    "count_client_keys",
    "count_keys",
    "count_secrets",
    "delete_aap",
    "delete_client_key",
    "delete_instance",
    "delete_network_rule",
    "delete_policy",
    "get_aap",
    "get_client_key",
    "get_instance",
    "get_network_rule",
    "get_network_rules",
    "get_policies",
    "get_policy",
    "insert_aap",
    "insert_client_key",
    "insert_instance",
    "insert_network_rule",
    "insert_policy",
    "lock_instance",
    "page_aaps",
    "page_instances",
    "page_network_rules",
    "page_policies",
    "policies_naming_rule",
    "policies_of_instance",
    "update_aap",
    "update_instance",
    "update_network_rule",
    "update_policy",
]


T = TypeVar("T")


def _tuple(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def _json(items: Sequence[str]) -> str:
    return json.dumps(list(items), separators=(",", ":"))


# -- instances ----------------------------------------------------------------------------------

_INSTANCE = select(kms_instances).where(kms_instances.c.instance_id == bindparam("id"))
_INSTANCE_FOR_UPDATE = for_update(_INSTANCE)


def _bind_vpcs_json(vpcs: Sequence[BindVpc]) -> str:
    return json.dumps(
        [
            {
                "VpcId": v.vpc_id,
                "VSwitchId": v.vswitch_id,
                "RegionId": v.region_id,
                "VpcOwnerId": v.vpc_owner_id,
            }
            for v in vpcs
        ],
        separators=(",", ":"),
    )


def _instance(row: Row) -> KmsInstance:
    vpcs = tuple(
        BindVpc(v["VpcId"], v["VSwitchId"], v["RegionId"], v["VpcOwnerId"])
        for v in json.loads(row["bind_vpcs"])
    )
    return KmsInstance(
        instance_id=row["instance_id"],
        account_uid=row["account_uid"],
        instance_name=row["instance_name"],
        spec=row["spec"],
        key_num=row["key_num"],
        secret_num=row["secret_num"],
        vpc_num=row["vpc_num"],
        status=row["status"],
        vpc_id=row["vpc_id"],
        vswitch_ids=_tuple(row["vswitch_ids"]),
        zone_ids=_tuple(row["zone_ids"]),
        bind_vpcs=vpcs,
        deletion_protection=bool(row["deletion_protection"]),
        deletion_protection_description=row["deletion_protection_description"],
        create_time=row["create_time"],
        end_time=row["end_time"],
    )


def _instance_values(inst: KmsInstance) -> dict[str, Any]:
    return {
        "instance_id": inst.instance_id,
        "account_uid": inst.account_uid,
        "instance_name": inst.instance_name,
        "spec": inst.spec,
        "key_num": inst.key_num,
        "secret_num": inst.secret_num,
        "vpc_num": inst.vpc_num,
        "status": inst.status,
        "vpc_id": inst.vpc_id,
        "vswitch_ids": _json(inst.vswitch_ids),
        "zone_ids": _json(inst.zone_ids),
        "bind_vpcs": _bind_vpcs_json(inst.bind_vpcs),
        "deletion_protection": inst.deletion_protection,
        "deletion_protection_description": inst.deletion_protection_description,
        "create_time": inst.create_time,
        "end_time": inst.end_time,
    }


def insert_instance(tx: Tx, inst: KmsInstance) -> None:
    tx.run(insert(kms_instances).values(**_instance_values(inst)))


def update_instance(tx: Tx, inst: KmsInstance) -> None:
    """Write every field of ``inst`` over its row."""
    values = _instance_values(inst)
    del values["instance_id"]
    tx.run(update(kms_instances).where(kms_instances.c.instance_id == inst.instance_id).values(**values))


def get_instance(q: Tx | Database, instance_id: str) -> KmsInstance | None:
    row = q.first(_INSTANCE, {"id": instance_id})
    return _instance(row) if row is not None else None


def lock_instance(tx: Tx, instance_id: str) -> KmsInstance | None:
    """Read an instance and hold its row until the transaction ends: what counts against its
    quotas is decided under this lock."""
    row = tx.first(_INSTANCE_FOR_UPDATE, {"id": instance_id})
    return _instance(row) if row is not None else None


def page_instances(tx: Tx, account: str, offset: int, limit: int) -> tuple[list[KmsInstance], int]:
    where = kms_instances.c.account_uid == account
    total = int(tx.scalar(select(func.count()).select_from(kms_instances).where(where)))
    stmt = (
        select(kms_instances)
        .where(where)
        .order_by(kms_instances.c.create_time, kms_instances.c.instance_id)
        .offset(offset)
        .limit(limit)
    )
    return [_instance(r) for r in tx.all(stmt)], total


def delete_instance(tx: Tx, instance_id: str) -> bool:
    return tx.run(delete(kms_instances).where(kms_instances.c.instance_id == instance_id)) == 1


def count_keys(q: Tx | Database, instance_id: str) -> int:
    """Keys held by the instance, in any state until they are destroyed."""
    return int(q.scalar(select(func.count()).select_from(keys).where(keys.c.dkms_instance_id == instance_id)))


def count_secrets(q: Tx | Database, instance_id: str) -> int:
    """Secrets held by the instance, those in their recovery window included."""
    stmt = select(func.count()).select_from(secrets).where(secrets.c.dkms_instance_id == instance_id)
    return int(q.scalar(stmt))


# -- rules, policies and access points: an account's resources named within it ------------------


@dataclass(frozen=True)
class _Named(Generic[T]):
    """A table keyed by (account_uid, name), read into ``T`` by ``load``."""

    table: Table
    load: Callable[[Row], T]

    def _where(self, account: str, name: str) -> tuple[Any, Any]:
        return self.table.c.account_uid == account, self.table.c.name == name

    def get(self, q: Tx | Database, account: str, name: str) -> T | None:
        row = q.first(select(self.table).where(*self._where(account, name)))
        return self.load(row) if row is not None else None

    def get_many(self, q: Tx | Database, account: str, names: Sequence[str]) -> dict[str, T]:
        """The account's among ``names``, by name (missing names are left out)."""
        if not names:
            return {}
        c = self.table.c
        stmt = select(self.table).where(c.account_uid == account, c.name.in_(list(names)))
        return {r["name"]: self.load(r) for r in q.all(stmt)}

    def every(self, tx: Tx, account: str) -> list[T]:
        return [self.load(r) for r in tx.all(select(self.table).where(self.table.c.account_uid == account))]

    def page(self, tx: Tx, account: str, offset: int, limit: int) -> tuple[list[T], int]:
        c = self.table.c
        where = c.account_uid == account
        total = int(tx.scalar(select(func.count()).select_from(self.table).where(where)))
        stmt = select(self.table).where(where).order_by(c.create_time, c.name).offset(offset).limit(limit)
        return [self.load(r) for r in tx.all(stmt)], total

    def insert(self, tx: Tx, account: str, name: str, create_time: float, values: dict[str, Any]) -> None:
        """Conflict if the account has one of that name."""
        tx.run(insert(self.table).values(account_uid=account, name=name, create_time=create_time, **values))

    def update(self, tx: Tx, account: str, name: str, values: dict[str, Any]) -> None:
        tx.run(update(self.table).where(*self._where(account, name)).values(**values))

    def delete(self, tx: Tx, account: str, name: str) -> bool:
        return tx.run(delete(self.table).where(*self._where(account, name))) == 1


def _rule(row: Row) -> NetworkRule:
    return NetworkRule(
        row["account_uid"],
        row["name"],
        row["rule_type"],
        _tuple(row["source_private_ip"]),
        row["description"],
        row["create_time"],
    )


def _policy(row: Row) -> AapPolicy:
    return AapPolicy(
        row["account_uid"],
        row["name"],
        row["kms_instance"],
        _tuple(row["permissions"]),
        _tuple(row["resources"]),
        _tuple(row["network_rules"]),
        row["description"],
        row["create_time"],
    )


def _aap(row: Row) -> AccessPoint:
    return AccessPoint(
        row["account_uid"],
        row["name"],
        row["authentication_method"],
        _tuple(row["policies"]),
        row["description"],
        row["create_time"],
    )


_RULES = _Named(network_rules, _rule)
_POLICIES = _Named(aap_policies, _policy)
_AAPS = _Named(access_points, _aap)

get_network_rule = _RULES.get
get_network_rules = _RULES.get_many
page_network_rules = _RULES.page
delete_network_rule = _RULES.delete
get_policy = _POLICIES.get
get_policies = _POLICIES.get_many
page_policies = _POLICIES.page
delete_policy = _POLICIES.delete
get_aap = _AAPS.get
page_aaps = _AAPS.page
delete_aap = _AAPS.delete


def _rule_values(rule: NetworkRule) -> dict[str, Any]:
    return {"source_private_ip": _json(rule.source_private_ips), "description": rule.description}


def _policy_values(policy: AapPolicy) -> dict[str, Any]:
    return {
        "kms_instance": policy.kms_instance,
        "permissions": _json(policy.permissions),
        "resources": _json(policy.resources),
        "network_rules": _json(policy.network_rules),
        "description": policy.description,
    }


def _aap_values(aap: AccessPoint) -> dict[str, Any]:
    return {"policies": _json(aap.policies), "description": aap.description}


def insert_network_rule(tx: Tx, rule: NetworkRule) -> None:
    """Conflict if the account has a rule of that name."""
    values = {"rule_type": rule.rule_type, **_rule_values(rule)}
    _RULES.insert(tx, rule.account_uid, rule.name, rule.create_time, values)


def update_network_rule(tx: Tx, rule: NetworkRule) -> None:
    _RULES.update(tx, rule.account_uid, rule.name, _rule_values(rule))


def insert_policy(tx: Tx, policy: AapPolicy) -> None:
    """Conflict if the account has a policy of that name."""
    _POLICIES.insert(tx, policy.account_uid, policy.name, policy.create_time, _policy_values(policy))


def update_policy(tx: Tx, policy: AapPolicy) -> None:
    _POLICIES.update(tx, policy.account_uid, policy.name, _policy_values(policy))


def insert_aap(tx: Tx, aap: AccessPoint) -> None:
    """Conflict if the account has an access point of that name."""
    values = {"authentication_method": aap.authentication_method, **_aap_values(aap)}
    _AAPS.insert(tx, aap.account_uid, aap.name, aap.create_time, values)


def update_aap(tx: Tx, aap: AccessPoint) -> None:
    _AAPS.update(tx, aap.account_uid, aap.name, _aap_values(aap))


def policies_naming_rule(tx: Tx, account: str, rule: str) -> list[str]:
    """The account's policies whose AccessControlRules name ``rule``."""
    return [p.name for p in _POLICIES.every(tx, account) if rule in p.network_rules]


def aaps_naming_policy(tx: Tx, account: str, policy: str) -> list[str]:
    """The account's access points that attach ``policy``."""
    return [a.name for a in _AAPS.every(tx, account) if policy in a.policies]


def policies_of_instance(tx: Tx, instance_id: str) -> list[AapPolicy]:
    stmt = select(aap_policies).where(aap_policies.c.kms_instance == instance_id)
    return [_policy(r) for r in tx.all(stmt)]


# -- client keys --------------------------------------------------------------------------------

_CLIENT_KEY = select(client_keys).where(client_keys.c.client_key_id == bindparam("id"))


def _client_key(row: Row) -> ClientKey:
    return ClientKey(
        client_key_id=row["client_key_id"],
        account_uid=row["account_uid"],
        aap_name=row["aap_name"],
        key_algorithm=row["key_algorithm"],
        key_origin=row["key_origin"],
        public_key_der=bytes(row["public_key_der"]),
        certificate_der=bytes(row["certificate_der"]),
        not_before=row["not_before"],
        not_after=row["not_after"],
        create_time=row["create_time"],
    )


def insert_client_key(tx: Tx, key: ClientKey) -> None:
    tx.run(
        insert(client_keys).values(
            client_key_id=key.client_key_id,
            account_uid=key.account_uid,
            aap_name=key.aap_name,
            key_algorithm=key.key_algorithm,
            key_origin=key.key_origin,
            public_key_der=key.public_key_der,
            certificate_der=key.certificate_der,
            not_before=key.not_before,
            not_after=key.not_after,
            create_time=key.create_time,
        )
    )


def get_client_key(q: Tx | Database, client_key_id: str) -> ClientKey | None:
    row = q.first(_CLIENT_KEY, {"id": client_key_id})
    return _client_key(row) if row is not None else None


def client_keys_of(tx: Tx, account: str, aap_name: str | None) -> list[ClientKey]:
    """The account's client keys (of one access point if ``aap_name``), oldest first."""
    conditions = [client_keys.c.account_uid == account]
    if aap_name is not None:
        conditions.append(client_keys.c.aap_name == aap_name)
    stmt = (
        select(client_keys)
        .where(*conditions)
        .order_by(client_keys.c.create_time, client_keys.c.client_key_id)
    )
    return [_client_key(r) for r in tx.all(stmt)]


def count_client_keys(tx: Tx, account: str, aap_name: str) -> int:
    stmt = (
        select(func.count())
        .select_from(client_keys)
        .where(client_keys.c.account_uid == account, client_keys.c.aap_name == aap_name)
    )
    return int(tx.scalar(stmt))


def delete_client_key(tx: Tx, account: str, client_key_id: str) -> bool:
    stmt = delete(client_keys).where(
        client_keys.c.account_uid == account, client_keys.c.client_key_id == client_key_id
    )
    return tx.run(stmt) == 1
