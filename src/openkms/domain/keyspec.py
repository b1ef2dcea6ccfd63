"""Key specs and usages: which spec allows which KeyUsage, how long its material is, and whether
it rotates. One table, read by CreateKey validation, key generation and rotation.

HMAC keys: Alibaba's current API (KMS instance image >= 4.1.0) has GenerateMac/VerifyMac with the
algorithms HMAC_SM3, HMAC_SHA_224/256/384/512, whose valid values "vary based on the key
specification"; the SDKs do not spell out the HMAC KeySpec names. openkms names each HMAC spec
after its one algorithm (KeySpec=HMAC_SHA_256 allows Algorithm=HMAC_SHA_256 only) and gives HMAC
keys the usage GENERATE/VERIFY_MAC, written in the style of ENCRYPT/DECRYPT and SIGN/VERIFY. Their
material is as long as the hash output. See docs/architecture.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from openkms.domain.errors import InvalidValue

ENCRYPT_DECRYPT = "ENCRYPT/DECRYPT"
SIGN_VERIFY = "SIGN/VERIFY"
GENERATE_VERIFY_MAC = "GENERATE/VERIFY_MAC"
USAGES = (ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC)

ORIGIN_KMS = "Aliyun_KMS"
ORIGIN_EXTERNAL = "EXTERNAL"
ORIGINS = (ORIGIN_KMS, ORIGIN_EXTERNAL)

PROTECTION_LEVELS = ("SOFTWARE", "HSM")


class Kind(Enum):
    SYMMETRIC = "symmetric"
    RSA = "rsa"
    EC = "ec"
    SM2 = "sm2"
    HMAC = "hmac"


@dataclass(frozen=True, slots=True)
class KeySpec:
    name: str
    kind: Kind
    usages: tuple[str, ...]
    # Length of raw symmetric/HMAC material in bytes; key size in bits for RSA; 0 for EC.
    size: int

    @property
    def default_usage(self) -> str:
        return self.usages[0]

    @property
    def symmetric(self) -> bool:
        return self.kind is Kind.SYMMETRIC

    @property
    def rotatable(self) -> bool:
        """Alibaba rotates symmetric keys only (not asymmetric, not HMAC)."""
        return self.kind is Kind.SYMMETRIC


SPECS: dict[str, KeySpec] = {
    s.name: s
    for s in (
        KeySpec("Aliyun_AES_256", Kind.SYMMETRIC, (ENCRYPT_DECRYPT,), 32),
        KeySpec("Aliyun_AES_192", Kind.SYMMETRIC, (ENCRYPT_DECRYPT,), 24),
        KeySpec("Aliyun_AES_128", Kind.SYMMETRIC, (ENCRYPT_DECRYPT,), 16),
        KeySpec("Aliyun_SM4", Kind.SYMMETRIC, (ENCRYPT_DECRYPT,), 16),
        KeySpec("RSA_2048", Kind.RSA, (ENCRYPT_DECRYPT, SIGN_VERIFY), 2048),
        KeySpec("RSA_3072", Kind.RSA, (ENCRYPT_DECRYPT, SIGN_VERIFY), 3072),
        KeySpec("RSA_4096", Kind.RSA, (ENCRYPT_DECRYPT, SIGN_VERIFY), 4096),
        KeySpec("EC_P256", Kind.EC, (SIGN_VERIFY,), 0),
        KeySpec("EC_P256K", Kind.EC, (SIGN_VERIFY,), 0),
        KeySpec("EC_SM2", Kind.SM2, (ENCRYPT_DECRYPT, SIGN_VERIFY), 0),
        KeySpec("HMAC_SM3", Kind.HMAC, (GENERATE_VERIFY_MAC,), 32),
        KeySpec("HMAC_SHA_224", Kind.HMAC, (GENERATE_VERIFY_MAC,), 28),
        KeySpec("HMAC_SHA_256", Kind.HMAC, (GENERATE_VERIFY_MAC,), 32),
        KeySpec("HMAC_SHA_384", Kind.HMAC, (GENERATE_VERIFY_MAC,), 48),
        KeySpec("HMAC_SHA_512", Kind.HMAC, (GENERATE_VERIFY_MAC,), 64),
    )
}

DEFAULT_SPEC = "Aliyun_AES_256"


def resolve_spec(spec_name: str, usage: str | None) -> tuple[KeySpec, str]:
    """Check a KeySpec/KeyUsage pair for CreateKey; returns the spec and the effective usage.

    Raises:
        InvalidValue: an unknown spec, or a usage the spec does not allow.
    """
    spec = SPECS.get(spec_name)
    if spec is None:
        raise InvalidValue("KeySpec")
    if usage is None:
        return spec, spec.default_usage
    if usage not in spec.usages:
        raise InvalidValue("KeyUsage", f"{spec.name} keys support {', '.join(spec.usages)}.")
    return spec, usage
