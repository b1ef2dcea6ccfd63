"""Tenancy through both official SDKs: two accounts on one server, A (made by `openkms init`)
and B (made by `openkms account create`). Nothing of A is visible to B: B's listings hold only
its own keys, aliases, secrets and tags; A's bare KeyId is not found in B's namespace (404); A's
key, alias and secret ARNs, and A's ciphertexts, are a cross-account use that nothing grants
(403 Forbidden.NoPermission, whether the resource exists or not). Names are per account, and
every ARN names its owner."""

from __future__ import annotations

import json
import secrets
import subprocess
from dataclasses import dataclass

import pytest
from alibabacloud_kms20160120 import models as m
from alibabacloud_ram20150501 import models as r
from alibabacloud_tea_openapi.exceptions import ClientException

from tests.support.calls import SDK
from tests.support.clients import ram_client, tea_client
from tests.support.server import CLI, ServerProcess

REGION = "cn-hangzhou"
MISSING_KEY = "00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Tenant:
    uid: str
    sdk: SDK


@pytest.fixture(scope="module")
def b_pair(server: ServerProcess) -> tuple[str, str, str]:
    """Account B of the module's server: (uid, AccessKeyId, AccessKeySecret) of its root."""
    return server.new_account("tenant-b")


@pytest.fixture(params=["tea", "old"])
def tenants(
    request: pytest.FixtureRequest, server: ServerProcess, b_pair: tuple[str, str, str]
) -> tuple[Tenant, Tenant]:
    """A and B, each through the official SDK of the test's turn, signed by its root."""
    a_uid = server.query("SELECT value FROM meta WHERE name = 'account_id'")[0][0]
    b_uid, b_ak, b_secret = b_pair
    return Tenant(a_uid, SDK(request.param, server.endpoint)), Tenant(
        b_uid, SDK(request.param, server.endpoint, b_ak, b_secret)
    )


def _key(t: Tenant) -> dict[str, str]:
    return t.sdk.call("CreateKey", Description="tenancy")["KeyMetadata"]  # type: ignore[no-any-return]


def _arn(uid: str, resource: str) -> str:
    return f"acs:kms:{REGION}:{uid}:{resource}"


def _refused(t: Tenant, action: str, **params: str) -> tuple[str, int]:
    error = t.sdk.error(action, **params)
    return error.code, error.status


def _every(t: Tenant, action: str, field: str, item: str, **params: str) -> list[dict[str, str]]:
    """Every row of a paged listing (PageSize 100)."""
    rows: list[dict[str, str]] = []
    page = 1
    while True:
        answer = t.sdk.call(action, PageNumber=page, PageSize=100, **params)
        rows += answer[field][item]
        if len(rows) >= answer["TotalCount"]:
            return rows
        page += 1


def _tagged(t: Tenant, tag: str) -> list[dict[str, str]]:
    """ListTagResources of the keys carrying ``tag`` (value v)."""
    if t.sdk.name == "old":
        answer = t.sdk.call("ListTagResources", ResourceType="key", Tags=[{"Key": tag, "Value": "v"}])
        return answer["TagResources"]["TagResource"]  # type: ignore[no-any-return]
    request = m.ListTagResourcesRequest(
        resource_type="key", tag=[m.ListTagResourcesRequestTag(key=tag, value="v")]
    )
    body = tea_client(t.sdk.endpoint, ak=t.sdk.ak, secret=t.sdk.secret).list_tag_resources(request).body
    return [
        {"ResourceId": r.resource_id, "TagKey": r.tag_key, "TagValue": r.tag_value}
        for r in body.tag_resources.tag_resource
    ]


def test_b_lists_nothing_of_a(tenants: tuple[Tenant, Tenant]) -> None:
    """ListKeys, ListAliases, ListSecrets and ListTagResources of B never show A's key, alias,
    secret or tags, and everything B lists carries B's uid; A still lists its own."""
    a, b = tenants
    tag = f"t{secrets.token_hex(4)}"
    key = _key(a)
    alias = f"alias/tenancy-{secrets.token_hex(4)}"
    name = f"tenancy-{secrets.token_hex(4)}"
    a.sdk.call("CreateAlias", AliasName=alias, KeyId=key["KeyId"])
    a.sdk.call("CreateSecret", SecretName=name, VersionId="v1", SecretData="of A")
    tags = json.dumps([{"TagKey": tag, "TagValue": "v"}])
    a.sdk.call("TagResource", KeyId=key["KeyId"], Tags=tags)
    own = _key(b)["KeyId"]  # B has a key of its own, with the same tag
    b.sdk.call("TagResource", KeyId=own, Tags=tags)

    b_keys = _every(b, "ListKeys", "Keys", "Key")
    assert key["KeyId"] not in {k["KeyId"] for k in b_keys}
    assert b_keys and all(k["KeyArn"] == _arn(b.uid, f"key/{k['KeyId']}") for k in b_keys)
    assert alias not in {x["AliasName"] for x in _every(b, "ListAliases", "Aliases", "Alias")}
    assert name not in {s["SecretName"] for s in _every(b, "ListSecrets", "SecretList", "Secret")}
    assert [(own, tag, "v")] == [(r["ResourceId"], r["TagKey"], r["TagValue"]) for r in _tagged(b, tag)]

    one_key = json.dumps([{"Key": "KeyId", "Values": [key["KeyId"]]}])
    assert [key["KeyId"]] == [k["KeyId"] for k in a.sdk.call("ListKeys", Filters=one_key)["Keys"]["Key"]]
    assert alias in {x["AliasName"] for x in _every(a, "ListAliases", "Aliases", "Alias")}
    one_secret = json.dumps([{"Key": "SecretName", "Values": [name]}])
    assert [name] == [
        s["SecretName"] for s in a.sdk.call("ListSecrets", Filters=one_secret)["SecretList"]["Secret"]
    ]


def test_a_bare_key_id_is_not_found_in_b(tenants: tuple[Tenant, Tenant]) -> None:
    """A bare KeyId resolves in the caller's account: A's id is 404 Forbidden.KeyNotFound for B,
    for reads, uses and changes alike, and A's key is untouched."""
    a, b = tenants
    key_id = _key(a)["KeyId"]
    assert _refused(b, "DescribeKey", KeyId=key_id) == ("Forbidden.KeyNotFound", 404)
    assert _refused(b, "Encrypt", KeyId=key_id, Plaintext="aGk=") == ("Forbidden.KeyNotFound", 404)
    assert _refused(b, "DisableKey", KeyId=key_id) == ("Forbidden.KeyNotFound", 404)
    assert a.sdk.call("DescribeKey", KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_a_arns_are_refused_to_b(tenants: tuple[Tenant, Tenant]) -> None:
    """A's key ARN and alias ARN are a cross-account use nothing grants: 403
    Forbidden.NoPermission for DescribeKey, Encrypt and changes, and the same 403 for an ARN
    of A that names no key (the answer does not tell whether it exists)."""
    a, b = tenants
    key_id = _key(a)["KeyId"]
    alias = f"alias/arn-{secrets.token_hex(4)}"
    a.sdk.call("CreateAlias", AliasName=alias, KeyId=key_id)
    denied = ("Forbidden.NoPermission", 403)
    for ref in (_arn(a.uid, f"key/{key_id}"), _arn(a.uid, alias), _arn(a.uid, f"key/{MISSING_KEY}")):
        assert _refused(b, "DescribeKey", KeyId=ref) == denied
        assert _refused(b, "Encrypt", KeyId=ref, Plaintext="aGk=") == denied
        assert _refused(b, "ScheduleKeyDeletion", KeyId=ref, PendingWindowInDays=7) == denied
    assert a.sdk.call("DescribeKey", KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_the_refusal_carries_an_access_denied_detail(
    server: ServerProcess, b_pair: tuple[str, str, str]
) -> None:
    """The Tea SDK hands B the refusal's AccessDeniedDetail: the action, B as the principal's
    owner, an implicit deny for want of a grant on the owner's side."""
    a = SDK("tea", server.endpoint)
    arn = _key(Tenant("", a))["Arn"]
    client = tea_client(server.endpoint, ak=b_pair[1], secret=b_pair[2])
    with pytest.raises(ClientException) as info:
        client.encrypt(m.EncryptRequest(key_id=arn, plaintext="aGk="))
    detail = info.value.access_denied_detail or {}
    assert (info.value.code, detail.get("AuthAction"), detail.get("AuthPrincipalOwnerId")) == (
        "Forbidden.NoPermission",
        "kms:Encrypt",
        b_pair[0],
    )
    assert (detail.get("NoPermissionType"), detail.get("PolicyType")) == (
        "ImplicitDeny",
        "ResourceBasedPolicy",
    )


def test_a_ciphertext_is_refused_to_b(tenants: tuple[Tenant, Tenant]) -> None:
    """Decrypt and ReEncrypt take the key from the ciphertext: a blob of A's key is a
    cross-account use for B (403); A decrypts it."""
    a, b = tenants
    key_id = _key(a)["KeyId"]
    blob = a.sdk.call("Encrypt", KeyId=key_id, Plaintext="c2VjcmV0")["CiphertextBlob"]
    denied = ("Forbidden.NoPermission", 403)
    assert _refused(b, "Decrypt", CiphertextBlob=blob) == denied
    assert _refused(b, "ReEncrypt", CiphertextBlob=blob, DestinationKeyId=_key(b)["KeyId"]) == denied
    assert a.sdk.call("Decrypt", CiphertextBlob=blob)["Plaintext"] == "c2VjcmV0"


def test_names_are_per_account(tenants: tuple[Tenant, Tenant]) -> None:
    """A and B may both have alias/x and secret x; each resolves to its own, and ARNs name the
    owner."""
    a, b = tenants
    alias = f"alias/shared-{secrets.token_hex(4)}"
    name = f"shared-{secrets.token_hex(4)}"
    mine = {}
    for t in (a, b):
        key_id = _key(t)["KeyId"]
        t.sdk.call("CreateAlias", AliasName=alias, KeyId=key_id)
        made = t.sdk.call("CreateSecret", SecretName=name, VersionId="v1", SecretData=f"of {t.uid}")
        assert made["Arn"] == _arn(t.uid, f"secret/{name}")
        mine[t.uid] = key_id
    for t in (a, b):
        assert t.sdk.call("Encrypt", KeyId=alias, Plaintext="aGk=")["KeyId"] == mine[t.uid]
        assert t.sdk.call("GetSecretValue", SecretName=name)["SecretData"] == f"of {t.uid}"
        assert t.sdk.call("DescribeSecret", SecretName=name)["Arn"] == _arn(t.uid, f"secret/{name}")
        listed = t.sdk.call("ListAliasesByKeyId", KeyId=alias)["Aliases"]["Alias"]
        assert [(alias, _arn(t.uid, alias), mine[t.uid])] == [
            (x["AliasName"], x["AliasArn"], x["KeyId"]) for x in listed
        ]
    assert _refused(b, "GetSecretValue", SecretName=_arn(a.uid, f"secret/{name}")) == (
        "Forbidden.NoPermission",
        403,
    )


def test_b_owns_what_it_makes(tenants: tuple[Tenant, Tenant]) -> None:
    """A key B creates names B in its ARN and Creator, and B uses it by id, alias, key ARN and
    alias ARN; A does not see it."""
    a, b = tenants
    meta = _key(b)
    assert (meta["Arn"], meta["Creator"]) == (_arn(b.uid, f"key/{meta['KeyId']}"), b.uid)
    alias = f"alias/b-{secrets.token_hex(4)}"
    b.sdk.call("CreateAlias", AliasName=alias, KeyId=meta["KeyId"])
    for ref in (meta["KeyId"], alias, meta["Arn"], _arn(b.uid, alias)):
        blob = b.sdk.call("Encrypt", KeyId=ref, Plaintext="aGk=")["CiphertextBlob"]
        assert b.sdk.call("Decrypt", CiphertextBlob=blob)["KeyId"] == meta["KeyId"]
    assert b.sdk.call("DescribeKey", KeyId=meta["Arn"])["KeyMetadata"]["Arn"] == meta["Arn"]
    assert _refused(a, "DescribeKey", KeyId=meta["KeyId"]) == ("Forbidden.KeyNotFound", 404)
    assert _refused(a, "DescribeKey", KeyId=meta["Arn"]) == ("Forbidden.NoPermission", 403)


def test_a_root_still_does_everything_on_its_own(tenants: tuple[Tenant, Tenant]) -> None:
    """A's root manages and uses its keys and secrets by id, alias and ARN as before."""
    a, _ = tenants
    meta = _key(a)
    assert meta["Arn"] == _arn(a.uid, f"key/{meta['KeyId']}")
    alias = f"alias/a-{secrets.token_hex(4)}"
    a.sdk.call("CreateAlias", AliasName=alias, KeyId=meta["Arn"])
    blob = a.sdk.call("Encrypt", KeyId=_arn(a.uid, alias), Plaintext="aGk=")["CiphertextBlob"]
    assert a.sdk.call("Decrypt", CiphertextBlob=blob)["Plaintext"] == "aGk="
    a.sdk.call("UpdateKeyDescription", KeyId=meta["Arn"], Description="mine")
    a.sdk.call("DisableKey", KeyId=alias)
    assert a.sdk.call("DescribeKey", KeyId=meta["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    a.sdk.call("EnableKey", KeyId=meta["Arn"])
    name = f"a-{secrets.token_hex(4)}"
    a.sdk.call("CreateSecret", SecretName=name, VersionId="v1", SecretData="one", EncryptionKeyId=alias)
    a.sdk.call("PutSecretValue", SecretName=_arn(a.uid, f"secret/{name}"), VersionId="v2", SecretData="two")
    assert a.sdk.call("GetSecretValue", SecretName=name)["SecretData"] == "two"
    assert (
        a.sdk.call("DeleteSecret", SecretName=name, ForceDeleteWithoutRecovery="true")["SecretName"] == name
    )


def test_a_secret_name_is_not_found_in_b(tenants: tuple[Tenant, Tenant]) -> None:
    """A secret name resolves in the caller's account: A's name is 404 for B."""
    a, b = tenants
    name = f"only-a-{secrets.token_hex(4)}"
    a.sdk.call("CreateSecret", SecretName=name, VersionId="v1", SecretData="of A")
    assert _refused(b, "GetSecretValue", SecretName=name) == ("Forbidden.ResourceNotFound", 404)
    assert _refused(b, "DescribeSecret", SecretName=name) == ("Forbidden.ResourceNotFound", 404)


def test_tags_of_a_are_out_of_b_reach(tenants: tuple[Tenant, Tenant]) -> None:
    """Tagging A's key by ARN is refused to B (403); by bare id it is not found (404)."""
    a, b = tenants
    key_id = _key(a)["KeyId"]
    tags = json.dumps([{"TagKey": "k", "TagValue": "v"}])
    assert _refused(b, "TagResource", KeyId=_arn(a.uid, f"key/{key_id}"), Tags=tags) == (
        "Forbidden.NoPermission",
        403,
    )
    assert _refused(b, "TagResource", KeyId=key_id, Tags=tags) == ("Forbidden.KeyNotFound", 404)
    assert a.sdk.call("ListResourceTags", KeyId=key_id)["Tags"]["Tag"] == []


def test_account_commands(server: ServerProcess, b_pair: tuple[str, str, str]) -> None:
    """`openkms account list` lists init's account first and B; `account create` takes the root
    pair from the environment, and refuses an AccessKeyId that exists."""
    listed = subprocess.run(
        [*CLI, "account", "list", *server.store_args], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    a_uid = server.query("SELECT value FROM meta WHERE name = 'account_id'")[0][0]
    rows = [line.split("\t") for line in listed]
    assert rows[0][0] == a_uid and rows[0][-1] == "first"
    assert [b_pair[0], "tenant-b"] in [[r[0], r[2]] for r in rows]
    ak = f"LTAItenancy{secrets.token_hex(6)}"
    env = {
        **server.env,
        "OPENKMS_ROOT_ACCESS_KEY_ID": ak,
        "OPENKMS_ROOT_ACCESS_KEY_SECRET": "EnvSecret0123456789abcd",
    }
    made = subprocess.run(
        [*CLI, "account", "create", *server.store_args], env=env, check=True, capture_output=True, text=True
    ).stdout
    assert f"the root AccessKey is {ak}, from the environment" in made
    uid = made.split("created account ")[1].split()[0]
    c = SDK("tea", server.endpoint, ak, "EnvSecret0123456789abcd")
    assert c.call("CreateKey")["KeyMetadata"]["Creator"] == uid
    again = subprocess.run(
        [*CLI, "account", "create", *server.store_args], env=env, capture_output=True, text=True
    )
    assert (again.returncode, again.stderr.strip()) == (1, f"openkms: AccessKey {ak} already exists")


# -- cross-account grants (the access-control reference's cases 31-36) ----------------------------


def _doc(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)})


class Carol:
    """A RAM user of account B with an AccessKey, and account A's key K1 with its policy."""

    def __init__(self, server: ServerProcess, b_pair: tuple[str, str, str]) -> None:
        self.a_root = tea_client(server.endpoint)
        self.a_uid = server.query("SELECT value FROM meta WHERE name = 'account_id'")[0][0]
        self.b_uid, b_ak, b_secret = b_pair
        self.b_ram = ram_client(server.endpoint, b_ak, b_secret)
        self.name = f"carol-{secrets.token_hex(4)}"
        self.b_ram.create_user(r.CreateUserRequest(user_name=self.name))
        pair = self.b_ram.create_access_key(r.CreateAccessKeyRequest(user_name=self.name)).body.access_key
        self.kms = tea_client(server.endpoint, "v3", pair.access_key_id, pair.access_key_secret)
        self.key = self.a_root.create_key(m.CreateKeyRequest()).body.key_metadata.key_id
        self.arn = _arn(self.a_uid, f"key/{self.key}")

    def key_policy(self, *principals: str) -> None:
        """A's key policy: the default statement, plus Encrypt and DisableKey for ``principals``."""
        owner = {
            "Effect": "Allow",
            "Principal": {"RAM": [f"acs:ram::{self.a_uid}:*"]},
            "Action": ["kms:*"],
            "Resource": ["*"],
        }
        grant = {
            "Effect": "Allow",
            "Principal": {"RAM": list(principals)},
            "Action": ["kms:Encrypt", "kms:DisableKey"],
            "Resource": ["*"],
        }
        self.a_root.set_key_policy(
            m.SetKeyPolicyRequest(key_id=self.key, policy_name="default", policy=_doc(owner, grant))
        )

    def ram_policy(self, resource: str) -> None:
        """Carol's own policy in B: Encrypt and DisableKey on ``resource``."""
        name = f"p-{secrets.token_hex(4)}"
        document = _doc(
            {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:DisableKey"], "Resource": resource}
        )
        self.b_ram.create_policy(r.CreatePolicyRequest(policy_name=name, policy_document=document))
        self.b_ram.attach_policy_to_user(
            r.AttachPolicyToUserRequest(policy_type="Custom", policy_name=name, user_name=self.name)
        )

    def encrypt(self, key_id: str | None = None) -> tuple[str, int]:
        try:
            self.kms.encrypt(m.EncryptRequest(key_id=key_id or self.arn, plaintext="aGk="))
        except ClientException as exc:
            return str(exc.code), int(exc.status_code or 0)
        return "", 200

    def disable(self) -> tuple[str, int]:
        try:
            self.kms.disable_key(m.DisableKeyRequest(key_id=self.arn))
        except ClientException as exc:
            return str(exc.code), int(exc.status_code or 0)
        return "", 200


NO = ("Forbidden.NoPermission", 403)


def test_31_neither_side_grants(server: ServerProcess, b_pair: tuple[str, str, str]) -> None:
    assert Carol(server, b_pair).encrypt() == NO


def test_32_the_key_policy_alone_is_not_enough(server: ServerProcess, b_pair: tuple[str, str, str]) -> None:
    c = Carol(server, b_pair)
    c.key_policy(f"acs:ram::{c.b_uid}:user/{c.name}")
    assert c.encrypt() == NO


def test_33_the_callers_policy_alone_is_not_enough(
    server: ServerProcess, b_pair: tuple[str, str, str]
) -> None:
    c = Carol(server, b_pair)
    c.ram_policy(c.arn)
    assert c.encrypt() == NO


def test_34_both_sides_grant_use_never_management(
    server: ServerProcess, b_pair: tuple[str, str, str]
) -> None:
    c = Carol(server, b_pair)
    c.key_policy(f"acs:ram::{c.b_uid}:user/{c.name}")
    c.ram_policy(c.arn)
    assert c.encrypt() == ("", 200)
    assert c.disable() == NO  # granted on both sides, but no management across accounts


def test_35_the_key_policy_may_name_the_whole_account(
    server: ServerProcess, b_pair: tuple[str, str, str]
) -> None:
    c = Carol(server, b_pair)
    c.key_policy(f"acs:ram::{c.b_uid}:*")
    c.ram_policy(c.arn)
    assert c.encrypt() == ("", 200)


def test_36_a_bare_key_id_is_looked_up_in_the_callers_account(
    server: ServerProcess, b_pair: tuple[str, str, str]
) -> None:
    c = Carol(server, b_pair)
    c.key_policy(f"acs:ram::{c.b_uid}:*")
    c.ram_policy(c.arn)
    assert c.encrypt(c.key) == NO  # B's key/<id> is not the ARN carol's policy names
    c.ram_policy("acs:kms:*:*:key/*")
    assert c.encrypt(c.key) == ("Forbidden.KeyNotFound", 404)
