"""Generation of key material for each key spec kind.

Symmetric and HMAC material is raw random bytes. Asymmetric private keys are PKCS#8 DER; their
public half is returned as SubjectPublicKeyInfo DER so it can be stored beside the wrapped private
key. SM2 keys come from the system OpenSSL 3 (:mod:`openkms.crypto.sm2`).
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from openkms.crypto import sm2
from openkms.domain.keyspec import KeySpec, Kind

_CURVES: dict[str, ec.EllipticCurve] = {"EC_P256": ec.SECP256R1(), "EC_P256K": ec.SECP256K1()}


def generate(spec: KeySpec) -> tuple[bytes, bytes | None]:
    """Return (private material, public key DER or None) for a new key version of ``spec``."""
    if spec.kind in (Kind.SYMMETRIC, Kind.HMAC):
        return os.urandom(spec.size), None
    if spec.kind is Kind.SM2:
        return sm2.generate()
    if spec.kind is Kind.RSA:
        private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = rsa.generate_private_key(
            public_exponent=65537, key_size=spec.size
        )
    elif spec.kind is Kind.EC:
        private = ec.generate_private_key(_CURVES[spec.name])
    else:  # pragma: no cover - every Kind is handled above
        raise ValueError(f"no generator for {spec.name}")
    der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der, public
