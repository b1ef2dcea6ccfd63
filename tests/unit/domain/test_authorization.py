"""Access decisions (access-control reference §1.5, §2.3, §2.4) and the decision cases of its
test list §6.5, at engine level: each test builds the checks the server would build (from the
action table of :mod:`openkms.domain.permissions`) and asks :func:`decide`.

Setup of §6.5: account A with users alice and bob, its root, role kmsuser trusting alice; account
B with user carol; key K1 in A tagged Project=Apollo with alias alias/k1; key K2 untagged; secret
S1 in A.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from ipaddress import ip_address
from typing import Any, ClassVar

import pytest

from openkms.domain import arn
from openkms.domain.access import Check, Principal, RequestContext
from openkms.domain.authorization import (
    ALLOWED,
    CROSS_ACCOUNT_ACTIONS,
    Decision,
    NoPermissionType,
    PolicyType,
    decide,
)
from openkms.domain.errors import PolicyError
from openkms.domain.keypolicy import default_policy
from openkms.domain.permissions import PERMISSIONS, ResourceKind
from openkms.domain.policy import (
    Outcome,
    Policy,
    PolicyKind,
    evaluate,
    parse_identity_policy,
    parse_resource_policy,
    parse_trust_policy,
)
from openkms.domain.system_policies import SYSTEM_POLICIES

R = "cn-hangzhou"
A, B = "1111111111111111", "2222222222222222"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ALICE, BOB, ROOT_A = Principal.user(A, "alice"), Principal.user(A, "bob"), Principal.root(A)
CAROL, ROOT_B = Principal.user(B, "carol"), Principal.root(B)
SESSION = Principal.session(A, "kmsuser", "s1")

K1_ARN, K2_ARN = arn.key_arn(R, A, "K1"), arn.key_arn(R, A, "K2")
ALIAS_ARN = arn.alias_arn(R, A, "alias/k1")
S1_ARN, S2_ARN = arn.secret_arn(R, A, "S1"), arn.secret_arn(R, A, "S2")
K1_TAGS = {"Project": "Apollo"}
KMSUSER_ARN = arn.role_arn(A, "kmsuser")


def key_policy(*statements: dict[str, Any], kind: PolicyKind = PolicyKind.KEY) -> Policy:
    default = json.loads(default_policy(A))["Statement"]
    return parse_resource_policy(json.dumps({"Version": "1", "Statement": [*default, *statements]}), kind)


DEFAULT_KEY_POLICY = key_policy()
TRUST = parse_trust_policy(
    json.dumps(
        {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"RAM": [arn.user_arn(A, "alice")]},
                }
            ],
        }
    )
)


def policy(*statements: dict[str, Any]) -> Policy:
    return parse_identity_policy(json.dumps({"Version": "1", "Statement": list(statements)}))


def allow(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def system(name: str) -> Policy:
    return SYSTEM_POLICIES[name].policy


@dataclass(frozen=True)
class Res:
    """A resource as the server resolves it: its ARN, its own policy, its tags."""

    arn: str
    policy: Policy | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


K1 = Res(K1_ARN, DEFAULT_KEY_POLICY, K1_TAGS)
K2 = Res(K2_ARN, DEFAULT_KEY_POLICY)
ALIAS_K1 = Res(ALIAS_ARN, DEFAULT_KEY_POLICY, K1_TAGS)  # an alias answers its key's policy and tags
S1 = Res(S1_ARN, parse_resource_policy(default_policy(A), PolicyKind.SECRET))
S2 = Res(S2_ARN, parse_resource_policy(default_policy(A), PolicyKind.SECRET))


def checks(api: str, caller: Principal = ALICE, **named: Sequence[Res]) -> list[Check]:
    """The checks the server builds for ``api``: the action table's permissions on the resources
    the request names (``KEY=[...]``, ``SECRET=[...]``, ...); containers and ``*`` are the
    caller's own; a secret without ``SECRET_KEY`` has no customer key."""
    out = []
    for permission in PERMISSIONS[api]:
        kind = permission.resource
        resources: Sequence[Res]
        if kind.name in named:
            resources = named[kind.name]
        elif kind is ResourceKind.ANY:
            resources = [Res(arn.ANY_RESOURCE)]
        elif kind is ResourceKind.KEY_CONTAINER:
            resources = [Res(arn.key_container_arn(R, caller.account_id))]
        elif kind is ResourceKind.ALIAS_CONTAINER:
            resources = [Res(arn.alias_container_arn(R, caller.account_id))]
        elif kind is ResourceKind.SECRET_CONTAINER:
            resources = [Res(arn.secret_container_arn(R, caller.account_id))]
        elif kind in (ResourceKind.SECRET_KEY, ResourceKind.INSTANCE_IF_NAMED):
            resources = []
        else:
            raise AssertionError(f"{api} needs a {kind.name} resource")
        out += [Check(permission.action, r.arn, r.policy, r.tags) for r in resources]
    return out


def ctx(principal: Principal = ALICE, **values: Any) -> RequestContext:
    defaults: dict[str, Any] = {"source_ip": ip_address("127.0.0.1"), "secure_transport": False}
    return RequestContext(principal, NOW, **{**defaults, **values})


def run(
    api: str,
    principal: Principal = ALICE,
    policies: Sequence[Policy] = (),
    context: RequestContext | None = None,
    **named: Sequence[Res],
) -> Decision:
    request = context or ctx(principal)
    return decide(request, checks(api, principal, **named), policies)


def refused(decision: Decision, action: str, kind: NoPermissionType, layer: PolicyType) -> None:
    assert not decision.allowed
    assert (decision.action, decision.no_permission_type, decision.policy_type) == (action, kind, layer)


IMPLICIT, EXPLICIT = NoPermissionType.IMPLICIT_DENY, NoPermissionType.EXPLICIT_DENY
IDENTITY, RESOURCE = PolicyType.ACCOUNT_LEVEL_IDENTITY, PolicyType.RESOURCE_BASED


class TestIdentityPolicies:
    """§6.5 cases 1-22: RAM identity policies, account A only."""

    def test_01_no_policies(self) -> None:
        """A user with no policies is refused: ImplicitDeny, AccountLevelIdentityBasedPolicy."""
        decision = run("Encrypt", KEY=[K1])
        refused(decision, "kms:Encrypt", IMPLICIT, IDENTITY)
        assert decision.resource == K1_ARN

    def test_02_03_crypto_user(self) -> None:
        """AliyunKMSCryptoUserAccess encrypts, but does not create keys."""
        policies = [system("AliyunKMSCryptoUserAccess")]
        assert run("Encrypt", policies=policies, KEY=[K1]) == ALLOWED
        refused(run("CreateKey", policies=policies), "kms:CreateKey", IMPLICIT, IDENTITY)

    def test_04_read_only(self) -> None:
        """AliyunKMSReadOnlyAccess lists keys, describes them and reads their policies."""
        policies = [system("AliyunKMSReadOnlyAccess")]
        assert run("ListKeys", policies=policies).allowed
        assert run("DescribeKey", policies=policies, KEY=[K1]).allowed
        assert run("GetKeyPolicy", policies=policies, KEY=[K1]).allowed
        assert not run("Encrypt", policies=policies, KEY=[K1]).allowed

    def test_05_explicit_deny_wins(self) -> None:
        """An explicit Deny on K1's Decrypt beats kms:* on *; Encrypt still passes."""
        policies = [policy(allow("kms:*"), deny("kms:Decrypt", f"acs:kms:*:{A}:key/K1", Sid="noDecrypt"))]
        decision = run("Decrypt", policies=policies, KEY=[K1])
        refused(decision, "kms:Decrypt", EXPLICIT, IDENTITY)
        assert decision.statement == "noDecrypt"
        assert run("Encrypt", policies=policies, KEY=[K1]).allowed

    def test_06_07_alias_must_be_allowed_too(self) -> None:
        """Through an alias, the alias ARN must be allowed as well as the key's."""
        keys_only = [policy(allow(["kms:Encrypt"], f"acs:kms:{R}:{A}:key/*"))]
        decision = run("Encrypt", policies=keys_only, KEY=[ALIAS_K1, K1])
        refused(decision, "kms:Encrypt", IMPLICIT, IDENTITY)
        assert decision.resource == ALIAS_ARN
        both = [policy(allow(["kms:Encrypt"], [f"acs:kms:{R}:{A}:key/*", f"acs:kms:{R}:{A}:alias/*"]))]
        assert run("Encrypt", policies=both, KEY=[ALIAS_K1, K1]).allowed

    def test_08_container_is_not_a_key(self) -> None:
        """``key/*`` does not match the key container ListKeys is checked on."""
        refused(
            run("ListKeys", policies=[policy(allow("kms:List*", f"acs:kms:*:{A}:key/*"))]),
            "kms:ListKeys",
            IMPLICIT,
            IDENTITY,
        )

    def test_09_tag_condition(self) -> None:
        """StringEqualsIgnoreCase on kms:tag/Project lets K1 (Apollo) through, not untagged K2."""
        policies = [
            policy(allow("kms:Encrypt", Condition={"StringEqualsIgnoreCase": {"kms:tag/Project": "apollo"}}))
        ]
        assert run("Encrypt", policies=policies, KEY=[K1]).allowed
        assert not run("Encrypt", policies=policies, KEY=[K2]).allowed

    def test_10_source_ip(self) -> None:
        """IpAddress 10.0.0.0/8: refused from 127.0.0.1, allowed from 10.1.2.3."""
        policies = [policy(allow("kms:*", Condition={"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}}))]
        assert not run("Encrypt", policies=policies, KEY=[K1]).allowed
        inside = ctx(source_ip=ip_address("10.1.2.3"))
        assert run("Encrypt", policies=policies, context=inside, KEY=[K1]).allowed
        assert run("ListKeys", policies=policies, context=inside).allowed

    def test_11_secure_transport(self) -> None:
        """Bool acs:SecureTransport=true: refused over HTTP, allowed over HTTPS."""
        policies = [policy(allow("kms:*", Condition={"Bool": {"acs:SecureTransport": "true"}}))]
        assert not run("Encrypt", policies=policies, KEY=[K1]).allowed
        assert run("Encrypt", policies=policies, context=ctx(secure_transport=True), KEY=[K1]).allowed

    def test_12_current_time(self) -> None:
        """DateLessThan acs:CurrentTime 2000-01-01 allows nothing today."""
        policies = [
            policy(allow("kms:*", Condition={"DateLessThan": {"acs:CurrentTime": "2000-01-01T00:00:00Z"}}))
        ]
        refused(run("Encrypt", policies=policies, KEY=[K1]), "kms:Encrypt", IMPLICIT, IDENTITY)

    def test_13_not_action(self) -> None:
        """Allow NotAction [kms:Decrypt]: everything but Decrypt."""
        policies = [policy({"Effect": "Allow", "NotAction": ["kms:Decrypt"], "Resource": "*"})]
        assert run("Encrypt", policies=policies, KEY=[K1]).allowed
        refused(run("Decrypt", policies=policies, KEY=[K1]), "kms:Decrypt", IMPLICIT, IDENTITY)

    def test_14_encryption_algorithm(self) -> None:
        """StringEquals kms:EncryptionAlgorithm holds the algorithm the request names."""
        condition = {"StringEquals": {"kms:EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}}
        policies = [policy(allow("kms:AsymmetricEncrypt", Condition=condition))]
        sha1 = ctx(encryption_algorithm="RSAES_OAEP_SHA_1")
        sha256 = ctx(encryption_algorithm="RSAES_OAEP_SHA_256")
        assert not run("AsymmetricEncrypt", policies=policies, context=sha1, KEY=[K1]).allowed
        assert run("AsymmetricEncrypt", policies=policies, context=sha256, KEY=[K1]).allowed

    def test_15_secret_and_its_key(self) -> None:
        """GetSecretValue of a secret under customer key K1 also needs kms:Decrypt on K1."""
        get = allow(["kms:GetSecretValue"], f"acs:kms:*:{A}:secret/S1")
        decision = run("GetSecretValue", policies=[policy(get)], SECRET=[S1], SECRET_KEY=[K1])
        refused(decision, "kms:Decrypt", IMPLICIT, IDENTITY)
        assert decision.resource == K1_ARN
        with_decrypt = [policy(get, allow("kms:Decrypt", K1_ARN))]
        assert run("GetSecretValue", policies=with_decrypt, SECRET=[S1], SECRET_KEY=[K1]).allowed
        assert run("GetSecretValue", policies=[policy(get)], SECRET=[S1]).allowed  # no customer key

    def test_16_batch_needs_every_secret(self) -> None:
        """BatchGetSecretValue needs kms:GetSecretValue on every secret of the batch."""
        policies = [policy(allow(["kms:GetSecretValue"], f"acs:kms:*:{A}:secret/S1"))]
        decision = run("BatchGetSecretValue", policies=policies, SECRET=[S1, S2])
        refused(decision, "kms:GetSecretValue", IMPLICIT, IDENTITY)
        assert decision.resource == S2_ARN
        assert run("BatchGetSecretValue", policies=policies, SECRET=[S1]).allowed

    def test_17_random_password_needs_star(self) -> None:
        """GetRandomPassword is checked on ``*``: a secret pattern does not cover it."""
        policies = [policy(allow("kms:*", "acs:kms:*:*:secret*"))]
        refused(run("GetRandomPassword", policies=policies), "kms:GetRandomPassword", IMPLICIT, IDENTITY)
        assert run("GetRandomPassword", policies=[system("AliyunKMSSecretAdminAccess")]).allowed

    def test_18_describe_regions(self) -> None:
        """DescribeRegions needs no permission."""
        assert PERMISSIONS["DescribeRegions"] == ()
        assert run("DescribeRegions", BOB) == ALLOWED

    def test_19_grammar(self) -> None:
        """NotResource and ForAnyValue: are refused, in identity and key policies alike."""
        statement = allow("kms:*", NotResource="*")
        with pytest.raises(PolicyError):
            policy(statement)
        with pytest.raises(PolicyError):
            policy(allow("kms:*", Condition={"ForAnyValue:StringEquals": {"kms:tag/a": "b"}}))
        with pytest.raises(PolicyError):
            key_policy({**allow("kms:*"), "Principal": {"RAM": f"acs:ram::{A}:*"}, "NotResource": "*"})

    def test_20_root_bypasses(self) -> None:
        """Root may do every action on its own K1 and S1, even against a key-policy Deny naming it."""
        hostile = key_policy(
            {**deny("kms:*"), "Principal": {"RAM": [f"acs:ram::{A}:*", f"acs:ram::{A}:root"]}}
        )
        k1 = Res(K1_ARN, hostile, K1_TAGS)
        s1 = Res(
            S1_ARN,
            key_policy({**deny("kms:*"), "Principal": {"RAM": f"acs:ram::{A}:*"}}, kind=PolicyKind.SECRET),
        )
        assert evaluate(hostile, ctx(ROOT_A), Check("kms:Encrypt", K1_ARN)) is Outcome.EXPLICIT_DENY
        for api in PERMISSIONS:
            named = {
                "KEY": [k1],
                "ALIAS": [Res(ALIAS_ARN, hostile)],
                "SECRET": [s1],
                "SECRET_KEY": [k1],
                "TAGGED": [k1, s1],
                "INSTANCE": [Res(f"acs:kms:{R}:{A}:keystore/kst-hzz1")],
                "NETWORK_RULE": [Res(f"acs:kms:{R}:{A}:network/n1")],
                "AAP_POLICY": [Res(f"acs:kms:{R}:{A}:policy/p1")],
                "AAP": [Res(f"acs:kms:{R}:{A}:applicationaccesspoint/a1")],
            }
            assert run(api, ROOT_A, context=ctx(ROOT_A), **named).allowed, api

    def test_21_22_missing_key(self) -> None:
        """A key that does not exist has no policy: refused without a grant (403, not 404), allowed
        with one (the server then answers 404)."""
        k99 = Res(arn.key_arn(R, A, "K99"))
        refused(run("DescribeKey", BOB, KEY=[k99]), "kms:DescribeKey", IMPLICIT, IDENTITY)
        assert run("DescribeKey", BOB, [system("AliyunKMSReadOnlyAccess")], KEY=[k99]).allowed


class TestKeyPolicies:
    """§6.5 cases 23-30: key and secret policies."""

    def test_23_default_key_policy(self) -> None:
        """A key's default policy is exactly one statement granting kms:* to acs:ram::<owner>:*."""
        assert json.loads(default_policy(A)) == {
            "Version": "1",
            "Statement": [
                {
                    "Sid": "kms default key policy",
                    "Effect": "Allow",
                    "Principal": {"RAM": [f"acs:ram::{A}:*"]},
                    "Action": ["kms:*"],
                    "Resource": ["*"],
                }
            ],
        }

    def test_25_default_policy_grants_no_user(self) -> None:
        """``acs:ram::A:*`` does not name A's own users (§2.3): bob without RAM policies is refused."""
        refused(run("Encrypt", BOB, KEY=[K1]), "kms:Encrypt", IMPLICIT, IDENTITY)
        assert evaluate(DEFAULT_KEY_POLICY, ctx(BOB), Check("kms:Encrypt", K1_ARN)) is Outcome.NOT_APPLICABLE
        assert evaluate(DEFAULT_KEY_POLICY, ctx(ROOT_A), Check("kms:Encrypt", K1_ARN)) is Outcome.ALLOW

    def test_26_key_policy_alone_grants(self) -> None:
        """A key policy naming bob lets him Encrypt with no RAM policy (OR rule), not DisableKey."""
        k1 = Res(
            K1_ARN,
            key_policy(
                {**allow(["kms:Encrypt", "kms:Decrypt"]), "Principal": {"RAM": [arn.user_arn(A, "bob")]}}
            ),
        )
        assert run("Encrypt", BOB, KEY=[k1]).allowed
        refused(run("DisableKey", BOB, KEY=[k1]), "kms:DisableKey", IMPLICIT, IDENTITY)
        assert not run("Encrypt", ALICE, KEY=[k1]).allowed

    def test_27_key_policy_deny(self) -> None:
        """A key-policy Deny beats FullAccess: ExplicitDeny, ResourceBasedPolicy."""
        k1 = Res(
            K1_ARN,
            key_policy(
                {**deny("kms:Encrypt"), "Principal": {"RAM": [arn.user_arn(A, "alice")]}, "Sid": "noAlice"}
            ),
        )
        decision = run("Encrypt", ALICE, [system("AliyunKMSFullAccess")], KEY=[k1])
        refused(decision, "kms:Encrypt", EXPLICIT, RESOURCE)
        assert decision.statement == "noAlice"
        assert run("Encrypt", BOB, [system("AliyunKMSFullAccess")], KEY=[k1]).allowed

    def test_28_29_grammar(self) -> None:
        """A key policy is at most 32768 bytes, and its Resource is ``*``."""
        text = default_policy(A)
        padded = text[:-1] + " " * (32768 - len(text)) + "}"
        parse_resource_policy(padded)
        with pytest.raises(PolicyError):
            parse_resource_policy(padded[:-1] + " }")
        with pytest.raises(PolicyError):
            parse_resource_policy(text.replace('["*"]', f'["{K1_ARN}"]'))

    def test_30_ineffective_action(self) -> None:
        """A key policy may name kms:CreateKey; it is kept and grants nothing (CreateKey is not
        checked on any key). Actions outside a policy kind's list have no effect."""
        grant = {
            **allow(["kms:CreateKey", "kms:PutSecretValue", "kms:GetSecretPolicy"]),
            "Principal": {"RAM": [arn.user_arn(A, "bob")]},
        }
        k1 = Res(K1_ARN, key_policy(grant))
        assert '"kms:CreateKey"' in k1.policy.text  # type: ignore[union-attr]
        refused(run("CreateKey", BOB, KEY=[k1]), "kms:CreateKey", IMPLICIT, IDENTITY)
        as_key = key_policy(grant)
        as_secret = key_policy(grant, kind=PolicyKind.SECRET)
        value = Check("kms:PutSecretValue", S1_ARN)
        assert evaluate(as_key, ctx(BOB), value) is Outcome.NOT_APPLICABLE
        assert evaluate(as_secret, ctx(BOB), value) is Outcome.ALLOW
        assert evaluate(as_secret, ctx(BOB), Check("kms:GetSecretPolicy", S1_ARN)) is Outcome.NOT_APPLICABLE

    def test_same_account_table(self) -> None:
        """The key-policy overview's table: either may allow, either's Deny refuses, neither: refused."""
        alice = {"Principal": {"RAM": [arn.user_arn(A, "alice")]}}
        key_allow, key_deny = (
            key_policy({**allow("kms:Encrypt"), **alice}),
            key_policy({**deny("kms:Encrypt"), **alice}),
        )
        ram_allow, ram_deny = policy(allow("kms:Encrypt")), policy(deny("kms:Encrypt"))
        rows: list[tuple[Policy | None, Policy | None, bool]] = [
            (key_allow, None, True),
            (None, ram_allow, True),
            (key_allow, ram_allow, True),
            (key_allow, ram_deny, False),
            (key_deny, ram_allow, False),
            (None, None, False),
        ]
        for key_side, ram_side, expected in rows:
            k1 = Res(K1_ARN, key_side)
            assert run("Encrypt", ALICE, [ram_side] if ram_side else [], KEY=[k1]).allowed is expected

    def test_role_sessions_match_their_role(self) -> None:
        """A key policy naming a role (or one exact session) admits that role's sessions."""
        by_role = Res(K1_ARN, key_policy({**allow("kms:Encrypt"), "Principal": {"RAM": [KMSUSER_ARN]}}))
        by_session = Res(K1_ARN, key_policy({**allow("kms:Encrypt"), "Principal": {"RAM": [SESSION.arn]}}))
        other = Principal.session(A, "kmsuser2", "s1")
        assert run("Encrypt", SESSION, context=ctx(SESSION), KEY=[by_role]).allowed
        assert run("Encrypt", SESSION, context=ctx(SESSION), KEY=[by_session]).allowed
        assert not run("Encrypt", other, context=ctx(other), KEY=[by_role]).allowed
        assert not run("Encrypt", Principal.session(A, "kmsuser", "s2"), KEY=[by_session]).allowed

    def test_key_policy_conditions(self) -> None:
        """Key-policy statements take conditions like any other."""
        statement = {
            **allow("kms:Encrypt"),
            "Principal": {"RAM": [arn.user_arn(A, "bob")]},
            "Condition": {"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}},
        }
        k1 = Res(K1_ARN, key_policy(statement))
        assert not run("Encrypt", BOB, KEY=[k1]).allowed
        assert run("Encrypt", BOB, context=ctx(BOB, source_ip=ip_address("10.0.0.1")), KEY=[k1]).allowed


class TestCrossAccount:
    """§6.5 cases 31-36: carol of account B on A's key K1."""

    GRANT: ClassVar[dict[str, Any]] = {
        **allow("kms:Encrypt"),
        "Principal": {"RAM": [arn.user_arn(B, "carol")]},
    }
    CAROLS_OWN = policy(allow("kms:Encrypt", K1_ARN))

    def test_31_neither_side(self) -> None:
        """Without a grant on either side carol is refused."""
        refused(run("Encrypt", CAROL, KEY=[K1]), "kms:Encrypt", IMPLICIT, IDENTITY)

    def test_32_key_policy_alone(self) -> None:
        """A key-policy grant is not enough across accounts (AND rule)."""
        k1 = Res(K1_ARN, key_policy(self.GRANT))
        refused(run("Encrypt", CAROL, KEY=[k1]), "kms:Encrypt", IMPLICIT, IDENTITY)

    def test_33_own_policy_alone(self) -> None:
        """Carol's own RAM policy is not enough either."""
        refused(run("Encrypt", CAROL, [self.CAROLS_OWN], KEY=[K1]), "kms:Encrypt", IMPLICIT, RESOURCE)

    def test_34_both_sides(self) -> None:
        """Both sides: Encrypt passes; DisableKey does not (use actions only)."""
        k1 = Res(K1_ARN, key_policy(self.GRANT))
        assert run("Encrypt", CAROL, [self.CAROLS_OWN], KEY=[k1]).allowed
        assert not run("DisableKey", CAROL, [self.CAROLS_OWN], KEY=[k1]).allowed

    def test_35_account_delegation(self) -> None:
        """``acs:ram::B:*`` delegates to B: carol's own policy then decides."""
        k1 = Res(K1_ARN, key_policy({**allow("kms:Encrypt"), "Principal": {"RAM": [f"acs:ram::{B}:*"]}}))
        assert run("Encrypt", CAROL, [self.CAROLS_OWN], KEY=[k1]).allowed
        assert not run("Encrypt", CAROL, KEY=[k1]).allowed
        assert run("Encrypt", ROOT_B, context=ctx(ROOT_B), KEY=[k1]).allowed

    def test_36_bare_key_id_is_carols_account(self) -> None:
        """A bare KeyId is resolved in carol's account: refused if her policy names only A's ARN;
        allowed by ``acs:kms:*:*:key/*`` (the server then answers 404)."""
        in_b = Res(arn.key_arn(R, B, "K1"))
        refused(run("Encrypt", CAROL, [self.CAROLS_OWN], KEY=[in_b]), "kms:Encrypt", IMPLICIT, IDENTITY)
        assert run("Encrypt", CAROL, [policy(allow("kms:Encrypt", "acs:kms:*:*:key/*"))], KEY=[in_b]).allowed

    def test_management_never_crosses_accounts(self) -> None:
        """Even kms:* granted on both sides allows only the use actions across accounts."""
        k1 = Res(K1_ARN, key_policy({**allow("kms:*"), "Principal": {"RAM": [f"acs:ram::{B}:*"]}}))
        everything = [policy(allow("kms:*"))]
        refused(run("DisableKey", CAROL, everything, KEY=[k1]), "kms:DisableKey", IMPLICIT, RESOURCE)
        refused(
            run("SetKeyPolicy", ROOT_B, everything, context=ctx(ROOT_B), KEY=[k1]),
            "kms:SetKeyPolicy",
            IMPLICIT,
            RESOURCE,
        )
        for action in ("kms:Encrypt", "kms:GenerateMac", "kms:ReEncryptTo", "kms:DescribeKey"):
            assert action.lower() in CROSS_ACCOUNT_ACTIONS
            assert decide(ctx(CAROL), [Check(action, K1_ARN, k1.policy)], everything).allowed, action
        assert "kms:disablekey" not in CROSS_ACCOUNT_ACTIONS

    def test_cross_account_deny(self) -> None:
        """A key-policy Deny refuses another account's caller whatever both sides allow."""
        k1 = Res(
            K1_ARN,
            key_policy(
                {**allow("kms:*"), "Principal": {"RAM": f"acs:ram::{B}:*"}},
                {**deny("kms:Encrypt"), "Principal": {"RAM": f"acs:ram::{B}:*"}},
            ),
        )
        refused(run("Encrypt", CAROL, [policy(allow("kms:*"))], KEY=[k1]), "kms:Encrypt", EXPLICIT, RESOURCE)
        refused(run("Encrypt", ROOT_B, context=ctx(ROOT_B), KEY=[k1]), "kms:Encrypt", EXPLICIT, RESOURCE)


class TestSTS:
    """§6.5 cases 38, 39 and 43: AssumeRole and session policies."""

    ROLE = Res(KMSUSER_ARN, TRUST)
    ASSUME: ClassVar[list[Policy]] = [system("AliyunSTSAssumeRoleAccess")]

    def assume(self, caller: Principal, policies: Sequence[Policy]) -> Decision:
        return decide(ctx(caller), [Check("sts:AssumeRole", self.ROLE.arn, self.ROLE.policy)], policies)

    def test_alice_may_assume(self) -> None:
        """The caller's policy and the trust policy both allow: the role is assumed."""
        assert self.assume(ALICE, self.ASSUME).allowed

    def test_identity_policy_is_needed(self) -> None:
        """The trust policy alone is not enough (AND rule, even within one account)."""
        refused(self.assume(ALICE, []), "sts:AssumeRole", IMPLICIT, IDENTITY)

    def test_38_bob_not_trusted(self) -> None:
        """bob is not in the trust policy: refused, AssumeRolePolicy."""
        refused(self.assume(BOB, self.ASSUME), "sts:AssumeRole", IMPLICIT, PolicyType.ASSUME_ROLE)

    def test_39_root_cannot_assume(self) -> None:
        """The account's root assumes no role, even one whose trust policy names the account."""
        whole_account = parse_trust_policy(
            json.dumps(
                {
                    "Version": "1",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "sts:AssumeRole",
                            "Principal": {"RAM": f"acs:ram::{A}:root"},
                        }
                    ],
                }
            )
        )
        decision = decide(ctx(ROOT_A), [Check("sts:AssumeRole", KMSUSER_ARN, whole_account)], [])
        refused(decision, "sts:AssumeRole", IMPLICIT, PolicyType.ASSUME_ROLE)
        assert decide(ctx(BOB), [Check("sts:AssumeRole", KMSUSER_ARN, whole_account)], self.ASSUME).allowed

    def test_trust_policy_deny(self) -> None:
        """A Deny in the trust policy refuses explicitly."""
        trust = parse_trust_policy(
            json.dumps(
                {
                    "Version": "1",
                    "Statement": [
                        {
                            "Effect": "Deny",
                            "Action": "sts:AssumeRole",
                            "Principal": {"RAM": arn.user_arn(A, "alice")},
                        }
                    ],
                }
            )
        )
        decision = decide(ctx(ALICE), [Check("sts:AssumeRole", KMSUSER_ARN, trust)], self.ASSUME)
        refused(decision, "sts:AssumeRole", EXPLICIT, PolicyType.ASSUME_ROLE)

    def test_43_session_policy_narrows(self) -> None:
        """A session created with ``{Allow kms:Decrypt on *}`` may not Encrypt, whatever its role
        may: SessionPolicy."""
        role = [system("AliyunKMSCryptoUserAccess")]
        plain = ctx(SESSION)
        narrowed = replace(plain, session_policy=policy(allow("kms:Decrypt")))
        assert run("Encrypt", SESSION, role, context=plain, KEY=[K1]).allowed
        refused(
            run("Encrypt", SESSION, role, context=narrowed, KEY=[K1]),
            "kms:Encrypt",
            IMPLICIT,
            PolicyType.SESSION,
        )
        assert run("Decrypt", SESSION, role, context=narrowed, KEY=[K1]).allowed
        refused(run("Decrypt", SESSION, [], context=narrowed, KEY=[K1]), "kms:Decrypt", IMPLICIT, IDENTITY)

    def test_session_policy_deny(self) -> None:
        """A Deny in a session policy refuses explicitly, before the role's policies are read."""
        narrowed = ctx(SESSION, session_policy=policy(allow("kms:*"), deny("kms:Encrypt")))
        decision = run("Encrypt", SESSION, [system("AliyunKMSFullAccess")], context=narrowed, KEY=[K1])
        refused(decision, "kms:Encrypt", EXPLICIT, PolicyType.SESSION)


def test_first_refused_pair_is_reported() -> None:
    """With several pairs, the decision names the first one refused; all allowed is ALLOWED."""
    policies = [policy(allow("kms:ReEncryptFrom", K1_ARN), allow("kms:ReEncryptTo", K1_ARN))]
    assert run("ReEncrypt", policies=policies, KEY=[K1]).allowed
    decision = decide(ctx(), [Check("kms:ReEncryptFrom", K1_ARN), Check("kms:ReEncryptTo", K2_ARN)], policies)
    refused(decision, "kms:ReEncryptTo", IMPLICIT, IDENTITY)
    assert decision.resource == K2_ARN
    assert decide(ctx(), [], []) is ALLOWED


def test_reencrypt_wildcard_covers_both_halves() -> None:
    """``kms:ReEncrypt*`` covers ReEncryptFrom and ReEncryptTo."""
    assert run("ReEncrypt", policies=[policy(allow("kms:ReEncrypt*"))], KEY=[K1]).allowed
    assert not run("ReEncrypt", policies=[policy(allow("kms:ReEncryptFrom"))], KEY=[K1]).allowed


def test_action_names_ignore_case() -> None:
    """Action names in a policy and in a check compare without regard to case; ARNs do not."""
    policies = [policy(allow("KMS:encrypt", K1_ARN))]
    assert decide(ctx(), [Check("kms:Encrypt", K1_ARN)], policies).allowed
    assert decide(ctx(), [Check("kms:ENCRYPT", K1_ARN)], policies).allowed
    assert not decide(ctx(), [Check("kms:Encrypt", K1_ARN.upper())], policies).allowed


def test_several_identity_policies() -> None:
    """Decision A spans every identity policy: an Allow in one, a Deny in another refuses."""
    assert decide(
        ctx(), [Check("kms:Encrypt", K1_ARN)], [policy(allow("kms:Decrypt")), policy(allow("kms:Encrypt"))]
    ).allowed
    refused(
        decide(
            ctx(),
            [Check("kms:Encrypt", K1_ARN)],
            [policy(allow("kms:*")), policy(deny("kms:Encrypt", "acs:kms:*:*:key/*"))],
        ),
        "kms:Encrypt",
        EXPLICIT,
        IDENTITY,
    )
