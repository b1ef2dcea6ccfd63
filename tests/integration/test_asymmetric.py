"""AsymmetricSign/Verify/Encrypt/Decrypt and GetPublicKey through both official SDKs, for every
asymmetric key spec and every algorithm it allows. Outputs are checked outside the service:
signatures with `cryptography`, pysmx and the openssl command; data encrypted locally with
GetPublicKey's key decrypts through the service."""

from __future__ import annotations

import base64
import hashlib
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as m
from aliyunsdkkms.request.v20160120.AsymmetricDecryptRequest import AsymmetricDecryptRequest
from aliyunsdkkms.request.v20160120.AsymmetricEncryptRequest import AsymmetricEncryptRequest
from aliyunsdkkms.request.v20160120.AsymmetricSignRequest import AsymmetricSignRequest
from aliyunsdkkms.request.v20160120.AsymmetricVerifyRequest import AsymmetricVerifyRequest
from aliyunsdkkms.request.v20160120.GetPublicKeyRequest import GetPublicKeyRequest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from pysmx.SM2 import Encrypt as smx_encrypt
from pysmx.SM2 import Verify as smx_verify

from openkms.crypto import sm2
from tests.support import der
from tests.support.calls import b64
from tests.support.clients import OldClient, tea_client
from tests.support.server import ServerProcess

SIGN_CASES = [
    ("RSA_2048", "RSA_PSS_SHA_256"),
    ("RSA_2048", "RSA_PKCS1_SHA_256"),
    ("RSA_3072", "RSA_PSS_SHA_256"),
    ("RSA_3072", "RSA_PKCS1_SHA_256"),
    ("RSA_4096", "RSA_PSS_SHA_256"),
    ("RSA_4096", "RSA_PKCS1_SHA_256"),
    ("EC_P256", "ECDSA_SHA_256"),
    ("EC_P256K", "ECDSA_SHA_256"),
    ("EC_SM2", "SM2DSA"),
]
ENCRYPT_CASES = [
    ("RSA_2048", "RSAES_OAEP_SHA_256", 190),
    ("RSA_2048", "RSAES_OAEP_SHA_1", 214),
    ("RSA_3072", "RSAES_OAEP_SHA_256", 318),
    ("RSA_3072", "RSAES_OAEP_SHA_1", 342),
    ("RSA_4096", "RSAES_OAEP_SHA_256", 446),
    ("RSA_4096", "RSAES_OAEP_SHA_1", 470),
    ("EC_SM2", "SM2PKE", 6047),
]


class AsymKey:
    """A key made once per test module: id, primary version, PEM public key."""

    def __init__(self, client: Any, spec: str, usage: str) -> None:
        meta = client.create_key(m.CreateKeyRequest(key_spec=spec, key_usage=usage)).body.key_metadata
        assert (spec, usage, "Enabled") == (meta.key_spec, meta.key_usage, meta.key_state)
        self.spec = spec
        self.key_id = meta.key_id
        self.version = meta.primary_key_version
        self.pem = client.get_public_key(
            m.GetPublicKeyRequest(key_id=self.key_id, key_version_id=self.version)
        ).body.public_key
        self.spki = serialization.load_pem_public_key(self.pem.encode()).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) if spec != "EC_SM2" else base64.b64decode("".join(self.pem.strip().splitlines()[1:-1]))


@pytest.fixture(scope="module")
def client(server: ServerProcess):  # type: ignore[no-untyped-def]
    """A Tea client for the module's fixtures."""
    return tea_client(server.endpoint)


@pytest.fixture(scope="module")
def signing_keys(client) -> dict[str, AsymKey]:  # type: ignore[no-untyped-def]
    """One SIGN/VERIFY key per asymmetric spec (a single RSA_4096 keygen for the module)."""
    return {spec: AsymKey(client, spec, "SIGN/VERIFY") for spec in dict(SIGN_CASES)}


@pytest.fixture(scope="module")
def encryption_keys(client) -> dict[str, AsymKey]:  # type: ignore[no-untyped-def]
    """One ENCRYPT/DECRYPT key per spec that can encrypt."""
    return {spec: AsymKey(client, spec, "ENCRYPT/DECRYPT") for spec, _, _ in ENCRYPT_CASES}


def digest_for(key: AsymKey, message: bytes) -> bytes:
    """SHA-256 of the message, or for SM2DSA e = SM3(Z_A || M) with the default id."""
    if key.spec == "EC_SM2":
        return sm2.digest(key.spki, message)
    return hashlib.sha256(message).digest()


def verify_outside(key: AsymKey, algorithm: str, message: bytes, signature: bytes) -> None:
    """Check a signature without the service: `cryptography` over the message, pysmx for SM2."""
    if key.spec == "EC_SM2":
        r, s = utils.decode_dss_signature(signature)
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert smx_verify(raw, message, sm2.public_point(key.spki), 64, uid=sm2.DEFAULT_ID)
        return
    public = serialization.load_pem_public_key(key.pem.encode())
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    else:
        assert isinstance(public, rsa.RSAPublicKey)
        pad = (
            padding.PSS(padding.MGF1(hashes.SHA256()), 32)
            if algorithm == "RSA_PSS_SHA_256"
            else padding.PKCS1v15()
        )
        public.verify(signature, message, pad, hashes.SHA256())


def encrypt_outside(key: AsymKey, algorithm: str, plaintext: bytes) -> bytes:
    """Encrypt with the public key from GetPublicKey, without the service (pysmx for SM2)."""
    if algorithm == "SM2PKE":
        return der.sm2_ciphertext_from_raw(smx_encrypt(plaintext, sm2.public_point(key.spki), 64))
    public = serialization.load_pem_public_key(key.pem.encode())
    assert isinstance(public, rsa.RSAPublicKey)
    h = hashes.SHA256() if algorithm == "RSAES_OAEP_SHA_256" else hashes.SHA1()
    return public.encrypt(plaintext, padding.OAEP(padding.MGF1(h), h, None))


@pytest.mark.parametrize(("spec", "algorithm"), SIGN_CASES)
def test_tea_sign_is_verified_outside_and_by_verify(tea, signing_keys, spec: str, algorithm: str) -> None:  # type: ignore[no-untyped-def]
    """AsymmetricSign's Value is a standard signature over the digest; AsymmetricVerify says true
    for it and Value=false (HTTP 200) for another digest."""
    key = signing_keys[spec]
    message = secrets.token_bytes(40)
    digest = digest_for(key, message)
    body = tea.asymmetric_sign(
        m.AsymmetricSignRequest(key_id=key.key_id, key_version_id=key.version, algorithm=algorithm, digest=b64(digest))
    ).body
    assert (key.key_id, key.version) == (body.key_id, body.key_version_id)
    signature = base64.b64decode(body.value)
    verify_outside(key, algorithm, message, signature)

    def verify(d: bytes, sig: bytes) -> bool:
        return tea.asymmetric_verify(
            m.AsymmetricVerifyRequest(key_id=key.key_id, key_version_id=key.version, algorithm=algorithm,
                                      digest=b64(d), value=b64(sig))
        ).body.value

    assert verify(digest, signature) is True
    assert verify(hashlib.sha256(b"other").digest(), signature) is False
    assert verify(digest, signature[:-1] + bytes([signature[-1] ^ 1])) is False


@pytest.mark.parametrize(("spec", "algorithm"), SIGN_CASES)
def test_old_sdk_sign_and_verify(old: OldClient, signing_keys, spec: str, algorithm: str) -> None:  # type: ignore[no-untyped-def]
    """The old core SDK signs and verifies with every spec and algorithm."""
    key = signing_keys[spec]
    message = b"old sdk message"
    digest = b64(digest_for(key, message))
    body = old.call(AsymmetricSignRequest(), KeyId=key.key_id, KeyVersionId=key.version, Algorithm=algorithm, Digest=digest)
    verify_outside(key, algorithm, message, base64.b64decode(body["Value"]))
    verified = old.call(AsymmetricVerifyRequest(), KeyId=key.key_id, KeyVersionId=key.version,
                        Algorithm=algorithm, Digest=digest, Value=body["Value"])
    assert (True, key.key_id, key.version) == (verified["Value"], verified["KeyId"], verified["KeyVersionId"])


def test_signature_made_outside_verifies_through_the_service(tea, signing_keys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A signature made elsewhere with the same key is not possible; instead a signature made by
    the service verifies with the openssl command over the message (SM2, distid
    1234567812345678, and P-256)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    message = b"openssl checks this"
    (tmp_path / "msg").write_bytes(message)
    for spec, algorithm, extra in (("EC_SM2", "SM2DSA", ["-sm3", "-sigopt", "distid:1234567812345678"]),
                                   ("EC_P256", "ECDSA_SHA_256", ["-sha256"])):
        key = signing_keys[spec]
        (tmp_path / "pub.pem").write_text(key.pem)
        sig = tea.asymmetric_sign(m.AsymmetricSignRequest(
            key_id=key.key_id, key_version_id=key.version, algorithm=algorithm,
            digest=b64(digest_for(key, message)))).body.value
        (tmp_path / "sig").write_bytes(base64.b64decode(sig))
        out = subprocess.run(["openssl", "dgst", *extra, "-verify", "pub.pem", "-signature", "sig", "msg"],
                             cwd=tmp_path, capture_output=True, text=True)
        assert out.stdout.strip() == "Verified OK", spec


@pytest.mark.parametrize(("spec", "algorithm", "limit"), ENCRYPT_CASES)
def test_local_encryption_decrypts_through_the_service(tea, encryption_keys, spec: str, algorithm: str, limit: int) -> None:  # type: ignore[no-untyped-def]
    """Data encrypted locally with GetPublicKey's key, up to the documented limit, decrypts
    through AsymmetricDecrypt; Plaintext comes back as the Base64 of the raw bytes."""
    key = encryption_keys[spec]
    for size in (1, limit):
        plaintext = secrets.token_bytes(size)
        body = tea.asymmetric_decrypt(m.AsymmetricDecryptRequest(
            key_id=key.key_id, key_version_id=key.version, algorithm=algorithm,
            ciphertext_blob=b64(encrypt_outside(key, algorithm, plaintext)))).body
        assert (b64(plaintext), key.key_id, key.version) == (body.plaintext, body.key_id, body.key_version_id)


@pytest.mark.parametrize(("spec", "algorithm", "limit"), ENCRYPT_CASES)
def test_old_sdk_encrypt_decrypt_and_limit(old: OldClient, encryption_keys, spec: str, algorithm: str, limit: int) -> None:  # type: ignore[no-untyped-def]
    """The old SDK round-trips through AsymmetricEncrypt/Decrypt; one byte over the limit is
    400 InvalidParameter naming Plaintext."""
    from aliyunsdkcore.acs_exception.exceptions import ServerException

    key = encryption_keys[spec]
    plaintext = secrets.token_bytes(limit)
    enc = old.call(AsymmetricEncryptRequest(), KeyId=key.key_id, KeyVersionId=key.version,
                   Algorithm=algorithm, Plaintext=b64(plaintext))
    assert (key.key_id, key.version) == (enc["KeyId"], enc["KeyVersionId"])
    dec = old.call(AsymmetricDecryptRequest(), KeyId=key.key_id, KeyVersionId=key.version,
                   Algorithm=algorithm, CiphertextBlob=enc["CiphertextBlob"])
    assert b64(plaintext) == dec["Plaintext"]
    with pytest.raises(ServerException) as info:
        old.call(AsymmetricEncryptRequest(), KeyId=key.key_id, KeyVersionId=key.version,
                 Algorithm=algorithm, Plaintext=b64(plaintext + b"x"))
    assert (info.value.get_error_code(), info.value.get_http_status()) == ("InvalidParameter", 400)
    assert "Plaintext" in info.value.get_error_msg()


def test_rsa_ciphertexts_are_standard_oaep(tea, encryption_keys) -> None:  # type: ignore[no-untyped-def]
    """RSA ciphertexts are k bytes of raw OAEP and two encryptions of one plaintext differ."""
    key = encryption_keys["RSA_2048"]
    blobs = {
        tea.asymmetric_encrypt(m.AsymmetricEncryptRequest(key_id=key.key_id, key_version_id=key.version,
                                                          algorithm="RSAES_OAEP_SHA_256", plaintext=b64(b"same"))).body.ciphertext_blob
        for _ in range(2)
    }
    assert len(blobs) == 2
    assert {256} == {len(base64.b64decode(b)) for b in blobs}


def test_sm2_ciphertext_is_gmt0009_der(tea, encryption_keys) -> None:  # type: ignore[no-untyped-def]
    """An SM2PKE CiphertextBlob is GM/T 0009 DER SEQUENCE {x, y, C3, C2} with |C2| = |plaintext|."""
    key = encryption_keys["EC_SM2"]
    blob = base64.b64decode(tea.asymmetric_encrypt(m.AsymmetricEncryptRequest(
        key_id=key.key_id, key_version_id=key.version, algorithm="SM2PKE", plaintext=b64(b"12345"))).body.ciphertext_blob)
    raw = der.sm2_ciphertext_to_raw(blob)
    assert len(raw) == 64 + 32 + 5


@pytest.mark.parametrize("spec", ["RSA_2048", "RSA_3072", "RSA_4096", "EC_P256", "EC_P256K", "EC_SM2"])
def test_get_public_key_is_pem(tea, old: OldClient, signing_keys, spec: str) -> None:  # type: ignore[no-untyped-def]
    """GetPublicKey answers a SubjectPublicKeyInfo PEM with \\n line breaks, through both SDKs."""
    key = signing_keys[spec]
    pem = tea.get_public_key(m.GetPublicKeyRequest(key_id=key.key_id, key_version_id=key.version)).body.public_key
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert pem.endswith("-----END PUBLIC KEY-----\n")
    assert "\r" not in pem
    if spec == "EC_SM2":
        assert len(sm2.public_point(key.spki)) == 64
    else:
        serialization.load_pem_public_key(pem.encode())
    body = old.call(GetPublicKeyRequest(), KeyId=key.key_id, KeyVersionId=key.version)
    assert (pem, key.key_id, key.version) == (body["PublicKey"], body["KeyId"], body["KeyVersionId"])
