"""The client's half of bring-your-own-key, as a user would write it: wrap raw key material under
the PublicKey that GetParametersForImport returned, with `cryptography` (RSA) or with pysmx, an
implementation of SM2 independent of the server's (SM2PKE, GM/T 0009 DER)."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pysmx.SM2 import Encrypt as smx_encrypt

from openkms.crypto import sm2
from tests.support import der as der_codec

_HASHES = {"RSAES_OAEP_SHA_256": hashes.SHA256, "RSAES_OAEP_SHA_1": hashes.SHA1}


def wrap(public_key: str | bytes, algorithm: str, material: bytes) -> str:
    """Base64 of ``material`` encrypted under ``public_key`` (Base64 text or DER SPKI)."""
    der = base64.b64decode(public_key) if isinstance(public_key, str) else public_key
    if algorithm == "SM2PKE":
        raw = smx_encrypt(material, sm2.public_point(der), 64)
        return base64.b64encode(der_codec.sm2_ciphertext_from_raw(raw)).decode("ascii")
    key = load_der_public_key(der)
    assert isinstance(key, rsa.RSAPublicKey)
    if algorithm == "RSAES_PKCS1_V1_5":
        pad: padding.AsymmetricPadding = padding.PKCS1v15()
    else:
        digest = _HASHES[algorithm]
        pad = padding.OAEP(mgf=padding.MGF1(digest()), algorithm=digest(), label=None)
    return base64.b64encode(key.encrypt(material, pad)).decode("ascii")
