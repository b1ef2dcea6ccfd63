"""Bring your own key (alibaba-kms-api.md group F, §9.6): which wrapping keys and algorithms an
import may use, how long an import token lives, when imported material expires and how long it
must be. Pure rules, no I/O; the state changes are in :mod:`openkms.domain.keystate`."""

from __future__ import annotations

from openkms.domain.errors import (
    InvalidKeyMaterial,
    InvalidValue,
    UnsupportedOrigin,
)
from openkms.domain.keyspec import ORIGIN_EXTERNAL, SPECS

# GetParametersForImport: the wrapping key's spec and the algorithms each one takes.
IMPORT_WRAPPING = {
    "RSA_2048": ("RSAES_PKCS1_V1_5", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"),
    "EC_SM2": ("SM2PKE",),
}
WRAPPING_KEY_SPECS = tuple(IMPORT_WRAPPING)
WRAPPING_ALGORITHMS = ("RSAES_PKCS1_V1_5", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE")

TOKEN_LIFETIME = 24 * 3600
# Expired tokens are kept this long, so that a late caller hears ExpiredImportToken rather than
# InvalidImportToken; the prune-import-tokens job deletes them afterwards.
TOKEN_KEPT_AFTER_EXPIRY = 7 * 24 * 3600
# The last second the API's timestamps can render (9999-12-31T23:59:59Z).
MAX_EXPIRE_UNIX = 253_402_300_799


def require_external(origin: str) -> None:
    """GetParametersForImport, ImportKeyMaterial and DeleteKeyMaterial apply to EXTERNAL keys only.

    Raises:
        UnsupportedOrigin: 400 Unsupported.Origin.
    """
    if origin != ORIGIN_EXTERNAL:
        raise UnsupportedOrigin()


def check_wrapping(wrapping_key_spec: str, wrapping_algorithm: str) -> None:
    """Refuse an algorithm the wrapping key spec cannot do (SM2PKE with RSA_2048, OAEP with EC_SM2).

    Alibaba offers EC_SM2 only to HSM keys; openkms offers it to every EXTERNAL key, since the
    SM2 wrapping key lives and dies on the server like the RSA one.

    Raises:
        InvalidValue: naming WrappingAlgorithm.
    """
    allowed = IMPORT_WRAPPING[wrapping_key_spec]
    if wrapping_algorithm not in allowed:
        raise InvalidValue("WrappingAlgorithm", f"{wrapping_key_spec} wraps with {', '.join(allowed)}.")


def token_expiry(now: float) -> float:
    """When a token issued at ``now`` expires: 24 hours later, on a whole second (so the
    TokenExpireTime shown and the instant enforced are the same)."""
    return float(int(now) + TOKEN_LIFETIME)


def token_expired(expires_at: float, now: float) -> bool:
    return expires_at <= now


def material_expiry(expire_unix: int, now: float) -> float | None:
    """The MaterialExpireTime an ImportKeyMaterial sets: ``0`` means never.

    Raises:
        InvalidValue: a time that is not in the future (by the server's clock).
    """
    if expire_unix == 0:
        return None
    if expire_unix <= now:
        raise InvalidValue("KeyMaterialExpireUnix", "It must be 0 (never) or a time in the future.")
    return float(expire_unix)


def material_expired(material_expire_time: float | None, now: float) -> bool:
    return material_expire_time is not None and material_expire_time <= now


def check_material(key_spec: str, material: bytes) -> None:
    """Imported material must be exactly as long as the key spec's (32 bytes for Aliyun_AES_256,
    16 for Aliyun_SM4 and Aliyun_AES_128, 24 for Aliyun_AES_192).

    Raises:
        InvalidKeyMaterial: 400 InvalidKeyMaterial.
    """
    spec = SPECS[key_spec]
    if not spec.symmetric or len(material) != spec.size:
        raise InvalidKeyMaterial()
