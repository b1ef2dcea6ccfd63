"""Aliases through both official SDKs (issue 7): create, resolve everywhere, re-point, delete, list."""

from __future__ import annotations

import json
import re
import secrets

import pytest
from alibabacloud_kms20160120 import models as m
from aliyunsdkkms.request.v20160120.CreateAliasRequest import CreateAliasRequest
from aliyunsdkkms.request.v20160120.CreateKeyRequest import CreateKeyRequest
from aliyunsdkkms.request.v20160120.DeleteAliasRequest import DeleteAliasRequest
from aliyunsdkkms.request.v20160120.DescribeKeyRequest import DescribeKeyRequest
from aliyunsdkkms.request.v20160120.ListAliasesByKeyIdRequest import ListAliasesByKeyIdRequest
from aliyunsdkkms.request.v20160120.ListAliasesRequest import ListAliasesRequest
from aliyunsdkkms.request.v20160120.UpdateAliasRequest import UpdateAliasRequest

from tests.support.clients import OldClient, RawSigner
from tests.support.keys import new_tea_key
from tests.support.sdk_errors import old_error, tea_error


def _name(prefix: str = "t") -> str:
    return f"alias/{prefix}-{secrets.token_hex(6)}"


def test_tea_alias_lifecycle(tea) -> None:  # type: ignore[no-untyped-def]
    """Tea SDK: an alias resolves by name and ARN, is listed with its ARN, re-points and goes."""
    a, b = new_tea_key(tea), new_tea_key(tea)
    name = _name()
    tea.create_alias(m.CreateAliasRequest(alias_name=name, key_id=a.key_id))
    arn = a.arn.split(":key/")[0] + ":" + name
    for ref in (name, arn):
        assert a.key_id == tea.describe_key(m.DescribeKeyRequest(key_id=ref)).body.key_metadata.key_id
    listed = tea.list_aliases_by_key_id(m.ListAliasesByKeyIdRequest(key_id=a.key_id)).body
    assert (listed.total_count, listed.page_number, listed.page_size) == (1, 1, 10)
    alias = listed.aliases.alias[0]
    assert (name, arn, a.key_id) == (alias.alias_name, alias.alias_arn, alias.key_id)
    tea.update_alias(m.UpdateAliasRequest(alias_name=name, key_id=b.key_id))
    assert b.key_id == tea.describe_key(m.DescribeKeyRequest(key_id=name)).body.key_metadata.key_id
    assert tea.list_aliases_by_key_id(m.ListAliasesByKeyIdRequest(key_id=a.key_id)).body.total_count == 0
    tea.delete_alias(m.DeleteAliasRequest(alias_name=name))
    assert tea_error(
        lambda: tea.describe_key(m.DescribeKeyRequest(key_id=name))
    ) == ("Forbidden.AliasNotFound", 404)
    assert tea.describe_key(m.DescribeKeyRequest(key_id=b.key_id)).body.key_metadata.key_state == "Enabled"


def test_old_sdk_alias_lifecycle(old: OldClient) -> None:
    """Old SDK: CreateAlias, ListAliases, ListAliasesByKeyId (by alias), UpdateAlias, DeleteAlias."""
    a = old.call(CreateKeyRequest())["KeyMetadata"]["KeyId"]
    b = old.call(CreateKeyRequest())["KeyMetadata"]["KeyId"]
    first, second = _name("old"), _name("old")
    old.call(CreateAliasRequest(), AliasName=first, KeyId=a)
    old.call(CreateAliasRequest(), AliasName=second, KeyId=first)  # a KeyId given as an alias
    by_key = old.call(ListAliasesByKeyIdRequest(), KeyId=second, PageSize=101)
    assert sorted([first, second]) == [x["AliasName"] for x in by_key["Aliases"]["Alias"]]
    assert {a} == {x["KeyId"] for x in by_key["Aliases"]["Alias"]}
    everything = []
    page = 1
    while True:
        body = old.call(ListAliasesRequest(), PageNumber=page, PageSize=100)
        everything += body["Aliases"]["Alias"]
        if page * 100 >= body["TotalCount"]:
            break
        page += 1
    assert {first, second} <= {x["AliasName"] for x in everything}
    assert all(re.fullmatch(r"acs:kms:cn-hangzhou:\d{16}:" + x["AliasName"], x["AliasArn"]) for x in everything)
    old.call(UpdateAliasRequest(), AliasName=first, KeyId=b)
    assert b == old.call(DescribeKeyRequest(), KeyId=first)["KeyMetadata"]["KeyId"]
    old.call(DeleteAliasRequest(), AliasName=first)
    assert old_error(old, DescribeKeyRequest(), KeyId=first) == ("Forbidden.AliasNotFound", 404)
    assert a == old.call(DescribeKeyRequest(), KeyId=second)["KeyMetadata"]["KeyId"]


def test_duplicate_alias_is_resource_exist(tea, old: OldClient) -> None:  # type: ignore[no-untyped-def]
    """A taken alias name is 409 Rejected.ResourceExist, even for the same key, in both SDKs."""
    key = new_tea_key(tea)
    name = _name()
    tea.create_alias(m.CreateAliasRequest(alias_name=name, key_id=key.key_id))
    assert tea_error(
        lambda: tea.create_alias(m.CreateAliasRequest(alias_name=name, key_id=new_tea_key(tea).key_id))
    ) == ("Rejected.ResourceExist", 409)
    assert old_error(old, CreateAliasRequest(), AliasName=name, KeyId=key.key_id) == ("Rejected.ResourceExist", 409)


@pytest.mark.parametrize(
    "name",
    ["example", "alias/", "alias/acs", "alias/acs/kms", "alias/bad name", "alias/dot.ted", "alias/" + "a" * 256],
)
def test_bad_alias_names_are_invalid_parameter(tea, name: str) -> None:  # type: ignore[no-untyped-def]
    """Names outside alias/ + 1-255 of [A-Za-z0-9_/-], and the reserved alias/acs*, are 400 InvalidParameter."""
    key = new_tea_key(tea)
    code, status = tea_error(lambda: tea.create_alias(m.CreateAliasRequest(alias_name=name, key_id=key.key_id)))
    assert (code, status) == ("InvalidParameter", 400)
    assert tea.list_aliases_by_key_id(m.ListAliasesByKeyIdRequest(key_id=key.key_id)).body.total_count == 0


def test_longest_alias_name_is_accepted(tea) -> None:  # type: ignore[no-untyped-def]
    """255 characters after alias/ is the upper bound, and resolves like any other."""
    key = new_tea_key(tea)
    name = "alias/" + secrets.token_hex(6) + "x" * 243
    tea.create_alias(m.CreateAliasRequest(alias_name=name, key_id=key.key_id))
    assert key.key_id == tea.describe_key(m.DescribeKeyRequest(key_id=name)).body.key_metadata.key_id


def test_not_found_answers(tea) -> None:  # type: ignore[no-untyped-def]
    """Unknown keys and aliases are 404 with Alibaba's codes in every alias action."""
    key = new_tea_key(tea)
    missing_key = "00000000-0000-4000-8000-000000000000"
    missing = _name("missing")
    cases = [
        (lambda: tea.create_alias(m.CreateAliasRequest(alias_name=_name(), key_id=missing_key)), "Forbidden.KeyNotFound"),
        (lambda: tea.create_alias(m.CreateAliasRequest(alias_name=_name(), key_id=missing)), "Forbidden.AliasNotFound"),
        (lambda: tea.update_alias(m.UpdateAliasRequest(alias_name=missing, key_id=key.key_id)), "Forbidden.AliasNotFound"),
        (lambda: tea.delete_alias(m.DeleteAliasRequest(alias_name=missing)), "Forbidden.AliasNotFound"),
        (lambda: tea.list_aliases_by_key_id(m.ListAliasesByKeyIdRequest(key_id=missing_key)), "Forbidden.KeyNotFound"),
    ]
    for call, code in cases:
        assert (code, 404) == tea_error(call)
    name = _name()
    tea.create_alias(m.CreateAliasRequest(alias_name=name, key_id=key.key_id))
    assert tea_error(
        lambda: tea.update_alias(m.UpdateAliasRequest(alias_name=name, key_id=missing_key))
    ) == ("Forbidden.KeyNotFound", 404)
    assert key.key_id == tea.describe_key(m.DescribeKeyRequest(key_id=name)).body.key_metadata.key_id


def test_alias_arn_of_another_region_or_account_is_refused(tea) -> None:  # type: ignore[no-untyped-def]
    """An alias ARN naming another region is an invalid parameter; one naming another account
    is a cross-account use nothing grants (403), whether that account has the alias or not."""
    key = new_tea_key(tea)
    name = _name()
    tea.create_alias(m.CreateAliasRequest(alias_name=name, key_id=key.key_id))
    account = key.arn.split(":")[3]
    arn = f"acs:kms:cn-beijing:{account}:{name}"
    assert tea_error(lambda: tea.describe_key(m.DescribeKeyRequest(key_id=arn))) == ("InvalidParameter", 400)
    arn = f"acs:kms:cn-hangzhou:1111111111111111:{name}"
    assert tea_error(lambda: tea.describe_key(m.DescribeKeyRequest(key_id=arn))) == ("Forbidden.NoPermission", 403)


def test_alias_works_as_key_id_of_other_actions(tea) -> None:  # type: ignore[no-untyped-def]
    """Actions answer with the resolved key id when given an alias (UpdateKeyDescription, ListKeyVersions)."""
    key = new_tea_key(tea)
    name = _name()
    tea.create_alias(m.CreateAliasRequest(alias_name=name, key_id=key.key_id))
    tea.update_key_description(m.UpdateKeyDescriptionRequest(key_id=name, description="via alias"))
    assert tea.describe_key(m.DescribeKeyRequest(key_id=key.key_id)).body.key_metadata.description == "via alias"
    versions = tea.list_key_versions(m.ListKeyVersionsRequest(key_id=name)).body.key_versions.key_version
    assert {key.key_id} == {v.key_id for v in versions}


def test_list_aliases_paging(raw: RawSigner, tea) -> None:  # type: ignore[no-untyped-def]
    """PageSize 0 means 10; ListAliases allows up to 100 and ListAliasesByKeyId up to 101."""
    key = new_tea_key(tea)
    made = sorted(_name("page") for _ in range(12))
    for name in made:
        tea.create_alias(m.CreateAliasRequest(alias_name=name, key_id=key.key_id))
    body = raw.v1("ListAliasesByKeyId", {"KeyId": key.key_id, "PageSize": "0"}).json()
    assert (body["PageSize"], body["TotalCount"]) == (10, 12)
    assert made[:10] == [a["AliasName"] for a in body["Aliases"]["Alias"]]
    second = raw.v1("ListAliasesByKeyId", {"KeyId": key.key_id, "PageSize": "5", "PageNumber": "3"}).json()
    assert made[10:] == [a["AliasName"] for a in second["Aliases"]["Alias"]]
    assert raw.v1("ListAliasesByKeyId", {"KeyId": key.key_id, "PageSize": "101"}).status == 200
    too_big = raw.v1("ListAliases", {"PageSize": "101"})
    assert (too_big.status, too_big.json()["Code"]) == (400, "InvalidParameter")
    empty = raw.v1("ListAliasesByKeyId", {"KeyId": key.key_id, "PageNumber": "99"}).json()
    assert empty["Aliases"] == {"Alias": []}


def test_list_aliases_xml(raw: RawSigner, tea) -> None:  # type: ignore[no-untyped-def]
    """Format=XML renders <Aliases><Alias>...</Alias></Aliases>."""
    key = new_tea_key(tea)
    name = _name()
    tea.create_alias(m.CreateAliasRequest(alias_name=name, key_id=key.key_id))
    body = raw.v1("ListAliasesByKeyId", {"KeyId": key.key_id}, fmt="XML").body.decode()
    assert f"<Aliases><Alias><AliasName>{name}</AliasName>" in body
    assert f"<KeyId>{key.key_id}</KeyId></Alias></Aliases>" in body


def test_list_keys_alias_filter(tea) -> None:  # type: ignore[no-untyped-def]
    """ListKeys Filters AliasName selects the keys those aliases name."""
    a, _ = new_tea_key(tea), new_tea_key(tea)
    name = _name()
    tea.create_alias(m.CreateAliasRequest(alias_name=name, key_id=a.key_id))
    filters = json.dumps([{"Key": "AliasName", "Values": [name]}])
    body = tea.list_keys(m.ListKeysRequest(filters=filters, page_size=100)).body
    assert (1, [a.key_id]) == (body.total_count, [k.key_id for k in body.keys.key])
