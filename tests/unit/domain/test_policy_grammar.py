"""The policy grammar (access-control reference §1.1-§1.4, §2.1): what each kind of document
accepts, and that everything else is refused with a message naming the parameter."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.api.errors import to_wire
from openkms.domain.errors import InvalidValue, PolicyError
from openkms.domain.policy import (
    MAX_POLICY_BYTES,
    PolicyKind,
    parse_identity_policy,
    parse_policy,
    parse_resource_policy,
    parse_trust_policy,
)
from openkms.wire import errors as wire

A = "1111111111111111"


def doc(*statements: dict[str, Any], **top: Any) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements), **top})


def identity(**statement: Any) -> str:
    base: dict[str, Any] = {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}
    base.update(statement)
    return doc({k: v for k, v in base.items() if v is not None})


def key(**statement: Any) -> str:
    base: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"RAM": [f"acs:ram::{A}:*"]},
        "Action": ["kms:*"],
        "Resource": ["*"],
    }
    base.update(statement)
    return doc({k: v for k, v in base.items() if v is not None})


def trust(**statement: Any) -> str:
    base: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"RAM": [f"acs:ram::{A}:user/alice"]},
        "Action": "sts:AssumeRole",
    }
    base.update(statement)
    return doc({k: v for k, v in base.items() if v is not None})


def refused(text: str, kind: PolicyKind = PolicyKind.IDENTITY, parameter: str = "Policy") -> str:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, kind, parameter)
    assert info.value.parameter == parameter
    assert info.value.detail
    return info.value.detail


class TestIdentityPolicies:
    @pytest.mark.parametrize(
        "statement",
        [
            {},
            {"Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": ["acs:kms:*:1111:key/*"]},
            {"Action": "*"},
            {"Action": "kms:List*", "Resource": "acs:kms:cn-hangzhou:1111:key"},
            {"Action": "kms:Describe?ey"},
            {"Action": "ecs:DescribeInstances", "Resource": "acs:ecs:*:*:instance/*"},
            {"Action": "sts:AssumeRole", "Resource": "acs:ram::1111:role/kmsuser"},
            {"Action": None, "NotAction": ["kms:Decrypt"]},
            {"Effect": "Deny", "Sid": "no-decrypt", "Action": "kms:Decrypt"},
            {"Condition": {"StringEquals": {"kms:EncryptionAlgorithm": ["SYMMETRIC_DEFAULT"]}}},
        ],
    )
    def test_documented_shapes_parse(self, statement: dict[str, Any]) -> None:
        """Strings or lists, wildcards, other services, NotAction, Deny, Sid and conditions parse."""
        policy = parse_identity_policy(identity(**statement))
        assert len(policy.statements) == 1
        assert policy.kind is PolicyKind.IDENTITY

    def test_compiled_policy_is_read_only(self) -> None:
        """A compiled policy and its statements cannot be changed once parsed."""
        policy = parse_identity_policy(identity())
        with pytest.raises(AttributeError):
            policy.text = "{}"  # type: ignore[misc]
        with pytest.raises(AttributeError):
            policy.statements[0].deny = True  # type: ignore[misc]

    def test_text_is_kept_as_given(self) -> None:
        """The compiled policy keeps the document's text, byte for byte."""
        text = identity(Sid="x") + "\n"
        assert parse_identity_policy(text).text == text

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("not json", "JSON document"),
            ('{"Version": "1", "Statement": [}', "JSON document"),
            ("[" * 30000, "JSON document"),
            ("[]", "JSON object"),
            (doc({"Effect": "Allow"}, Extra=1), "Unknown element Extra"),
            (json.dumps({"Version": "2", "Statement": [{}]}), 'Version must be "1"'),
            (json.dumps({"Version": 1, "Statement": [{}]}), 'Version must be "1"'),
            (json.dumps({"Statement": [{}]}), 'Version must be "1"'),
            (json.dumps({"Version": "1", "Statement": []}), "non-empty list"),
            (json.dumps({"Version": "1", "Statement": {}}), "non-empty list"),
            (json.dumps({"Version": "1"}), "non-empty list"),
            (doc("Allow"), "JSON object"),
            (identity(Effect=None), "Effect"),
            (identity(Effect="allow"), "Effect"),
            (identity(Action=None), "Action is required"),
            (identity(NotAction="kms:Decrypt"), "not both"),
            (identity(Resource=None), "Resource is required"),
            (identity(NotResource="*"), "NotResource"),
            (identity(NotResource="*", Resource=None), "NotResource"),
            (identity(Principal={"RAM": "*"}), "Principal is not allowed in an identity policy"),
            (identity(Action=[]), "non-empty list"),
            (identity(Action=[1]), "list of strings"),
            (identity(Action="Encrypt"), "<service>:<action>"),
            (identity(Action="kms:Encrypt!"), "<service>:<action>"),
            (identity(Resource="key/abc"), "ARN"),
            (identity(Resource="acs:kms:cn-hangzhou"), "ARN"),
            (identity(Resource=""), "ARN"),
            (identity(Sid="x" * 129), "Sid"),
            (identity(Sid="bad!"), "Sid"),
            (identity(Sid=7), "Sid"),
            (doc({"Sid": None, "Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}), "Sid"),
            (identity(Condition=[]), "Condition must be a JSON object"),
            (identity(Condition={"StringEquals": []}), "object of condition keys"),
            (identity(Condition={"StringEquals": {}}), "object of condition keys"),
            (
                identity(Condition={"ForAnyValue:StringEquals": {"kms:tag": "a:b"}}),
                "unknown condition operator",
            ),
            (
                identity(Condition={"ForAllValues:StringEquals": {"kms:tag": "a:b"}}),
                "unknown condition operator",
            ),
            (identity(Condition={"StringEqualsIfExists": {"kms:tag": "a:b"}}), "unknown condition operator"),
            (identity(Condition={"Null": {"kms:tag": "true"}}), "unknown condition operator"),
            (identity(Condition={"stringequals": {"kms:tag": "a:b"}}), "unknown condition operator"),
            (
                identity(Condition={"StringEquals": {"kms:EncryptionContext:app": "x"}}),
                "unknown condition key",
            ),
            (identity(Condition={"StringEquals": {"kms:KeySpec": "x"}}), "unknown condition key"),
            (identity(Condition={"StringEquals": {"acs:SourceIp": "1.2.3.4"}}), "does not apply"),
            (identity(Condition={"IpAddress": {"kms:tag/a": "1.2.3.4"}}), "does not apply"),
            (identity(Condition={"Bool": {"acs:CurrentTime": "true"}}), "does not apply"),
            (identity(Condition={"NumericEquals": {"acs:SecureTransport": 1}}), "does not apply"),
            (identity(Condition={"DateLessThan": {"acs:SourceIp": "2020-01-01"}}), "does not apply"),
            (identity(Condition={"StringEquals": {"kms:tag/a": []}}), "non-empty list"),
            (identity(Condition={"StringEquals": {"kms:tag/a": {"b": 1}}}), "string"),
            (identity(Condition={"StringEquals": {"kms:tag/a": None}}), "string"),
            (identity(Condition={"NumericLessThan": {"kms:tag/a": "ten"}}), "number"),
            (identity(Condition={"NumericLessThan": {"kms:tag/a": "NaN"}}), "number"),
            (identity(Condition={"NumericLessThan": {"kms:tag/a": True}}), "number"),
            (identity(Condition={"DateLessThan": {"acs:CurrentTime": "yesterday"}}), "date"),
            (identity(Condition={"DateLessThan": {"acs:CurrentTime": 946684800}}), "date"),
            (identity(Condition={"Bool": {"acs:SecureTransport": "yes"}}), "bool"),
            (identity(Condition={"Bool": {"acs:SecureTransport": 1}}), "bool"),
            (identity(Condition={"IpAddress": {"acs:SourceIp": "10.0.0.0/33"}}), "IP address"),
            (identity(Condition={"IpAddress": {"acs:SourceIp": "localhost"}}), "IP address"),
            ('{"Version": "1", "Version": "1", "Statement": [{}]}', "given twice"),
            (
                '{"Version": "1", "Statement": [{"Effect": "Allow", "Effect": "Deny", '
                '"Action": "kms:Encrypt", "Resource": "*"}]}',
                "given twice",
            ),
        ],
    )
    def test_refused(self, text: str, reason: str) -> None:
        """Each rule the document breaks is refused with a message that says which."""
        assert reason in refused(text)

    def test_statement_number_is_named(self) -> None:
        """The message names the statement that breaks the grammar."""
        text = doc({"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}, {"Effect": "Allow"})
        assert refused(text).startswith("Statement 2:")

    def test_size_limit(self) -> None:
        """An identity policy is at most 32768 bytes unless the caller sets another limit (an STS
        session policy's, say)."""
        base = identity()
        parse_identity_policy(base + " " * (MAX_POLICY_BYTES - len(base)))
        with pytest.raises(PolicyError):
            parse_identity_policy(base + " " * (MAX_POLICY_BYTES - len(base) + 1))
        with pytest.raises(PolicyError):
            parse_identity_policy(identity(), max_bytes=len(identity()) - 1)
        parse_identity_policy(identity(), max_bytes=len(identity()))

    def test_error_becomes_invalid_parameter(self) -> None:
        """A refused policy is 400 InvalidParameter naming the parameter, with the reason."""
        with pytest.raises(InvalidValue) as info:
            parse_identity_policy("nope", parameter="PolicyDocument")
        answer = to_wire(info.value)
        assert isinstance(answer, wire.InvalidParameter)
        assert answer.http_status == 400
        assert answer.parameter == "PolicyDocument"
        assert "JSON document" in answer.message


class TestResourcePolicies:
    @pytest.mark.parametrize("kind", [PolicyKind.KEY, PolicyKind.SECRET])
    @pytest.mark.parametrize(
        "statement",
        [
            {},
            {"Sid": "kms default key policy"},
            {"Principal": {"RAM": f"acs:ram::{A}:user/bob"}},
            {"Principal": {"RAM": [f"acs:ram::{A}:role/app", "acs:ram::2222222222222222:root"]}},
            {"Action": ["kms:List*", "kms:Describe?ey", "kms:CreateKey"]},
            {"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"},
            {"Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8", "192.168.1.1"]}}},
        ],
    )
    def test_documented_shapes_parse(self, kind: PolicyKind, statement: dict[str, Any]) -> None:
        """Key and secret policies take the documented shapes, including actions that have no effect."""
        assert parse_resource_policy(key(**statement), kind).kind is kind

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            (key(Principal=None), "Principal"),
            (key(Principal={"RAM": ["*"]}), "RAM principal"),
            (key(Principal={"RAM": ["acs:ram::abc:*"]}), "RAM principal"),
            (key(Principal={"RAM": [f"acs:ram::{A}:user/*"]}), "RAM principal"),
            (key(Principal={"Service": ["ecs.aliyuncs.com"]}), "Principal"),
            (key(Principal={"RAM": []}), "non-empty list"),
            (key(Principal={}), "Principal"),
            (key(Action=["ecs:*"]), "kms:<name>"),
            (key(Action="*"), "kms:<name>"),
            (key(NotAction="kms:Decrypt", Action=None), "NotAction is not allowed"),
            (key(Resource=["acs:kms:cn-hangzhou:1111:key/abc"]), 'Resource must be "*"'),
            (key(Resource=["*", "acs:kms:cn-hangzhou:1111:key/abc"]), 'Resource must be "*"'),
            (key(Resource=None), "Resource is required"),
            (key(NotResource=["*"]), "NotResource"),
            (key(Condition={"ForAnyValue:StringEquals": {"acs:SourceIp": "1.2.3.4"}}), "operator"),
        ],
    )
    def test_refused(self, text: str, reason: str) -> None:
        """A key policy names RAM principals, kms: actions and Resource "*", and nothing else."""
        assert reason in refused(text, PolicyKind.KEY)

    def test_size_limit_is_32768_bytes(self) -> None:
        """32768 bytes is accepted, one more is refused (§6.5 case 28); bytes, not characters."""
        base = key(Sid="")
        padded = base.replace('"Sid": ""', '"Sid": ""' + " " * (MAX_POLICY_BYTES - len(base)))
        assert len(padded.encode()) == MAX_POLICY_BYTES
        parse_resource_policy(padded)
        assert "at most 32768 bytes" in refused(padded + " ", PolicyKind.KEY)
        wide = padded[: -4 - 2] + '"é"}]}'  # é is two bytes
        assert len(wide) <= MAX_POLICY_BYTES < len(wide.encode())
        refused(wide, PolicyKind.KEY)


class TestTrustPolicies:
    @pytest.mark.parametrize(
        "statement",
        [
            {},
            {"Principal": {"RAM": f"acs:ram::{A}:root"}},
            {"Principal": {"Service": ["ecs.aliyuncs.com"]}},
            {"Principal": {"RAM": [f"acs:ram::{A}:role/app"], "Service": "fc.aliyuncs.com"}},
            {"Action": ["sts:AssumeRole"], "Resource": "*"},
            {"Action": "STS:assumerole"},
            {"Condition": {"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}}},
        ],
    )
    def test_documented_shapes_parse(self, statement: dict[str, Any]) -> None:
        """A trust policy names RAM or service principals and the action sts:AssumeRole."""
        assert parse_trust_policy(trust(**statement)).kind is PolicyKind.TRUST

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            (trust(Principal=None), "Principal"),
            (trust(Principal={"Federated": ["acs:ram::1:saml-provider/x"]}), "Principal"),
            (trust(Principal={"Service": ["Not A Service"]}), "service name"),
            (trust(Action="kms:Encrypt"), "sts:AssumeRole"),
            (trust(Action="sts:*"), "sts:AssumeRole"),
            (trust(Resource="acs:ram::1111:role/x"), 'Resource must be "*"'),
            (trust(NotAction="sts:AssumeRole", Action=None), "NotAction is not allowed"),
        ],
    )
    def test_refused(self, text: str, reason: str) -> None:
        """Anything but RAM/Service principals and sts:AssumeRole is refused."""
        assert reason in refused(text, PolicyKind.TRUST)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    | st.sampled_from(["*", "kms:*", "Allow", "Deny", "1", f"acs:ram::{A}:*", "StringEquals", "acs:SourceIp"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(
        st.sampled_from(["Version", "Statement", "Effect", "Action", "NotAction", "Resource", "Principal",
                         "RAM", "Service", "Condition", "Sid", "StringLike", "IpAddress", "kms:tag/a", "x"]),
        inner,
        max_size=4,
    ),
    max_leaves=12,
)  # fmt: skip


@settings(max_examples=300)
@given(st.one_of(_json.map(json.dumps), st.text(max_size=40)), st.sampled_from(list(PolicyKind)))
def test_anything_parses_or_is_refused_cleanly(text: str, kind: PolicyKind) -> None:
    """Any text at all either compiles or is refused with a PolicyError: never another exception
    (which would be a 500)."""
    try:
        parse_policy(text, kind, "Policy")
    except PolicyError as error:
        assert error.parameter == "Policy"
