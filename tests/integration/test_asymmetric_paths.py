"""The asymmetric and SM2 paths of the symmetric actions: ReEncrypt from a public-key ciphertext,
ExportDataKey/GenerateAndExportDataKey wrapping with EC_SM2/SM2PKE; and DryRun on every
asymmetric and MAC action. Through both official SDKs."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pysmx.SM2 import Decrypt as smx_decrypt
from pysmx.SM2 import generate_keypair as smx_keypair

from tests.support import der
from tests.support.calls import SDK, b64
from tests.support.keys import new_key_and_version

SM2_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")


def public_der(sdk: SDK, key: tuple[str, str]) -> bytes:
    pem = sdk.call("GetPublicKey", KeyId=key[0], KeyVersionId=key[1])["PublicKey"]
    return base64.b64decode("".join(pem.strip().splitlines()[1:-1]))


@pytest.mark.parametrize(
    ("spec", "algorithm"), [("RSA_2048", "RSAES_OAEP_SHA_256"), ("RSA_2048", "RSAES_OAEP_SHA_1"), ("EC_SM2", "SM2PKE")]
)
def test_reencrypt_from_a_public_key_ciphertext(sdk: SDK, spec: str, algorithm: str) -> None:
    """ReEncrypt with SourceKeyId/SourceKeyVersionId/SourceEncryptionAlgorithm decrypts an
    AsymmetricEncrypt ciphertext with that version and answers a blob of the destination key
    whose Decrypt gives the Base64 of the bytes, as AsymmetricDecrypt does."""
    source = new_key_and_version(sdk, spec, "ENCRYPT/DECRYPT")
    destination = new_key_and_version(sdk, "Aliyun_AES_256")
    secret = secrets.token_bytes(32)
    ciphertext = sdk.call("AsymmetricEncrypt", KeyId=source[0], KeyVersionId=source[1], Algorithm=algorithm,
                          Plaintext=b64(secret))["CiphertextBlob"]
    moved = sdk.call("ReEncrypt", CiphertextBlob=ciphertext, SourceKeyId=source[0], SourceKeyVersionId=source[1],
                     SourceEncryptionAlgorithm=algorithm, DestinationKeyId=destination[0],
                     DestinationEncryptionContext={"to": "aes"})
    assert (destination[0], destination[1]) == (moved["KeyId"], moved["KeyVersionId"])
    opened = sdk.call("Decrypt", CiphertextBlob=moved["CiphertextBlob"], EncryptionContext={"to": "aes"})
    assert (destination[0], b64(secret)) == (opened["KeyId"], opened["Plaintext"])


def test_sm2_exported_data_key_travels_back_through_reencrypt(sdk: SDK) -> None:
    """GenerateAndExportDataKey wrapped for a KMS EC_SM2 key; AsymmetricDecrypt opens the
    ExportedDataKey to the data key; ReEncrypt turns it into a data-key blob of another key whose
    Decrypt and ExportDataKey behave like GenerateDataKey's."""
    sm2_key = new_key_and_version(sdk, "EC_SM2", "ENCRYPT/DECRYPT")
    cmk, other = new_key_and_version(sdk, "Aliyun_AES_256"), new_key_and_version(sdk, "Aliyun_SM4")
    wrap = {"PublicKeyBlob": b64(public_der(sdk, sm2_key)), "WrappingKeySpec": "EC_SM2", "WrappingAlgorithm": "SM2PKE"}
    made = sdk.call("GenerateAndExportDataKey", KeyId=cmk[0], NumberOfBytes=48, **wrap)
    data_key_b64 = sdk.call("Decrypt", CiphertextBlob=made["CiphertextBlob"])["Plaintext"]
    assert len(base64.b64decode(data_key_b64)) == 48
    opened = sdk.call("AsymmetricDecrypt", KeyId=sm2_key[0], KeyVersionId=sm2_key[1], Algorithm="SM2PKE",
                      CiphertextBlob=made["ExportedDataKey"])
    assert data_key_b64 == opened["Plaintext"]
    moved = sdk.call("ReEncrypt", CiphertextBlob=made["ExportedDataKey"], SourceKeyId=sm2_key[0],
                     SourceKeyVersionId=sm2_key[1], SourceEncryptionAlgorithm="SM2PKE", DestinationKeyId=other[0])
    assert data_key_b64 == sdk.call("Decrypt", CiphertextBlob=moved["CiphertextBlob"])["Plaintext"]
    exported = sdk.call("ExportDataKey", CiphertextBlob=moved["CiphertextBlob"], **wrap)
    again = sdk.call("AsymmetricDecrypt", KeyId=sm2_key[0], KeyVersionId=sm2_key[1], Algorithm="SM2PKE",
                     CiphertextBlob=exported["ExportedDataKey"])
    assert data_key_b64 == again["Plaintext"]


def test_sm2_export_opens_outside_the_service(sdk: SDK) -> None:
    """ExportDataKey with a caller's own SM2 key (made by pysmx) answers a GM/T 0009 DER
    ciphertext of the raw data key that pysmx decrypts."""
    pair = smx_keypair()
    spki = SM2_SPKI_PREFIX + b"\x04" + pair.publicKey
    cmk = new_key_and_version(sdk, "Aliyun_AES_256")
    blob = sdk.call("GenerateDataKeyWithoutPlaintext", KeyId=cmk[0], KeySpec="AES_128")["CiphertextBlob"]
    exported = sdk.call("ExportDataKey", CiphertextBlob=blob, PublicKeyBlob=b64(spki), WrappingKeySpec="EC_SM2",
                        WrappingAlgorithm="SM2PKE")
    raw = der.sm2_ciphertext_to_raw(base64.b64decode(exported["ExportedDataKey"]))
    data_key = smx_decrypt(raw, pair.privateKey, 64)
    assert b64(data_key) == sdk.call("Decrypt", CiphertextBlob=blob)["Plaintext"]
    assert len(data_key) == 16


def test_reencrypt_from_rsa_ciphertext_made_outside(sdk: SDK) -> None:
    """A ciphertext made with `cryptography` and GetPublicKey's RSA key re-encrypts through the service."""
    source = new_key_and_version(sdk, "RSA_3072", "ENCRYPT/DECRYPT")
    destination = new_key_and_version(sdk, "Aliyun_AES_128")
    public = serialization.load_der_public_key(public_der(sdk, source))
    assert isinstance(public, rsa.RSAPublicKey)
    ciphertext = public.encrypt(b"outside", padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    moved = sdk.call("ReEncrypt", CiphertextBlob=b64(ciphertext), SourceKeyId=source[0], SourceKeyVersionId=source[1],
                     SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256", DestinationKeyId=destination[0])
    assert b64(b"outside") == sdk.call("Decrypt", CiphertextBlob=moved["CiphertextBlob"])["Plaintext"]


def test_reencrypt_keeps_the_result_decryptable(sdk: SDK) -> None:
    """An SM2 plaintext of 4608 bytes re-encrypts (its Base64 is Encrypt's 6144-byte limit) and
    decrypts; one byte more would make a blob Decrypt refuses, so ReEncrypt refuses it (400)."""
    source = new_key_and_version(sdk, "EC_SM2", "ENCRYPT/DECRYPT")
    destination = new_key_and_version(sdk, "Aliyun_AES_256")
    for size, ok in ((4608, True), (4609, False)):
        plaintext = secrets.token_bytes(size)
        ciphertext = sdk.call("AsymmetricEncrypt", KeyId=source[0], KeyVersionId=source[1], Algorithm="SM2PKE",
                              Plaintext=b64(plaintext))["CiphertextBlob"]
        params = {"CiphertextBlob": ciphertext, "SourceKeyId": source[0], "SourceKeyVersionId": source[1],
                  "SourceEncryptionAlgorithm": "SM2PKE", "DestinationKeyId": destination[0]}
        if ok:
            blob = sdk.call("ReEncrypt", **params)["CiphertextBlob"]
            assert sdk.call("Decrypt", CiphertextBlob=blob)["Plaintext"] == b64(plaintext)
        else:
            error = sdk.error("ReEncrypt", **params)
            assert (error.code, "CiphertextBlob" in error.message) == ("InvalidParameter", True)


def test_reencrypt_asymmetric_refusals(sdk: SDK) -> None:
    """An asymmetric source needs all three Source parameters (MissingParameter), a key of the
    right usage (Rejected.UnsupportedOperation), a fitting algorithm and a ciphertext that
    decrypts (InvalidParameter); a signing destination is Rejected.UnsupportedOperation."""
    source = new_key_and_version(sdk, "RSA_2048", "ENCRYPT/DECRYPT")
    signer = new_key_and_version(sdk, "EC_SM2", "SIGN/VERIFY")
    destination = new_key_and_version(sdk, "Aliyun_AES_256")
    ciphertext = sdk.call("AsymmetricEncrypt", KeyId=source[0], KeyVersionId=source[1],
                          Algorithm="RSAES_OAEP_SHA_256", Plaintext=b64(b"x"))["CiphertextBlob"]
    base = {"CiphertextBlob": ciphertext, "SourceKeyId": source[0], "SourceKeyVersionId": source[1],
            "SourceEncryptionAlgorithm": "RSAES_OAEP_SHA_256", "DestinationKeyId": destination[0]}
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"SourceKeyVersionId": None}, "MissingParameter", "SourceKeyVersionId"),
        ({"SourceEncryptionAlgorithm": None}, "MissingParameter", "SourceEncryptionAlgorithm"),
        ({"SourceKeyId": None}, "MissingParameter", "SourceKeyId"),
        ({"SourceEncryptionAlgorithm": "SM2PKE"}, "InvalidParameter", "Algorithm"),
        ({"SourceEncryptionAlgorithm": "RSAES_OAEP_SHA_1"}, "InvalidParameter", "CiphertextBlob"),
        ({"CiphertextBlob": "not base64"}, "InvalidParameter", "CiphertextBlob"),
        ({"SourceKeyId": signer[0], "SourceKeyVersionId": signer[1]}, "Rejected.UnsupportedOperation", ""),
        ({"DestinationKeyId": signer[0]}, "Rejected.UnsupportedOperation", ""),
        ({"SourceKeyVersionId": destination[1]}, "Forbidden.KeyVersionNotFound", ""),
    ]
    for change, code, named in cases:
        error = sdk.error("ReEncrypt", **{**base, **change})
        assert (code, named in error.message) == (error.code, True), change


@pytest.fixture
def keys(sdk: SDK) -> dict[str, tuple[str, str]]:
    """A signing, an encryption and an HMAC key."""
    return {
        "sign": new_key_and_version(sdk, "EC_P256K"),
        "encrypt": new_key_and_version(sdk, "RSA_2048", "ENCRYPT/DECRYPT"),
        "hmac": new_key_and_version(sdk, "HMAC_SHA_384"),
    }


def test_dry_run_checks_everything_and_does_nothing(sdk: SDK, keys: dict[str, tuple[str, str]]) -> None:
    """DryRun=true answers 400 DryRunOperationError when every check passes, and a failing
    check's own error otherwise, for each asymmetric and MAC action."""
    sign, enc, mac = keys["sign"], keys["encrypt"], keys["hmac"]
    digest = b64(hashlib.sha256(b"m").digest())
    ciphertext = sdk.call("AsymmetricEncrypt", KeyId=enc[0], KeyVersionId=enc[1], Algorithm="RSAES_OAEP_SHA_1",
                          Plaintext=b64(b"p"))["CiphertextBlob"]
    calls: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
        ("AsymmetricSign", {"KeyId": sign[0], "KeyVersionId": sign[1], "Algorithm": "ECDSA_SHA_256", "Digest": digest},
         {"Digest": b64(b"short")}, "InvalidParameter"),
        ("AsymmetricVerify", {"KeyId": sign[0], "KeyVersionId": sign[1], "Algorithm": "ECDSA_SHA_256", "Digest": digest,
                              "Value": b64(b"sig")}, {"KeyId": enc[0], "KeyVersionId": enc[1]}, "Rejected.UnsupportedOperation"),
        ("AsymmetricEncrypt", {"KeyId": enc[0], "KeyVersionId": enc[1], "Algorithm": "RSAES_OAEP_SHA_1",
                               "Plaintext": b64(b"p")}, {"Plaintext": b64(bytes(215))}, "InvalidParameter"),
        ("AsymmetricDecrypt", {"KeyId": enc[0], "KeyVersionId": enc[1], "Algorithm": "RSAES_OAEP_SHA_1",
                               "CiphertextBlob": ciphertext}, {"KeyVersionId": sign[1]}, "Forbidden.KeyVersionNotFound"),
        ("GetPublicKey", {"KeyId": sign[0], "KeyVersionId": sign[1]}, {"KeyId": mac[0], "KeyVersionId": mac[1]},
         "Rejected.UnsupportedOperation"),
        ("ReEncrypt", {"CiphertextBlob": ciphertext, "SourceKeyId": enc[0], "SourceKeyVersionId": enc[1],
                       "SourceEncryptionAlgorithm": "RSAES_OAEP_SHA_1", "DestinationKeyId": new_key_and_version(sdk, "Aliyun_SM4")[0]},
         {"DestinationKeyId": enc[0]}, "Rejected.UnsupportedOperation"),
    ]
    for action, params, bad, code in calls:
        error = sdk.error(action, DryRun="true", **params)
        assert (error.code, error.status) == ("DryRunOperationError", 400), action
        assert code == sdk.error(action, DryRun="true", **{**params, **bad}).code, action
    if sdk.name == "tea":  # the old SDK has no GenerateMac/VerifyMac request classes
        for action, extra in (("GenerateMac", {}), ("VerifyMac", {"Mac": b64(b"m")})):
            params = {"KeyId": mac[0], "Algorithm": "HMAC_SHA_384", "Message": b64(b"m"), **extra}
            assert sdk.error(action, DryRun="true", **params).code == "DryRunOperationError"
            assert sdk.error(action, DryRun="true", **{**params, "Algorithm": "HMAC_SM3"}).code == "InvalidParameter"
