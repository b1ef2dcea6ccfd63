"""Encrypt, Decrypt, ReEncrypt and the data-key actions through both official SDKs."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tests.support.calls import SDK
from tests.support.clients import RawSigner
from tests.support.export import PRIVATE, wrap_params
from tests.support.keys import new_key
from tests.support.server import ServerProcess

SYMMETRIC = ["Aliyun_AES_256", "Aliyun_AES_192", "Aliyun_AES_128", "Aliyun_SM4"]
BAD_BLOB_MESSAGE = 'The specified parameter "CiphertextBlob" is not valid.'


def _other(sdk: SDK) -> SDK:
    return SDK("old" if sdk.name == "tea" else "tea", sdk.endpoint)


@pytest.mark.parametrize("spec", SYMMETRIC)
def test_cross_sdk_round_trip(sdk: SDK, spec: str) -> None:
    """Encrypt with one SDK, decrypt with the other, the context sent in the other key order."""
    key_id = new_key(sdk, spec)
    version = sdk.call("DescribeKey", KeyId=key_id)["KeyMetadata"]["PrimaryKeyVersion"]
    sealed = sdk.call("Encrypt", KeyId=key_id, Plaintext="hello, world", EncryptionContext={"a": "1", "b": "2"})
    assert (key_id, version) == (sealed["KeyId"], sealed["KeyVersionId"])
    assert version.encode() == base64.b64decode(sealed["CiphertextBlob"])[:36]
    opened = _other(sdk).call("Decrypt", CiphertextBlob=sealed["CiphertextBlob"], EncryptionContext={"b": "2", "a": "1"})
    assert (key_id, version, "hello, world") == (opened["KeyId"], opened["KeyVersionId"], opened["Plaintext"])


@pytest.mark.parametrize("text", ["not base64 at all!", "SGVsbG8=", "€ 中文 🔑", " leading and trailing ", "a+b/c=d&e"])
def test_plaintext_is_an_opaque_string(sdk: SDK, text: str) -> None:
    """Decrypt answers exactly the string Encrypt was given, Base64 or not."""
    key_id = new_key(sdk)
    blob = sdk.call("Encrypt", KeyId=key_id, Plaintext=text)["CiphertextBlob"]
    assert text == _other(sdk).call("Decrypt", CiphertextBlob=blob)["Plaintext"]


def test_six_kilobyte_boundary(sdk: SDK) -> None:
    """6144 bytes of plaintext are accepted and 6145 refused, counting UTF-8 bytes."""
    key_id = new_key(sdk)
    for text in ("x" * 6144, "€" * 2048):
        blob = sdk.call("Encrypt", KeyId=key_id, Plaintext=text)["CiphertextBlob"]
        assert text == sdk.call("Decrypt", CiphertextBlob=blob)["Plaintext"]
    for text in ("x" * 6145, "€" * 2048 + "x"):
        error = sdk.error("Encrypt", KeyId=key_id, Plaintext=text)
        assert (error.code, error.status) == ("InvalidParameter", 400)
        assert "Plaintext" in error.message


@pytest.mark.parametrize(
    "context", [None, {"a": "1"}, {"a": "1", "b": "2", "c": "3"}, {"a": "1", "b": "x"}, {"A": "1", "b": "2"}]
)
def test_wrong_context_is_the_same_bad_blob(sdk: SDK, context: dict[str, str] | None) -> None:
    """A missing, extra, changed or differently-cased context pair: 400 naming CiphertextBlob."""
    key_id = new_key(sdk)
    blob = sdk.call("Encrypt", KeyId=key_id, Plaintext="p", EncryptionContext={"a": "1", "b": "2"})["CiphertextBlob"]
    error = sdk.error("Decrypt", CiphertextBlob=blob, EncryptionContext=context)
    assert (error.code, error.status, error.message) == ("InvalidParameter", 400, BAD_BLOB_MESSAGE)


def test_tampered_blobs_are_refused_alike(sdk: SDK) -> None:
    """Flipped bits in every part, truncation, garbage: one 400 answer, never a hint or a 500."""
    key_id = new_key(sdk)
    raw = base64.b64decode(sdk.call("Encrypt", KeyId=key_id, Plaintext="attack at dawn")["CiphertextBlob"])
    variants = []
    for offset in (0, 8, 35, 36, 47, 48, 55, len(raw) - 16, len(raw) - 1):  # id, IV, body, tag
        for bit in (0, 7):
            flipped = bytearray(raw)
            flipped[offset] ^= 1 << bit
            variants.append(base64.b64encode(bytes(flipped)).decode())
    variants += [base64.b64encode(raw[:-1]).decode(), base64.b64encode(raw[:48]).decode(),
                 base64.b64encode(raw + b"\x00").decode(), "garbage", base64.b64encode(b"x" * 80).decode()]
    for blob in variants:
        error = sdk.error("Decrypt", CiphertextBlob=blob)
        assert (error.code, error.status, error.message) == ("InvalidParameter", 400, BAD_BLOB_MESSAGE)


@pytest.mark.parametrize(
    "context", ['{"a":"1","a":"2"}', '{"a":1}', '["a"]', '{"a":{"b":"c"}}', "{not json", json.dumps({"k": "v" * 8200})]
)
def test_bad_context_is_invalid_parameter(raw: RawSigner, server: ServerProcess, context: str) -> None:
    """Duplicate keys, non-string values, non-objects, bad JSON, over 8192 chars: 400 EncryptionContext."""
    key_id = new_key(SDK("tea", server.endpoint))
    body = raw.v1("Encrypt", {"KeyId": key_id, "Plaintext": "p", "EncryptionContext": context}).json()
    assert (body["Code"], body["HttpStatus"]) == ("InvalidParameter", 400)
    assert "EncryptionContext" in body["Message"]


def test_reencrypt_moves_a_blob_to_another_key(sdk: SDK) -> None:
    """ReEncrypt decrypts under the source context and answers a blob of the destination key."""
    source, destination = new_key(sdk), new_key(sdk, "Aliyun_SM4")
    blob = sdk.call("Encrypt", KeyId=source, Plaintext="moving", EncryptionContext={"from": "a"})["CiphertextBlob"]
    moved = sdk.call("ReEncrypt", CiphertextBlob=blob, SourceEncryptionContext={"from": "a"},
                     DestinationKeyId=destination, DestinationEncryptionContext={"to": "b"})
    assert destination == moved["KeyId"]
    opened = _other(sdk).call("Decrypt", CiphertextBlob=moved["CiphertextBlob"], EncryptionContext={"to": "b"})
    assert (destination, "moving") == (opened["KeyId"], opened["Plaintext"])
    error = sdk.error("ReEncrypt", CiphertextBlob=blob, DestinationKeyId=destination)
    assert (error.code, error.message) == ("InvalidParameter", BAD_BLOB_MESSAGE)


def test_reencrypt_asymmetric_source_must_be_an_asymmetric_encryption_key(sdk: SDK) -> None:
    """ReEncrypt naming a symmetric key as its asymmetric source is 400 Rejected.UnsupportedOperation."""
    error = sdk.error("ReEncrypt", CiphertextBlob="eA==", DestinationKeyId=new_key(sdk), SourceKeyId=new_key(sdk),
                      SourceKeyVersionId="v", SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert (error.code, error.status) == ("Rejected.UnsupportedOperation", 400)


@pytest.mark.parametrize(("extra", "length"), [({}, 32), ({"KeySpec": "AES_128"}, 16), ({"KeySpec": "AES_256"}, 32),
                                               ({"NumberOfBytes": 1}, 1), ({"NumberOfBytes": 1024}, 1024),
                                               ({"KeySpec": "AES_128", "NumberOfBytes": 64}, 64)])
def test_generate_data_key(sdk: SDK, extra: dict[str, object], length: int) -> None:
    """The data key has the asked length and Decrypt(blob) answers exactly its Plaintext."""
    key_id = new_key(sdk)
    answer = sdk.call("GenerateDataKey", KeyId=key_id, EncryptionContext={"file": "x"}, **extra)
    assert length == len(base64.b64decode(answer["Plaintext"]))
    assert key_id == answer["KeyId"]
    opened = _other(sdk).call("Decrypt", CiphertextBlob=answer["CiphertextBlob"], EncryptionContext={"file": "x"})
    assert answer["Plaintext"] == opened["Plaintext"]


def test_data_key_blob_has_alibabas_length(sdk: SDK) -> None:
    """A 32-byte data key's blob is 108 bytes: 36 + 12 + 44 (Base64 text) + 16, as Alibaba's sample."""
    answer = sdk.call("GenerateDataKey", KeyId=new_key(sdk))
    assert len(base64.b64decode(answer["CiphertextBlob"])) == 108


def test_generate_data_key_without_plaintext(sdk: SDK) -> None:
    """No Plaintext in the answer; the blob decrypts to a fresh 32-byte key's Base64 text."""
    key_id = new_key(sdk)
    answer = sdk.call("GenerateDataKeyWithoutPlaintext", KeyId=key_id)
    assert "Plaintext" not in answer
    assert len(base64.b64decode(sdk.call("Decrypt", CiphertextBlob=answer["CiphertextBlob"])["Plaintext"])) == 32


@pytest.mark.parametrize("number", [0, 1025])
def test_number_of_bytes_bounds(sdk: SDK, number: int) -> None:
    """NumberOfBytes outside 1-1024 is 400 InvalidParameter."""
    error = sdk.error("GenerateDataKey", KeyId=new_key(sdk), NumberOfBytes=number)
    assert (error.code, error.status) == ("InvalidParameter", 400)
    assert "NumberOfBytes" in error.message


@pytest.mark.parametrize(("algorithm", "digest"), [("RSAES_OAEP_SHA_256", hashes.SHA256), ("RSAES_OAEP_SHA_1", hashes.SHA1)])
def test_export_data_keys_open_with_the_private_key(sdk: SDK, algorithm: str, digest: type[hashes.HashAlgorithm]) -> None:
    """GenerateAndExportDataKey and ExportDataKey wrap the raw data key with standard OAEP."""
    key_id = new_key(sdk)
    oaep = padding.OAEP(padding.MGF1(digest()), digest(), None)
    wrap = wrap_params(algorithm)
    made = sdk.call("GenerateAndExportDataKey", KeyId=key_id, EncryptionContext={"c": "1"}, **wrap)
    assert key_id == made["KeyId"]
    raw_key = PRIVATE.decrypt(base64.b64decode(made["ExportedDataKey"]), oaep)
    assert len(raw_key) == 32
    text = _other(sdk).call("Decrypt", CiphertextBlob=made["CiphertextBlob"], EncryptionContext={"c": "1"})["Plaintext"]
    assert raw_key == base64.b64decode(text)
    exported = _other(sdk).call("ExportDataKey", CiphertextBlob=made["CiphertextBlob"], EncryptionContext={"c": "1"}, **wrap)
    assert (key_id, raw_key) == (exported["KeyId"], PRIVATE.decrypt(base64.b64decode(exported["ExportedDataKey"]), oaep))


@pytest.mark.parametrize(
    ("wrap", "code", "named"),
    [
        ({"WrappingKeySpec": "EC_SM2", "WrappingAlgorithm": "SM2PKE"}, "InvalidParameter", "PublicKeyBlob"),
        ({"WrappingKeySpec": "RSA_2048", "WrappingAlgorithm": "SM2PKE"}, "InvalidParameter", "WrappingAlgorithm"),
        ({"WrappingKeySpec": "EC_SM2", "WrappingAlgorithm": "RSAES_OAEP_SHA_1"}, "InvalidParameter", "WrappingAlgorithm"),
        ({"PublicKeyBlob": "bm90IGEga2V5"}, "InvalidParameter", "PublicKeyBlob"),
        ({"NumberOfBytes": 191}, "InvalidParameter", "NumberOfBytes"),
    ],
)
def test_export_refusals(sdk: SDK, wrap: dict[str, object], code: str, named: str) -> None:
    """An RSA key named EC_SM2, mismatched wrapping pairs, a bad public key, a key too long for OAEP: 400s."""
    params = {**wrap_params(), **wrap}
    error = sdk.error("GenerateAndExportDataKey", KeyId=new_key(sdk), **params)
    assert (code, 400) == (error.code, error.status)
    assert named in error.message


def test_export_refuses_a_blob_that_holds_no_data_key(sdk: SDK) -> None:
    """ExportDataKey of an Encrypt blob of arbitrary text is 400 naming CiphertextBlob."""
    blob = sdk.call("Encrypt", KeyId=new_key(sdk), Plaintext="not a key!")["CiphertextBlob"]
    error = sdk.error("ExportDataKey", CiphertextBlob=blob, **wrap_params())
    assert (error.code, error.status) == ("InvalidParameter", 400)
    assert "CiphertextBlob" in error.message


@pytest.mark.parametrize(("spec", "usage"), [("RSA_2048", "ENCRYPT/DECRYPT"), ("RSA_3072", "SIGN/VERIFY"), ("EC_P256", "SIGN/VERIFY")])
def test_symmetric_actions_need_a_symmetric_key(sdk: SDK, spec: str, usage: str) -> None:
    """Encrypt, the data-key actions and ReEncrypt's destination with an asymmetric key: 400 Rejected.UnsupportedOperation."""
    key_id = new_key(sdk, spec, KeyUsage=usage)
    blob = sdk.call("Encrypt", KeyId=new_key(sdk), Plaintext="x")["CiphertextBlob"]
    wrap = wrap_params()
    for action, params in [("Encrypt", {"KeyId": key_id, "Plaintext": "x"}),
                           ("GenerateDataKey", {"KeyId": key_id}),
                           ("GenerateDataKeyWithoutPlaintext", {"KeyId": key_id}),
                           ("GenerateAndExportDataKey", {"KeyId": key_id, **wrap}),
                           ("ReEncrypt", {"CiphertextBlob": blob, "DestinationKeyId": key_id})]:
        error = sdk.error(action, **params)
        assert (error.code, error.status) == ("Rejected.UnsupportedOperation", 400), action


def test_unknown_key_is_not_found(sdk: SDK) -> None:
    """Encrypt under a key id that does not exist is 404 Forbidden.KeyNotFound."""
    error = sdk.error("Encrypt", KeyId="00000000-0000-4000-8000-000000000000", Plaintext="x")
    assert (error.code, error.status) == ("Forbidden.KeyNotFound", 404)


def test_dry_run(sdk: SDK) -> None:
    """DryRun=true checks everything and answers 400 DryRunOperationError without doing it."""
    key_id = new_key(sdk)
    blob = sdk.call("Encrypt", KeyId=key_id, Plaintext="x")["CiphertextBlob"]
    for action, params in [("Encrypt", {"KeyId": key_id, "Plaintext": "x"}), ("Decrypt", {"CiphertextBlob": blob}),
                           ("GenerateDataKey", {"KeyId": key_id}),
                           ("ReEncrypt", {"CiphertextBlob": blob, "DestinationKeyId": key_id})]:
        error = sdk.error(action, DryRun="true", **params)
        assert (error.code, error.status) == ("DryRunOperationError", 400), action
    error = sdk.error("Decrypt", DryRun="true", CiphertextBlob=blob[:-4])
    assert error.code == "InvalidParameter"


def test_recipient_is_refused(server: ServerProcess) -> None:
    """Attested decryption (Recipient, sent in the form body) answers 400 UnsupportedOperation."""
    tea = SDK("tea", server.endpoint)
    key_id = new_key(tea)
    blob = tea.call("Encrypt", KeyId=key_id, Plaintext="x")["CiphertextBlob"]
    for action, params in [("Decrypt", {"CiphertextBlob": blob}), ("GenerateDataKey", {"KeyId": key_id})]:
        error = tea.error(action, Recipient="attestation-document", **params)
        assert (error.code, error.status) == ("UnsupportedOperation", 400)


def test_key_may_be_named_by_alias_or_arn(sdk: SDK) -> None:
    """Encrypt and GenerateDataKey take an alias name or a key ARN; answers carry the key id."""
    key_id = new_key(sdk)
    alias = f"alias/crypto-{key_id[:8]}"
    sdk.call("CreateAlias", AliasName=alias, KeyId=key_id)
    arn = sdk.call("DescribeKey", KeyId=key_id)["KeyMetadata"]["Arn"]
    for ref in (alias, arn):
        sealed = sdk.call("Encrypt", KeyId=ref, Plaintext="named")
        assert sealed["KeyId"] == key_id
        assert sdk.call("GenerateDataKey", KeyId=ref)["KeyId"] == key_id
        assert sdk.call("Decrypt", CiphertextBlob=sealed["CiphertextBlob"])["Plaintext"] == "named"


def test_blobs_of_every_version_decrypt_after_rotation(sdk: SDK) -> None:
    """After CreateKeyVersion, Encrypt uses the new primary and blobs of the old version still decrypt."""
    key_id = new_key(sdk)
    old = sdk.call("Encrypt", KeyId=key_id, Plaintext="before")
    sdk.call("CreateKeyVersion", KeyId=key_id)
    new = sdk.call("Encrypt", KeyId=key_id, Plaintext="after")
    assert new["KeyVersionId"] != old["KeyVersionId"]
    assert new["KeyVersionId"] == sdk.call("DescribeKey", KeyId=key_id)["KeyMetadata"]["PrimaryKeyVersion"]
    for sealed, text in ((old, "before"), (new, "after")):
        opened = _other(sdk).call("Decrypt", CiphertextBlob=sealed["CiphertextBlob"])
        assert (opened["KeyVersionId"], opened["Plaintext"]) == (sealed["KeyVersionId"], text)


def test_oversized_blob_gets_the_same_answer(sdk: SDK) -> None:
    """A blob longer than any openkms makes is refused with the one bad-blob answer."""
    error = sdk.error("Decrypt", CiphertextBlob=base64.b64encode(bytes(7000)).decode())
    assert (error.code, error.status, error.message) == ("InvalidParameter", 400, BAD_BLOB_MESSAGE)
