"""Condition operators and keys (access-control reference §1.3-§1.4): each of the 21 operators at
its boundaries, the keys' request values, absent keys, and how clauses combine."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from ipaddress import ip_address
from typing import Any

import pytest

from openkms.domain.access import Check, Principal, RequestContext
from openkms.domain.conditions import OPERATORS, compile_clause
from openkms.domain.policy import Outcome, evaluate, parse_identity_policy

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
KEY = "acs:kms:cn-hangzhou:1111111111111111:key/key-1"
CTX = RequestContext(
    Principal.user("1111111111111111", "alice"),
    NOW,
    ip_address("10.1.2.3"),
    secure_transport=True,
    encryption_algorithm="RSAES_OAEP_SHA_256",
)
TAGS = {"Project": "Apollo", "Level": "10", "Expires": "2030-01-01T00:00:00Z", "Note": "ten"}


def holds(
    operator: str, key: str, value: Any, ctx: RequestContext = CTX, tags: Mapping[str, str] = TAGS
) -> bool:
    return compile_clause(operator, key, value).holds(ctx, Check("kms:Encrypt", KEY, tags=tags))


def test_the_operator_list_is_alibabas() -> None:
    """Exactly the 21 documented operators."""
    families = {"String": 6, "Numeric": 6, "Date": 6, "Bool": 1, "IpAddress": 1, "NotIpAddress": 1}
    assert len(OPERATORS) == 21
    for prefix, count in families.items():
        assert sum(1 for o in OPERATORS if o.startswith(prefix)) == count


@pytest.mark.parametrize(
    ("operator", "key", "value", "expected"),
    [
        ("StringEquals", "kms:tag/Project", "Apollo", True),
        ("StringEquals", "kms:tag/Project", "apollo", False),
        ("StringEquals", "kms:tag/Project", ["Gemini", "Apollo"], True),  # values are ORed
        ("StringEquals", "kms:tag/Project", "Apoll", False),
        ("StringEquals", "kms:tag/project", "Apollo", False),  # the tag key keeps its case
        ("StringEquals", "KMS:TAG/Project", "Apollo", True),  # the key name's prefix does not
        ("StringNotEquals", "kms:tag/Project", "Apollo", False),
        ("StringNotEquals", "kms:tag/Project", "apollo", True),
        ("StringNotEquals", "kms:tag/Project", ["apollo", "Apollo"], False),
        ("StringEqualsIgnoreCase", "kms:tag/Project", "aPOLLO", True),
        ("StringEqualsIgnoreCase", "kms:tag/Project", "apollo1", False),
        ("StringNotEqualsIgnoreCase", "kms:tag/Project", "APOLLO", False),
        ("StringNotEqualsIgnoreCase", "kms:tag/Project", "Gemini", True),
        ("StringLike", "kms:tag/Project", "Ap*", True),
        ("StringLike", "kms:tag/Project", "Apoll?", True),
        ("StringLike", "kms:tag/Project", "Apol?", False),
        ("StringLike", "kms:tag/Project", "ap*", False),
        ("StringLike", "kms:tag/Project", "*", True),
        ("StringNotLike", "kms:tag/Project", "Ap*", False),
        ("StringNotLike", "kms:tag/Project", "Ge*", True),
        ("StringEquals", "kms:tag/Level", 10, True),  # unquoted numbers compare as their text
        ("StringEquals", "kms:tag/Level", 10.0, False),
        ("StringEquals", "kms:tag", "Project:Apollo", True),  # kms:tag: <TagKey>:<TagValue>
        ("StringEquals", "kms:tag", "Project:Gemini", False),
        ("StringLike", "kms:tag", "Level:*", True),
        ("StringEqualsIgnoreCase", "kms:tag", "project:APOLLO", True),
        ("StringNotEquals", "kms:tag", "Project:Apollo", False),  # one of the tags matches
        ("StringNotEquals", "kms:tag", "Project:Gemini", True),
        ("StringEquals", "kms:EncryptionAlgorithm", "RSAES_OAEP_SHA_256", True),
        ("StringEquals", "kms:EncryptionAlgorithm", "RSAES_OAEP_SHA_1", False),
        ("StringEquals", "kms:encryptionalgorithm", "RSAES_OAEP_SHA_256", True),
        ("NumericEquals", "kms:tag/Level", 10, True),
        ("NumericEquals", "kms:tag/Level", "10.0", True),
        ("NumericEquals", "kms:tag/Level", "1e1", True),
        ("NumericEquals", "kms:tag/Level", [9, 11], False),
        ("NumericNotEquals", "kms:tag/Level", 10, False),
        ("NumericNotEquals", "kms:tag/Level", 9, True),
        ("NumericLessThan", "kms:tag/Level", 10, False),
        ("NumericLessThan", "kms:tag/Level", "10.5", True),
        ("NumericLessThanEquals", "kms:tag/Level", 10, True),
        ("NumericLessThanEquals", "kms:tag/Level", 9.99, False),
        ("NumericGreaterThan", "kms:tag/Level", 10, False),
        ("NumericGreaterThan", "kms:tag/Level", -3, True),
        ("NumericGreaterThanEquals", "kms:tag/Level", 10, True),
        ("NumericGreaterThanEquals", "kms:tag/Level", [11, 12], False),
        ("NumericEquals", "kms:tag/Note", 10, False),  # a value that is no number matches nothing
        ("NumericLessThan", "kms:tag/Note", 1000, False),
        ("NumericNotEquals", "kms:tag/Note", 10, True),
        ("DateEquals", "acs:CurrentTime", "2024-06-01T12:00:00Z", True),
        ("DateEquals", "acs:CurrentTime", "2024-06-01T20:00:00+08:00", True),  # the same instant
        ("DateEquals", "acs:CurrentTime", "2024-06-01T12:00:01Z", False),
        ("DateEquals", "acs:CurrentTime", "2024-06-01T12:00:00", True),  # no zone: UTC
        ("DateNotEquals", "acs:CurrentTime", "2024-06-01T12:00:00Z", False),
        ("DateNotEquals", "acs:CurrentTime", "2024-06-01", True),
        ("DateLessThan", "acs:CurrentTime", "2024-06-01T12:00:00Z", False),
        ("DateLessThan", "acs:CurrentTime", "2024-06-01T12:00:00.001Z", True),
        ("DateLessThan", "acs:CurrentTime", "2000-01-01T00:00:00Z", False),
        ("DateLessThanEquals", "acs:CurrentTime", "2024-06-01T12:00:00Z", True),
        ("DateLessThanEquals", "acs:CurrentTime", "2024-06-01T11:59:59Z", False),
        ("DateGreaterThan", "acs:CurrentTime", "2024-06-01T12:00:00Z", False),
        ("DateGreaterThan", "acs:CurrentTime", "2024-06-01", True),
        ("DateGreaterThanEquals", "acs:CurrentTime", "2024-06-01T12:00:00Z", True),
        ("DateGreaterThanEquals", "acs:CurrentTime", ["2099-01-01", "2024-06-01T12:00:00Z"], True),
        ("DateGreaterThan", "kms:tag/Expires", "2029-12-31T23:59:59Z", True),  # a tag read as a date
        ("DateLessThan", "kms:tag/Expires", "2030-01-01T00:00:00Z", False),
        ("DateLessThan", "kms:tag/Note", "2999-01-01", False),
        ("Bool", "acs:SecureTransport", "true", True),
        ("Bool", "acs:SecureTransport", True, True),
        ("Bool", "acs:SecureTransport", "TRUE", True),
        ("Bool", "acs:SecureTransport", "false", False),
        ("Bool", "acs:MFAPresent", "true", False),  # an AccessKey carries no MFA
        ("Bool", "acs:MFAPresent", False, True),
        ("IpAddress", "acs:SourceIp", "10.0.0.0/8", True),
        ("IpAddress", "acs:SourceIp", "10.1.2.3", True),
        ("IpAddress", "acs:SourceIp", "10.1.2.4", False),
        ("IpAddress", "acs:SourceIp", "10.1.2.0/31", False),
        ("IpAddress", "acs:SourceIp", "10.1.2.2/31", True),
        ("IpAddress", "acs:SourceIp", "10.1.2.3/24", True),  # host bits are ignored
        ("IpAddress", "acs:SourceIp", ["192.168.0.0/16", "10.1.0.0/16"], True),
        ("IpAddress", "acs:SourceIp", "::/0", False),  # another address family never matches
        ("IpAddress", "acs:SourceIp", "0.0.0.0/0", True),
        ("NotIpAddress", "acs:SourceIp", "10.0.0.0/8", False),
        ("NotIpAddress", "acs:SourceIp", "11.0.0.0/8", True),
        ("StringEquals", "acs:SourceVpc", "vpc-1", False),  # always absent
        ("StringNotEquals", "acs:SourceVpc", "vpc-1", True),
    ],
)
def test_operator(operator: str, key: str, value: Any, expected: bool) -> None:
    """Each operator compares the request's value with the policy's as documented."""
    assert holds(operator, key, value) is expected


@pytest.mark.parametrize(
    ("address", "network", "expected"),
    [
        ("10.255.255.255", "10.0.0.0/8", True),
        ("11.0.0.0", "10.0.0.0/8", False),
        ("9.255.255.255", "10.0.0.0/8", False),
        ("2001:db8::1", "2001:db8::/32", True),
        ("2001:db9::1", "2001:db8::/32", False),
        ("::ffff:10.1.2.3", "10.0.0.0/8", True),  # an IPv4 client on a dual-stack socket
        ("2001:db8::1", "10.0.0.0/8", False),
    ],
)
def test_ip_boundaries(address: str, network: str, expected: bool) -> None:
    """CIDR blocks include exactly their addresses, in either family."""
    ctx = replace(CTX, source_ip=ip_address(address))
    assert holds("IpAddress", "acs:SourceIp", network, ctx) is expected
    assert holds("NotIpAddress", "acs:SourceIp", network, ctx) is not expected


_ABSENT = {
    "String": ("x", "kms:tag/Absent"),
    "Numeric": (1, "kms:tag/Absent"),
    "Date": ("2024-01-01", "kms:tag/Absent"),
    "IpAddress": ("10.0.0.0/8", "acs:SourceIp"),
    "NotIpAddress": ("10.0.0.0/8", "acs:SourceIp"),
}


# Bool's two keys are always present (acs:SecureTransport is known for every request).
@pytest.mark.parametrize("operator", sorted(set(OPERATORS) - {"Bool"}))
def test_absent_key(operator: str) -> None:
    """A key the request does not carry fails every positive operator and satisfies every negated
    one."""
    value, key = next(v for prefix, v in _ABSENT.items() if operator.startswith(prefix))
    ctx = replace(CTX, source_ip=None)
    assert holds(operator, key, value, ctx, tags={}) is ("Not" in operator)


def test_absent_algorithm_and_tags() -> None:
    """kms:EncryptionAlgorithm is absent when the request names none; kms:tag when the resource
    has no tags."""
    ctx = replace(CTX, encryption_algorithm=None)
    assert not holds("StringLike", "kms:EncryptionAlgorithm", "*", ctx)
    assert holds("StringNotLike", "kms:EncryptionAlgorithm", "*", ctx)
    assert not holds("StringLike", "kms:tag", "*", tags={})
    assert holds("StringNotEquals", "kms:tag", "a:b", tags={})


def test_current_time_given_without_a_zone_is_utc() -> None:
    """A request time without a zone is read as UTC rather than refused or shifted."""
    ctx = replace(CTX, current_time=NOW.replace(tzinfo=None))
    assert holds("DateEquals", "acs:CurrentTime", "2024-06-01T12:00:00Z", ctx)
    ctx = replace(CTX, current_time=NOW.astimezone(timezone(timedelta(hours=8))))
    assert holds("DateEquals", "acs:CurrentTime", "2024-06-01T12:00:00Z", ctx)


def _statement_with(condition: dict[str, Any]) -> str:
    return json.dumps(
        {
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*", "Condition": condition}],
        }
    )


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"StringEquals": {"kms:tag/Project": "Apollo", "kms:tag/Level": "10"}}, Outcome.ALLOW),
        ({"StringEquals": {"kms:tag/Project": "Apollo", "kms:tag/Level": "11"}}, Outcome.NOT_APPLICABLE),
        (
            {"StringEquals": {"kms:tag/Project": "Apollo"}, "Bool": {"acs:SecureTransport": "true"}},
            Outcome.ALLOW,
        ),
        (
            {"StringEquals": {"kms:tag/Project": "Apollo"}, "Bool": {"acs:SecureTransport": "false"}},
            Outcome.NOT_APPLICABLE,
        ),
        (
            {"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}, "DateLessThan": {"acs:CurrentTime": "2000-01-01"}},
            Outcome.NOT_APPLICABLE,
        ),
    ],
)
def test_keys_and_operators_are_anded(condition: dict[str, Any], expected: Outcome) -> None:
    """Every key of an operator and every operator of a statement must hold."""
    policy = parse_identity_policy(_statement_with(condition))
    assert evaluate(policy, CTX, Check("kms:Encrypt", KEY, tags=TAGS)) is expected
