"""Which algorithm each key spec and usage allows, and the sizes Alibaba's API promises
(alibaba-kms-api.md §9.6). Pure rules, no cryptography: the service checks a request against
these tables before any key material is touched.

Asymmetric signatures are made over a digest the caller computed (SHA-256, or for SM2DSA
``e = SM3(Z_A || M)`` with the GM/T 0009 default id), so every Digest is 32 bytes.
"""

from __future__ import annotations

from openkms.domain.errors import InvalidValue, UnsupportedOperation
from openkms.domain.keyspec import (
    ENCRYPT_DECRYPT,
    GENERATE_VERIFY_MAC,
    SIGN_VERIFY,
    KeySpec,
    Kind,
)

RSA_PSS_SHA_256 = "RSA_PSS_SHA_256"
RSA_PKCS1_SHA_256 = "RSA_PKCS1_SHA_256"
ECDSA_SHA_256 = "ECDSA_SHA_256"
SM2DSA = "SM2DSA"
SIGN_ALGORITHMS = (RSA_PSS_SHA_256, RSA_PKCS1_SHA_256, ECDSA_SHA_256, SM2DSA)

RSAES_OAEP_SHA_256 = "RSAES_OAEP_SHA_256"
RSAES_OAEP_SHA_1 = "RSAES_OAEP_SHA_1"
SM2PKE = "SM2PKE"
ENCRYPT_ALGORITHMS = (RSAES_OAEP_SHA_256, RSAES_OAEP_SHA_1, SM2PKE)

HMAC_SM3 = "HMAC_SM3"
HMAC_SHA_224 = "HMAC_SHA_224"
HMAC_SHA_256 = "HMAC_SHA_256"
HMAC_SHA_384 = "HMAC_SHA_384"
HMAC_SHA_512 = "HMAC_SHA_512"
MAC_ALGORITHMS = (HMAC_SM3, HMAC_SHA_224, HMAC_SHA_256, HMAC_SHA_384, HMAC_SHA_512)

DIGEST_LEN = 32
# GB/T 32918.4 SM2 encryption: Alibaba's limit for SM2PKE plaintext (§9.6).
SM2PKE_MAX_PLAINTEXT = 6047
_OAEP_HASH_LEN = {RSAES_OAEP_SHA_256: 32, RSAES_OAEP_SHA_1: 20}

_SIGN_BY_KIND: dict[Kind, tuple[str, ...]] = {
    Kind.RSA: (RSA_PSS_SHA_256, RSA_PKCS1_SHA_256),
    Kind.EC: (ECDSA_SHA_256,),
    Kind.SM2: (SM2DSA,),
}
_ENCRYPT_BY_KIND: dict[Kind, tuple[str, ...]] = {
    Kind.RSA: (RSAES_OAEP_SHA_256, RSAES_OAEP_SHA_1),
    Kind.SM2: (SM2PKE,),
}


def require_usage(spec: KeySpec, key_usage: str, wanted: str) -> None:
    """An operation of ``wanted`` usage on a key of ``key_usage``.

    Raises:
        UnsupportedOperation: the key's usage is another one (Alibaba's 400
            Rejected.UnsupportedOperation: Sign with an encryption key, Encrypt with a signing
            key, a MAC with anything but an HMAC key, ...).
    """
    if key_usage != wanted or wanted not in spec.usages:
        raise UnsupportedOperation(
            f"This operation needs a {wanted} key; the key is {spec.name} {key_usage}."
        )


def sign_algorithms(spec: KeySpec) -> tuple[str, ...]:
    return _SIGN_BY_KIND.get(spec.kind, ())


def encrypt_algorithms(spec: KeySpec) -> tuple[str, ...]:
    return _ENCRYPT_BY_KIND.get(spec.kind, ())


def mac_algorithms(spec: KeySpec) -> tuple[str, ...]:
    """An HMAC key spec is named after its one algorithm."""
    return (spec.name,) if spec.kind is Kind.HMAC else ()


def check_algorithm(spec: KeySpec, usage: str, algorithm: str) -> None:
    """Check an asymmetric or MAC algorithm against the key's spec.

    Raises:
        UnsupportedOperation: the spec has no algorithm of this kind at all (an asymmetric
            operation on a symmetric key).
        InvalidValue: ``algorithm`` is not one of the spec's (parameter ``Algorithm``).
    """
    allowed = {
        SIGN_VERIFY: sign_algorithms,
        ENCRYPT_DECRYPT: encrypt_algorithms,
        GENERATE_VERIFY_MAC: mac_algorithms,
    }[usage](spec)
    if not allowed:
        raise UnsupportedOperation(f"{spec.name} keys do not support this operation.")
    if algorithm not in allowed:
        raise InvalidValue("Algorithm", f"{spec.name} keys support {', '.join(allowed)}.")


def max_plaintext(spec: KeySpec, algorithm: str) -> int:
    """Largest AsymmetricEncrypt plaintext in bytes: OAEP ``k - 2*hLen - 2`` for RSA
    (190/214 for RSA_2048, 318/342 for RSA_3072, 446/470 for RSA_4096), 6047 for SM2PKE."""
    if algorithm == SM2PKE:
        return SM2PKE_MAX_PLAINTEXT
    return spec.size // 8 - 2 * _OAEP_HASH_LEN[algorithm] - 2
