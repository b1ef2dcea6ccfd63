"""Access control enforced, through the official SDKs: the cases of the access-control
reference's test list (§6.5) that act within one account, each numbered as there.

Setup as the reference's: the account's root makes users through the RAM SDK, attaches system
or custom policies, and the users call KMS through the Tea SDK (and the old SDK where said).
Every user is new to its test, so the shared server serves them all.
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as k
from alibabacloud_kms20160120.client import Client as TeaClient
from alibabacloud_ram20150501 import models as r
from alibabacloud_ram20150501.client import Client as RamClient
from aliyunsdkkms.request.v20160120.EncryptRequest import EncryptRequest

from tests.support.clients import OldClient, RawSigner, ram_client, tea_client
from tests.support.sdk_errors import old_error
from tests.support.server import CLI, ServerProcess, running

PLAIN = base64.b64encode(b"secret data").decode()


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)})


def _allow(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def _deny(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


@dataclass
class User:
    name: str
    kms: TeaClient
    old: OldClient


class Account:
    """The account of the shared server's root AccessKey: its RAM client, its root KMS client,
    and users made on demand."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.ram: RamClient = ram_client(server.endpoint)
        self.root = tea_client(server.endpoint)
        self.uid = self.root.describe_key(
            k.DescribeKeyRequest(key_id=self.root.create_key(k.CreateKeyRequest()).body.key_metadata.key_id)
        ).body.key_metadata.arn.split(":")[3]

    def user(self, *system: str, custom: list[str] | None = None) -> User:
        name = f"u-{secrets.token_hex(4)}"
        self.ram.create_user(r.CreateUserRequest(user_name=name))
        ak = self.ram.create_access_key(r.CreateAccessKeyRequest(user_name=name)).body.access_key
        for policy in system:
            self.attach(name, policy, "System")
        for document in custom or []:
            policy = f"p-{secrets.token_hex(4)}"
            self.ram.create_policy(r.CreatePolicyRequest(policy_name=policy, policy_document=document))
            self.attach(name, policy, "Custom")
        return User(
            name,
            tea_client(self.server.endpoint, "v3", ak.access_key_id, ak.access_key_secret),
            OldClient(self.server.endpoint, ak.access_key_id, ak.access_key_secret),
        )

    def attach(self, user: str, policy: str, policy_type: str = "System") -> None:
        self.ram.attach_policy_to_user(
            r.AttachPolicyToUserRequest(policy_type=policy_type, policy_name=policy, user_name=user)
        )

    def key(self, **tags: str) -> str:
        key_id: str = self.root.create_key(k.CreateKeyRequest()).body.key_metadata.key_id
        if tags:
            self.root.tag_resource(
                k.TagResourceRequest(
                    key_id=key_id, tags=json.dumps([{"TagKey": a, "TagValue": b} for a, b in tags.items()])
                )
            )
        return key_id


@pytest.fixture
def acct(server: ServerProcess) -> Iterator[Account]:
    yield Account(server)


def denied(call: Callable[[], object]) -> dict[str, str]:
    """The AccessDeniedDetail of a call the Tea SDK saw refused 403 Forbidden.NoPermission."""
    with pytest.raises(Exception) as caught:
        call()
    exc: Any = caught.value
    assert (exc.code, exc.status_code if hasattr(exc, "status_code") else exc.data["statusCode"]) == (
        "Forbidden.NoPermission",
        403,
    ), exc
    detail = exc.access_denied_detail
    assert isinstance(detail, dict)
    return detail


def encrypt(client: TeaClient, key_id: str) -> str:
    blob: str = client.encrypt(k.EncryptRequest(key_id=key_id, plaintext=PLAIN)).body.ciphertext_blob
    return blob


# -- RAM identity policies ---------------------------------------------------------------------


def test_01_a_user_without_policies_is_refused_with_the_detail(acct: Account) -> None:
    key = acct.key()
    alice = acct.user()
    detail = denied(lambda: encrypt(alice.kms, key))
    assert detail == {
        "AuthAction": "kms:Encrypt",
        "AuthPrincipalType": "SubUser",
        "AuthPrincipalOwnerId": acct.uid,
        "AuthPrincipalDisplayName": alice.name,
        "PolicyType": "AccountLevelIdentityBasedPolicy",
        "NoPermissionType": "ImplicitDeny",
        "EncodedDiagnosticMessage": detail["EncodedDiagnosticMessage"],
    }
    # The old SDK sees the same code and status.
    assert old_error(alice.old, EncryptRequest(), KeyId=key, Plaintext=PLAIN) == (
        "Forbidden.NoPermission",
        403,
    )


def test_02_03_crypto_user_may_encrypt_but_not_create_keys(acct: Account) -> None:
    key = acct.key()
    alice = acct.user("AliyunKMSCryptoUserAccess")
    assert encrypt(alice.kms, key)
    assert alice.old.call(EncryptRequest(), KeyId=key, Plaintext=PLAIN)["KeyId"] == key
    assert denied(lambda: alice.kms.create_key(k.CreateKeyRequest()))["AuthAction"] == "kms:CreateKey"


def test_04_read_only_lists_and_describes(acct: Account) -> None:
    key = acct.key()
    alice = acct.user("AliyunKMSReadOnlyAccess")
    assert alice.kms.list_keys(k.ListKeysRequest()).body.total_count >= 1
    assert alice.kms.describe_key(k.DescribeKeyRequest(key_id=key)).body.key_metadata.key_id == key
    assert alice.kms.get_key_policy(k.GetKeyPolicyRequest(key_id=key, policy_name="default")).body.policy
    denied(lambda: encrypt(alice.kms, key))


def test_05_an_explicit_deny_wins(acct: Account) -> None:
    key = acct.key()
    blob = encrypt(acct.root, key)
    alice = acct.user(custom=[_doc(_allow("kms:*"), _deny("kms:Decrypt", f"acs:kms:*:{acct.uid}:key/{key}"))])
    detail = denied(lambda: alice.kms.decrypt(k.DecryptRequest(ciphertext_blob=blob)))
    assert (detail["AuthAction"], detail["NoPermissionType"]) == ("kms:Decrypt", "ExplicitDeny")
    assert encrypt(alice.kms, key)


def test_06_07_an_alias_needs_the_alias_arn_as_well(acct: Account) -> None:
    key = acct.key()
    alias = f"alias/k1-{secrets.token_hex(3)}"
    acct.root.create_alias(k.CreateAliasRequest(alias_name=alias, key_id=key))
    alice = acct.user(custom=[_doc(_allow(["kms:Encrypt"], f"acs:kms:*:{acct.uid}:key/*"))])
    assert encrypt(alice.kms, key)
    denied(lambda: encrypt(alice.kms, alias))
    bob = acct.user(
        custom=[
            _doc(_allow(["kms:Encrypt"], [f"acs:kms:*:{acct.uid}:key/*", f"acs:kms:*:{acct.uid}:alias/*"]))
        ]
    )
    assert encrypt(bob.kms, alias)


def test_08_the_key_container_is_not_matched_by_key_star(acct: Account) -> None:
    alice = acct.user(custom=[_doc(_allow("kms:List*", f"acs:kms:*:{acct.uid}:key/*"))])
    assert denied(lambda: alice.kms.list_keys(k.ListKeysRequest()))["AuthAction"] == "kms:ListKeys"


def test_09_a_tag_condition(acct: Account) -> None:
    apollo, plain = acct.key(Project="Apollo"), acct.key()
    condition = {"StringEqualsIgnoreCase": {"kms:tag/Project": "apollo"}}
    alice = acct.user(custom=[_doc(_allow("kms:Encrypt", Condition=condition))])
    assert encrypt(alice.kms, apollo)
    denied(lambda: encrypt(alice.kms, plain))


def test_10_11_12_source_address_transport_and_time_conditions(acct: Account) -> None:
    key = acct.key()
    far = acct.user(custom=[_doc(_allow("kms:*", Condition={"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}}))])
    near = acct.user(custom=[_doc(_allow("kms:*", Condition={"IpAddress": {"acs:SourceIp": "127.0.0.0/8"}}))])
    denied(lambda: encrypt(far.kms, key))
    assert encrypt(near.kms, key)
    tls = acct.user(custom=[_doc(_allow("kms:*", Condition={"Bool": {"acs:SecureTransport": "true"}}))])
    denied(lambda: encrypt(tls.kms, key))  # the shared server speaks plain HTTP
    past = acct.user(
        custom=[
            _doc(_allow("kms:*", Condition={"DateLessThan": {"acs:CurrentTime": "2000-01-01T00:00:00Z"}}))
        ]
    )
    denied(lambda: encrypt(past.kms, key))


def test_13_not_action(acct: Account) -> None:
    key = acct.key()
    blob = encrypt(acct.root, key)
    alice = acct.user(custom=[_doc({"Effect": "Allow", "NotAction": ["kms:Decrypt"], "Resource": "*"})])
    assert encrypt(alice.kms, key)
    denied(lambda: alice.kms.decrypt(k.DecryptRequest(ciphertext_blob=blob)))


def test_14_the_encryption_algorithm_condition(acct: Account) -> None:
    key = acct.root.create_key(
        k.CreateKeyRequest(key_spec="RSA_2048", key_usage="ENCRYPT/DECRYPT")
    ).body.key_metadata.key_id
    version = acct.root.list_key_versions(k.ListKeyVersionsRequest(key_id=key)).body.key_versions.key_version[
        0
    ]
    condition = {"StringEquals": {"kms:EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}}
    alice = acct.user(custom=[_doc(_allow("kms:AsymmetricEncrypt", Condition=condition))])

    def asym(algorithm: str) -> object:
        return alice.kms.asymmetric_encrypt(
            k.AsymmetricEncryptRequest(
                key_id=key, key_version_id=version.key_version_id, algorithm=algorithm, plaintext=PLAIN
            )
        )

    denied(lambda: asym("RSAES_OAEP_SHA_1"))
    assert asym("RSAES_OAEP_SHA_256")


def test_15_a_secret_under_a_customer_key_needs_decrypt_on_the_key(acct: Account) -> None:
    key = acct.key()
    name = f"s1-{secrets.token_hex(4)}"
    acct.root.create_secret(
        k.CreateSecretRequest(secret_name=name, secret_data="v", version_id="v1", encryption_key_id=key)
    )
    secret_only = _allow(["kms:GetSecretValue"], f"acs:kms:*:{acct.uid}:secret/{name}")
    alice = acct.user(custom=[_doc(secret_only)])
    assert (
        denied(lambda: alice.kms.get_secret_value(k.GetSecretValueRequest(secret_name=name)))["AuthAction"]
        == "kms:Decrypt"
    )
    bob = acct.user(custom=[_doc(secret_only, _allow("kms:Decrypt", f"acs:kms:*:{acct.uid}:key/{key}"))])
    assert bob.kms.get_secret_value(k.GetSecretValueRequest(secret_name=name)).body.secret_data == "v"


def test_16_batch_get_secret_value_needs_every_secret(acct: Account) -> None:
    names = [f"s-{secrets.token_hex(4)}" for _ in range(2)]
    for name in names:
        acct.root.create_secret(k.CreateSecretRequest(secret_name=name, secret_data="v", version_id="v1"))
    alice = acct.user(custom=[_doc(_allow("kms:GetSecretValue", f"acs:kms:*:{acct.uid}:secret/{names[0]}"))])
    denied(
        lambda: alice.kms.batch_get_secret_value(
            k.BatchGetSecretValueRequest(
                secrets_list=[k.BatchGetSecretValueRequestSecretsList(secret_name=n) for n in names]
            )
        )
    )


def test_17_get_random_password_needs_star(acct: Account) -> None:
    alice = acct.user(custom=[_doc(_allow("kms:*", "acs:kms:*:*:secret*"))])
    denied(lambda: alice.kms.get_random_password(k.GetRandomPasswordRequest()))


def test_18_describe_regions_needs_nothing(acct: Account) -> None:
    alice = acct.user()
    assert alice.kms.describe_regions().body.regions.region


def test_20_the_root_is_never_refused_on_its_own_key(acct: Account) -> None:
    key = acct.key()
    root_arn = f"acs:ram::{acct.uid}:root"
    policy = _doc(
        {
            "Effect": "Allow",
            "Principal": {"RAM": [f"acs:ram::{acct.uid}:*"]},
            "Action": ["kms:*"],
            "Resource": ["*"],
        },
        {"Effect": "Deny", "Principal": {"RAM": [root_arn]}, "Action": ["kms:*"], "Resource": ["*"]},
    )
    acct.root.set_key_policy(k.SetKeyPolicyRequest(key_id=key, policy_name="default", policy=policy))
    assert encrypt(acct.root, key)
    acct.root.disable_key(k.DisableKeyRequest(key_id=key))


def test_21_22_a_missing_key_is_403_without_rights_404_with_them(acct: Account) -> None:
    missing = "00000000-0000-4000-8000-000000000099"
    bob = acct.user()
    denied(lambda: bob.kms.describe_key(k.DescribeKeyRequest(key_id=missing)))
    reader = acct.user("AliyunKMSReadOnlyAccess")
    with pytest.raises(Exception) as caught:
        reader.kms.describe_key(k.DescribeKeyRequest(key_id=missing))
    assert (caught.value.code, caught.value.status_code) == ("Forbidden.KeyNotFound", 404)  # type: ignore[attr-defined]


# -- key and secret policies --------------------------------------------------------------------


def test_25_26_a_key_policy_grant_to_a_user_of_the_account(acct: Account) -> None:
    key = acct.key()
    bob = acct.user()
    denied(lambda: encrypt(bob.kms, key))  # the default policy names the account, not its users
    grant = {
        "Effect": "Allow",
        "Principal": {"RAM": [f"acs:ram::{acct.uid}:user/{bob.name}"]},
        "Action": ["kms:Encrypt", "kms:Decrypt"],
        "Resource": ["*"],
    }
    policy = json.loads(
        acct.root.get_key_policy(k.GetKeyPolicyRequest(key_id=key, policy_name="default")).body.policy
    )
    policy["Statement"].append(grant)
    acct.root.set_key_policy(
        k.SetKeyPolicyRequest(key_id=key, policy_name="default", policy=json.dumps(policy))
    )
    assert encrypt(bob.kms, key)
    denied(lambda: bob.kms.disable_key(k.DisableKeyRequest(key_id=key)))


def test_27_a_key_policy_deny_wins_over_full_access(acct: Account) -> None:
    key = acct.key()
    alice = acct.user("AliyunKMSFullAccess")
    assert encrypt(alice.kms, key)
    policy = _doc(
        {
            "Effect": "Allow",
            "Principal": {"RAM": [f"acs:ram::{acct.uid}:*"]},
            "Action": ["kms:*"],
            "Resource": ["*"],
        },
        {
            "Effect": "Deny",
            "Principal": {"RAM": [f"acs:ram::{acct.uid}:user/{alice.name}"]},
            "Action": ["kms:Encrypt"],
            "Resource": ["*"],
        },
    )
    acct.root.set_key_policy(k.SetKeyPolicyRequest(key_id=key, policy_name="default", policy=policy))
    detail = denied(lambda: encrypt(alice.kms, key))
    assert (detail["NoPermissionType"], detail["PolicyType"]) == ("ExplicitDeny", "ResourceBasedPolicy")


def test_30_a_key_policy_cannot_grant_create_key(acct: Account) -> None:
    key = acct.key()
    bob = acct.user()
    policy = _doc(
        {
            "Effect": "Allow",
            "Principal": {"RAM": [f"acs:ram::{acct.uid}:*"]},
            "Action": ["kms:*"],
            "Resource": ["*"],
        },
        {
            "Effect": "Allow",
            "Principal": {"RAM": [f"acs:ram::{acct.uid}:user/{bob.name}"]},
            "Action": ["kms:CreateKey"],
            "Resource": ["*"],
        },
    )
    acct.root.set_key_policy(k.SetKeyPolicyRequest(key_id=key, policy_name="default", policy=policy))
    denied(lambda: bob.kms.create_key(k.CreateKeyRequest()))


def test_policy_changes_take_effect_at_the_next_request(acct: Account) -> None:
    """Attach and detach are writes of the node: its next request decides with them."""
    key = acct.key()
    alice = acct.user()
    denied(lambda: encrypt(alice.kms, key))
    acct.attach(alice.name, "AliyunKMSCryptoUserAccess")
    assert encrypt(alice.kms, key)
    acct.ram.detach_policy_from_user(
        r.DetachPolicyFromUserRequest(
            policy_type="System", policy_name="AliyunKMSCryptoUserAccess", user_name=alice.name
        )
    )
    denied(lambda: encrypt(alice.kms, key))


def test_a_group_s_policies_apply_to_its_members(acct: Account) -> None:
    key = acct.key()
    alice = acct.user()
    group = f"g-{secrets.token_hex(4)}"
    acct.ram.create_group(r.CreateGroupRequest(group_name=group))
    acct.ram.add_user_to_group(r.AddUserToGroupRequest(group_name=group, user_name=alice.name))
    denied(lambda: encrypt(alice.kms, key))
    acct.ram.attach_policy_to_group(
        r.AttachPolicyToGroupRequest(
            policy_type="System", policy_name="AliyunKMSCryptoUserAccess", group_name=group
        )
    )
    assert encrypt(alice.kms, key)


def test_ram_actions_need_ram_permissions(acct: Account) -> None:
    alice = acct.user("AliyunKMSFullAccess")
    as_alice = ram_client(acct.server.endpoint, *_pair(acct, alice.name))
    with pytest.raises(Exception) as caught:
        as_alice.list_users(r.ListUsersRequest())
    assert caught.value.code == "Forbidden.NoPermission"  # type: ignore[attr-defined]


def _pair(acct: Account, user: str) -> tuple[str, str]:
    ak = acct.ram.create_access_key(r.CreateAccessKeyRequest(user_name=user)).body.access_key
    return ak.access_key_id, ak.access_key_secret


def test_the_diagnostic_message_is_sealed_for_the_operator(acct: Account) -> None:
    """The caller cannot read EncodedDiagnosticMessage; `openkms access-denied decode` on the
    deployment opens it: the resource refused and the statement that denied."""
    key = acct.key()
    alice = acct.user(custom=[_doc(_allow("kms:*"), {**_deny("kms:Encrypt"), "Sid": "no-encrypt"})])
    message = denied(lambda: encrypt(alice.kms, key))["EncodedDiagnosticMessage"]
    assert key not in base64.b64decode(message).decode("latin-1")
    opened = subprocess.run(
        [*CLI, "access-denied", "decode", message, *acct.server.store_args], capture_output=True, text=True
    )
    assert opened.returncode == 0, opened.stderr
    facts = json.loads(opened.stdout)
    assert facts["AuthResource"].endswith(f":key/{key}")
    assert (facts["AuthAction"], facts["DenyingStatement"]) == ("kms:Encrypt", "no-encrypt")
    forged = subprocess.run(
        [
            *CLI,
            "access-denied",
            "decode",
            base64.b64encode(b"\0\0\0\1" + bytes(40)).decode(),
            *acct.server.store_args,
        ],
        capture_output=True,
        text=True,
    )
    assert (forged.returncode, forged.stderr.strip()) == (
        1,
        "openkms: not a diagnostic message of this deployment",
    )


def test_15_a_secret_under_the_default_key_needs_only_the_secret(acct: Account) -> None:
    """A secret that names no key is protected by its account's default key, the service's own:
    GetSecretValue on the secret is enough (AliyunKMSSecretUserAccess alone reads it)."""
    name = f"s-{secrets.token_hex(4)}"
    acct.root.create_secret(k.CreateSecretRequest(secret_name=name, secret_data="plain", version_id="v1"))
    reader = acct.user("AliyunKMSSecretUserAccess")
    assert reader.kms.get_secret_value(k.GetSecretValueRequest(secret_name=name)).body.secret_data == "plain"


def test_10_a_trusted_proxy_names_the_client(tmp_path: Path) -> None:
    """Behind a proxy listed in --trusted-proxies, acs:SourceIp is the client its
    X-Forwarded-For names; from any other peer the header is ignored."""
    for trusted, expected in (("127.0.0.1/32", 200), ("", 403)):
        args = ["--trusted-proxies", trusted] if trusted else []
        srv = ServerProcess(tmp_path / f"data-{bool(trusted)}", extra_args=args)
        with running(srv):
            acct = Account(srv)
            key = acct.key()
            name = f"u-{secrets.token_hex(4)}"
            acct.ram.create_user(r.CreateUserRequest(user_name=name))
            pair = acct.ram.create_access_key(r.CreateAccessKeyRequest(user_name=name)).body.access_key
            document = _doc(_allow("kms:*", Condition={"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}}))
            policy = f"p-{secrets.token_hex(4)}"
            acct.ram.create_policy(r.CreatePolicyRequest(policy_name=policy, policy_document=document))
            acct.attach(name, policy, "Custom")
            raw = RawSigner(srv.endpoint, pair.access_key_id, pair.access_key_secret)
            params = {"KeyId": key, "Plaintext": PLAIN}
            assert raw.v3("Encrypt", params).status == 403  # from 127.0.0.1 itself
            forwarded = raw.v3("Encrypt", params, tamper={"x-forwarded-for": "192.0.2.7, 10.1.2.3"})
            assert forwarded.status == expected, forwarded.body
