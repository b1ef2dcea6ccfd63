"""Key policy grammar (access-control reference §2): what SetKeyPolicy and CreateKey accept."""

from __future__ import annotations

import json
from typing import Any

import pytest

from openkms.domain.errors import InvalidValue
from openkms.domain.keypolicy import MAX_POLICY_BYTES, check_key_policy, default_policy


def _policy(**statement: Any) -> str:
    base: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"RAM": ["acs:ram::1234567890123456:*"]},
        "Action": ["kms:*"],
        "Resource": ["*"],
    }
    base.update(statement)
    return json.dumps({"Version": "1", "Statement": [{k: v for k, v in base.items() if v is not None}]})


def test_default_policy_is_valid_and_names_the_account() -> None:
    """The default policy passes its own grammar and grants kms:* to acs:ram::<owner>:*."""
    text = default_policy("1234567890123456")
    check_key_policy(text)
    statement = json.loads(text)["Statement"][0]
    assert statement["Sid"] == "kms default key policy"
    assert statement["Principal"]["RAM"] == ["acs:ram::1234567890123456:*"]


@pytest.mark.parametrize(
    "statement",
    [
        {},
        {"Sid": "admins", "Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"},
        {"Principal": {"RAM": "acs:ram::1234567890123456:user/for_test_policy"}},
        {"Principal": {"RAM": ["acs:ram::1:role/app", "acs:ram::2:root"]}},
        {"Action": ["kms:List*", "kms:Describe?ey", "kms:CreateKey"]},
        {"Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8", "192.168.1.1"]}}},
        {"Condition": {"StringEqualsIgnoreCase": {"kms:tag/env": "prod"}, "Bool": {"acs:SecureTransport": True}}},
    ],
)
def test_good_policies(statement: dict[str, Any]) -> None:
    """Documented shapes pass: single strings or lists, Deny, users, roles, wildcards, conditions."""
    check_key_policy(_policy(**statement))


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        json.dumps({"Version": "2", "Statement": []}),
        json.dumps({"Version": "1", "Statement": []}),
        json.dumps({"Version": "1", "Statement": [{}], "Extra": 1}),
        _policy(Effect="allow"),
        _policy(Principal={"RAM": ["*"]}),
        _policy(Principal={"Service": ["ecs.aliyuncs.com"]}),
        _policy(Principal=None),
        _policy(Action=["ecs:*"]),
        _policy(Action=None),
        _policy(Resource=["acs:kms:cn-hangzhou:1:key/abc"]),
        _policy(Resource=None),
        _policy(NotResource=["*"]),
        _policy(NotAction=["kms:Decrypt"]),
        _policy(Sid="x" * 129),
        _policy(Condition={"ForAnyValue:StringEquals": {"acs:SourceIp": "1.2.3.4"}}),
        _policy(Condition={"StringEquals": {"kms:EncryptionContext:app": "x"}}),
        _policy(Condition={"StringEquals": {"acs:SourceIp": []}}),
        _policy(Condition={"StringEquals": {"acs:SourceIp": {"nested": 1}}}),
    ],
)
def test_bad_policies(text: str) -> None:
    """Bad JSON, wrong Version, empty Statement, unknown elements, operators and keys are refused."""
    with pytest.raises(InvalidValue) as info:
        check_key_policy(text)
    assert info.value.parameter == "Policy"


def _sized(total_bytes: int) -> str:
    """A valid policy of exactly ``total_bytes`` UTF-8 bytes, padded with two-byte characters."""
    base = _policy(Condition={"StringEquals": {"kms:tag/env": "X"}})
    room = total_bytes - (len(base.encode()) - 1)
    value = "\u00e9" * (room // 2) + "a" * (room % 2)
    return base.replace('"X"', json.dumps(value, ensure_ascii=False))


def test_size_limit_counts_bytes() -> None:
    """32768 bytes is the limit, counted in UTF-8 bytes, not characters."""
    at_limit, over = _sized(MAX_POLICY_BYTES), _sized(MAX_POLICY_BYTES + 1)
    assert (len(at_limit.encode()), len(over.encode())) == (MAX_POLICY_BYTES, MAX_POLICY_BYTES + 1)
    assert len(over) < MAX_POLICY_BYTES
    check_key_policy(at_limit)
    with pytest.raises(InvalidValue) as info:
        check_key_policy(over)
    assert "32768" in str(info.value.detail)
