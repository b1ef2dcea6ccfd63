"""Key versions and rotation policy through both official SDKs (issue 5)."""

from __future__ import annotations

import pytest
from alibabacloud_kms20160120 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException
from aliyunsdkkms.request.v20160120.CreateKeyVersionRequest import CreateKeyVersionRequest
from aliyunsdkkms.request.v20160120.DescribeKeyVersionRequest import DescribeKeyVersionRequest
from aliyunsdkkms.request.v20160120.ListKeyVersionsRequest import ListKeyVersionsRequest
from aliyunsdkkms.request.v20160120.UpdateRotationPolicyRequest import UpdateRotationPolicyRequest

from tests.support.clients import OldClient
from tests.support.keys import new_key, new_tea_key
from tests.support.sdk_errors import tea_error


def test_create_key_version_switches_primary(tea) -> None:  # type: ignore[no-untyped-def]
    """CreateKeyVersion adds a version that becomes PrimaryKeyVersion; the old one stays listed."""
    meta = new_tea_key(tea)
    first = meta.primary_key_version
    version = tea.create_key_version(m.CreateKeyVersionRequest(key_id=meta.key_id)).body.key_version
    assert meta.key_id == version.key_id
    assert first != version.key_version_id
    described = tea.describe_key(m.DescribeKeyRequest(key_id=meta.key_id)).body.key_metadata
    assert version.key_version_id == described.primary_key_version
    assert version.creation_date == described.last_rotation_date
    listed = tea.list_key_versions(m.ListKeyVersionsRequest(key_id=meta.key_id)).body
    assert listed.total_count == 2
    assert [first, version.key_version_id] == [v.key_version_id for v in listed.key_versions.key_version]
    one = tea.describe_key_version(
        m.DescribeKeyVersionRequest(key_id=meta.key_id, key_version_id=first)
    ).body.key_version
    assert (meta.key_id, first) == (one.key_id, one.key_version_id)


def test_old_sdk_versions_and_paging(old: OldClient) -> None:
    """The old SDK creates, pages and describes versions; pages do not overlap."""
    from aliyunsdkkms.request.v20160120.CreateKeyRequest import CreateKeyRequest

    key_id = old.call(CreateKeyRequest())["KeyMetadata"]["KeyId"]
    made = [old.call(CreateKeyVersionRequest(), KeyId=key_id)["KeyVersion"]["KeyVersionId"] for _ in range(4)]
    page1 = old.call(ListKeyVersionsRequest(), KeyId=key_id, PageNumber=1, PageSize=3)
    page2 = old.call(ListKeyVersionsRequest(), KeyId=key_id, PageNumber=2, PageSize=3)
    assert page1["TotalCount"] == 5
    ids = [v["KeyVersionId"] for v in page1["KeyVersions"]["KeyVersion"] + page2["KeyVersions"]["KeyVersion"]]
    assert len(set(ids)) == 5
    assert made == ids[1:]
    got = old.call(DescribeKeyVersionRequest(), KeyId=key_id, KeyVersionId=made[0])["KeyVersion"]
    assert made[0] == got["KeyVersionId"]


def test_unknown_version_is_404(tea) -> None:  # type: ignore[no-untyped-def]
    """A version id that is not this key's is 404 Forbidden.KeyVersionNotFound."""
    a = new_tea_key(tea)
    b = new_tea_key(tea)
    for version in ("00000000-0000-4000-8000-000000000000", b.primary_key_version):
        assert tea_error(
            lambda v=version: tea.describe_key_version(m.DescribeKeyVersionRequest(key_id=a.key_id, key_version_id=v))
        ) == ("Forbidden.KeyVersionNotFound", 404)


@pytest.mark.parametrize("create", [{"key_spec": "RSA_2048"}, {"key_spec": "EC_P256"}, {"origin": "EXTERNAL"}])
def test_versions_refused_for_non_rotatable_keys(tea, create) -> None:  # type: ignore[no-untyped-def]
    """Asymmetric and EXTERNAL keys answer Rejected.UnsupportedOperation to versions and rotation."""
    key_id = new_tea_key(tea, **create).key_id
    assert tea_error(
        lambda: tea.create_key_version(m.CreateKeyVersionRequest(key_id=key_id))
    ) == ("Rejected.UnsupportedOperation", 400)
    code, _ = tea_error(
        lambda: tea.update_rotation_policy(
            m.UpdateRotationPolicyRequest(key_id=key_id, enable_automatic_rotation=True, rotation_interval="30d")
        )
    )
    assert code == "Rejected.UnsupportedOperation"


def test_update_rotation_policy(tea, old: OldClient) -> None:  # type: ignore[no-untyped-def]
    """Enabling sets RotationInterval (seconds form) and NextRotationDate; disabling clears it."""
    meta = new_tea_key(tea)
    tea.update_rotation_policy(
        m.UpdateRotationPolicyRequest(key_id=meta.key_id, enable_automatic_rotation=True, rotation_interval="7d")
    )
    now = tea.describe_key(m.DescribeKeyRequest(key_id=meta.key_id)).body.key_metadata
    assert (now.automatic_rotation, now.rotation_interval) == ("Enabled", "604800s")
    assert now.next_rotation_date > now.last_rotation_date
    old.call(UpdateRotationPolicyRequest(), KeyId=meta.key_id, EnableAutomaticRotation=False)
    off = tea.describe_key(m.DescribeKeyRequest(key_id=meta.key_id)).body.key_metadata
    assert (off.automatic_rotation, off.next_rotation_date) == ("Disabled", "")


@pytest.mark.parametrize("interval", ["6d", "366d", "10x", "d", None])
def test_rotation_interval_bounds(tea, interval) -> None:  # type: ignore[no-untyped-def]
    """Intervals outside 7–365 days, malformed, or missing when enabling are InvalidParameter."""
    key_id = new_tea_key(tea).key_id
    with pytest.raises(ClientException) as info:
        tea.update_rotation_policy(
            m.UpdateRotationPolicyRequest(key_id=key_id, enable_automatic_rotation=True, rotation_interval=interval)
        )
    assert (info.value.code, info.value.status_code) == ("InvalidParameter", 400)
    assert "RotationInterval" in info.value.message


def test_runner_rotates_due_keys_through_the_wire(fresh_server) -> None:  # type: ignore[no-untyped-def]
    """The job runner, with a clock moved past the interval, rotates the key: a new primary,
    Encrypt uses it, and ciphertexts of the old version still decrypt through both SDKs."""
    from tests.support.calls import SDK
    from tests.support.inprocess import run_jobs_offline

    sdk = SDK("tea", fresh_server.endpoint)
    meta = sdk.call("CreateKey", EnableAutomaticRotation=True, RotationInterval="7d")["KeyMetadata"]
    plain = sdk.call("CreateKey")["KeyMetadata"]
    old_blob = sdk.call("Encrypt", KeyId=meta["KeyId"], Plaintext="before rotation")["CiphertextBlob"]
    fresh_server.stop()
    assert "rotate-keys" in run_jobs_offline(fresh_server.data_dir, fresh_server.database, advance=8 * 86400)
    fresh_server.start()
    for name in ("tea", "old"):
        sdk = SDK(name, fresh_server.endpoint)
        now = sdk.call("DescribeKey", KeyId=meta["KeyId"])["KeyMetadata"]
        assert meta["PrimaryKeyVersion"] != now["PrimaryKeyVersion"]
        assert plain["PrimaryKeyVersion"] == sdk.call("DescribeKey", KeyId=plain["KeyId"])["KeyMetadata"]["PrimaryKeyVersion"]
        listed = sdk.call("ListKeyVersions", KeyId=meta["KeyId"])
        assert listed["TotalCount"] == 2
        fresh = sdk.call("Encrypt", KeyId=meta["KeyId"], Plaintext="after")
        assert now["PrimaryKeyVersion"] == fresh["KeyVersionId"]
        answer = sdk.call("Decrypt", CiphertextBlob=old_blob)
        assert ("before rotation", meta["PrimaryKeyVersion"]) == (answer["Plaintext"], answer["KeyVersionId"])


@pytest.mark.parametrize("sdk_name", ["tea", "old"])
def test_create_key_version_follows_key_state(server, sdk_name: str) -> None:  # type: ignore[no-untyped-def]
    """CreateKeyVersion on a Disabled key is 409 Rejected.Disabled, on a key pending deletion 409
    Rejected.PendingDeletion; UpdateRotationPolicy on a Disabled key keeps a Suspended policy."""
    from tests.support.calls import SDK

    sdk = SDK(sdk_name, server.endpoint)
    key_id = new_key(sdk)
    sdk.call("DisableKey", KeyId=key_id)
    error = sdk.error("CreateKeyVersion", KeyId=key_id)
    assert (error.code, error.status) == ("Rejected.Disabled", 409)
    sdk.call("UpdateRotationPolicy", KeyId=key_id, EnableAutomaticRotation=True, RotationInterval="30d")
    assert sdk.call("DescribeKey", KeyId=key_id)["KeyMetadata"]["AutomaticRotation"] == "Suspended"
    sdk.call("ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    error = sdk.error("CreateKeyVersion", KeyId=key_id)
    assert (error.code, error.status) == ("Rejected.PendingDeletion", 409)
