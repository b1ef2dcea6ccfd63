"""Key specs, usages and algorithms: the tables Alibaba's API documents (§9.1, §9.6)."""

from __future__ import annotations

import pytest

from openkms.domain import algorithms as a
from openkms.domain.errors import InvalidValue, UnsupportedOperation
from openkms.domain.keyspec import SPECS, resolve_spec


@pytest.mark.parametrize(
    ("spec", "usage", "expected"),
    [
        ("RSA_2048", "ENCRYPT/DECRYPT", "ENCRYPT/DECRYPT"),
        ("RSA_3072", "SIGN/VERIFY", "SIGN/VERIFY"),
        ("RSA_4096", None, "ENCRYPT/DECRYPT"),
        ("EC_P256", None, "SIGN/VERIFY"),
        ("EC_P256K", "SIGN/VERIFY", "SIGN/VERIFY"),
        ("EC_SM2", "ENCRYPT/DECRYPT", "ENCRYPT/DECRYPT"),
        ("EC_SM2", "SIGN/VERIFY", "SIGN/VERIFY"),
        ("HMAC_SHA_256", None, "GENERATE/VERIFY_MAC"),
        ("HMAC_SM3", "GENERATE/VERIFY_MAC", "GENERATE/VERIFY_MAC"),
    ],
)
def test_allowed_spec_usage_pairs(spec: str, usage: str | None, expected: str) -> None:
    """Each spec takes its documented usages; the default is the first."""
    assert expected == resolve_spec(spec, usage)[1]


@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("EC_P256", "ENCRYPT/DECRYPT"),
        ("EC_P256K", "ENCRYPT/DECRYPT"),
        ("Aliyun_AES_256", "SIGN/VERIFY"),
        ("Aliyun_SM4", "GENERATE/VERIFY_MAC"),
        ("RSA_2048", "GENERATE/VERIFY_MAC"),
        ("HMAC_SHA_512", "ENCRYPT/DECRYPT"),
        ("EC_SM2", "GENERATE/VERIFY_MAC"),
    ],
)
def test_refused_spec_usage_pairs(spec: str, usage: str) -> None:
    """A combination the API does not allow is an InvalidValue naming KeyUsage."""
    with pytest.raises(InvalidValue) as info:
        resolve_spec(spec, usage)
    assert info.value.parameter == "KeyUsage"


@pytest.mark.parametrize(
    ("spec", "algorithm", "limit"),
    [
        ("RSA_2048", "RSAES_OAEP_SHA_256", 190),
        ("RSA_2048", "RSAES_OAEP_SHA_1", 214),
        ("RSA_3072", "RSAES_OAEP_SHA_256", 318),
        ("RSA_3072", "RSAES_OAEP_SHA_1", 342),
        ("RSA_4096", "RSAES_OAEP_SHA_256", 446),
        ("RSA_4096", "RSAES_OAEP_SHA_1", 470),
        ("EC_SM2", "SM2PKE", 6047),
    ],
)
def test_plaintext_limits(spec: str, algorithm: str, limit: int) -> None:
    """The AsymmetricEncrypt limits of §9.6 (and OAEP's k - 2hLen - 2 for RSA_4096)."""
    assert limit == a.max_plaintext(SPECS[spec], algorithm)


def test_algorithms_per_spec() -> None:
    """Signing, encryption and MAC algorithms follow the key's spec."""
    assert a.sign_algorithms(SPECS["RSA_3072"]) == ("RSA_PSS_SHA_256", "RSA_PKCS1_SHA_256")
    assert a.sign_algorithms(SPECS["EC_P256K"]) == ("ECDSA_SHA_256",)
    assert a.sign_algorithms(SPECS["EC_SM2"]) == ("SM2DSA",)
    assert a.encrypt_algorithms(SPECS["EC_SM2"]) == ("SM2PKE",)
    assert a.encrypt_algorithms(SPECS["EC_P256"]) == ()
    assert a.mac_algorithms(SPECS["HMAC_SHA_384"]) == ("HMAC_SHA_384",)
    assert a.mac_algorithms(SPECS["Aliyun_AES_256"]) == ()
    a.check_algorithm(SPECS["EC_SM2"], "SIGN/VERIFY", "SM2DSA")
    with pytest.raises(InvalidValue) as info:
        a.check_algorithm(SPECS["EC_P256"], "SIGN/VERIFY", "RSA_PSS_SHA_256")
    assert info.value.parameter == "Algorithm"
    with pytest.raises(InvalidValue):
        a.check_algorithm(SPECS["HMAC_SHA_256"], "GENERATE/VERIFY_MAC", "HMAC_SM3")
    with pytest.raises(UnsupportedOperation):
        a.check_algorithm(SPECS["Aliyun_AES_256"], "ENCRYPT/DECRYPT", "RSAES_OAEP_SHA_256")


def test_usage_mismatch_is_unsupported_operation() -> None:
    """Signing with an encryption key, encrypting with a symmetric key: UnsupportedOperation."""
    a.require_usage(SPECS["RSA_2048"], "SIGN/VERIFY", "SIGN/VERIFY")
    with pytest.raises(UnsupportedOperation):
        a.require_usage(SPECS["RSA_2048"], "ENCRYPT/DECRYPT", "SIGN/VERIFY")
    with pytest.raises(UnsupportedOperation):
        a.require_usage(SPECS["Aliyun_AES_256"], "ENCRYPT/DECRYPT", "GENERATE/VERIFY_MAC")


def test_hmac_material_is_as_long_as_the_hash() -> None:
    """HMAC keys get as many random bytes as their hash outputs, and never rotate."""
    sizes = {name: SPECS[name].size for name in a.MAC_ALGORITHMS}
    assert sizes == {"HMAC_SM3": 32, "HMAC_SHA_224": 28, "HMAC_SHA_256": 32, "HMAC_SHA_384": 48, "HMAC_SHA_512": 64}
    assert not any(SPECS[name].rotatable for name in a.MAC_ALGORITHMS)
