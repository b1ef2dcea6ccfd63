"""Data-key export wrapping (crypto/wrapping.py): standard RSAES-OAEP a private key opens."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from openkms.crypto import wrapping

PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
DER = PRIVATE.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize(("algorithm", "digest"), [("RSAES_OAEP_SHA_256", hashes.SHA256), ("RSAES_OAEP_SHA_1", hashes.SHA1)])
def test_oaep_opens_with_the_private_key(algorithm: str, digest: type[hashes.HashAlgorithm]) -> None:
    """The wrapped key decrypts with OAEP(hash, MGF1(hash)) and the private key."""
    key = wrapping.load_rsa_public(DER, 2048)
    limit = wrapping.oaep_max_plaintext(2048, algorithm)
    data = bytes(range(256))[:limit]
    wrapped = wrapping.rsa_oaep_encrypt(key, algorithm, data)
    assert data == PRIVATE.decrypt(wrapped, padding.OAEP(padding.MGF1(digest()), digest(), None))


def test_oaep_limits() -> None:
    """RSA-2048 wraps at most 190 bytes with SHA-256 and 214 with SHA-1 (RFC 8017)."""
    assert (wrapping.oaep_max_plaintext(2048, "RSAES_OAEP_SHA_256"), wrapping.oaep_max_plaintext(2048, "RSAES_OAEP_SHA_1")) == (190, 214)


def test_wrong_keys_are_refused() -> None:
    """Garbage, an EC key and an RSA key of another size are BadPublicKey."""
    ec_der = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    rsa3072 = rsa.generate_private_key(public_exponent=65537, key_size=3072).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for der in (b"", b"garbage", DER[:-1], ec_der, rsa3072):
        with pytest.raises(wrapping.BadPublicKey):
            wrapping.load_rsa_public(der, 2048)
