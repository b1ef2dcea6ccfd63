"""ProtectionLevel=HSM keys through both official SDKs, on a server whose root of trust is a
SoftHSM2 token of this test run: CreateKey and DescribeKey say HSM, ListKeys filters by it, Encrypt, Decrypt,
GenerateDataKey and ReEncrypt round-trip, a tampered blob is refused, EC and RSA key pairs sign
in the token and verify, specs the token cannot
keep are refused, CreateKeyVersion makes HSM versions, and a restart with two worker processes
under concurrent calls keeps decrypting every blob."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from tests.support.calls import SDK, b64
from tests.support.server import ServerProcess, run_init
from tests.support.softhsm import Token, init_token, require_softhsm, shared_conf

pytestmark = pytest.mark.pkcs11


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    require_softhsm()
    conf = shared_conf(tmp_path_factory)
    yield init_token(conf, f"hsmkeys-{secrets.token_hex(4)}")


def _flags(token: Token) -> list[str]:
    return ["--root-provider", "pkcs11", "--pkcs11-module", token.module, "--pkcs11-token-label", token.label]


def _round_trips(sdk: SDK, key_id: str, software_id: str) -> list[tuple[str, str, dict[str, str]]]:
    """Every symmetric action on an HSM key; returns (blob, plaintext, context) to decrypt later."""
    made = []
    context = {"app": sdk.name}
    plain = b64(f"secret of {sdk.name}".encode())
    blob = sdk.call("Encrypt", KeyId=key_id, Plaintext=plain, EncryptionContext=context)["CiphertextBlob"]
    assert sdk.call("Decrypt", CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == plain
    unbound = sdk.error("Decrypt", CiphertextBlob=blob)  # the context is bound
    assert (unbound.status, unbound.code) == (400, "InvalidParameter")
    made.append((blob, plain, context))

    raw = bytearray(base64.b64decode(blob))
    raw[60] ^= 1
    tampered = base64.b64encode(bytes(raw)).decode()
    refused = sdk.error("Decrypt", CiphertextBlob=tampered, EncryptionContext=context)
    assert (refused.status, refused.code) == (400, "InvalidParameter")

    data_key = sdk.call("GenerateDataKey", KeyId=key_id, NumberOfBytes=32)
    assert data_key["KeyId"] == key_id
    assert (
        sdk.call("Decrypt", CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]
    )
    made.append((data_key["CiphertextBlob"], data_key["Plaintext"], {}))

    to_software = sdk.call(
        "ReEncrypt", CiphertextBlob=blob, SourceEncryptionContext=context, DestinationKeyId=software_id
    )["CiphertextBlob"]
    back = sdk.call("ReEncrypt", CiphertextBlob=to_software, DestinationKeyId=key_id)
    assert back["KeyId"] == key_id
    assert sdk.call("Decrypt", CiphertextBlob=back["CiphertextBlob"])["Plaintext"] == plain
    made.append((back["CiphertextBlob"], plain, {}))
    return made


def _sign_and_verify(sdk: SDK, spec: str, algorithm: str) -> None:
    """An HSM key pair signs in the token; the signature verifies through the API and under the
    public key GetPublicKey answers."""
    meta = sdk.call("CreateKey", ProtectionLevel="HSM", KeySpec=spec, KeyUsage="SIGN/VERIFY")["KeyMetadata"]
    assert meta["ProtectionLevel"] == "HSM"
    key_id, version = meta["KeyId"], meta["PrimaryKeyVersion"]
    digest = hashlib.sha256(f"{sdk.name} {spec}".encode()).digest()
    ref = {"KeyId": key_id, "KeyVersionId": version, "Algorithm": algorithm}
    signature = sdk.call("AsymmetricSign", **ref, Digest=b64(digest))["Value"]
    assert sdk.call("AsymmetricVerify", **ref, Digest=b64(digest), Value=signature)["Value"] is True
    other = b64(hashlib.sha256(b"another message").digest())
    assert sdk.call("AsymmetricVerify", **ref, Digest=other, Value=signature)["Value"] is False
    pem = sdk.call("GetPublicKey", KeyId=key_id, KeyVersionId=version)["PublicKey"]
    public = load_pem_public_key(pem.encode())
    prehashed = utils.Prehashed(hashes.SHA256())
    raw = base64.b64decode(signature)
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(raw, digest, ec.ECDSA(prehashed))
    else:
        assert isinstance(public, rsa.RSAPublicKey)
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        public.verify(raw, digest, pss, prehashed)


def test_hsm_keys_through_both_sdks_across_a_restart_with_two_workers(token: Token, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    srv = ServerProcess(data_dir, env=token.env(), extra_args=_flags(token))
    init = run_init("--data-dir", str(data_dir), *_flags(token), env=srv.env)
    assert init.returncode == 0, init.stderr
    keep: list[tuple[str, str, dict[str, str]]] = []
    keys: list[str] = []
    srv.start()
    try:
        for name in ("tea", "old"):
            sdk = SDK(name, srv.endpoint)
            meta = sdk.call("CreateKey", ProtectionLevel="HSM", KeySpec="Aliyun_AES_256")["KeyMetadata"]
            assert meta["ProtectionLevel"] == "HSM"
            key_id = meta["KeyId"]
            keys.append(key_id)
            described = sdk.call("DescribeKey", KeyId=key_id)["KeyMetadata"]
            assert described["ProtectionLevel"] == "HSM" and described["KeySpec"] == "Aliyun_AES_256"
            software_id = sdk.call("CreateKey")["KeyMetadata"]["KeyId"]
            keep += _round_trips(sdk, key_id, software_id)

            for spec, algorithm in (("EC_P256", "ECDSA_SHA_256"), ("RSA_2048", "RSA_PSS_SHA_256")):
                _sign_and_verify(sdk, spec, algorithm)

            for spec in ("Aliyun_SM4", "EC_SM2"):
                refused = sdk.error("CreateKey", ProtectionLevel="HSM", KeySpec=spec)
                assert (refused.status, refused.code) == (400, "Rejected.UnsupportedOperation")
                assert "ProtectionLevel HSM is offered for the key specs" in refused.message

        tea = SDK("tea", srv.endpoint)
        version = tea.call("CreateKeyVersion", KeyId=keys[0])["KeyVersion"]["KeyVersionId"]
        plain = b64(b"second version")
        blob = tea.call("Encrypt", KeyId=keys[0], Plaintext=plain)
        assert blob["KeyVersionId"] == version
        keep.append((blob["CiphertextBlob"], plain, {}))
        # An HSM version stores 56 bytes of token wrap (master id + RFC 5649), sealed under a KEK
        # (nonce + tag): never a 32-byte key (which would seal to 12 + 32 + 16).
        stored = srv.query(f"SELECT material_wrapped FROM key_versions WHERE key_id = '{keys[0]}'")
        assert sorted(len(row[0]) for row in stored) == [12 + 56 + 16] * 2
    finally:
        srv.stop()

    workers = ServerProcess(data_dir, env=token.env(), extra_args=[*_flags(token), "--workers", "2"])
    workers.start()
    failures: list[BaseException] = []

    def work(n: int) -> None:
        sdk = SDK("tea" if n % 2 else "old", workers.endpoint)
        try:
            for i in range(15):
                blob, plain, context = keep[(n + i) % len(keep)]
                assert (
                    sdk.call("Decrypt", CiphertextBlob=blob, EncryptionContext=context or None)["Plaintext"]
                    == plain
                )
                text = b64(f"{n}/{i}".encode())
                target = keys[n % 2]
                if i % 5 == 0:  # keys made in the token while the others encrypt
                    target = sdk.call("CreateKey", ProtectionLevel="HSM")["KeyMetadata"]["KeyId"]
                fresh = sdk.call("Encrypt", KeyId=target, Plaintext=text)["CiphertextBlob"]
                assert sdk.call("Decrypt", CiphertextBlob=fresh)["Plaintext"] == text
        except BaseException as exc:  # reported below
            failures.append(exc)

    try:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        only_hsm = '[{"Key": "ProtectionLevel", "Values": ["HSM"]}]'
        listed = SDK("tea", workers.endpoint).call("ListKeys", PageSize=100, Filters=only_hsm)
        listed_ids = {k["KeyId"] for k in listed["Keys"]["Key"]}
        # The two AES keys, two key pairs per SDK and the keys the threads made; no software key.
        assert len(listed_ids) == 2 + 2 * 2 + 6 * 3 and listed_ids >= set(keys)
    finally:
        workers.stop()
