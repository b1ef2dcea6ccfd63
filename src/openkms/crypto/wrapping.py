"""Wrapping a data key under a caller's public key (ExportDataKey, GenerateAndExportDataKey).

The caller sends a DER SubjectPublicKeyInfo; the answer is the raw public-key ciphertext, which
the holder of the private key (an HSM, a crypto module) decrypts with a standard OAEP routine, or
for SM2PKE with SM2 decryption of a GM/T 0009 DER ciphertext (:mod:`openkms.crypto.sm2`).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from openkms.crypto import sm2

OAEP_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "RSAES_OAEP_SHA_256": hashes.SHA256,
    "RSAES_OAEP_SHA_1": hashes.SHA1,
}


class BadPublicKey(ValueError):
    """The public key does not parse, or is not of the kind and size named."""


def load_rsa_public(der: bytes, bits: int) -> rsa.RSAPublicKey:
    """Parse a DER SubjectPublicKeyInfo holding an RSA key of exactly ``bits`` bits."""
    try:
        key = load_der_public_key(der)
    except (ValueError, TypeError):
        raise BadPublicKey from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size != bits:
        raise BadPublicKey
    return key


def oaep_max_plaintext(bits: int, algorithm: str) -> int:
    """RFC 8017: k - 2*hLen - 2 bytes (190 for RSA-2048 with SHA-256, 214 with SHA-1)."""
    return bits // 8 - 2 * OAEP_HASHES[algorithm]().digest_size - 2


def rsa_oaep_encrypt(key: rsa.RSAPublicKey, algorithm: str, plaintext: bytes) -> bytes:
    """RSAES-OAEP with the same hash for OAEP and MGF1, as Alibaba's algorithm names mean."""
    digest = OAEP_HASHES[algorithm]
    return key.encrypt(plaintext, padding.OAEP(mgf=padding.MGF1(digest()), algorithm=digest(), label=None))


def load_sm2_public(der: bytes) -> sm2.PublicKey:
    """Parse a DER SubjectPublicKeyInfo holding an SM2 key."""
    try:
        return sm2.load_public(der)
    except sm2.SM2Error:
        raise BadPublicKey from None


def sm2_encrypt(key: sm2.PublicKey, plaintext: bytes) -> bytes:
    """SM2 encryption with SM3; the answer is GM/T 0009 DER ``SEQUENCE {x, y, C3, C2}``."""
    return sm2.encrypt(key, plaintext)
