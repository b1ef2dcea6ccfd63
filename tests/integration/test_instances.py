"""KMS instances and application access through both official SDKs (the old SDK where it has the
request class): every action of groups J and K, their list shapes and typed fields, the
reference's codes for bad input and conflicts, RAM authorization of the new actions, DKMSInstanceId
on CreateKey and CreateSecret with the instance's quotas, and `openkms instance`.

The server is shared by the session: every name here is made unique."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
from typing import Any

import pytest
from alibabacloud_ram20150501 import models as r
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.support.calls import SDK
from tests.support.clients import ram_client
from tests.support.server import CLI, ServerProcess

REGION = "cn-hangzhou"
KEY_USER = "RbacPermission/Template/CryptoServiceKeyUser"
SECRET_USER = "RbacPermission/Template/CryptoServiceSecretUser"


def _name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def make_instance(server: ServerProcess, *flags: str, account: str | None = None) -> str:
    """`openkms instance create` over the server's store; the new instance's id."""
    args = [*CLI, "instance", "create", "--name", _name("inst"), *flags, *server.store_args]
    if account is not None:
        args += ["--account", account]
    out = subprocess.run(args, env=server.env, check=True, capture_output=True, text=True, timeout=60).stdout
    instance_id = out.split("\t")[0]
    assert instance_id.startswith("kst-hzz"), out
    return instance_id


def _uid(server: ServerProcess) -> str:
    return str(server.query("SELECT value FROM meta WHERE name = 'account_id'")[0][0])


@pytest.fixture(params=["tea", "old"])
def sdk(request: pytest.FixtureRequest, server: ServerProcess) -> SDK:
    return SDK(request.param, server.endpoint)


@pytest.fixture
def tea(server: ServerProcess) -> SDK:
    return SDK("tea", server.endpoint)


# -- instances ----------------------------------------------------------------------------------


def test_cli_create_and_list(server: ServerProcess) -> None:
    made = make_instance(server, "--spec", "2000", "--key-num", "7", "--secret-num", "3")
    listed = subprocess.run(
        [*CLI, "instance", "list", *server.store_args],
        env=server.env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    line = next(row for row in listed.splitlines() if row.startswith(made))
    assert "\tConnected\tspec 2000\tkeys 7\tsecrets 3\t" in line
    bad = subprocess.run(
        [*CLI, "instance", "create", "--name", "x", "--key-num", "0", *server.store_args],
        env=server.env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "KeyNum" in bad.stderr


def test_get_and_list_instances(server: ServerProcess, sdk: SDK) -> None:
    made = make_instance(server, "--spec", "1000", "--key-num", "5", "--secret-num", "2")
    got = sdk.call("GetKmsInstance", KmsInstanceId=made)["KmsInstance"]
    assert got["InstanceId"] == made and got["Status"] == "Connected"
    assert (got["Spec"], got["KeyNum"], got["SecretNum"], got["VpcNum"]) == (1000, 5, "2", 1)
    assert got["DeletionProtection"] is False and got["BindVpcs"] == {"BindVpc": []}
    assert got["VswitchIds"] == [] and got["ZoneIds"] == [] and got["CreateTime"].endswith("Z")
    listed: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = sdk.call("ListKmsInstances", PageNumber=page, PageSize=100)
        assert (answer["PageNumber"], answer["PageSize"]) == (page, 100)
        listed += answer["KmsInstances"]["KmsInstance"]
        if len(listed) >= answer["TotalCount"]:
            break
        page += 1
    assert {
        "KmsInstanceId": made,
        "KmsInstanceArn": f"acs:kms:{REGION}:{_uid(server)}:keystore/{made}",
    } in listed
    assert (
        sdk.error("GetKmsInstance", KmsInstanceId="kst-hzznothere").code == "Forbidden.DKMSInstanceNotFound"
    )
    assert sdk.error("GetKmsInstance", KmsInstanceId="kst-hzznothere").status == 403
    assert sdk.error("ListKmsInstances", PageSize=101).code == "InvalidParameter"


def test_connect_and_bind_vpcs(server: ServerProcess, sdk: SDK) -> None:
    made = make_instance(server, "--no-connect", "--vpc-num", "2")
    assert sdk.call("GetKmsInstance", KmsInstanceId=made)["KmsInstance"]["Status"] == "Uninitialized"
    key_error = sdk.error("CreateKey", DKMSInstanceId=made)
    assert (key_error.code, key_error.status) == ("Forbidden.DKMSInstanceStateInvalid", 403)
    sdk.call(
        "ConnectKmsInstance",
        KmsInstanceId=made,
        KMProvider="Aliyun",
        VpcId="vpc-1",
        VSwitchIds="vsw-1",
        ZoneIds="cn-hangzhou-k,cn-hangzhou-j",
    )
    got = sdk.call("GetKmsInstance", KmsInstanceId=made)["KmsInstance"]
    assert (got["Status"], got["VpcId"], got["VswitchIds"], got["ZoneIds"]) == (
        "Connected",
        "vpc-1",
        ["vsw-1"],
        ["cn-hangzhou-k", "cn-hangzhou-j"],
    )
    again = sdk.error(
        "ConnectKmsInstance", KmsInstanceId=made, KMProvider="Aliyun", VpcId="v", VSwitchIds="s", ZoneIds="z"
    )
    assert again.code == "Forbidden.DKMSInstanceStateInvalid"
    vpcs = [{"VpcId": "vpc-a", "VSwitchId": "vsw-a", "RegionId": REGION, "VpcOwnerId": 1234567890}]
    sdk.call("UpdateKmsInstanceBindVpc", KmsInstanceId=made, BindVpcs=json.dumps(vpcs))
    bound = sdk.call("GetKmsInstance", KmsInstanceId=made)["KmsInstance"]["BindVpcs"]["BindVpc"]
    assert bound == [{"VpcId": "vpc-a", "VSwitchId": "vsw-a", "RegionId": REGION, "VpcOwnerId": "1234567890"}]
    three = json.dumps([{"VpcId": f"vpc-{n}"} for n in range(3)])
    assert (
        sdk.error("UpdateKmsInstanceBindVpc", KmsInstanceId=made, BindVpcs=three).code
        == "Rejected.LimitExceeded"
    )
    assert sdk.error("UpdateKmsInstanceBindVpc", KmsInstanceId=made, BindVpcs="{").code == "InvalidParameter"


def test_instance_actions_only_in_the_tea_sdk(server: ServerProcess, tea: SDK) -> None:
    """GetKmsInstanceQuotaInfos, GetDefaultKmsInstance and ReleaseKmsInstance (the old SDK has none)."""
    made = make_instance(server, "--key-num", "1", "--secret-num", "1")
    infos = tea.call("GetKmsInstanceQuotaInfos", KmsInstanceId=made)
    assert infos["KmsInstanceId"] == made
    by_type = {
        q["ResourceType"]: (q["ResourceQuota"], q["UsedQuantity"]) for q in infos["KmsInstanceQuotaInfos"]
    }
    assert by_type == {"key": (1, 0), "secret": (1, 0), "qps": (1000, 0), "vpc": (1, 0)}
    assert tea.call("GetDefaultKmsInstance")["DefaultKmsInstanceId"] == ""
    key_id = tea.call("CreateKey", DKMSInstanceId=made)["KeyMetadata"]["KeyId"]
    only_keys = tea.call("GetKmsInstanceQuotaInfos", KmsInstanceId=made, ResourceType="key")
    assert only_keys["KmsInstanceQuotaInfos"] == [
        {"ResourceType": "key", "ResourceQuota": 1, "UsedQuantity": 1}
    ]
    assert (
        tea.error("GetKmsInstanceQuotaInfos", KmsInstanceId=made, ResourceType="cpu").code
        == "InvalidParameter"
    )
    held = tea.error("ReleaseKmsInstance", KmsInstanceId=made)
    assert (held.code, held.status) == ("Rejected.ResourceInUse", 409)
    # Deletion protection of the instance (SetDeletionProtection's KmsInstanceId).
    tea.call("ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    pending = tea.call("GetKmsInstanceQuotaInfos", KmsInstanceId=made, ResourceType="key")
    assert pending["KmsInstanceQuotaInfos"][0]["UsedQuantity"] == 1  # a key pending deletion holds its quota
    other = make_instance(server)
    tea.call(
        "SetDeletionProtection",
        KmsInstanceId=other,
        EnableDeletionProtection=True,
        DeletionProtectionDescription="keep",
    )
    got = tea.call("GetKmsInstance", KmsInstanceId=other)["KmsInstance"]
    assert (got["DeletionProtection"], got["DeletionProtectionDescription"]) == (True, "keep")
    assert tea.error("ReleaseKmsInstance", KmsInstanceId=other).code == "Rejected.StateModifiedFailed"
    tea.call("SetDeletionProtection", KmsInstanceId=other, EnableDeletionProtection=False)
    tea.call("ReleaseKmsInstance", KmsInstanceId=other, ForceDeleteWithoutBackup="true")
    assert tea.error("GetKmsInstance", KmsInstanceId=other).code == "Forbidden.DKMSInstanceNotFound"


# -- DKMSInstanceId on keys and secrets -------------------------------------------------------


def test_keys_and_secrets_in_an_instance(server: ServerProcess, sdk: SDK) -> None:
    made = make_instance(server, "--key-num", "2", "--secret-num", "1")
    key = sdk.call("CreateKey", DKMSInstanceId=made, Description="in an instance")["KeyMetadata"]
    assert key["DKMSInstanceId"] == made
    assert sdk.call("DescribeKey", KeyId=key["KeyId"])["KeyMetadata"]["DKMSInstanceId"] == made
    plain = sdk.call("CreateKey")["KeyMetadata"]
    assert plain["DKMSInstanceId"] == ""
    filtered = sdk.call("ListKeys", Filters=json.dumps([{"Key": "DKMSInstanceId", "Values": [made]}]))
    assert [k["KeyId"] for k in filtered["Keys"]["Key"]] == [key["KeyId"]]
    second = sdk.call("CreateKey", DKMSInstanceId=made)["KeyMetadata"]["KeyId"]
    full = sdk.error("CreateKey", DKMSInstanceId=made)
    assert (full.code, full.status) == ("Rejected.LimitExceeded", 400)
    missing = sdk.error("CreateKey", DKMSInstanceId="kst-hzznothere")
    assert (missing.code, missing.status) == ("Forbidden.DKMSInstanceNotFound", 403)

    name = _name("sec")
    params = {"SecretName": name, "SecretData": "v", "VersionId": "v1", "DKMSInstanceId": made}
    assert sdk.error("CreateSecret", **params).code == "InvalidParameter"  # no key of the instance
    assert sdk.error("CreateSecret", EncryptionKeyId=plain["KeyId"], **params).code == "InvalidParameter"
    created = sdk.call("CreateSecret", EncryptionKeyId=key["KeyId"], **params)
    assert created["DKMSInstanceId"] == made
    assert sdk.call("DescribeSecret", SecretName=name)["DKMSInstanceId"] == made
    listed = sdk.call("ListSecrets", Filters=json.dumps([{"Key": "DKMSInstanceId", "Values": [made]}]))
    assert [s["SecretName"] for s in listed["SecretList"]["Secret"]] == [name]
    assert sdk.call("GetSecretValue", SecretName=name)["SecretData"] == "v"
    again = sdk.error("CreateSecret", EncryptionKeyId=second, **{**params, "SecretName": _name("sec")})
    assert again.code == "Rejected.LimitExceeded"
    # Keys without an instance work as before.
    blob = sdk.call("Encrypt", KeyId=plain["KeyId"], Plaintext="aGk=")["CiphertextBlob"]
    assert sdk.call("Decrypt", CiphertextBlob=blob)["Plaintext"] == "aGk="


# -- network rules, policies, access points, client keys ---------------------------------------


def test_network_rules(server: ServerProcess, sdk: SDK) -> None:
    name = _name("net")
    made = sdk.call(
        "CreateNetworkRule",
        Name=name,
        Type="Private",
        SourcePrivateIp='["10.0.0.1","192.168.0.0/24"]',
        Description="d",
    )
    arn = f"acs:kms:{REGION}:{_uid(server)}:network/{name}"
    assert made == {**made, "Arn": arn, "Name": name, "Type": "Private", "Description": "d"}
    assert json.loads(made["SourcePrivateIp"]) == ["10.0.0.1/32", "192.168.0.0/24"]
    sdk.call("UpdateNetworkRule", Name=name, SourcePrivateIp="10.1.0.0/16,10.2.0.1")
    got = sdk.call("DescribeNetworkRule", Name=name)
    assert (got["Arn"], got["Type"], json.loads(got["SourcePrivateIp"])) == (
        arn,
        "Private",
        ["10.1.0.0/16", "10.2.0.1/32"],
    )
    rows = sdk.call("ListNetworkRules", PageSize=100)
    assert (
        rows["PageSize"] == 100 and {"Name": name, "Type": "Private"} in rows["NetworkRules"]["NetworkRule"]
    )
    taken = sdk.error("CreateNetworkRule", Name=name, Type="Private", SourcePrivateIp="10.0.0.1")
    assert (taken.code, taken.status) == ("Rejected.ResourceExist", 409)
    assert sdk.error("CreateNetworkRule", Name=_name("n"), Type="Public").code == "InvalidParameter"
    bad_ip = sdk.error("CreateNetworkRule", Name=_name("n"), Type="Private", SourcePrivateIp="10.0.0.300")
    assert bad_ip.code == "InvalidParameter"
    assert sdk.error("CreateNetworkRule", Type="Private").code == "MissingParameter"
    sdk.call("DeleteNetworkRule", Name=name)
    gone = sdk.error("DescribeNetworkRule", Name=name)
    assert (gone.code, gone.status) == ("Forbidden.ResourceNotFound", 404)


def _chain(sdk: SDK, instance_id: str) -> tuple[str, str, str]:
    """A network rule, a key-user policy on key/* naming it, and an AAP attaching the policy."""
    rule, policy, aap = _name("net"), _name("pol"), _name("aap")
    sdk.call("CreateNetworkRule", Name=rule, Type="Private", SourcePrivateIp='["10.0.0.0/8"]')
    sdk.call(
        "CreatePolicy",
        Name=policy,
        KmsInstance=instance_id,
        Permissions=json.dumps([KEY_USER]),
        Resources='["key/*"]',
        AccessControlRules=json.dumps({"NetworkRules": [rule]}),
    )
    sdk.call(
        "CreateApplicationAccessPoint",
        Name=aap,
        AuthenticationMethod="ClientKey",
        Policies=json.dumps([policy]),
    )
    return rule, policy, aap


def test_policies_and_access_points(server: ServerProcess, sdk: SDK) -> None:
    made = make_instance(server)
    rule, policy, aap = _chain(sdk, made)
    uid = _uid(server)
    got = sdk.call("DescribePolicy", Name=policy)
    assert got["Arn"] == f"acs:kms:{REGION}:{uid}:policy/{policy}"
    assert (got["KmsInstance"], got["Permissions"], got["Resources"]) == (made, [KEY_USER], ["key/*"])
    assert json.loads(got["AccessControlRules"]) == {"NetworkRules": [rule]}
    sdk.call(
        "UpdatePolicy", Name=policy, Permissions=json.dumps([KEY_USER, SECRET_USER]), Resources='["secret/*"]'
    )
    assert sdk.call("DescribePolicy", Name=policy)["Resources"] == ["secret/*"]
    assert {"Name": policy} in sdk.call("ListPolicies", PageSize=100)["Policies"]["Policy"]

    point = sdk.call("DescribeApplicationAccessPoint", Name=aap)
    assert point["Arn"] == f"acs:kms:{REGION}:{uid}:applicationaccesspoint/{aap}"
    assert (point["AuthenticationMethod"], json.loads(point["Policies"])) == ("ClientKey", [policy])
    sdk.call("UpdateApplicationAccessPoint", Name=aap, Description="new")
    assert sdk.call("DescribeApplicationAccessPoint", Name=aap)["Description"] == "new"
    listed = sdk.call("ListApplicationAccessPoints", PageSize=100)["ApplicationAccessPoints"][
        "ApplicationAccessPoint"
    ]
    assert {"Name": aap, "AuthenticationMethod": "ClientKey"} in listed

    # Bad input and conflicts.
    assert (
        sdk.error(
            "CreatePolicy", Name=_name("p"), KmsInstance=made, Permissions='["Admin"]', Resources='["key/*"]'
        ).code
        == "InvalidParameter"
    )
    assert (
        sdk.error(
            "CreatePolicy",
            Name=_name("p"),
            KmsInstance=made,
            Permissions=json.dumps([KEY_USER]),
            Resources='["alias/*"]',
        ).code
        == "InvalidParameter"
    )
    assert (
        sdk.error(
            "CreatePolicy",
            Name=_name("p"),
            KmsInstance=made,
            Permissions=json.dumps([KEY_USER]),
            Resources='["key/*"]',
            AccessControlRules='{"NetworkRules":["nope"]}',
        ).code
        == "InvalidParameter"
    )
    assert (
        sdk.error(
            "CreatePolicy",
            Name=_name("p"),
            KmsInstance="kst-hzznothere",
            Permissions=json.dumps([KEY_USER]),
            Resources='["key/*"]',
        ).code
        == "Forbidden.DKMSInstanceNotFound"
    )
    assert (
        sdk.error(
            "CreatePolicy",
            Name=policy,
            KmsInstance=made,
            Permissions=json.dumps([KEY_USER]),
            Resources='["key/*"]',
        ).code
        == "Rejected.ResourceExist"
    )
    assert (
        sdk.error("CreateApplicationAccessPoint", Name=_name("a"), Policies='["nope"]').code
        == "InvalidParameter"
    )
    four = json.dumps([policy, "b", "c", "d"])
    assert (
        sdk.error("CreateApplicationAccessPoint", Name=_name("a"), Policies=four).code == "InvalidParameter"
    )
    assert sdk.error("DeleteNetworkRule", Name=rule).code == "Rejected.ResourceInUse"
    assert sdk.error("DeletePolicy", Name=policy).code == "Rejected.ResourceInUse"
    sdk.call("DeleteApplicationAccessPoint", Name=aap)
    sdk.call("DeletePolicy", Name=policy)
    sdk.call("DeleteNetworkRule", Name=rule)
    assert sdk.error("DescribePolicy", Name=policy).code == "Forbidden.ResourceNotFound"
    assert sdk.error("DescribeApplicationAccessPoint", Name=aap).code == "Forbidden.ResourceNotFound"


def test_client_keys(server: ServerProcess, sdk: SDK) -> None:
    made = make_instance(server)
    _, _, aap = _chain(sdk, made)
    answer = sdk.call(
        "CreateClientKey",
        AapName=aap,
        Password="pass-Word_1",
        NotBefore="2026-01-01T00:00:00Z",
        NotAfter="2031-01-01T00:00:00Z",
    )
    client_key_id = answer["ClientKeyId"]
    assert client_key_id.startswith("KAAP.") and answer["KeyAlgorithm"] == "RSA_2048"
    assert (answer["NotBefore"], answer["NotAfter"]) == ("2026-01-01T00:00:00Z", "2031-01-01T00:00:00Z")
    # The client key file the instance SDKs read: KeyId and PrivateKeyData, opened with the password.
    private, cert, _ = pkcs12.load_key_and_certificates(
        base64.b64decode(answer["PrivateKeyData"]), b"pass-Word_1"
    )
    assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 2048
    assert isinstance(cert, x509.Certificate)
    assert cert.subject.rfc4514_string() == f"CN={client_key_id}"

    got = sdk.call("GetClientKey", ClientKeyId=client_key_id)
    assert (got["AapName"], got["KeyOrigin"], got["KeyAlgorithm"]) == (aap, "KMS_PROVIDED", "RSA_2048")
    public = serialization.load_pem_public_key(got["PublicKeyData"].encode())
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(
        private.sign(b"m", padding.PKCS1v15(), hashes.SHA256()), b"m", padding.PKCS1v15(), hashes.SHA256()
    )
    assert "PrivateKeyData" not in got
    listed = sdk.call("ListClientKeys", AapName=aap)["ClientKeys"]
    assert [k["ClientKeyId"] for k in listed] == [client_key_id]
    assert client_key_id in [k["ClientKeyId"] for k in sdk.call("ListClientKeys")["ClientKeys"]]
    # The private key is stored nowhere: the row holds the public key and certificate only.
    row = server.query(f"SELECT * FROM client_keys WHERE client_key_id = '{client_key_id}'")[0]
    d = private.private_numbers().d.to_bytes(256, "big")[:32]  # the private exponent
    assert all(d not in bytes(v) for v in row if isinstance(v, bytes | memoryview))

    assert sdk.error("CreateClientKey", AapName=aap, Password="short").code == "InvalidParameter"
    assert sdk.error("CreateClientKey", AapName=aap, Password="onlyletters").code == "InvalidParameter"
    assert (
        sdk.error(
            "CreateClientKey", AapName=aap, Password="pass-Word_1", NotBefore="2026-01-01T00:00:00Z"
        ).code
        == "InvalidParameter"
    )
    assert (
        sdk.error("CreateClientKey", AapName="nope", Password="pass-Word_1").code
        == "Forbidden.ResourceNotFound"
    )
    assert sdk.error("DeleteApplicationAccessPoint", Name=aap).code == "Rejected.ResourceInUse"
    sdk.call("DeleteClientKey", ClientKeyId=client_key_id)
    assert sdk.error("GetClientKey", ClientKeyId=client_key_id).code == "Forbidden.ResourceNotFound"
    assert sdk.error("DeleteClientKey", ClientKeyId=client_key_id).code == "Forbidden.ResourceNotFound"


# -- authorization and tenancy -----------------------------------------------------------------


def test_ram_users_need_the_new_permissions(server: ServerProcess) -> None:
    made = make_instance(server)
    ram = ram_client(server.endpoint)
    user = _name("u")
    ram.create_user(r.CreateUserRequest(user_name=user))
    ak = ram.create_access_key(r.CreateAccessKeyRequest(user_name=user)).body.access_key
    policy = _name("p").replace("_", "-")
    document = {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": ["kms:GetKmsInstance"], "Resource": f"acs:kms:*:*:keystore/{made}"},
            {
                "Effect": "Allow",
                "Action": ["kms:CreateNetworkRule", "kms:DescribeNetworkRule"],
                "Resource": "acs:kms:*:*:network/allowed*",
            },
        ],
    }
    ram.create_policy(r.CreatePolicyRequest(policy_name=policy, policy_document=json.dumps(document)))
    ram.attach_policy_to_user(
        r.AttachPolicyToUserRequest(policy_type="Custom", policy_name=policy, user_name=user)
    )
    client = SDK("tea", server.endpoint, ak.access_key_id, ak.access_key_secret)
    assert client.call("GetKmsInstance", KmsInstanceId=made)["KmsInstance"]["InstanceId"] == made
    other = make_instance(server)
    refused = client.error("GetKmsInstance", KmsInstanceId=other)
    assert (refused.code, refused.status) == ("Forbidden.NoPermission", 403)
    assert client.error("ListKmsInstances").code == "Forbidden.NoPermission"
    client.call("CreateNetworkRule", Name=_name("allowed"), Type="Private", SourcePrivateIp="10.0.0.1")
    assert (
        client.error("CreateNetworkRule", Name=_name("other"), Type="Private").code
        == "Forbidden.NoPermission"
    )
    assert client.error("ListClientKeys").code == "Forbidden.NoPermission"
    assert client.error("CreateKey", DKMSInstanceId=made).code == "Forbidden.NoPermission"


def test_another_account_s_instance_is_not_found(server: ServerProcess) -> None:
    b_uid, b_ak, b_secret = server.new_account(_name("b"))
    theirs = make_instance(server, account=b_uid)
    mine = SDK("tea", server.endpoint)
    assert mine.error("GetKmsInstance", KmsInstanceId=theirs).code == "Forbidden.DKMSInstanceNotFound"
    assert mine.error("CreateKey", DKMSInstanceId=theirs).code == "Forbidden.DKMSInstanceNotFound"
    b = SDK("tea", server.endpoint, b_ak, b_secret)
    assert b.call("GetKmsInstance", KmsInstanceId=theirs)["KmsInstance"]["InstanceId"] == theirs
    assert b.call("CreateKey", DKMSInstanceId=theirs)["KeyMetadata"]["DKMSInstanceId"] == theirs
