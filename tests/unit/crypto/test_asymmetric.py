"""RSA/ECDSA/SM2 primitives: standard outputs that `cryptography` checks independently."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from openkms.crypto import asymmetric, keygen, mac, selftest, sm2
from openkms.domain.keyspec import SPECS, Kind

DIGEST = hashlib.sha256(b"message").digest()


@pytest.fixture(scope="module")
def rsa_key() -> tuple[asymmetric.PrivateKey, rsa.RSAPublicKey]:
    """An RSA_2048 key made by keygen, loaded back from its PKCS#8 DER."""
    private_der, public_der = keygen.generate(SPECS["RSA_2048"])
    assert public_der is not None
    public = serialization.load_der_public_key(public_der)
    assert isinstance(public, rsa.RSAPublicKey)
    return asymmetric.load_private(Kind.RSA, private_der), public


def test_pss_signature_has_a_32_byte_salt(rsa_key) -> None:  # type: ignore[no-untyped-def]
    """RSA_PSS_SHA_256 verifies with MGF1-SHA-256 and salt length exactly 32."""
    private, public = rsa_key
    sig = asymmetric.sign(private, "RSA_PSS_SHA_256", DIGEST)
    public.verify(sig, DIGEST, padding.PSS(padding.MGF1(hashes.SHA256()), 32), utils.Prehashed(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        public.verify(sig, DIGEST, padding.PSS(padding.MGF1(hashes.SHA256()), 20), utils.Prehashed(hashes.SHA256()))


def test_pkcs1_signature_is_over_the_message_digest(rsa_key) -> None:  # type: ignore[no-untyped-def]
    """RSA_PKCS1_SHA_256 over a digest equals a PKCS#1 v1.5 signature of the message."""
    private, public = rsa_key
    sig = asymmetric.sign(private, "RSA_PKCS1_SHA_256", DIGEST)
    public.verify(sig, b"message", padding.PKCS1v15(), hashes.SHA256())
    assert asymmetric.verify(public, "RSA_PKCS1_SHA_256", DIGEST, sig)
    assert not asymmetric.verify(public, "RSA_PKCS1_SHA_256", DIGEST, sig[:-1] + bytes([sig[-1] ^ 1]))
    assert not asymmetric.verify(public, "RSA_PSS_SHA_256", DIGEST, sig)


@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1"])
def test_oaep_round_trips_with_cryptography(rsa_key, algorithm: str) -> None:  # type: ignore[no-untyped-def]
    """OAEP uses the same hash for MGF1 and no label: `cryptography` encrypts, we decrypt."""
    private, public = rsa_key
    h = hashes.SHA256() if algorithm.endswith("256") else hashes.SHA1()
    ct = public.encrypt(b"data", padding.OAEP(padding.MGF1(h), h, None))
    assert asymmetric.decrypt(private, algorithm, ct) == b"data"
    other = "RSAES_OAEP_SHA_1" if algorithm.endswith("256") else "RSAES_OAEP_SHA_256"
    with pytest.raises(asymmetric.DecryptError):
        asymmetric.decrypt(private, other, ct)
    with pytest.raises(asymmetric.DecryptError):
        asymmetric.decrypt(private, algorithm, b"short")


@pytest.mark.parametrize("spec", ["EC_P256", "EC_P256K"])
def test_ecdsa_signature_is_der_over_the_digest(spec: str) -> None:
    """ECDSA_SHA_256 gives a DER signature that `cryptography` verifies against the message."""
    private_der, public_der = keygen.generate(SPECS[spec])
    assert public_der is not None
    private = asymmetric.load_private(Kind.EC, private_der)
    public = asymmetric.load_public(Kind.EC, public_der)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    sig = asymmetric.sign(private, "ECDSA_SHA_256", DIGEST)
    utils.decode_dss_signature(sig)
    public.verify(sig, b"message", ec.ECDSA(hashes.SHA256()))
    assert not asymmetric.verify(public, "ECDSA_SHA_256", DIGEST, b"\x30\x00")


def test_sm2_through_the_generic_functions() -> None:
    """SM2DSA and SM2PKE go through the same four functions as RSA and ECDSA."""
    private_der, public_der = keygen.generate(SPECS["EC_SM2"])
    assert public_der is not None
    private = asymmetric.load_private(Kind.SM2, private_der)
    public = asymmetric.load_public(Kind.SM2, public_der)
    e = sm2.digest(public_der, b"m")
    assert asymmetric.verify(public, "SM2DSA", e, asymmetric.sign(private, "SM2DSA", e))
    assert asymmetric.decrypt(private, "SM2PKE", asymmetric.encrypt(public, "SM2PKE", b"p")) == b"p"
    with pytest.raises(asymmetric.DecryptError):
        asymmetric.decrypt(private, "SM2PKE", b"junk")


def test_algorithm_that_does_not_fit_the_key_is_a_programming_error(rsa_key) -> None:  # type: ignore[no-untyped-def]
    """The domain filters algorithms first; a mismatch reaching crypto is a ValueError."""
    private, public = rsa_key
    with pytest.raises(ValueError):
        asymmetric.sign(private, "ECDSA_SHA_256", DIGEST)
    with pytest.raises(ValueError):
        asymmetric.verify(public, "SM2DSA", DIGEST, b"")
    with pytest.raises(ValueError):
        asymmetric.encrypt(public, "SM2PKE", b"x")
    with pytest.raises(ValueError):
        asymmetric.decrypt(private, "SM2PKE", b"x")


def test_public_pem_is_standard(rsa_key) -> None:  # type: ignore[no-untyped-def]
    """The hand-made PEM loads in `cryptography` and has 64-column lines."""
    public = rsa_key[1]
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pem = asymmetric.public_pem(spki)
    expected = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert expected.decode() == pem


def test_hmac_verify_is_exact() -> None:
    """VerifyMac accepts the exact tag only: not a truncated or altered one."""
    tag = mac.generate("HMAC_SHA_256", b"k", b"m")
    assert mac.verify("HMAC_SHA_256", b"k", b"m", tag)
    assert not mac.verify("HMAC_SHA_256", b"k", b"m", tag[:16])
    assert not mac.verify("HMAC_SHA_256", b"k", b"n", tag)
    assert not mac.verify("HMAC_SHA_384", b"k", b"m", tag)


def test_selftest_passes_and_catches_a_wrong_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The start-up self-test passes here and fails when one known answer is wrong."""
    selftest.run()
    monkeypatch.setitem(selftest.HMAC_KATS, "HMAC_SM3", "00" * 32)
    with pytest.raises(selftest.SelfTestFailed, match="HMAC_SM3"):
        selftest.run()


def test_selftest_fails_when_sm2_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without OpenSSL 3 libcrypto the server refuses to start, saying SM2 is unavailable."""

    def missing(_: bytes) -> sm2.PrivateKey:
        raise sm2.SM2Error("no libcrypto")

    monkeypatch.setattr(sm2, "load_private", missing)
    with pytest.raises(selftest.SelfTestFailed, match="SM2 unavailable"):
        selftest.run()
