"""Unwrapping imported key material (ImportKeyMaterial): the server's half of the wrapping a
caller did with the public key of GetParametersForImport (RSA_2048, or EC_SM2 with SM2PKE through
:mod:`openkms.crypto.sm2`).

Every way a ciphertext can fail raises the one :class:`UnwrapFailed`. SM2PKE checks its own C3
hash, so a garbled ciphertext always fails. With RSAES_PKCS1_V1_5,
OpenSSL 3.2 and later use implicit rejection: a ciphertext with bad padding decrypts to a
deterministic random-looking message instead of failing, so a padding oracle learns nothing. The
caller still checks the result's length, and burns the token on any failure (see service/byok.py).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from openkms.crypto import sm2

RSA_WRAPPING_BITS = 2048
_OAEP_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "RSAES_OAEP_SHA_256": hashes.SHA256,
    "RSAES_OAEP_SHA_1": hashes.SHA1,
}
RSA_ALGORITHMS = ("RSAES_PKCS1_V1_5", *_OAEP_HASHES)
SM2PKE = "SM2PKE"


class UnwrapFailed(Exception):
    """The ciphertext does not decrypt under the wrapping key with the algorithm named."""


def new_rsa_wrapping_key() -> tuple[bytes, bytes]:
    """A fresh RSA-2048 key pair: (PKCS#8 DER private key, DER SubjectPublicKeyInfo)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_WRAPPING_BITS)
    private_der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_der, public_der


def new_sm2_wrapping_key() -> tuple[bytes, bytes]:
    """A fresh SM2 key pair: (PKCS#8 DER private key, DER SubjectPublicKeyInfo)."""
    return sm2.generate()


def new_wrapping_key(wrapping_key_spec: str) -> tuple[bytes, bytes]:
    """A fresh key pair of ``RSA_2048`` or ``EC_SM2``."""
    if wrapping_key_spec == "EC_SM2":
        return new_sm2_wrapping_key()
    if wrapping_key_spec == "RSA_2048":
        return new_rsa_wrapping_key()
    raise ValueError(f"no wrapping key spec {wrapping_key_spec}")


def unwrap(private_der: bytes, algorithm: str, ciphertext: bytes) -> bytes:
    """Decrypt ``ciphertext`` with the wrapping private key, by algorithm.

    Raises:
        UnwrapFailed: anything wrong with the ciphertext, or an algorithm the key cannot do.
    """
    if algorithm == SM2PKE:
        try:
            return sm2.decrypt(sm2.load_private(private_der), ciphertext)
        except sm2.SM2Error:
            raise UnwrapFailed from None
    return rsa_unwrap(private_der, algorithm, ciphertext)


def rsa_unwrap(private_der: bytes, algorithm: str, ciphertext: bytes) -> bytes:
    """Decrypt ``ciphertext`` with RSAES-OAEP (the same hash for OAEP and MGF1, as Alibaba's names
    mean) or RSAES-PKCS1-v1_5.

    Raises:
        UnwrapFailed: wrong length, bad padding, or an algorithm that is not RSA.
    """
    private = serialization.load_der_private_key(private_der, password=None)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise UnwrapFailed
    if algorithm == "RSAES_PKCS1_V1_5":
        pad: padding.AsymmetricPadding = padding.PKCS1v15()
    elif algorithm in _OAEP_HASHES:
        digest = _OAEP_HASHES[algorithm]
        pad = padding.OAEP(mgf=padding.MGF1(digest()), algorithm=digest(), label=None)
    else:
        raise UnwrapFailed
    if len(ciphertext) != private.key_size // 8:
        raise UnwrapFailed
    try:
        return private.decrypt(ciphertext, pad)
    except ValueError:
        raise UnwrapFailed from None
