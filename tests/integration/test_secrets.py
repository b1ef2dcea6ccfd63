"""Secrets Manager through both official SDKs, against a running openkms."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest
from alibabacloud_kms20160120 import models as m

from tests.support.calls import SDK
from tests.support.clients import RawSigner, tea_client
from tests.support.keys import new_key
from tests.support.server import ServerProcess

# Reserved and awkward characters travel intact in the Tea SDK's form body and the old SDK's query.
ODD_VALUE = 'p@ss word+/=*~%&"\'<>{}[]é中文\n\t'


def _name(prefix: str = "s") -> str:
    return f"{prefix}/{uuid.uuid4().hex[:12]}"


def _create(sdk: SDK, name: str, data: str = "v1-data", version: str = "v1", **extra: object) -> dict[str, object]:
    return sdk.call("CreateSecret", SecretName=name, VersionId=version, SecretData=data, **extra)


def _get(sdk: SDK, name: str, **extra: object) -> dict[str, object]:
    return sdk.call("GetSecretValue", SecretName=name, **extra)


def _with_two_versions(sdk: SDK) -> str:
    """A new secret whose v1 holds "one" (ACSPrevious) and v2 "two" (ACSCurrent); its name."""
    name = _name()
    _create(sdk, name, "one")
    sdk.call("PutSecretValue", SecretName=name, VersionId="v2", SecretData="two")
    return name


def _stages_of(answer: dict[str, object]) -> list[str]:
    stages = answer["VersionStages"]
    assert isinstance(stages, dict)
    return list(stages["VersionStage"])


# -- create and read ------------------------------------------------------------------------------


def test_create_answers_alibabas_shape(sdk: SDK, server: ServerProcess) -> None:
    """CreateSecret answers Arn, SecretName, SecretType Generic and the first VersionId."""
    name = _name()
    answer = _create(sdk, name)
    account = sdk.call("DescribeSecret", SecretName=name)["Arn"].split(":")[3]
    assert f"acs:kms:cn-hangzhou:{account}:secret/{name}" == answer["Arn"]
    assert (name, "Generic", "v1") == (answer["SecretName"], answer["SecretType"], answer["VersionId"])


def test_value_round_trips_through_each_sdk(sdk: SDK) -> None:
    """A value with reserved characters, spaces and non-ASCII comes back byte for byte, as ACSCurrent."""
    name = _name()
    _create(sdk, name, ODD_VALUE)
    answer = _get(sdk, name)
    assert answer["SecretData"] == ODD_VALUE
    assert (answer["SecretDataType"], answer["VersionId"], _stages_of(answer)) == ("text", "v1", ["ACSCurrent"])


@pytest.mark.parametrize("mode", ["v3", "v2", "v4"])
def test_form_body_secret_data_in_every_tea_signing_mode(server: ServerProcess, mode: str) -> None:
    """The Tea SDK sends SecretData in the form body; V3, V1 (HMAC-SHA1) and V4 all verify and store it."""
    client = tea_client(server.endpoint, mode)
    name = _name()
    client.create_secret(m.CreateSecretRequest(secret_name=name, version_id="v1", secret_data=ODD_VALUE))
    client.put_secret_value(m.PutSecretValueRequest(secret_name=name, version_id="v2", secret_data=ODD_VALUE + "2"))
    body = client.get_secret_value(m.GetSecretValueRequest(secret_name=name)).body
    assert (body.secret_data, body.version_stages.version_stage) == (ODD_VALUE + "2", ["ACSCurrent"])


def test_largest_value_and_one_byte_more(sdk: SDK) -> None:
    """SecretData holds 30720 bytes (counted in UTF-8); one byte more is InvalidParameter."""
    name = _name()
    # The old SDK sends SecretData in the URL: 30720 two-byte characters would make a 92 KB
    # request line, beyond the HTTP server's limit, so it sends ASCII; the Tea SDK's form body
    # carries the two-byte form.
    value = "é" * 15360 if sdk.name == "tea" else "a" * 30720
    _create(sdk, name, value)
    assert value == _get(sdk, name)["SecretData"]
    error = sdk.error("CreateSecret", SecretName=_name(), VersionId="v1", SecretData=value + "x")
    assert (error.status, error.code) == (400, "InvalidParameter")


def test_binary_value_keeps_its_type(sdk: SDK) -> None:
    """SecretDataType binary is stored and answered as such."""
    name = _name()
    _create(sdk, name, "AAECAwQ=", SecretDataType="binary")
    answer = _get(sdk, name)
    assert (answer["SecretData"], answer["SecretDataType"]) == ("AAECAwQ=", "binary")


def _cjk(n: int) -> str:
    """``n`` Chinese characters, unique per call."""
    tail = "".join(chr(0x4E00 + int(c, 16)) for c in uuid.uuid4().hex[:8])
    return "中" * (n - 8) + tail


@pytest.mark.parametrize(
    ("make", "ok"),
    [
        (lambda: "a" * 180 + uuid.uuid4().hex[:12], True),
        (lambda: "a" * 181 + uuid.uuid4().hex[:12], False),
        (lambda: _cjk(64), True),
        (lambda: _cjk(65), False),
        (lambda: "acs/" + uuid.uuid4().hex, False),
        (lambda: "a b", False),
    ],
    ids=["192", "193", "cjk-64", "cjk-65", "acs-prefix", "space"],
)
def test_secret_name_rules(sdk: SDK, make: Callable[[], str], ok: bool) -> None:
    """Names are up to 192 of [A-Za-z0-9_/+=.@-] (64 with Chinese), never acs/..."""
    name = make()
    if ok:
        assert name == _create(sdk, name)["SecretName"]
        assert _get(sdk, name)["SecretData"] == "v1-data"
    else:
        error = sdk.error("CreateSecret", SecretName=name, VersionId="v1", SecretData="x")
        assert (error.status, error.code) == (400, "InvalidParameter")


def test_version_id_is_at_most_64_characters(sdk: SDK) -> None:
    """A VersionId of 65 characters is InvalidParameter; 64 is fine."""
    assert _create(sdk, _name(), version="v" * 64)["VersionId"] == "v" * 64
    error = sdk.error("CreateSecret", SecretName=_name(), VersionId="v" * 65, SecretData="x")
    assert (error.status, error.code) == (400, "InvalidParameter")


def test_duplicate_name_is_resource_exist(sdk: SDK) -> None:
    """A second CreateSecret of the same name is 409 Rejected.ResourceExist."""
    name = _name()
    _create(sdk, name)
    error = sdk.error("CreateSecret", SecretName=name, VersionId="v9", SecretData="other")
    assert (error.status, error.code) == (409, "Rejected.ResourceExist")


@pytest.mark.parametrize("secret_type", ["ECS"])
def test_unrotated_managed_secret_types_are_refused(sdk: SDK, secret_type: str) -> None:
    """Managed secrets openkms does not rotate: 400 UnsupportedOperation."""
    error = sdk.error("CreateSecret", SecretName=_name(), VersionId="v1", SecretData="x", SecretType=secret_type)
    assert (error.status, error.code) == (400, "UnsupportedOperation")
    assert "not rotated by openkms" in error.message


@pytest.mark.parametrize("secret_type", ["Rds", "Redis", "PolarDB"])
def test_database_secrets_name_their_target(sdk: SDK, secret_type: str) -> None:
    """A database secret without an ExtendedConfig naming a secret target: 400 InvalidParameter."""
    error = sdk.error("CreateSecret", SecretName=_name(), VersionId="v1", SecretData="x", SecretType=secret_type)
    assert (error.status, error.code) == (400, "InvalidParameter")
    assert "ExtendedConfig" in error.message


def test_unknown_secret_is_resource_not_found(sdk: SDK) -> None:
    """Every action on a secret that does not exist answers 404 Forbidden.ResourceNotFound."""
    name = _name("missing")
    for action, extra in [
        ("GetSecretValue", {}),
        ("DescribeSecret", {}),
        ("PutSecretValue", {"VersionId": "v", "SecretData": "x"}),
        ("DeleteSecret", {}),
        ("ListSecretVersionIds", {}),
        ("GetSecretPolicy", {}),
    ]:
        error = sdk.error(action, SecretName=name, **extra)
        assert (error.status, error.code) == (404, "Forbidden.ResourceNotFound"), action


def test_secret_arn_names_the_secret(sdk: SDK) -> None:
    """SecretName may be the secret's ARN; an ARN of another account is InvalidParameter."""
    name = _name()
    arn = str(_create(sdk, name)["Arn"])
    assert _get(sdk, arn)["SecretData"] == "v1-data"
    foreign = arn.replace(":cn-hangzhou:", ":cn-beijing:")
    assert sdk.error("GetSecretValue", SecretName=foreign).code == "InvalidParameter"


# -- versions and stages -------------------------------------------------------------------------


def test_put_moves_current_to_previous(sdk: SDK) -> None:
    """PutSecretValue makes the new version ACSCurrent and the old one ACSPrevious."""
    name = _name()
    _create(sdk, name, "one")
    answer = sdk.call("PutSecretValue", SecretName=name, VersionId="v2", SecretData="two")
    assert (answer["VersionId"], _stages_of(answer)) == ("v2", ["ACSCurrent"])
    assert _get(sdk, name)["SecretData"] == "two"
    previous = _get(sdk, name, VersionStage="ACSPrevious")
    assert (previous["SecretData"], previous["VersionId"], _stages_of(previous)) == ("one", "v1", ["ACSPrevious"])
    assert _get(sdk, name, VersionId="v1")["SecretData"] == "one"


def test_put_with_custom_stages(sdk: SDK) -> None:
    """VersionStages ["ACSNext"] stages a version without making it current."""
    name = _name()
    _create(sdk, name, "one")
    answer = sdk.call("PutSecretValue", SecretName=name, VersionId="v2", SecretData="two", VersionStages='["ACSNext"]')
    assert _stages_of(answer) == ["ACSNext"]
    assert _get(sdk, name)["SecretData"] == "one"
    assert _get(sdk, name, VersionStage="ACSNext")["SecretData"] == "two"


def test_put_is_idempotent_only_for_the_same_value(sdk: SDK) -> None:
    """The same VersionId and value again succeeds; another value under it is 409 Rejected.ResourceExist."""
    name = _with_two_versions(sdk)
    again = sdk.call("PutSecretValue", SecretName=name, VersionId="v2", SecretData="two")
    assert (again["VersionId"], _stages_of(again)) == ("v2", ["ACSCurrent"])
    error = sdk.error("PutSecretValue", SecretName=name, VersionId="v2", SecretData="three")
    assert (error.status, error.code) == (409, "Rejected.ResourceExist")
    assert _get(sdk, name)["SecretData"] == "two"


def test_ten_versions_are_kept(sdk: SDK) -> None:
    """A Generic secret keeps 10 versions; the oldest is dropped when an 11th and 12th arrive."""
    name = _name()
    _create(sdk, name, "d1")
    for i in range(2, 13):
        sdk.call("PutSecretValue", SecretName=name, VersionId=f"v{i}", SecretData=f"d{i}")
    listed = sdk.call("ListSecretVersionIds", SecretName=name, IncludeDeprecated="true", PageSize=50)
    ids = [v["VersionId"] for v in listed["VersionIds"]["VersionId"]]
    assert [f"v{i}" for i in range(3, 13)] == ids
    assert listed["TotalCount"] == 10
    assert sdk.error("GetSecretValue", SecretName=name, VersionId="v1").code == "Forbidden.ResourceNotFound"


def test_list_version_ids_hides_deprecated_versions(sdk: SDK) -> None:
    """Versions without a stage are listed only with IncludeDeprecated=true; pages hold PageSize."""
    name = _name()
    _create(sdk, name, "d1")
    for i in (2, 3):
        sdk.call("PutSecretValue", SecretName=name, VersionId=f"v{i}", SecretData=f"d{i}")
    default = sdk.call("ListSecretVersionIds", SecretName=name)
    assert [
        (v["VersionId"], v["VersionStages"]["VersionStage"]) for v in default["VersionIds"]["VersionId"]
    ] == [("v2", ["ACSPrevious"]), ("v3", ["ACSCurrent"])]
    assert (default["PageNumber"], default["PageSize"], default["TotalCount"]) == (1, 20, 2)
    page = sdk.call("ListSecretVersionIds", SecretName=name, IncludeDeprecated="true", PageSize=2, PageNumber=2)
    assert ([v["VersionId"] for v in page["VersionIds"]["VersionId"]], page["TotalCount"]) == (["v3"], 3)


def test_update_version_stage_moves_current_back(sdk: SDK) -> None:
    """Moving ACSCurrent back to v1 (with RemoveFromVersion v2) rolls the secret back; v2 becomes ACSPrevious."""
    name = _with_two_versions(sdk)
    sdk.call("UpdateSecretVersionStage", SecretName=name, VersionStage="ACSCurrent", MoveToVersion="v1", RemoveFromVersion="v2")
    assert _get(sdk, name)["SecretData"] == "one"
    assert _get(sdk, name, VersionStage="ACSPrevious")["VersionId"] == "v2"


def test_update_version_stage_checks(sdk: SDK) -> None:
    """Alibaba's checks: param mismatch, reserved stages only move, unknown versions, the 8-stage limit."""
    name = _with_two_versions(sdk)
    mismatch = sdk.error("UpdateSecretVersionStage", SecretName=name, VersionStage="ACSCurrent", MoveToVersion="v1", RemoveFromVersion="v1")
    assert (mismatch.status, mismatch.code) == (400, "Rejected.InvalidRequest")
    reserved = sdk.error("UpdateSecretVersionStage", SecretName=name, VersionStage="ACSCurrent", RemoveFromVersion="v2")
    assert (reserved.status, reserved.code) == (400, "Rejected.UnsupportedOperation")
    unknown = sdk.error("UpdateSecretVersionStage", SecretName=name, VersionStage="X", MoveToVersion="v9")
    assert (unknown.status, unknown.code) == (404, "Forbidden.ResourceNotFound")
    neither = sdk.error("UpdateSecretVersionStage", SecretName=name, VersionStage="X")
    assert (neither.status, neither.code) == (400, "InvalidParameter")
    for i in range(6):  # ACSCurrent, ACSPrevious and six custom stages: eight in all
        sdk.call("UpdateSecretVersionStage", SecretName=name, VersionStage=f"Custom{i}", MoveToVersion="v1")
    limit = sdk.error("UpdateSecretVersionStage", SecretName=name, VersionStage="Custom9", MoveToVersion="v1")
    assert (limit.status, limit.code) == (400, "Rejected.LimitExceeded")
    sdk.call("UpdateSecretVersionStage", SecretName=name, VersionStage="Custom0", RemoveFromVersion="v1")
    assert _stages_of(
        _get(sdk, name, VersionId="v1")
    ) == ["ACSPrevious", "Custom1", "Custom2", "Custom3", "Custom4", "Custom5"]


def test_version_and_stage_must_agree(sdk: SDK) -> None:
    """GetSecretValue with a VersionId and a VersionStage it does not carry is not found."""
    name = _name()
    _create(sdk, name)
    error = sdk.error("GetSecretValue", SecretName=name, VersionId="v1", VersionStage="ACSPrevious")
    assert (error.status, error.code) == (404, "Forbidden.ResourceNotFound")


# -- describe, list, update, policy ----------------------------------------------------------------


def test_describe_secret(sdk: SDK) -> None:
    """DescribeSecret answers metadata and, with FetchTags, the tags; never the value."""
    name = _name()
    _create(sdk, name, "hidden", Description="db creds", Tags='[{"TagKey":"env","TagValue":"prod"}]')
    answer = sdk.call("DescribeSecret", SecretName=name, FetchTags="true")
    assert (answer["Description"], answer["SecretType"], answer["PlannedDeleteTime"]) == ("db creds", "Generic", "")
    assert answer["Tags"]["Tag"] == [{"TagKey": "env", "TagValue": "prod"}]
    assert answer["CreateTime"] and answer["UpdateTime"] and answer["EncryptionKeyId"]
    assert "hidden" not in json.dumps(answer)
    assert "Tags" not in sdk.call("DescribeSecret", SecretName=name)


def test_update_secret_description(sdk: SDK) -> None:
    """UpdateSecret replaces the description; ExtendedConfig is for managed secrets only."""
    name = _name()
    _create(sdk, name, Description="old")
    assert name == sdk.call("UpdateSecret", SecretName=name, Description="new")["SecretName"]
    assert sdk.call("DescribeSecret", SecretName=name)["Description"] == "new"


def test_update_secret_refuses_extended_config(server: ServerProcess) -> None:
    """The Tea SDK's flattened ExtendedConfig.CustomData.* is InvalidParameter for a Generic secret."""
    sdk = SDK("tea", server.endpoint)
    name = _name()
    _create(sdk, name)
    client = tea_client(server.endpoint)
    request = m.UpdateSecretRequest(
        secret_name=name, extended_config=m.UpdateSecretRequestExtendedConfig(custom_data={"a": "1"})
    )
    with pytest.raises(Exception) as info:
        client.update_secret(request)
    assert info.value.code == "InvalidParameter"  # type: ignore[attr-defined]


def test_list_secrets_pages_and_filters(sdk: SDK) -> None:
    """ListSecrets pages, filters by name and tag (OR within a key, AND across keys) and fetches tags."""
    tag = uuid.uuid4().hex[:10]
    names = [_name("list") for _ in range(3)]
    for i, name in enumerate(names):
        _create(sdk, name, Tags=json.dumps([{"TagKey": "batch", "TagValue": tag}, {"TagKey": "i", "TagValue": str(i)}]))
    by_tag = json.dumps([{"Key": "TagValue", "Values": [tag]}])
    page1 = sdk.call("ListSecrets", Filters=by_tag, PageSize=2, FetchTags="true")
    page2 = sdk.call("ListSecrets", Filters=by_tag, PageSize=2, PageNumber=2)
    assert 3 == page1["TotalCount"] == page2["TotalCount"]
    listed = [s["SecretName"] for s in page1["SecretList"]["Secret"] + page2["SecretList"]["Secret"]]
    assert names == listed
    assert {"TagKey": "batch", "TagValue": tag} in page1["SecretList"]["Secret"][0]["Tags"]["Tag"]
    both = json.dumps([{"Key": "TagValue", "Values": [tag]}, {"Key": "SecretName", "Values": [names[0], names[2], "nope"]}])
    assert [names[0], names[2]] == [s["SecretName"] for s in sdk.call("ListSecrets", Filters=both)["SecretList"]["Secret"]]
    bad = sdk.error("ListSecrets", Filters='[{"Key":"Colour","Values":["red"]}]')
    assert (bad.status, bad.code) == (400, "InvalidParameter")


def test_secret_policy(sdk: SDK) -> None:
    """A secret has the default policy until SetSecretPolicy replaces it; bad JSON is refused."""
    name = _name()
    _create(sdk, name)
    default = json.loads(sdk.call("GetSecretPolicy", SecretName=name)["Policy"])
    assert default["Statement"][0]["Sid"] == "kms default secret policy"
    account = default["Statement"][0]["Principal"]["RAM"][0]
    statement = {"Effect": "Deny", "Principal": {"RAM": [account]}, "Action": ["kms:*"], "Resource": ["*"]}
    policy = json.dumps({"Version": "1", "Statement": [statement]})
    sdk.call("SetSecretPolicy", SecretName=name, Policy=policy)
    assert policy == sdk.call("GetSecretPolicy", SecretName=name, PolicyName="default")["Policy"]
    assert sdk.error("SetSecretPolicy", SecretName=name, Policy="{not json").code == "InvalidParameter"
    assert sdk.error("SetSecretPolicy", SecretName=name, Policy='{"Version":"2"}').code == "InvalidParameter"
    assert sdk.error("GetSecretPolicy", SecretName=name, PolicyName="other").code == "InvalidParameter"


def test_rotation_actions_are_for_managed_secrets(sdk: SDK) -> None:
    """RotateSecret and UpdateSecretRotationPolicy on a Generic secret: 400 Rejected.UnsupportedOperation."""
    name = _name()
    _create(sdk, name)
    rotate = sdk.error("RotateSecret", SecretName=name, VersionId="v2")
    policy = sdk.error("UpdateSecretRotationPolicy", SecretName=name, EnableAutomaticRotation=True, RotationInterval="30d")
    for error in (rotate, policy):
        assert (error.status, error.code) == (400, "Rejected.UnsupportedOperation")
    short = sdk.error("UpdateSecretRotationPolicy", SecretName=name, EnableAutomaticRotation=True, RotationInterval="1d")
    assert short.code == "InvalidParameter"


# -- deletion ------------------------------------------------------------------------------------


def test_scheduled_deletion_and_restore(sdk: SDK) -> None:
    """DeleteSecret schedules 30 days by default; meanwhile value calls answer 409
    Rejected.ResourceInDeleteWindow; RestoreSecret brings the secret back."""
    name = _name()
    _create(sdk, name)
    answer = sdk.call("DeleteSecret", SecretName=name)
    described = sdk.call("DescribeSecret", SecretName=name)
    policy = sdk.call("GetSecretPolicy", SecretName=name)["Policy"]
    assert answer["PlannedDeleteTime"] == described["PlannedDeleteTime"] != ""
    for action, extra in [
        ("GetSecretValue", {}),
        ("PutSecretValue", {"VersionId": "v2", "SecretData": "x"}),
        ("UpdateSecret", {"Description": "d"}),
        ("DeleteSecret", {"RecoveryWindowInDays": "7"}),
        ("SetSecretPolicy", {"Policy": policy}),
    ]:
        error = sdk.error(action, SecretName=name, **extra)
        assert (error.status, error.code) == (409, "Rejected.ResourceInDeleteWindow"), action
    clash = sdk.error("CreateSecret", SecretName=name, VersionId="v1", SecretData="x")
    assert (clash.status, clash.code) == (409, "Rejected.ResourceInDeleteWindow")
    assert name == sdk.call("RestoreSecret", SecretName=name)["SecretName"]
    assert _get(sdk, name)["SecretData"] == "v1-data"
    again = sdk.error("RestoreSecret", SecretName=name)
    assert (again.status, again.code) == (409, "Rejected.ResourceInUse")


def test_recovery_window_bounds(sdk: SDK) -> None:
    """RecoveryWindowInDays is 7 to 30 and cannot come with ForceDeleteWithoutRecovery=true."""
    name = _name()
    _create(sdk, name)
    for bad in ("6", "31"):
        assert sdk.error("DeleteSecret", SecretName=name, RecoveryWindowInDays=bad).code == "InvalidParameter"
    both = sdk.error("DeleteSecret", SecretName=name, RecoveryWindowInDays="7", ForceDeleteWithoutRecovery="true")
    assert both.code == "InvalidParameter"
    answer = sdk.call("DeleteSecret", SecretName=name, RecoveryWindowInDays="7")
    described = sdk.call("DescribeSecret", SecretName=name)
    assert answer["PlannedDeleteTime"] == described["PlannedDeleteTime"]


def test_force_delete_frees_the_name(sdk: SDK) -> None:
    """ForceDeleteWithoutRecovery deletes at once (also a scheduled secret); the name can be used again."""
    name = _name()
    _create(sdk, name, "old")
    sdk.call("DeleteSecret", SecretName=name)
    sdk.call("DeleteSecret", SecretName=name, ForceDeleteWithoutRecovery="true")
    assert sdk.error("DescribeSecret", SecretName=name).code == "Forbidden.ResourceNotFound"
    _create(sdk, name, "new")
    assert (_get(sdk, name)["SecretData"], _get(sdk, name)["VersionId"]) == ("new", "v1")


# -- the CMK ---------------------------------------------------------------------------------------


def test_own_cmk_and_its_state(sdk: SDK) -> None:
    """A secret under EncryptionKeyId is unreadable while that key is Disabled (409 Rejected.Disabled)."""
    key_id = new_key(sdk)
    name = _name()
    _create(sdk, name, EncryptionKeyId=key_id)
    assert key_id == sdk.call("DescribeSecret", SecretName=name)["EncryptionKeyId"]
    sdk.call("DisableKey", KeyId=key_id)
    for action, extra in [("GetSecretValue", {}), ("PutSecretValue", {"VersionId": "v2", "SecretData": "x"})]:
        error = sdk.error(action, SecretName=name, **extra)
        assert (error.status, error.code) == (409, "Rejected.Disabled"), action
    refused = sdk.error("CreateSecret", SecretName=_name(), VersionId="v1", SecretData="x", EncryptionKeyId=key_id)
    assert (refused.status, refused.code) == (409, "Rejected.Disabled")
    sdk.call("EnableKey", KeyId=key_id)
    assert _get(sdk, name)["SecretData"] == "v1-data"
    sdk.call("ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    assert sdk.error("GetSecretValue", SecretName=name).code == "Rejected.PendingDeletion"


def test_default_key_is_service_managed(sdk: SDK) -> None:
    """Without EncryptionKeyId a secret is sealed under one default key whose CreatorType is Service."""
    first, second = _name(), _name()
    _create(sdk, first)
    _create(sdk, second)
    key_id = sdk.call("DescribeSecret", SecretName=first)["EncryptionKeyId"]
    assert key_id == sdk.call("DescribeSecret", SecretName=second)["EncryptionKeyId"]
    service_keys = sdk.call("ListKeys", Filters='[{"Key":"CreatorType","Values":["Service"]}]', PageSize=100)
    assert [key_id] == [k["KeyId"] for k in service_keys["Keys"]["Key"]]


def test_encryption_key_must_be_symmetric(sdk: SDK) -> None:
    """An asymmetric EncryptionKeyId is refused (400), an unknown one is 404 Forbidden.KeyNotFound."""
    unknown = sdk.error("CreateSecret", SecretName=_name(), VersionId="v1", SecretData="x", EncryptionKeyId=str(uuid.uuid4()))
    assert (unknown.status, unknown.code) == (404, "Forbidden.KeyNotFound")
    rsa = new_key(sdk, "RSA_2048", KeyUsage="ENCRYPT/DECRYPT")
    asymmetric = sdk.error("CreateSecret", SecretName=_name(), VersionId="v1", SecretData="x", EncryptionKeyId=rsa)
    assert (asymmetric.status, asymmetric.code) == (400, "Rejected.UnsupportedOperation")


# -- batch, dry run, recipient, passwords -------------------------------------------------------------


def test_batch_get_secret_value(server: ServerProcess) -> None:
    """BatchGetSecretValue answers each found secret and reports the others in Errors."""
    sdk = SDK("tea", server.endpoint)
    names = [_name(), _name()]
    for name in names:
        _create(sdk, name, f"value of {name}")
    sdk.call("DeleteSecret", SecretName=names[1])
    missing = _name("missing")
    client = tea_client(server.endpoint)
    items = [m.BatchGetSecretValueRequestSecretsList(secret_name=n) for n in [names[0], names[1], missing]]
    body = client.batch_get_secret_value(m.BatchGetSecretValueRequest(secrets_list=items)).body
    assert [(names[0], f"value of {names[0]}", ["ACSCurrent"])] == [
        (v.secret_name, v.secret_data, v.version_stages.version_stage) for v in body.secret_values
    ]
    assert [
        (names[1], "Rejected.ResourceInDeleteWindow", 409),
        (missing, "Forbidden.ResourceNotFound", 404),
    ] == [(e.secret_name, e.code, e.http_status) for e in body.errors]


def test_batch_refuses_more_than_twenty(raw: RawSigner) -> None:
    """SecretsList holds at most 20 secrets."""
    items = json.dumps([{"SecretName": f"s{i}"} for i in range(21)])
    answer = raw.v1("BatchGetSecretValue", {"SecretsList": items})
    assert (answer.status, answer.json()["Code"]) == (400, "InvalidParameter")


def test_dry_run_and_recipient(sdk: SDK) -> None:
    """DryRun=true checks everything and answers DryRunOperationError; Recipient is not supported."""
    name = _name()
    _create(sdk, name)
    dry = sdk.error("GetSecretValue", SecretName=name, DryRun="true")
    assert (dry.status, dry.code) == (400, "DryRunOperationError")
    if sdk.name == "tea":  # the old SDK has no Recipient
        assert sdk.error("GetSecretValue", SecretName=name, Recipient="x").code == "UnsupportedOperation"


def test_random_password(sdk: SDK) -> None:
    """GetRandomPassword honours the length and every exclusion, and includes each remaining class."""
    default = sdk.call("GetRandomPassword")["RandomPassword"]
    assert len(default) == 32
    answer = sdk.call(
        "GetRandomPassword", PasswordLength="12", ExcludePunctuation="true", ExcludeUppercase="true",
        ExcludeCharacters="abcdef0123", RequireEachIncludedType="true",
    )
    password = answer["RandomPassword"]
    assert len(password) == 12
    assert set(password) <= set("ghijklmnopqrstuvwxyz456789")
    assert any(c.isdigit() for c in password) and any(c.isalpha() for c in password)
    for bad in ("7", "129"):
        assert sdk.error("GetRandomPassword", PasswordLength=bad).code == "InvalidParameter"
    everything = sdk.error(
        "GetRandomPassword", ExcludeLowercase="true", ExcludeUppercase="true", ExcludeNumbers="true",
        ExcludePunctuation="true",
    )
    assert (everything.status, everything.code) == (400, "InvalidParameter")


def test_tag_actions_reach_secrets(server: ServerProcess) -> None:
    """Tags given at CreateSecret and by TagResources/UntagResources (ResourceType secret) are the
    same rows: DescribeSecret and ListSecrets filters see them."""
    sdk = SDK("tea", server.endpoint)
    name = _name("tagged")
    _create(sdk, name, Tags='[{"TagKey":"team","TagValue":"core"}]')
    client = tea_client(server.endpoint)
    marker = uuid.uuid4().hex[:10]
    client.tag_resources(
        m.TagResourcesRequest(resource_type="secret", resource_id=[name], tag=[m.TagResourcesRequestTag(key="run", value=marker)])
    )
    client.untag_resources(m.UntagResourcesRequest(resource_type="secret", resource_id=[name], tag_key=["team"]))
    described = sdk.call("DescribeSecret", SecretName=name, FetchTags="true")
    assert described["Tags"]["Tag"] == [{"TagKey": "run", "TagValue": marker}]
    listed = sdk.call("ListSecrets", Filters=json.dumps([{"Key": "TagValue", "Values": [marker]}]))
    assert [s["SecretName"] for s in listed["SecretList"]["Secret"]] == [name]
