"""The engine against a deliberately plain reference: for random policies and requests, the
compiled, indexed evaluation decides exactly what straight loops over the JSON statements decide.

The reference below reads the documents as parsed JSON, matches wildcards with its own recursive
definition and evaluates conditions with its own comparisons; it shares with the engine only the
two lists the reference document fixes as data (the actions that take effect in key and secret
policies, and the actions allowed across accounts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from ipaddress import IPv6Address, ip_address, ip_network
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.domain.access import Check, Principal, PrincipalKind, RequestContext
from openkms.domain.authorization import CROSS_ACCOUNT_ACTIONS, decide
from openkms.domain.policy import (
    KEY_POLICY_ACTIONS,
    SECRET_POLICY_ACTIONS,
    PolicyKind,
    denying_statement,
    evaluate,
    parse_policy,
)

A, B = "1111111111111111", "2222222222222222"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

# The reference evaluator -------------------------------------------------------------------------


@cache
def ref_glob(pattern: str, text: str) -> bool:
    """``*`` any run, ``?`` one character, by recursion on the pattern."""
    if pattern == "":
        return text == ""
    if pattern[0] == "*":
        return ref_glob(pattern[1:], text) or (text != "" and ref_glob(pattern, text[1:]))
    if text == "":
        return False
    return (pattern[0] == "?" or pattern[0] == text[0]) and ref_glob(pattern[1:], text[1:])


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def ref_account(resource: str) -> str | None:
    parts = resource.split(":")
    if resource.startswith("acs:") and len(parts) >= 5 and parts[3] != "":
        return parts[3]
    return None


def ref_request_values(key: str, ctx: RequestContext, check: Check) -> list[Any]:
    name = key.lower()
    if name == "acs:sourceip":
        if ctx.source_ip is None:
            return []
        ip = ctx.source_ip
        if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return [ip]
    if name == "acs:currenttime":
        return [ctx.current_time]
    if name == "acs:securetransport":
        return [ctx.secure_transport]
    if name == "acs:mfapresent":
        return [False]
    if name == "acs:sourcevpc":
        return []
    if name == "kms:encryptionalgorithm":
        return [] if ctx.encryption_algorithm is None else [ctx.encryption_algorithm]
    if name == "kms:tag":
        return [k + ":" + v for k, v in check.tags.items()]
    tag = key[len("kms:tag/") :]
    return [check.tags[tag]] if tag in check.tags else []


def ref_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def ref_number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def ref_date(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


NEGATIONS = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
}


def ref_compare(operator: str, mine: Any, theirs: Any) -> bool:
    if operator == "StringEquals":
        return mine == ref_text(theirs)
    if operator == "StringEqualsIgnoreCase":
        return mine.casefold() == ref_text(theirs).casefold()
    if operator == "StringLike":
        return ref_glob(ref_text(theirs), mine)
    if operator == "Bool":
        return mine == (theirs is True or (isinstance(theirs, str) and theirs.lower() == "true"))
    if operator == "IpAddress":
        return mine in ip_network(theirs, strict=False)
    if operator.startswith("Numeric"):
        left, right = ref_number(mine), ref_number(theirs)
    else:
        left, right = ref_date(mine), ref_date(theirs)
    if left is None or right is None:
        return False
    relation = operator.removeprefix("Numeric").removeprefix("Date")
    return {
        "Equals": left == right,
        "LessThan": left < right,
        "LessThanEquals": left <= right,
        "GreaterThan": left > right,
        "GreaterThanEquals": left >= right,
    }[relation]


def ref_condition(operator: str, key: str, values: Any, ctx: RequestContext, check: Check) -> bool:
    negated = operator in NEGATIONS
    positive = NEGATIONS.get(operator, operator)
    mine = ref_request_values(key, ctx, check)
    if not mine:
        return negated
    hit = False
    for request_value in mine:
        for policy_value in as_list(values):
            if ref_compare(positive, request_value, policy_value):
                hit = True
    return hit != negated


def ref_principal(entries: list[str], kind: PolicyKind, principal: Principal, resource: str) -> bool:
    for entry in entries:
        uid, tail = entry.split(":")[3], entry.split(":", 4)[4]
        if tail in ("*", "root"):
            if principal.account_id != uid:
                continue
            if principal.kind is PrincipalKind.ROOT or kind is PolicyKind.TRUST:
                return True
            owner = ref_account(resource)
            if owner is not None and owner != uid:
                return True
        elif entry == principal.arn or entry == principal.role_arn:
            return True
    return False


def ref_evaluate(
    document: dict[str, Any], kind: PolicyKind, ctx: RequestContext, check: Check
) -> tuple[str, str | None]:
    """("Allow" | "ExplicitDeny" | "NotApplicable", Sid of the first denying statement)."""
    effective = {PolicyKind.KEY: KEY_POLICY_ACTIONS, PolicyKind.SECRET: SECRET_POLICY_ACTIONS}.get(kind)
    action = check.action.lower()
    if effective is not None and not any(ref_glob(e.lower(), action) for e in effective):
        return "NotApplicable", None
    result = "NotApplicable"
    for statement in document["Statement"]:
        if "Action" in statement:
            named = any(ref_glob(a.lower(), action) for a in as_list(statement["Action"]))
        else:
            named = not any(ref_glob(a.lower(), action) for a in as_list(statement["NotAction"]))
        if not named:
            continue
        if kind is PolicyKind.IDENTITY and not any(
            ref_glob(r, check.resource) for r in as_list(statement["Resource"])
        ):
            continue
        principals = as_list(statement.get("Principal", {}).get("RAM", []))
        if kind is not PolicyKind.IDENTITY and not ref_principal(
            principals, kind, ctx.principal, check.resource
        ):
            continue
        conditions = statement.get("Condition", {})
        if not all(
            ref_condition(op, k, v, ctx, check) for op, keys in conditions.items() for k, v in keys.items()
        ):
            continue
        if statement["Effect"] == "Deny":
            return "ExplicitDeny", statement.get("Sid")
        result = "Allow"
    return result, None


@dataclass(frozen=True)
class Ref:
    document: dict[str, Any]
    kind: PolicyKind


def ref_decide(
    ctx: RequestContext,
    checks: list[tuple[Check, Ref | None]],
    identity: list[Ref],
    session: Ref | None,
) -> tuple[Any, ...]:
    """(allowed, action, resource, NoPermissionType, PolicyType, Sid) of the first refused pair."""
    for check, resource_policy in checks:
        principal = ctx.principal
        assume = check.action.lower() == "sts:assumerole"
        owner = ref_account(check.resource) or principal.account_id
        same = owner == principal.account_id
        refused = None
        a = "NotApplicable"
        if principal.kind is PrincipalKind.ROOT:
            if assume:
                refused = ("ImplicitDeny", "AssumeRolePolicy", None)
            elif same:
                continue
            a = "Allow"
        else:
            if session is not None:
                outcome, sid = ref_evaluate(session.document, session.kind, ctx, check)
                if outcome == "ExplicitDeny":
                    refused = ("ExplicitDeny", "SessionPolicy", sid)
                elif outcome == "NotApplicable":
                    refused = ("ImplicitDeny", "SessionPolicy", None)
            if refused is None:
                for ref in identity:
                    outcome, sid = ref_evaluate(ref.document, ref.kind, ctx, check)
                    if outcome == "ExplicitDeny":
                        refused = ("ExplicitDeny", "AccountLevelIdentityBasedPolicy", sid)
                        break
                    if outcome == "Allow":
                        a = "Allow"
        if refused is None:
            layer = "AssumeRolePolicy" if assume else "ResourceBasedPolicy"
            b, sid = ("NotApplicable", None)
            if resource_policy is not None:
                b, sid = ref_evaluate(resource_policy.document, resource_policy.kind, ctx, check)
            if b == "ExplicitDeny":
                refused = ("ExplicitDeny", layer, sid)
            elif assume or not same:
                if not assume and check.action.lower() not in CROSS_ACCOUNT_ACTIONS:
                    refused = ("ImplicitDeny", "ResourceBasedPolicy", None)
                elif a != "Allow":
                    refused = ("ImplicitDeny", "AccountLevelIdentityBasedPolicy", None)
                elif b != "Allow":
                    refused = ("ImplicitDeny", layer, None)
            elif a != "Allow" and b != "Allow":
                refused = ("ImplicitDeny", "AccountLevelIdentityBasedPolicy", None)
        if refused is not None:
            return (False, check.action, check.resource, *refused)
    return (True, "", "", None, None, None)


# Random policies and requests ------------------------------------------------------------------

PRINCIPALS = [
    Principal.root(A),
    Principal.root(B),
    Principal.user(A, "alice"),
    Principal.user(A, "bob"),
    Principal.user(B, "carol"),
    Principal.session(A, "kmsuser", "s1"),
    Principal.session(B, "kmsuser", "s2"),
]
K_A, K_B = f"acs:kms:cn-hangzhou:{A}:key/K1", f"acs:kms:cn-hangzhou:{B}:key/K1"
S_A = f"acs:kms:cn-hangzhou:{A}:secret/db/S1"
ROLE = f"acs:ram::{A}:role/kmsuser"
# resource -> the kind of policy it may carry
RESOURCES = {
    K_A: PolicyKind.KEY,
    K_B: PolicyKind.KEY,
    f"acs:kms:cn-hangzhou:{A}:alias/k1": PolicyKind.KEY,
    S_A: PolicyKind.SECRET,
    f"acs:kms:cn-hangzhou:{B}:secret/S2": PolicyKind.SECRET,
    f"acs:kms:cn-hangzhou:{A}:key": None,
    f"acs:kms:cn-hangzhou:{B}:secret": None,
    "*": None,
    ROLE: PolicyKind.TRUST,
}
ACTIONS = [
    "kms:Encrypt", "kms:Decrypt", "kms:DisableKey", "kms:ListKeys", "kms:CreateKey",
    "kms:GetSecretValue", "kms:PutSecretValue", "kms:GetSecretPolicy", "kms:GenerateMac",
    "kms:TagResources", "kms:GetRandomPassword", "sts:AssumeRole", "KMS:encrypt",
]  # fmt: skip
ACTION_PATTERNS = [
    *ACTIONS, "kms:*", "*", "kms:Get*", "kms:?ncrypt", "kms:*Key*", "KMS:DISABLE*", "sts:*", "ecs:*",
    "kms:*Secret*", "kms:E?c*",
]  # fmt: skip
RESOURCE_PATTERNS = [
    *[r for r in RESOURCES if r != "*"], "*", "acs:kms:*:*:key*", f"acs:kms:*:{A}:key/*",
    "acs:kms:*:*:secret/*", "acs:kms:cn-hangzhou:*:*", f"acs:kms:*:{B}:*", "acs:kms:*:*:secret/??/*",
    "acs:ram::*:role/*", "acs:kms:*:*:alias*",
]  # fmt: skip
RAM_PRINCIPALS = [
    f"acs:ram::{A}:*", f"acs:ram::{B}:*", f"acs:ram::{A}:root", f"acs:ram::{B}:root",
    f"acs:ram::{A}:user/alice", f"acs:ram::{A}:user/bob", f"acs:ram::{B}:user/carol",
    ROLE, f"acs:ram::{A}:role/kmsuser/s1", f"acs:ram::{B}:role/kmsuser",
]  # fmt: skip
CLAUSES: list[tuple[list[str], list[str], list[Any]]] = [
    (
        [
            "StringEquals",
            "StringNotEquals",
            "StringEqualsIgnoreCase",
            "StringNotEqualsIgnoreCase",
            "StringLike",
            "StringNotLike",
        ],
        ["kms:tag/Project", "kms:tag", "kms:EncryptionAlgorithm", "acs:SourceVpc", "kms:TAG/Level"],
        [
            "Apollo",
            "apollo",
            "Ap*",
            "Project:Apollo",
            "project:*",
            "RSAES_OAEP_SHA_256",
            "10",
            10,
            True,
            "?pollo",
            "*",
        ],
    ),
    (
        [
            "NumericEquals",
            "NumericNotEquals",
            "NumericLessThan",
            "NumericLessThanEquals",
            "NumericGreaterThan",
            "NumericGreaterThanEquals",
        ],
        ["kms:tag/Level", "kms:tag/Project"],
        [5, 10, "10.0", 11, "1e1", -1.5],
    ),
    (
        [
            "DateEquals",
            "DateNotEquals",
            "DateLessThan",
            "DateLessThanEquals",
            "DateGreaterThan",
            "DateGreaterThanEquals",
        ],
        ["acs:CurrentTime", "kms:tag/Expires"],
        [
            "2000-01-01T00:00:00Z",
            "2026-11-28T12:00:00Z",
            "2026-11-28T20:00:00+08:00",
            "2099-01-01",
            "2026-11-28T12:00:00",
        ],
    ),
    (["Bool"], ["acs:SecureTransport", "acs:MFAPresent"], ["true", "false", True, False]),
    (
        ["IpAddress", "NotIpAddress"],
        ["acs:SourceIp"],
        ["10.0.0.0/8", "127.0.0.1", "::/0", "0.0.0.0/0", "10.1.2.3/32", "10.9.9.9"],
    ),
]


def one_or_many(options: list[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(options), st.lists(st.sampled_from(options), min_size=1, max_size=3))


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for _ in range(draw(st.integers(0, 2))):
        operators, keys, values = draw(st.sampled_from(CLAUSES))
        operator = draw(st.sampled_from(operators))
        result.setdefault(operator, {})[draw(st.sampled_from(keys))] = draw(one_or_many(values))
    return result


@st.composite
def statements(draw: st.DrawFn, kind: PolicyKind) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": draw(st.sampled_from(["Allow", "Deny"]))}
    if draw(st.booleans()):
        statement["Sid"] = draw(st.sampled_from(["s1", "s2", "deny all"]))
    if kind is PolicyKind.IDENTITY:
        element = draw(st.sampled_from(["Action", "Action", "NotAction"]))
        statement[element] = draw(one_or_many(ACTION_PATTERNS))
        statement["Resource"] = draw(one_or_many(RESOURCE_PATTERNS))
    elif kind is PolicyKind.TRUST:
        statement["Action"] = "sts:AssumeRole"
        statement["Principal"] = {"RAM": draw(one_or_many(RAM_PRINCIPALS))}
    else:
        statement["Action"] = draw(one_or_many([a for a in ACTION_PATTERNS if a.lower().startswith("kms:")]))
        statement["Resource"] = "*"
        statement["Principal"] = {"RAM": draw(one_or_many(RAM_PRINCIPALS))}
    condition = draw(conditions())
    if condition:
        statement["Condition"] = condition
    return statement


def documents(kind: PolicyKind) -> st.SearchStrategy[Ref]:
    body = st.lists(statements(kind), min_size=1, max_size=4)
    return body.map(lambda s: Ref({"Version": "1", "Statement": s}, kind))


TAGS = st.dictionaries(
    st.sampled_from(["Project", "Level", "Expires"]),
    st.sampled_from(["Apollo", "apollo", "10", "9.5", "2029-01-01T00:00:00Z", "x"]),
    max_size=3,
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[RequestContext, list[tuple[Check, Ref | None]], list[Ref], Ref | None]:
    ctx = draw(contexts())
    session = None
    if ctx.principal.kind is PrincipalKind.ASSUMED_ROLE and draw(st.booleans()):
        session = draw(documents(PolicyKind.IDENTITY))
    checks = [draw(pairs()) for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3])))]
    identity = draw(st.lists(documents(PolicyKind.IDENTITY), max_size=3))
    return ctx, checks, identity, session


@st.composite
def pairs(draw: st.DrawFn) -> tuple[Check, Ref | None]:
    resource = draw(st.sampled_from(sorted(RESOURCES)))
    kind = RESOURCES[resource]
    ref = draw(st.one_of(st.none(), documents(kind))) if kind is not None else None
    return Check(draw(st.sampled_from(ACTIONS)), resource, None, draw(TAGS)), ref


@st.composite
def contexts(draw: st.DrawFn) -> RequestContext:
    return RequestContext(
        draw(st.sampled_from(PRINCIPALS)),
        NOW,
        draw(
            st.sampled_from(
                [None, ip_address("127.0.0.1"), ip_address("10.1.2.3"), ip_address("::ffff:10.9.9.9")]
            )
        ),
        draw(st.booleans()),
        draw(st.sampled_from([None, "RSAES_OAEP_SHA_256", "SYMMETRIC_DEFAULT"])),
    )


def compiled(ref: Ref) -> Any:
    return parse_policy(json.dumps(ref.document), ref.kind, "Policy")


@settings(max_examples=300, deadline=None)
@given(requests())
def test_engine_agrees_with_the_reference(
    request: tuple[RequestContext, list[tuple[Check, Ref | None]], list[Ref], Ref | None],
) -> None:
    """Whatever the policies and the request, the engine's decision (and what it reports about a
    refusal) is the reference's, on first evaluation and from the policies' indexes alike."""
    ctx, pairs, identity, session = request
    if session is not None:
        ctx = RequestContext(
            ctx.principal,
            ctx.current_time,
            ctx.source_ip,
            ctx.secure_transport,
            ctx.encryption_algorithm,
            compiled(session),
        )
    checks = [Check(c.action, c.resource, compiled(ref) if ref else None, c.tags) for c, ref in pairs]
    policies = [compiled(ref) for ref in identity]
    expected = ref_decide(ctx, pairs, identity, session)
    for _ in range(2):  # the second time, every policy answers from its action index
        decision = decide(ctx, checks, policies)
        actual = (
            decision.allowed,
            decision.action,
            decision.resource,
            decision.no_permission_type,
            decision.policy_type,
            decision.statement,
        )
        assert expected == actual


@settings(max_examples=400, deadline=None)
@given(contexts(), pairs(), st.sampled_from([PolicyKind.IDENTITY, None]), st.data())
def test_one_policy_agrees_with_the_reference(
    ctx: RequestContext, pair: tuple[Check, Ref | None], kind: PolicyKind | None, data: st.DataObject
) -> None:
    """One policy of any kind against one pair: the same outcome, and the same denying statement."""
    check, ref = pair
    if kind is not None or ref is None:
        ref = data.draw(documents(PolicyKind.IDENTITY))
    policy = compiled(ref)
    outcome, sid = ref_evaluate(ref.document, ref.kind, ctx, check)
    for _ in range(2):
        assert outcome == evaluate(policy, ctx, check)
        denying = denying_statement(policy, ctx, check)
        assert sid == (denying.sid if denying is not None else None)
