"""What asymmetric and MAC operations refuse, with Alibaba's codes: wrong usage, wrong
algorithm, bad digests and versions, and key states (Disabled, PendingDeletion)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkkms.request.v20160120.AsymmetricEncryptRequest import AsymmetricEncryptRequest
from aliyunsdkkms.request.v20160120.AsymmetricSignRequest import AsymmetricSignRequest

from tests.support.calls import SDK
from tests.support.clients import OldClient
from tests.support.keys import new_key_and_version, new_tea_key
from tests.support.sdk_errors import old_error, tea_error
from tests.support.server import ServerProcess

DIGEST = base64.b64encode(hashlib.sha256(b"m").digest()).decode()


@pytest.fixture(scope="module")
def keys(server: ServerProcess) -> dict[str, tuple[str, str]]:
    """A small key of each usage: P-256 signing, SM2 encryption, AES, HMAC-SHA-256."""
    client = SDK("tea", server.endpoint)
    return {
        "sign": new_key_and_version(client, "EC_P256"),
        "sm2sign": new_key_and_version(client, "EC_SM2", "SIGN/VERIFY"),
        "encrypt": new_key_and_version(client, "EC_SM2", "ENCRYPT/DECRYPT"),
        "aes": new_key_and_version(client, "Aliyun_AES_256"),
        "hmac": new_key_and_version(client, "HMAC_SHA_256"),
    }


def sign(tea: Any, key: tuple[str, str], algorithm: str = "ECDSA_SHA_256", digest: str = DIGEST) -> Any:
    return tea.asymmetric_sign(m.AsymmetricSignRequest(key_id=key[0], key_version_id=key[1], algorithm=algorithm, digest=digest))


def encrypt(tea: Any, key: tuple[str, str], algorithm: str = "SM2PKE", plaintext: str = "aGk=") -> Any:
    return tea.asymmetric_encrypt(m.AsymmetricEncryptRequest(key_id=key[0], key_version_id=key[1], algorithm=algorithm, plaintext=plaintext))


def decrypt(tea: Any, key: tuple[str, str], blob: str, algorithm: str = "SM2PKE") -> Any:
    return tea.asymmetric_decrypt(m.AsymmetricDecryptRequest(key_id=key[0], key_version_id=key[1], algorithm=algorithm, ciphertext_blob=blob))


def verify(tea: Any, key: tuple[str, str], value: str, algorithm: str = "ECDSA_SHA_256") -> Any:
    return tea.asymmetric_verify(m.AsymmetricVerifyRequest(key_id=key[0], key_version_id=key[1], algorithm=algorithm, digest=DIGEST, value=value))


def mac(tea: Any, key: tuple[str, str], algorithm: str = "HMAC_SHA_256") -> Any:
    return tea.generate_mac(m.GenerateMacRequest(key_id=key[0], algorithm=algorithm, message="aGk="))


def test_usage_mismatch_is_rejected_unsupported_operation(tea, keys) -> None:  # type: ignore[no-untyped-def]
    """Sign with an encryption key, Encrypt with a signing key, asymmetric operations on a
    symmetric key and MACs with a non-HMAC key: 400 Rejected.UnsupportedOperation."""
    expected = ("Rejected.UnsupportedOperation", 400)
    assert expected == tea_error(lambda: sign(tea, keys["encrypt"], "SM2DSA"))
    assert expected == tea_error(lambda: encrypt(tea, keys["sm2sign"]))
    assert expected == tea_error(lambda: decrypt(tea, keys["sm2sign"], "aGk="))
    assert expected == tea_error(lambda: verify(tea, keys["encrypt"], "aGk=", "SM2DSA"))
    assert expected == tea_error(lambda: sign(tea, keys["aes"]))
    assert expected == tea_error(lambda: encrypt(tea, keys["aes"], "RSAES_OAEP_SHA_256"))
    assert expected == tea_error(lambda: sign(tea, keys["hmac"]))
    assert expected == tea_error(lambda: mac(tea, keys["sign"]))
    assert expected == tea_error(lambda: mac(tea, keys["aes"]))
    assert expected == tea_error(
        lambda: tea.get_public_key(m.GetPublicKeyRequest(key_id=keys["aes"][0], key_version_id=keys["aes"][1]))
    )


def test_old_sdk_sees_the_same_codes(old: OldClient, keys) -> None:  # type: ignore[no-untyped-def]
    """The old SDK gets Rejected.UnsupportedOperation and InvalidParameter with HTTP 400."""
    assert old_error(old, AsymmetricEncryptRequest(), KeyId=keys["sign"][0], KeyVersionId=keys["sign"][1],
                     Algorithm="RSAES_OAEP_SHA_256", Plaintext="aGk=") == ("Rejected.UnsupportedOperation", 400)
    with pytest.raises(ServerException) as info:
        old.call(AsymmetricSignRequest(), KeyId=keys["sign"][0], KeyVersionId=keys["sign"][1],
                 Algorithm="ECDSA_SHA_256", Digest=base64.b64encode(b"short").decode())
    assert (info.value.get_error_code(), info.value.get_http_status()) == ("InvalidParameter", 400)
    assert "Digest" in info.value.get_error_msg()


def test_algorithm_must_fit_the_key(tea, keys) -> None:  # type: ignore[no-untyped-def]
    """An algorithm of another key type, or none Alibaba knows, is 400 InvalidParameter."""
    for call in (
        lambda: sign(tea, keys["sign"], "RSA_PSS_SHA_256"),
        lambda: sign(tea, keys["sm2sign"], "ECDSA_SHA_256"),
        lambda: sign(tea, keys["sign"], "ECDSA_SHA_384"),
        lambda: encrypt(tea, keys["encrypt"], "RSAES_OAEP_SHA_1"),
        lambda: mac(tea, keys["hmac"], "HMAC_SM3"),
        lambda: mac(tea, keys["hmac"], "HMAC_MD5"),
    ):
        code, status = tea_error(call)
        assert (code, status) == ("InvalidParameter", 400)


def test_digest_and_base64_are_checked(tea, keys) -> None:  # type: ignore[no-untyped-def]
    """A digest of the wrong length or text that is not Base64 is 400 InvalidParameter; a
    missing KeyVersionId is MissingParameter."""
    for digest in (base64.b64encode(bytes(31)).decode(), base64.b64encode(bytes(48)).decode(), "not base64!", "AAA"):
        assert tea_error(lambda d=digest: sign(tea, keys["sign"], digest=d)) == ("InvalidParameter", 400)
    assert tea_error(lambda: encrypt(tea, keys["encrypt"], plaintext="%%%")) == ("InvalidParameter", 400)
    assert tea_error(lambda: verify(tea, keys["sign"], "!!")) == ("InvalidParameter", 400)
    assert tea_error(
        lambda: tea.asymmetric_sign(m.AsymmetricSignRequest(key_id=keys["sign"][0], algorithm="ECDSA_SHA_256", digest=DIGEST))
    ) == ("MissingParameter", 400)


def test_bad_signature_bytes_verify_false(tea, keys) -> None:  # type: ignore[no-untyped-def]
    """Base64 that is not a signature at all is Value=false, not an error."""
    assert verify(tea, keys["sign"], base64.b64encode(b"\x30\x02\x02\x00").decode()).body.value is False
    assert verify(tea, keys["sm2sign"], "AAAA", "SM2DSA").body.value is False


def test_bad_ciphertext_is_invalid_parameter(tea, keys) -> None:  # type: ignore[no-untyped-def]
    """A ciphertext that does not decrypt (tampered, truncated, garbage) is 400 InvalidParameter
    naming CiphertextBlob."""
    blob = base64.b64decode(encrypt(tea, keys["encrypt"]).body.ciphertext_blob)
    for bad in (blob[:-1] + bytes([blob[-1] ^ 1]), blob[:20], b"garbage"):
        with pytest.raises(ClientException) as info:
            decrypt(tea, keys["encrypt"], base64.b64encode(bad).decode())
        assert (info.value.code, info.value.status_code) == ("InvalidParameter", 400)
        assert "CiphertextBlob" in info.value.message


def test_sm2_ciphertext_with_another_encoding_is_invalid(tea, keys) -> None:  # type: ignore[no-untyped-def]
    """An SM2 ciphertext decrypts only in its one DER encoding: the same ciphertext with a byte
    appended, or with its outer length in long form, is 400 InvalidParameter naming
    CiphertextBlob, as any ciphertext that does not decrypt."""
    blob = base64.b64decode(encrypt(tea, keys["encrypt"]).body.ciphertext_blob)
    assert decrypt(tea, keys["encrypt"], base64.b64encode(blob).decode()).body.plaintext == "aGk="
    assert blob[0] == 0x30 and blob[1] < 0x80
    for other in (blob + b"\0", blob + b"junk", bytes([0x30, 0x81]) + blob[1:]):
        with pytest.raises(ClientException) as info:
            decrypt(tea, keys["encrypt"], base64.b64encode(other).decode())
        assert (info.value.code, info.value.status_code) == ("InvalidParameter", 400)
        assert "CiphertextBlob" in info.value.message


def test_version_must_belong_to_the_key(tea, keys) -> None:  # type: ignore[no-untyped-def]
    """An unknown version, or a version of another key, is 404 Forbidden.KeyVersionNotFound."""
    expected = ("Forbidden.KeyVersionNotFound", 404)
    unknown = (keys["sign"][0], "00000000-0000-4000-8000-000000000000")
    foreign = (keys["sign"][0], keys["sm2sign"][1])
    assert expected == tea_error(lambda: sign(tea, unknown))
    assert expected == tea_error(lambda: sign(tea, foreign))
    assert expected == tea_error(lambda: tea.get_public_key(m.GetPublicKeyRequest(key_id=foreign[0], key_version_id=foreign[1])))


def test_unknown_key_is_not_found(tea) -> None:  # type: ignore[no-untyped-def]
    """An unknown key id or alias is 404 before anything else is checked."""
    assert tea_error(
        lambda: sign(tea, ("00000000-0000-4000-8000-000000000000", "v"))
    ) == ("Forbidden.KeyNotFound", 404)
    assert tea_error(lambda: mac(tea, ("alias/none", ""))) == ("Forbidden.AliasNotFound", 404)


def test_recipient_is_refused(tea, keys) -> None:  # type: ignore[no-untyped-def]
    """AsymmetricDecrypt with a Recipient (attested decryption) is 400 UnsupportedOperation."""
    blob = encrypt(tea, keys["encrypt"]).body.ciphertext_blob
    req = m.AsymmetricDecryptRequest(key_id=keys["encrypt"][0], key_version_id=keys["encrypt"][1],
                                     algorithm="SM2PKE", ciphertext_blob=blob, recipient="attestation")
    assert tea_error(lambda: tea.asymmetric_decrypt(req)) == ("UnsupportedOperation", 400)


@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("EC_SM2", "GENERATE/VERIFY_MAC"),
        ("EC_P256K", "ENCRYPT/DECRYPT"),
        ("HMAC_SM3", "SIGN/VERIFY"),
        ("HMAC_SHA_512", "ENCRYPT/DECRYPT"),
        ("Aliyun_SM4", "GENERATE/VERIFY_MAC"),
        ("RSA_3072", "GENERATE/VERIFY_MAC"),
    ],
)
def test_create_key_refuses_spec_usage_pairs(tea, spec: str, usage: str) -> None:  # type: ignore[no-untyped-def]
    """A KeySpec/KeyUsage pair the API does not allow is 400 InvalidParameter at CreateKey."""
    assert tea_error(lambda: new_tea_key(tea, key_spec=spec, key_usage=usage)) == ("InvalidParameter", 400)


def test_hmac_and_sm2_keys_do_not_rotate_or_import(tea) -> None:  # type: ignore[no-untyped-def]
    """HMAC and SM2 keys take no automatic rotation and no EXTERNAL origin."""
    for spec in ("HMAC_SHA_256", "EC_SM2"):
        rotating = m.CreateKeyRequest(key_spec=spec, enable_automatic_rotation=True, rotation_interval="30d")
        external = m.CreateKeyRequest(key_spec=spec, origin="EXTERNAL")
        assert tea_error(lambda r=rotating: tea.create_key(r)) == ("Rejected.UnsupportedOperation", 400)
        assert tea_error(lambda r=external: tea.create_key(r)) == ("InvalidParameter", 400)


@pytest.fixture
def set_state(tea) -> Callable[[str, str], None]:  # type: ignore[no-untyped-def]
    """Move a key between Enabled, Disabled and PendingDeletion with the lifecycle actions."""

    def put(key_id: str, state: str) -> None:
        current = tea.describe_key(m.DescribeKeyRequest(key_id=key_id)).body.key_metadata.key_state
        if current == "PendingDeletion":
            tea.cancel_key_deletion(m.CancelKeyDeletionRequest(key_id=key_id))
        if state == "Disabled":
            tea.disable_key(m.DisableKeyRequest(key_id=key_id))
        elif state == "PendingDeletion":
            tea.schedule_key_deletion(m.ScheduleKeyDeletionRequest(key_id=key_id, pending_window_in_days=7))
        else:
            tea.enable_key(m.EnableKeyRequest(key_id=key_id))
        assert tea.describe_key(m.DescribeKeyRequest(key_id=key_id)).body.key_metadata.key_state == state

    return put


@pytest.mark.parametrize(("state", "code"), [("Disabled", "Rejected.Disabled"), ("PendingDeletion", "Rejected.PendingDeletion")])
def test_state_rules_apply(tea, server: ServerProcess, set_state, state: str, code: str) -> None:  # type: ignore[no-untyped-def]
    """A Disabled or PendingDeletion key refuses Sign, Verify, Encrypt, Decrypt, GetPublicKey and
    MACs with 409 Rejected.<State>; enabled again, it works."""
    client = SDK("tea", server.endpoint)
    signer, encrypter, hmac_key = (new_key_and_version(client, spec) for spec in ("EC_P256", "RSA_2048", "HMAC_SM3"))
    signature = sign(tea, signer).body.value
    blob = encrypt(tea, encrypter, "RSAES_OAEP_SHA_256").body.ciphertext_blob
    tag = mac(tea, hmac_key, "HMAC_SM3").body.mac
    for key_id in (signer[0], encrypter[0], hmac_key[0]):
        set_state(key_id, state)
    expected = (code, 409)
    assert expected == tea_error(lambda: sign(tea, signer))
    assert expected == tea_error(lambda: verify(tea, signer, signature))
    assert expected == tea_error(lambda: encrypt(tea, encrypter, "RSAES_OAEP_SHA_256"))
    assert expected == tea_error(lambda: decrypt(tea, encrypter, blob, "RSAES_OAEP_SHA_256"))
    assert expected == tea_error(lambda: tea.get_public_key(m.GetPublicKeyRequest(key_id=signer[0], key_version_id=signer[1])))
    assert expected == tea_error(lambda: mac(tea, hmac_key, "HMAC_SM3"))
    assert expected == tea_error(lambda: tea.verify_mac(m.VerifyMacRequest(
        key_id=hmac_key[0], algorithm="HMAC_SM3", message="aGk=", mac=tag)))
    for key_id in (signer[0], encrypter[0], hmac_key[0]):
        set_state(key_id, "Enabled")
    assert verify(tea, signer, signature).body.value is True
    assert decrypt(tea, encrypter, blob, "RSAES_OAEP_SHA_256").body.plaintext == "aGk="
