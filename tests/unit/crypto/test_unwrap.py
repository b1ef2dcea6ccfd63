"""Unwrapping imported material (crypto/unwrap.py) and keyed material digests (crypto/keyed.py)."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives.serialization import load_der_public_key

from openkms.crypto import keyed, unwrap
from tests.support.byok import wrap

PRIVATE_DER, PUBLIC_DER = unwrap.new_rsa_wrapping_key()


def test_wrapping_key_is_rsa_2048() -> None:
    """The public half is a DER SubjectPublicKeyInfo of a 2048-bit RSA key."""
    assert load_der_public_key(PUBLIC_DER).key_size == 2048  # type: ignore[union-attr]


@pytest.mark.parametrize("algorithm", unwrap.RSA_ALGORITHMS)
def test_round_trip(algorithm: str) -> None:
    """Material wrapped by a client with each algorithm unwraps to the same bytes."""
    material = os.urandom(32)
    wrapped = base64.b64decode(wrap(PUBLIC_DER, algorithm, material))
    assert material == unwrap.rsa_unwrap(PRIVATE_DER, algorithm, wrapped)


def test_bad_ciphertexts_fail() -> None:
    """Wrong length, garbage OAEP, the wrong OAEP hash and an unknown algorithm are UnwrapFailed."""
    good = base64.b64decode(wrap(PUBLIC_DER, "RSAES_OAEP_SHA_256", os.urandom(32)))
    cases = [
        ("RSAES_OAEP_SHA_256", good[:-1]),
        ("RSAES_OAEP_SHA_256", good + b"\0"),
        ("RSAES_OAEP_SHA_256", os.urandom(256)),
        ("RSAES_OAEP_SHA_1", good),
        ("SM2PKE", good),
    ]
    for algorithm, ciphertext in cases:
        with pytest.raises(unwrap.UnwrapFailed):
            unwrap.rsa_unwrap(PRIVATE_DER, algorithm, ciphertext)


def test_keyed_digest_depends_on_key_label_and_data() -> None:
    """The digest changes with the key, the label and the data; verify raises on any mismatch."""
    key, label, data = os.urandom(32), b"label", b"material"
    expected = keyed.digest(key, label, data)
    keyed.verify(key, label, data, expected)
    others = [keyed.digest(os.urandom(32), label, data), keyed.digest(key, b"other", data), keyed.digest(key, label, b"x")]
    assert expected not in others
    for wrong_key, wrong_label, wrong_data in ((os.urandom(32), label, data), (key, b"other", data), (key, label, b"x")):
        with pytest.raises(keyed.DigestMismatch):
            keyed.verify(wrong_key, wrong_label, wrong_data, expected)


def test_sm2_round_trip_and_failures() -> None:
    """SM2PKE material wrapped by pysmx unwraps; a flipped byte, or the RSA key, is UnwrapFailed."""
    private_der, public_der = unwrap.new_wrapping_key("EC_SM2")
    material = os.urandom(16)
    wrapped = base64.b64decode(wrap(public_der, "SM2PKE", material))
    assert unwrap.unwrap(private_der, "SM2PKE", wrapped) == material
    tampered = wrapped[:-1] + bytes([wrapped[-1] ^ 1])
    for key, ciphertext in ((private_der, tampered), (private_der, b"junk"), (PRIVATE_DER, wrapped)):
        with pytest.raises(unwrap.UnwrapFailed):
            unwrap.unwrap(key, "SM2PKE", ciphertext)
