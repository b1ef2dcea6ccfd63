"""Data keys: how long a generated data key is, and which public keys may wrap one for export."""

from __future__ import annotations

from openkms.domain.errors import InvalidValue

# GenerateDataKey*: KeySpec names a length; NumberOfBytes (1-1024) overrides it; 32 by default.
DATA_KEY_SPECS = {"AES_256": 32, "AES_128": 16}
DEFAULT_DATA_KEY_BYTES = 32
MIN_DATA_KEY_BYTES = 1
MAX_DATA_KEY_BYTES = 1024

# ExportDataKey / GenerateAndExportDataKey: the wrapping key's spec and the algorithms it takes.
WRAPPING = {
    "RSA_2048": ("RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1"),
    "EC_SM2": ("SM2PKE",),
}
WRAPPING_KEY_SPECS = tuple(WRAPPING)
WRAPPING_ALGORITHMS = ("RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1", "SM2PKE")


def data_key_length(key_spec: str | None, number_of_bytes: int | None) -> int:
    """Bytes of data key to generate: NumberOfBytes wins over KeySpec, as Alibaba documents."""
    if number_of_bytes is not None:
        return number_of_bytes
    if key_spec is not None:
        return DATA_KEY_SPECS[key_spec]
    return DEFAULT_DATA_KEY_BYTES


def check_wrapping(wrapping_key_spec: str, wrapping_algorithm: str) -> None:
    """Refuse an algorithm the wrapping key's spec cannot do (SM2PKE with RSA, OAEP with SM2).

    Raises:
        InvalidValue: naming WrappingAlgorithm.
    """
    allowed = WRAPPING[wrapping_key_spec]
    if wrapping_algorithm not in allowed:
        raise InvalidValue("WrappingAlgorithm", f"{wrapping_key_spec} wraps with {', '.join(allowed)}.")
