"""The instance gateway through the official instance SDKs, unchanged from PyPI.

One server (plain HTTP main port, the gateway on its own TLS port with a test CA's certificate
for ``*.kms.localhost``); the access point, its policy and network rule and the client key are
made through the Tea SDK (CreateNetworkRule, CreatePolicy, CreateApplicationAccessPoint,
CreateClientKey); the SDKs run from their own environment (tests/support/instance_sdk.py), which
resolves ``<instance id>.kms.localhost`` to 127.0.0.1 in its own process only.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import pytest
from alibabacloud_kms20160120 import models as kms_models
from alibabacloud_secretsmanager_client_v2.secret_manager_cache_client_builder import (
    SecretManagerCacheClientBuilder,
)
from alibabacloud_secretsmanager_client_v2.service.default_secret_manager_client_builder import (
    DefaultSecretManagerClientBuilder,
)
from alibabacloud_tea_openapi import models as open_api_models

from openkms.config import Settings
from openkms.gateway import messages
from openkms.service.context import build_services
from openkms.service.deployment import open_deployment
from tests.support.clients import tea_client
from tests.support.instance_sdk import Gateway, b64, raw
from tests.support.postgres import backend, running_server
from tests.support.server import ACCESS_KEY_ID, ACCESS_KEY_SECRET, CLI, ServerProcess, free_port

SUFFIX = "kms.localhost"
PASSWORD = "Client-Key-Pass-1"
KEY_USER = "RbacPermission/Template/CryptoServiceKeyUser"
SECRET_USER = "RbacPermission/Template/CryptoServiceSecretUser"


@dataclass
class Setup:
    srv: ServerProcess
    instance_id: str
    gateway: Gateway
    key_id: str
    sign_key_id: str
    rsa_key_id: str
    tmp: Path

    def gateway_with(self, client_key_file: Path, password: str = PASSWORD) -> Gateway:
        g = self.gateway
        return Gateway(g.host, g.port, g.ca, client_key_file, password)


def _client_key_id(setup: Setup) -> str:
    return str(json.loads(setup.gateway.client_key_file.read_text())["KeyId"])


def _instance(srv: ServerProcess) -> str:
    """A connected instance of the deployment's account (buying one is outside the API)."""
    dep = open_deployment(Settings(data_dir=srv.data_dir, database=srv.database, root_key_file=None))
    try:
        return build_services(dep).instances.create_instance(dep.account_id, "gateway-test").instance_id
    finally:
        dep.close()


def _client_key(srv: ServerProcess, tmp: Path, name: str, instance_id: str, cidrs: list[str],
                permissions: list[str], resources: list[str], **validity: str) -> Path:
    tea = tea_client(srv.endpoint)
    tea.create_network_rule(kms_models.CreateNetworkRuleRequest(
        name=f"{name}-net", type="Private", source_private_ip=json.dumps(cidrs), description=""))
    tea.create_policy(kms_models.CreatePolicyRequest(
        name=f"{name}-policy", kms_instance=instance_id, permissions=json.dumps(permissions),
        resources=json.dumps(resources), access_control_rules=json.dumps({"NetworkRules": [f"{name}-net"]}),
        description=""))
    tea.create_application_access_point(kms_models.CreateApplicationAccessPointRequest(
        name=name, policies=json.dumps([f"{name}-policy"]), authentication_method="ClientKey", description=""))
    made = tea.create_client_key(kms_models.CreateClientKeyRequest(
        aap_name=name, password=PASSWORD, **validity)).body
    path = tmp / f"{name}.json"
    path.write_text(json.dumps({"KeyId": made.client_key_id, "PrivateKeyData": made.private_key_data}))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("gateway")
    subprocess.run([*CLI, "dev-cert", "--out", str(tmp / "tls"), "--name", f"*.{SUFFIX}"],
                   check=True, capture_output=True)
    port = free_port()
    env = {
        "OPENKMS_GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "OPENKMS_GATEWAY_SUFFIX": SUFFIX,
        "OPENKMS_GATEWAY_TLS_CERT": str(tmp / "tls" / "server.pem"),
        "OPENKMS_GATEWAY_TLS_KEY": str(tmp / "tls" / "server-key.pem"),
    }
    # The suite's backend: SQLite, or PostgreSQL with OPENKMS_TEST_DATABASE=postgres.
    with running_server(tmp / "data", backend(), env=env) as srv:
        instance_id = _instance(srv)
        tea = tea_client(srv.endpoint)
        # Keys made on the shared API in the instance (DKMSInstanceId) are the gateway's.
        key_id = tea.create_key(kms_models.CreateKeyRequest(dkmsinstance_id=instance_id)).body.key_metadata.key_id
        sign_key_id = tea.create_key(kms_models.CreateKeyRequest(
            key_spec="EC_P256", key_usage="SIGN/VERIFY", dkmsinstance_id=instance_id)).body.key_metadata.key_id
        rsa_key_id = tea.create_key(kms_models.CreateKeyRequest(
            key_spec="RSA_2048", key_usage="ENCRYPT/DECRYPT", dkmsinstance_id=instance_id)).body.key_metadata.key_id
        key_file = _client_key(srv, tmp, "app", instance_id, ["127.0.0.1/32"], [KEY_USER, SECRET_USER],
                               ["key/*", "secret/*"])
        gateway = Gateway(f"{instance_id}.{SUFFIX}", port, tmp / "tls" / "ca.pem", key_file, PASSWORD)
        yield Setup(srv, instance_id, gateway, key_id, sign_key_id, rsa_key_id, tmp)


def test_every_symmetric_action_through_the_instance_sdk(setup: Setup) -> None:
    g, key = setup.gateway, setup.key_id
    ctx = json.dumps({"app": "gw"}).encode()
    out = g.run([
        {"client": "dkms", "action": "Encrypt", "request": {"KeyId": key, "Plaintext": b64(b"hello gateway"), "Aad": b64(ctx)}},
        {"client": "dkms", "action": "AdvanceEncrypt", "request": {"KeyId": key, "Plaintext": b64(b"advance")}},
        {"client": "dkms", "action": "GenerateDataKey", "request": {"KeyId": key, "NumberOfBytes": 32}},
        {"client": "dkms", "action": "AdvanceGenerateDataKey", "request": {"KeyId": key, "NumberOfBytes": 16}},
        {"client": "dkms", "action": "GenerateRandom", "request": {"Length": 24}},
        {"client": "dkms", "action": "GenerateDataKeyPair", "request": {"KeyId": key, "KeyPairSpec": "ECC_NISTP256", "KeyFormat": "PEM"}},
        {"client": "dkms", "action": "GenerateDataKeyPairWithoutPlaintext", "request": {"KeyId": key, "KeyPairSpec": "RSA_2048", "KeyFormat": "DER"}},
        {"client": "dkms", "action": "AdvanceGenerateDataKeyPair", "request": {"KeyId": key, "KeyPairSpec": "ECC_NISTP256"}},
        {"client": "dkms", "action": "AdvanceGenerateDataKeyPairWithoutPlaintext", "request": {"KeyId": key, "KeyPairSpec": "ECC_NISTP256"}},
    ])
    enc, adv, gdk, agdk, rnd, pair, pair_np, apair, apair_np = out
    for answer in out:
        assert "error" not in answer, answer
    assert enc["KeyId"] == key and len(raw(enc["Iv"])) == 12 and enc["Algorithm"] == "AES_GCM"
    assert len(raw(rnd["Random"])) == 24
    assert len(raw(gdk["Plaintext"])) == 32 and len(raw(agdk["Plaintext"])) == 16
    assert raw(pair["PrivateKeyPlaintext"]).startswith(b"-----BEGIN PRIVATE KEY-----")
    assert raw(apair["PrivateKeyPlaintext"]).startswith(b"-----BEGIN PRIVATE KEY-----") and apair["KeyVersionId"]
    assert "PrivateKeyPlaintext" not in pair_np or not pair_np.get("PrivateKeyPlaintext")
    back = g.run([
        {"client": "dkms", "action": "Decrypt", "request": {"KeyId": key, "CiphertextBlob": enc["CiphertextBlob"], "Iv": enc["Iv"], "Aad": b64(ctx)}},
        {"client": "dkms", "action": "AdvanceDecrypt", "request": {"CiphertextBlob": adv["CiphertextBlob"]}},
        {"client": "dkms", "action": "Decrypt", "request": {"KeyId": key, "CiphertextBlob": gdk["CiphertextBlob"], "Iv": gdk["Iv"]}},
        {"client": "dkms", "action": "AdvanceDecrypt", "request": {"CiphertextBlob": agdk["CiphertextBlob"]}},
        {"client": "dkms", "action": "Decrypt", "request": {"KeyId": key, "CiphertextBlob": pair["PrivateKeyCiphertextBlob"], "Iv": pair["Iv"]}},
        {"client": "dkms", "action": "AdvanceDecrypt", "request": {"CiphertextBlob": apair_np["PrivateKeyCiphertextBlob"]}},
        # The wrong context does not open.
        {"client": "dkms", "action": "Decrypt", "request": {"KeyId": key, "CiphertextBlob": enc["CiphertextBlob"], "Iv": enc["Iv"]}},
    ])
    assert raw(back[0]["Plaintext"]) == b"hello gateway"
    assert raw(back[1]["Plaintext"]) == b"advance"
    assert raw(back[2]["Plaintext"]) == raw(gdk["Plaintext"])
    assert raw(back[3]["Plaintext"]) == raw(agdk["Plaintext"])
    assert raw(back[4]["Plaintext"]) == raw(pair["PrivateKeyPlaintext"])
    assert raw(back[5]["Plaintext"]).startswith(b"-----BEGIN PRIVATE KEY-----")
    assert back[6]["error"]["code"] == "InvalidParameter" and back[6]["error"]["status"] == 400


def test_asymmetric_actions_through_the_instance_sdk(setup: Setup) -> None:
    g = setup.gateway
    digest = hashlib.sha256(b"message").digest()
    signed, public, encrypted = g.run([
        {"client": "dkms", "action": "Sign", "request": {"KeyId": setup.sign_key_id, "Algorithm": "ECDSA_SHA_256", "Message": b64(digest), "MessageType": "DIGEST"}},
        {"client": "dkms", "action": "GetPublicKey", "request": {"KeyId": setup.sign_key_id}},
        {"client": "dkms", "action": "Encrypt", "request": {"KeyId": setup.rsa_key_id, "Algorithm": "RSAES_OAEP_SHA_256", "Plaintext": b64(b"rsa secret")}},
    ])
    assert "error" not in signed, signed
    assert public["PublicKey"].startswith("-----BEGIN PUBLIC KEY-----")
    verified, tampered, decrypted = g.run([
        {"client": "dkms", "action": "Verify", "request": {"KeyId": setup.sign_key_id, "Algorithm": "ECDSA_SHA_256", "Message": b64(b"message"), "Signature": signed["Signature"], "MessageType": "RAW"}},
        {"client": "dkms", "action": "Verify", "request": {"KeyId": setup.sign_key_id, "Algorithm": "ECDSA_SHA_256", "Message": b64(hashlib.sha256(b"other").digest()), "Signature": signed["Signature"], "MessageType": "DIGEST"}},
        {"client": "dkms", "action": "Decrypt", "request": {"KeyId": setup.rsa_key_id, "Algorithm": "RSAES_OAEP_SHA_256", "CiphertextBlob": encrypted["CiphertextBlob"]}},
    ])
    assert verified["Value"] is True and tampered["Value"] is False
    assert raw(decrypted["Plaintext"]) == b"rsa secret"


def test_ciphertexts_cross_between_the_gateway_and_the_shared_api(setup: Setup) -> None:
    tea = tea_client(setup.srv.endpoint)
    ctx = {"purpose": "cross"}
    shared = tea.encrypt(kms_models.EncryptRequest(
        key_id=setup.key_id, plaintext="from the shared API", encryption_context=ctx)).body.ciphertext_blob
    plain = tea.encrypt(kms_models.EncryptRequest(key_id=setup.key_id, plaintext="no context")).body.ciphertext_blob
    through = setup.gateway.run([
        # The KMS SDK's transfer client sends the shared API's calls to the gateway: its plain
        # actions carry the EncryptionContext; its Advance* ones (the default) only a digest of
        # it, so those go without one (and its Advance Decrypt fails in the SDK without one).
        {"client": "transfer", "low": True, "action": "Decrypt", "request": {"CiphertextBlob": shared, "EncryptionContext": ctx}},
        {"client": "transfer", "low": True, "action": "Encrypt", "request": {"KeyId": setup.key_id, "Plaintext": "from the gateway", "EncryptionContext": ctx}},
        {"client": "transfer", "low": True, "action": "Decrypt", "request": {"CiphertextBlob": plain}},
        {"client": "transfer", "action": "Encrypt", "request": {"KeyId": setup.key_id, "Plaintext": "advance, no context"}},
        {"client": "transfer", "action": "GenerateDataKey", "request": {"KeyId": setup.key_id}},
        # The instance SDK's AdvanceDecrypt takes the shared API's whole blob.
        {"client": "dkms", "action": "AdvanceDecrypt", "request": {"CiphertextBlob": b64(base64.b64decode(shared)), "Aad": b64(json.dumps(ctx).encode())}},
    ])
    for answer in through:
        assert "error" not in answer, answer
    assert through[0]["Plaintext"] == "from the shared API"
    assert through[2]["Plaintext"] == "no context"
    assert raw(through[5]["Plaintext"]) == b"from the shared API"
    back = tea.decrypt(kms_models.DecryptRequest(ciphertext_blob=through[1]["CiphertextBlob"], encryption_context=ctx))
    assert back.body.plaintext == "from the gateway" and back.body.key_id == setup.key_id
    back = tea.decrypt(kms_models.DecryptRequest(ciphertext_blob=through[3]["CiphertextBlob"]))
    assert back.body.plaintext == "advance, no context"
    data_key = tea.decrypt(kms_models.DecryptRequest(ciphertext_blob=through[4]["CiphertextBlob"]))
    assert data_key.body.plaintext == through[4]["Plaintext"]


def test_a_key_outside_the_instance_is_not_found(setup: Setup) -> None:
    tea = tea_client(setup.srv.endpoint)
    shared_only = tea.create_key(kms_models.CreateKeyRequest()).body.key_metadata.key_id
    out = setup.gateway.call("dkms", "Encrypt", {"KeyId": shared_only, "Plaintext": b64(b"x")})
    assert out["error"]["code"] == "Forbidden.KeyNotFound" and out["error"]["status"] == 404
    assert out["error"]["request_id"]


def test_the_policy_and_the_network_rule_decide(setup: Setup) -> None:
    secrets_only = _client_key(setup.srv, setup.tmp, "secrets-only", setup.instance_id, ["127.0.0.1/32"],
                               [SECRET_USER], ["secret/*"])
    elsewhere = _client_key(setup.srv, setup.tmp, "elsewhere", setup.instance_id, ["10.0.0.0/8"],
                            [KEY_USER], ["key/*"])
    denied = setup.gateway_with(secrets_only).call("dkms", "Encrypt", {"KeyId": setup.key_id, "Plaintext": b64(b"x")})
    assert denied["error"]["code"] == "Forbidden.NoPermission" and denied["error"]["status"] == 403
    outside = setup.gateway_with(elsewhere).call("dkms", "Encrypt", {"KeyId": setup.key_id, "Plaintext": b64(b"x")})
    assert outside["error"]["code"] == "Forbidden.NoPermission"
    assert "network" in outside["error"]["message"]


def test_an_expired_client_key_and_a_wrong_password_key_are_refused(setup: Setup) -> None:
    expired = _client_key(setup.srv, setup.tmp, "expired", setup.instance_id, ["127.0.0.1/32"], [KEY_USER],
                          ["key/*"], not_before="2020-01-01T00:00:00Z", not_after="2099-01-01T00:00:00Z")
    assert "error" not in setup.gateway_with(expired).call("dkms", "GenerateRandom", {"Length": 8})
    future = _client_key(setup.srv, setup.tmp, "future", setup.instance_id, ["127.0.0.1/32"], [KEY_USER],
                         ["key/*"], not_before="2090-01-01T00:00:00Z", not_after="2099-01-01T00:00:00Z")
    out = setup.gateway_with(future).call("dkms", "GenerateRandom", {"Length": 8})
    assert out["error"]["code"] == "Forbidden.ClientKeyExpired" and out["error"]["status"] == 403


def _send(setup: Setup, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, object]]:
    """One raw request to the gateway over TLS; its status and the decoded Error (or {})."""
    ctx = ssl.create_default_context(cafile=str(setup.gateway.ca))
    conn = http.client.HTTPSConnection(setup.gateway.host, setup.gateway.port, context=ctx, timeout=10)
    conn.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", setup.gateway.port), timeout=10),
                                server_hostname=setup.gateway.host)
    conn.request("POST", "/", body=body, headers={k: v for k, v in headers.items() if k != "content-length"})
    answer = conn.getresponse()
    data = answer.read()
    conn.close()
    if answer.status == 200:
        return 200, {}
    error = messages.parse("Error", data)
    return answer.status, {"code": error.ErrorCode, "message": error.ErrorMessage, "request_id": error.RequestId}


def test_a_replayed_a_tampered_and_a_stale_request_are_refused(setup: Setup) -> None:
    good, other = setup.gateway.presign("Encrypt", [
        {"KeyId": setup.key_id, "Plaintext": b64(b"once")},
        {"KeyId": setup.key_id, "Plaintext": b64(b"tampered")},
    ])
    assert _send(setup, good["headers"], good["body"])[0] == 200
    status, error = _send(setup, good["headers"], good["body"])
    assert (status, error["code"]) == (429, "Rejected.Throttling")
    # Another body under the first request's signature.
    status, error = _send(setup, {**good["headers"], "content-sha256": other["headers"]["content-sha256"]}, other["body"])
    assert (status, error["code"]) == (400, "SignatureDoesNotMatch")
    status, error = _send(setup, good["headers"], other["body"])
    assert (status, error["code"]) == (400, "SignatureDoesNotMatch")
    # Signed by the SDK, but with a Date an hour old.
    stale = setup.gateway.presign("Encrypt", [{"KeyId": setup.key_id, "Plaintext": b64(b"x")}],
                                  date=formatdate(time.time() - 3600, usegmt=True))[0]
    status, error = _send(setup, stale["headers"], stale["body"])
    assert (status, error["code"]) == (400, "InvalidTimeStamp.Expired")


def test_get_secret_value_of_the_instance_and_its_audit_events(setup: Setup) -> None:
    tea = tea_client(setup.srv.endpoint)
    tea.create_secret(kms_models.CreateSecretRequest(
        secret_name="gw-secret", secret_data="s3cr3t value", version_id="v1", dkmsinstance_id=setup.instance_id,
        encryption_key_id=setup.key_id))
    tea.create_secret(kms_models.CreateSecretRequest(
        secret_name="shared-secret", secret_data="shared", version_id="v1"))
    got, missing = setup.gateway.run([
        {"client": "dkms", "action": "GetSecretValue", "request": {"SecretName": "gw-secret"}},
        {"client": "dkms", "action": "GetSecretValue", "request": {"SecretName": "shared-secret"}},
    ])
    assert got["SecretData"] == "s3cr3t value" and got["VersionId"] == "v1"
    assert "ACSCurrent" in got["VersionStages"]
    assert missing["error"]["code"] == "Forbidden.ResourceNotFound"
    rows = [json.loads(r[0]) for r in setup.srv.query("SELECT event FROM audit_events")]
    mine = [e for e in rows if e.get("requestId") in (got["RequestId"], missing["error"]["request_id"])]
    assert len(mine) == 2
    assert {e["userIdentity"]["accessKeyId"] for e in mine} == {_client_key_id(setup)}
    assert "s3cr3t" not in json.dumps(rows)
    # The Secrets Manager client (its v2, which takes an AccessKey, not a client key) reads the
    # instance's secret through the shared API.
    client = DefaultSecretManagerClientBuilder.standard().add_config(open_api_models.Config(
        access_key_id=ACCESS_KEY_ID, access_key_secret=ACCESS_KEY_SECRET, region_id="cn-hangzhou",
        endpoint=setup.srv.endpoint, protocol="http")).build()
    info = SecretManagerCacheClientBuilder.new_cache_client_builder(client).build().get_secret_info("gw-secret")
    assert (info.secret_value, info.version_id) == ("s3cr3t value", "v1")
    logged = [json.loads(line) for line in setup.srv.log_path.read_text().splitlines() if got["RequestId"] in line]
    assert [(e["action"], e["status"], e["gateway"]) for e in logged] == [("GetSecretValue", 200, True)]
    assert "s3cr3t" not in setup.srv.log_path.read_text()
