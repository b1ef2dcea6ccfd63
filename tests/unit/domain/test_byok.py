"""The bring-your-own-key rules (alibaba-kms-api.md group F, §9.6): wrapping specs and algorithms,
token lifetime, material expiry and material length per key spec."""

from __future__ import annotations

import pytest

from openkms.domain import byok, keystate
from openkms.domain.errors import (
    InvalidKeyMaterial,
    InvalidValue,
    KeyPendingImport,
    UnsupportedOrigin,
)


@pytest.mark.parametrize("algorithm", ["RSAES_PKCS1_V1_5", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"])
def test_rsa_2048_takes_three_algorithms(algorithm: str) -> None:
    """RSA_2048 wraps with PKCS#1 v1.5, OAEP-SHA-1 and OAEP-SHA-256."""
    byok.check_wrapping("RSA_2048", algorithm)


def test_algorithm_must_fit_the_spec() -> None:
    """SM2PKE with an RSA key, or OAEP with an SM2 key, is InvalidParameter WrappingAlgorithm."""
    for spec, algorithm in (("RSA_2048", "SM2PKE"), ("EC_SM2", "RSAES_OAEP_SHA_256")):
        with pytest.raises(InvalidValue) as info:
            byok.check_wrapping(spec, algorithm)
        assert info.value.parameter == "WrappingAlgorithm"


def test_ec_sm2_takes_sm2pke() -> None:
    """EC_SM2 wraps with SM2PKE (offered to every EXTERNAL key, not only HSM ones)."""
    byok.check_wrapping("EC_SM2", "SM2PKE")


def test_only_external_keys() -> None:
    """BYOK operations on an Aliyun_KMS key are Unsupported.Origin."""
    byok.require_external("EXTERNAL")
    with pytest.raises(UnsupportedOrigin):
        byok.require_external("Aliyun_KMS")


def test_token_expiry_is_24_hours_on_a_whole_second() -> None:
    """A token issued at 1000.7 expires at 1000 + 86400, and is expired from that instant."""
    expires = byok.token_expiry(1000.7)
    assert expires == 1000.0 + 86400
    assert (byok.token_expired(expires, expires - 0.5), byok.token_expired(expires, expires)) == (False, True)


def test_material_expiry() -> None:
    """0 is never; a future time is kept; now or the past is InvalidParameter."""
    assert byok.material_expiry(0, 1000.0) is None
    assert byok.material_expiry(1001, 1000.0) == 1001.0
    for value in (1000, 999, -5):
        with pytest.raises(InvalidValue):
            byok.material_expiry(value, 1000.0)
    assert (
        byok.material_expired(None, 5.0), byok.material_expired(6.0, 5.0), byok.material_expired(5.0, 5.0)
    ) == (False, False, True)


def test_expired_material_is_pending_import() -> None:
    """Material past MaterialExpireTime makes the key answer Rejected.PendingImport."""
    keystate.require_material_current(None, 10.0)
    keystate.require_material_current(11.0, 10.0)
    with pytest.raises(KeyPendingImport):
        keystate.require_material_current(10.0, 10.0)


@pytest.mark.parametrize(
    ("spec", "size"), [("Aliyun_AES_256", 32), ("Aliyun_AES_192", 24), ("Aliyun_AES_128", 16), ("Aliyun_SM4", 16)]
)
def test_material_length_follows_the_spec(spec: str, size: int) -> None:
    """Material is exactly the spec's length; one byte more or less is InvalidKeyMaterial."""
    byok.check_material(spec, bytes(size))
    for wrong in (size - 1, size + 1, 0):
        with pytest.raises(InvalidKeyMaterial):
            byok.check_material(spec, bytes(wrong))
