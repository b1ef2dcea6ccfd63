"""Known-answer tests run at start-up: the server refuses to start if a primitive is wrong or
missing (for example a `cryptography` build without SM4-GCM)."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class SelfTestFailed(RuntimeError):
    pass


def _check(name: str, ok: bool) -> None:
    if not ok:
        raise SelfTestFailed(f"cryptographic self-test failed: {name}")


def run() -> None:
    """Raise :class:`SelfTestFailed` unless every primitive gives its known answer."""
    # AES-GCM, NIST GCM test case 13/14 (256-bit zero key, zero IV, one zero block).
    ct = AESGCM(bytes(32)).encrypt(bytes(12), bytes(16), None)
    _check(
        "AES-256-GCM",
        ct.hex() == "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919",
    )
    # SM4 block cipher, GB/T 32907 appendix A.
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    enc = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()  # noqa: S305 - one-block known answer
    _check("SM4", (enc.update(key) + enc.finalize()).hex() == "681edf34d206965e86b3e94f536e4246")
    # SM4-GCM must exist (Aliyun_SM4 is a GCM-only spec).
    try:
        Cipher(algorithms.SM4(key), modes.GCM(bytes(12))).encryptor()
    except Exception as exc:
        raise SelfTestFailed("cryptographic self-test failed: SM4-GCM unavailable") from exc
    # SM3 of "abc", GB/T 32905 appendix A.
    h = hashes.Hash(hashes.SM3())
    h.update(b"abc")
    _check(
        "SM3",
        h.finalize().hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
    )
    _check("SHA-256", hashlib.sha256(b"abc").hexdigest().startswith("ba7816bf"))
