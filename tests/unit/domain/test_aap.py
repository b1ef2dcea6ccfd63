"""The application access decision (domain/aap.py) and the rules of the values groups J and K take
(domain/instance.py): pure functions, each refusal for the reason it states."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkms.domain import audit
from openkms.domain.aap import (
    KEY_ACTIONS,
    SECRET_ACTIONS,
    Denial,
    GrantingPolicy,
    allows,
    decide,
    networks_of,
)
from openkms.domain.errors import InvalidValue
from openkms.domain.instance import (
    KEY_USER,
    SECRET_USER,
    check_client_key_password,
    check_permissions,
    check_policy_names,
    check_resources,
    new_client_key_id,
    new_instance_id,
    parse_access_control_rules,
    parse_bind_vpcs,
    parse_source_ips,
    region_code,
)

INST = "kst-hzz0000000000000000000001"


def policy(
    permissions: tuple[str, ...] = (KEY_USER,),
    resources: tuple[str, ...] = ("key/*",),
    networks: tuple[str, ...] = ("10.0.0.0/24",),
    instance: str = INST,
) -> GrantingPolicy:
    return GrantingPolicy("p", instance, frozenset(permissions), resources, networks_of(networks))


def run(
    policies: list[GrantingPolicy],
    action: str = "Encrypt",
    resource: str | None = "key/k1",
    source: str | None = "10.0.0.5",
    instance: str = INST,
) -> Denial | None:
    return decide(policies, instance_id=instance, action=action, resource=resource, source=source)


def test_a_policy_grants_its_actions_on_its_resources_from_its_networks() -> None:
    p = policy()
    for action in KEY_ACTIONS - {"GenerateRandom", "Hash"}:
        assert run([p], action) is None
    assert run([p], "GenerateRandom", None) is None
    assert allows([p], instance_id=INST, action="Decrypt", resource="key/k9", source="10.0.0.255")


@pytest.mark.parametrize(
    ("policies", "kwargs", "reason"),
    [
        ([], {}, Denial.NO_POLICY),
        ([policy(instance="kst-hzzother")], {}, Denial.NO_POLICY),
        ([policy()], {"action": "GetSecretValue", "resource": "secret/s"}, Denial.ACTION),
        ([policy()], {"action": "CreateKey"}, Denial.ACTION),
        ([policy(resources=("key/k2",))], {}, Denial.RESOURCE),
        ([policy(resources=("secret/*",))], {}, Denial.RESOURCE),
        ([policy()], {"resource": None}, Denial.RESOURCE),  # only GenerateRandom/Hash name none
        ([policy()], {"source": "10.0.1.5"}, Denial.NETWORK),
        ([policy()], {"source": None}, Denial.NETWORK),
        ([policy()], {"source": "not an address"}, Denial.NETWORK),
        ([policy(networks=())], {}, Denial.NETWORK),  # no network rule: no address
        ([policy(networks=("fd00::/8",))], {}, Denial.NETWORK),
    ],
)
def test_refusals(policies: list[GrantingPolicy], kwargs: dict[str, str | None], reason: Denial) -> None:
    assert run(policies, **kwargs) is reason  # type: ignore[arg-type]


def test_secret_user_and_exact_resources() -> None:
    p = policy(permissions=(SECRET_USER,), resources=("secret/db/pass", "key/k1"))
    assert run([p], "GetSecretValue", "secret/db/pass") is None
    assert run([p], "GetSecretValue", "secret/db") is Denial.RESOURCE
    assert run([p], "GetSecretValue", "secret/db/pass/x") is Denial.RESOURCE
    assert run([p], "Encrypt", "key/k1") is Denial.ACTION  # the resource is listed, the template is not
    assert {"GetSecretValue"} == SECRET_ACTIONS


def test_any_granting_policy_allows_and_the_closest_reason_is_told() -> None:
    far = policy(instance="kst-hzzother")
    near = policy(networks=("192.168.0.0/16",))
    assert run([far, near]) is Denial.NETWORK
    assert run([far, near, policy()]) is None
    assert run([policy(), far]) is None


def test_ipv4_mapped_ipv6_sources_are_their_ipv4_address() -> None:
    assert run([policy()], source="::ffff:10.0.0.5") is None
    assert run([policy()], source=ipaddress.ip_address("10.0.0.5")) is None  # type: ignore[arg-type]


@given(st.integers(0, 2**32 - 1), st.integers(8, 32))
def test_the_network_decides_exactly_membership(address: int, prefix: int) -> None:
    net = ipaddress.ip_network((address, prefix), strict=False)
    inside = str(net.network_address)
    outside = str(ipaddress.ip_address((int(net.broadcast_address) + 1) % 2**32))
    p = policy(networks=(str(net),))
    assert run([p], source=inside) is None
    assert (run([p], source=outside) is None) == (ipaddress.ip_address(outside) in net)


# -- values of groups J and K ---------------------------------------------------------------


def test_source_ips_json_or_comma_separated_canonical() -> None:
    assert parse_source_ips('["10.0.0.1","192.168.1.7/24"]') == ("10.0.0.1/32", "192.168.1.0/24")
    assert parse_source_ips("10.0.0.1, 10.0.0.1,fd00::1") == ("10.0.0.1/32", "fd00::1/128")
    for bad in ("", "[]", "10.0.0.256", '["10.0.0.1", 5]', "{}", ",".join(["10.0.0.1"] * 101)):
        with pytest.raises(InvalidValue):
            parse_source_ips(bad)


def test_permissions_resources_policies_rules() -> None:
    assert check_permissions([KEY_USER, KEY_USER]) == (KEY_USER,)
    assert check_resources(["key/*", "secret/a/b"]) == ("key/*", "secret/a/b")
    assert check_policy_names(["a", "b", "a"]) == ("a", "b")
    assert parse_access_control_rules('{"NetworkRules":["r1","r2"]}') == ("r1", "r2")
    assert parse_access_control_rules('{"NetworkRules":[]}') == ()
    for call, value in [
        (check_permissions, []),
        (check_permissions, ["kms:*"]),
        (check_resources, ["alias/x"]),
        (check_resources, ["key/"]),
        (check_resources, ["key/a*"]),
        (check_policy_names, ["a", "b", "c", "d"]),
        (check_policy_names, ["bad name"]),
    ]:
        with pytest.raises(InvalidValue):
            call(value)  # type: ignore[operator]
    for bad in ("", "[]", '{"NetworkRules":"r"}', '{"Rules":["r"]}', '{"NetworkRules":["a b"]}'):
        with pytest.raises(InvalidValue):
            parse_access_control_rules(bad)


def test_bind_vpcs() -> None:
    vpcs = parse_bind_vpcs('[{"VpcId":"v","VSwitchId":"s","RegionId":"r","VpcOwnerId":12}, {"VpcId":"w"}]')
    assert [(v.vpc_id, v.vswitch_id, v.region_id, v.vpc_owner_id) for v in vpcs] == [
        ("v", "s", "r", "12"),
        ("w", "", "", ""),
    ]
    assert parse_bind_vpcs("[]") == ()
    for bad in ("{", "{}", '[{"VSwitchId":"s"}]', '[{"VpcId":"v","VpcOwnerId":true}]', "[1]"):
        with pytest.raises(InvalidValue):
            parse_bind_vpcs(bad)


def test_client_key_password() -> None:
    for good in ("abcdefg1", "ABCDEFG-", "12345678_", "a1" * 32):
        check_client_key_password(good)
    for bad in ("abc1", "abcdefgh", "12345678", "a1" * 33, "abc defg1", "abcdefg1+"):
        with pytest.raises(InvalidValue):
            check_client_key_password(bad)


def test_ids() -> None:
    assert region_code("cn-hangzhou") == "hzz" and region_code("cn-beijing") == "bjj"
    assert (region_code("ap-northeast-1"), region_code("local"), region_code("x-9")) == ("nor", "loc", "kms")
    made = new_instance_id("cn-hangzhou")
    assert (
        made.startswith("kst-hzz")
        and len(made) == len("kst-hzz") + 21
        and made != new_instance_id("cn-hangzhou")
    )
    assert new_client_key_id().startswith("KAAP.") and len(new_client_key_id()) == 41


def test_audit_leaves_the_private_key_out_and_names_group_k_resources() -> None:
    redact = audit.Redactor(lambda v: "hmac")
    assert redact.value("PrivateKeyData", "MIIJ" * 100) == {"omitted": True, "bytes": 400}
    assert redact.value("Password", "pass-Word_1") == {"omitted": True, "bytes": 11}
    refs = audit.referenced({"Name": "office"}, None, "CreateNetworkRule")
    assert refs == {"ACS::KMS::NetworkRule": ["office"]}
    assert audit.referenced({"Name": "crypto"}, None, "DescribePolicy") == {"ACS::KMS::AapPolicy": ["crypto"]}
    assert audit.referenced({"Name": "app"}, None, "DeleteApplicationAccessPoint") == {
        "ACS::KMS::ApplicationAccessPoint": ["app"]
    }
    assert audit.referenced({"KmsInstanceId": INST}, None, "GetKmsInstance") == {"ACS::KMS::Instance": [INST]}
    assert audit.referenced({"AapName": "app"}, {"ClientKeyId": "KAAP.x"}, "CreateClientKey") == {
        "ACS::KMS::ApplicationAccessPoint": ["app"],
        "ACS::KMS::ClientKey": ["KAAP.x"],
    }
    assert audit.referenced({"Name": "x"}, None, "ListPolicies") == {}
