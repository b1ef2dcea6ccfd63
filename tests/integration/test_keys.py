"""CreateKey, DescribeKey, ListKeys and UpdateKeyDescription through both official SDKs."""

from __future__ import annotations

import json
import re

import pytest
from alibabacloud_kms20160120 import models as m
from aliyunsdkkms.request.v20160120.CreateKeyRequest import CreateKeyRequest
from aliyunsdkkms.request.v20160120.DescribeKeyRequest import DescribeKeyRequest
from aliyunsdkkms.request.v20160120.ListKeysRequest import ListKeysRequest
from aliyunsdkkms.request.v20160120.UpdateKeyDescriptionRequest import UpdateKeyDescriptionRequest

from tests.support.clients import OldClient, tea_client
from tests.support.sdk_errors import old_error, tea_error

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.mark.parametrize("mode", ["v3", "v2", "v4"])
def test_tea_create_describe_list(backend_server, mode: str) -> None:  # type: ignore[no-untyped-def]
    """The Tea SDK in every signing mode creates, describes and lists keys (SQLite and PostgreSQL)."""
    tea_any = tea_client(backend_server.endpoint, mode)
    created = tea_any.create_key(m.CreateKeyRequest(description="tea key", key_spec="Aliyun_AES_128"))
    meta = created.body.key_metadata
    assert meta.key_state == "Enabled"
    assert meta.key_spec == "Aliyun_AES_128"
    assert meta.key_usage == "ENCRYPT/DECRYPT"
    assert meta.origin == "Aliyun_KMS"
    assert ISO.fullmatch(meta.creation_date)
    assert re.fullmatch(r"acs:kms:cn-hangzhou:\d{16}:key/" + meta.key_id, meta.arn)
    assert meta.delete_date == ""
    assert meta.material_expire_time == ""
    described = tea_any.describe_key(m.DescribeKeyRequest(key_id=meta.key_id)).body.key_metadata
    assert meta.key_id == described.key_id
    assert described.description == "tea key"
    assert described.deletion_protection == "Disabled"
    assert meta.primary_key_version == described.primary_key_version
    by_arn = tea_any.describe_key(m.DescribeKeyRequest(key_id=meta.arn)).body.key_metadata
    assert meta.key_id == by_arn.key_id
    # The session's server holds every other test's keys too: page until the new key shows up.
    listed = tea_any.list_keys(m.ListKeysRequest(page_size=100)).body
    seen = [k.key_id for k in listed.keys.key]
    for page in range(2, listed.total_count // 100 + 2):
        seen += [k.key_id for k in tea_any.list_keys(m.ListKeysRequest(page_number=page, page_size=100)).body.keys.key]
    assert meta.key_id in seen
    assert listed.total_count >= 1


def test_old_sdk_create_describe_list(backend_server) -> None:  # type: ignore[no-untyped-def]
    """The old core SDK (V1) creates, describes, lists and updates keys (SQLite and PostgreSQL)."""
    old = OldClient(backend_server.endpoint)
    body = old.call(CreateKeyRequest(), Description="old key", KeySpec="Aliyun_AES_256")
    meta = body["KeyMetadata"]
    assert body["RequestId"]
    key_id = meta["KeyId"]
    assert meta["KeySpec"] == "Aliyun_AES_256"
    assert old.call(DescribeKeyRequest(), KeyId=key_id)["KeyMetadata"]["Description"] == "old key"
    old.call(UpdateKeyDescriptionRequest(), KeyId=key_id, Description="renamed")
    assert old.call(DescribeKeyRequest(), KeyId=key_id)["KeyMetadata"]["Description"] == "renamed"
    old.call(UpdateKeyDescriptionRequest(), KeyId=key_id, Description="")
    assert old.call(DescribeKeyRequest(), KeyId=key_id)["KeyMetadata"]["Description"] == ""
    page = old.call(ListKeysRequest(), PageNumber=1, PageSize=100)
    assert {"KeyId", "KeyArn"} == set(page["Keys"]["Key"][0])


def test_list_keys_pages_without_overlap(tea) -> None:  # type: ignore[no-untyped-def]
    """ListKeys pages are disjoint, ordered, and TotalCount counts them all."""
    for _ in range(5):
        tea.create_key(m.CreateKeyRequest())
    total = tea.list_keys(m.ListKeysRequest(page_size=1)).body.total_count
    seen: list[str] = []
    page = 1
    while True:
        body = tea.list_keys(m.ListKeysRequest(page_number=page, page_size=3)).body
        assert body.page_size == 3
        assert page == body.page_number
        if not body.keys.key:
            break
        seen += [k.key_id for k in body.keys.key]
        page += 1
    assert len(seen) == len(set(seen))
    assert total <= len(seen)


def test_list_keys_empty_page_keeps_wrapper(raw) -> None:  # type: ignore[no-untyped-def]
    """An empty page still answers {"Keys":{"Key":[]}}, the shape the Tea models need."""
    body = raw.v1("ListKeys", {"PageNumber": "100000", "PageSize": "100"}).json()
    assert body["Keys"] == {"Key": []}


def test_list_keys_filters(tea) -> None:  # type: ignore[no-untyped-def]
    """Filters by KeySpec select only matching keys (AND across keys, OR within values)."""
    key_id = tea.create_key(m.CreateKeyRequest(key_spec="Aliyun_SM4")).body.key_metadata.key_id
    filters = json.dumps([{"Key": "KeySpec", "Values": ["Aliyun_SM4"]}, {"Key": "KeyState", "Values": ["Enabled"]}])
    ids = [k.key_id for k in tea.list_keys(m.ListKeysRequest(page_size=100, filters=filters)).body.keys.key]
    assert key_id in ids
    for other in ids:
        assert tea.describe_key(m.DescribeKeyRequest(key_id=other)).body.key_metadata.key_spec == "Aliyun_SM4"


@pytest.mark.parametrize(
    ("request_kwargs", "code"),
    [
        ({"key_spec": "AES_999"}, "InvalidParameter"),
        ({"origin": "external"}, "InvalidParameter"),
        ({"key_spec": "EC_P256", "key_usage": "ENCRYPT/DECRYPT"}, "InvalidParameter"),
        ({"key_usage": "SIGN/VERIFY"}, "InvalidParameter"),
        ({"description": "x" * 8193}, "InvalidParameter"),
        ({"enable_automatic_rotation": True}, "InvalidParameter"),
        ({"enable_automatic_rotation": True, "rotation_interval": "1d"}, "InvalidParameter"),
        ({"tags": "not json"}, "InvalidParameter"),
        ({"tags": json.dumps([{"TagKey": "acs:x", "TagValue": "v"}])}, "InvalidParameter"),
        ({"protection_level": "HSM"}, "Rejected.UnsupportedOperation"),
    ],
)
def test_create_key_refuses_bad_input(tea, request_kwargs, code) -> None:  # type: ignore[no-untyped-def]
    """Bad CreateKey parameters are 400s with Alibaba's codes, and create nothing."""
    before = tea.list_keys(m.ListKeysRequest(page_size=1)).body.total_count
    assert tea_error(lambda: tea.create_key(m.CreateKeyRequest(**request_kwargs))) == (code, 400)
    assert before == tea.list_keys(m.ListKeysRequest(page_size=1)).body.total_count


def test_create_key_description_boundary(tea) -> None:  # type: ignore[no-untyped-def]
    """A description of exactly 8192 characters is accepted and returned whole."""
    meta = tea.create_key(m.CreateKeyRequest(description="d" * 8192)).body.key_metadata
    assert len(tea.describe_key(m.DescribeKeyRequest(key_id=meta.key_id)).body.key_metadata.description) == 8192


def test_create_key_rotation_and_tags_are_stored(tea) -> None:  # type: ignore[no-untyped-def]
    """Rotation settings are echoed in Alibaba's forms; Tags are accepted."""
    meta = tea.create_key(
        m.CreateKeyRequest(
            enable_automatic_rotation=True, rotation_interval="30d",
            tags=json.dumps([{"TagKey": "env", "TagValue": "prod"}]),
        )
    ).body.key_metadata
    assert meta.automatic_rotation == "Enabled"
    assert meta.rotation_interval == "2592000s"
    assert ISO.fullmatch(meta.next_rotation_date)


def test_external_key_starts_pending_import(tea) -> None:  # type: ignore[no-untyped-def]
    """Origin=EXTERNAL (case-sensitive) creates a key in PendingImport."""
    meta = tea.create_key(m.CreateKeyRequest(origin="EXTERNAL")).body.key_metadata
    assert meta.key_state == "PendingImport"
    assert meta.origin == "EXTERNAL"


def test_asymmetric_specs_default_usage(tea) -> None:  # type: ignore[no-untyped-def]
    """Specs that can only sign default to SIGN/VERIFY; RSA defaults to ENCRYPT/DECRYPT."""
    assert tea.create_key(m.CreateKeyRequest(key_spec="EC_P256")).body.key_metadata.key_usage == "SIGN/VERIFY"
    assert tea.create_key(m.CreateKeyRequest(key_spec="RSA_2048")).body.key_metadata.key_usage == "ENCRYPT/DECRYPT"


def test_unknown_key_and_alias(tea, old: OldClient) -> None:  # type: ignore[no-untyped-def]
    """An unknown key id is 404 Forbidden.KeyNotFound; an unknown alias 404 Forbidden.AliasNotFound."""
    assert tea_error(
        lambda: tea.describe_key(m.DescribeKeyRequest(key_id="00000000-0000-4000-8000-000000000000"))
    ) == ("Forbidden.KeyNotFound", 404)
    assert old_error(old, DescribeKeyRequest(), KeyId="alias/nothing-here") == ("Forbidden.AliasNotFound", 404)


def test_missing_and_bad_paging_parameters(raw) -> None:  # type: ignore[no-untyped-def]
    """MissingParameter and InvalidParameter name the parameter; bounds come from the table."""
    body = raw.v1("DescribeKey").json()
    assert (body["Code"], body["HttpStatus"]) == ("MissingParameter", 400)
    assert '"KeyId"' in body["Message"]
    for size in ("0", "101", "abc", "-1"):
        resp = raw.v1("ListKeys", {"PageSize": size})
        assert resp.status == 400
        assert resp.json()["Code"] == "InvalidParameter"
        assert "PageSize" in resp.json()["Message"]


def test_service_level_actions(tea) -> None:  # type: ignore[no-untyped-def]
    """DescribeRegions, DescribeAccountKmsStatus and OpenKmsService answer in Alibaba's shapes."""
    regions = tea.describe_regions().body.regions.region
    assert [r.region_id for r in regions] == ["cn-hangzhou"]
    assert tea.describe_account_kms_status().body.account_status == "Enabled"
    assert tea.open_kms_service().body.request_id
