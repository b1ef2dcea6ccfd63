"""ProtectionLevel=HSM keys through both official SDKs, on a server whose root of trust is a
SoftHSM2 token of this test run: CreateKey and DescribeKey say HSM, ListKeys filters by it, Encrypt, Decrypt,
GenerateDataKey and ReEncrypt round-trip, a tampered blob is refused, specs the token cannot
keep are refused, CreateKeyVersion makes HSM versions, and a restart with two worker processes
under concurrent calls keeps decrypting every blob."""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

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
        assert len(listed_ids) == 2 + 6 * 3 and listed_ids >= set(keys)  # not the software keys
    finally:
        workers.stop()
