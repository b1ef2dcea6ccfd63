"""The AEAD behind a CiphertextBlob: a per-message key from HKDF, then AES-GCM or SM4-GCM.

``per-message key = HKDF-SHA256(material, salt=IV, info)`` with the IV also the GCM nonce. The
derived key is as long as the material (16, 24 or 32 bytes). Deriving a key per message means
that one IV collision exposes only the two colliding messages, never the key version's GHASH key
(see docs/ciphertext.md for the nonce budget). ``open_`` raises :class:`NotAuthentic` and
nothing else for any input that does not authenticate.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from openkms.crypto.aead import NotAuthentic

IV_LEN = 12
TAG_LEN = 16
AES = "AES"
SM4 = "SM4"


def _derive(material: bytes, iv: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 (RFC 5869) of ``material``, salt ``iv``, for at most one hash length.

    Written out (extract, then the single expand block) with one-shot HMACs: it runs for every
    Encrypt and Decrypt, and cryptography's HKDF object costs several times more to set up
    than the two HMACs themselves. Same output, byte for byte.
    """
    length = len(material)
    if length > 32:
        return HKDF(hashes.SHA256(), length, salt=iv, info=info).derive(material)
    prk = hmac.digest(iv, material, hashlib.sha256)
    return hmac.digest(prk, info + b"\x01", hashlib.sha256)[:length]


def seal(
    cipher: str, material: bytes, info: bytes, plaintext: bytes, aad: bytes, iv: bytes | None = None
) -> tuple[bytes, bytes]:
    """Encrypt under a fresh random IV; returns ``(iv, ciphertext || tag)``.

    ``iv`` is for known-answer tests only; production calls always draw a fresh one.
    """
    iv = os.urandom(IV_LEN) if iv is None else iv
    key = _derive(material, iv, info)
    if cipher == AES:
        return iv, AESGCM(key).encrypt(iv, plaintext, aad)
    if cipher == SM4:
        enc = Cipher(algorithms.SM4(key), modes.GCM(iv)).encryptor()
        enc.authenticate_additional_data(aad)
        body = enc.update(plaintext) + enc.finalize()
        return iv, body + enc.tag
    raise ValueError(f"unknown cipher {cipher}")


def open_(cipher: str, material: bytes, info: bytes, iv: bytes, sealed: bytes, aad: bytes) -> bytes:
    """Decrypt and authenticate ``ciphertext || tag``; raises NotAuthentic on any mismatch."""
    if len(iv) != IV_LEN or len(sealed) < TAG_LEN:
        raise NotAuthentic
    key = _derive(material, iv, info)
    try:
        if cipher == AES:
            return AESGCM(key).decrypt(iv, sealed, aad)
        if cipher == SM4:
            dec = Cipher(algorithms.SM4(key), modes.GCM(iv, sealed[-TAG_LEN:])).decryptor()
            dec.authenticate_additional_data(aad)
            return dec.update(sealed[:-TAG_LEN]) + dec.finalize()
    except InvalidTag:
        raise NotAuthentic from None
    raise ValueError(f"unknown cipher {cipher}")
