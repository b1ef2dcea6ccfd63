"""Key policies through both official SDKs (issue 7): the default policy, SetKeyPolicy,
CreateKey's Policy, the grammar and the 32768-byte limit. Stored, not yet enforced."""

from __future__ import annotations

import json

import pytest
from alibabacloud_kms20160120 import models as m
from aliyunsdkkms.request.v20160120.CreateKeyRequest import CreateKeyRequest
from aliyunsdkkms.request.v20160120.GetKeyPolicyRequest import GetKeyPolicyRequest
from aliyunsdkkms.request.v20160120.SetKeyPolicyRequest import SetKeyPolicyRequest

from tests.support.clients import OldClient
from tests.support.keys import new_tea_key
from tests.support.sdk_errors import old_error, tea_error


def _policy(account: str, **extra: object) -> str:
    statement = {
        "Sid": "key admins",
        "Effect": "Allow",
        "Principal": {"RAM": [f"acs:ram::{account}:*", f"acs:ram::{account}:user/for_test_policy"]},
        "Action": ["kms:List*", "kms:Describe*", "kms:Create*", "kms:TagResource"],
        "Resource": ["*"],
        **extra,
    }
    return json.dumps({"Version": "1", "Statement": [statement]})


def test_default_policy_then_set_and_get(tea) -> None:  # type: ignore[no-untyped-def]
    """A new key answers the default policy (owner account, kms:*); SetKeyPolicy replaces it verbatim."""
    meta = new_tea_key(tea)
    account = meta.arn.split(":")[3]
    default = json.loads(tea.get_key_policy(m.GetKeyPolicyRequest(key_id=meta.key_id, policy_name="default")).body.policy)
    expected = {
        "Version": "1",
        "Statement": [
            {
                "Sid": "kms default key policy",
                "Effect": "Allow",
                "Principal": {"RAM": [f"acs:ram::{account}:*"]},
                "Action": ["kms:*"],
                "Resource": ["*"],
            }
        ],
    }
    assert expected == default
    document = _policy(account, Condition={"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}})
    tea.set_key_policy(m.SetKeyPolicyRequest(key_id=meta.arn, policy=document))
    assert document == tea.get_key_policy(m.GetKeyPolicyRequest(key_id=meta.key_id)).body.policy


def test_old_sdk_policy_by_alias(old: OldClient, tea) -> None:  # type: ignore[no-untyped-def]
    """The old SDK sets and reads a key policy, naming the key by alias."""
    meta = old.call(CreateKeyRequest())["KeyMetadata"]
    alias = "alias/policy-" + meta["KeyId"][:8]
    tea.create_alias(m.CreateAliasRequest(alias_name=alias, key_id=meta["KeyId"]))
    document = _policy(meta["Arn"].split(":")[3])
    old.call(SetKeyPolicyRequest(), KeyId=alias, PolicyName="default", Policy=document)
    assert document == old.call(GetKeyPolicyRequest(), KeyId=meta["KeyId"])["Policy"]


def test_create_key_policy_is_stored_and_checked(tea, old: OldClient) -> None:  # type: ignore[no-untyped-def]
    """CreateKey's Policy is the key's policy; a bad one is 400 and creates no key."""
    account = new_tea_key(tea).arn.split(":")[3]
    document = _policy(account)
    key_id = tea.create_key(m.CreateKeyRequest(policy=document)).body.key_metadata.key_id
    assert document == tea.get_key_policy(m.GetKeyPolicyRequest(key_id=key_id)).body.policy
    before = tea.list_keys(m.ListKeysRequest(page_size=1)).body.total_count
    assert old_error(old, CreateKeyRequest(), Policy=_policy(account, NotResource=["*"])) == ("InvalidParameter", 400)
    assert before == tea.list_keys(m.ListKeysRequest(page_size=1)).body.total_count


@pytest.mark.parametrize(
    "mutation",
    [
        {"Resource": ["acs:kms:cn-hangzhou:1:key/abc"]},
        {"Effect": "Maybe"},
        {"Principal": {"RAM": ["*"]}},
        {"Action": ["ecs:DescribeInstances"]},
        {"Condition": {"ForAnyValue:StringEquals": {"acs:SourceIp": "1.2.3.4"}}},
    ],
)
def test_set_key_policy_refuses_bad_grammar(tea, mutation: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    """Resource other than *, bad Effect, * principal, non-kms actions, unknown operators: 400, policy kept."""
    meta = new_tea_key(tea)
    before = tea.get_key_policy(m.GetKeyPolicyRequest(key_id=meta.key_id)).body.policy
    bad = _policy(meta.arn.split(":")[3], **mutation)
    assert tea_error(
        lambda: tea.set_key_policy(m.SetKeyPolicyRequest(key_id=meta.key_id, policy=bad))
    ) == ("InvalidParameter", 400)
    assert before == tea.get_key_policy(m.GetKeyPolicyRequest(key_id=meta.key_id)).body.policy


def test_policy_size_limit(tea) -> None:  # type: ignore[no-untyped-def]
    """SetKeyPolicy takes 32768 bytes and refuses 32769 (400 InvalidParameter)."""
    meta = new_tea_key(tea)
    base = _policy(meta.arn.split(":")[3])
    at_limit = base[:-2] + " " * (32768 - len(base)) + base[-2:]
    tea.set_key_policy(m.SetKeyPolicyRequest(key_id=meta.key_id, policy=at_limit))
    assert at_limit == tea.get_key_policy(m.GetKeyPolicyRequest(key_id=meta.key_id)).body.policy
    assert tea_error(
        lambda: tea.set_key_policy(m.SetKeyPolicyRequest(key_id=meta.key_id, policy=at_limit[:-2] + " " + at_limit[-2:]))
    ) == ("InvalidParameter", 400)


def test_only_the_default_policy_exists(tea) -> None:  # type: ignore[no-untyped-def]
    """GetKeyPolicy of another name is 404 Forbidden.ResourceNotFound; SetKeyPolicy of one is 400."""
    meta = new_tea_key(tea)
    assert tea_error(
        lambda: tea.get_key_policy(m.GetKeyPolicyRequest(key_id=meta.key_id, policy_name="other"))
    ) == ("Forbidden.ResourceNotFound", 404)
    document = _policy(meta.arn.split(":")[3])
    assert tea_error(
        lambda: tea.set_key_policy(m.SetKeyPolicyRequest(key_id=meta.key_id, policy=document, policy_name="other"))
    ) == ("InvalidParameter", 400)
    assert tea_error(
        lambda: tea.get_key_policy(m.GetKeyPolicyRequest(key_id="00000000-0000-4000-8000-000000000000"))
    ) == ("Forbidden.KeyNotFound", 404)
