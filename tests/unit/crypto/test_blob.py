"""The blob AEAD (crypto/blob.py): HKDF per-message key, AES-GCM and SM4-GCM; a frozen vector."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from openkms.crypto import blob
from openkms.crypto.aead import NotAuthentic

MATERIAL = bytes(range(32))
IV = bytes(range(100, 112))
INFO = b"openkms/blob/v1|86a9efd9-3d16-4894-bd4f-1fc43f3f2abf|Aliyun_AES_256"
AAD = b"86a9efd9-3d16-4894-bd4f-1fc43f3f2abf\x00\x00\x00\x00"

# Frozen answers: if these change, every stored CiphertextBlob stops decrypting.
GOLDEN_AES = "db4e546ad5e6f2861ce91e3db9aba6379034008be0"
GOLDEN_SM4 = "2399e6014db36c085ce28ba1ea8c445c7479f10a6b"


def _independent(cipher: str, material: bytes, pt: bytes) -> bytes:
    """The construction of docs/ciphertext.md, written out again without openkms code."""
    key = HKDF(hashes.SHA256(), len(material), salt=IV, info=INFO).derive(material)
    if cipher == "AES":
        return AESGCM(key).encrypt(IV, pt, AAD)
    enc = Cipher(algorithms.SM4(key), modes.GCM(IV)).encryptor()
    enc.authenticate_additional_data(AAD)
    return enc.update(pt) + enc.finalize() + enc.tag


@pytest.mark.parametrize(("cipher", "material"), [("AES", MATERIAL), ("AES", MATERIAL[:24]), ("AES", MATERIAL[:16]), ("SM4", MATERIAL[:16])])
def test_matches_the_documented_construction(cipher: str, material: bytes) -> None:
    """seal() is HKDF-SHA256(material, salt=IV, info) then GCM with nonce=IV and the AAD."""
    iv, sealed = blob.seal(cipher, material, INFO, b"hello", AAD, iv=IV)
    assert iv == IV
    assert _independent(cipher, material, b"hello") == sealed
    assert blob.open_(cipher, material, INFO, iv, sealed, AAD) == b"hello"


def test_golden_vector() -> None:
    """A fixed input gives a fixed output (the format is frozen)."""
    _, sealed = blob.seal("AES", MATERIAL, INFO, b"hello", AAD, iv=IV)
    _, sealed_sm4 = blob.seal("SM4", MATERIAL[:16], INFO, b"hello", AAD, iv=IV)
    assert sealed.hex() == GOLDEN_AES
    assert sealed_sm4.hex() == GOLDEN_SM4


@pytest.mark.parametrize("cipher", ["AES", "SM4"])
def test_every_change_fails_authentication(cipher: str) -> None:
    """Any flipped bit of IV or body, another info, AAD or material: NotAuthentic only."""
    material = MATERIAL[:16]
    iv, sealed = blob.seal(cipher, material, INFO, b"secret text", AAD)
    for i in range(len(sealed) * 8):
        bad = bytearray(sealed)
        bad[i // 8] ^= 1 << (i % 8)
        with pytest.raises(NotAuthentic):
            blob.open_(cipher, material, INFO, iv, bytes(bad), AAD)
    for i in range(len(iv) * 8):
        bad_iv = bytearray(iv)
        bad_iv[i // 8] ^= 1 << (i % 8)
        with pytest.raises(NotAuthentic):
            blob.open_(cipher, material, INFO, bytes(bad_iv), sealed, AAD)
    for args in ((material, INFO + b"x", iv, sealed, AAD), (material, INFO, iv, sealed, AAD + b"x"),
                 (os.urandom(16), INFO, iv, sealed, AAD), (material, INFO, iv[:11], sealed, AAD),
                 (material, INFO, iv, sealed[:15], AAD), (material, INFO, iv, sealed[:-1], AAD)):
        with pytest.raises(NotAuthentic):
            blob.open_(cipher, *args)


def test_ivs_do_not_repeat() -> None:
    """Fresh random IVs: 20 000 encryptions under one version never repeat one (S16)."""
    ivs = {blob.seal("AES", MATERIAL, INFO, b"", AAD)[0] for _ in range(20_000)}
    assert len(ivs) == 20_000


def test_sm4_and_aes_are_not_interchangeable() -> None:
    """A blob sealed with SM4 does not open as AES with the same material."""
    iv, sealed = blob.seal("SM4", MATERIAL[:16], INFO, b"x", AAD)
    with pytest.raises(NotAuthentic):
        blob.open_("AES", MATERIAL[:16], INFO, iv, sealed, AAD)
