"""Ciphertexts outlive kill -9; destroyed keys are gone through the wire; no data-key or
Encrypt plaintext is ever written to the data directory or the log."""

from __future__ import annotations

import base64
import binascii

from tests.support.calls import SDK
from tests.support.inprocess import run_jobs_offline
from tests.support.keys import new_key
from tests.support.server import ServerProcess


def test_ciphertext_decrypts_after_kill9(fresh_server: ServerProcess) -> None:
    """kill -9 right after Encrypt answered: the blob still decrypts after restart (both SDKs)."""
    made = []
    for name in ("tea", "old"):
        sdk = SDK(name, fresh_server.endpoint)
        key_id = new_key(sdk)
        made.append((sdk.call("Encrypt", KeyId=key_id, Plaintext=f"by {name}", EncryptionContext={"n": name})["CiphertextBlob"], name))
    fresh_server.kill9()
    fresh_server.start()
    for blob, name in made:
        for reader in ("tea", "old"):
            answer = SDK(reader, fresh_server.endpoint).call("Decrypt", CiphertextBlob=blob, EncryptionContext={"n": name})
            assert f"by {name}" == answer["Plaintext"]


def test_destroyed_key_is_gone_through_the_wire(fresh_server: ServerProcess) -> None:
    """After DeleteDate the job destroys the key: DescribeKey, Encrypt and Decrypt answer 404."""
    sdk = SDK("tea", fresh_server.endpoint)
    doomed = new_key(sdk)
    kept = new_key(sdk)
    blob = sdk.call("Encrypt", KeyId=doomed, Plaintext="bye")["CiphertextBlob"]
    kept_blob = sdk.call("Encrypt", KeyId=kept, Plaintext="stay")["CiphertextBlob"]
    sdk.call("ScheduleKeyDeletion", KeyId=doomed, PendingWindowInDays=7)
    fresh_server.stop()
    jobs = run_jobs_offline(fresh_server.data_dir, fresh_server.database, advance=400 * 86400)
    assert "destroy-deleted-keys" in jobs
    fresh_server.start()
    for name in ("tea", "old"):
        sdk = SDK(name, fresh_server.endpoint)
        for action, params in [("DescribeKey", {"KeyId": doomed}), ("Encrypt", {"KeyId": doomed, "Plaintext": "x"}),
                               ("Decrypt", {"CiphertextBlob": blob})]:
            error = sdk.error(action, **params)
            assert (error.code, error.status) == ("Forbidden.KeyNotFound", 404), action
        assert sdk.call("Decrypt", CiphertextBlob=kept_blob)["Plaintext"] == "stay"


def test_no_plaintext_in_the_data_dir_or_log(fresh_server: ServerProcess) -> None:
    """Data keys and Encrypt plaintexts appear nowhere on disk: not raw, not hex, not Base64 (S11)."""
    needles: list[bytes] = []
    for name in ("tea", "old"):
        sdk = SDK(name, fresh_server.endpoint)
        key_id = new_key(sdk)
        for _ in range(5):
            text = sdk.call("GenerateDataKey", KeyId=key_id)["Plaintext"]
            raw = base64.b64decode(text)
            needles += [raw, text.encode(), binascii.hexlify(raw), binascii.hexlify(raw).upper()]
            blob = sdk.call("GenerateDataKeyWithoutPlaintext", KeyId=key_id)["CiphertextBlob"]
            needles.append(sdk.call("Decrypt", CiphertextBlob=blob)["Plaintext"].encode())
        secret = f"top-secret-{name}-plaintext-0123456789"
        blob = sdk.call("Encrypt", KeyId=key_id, Plaintext=secret)["CiphertextBlob"]
        sdk.call("ReEncrypt", CiphertextBlob=blob, DestinationKeyId=key_id)
        needles += [secret.encode(), base64.b64encode(secret.encode())]
    fresh_server.stop()
    contents = fresh_server.at_rest()
    assert "openkms.db" in contents or "table key_versions" in contents
    for where, data in contents.items():
        for needle in needles:
            assert needle not in data, where
