"""Asymmetric primitives behind small functions: RSA and ECDSA through ``cryptography``, SM2
through :mod:`openkms.crypto.sm2`. Every parameter is explicit; algorithm names are Alibaba's.

* Signatures are made over a digest the caller computed (``Prehashed``): RSASSA-PSS with SHA-256,
  MGF1-SHA-256 and a 32-byte salt; RSASSA-PKCS1-v1_5 with SHA-256; ECDSA with SHA-256 (DER);
  SM2 over the given ``e`` (DER).
* Encryption: RSAES-OAEP with SHA-1 or SHA-256 (the same hash for MGF1, no label); SM2 with SM3,
  GM/T 0009 DER ciphertexts.

Which algorithm a key may use is the domain's rule (:mod:`openkms.domain.algorithms`); here a
mismatch is a programming error (``ValueError``). :func:`decrypt` raises :class:`DecryptError`
and nothing else for a ciphertext that does not decrypt, whatever the reason.
"""

from __future__ import annotations

import base64
import textwrap

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from openkms.crypto import sm2
from openkms.domain.keyspec import Kind

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | sm2.PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | sm2.PublicKey

PSS_SALT_LEN = 32


class DecryptError(Exception):
    """A ciphertext did not decrypt under this key and algorithm."""


def load_private(kind: Kind, der: bytes) -> PrivateKey:
    """Parse the PKCS#8 DER private key of a key version."""
    if kind is Kind.SM2:
        return sm2.load_private(der)
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ValueError("unexpected private key type")
    return key


def load_public(kind: Kind, der: bytes) -> PublicKey:
    """Parse a SubjectPublicKeyInfo DER public key."""
    if kind is Kind.SM2:
        return sm2.load_public(der)
    key = serialization.load_der_public_key(der)
    if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        raise ValueError("unexpected public key type")
    return key


def public_pem(spki_der: bytes) -> str:
    """PEM armour (``-----BEGIN PUBLIC KEY-----``, 64-column lines, ``\\n``) around SPKI DER.

    Written by hand so SM2 keys, which ``cryptography`` cannot load, get the same form.
    """
    body = "\n".join(textwrap.wrap(base64.b64encode(spki_der).decode(), 64))
    return f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n"


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT_LEN)


def _oaep(algorithm: str) -> padding.OAEP:
    h: hashes.HashAlgorithm
    if algorithm == "RSAES_OAEP_SHA_256":
        h = hashes.SHA256()
    elif algorithm == "RSAES_OAEP_SHA_1":
        h = hashes.SHA1()  # noqa: S303 - OAEP-SHA1 is one of Alibaba's algorithms; OAEP is sound with it
    else:
        raise ValueError(algorithm)
    return padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)


_PREHASHED = utils.Prehashed(hashes.SHA256())


def sign(key: PrivateKey, algorithm: str, digest: bytes) -> bytes:
    """Sign a 32-byte digest; the signature is DER for ECDSA and SM2, raw for RSA."""
    if algorithm == "SM2DSA" and isinstance(key, sm2.PrivateKey):
        return sm2.sign_digest(key, digest)
    if algorithm == "ECDSA_SHA_256" and isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(digest, ec.ECDSA(_PREHASHED))
    if isinstance(key, rsa.RSAPrivateKey):
        if algorithm == "RSA_PSS_SHA_256":
            return key.sign(digest, _pss(), _PREHASHED)
        if algorithm == "RSA_PKCS1_SHA_256":
            return key.sign(digest, padding.PKCS1v15(), _PREHASHED)
    raise ValueError(f"{algorithm} does not fit {type(key).__name__}")


def verify(key: PublicKey, algorithm: str, digest: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is valid over ``digest``; a malformed signature is ``False``."""
    if algorithm == "SM2DSA" and isinstance(key, sm2.PublicKey):
        return sm2.verify_digest(key, digest, signature)
    try:
        if algorithm == "ECDSA_SHA_256" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(_PREHASHED))
            return True
        if isinstance(key, rsa.RSAPublicKey):
            if algorithm == "RSA_PSS_SHA_256":
                key.verify(signature, digest, _pss(), _PREHASHED)
                return True
            if algorithm == "RSA_PKCS1_SHA_256":
                key.verify(signature, digest, padding.PKCS1v15(), _PREHASHED)
                return True
    except InvalidSignature:
        return False
    raise ValueError(f"{algorithm} does not fit {type(key).__name__}")


def encrypt(key: PublicKey, algorithm: str, plaintext: bytes) -> bytes:
    """Encrypt with a public key (the caller enforces the plaintext limit)."""
    if algorithm == "SM2PKE" and isinstance(key, sm2.PublicKey):
        return sm2.encrypt(key, plaintext)
    if isinstance(key, rsa.RSAPublicKey):
        return key.encrypt(plaintext, _oaep(algorithm))
    raise ValueError(f"{algorithm} does not fit {type(key).__name__}")


def decrypt(key: PrivateKey, algorithm: str, ciphertext: bytes) -> bytes:
    """Decrypt with a private key. Raises :class:`DecryptError` for any bad ciphertext."""
    if algorithm == "SM2PKE" and isinstance(key, sm2.PrivateKey):
        try:
            return sm2.decrypt(key, ciphertext)
        except sm2.SM2Error:
            raise DecryptError from None
    if isinstance(key, rsa.RSAPrivateKey):
        oaep = _oaep(algorithm)
        try:
            return key.decrypt(ciphertext, oaep)
        except ValueError:
            raise DecryptError from None
    raise ValueError(f"{algorithm} does not fit {type(key).__name__}")
