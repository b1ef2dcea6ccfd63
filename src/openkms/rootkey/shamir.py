"""The ``shamir`` root of trust: a random 32-byte unseal key split into N shares of which any T
recombine it (Shamir's scheme over GF(2^8), byte by byte, as Vault does); the unseal key seals
the root key, and that sealed root is stored in the deployment's ``meta`` table.

No well-kept Python library does this (the PyPI candidates are small one-person projects), and
the arithmetic is short: it is here, with its properties tested (any T shares recombine, fewer
give a different value, a changed share is caught).

A share's text: ``okshare1-<set id, 8 hex>-<x, 2 hex>-<y, 64 hex>-<check, 8 hex>``. The set id
names the deployment's share set, so a share of another deployment or another split is refused
when given; the check (a SHA-256 prefix of the rest) catches a mistyped share at once. A share
that is well formed but wrong (altered on purpose) is caught at combining: the sealed root does
not open under what the set recombines to.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from openkms.crypto import aead

__all__ = ["BadShare", "Share", "combine", "open_root", "seal_root", "split"]

SECRET_LEN = 32
_AAD = b"openkms/root/shamir/v1"
_SHARE = re.compile(r"okshare1-([0-9a-f]{8})-([0-9a-f]{2})-([0-9a-f]{64})-([0-9a-f]{8})")

# GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1; 3 generates the multiplicative group.
_EXP = [0] * 512
_LOG = [0] * 256
_v = 1
for _i in range(255):
    _EXP[_i] = _v
    _LOG[_v] = _i
    _v ^= (_v << 1) ^ (0x11B if _v & 0x80 else 0)
    _v &= 0xFF
for _i in range(255, 512):
    _EXP[_i] = _EXP[_i - 255]


def _mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def _div(a: int, b: int) -> int:
    if a == 0:
        return 0
    return _EXP[_LOG[a] - _LOG[b] + 255]


class BadShare(ValueError):
    """A share that is malformed, mistyped, of another share set, or given twice."""


@dataclass(frozen=True, slots=True)
class Share:
    set_id: str
    x: int
    y: bytes

    def text(self) -> str:
        body = f"okshare1-{self.set_id}-{self.x:02x}-{self.y.hex()}"
        return f"{body}-{hashlib.sha256(body.encode()).hexdigest()[:8]}"

    @classmethod
    def parse(cls, text: str) -> Share:
        m = _SHARE.fullmatch(text.strip().lower())
        if m is None:
            raise BadShare("not an openkms share (okshare1-...)")
        body = text.strip().lower().rsplit("-", 1)[0]
        if not hmac.compare_digest(hashlib.sha256(body.encode()).hexdigest()[:8], m.group(4)):
            raise BadShare("the share's check does not match: mistyped or damaged")
        x = int(m.group(2), 16)
        if x == 0:
            raise BadShare("a share's x is never 0")
        return cls(m.group(1), x, bytes.fromhex(m.group(3)))


def split(secret: bytes, shares: int, threshold: int, set_id: str) -> list[Share]:
    """``shares`` shares of ``secret``, any ``threshold`` of which recombine it."""
    if not 2 <= threshold <= shares <= 255:
        raise ValueError("need 2 <= threshold <= shares <= 255")
    # One random polynomial of degree threshold-1 per byte, its constant term the byte.
    coefficients = [[b, *secrets.token_bytes(threshold - 1)] for b in secret]
    out = []
    for x in range(1, shares + 1):
        y = bytearray()
        for poly in coefficients:
            acc = 0
            for c in reversed(poly):  # Horner
                acc = _mul(acc, x) ^ c
            y.append(acc)
        out.append(Share(set_id, x, bytes(y)))
    return out


def combine(shares: list[Share]) -> bytes:
    """Lagrange interpolation at 0. Fewer shares than the threshold give a wrong value, which
    the caller detects (the sealed root does not open)."""
    xs = [s.x for s in shares]
    if len(set(xs)) != len(xs):
        raise BadShare("the same share was given twice")
    if len({len(s.y) for s in shares}) != 1 or len({s.set_id for s in shares}) != 1:
        raise BadShare("the shares are not of one set")
    out = bytearray(len(shares[0].y))
    for i, si in enumerate(shares):
        basis = 1
        for j, sj in enumerate(shares):
            if i != j:
                basis = _mul(basis, _div(sj.x, sj.x ^ si.x))
        for k in range(len(out)):
            out[k] ^= _mul(si.y[k], basis)
    return bytes(out)


def seal_root(unseal_key: bytes, root_key: bytes, set_id: str) -> bytes:
    return aead.seal(unseal_key, root_key, _AAD + set_id.encode())


def open_root(unseal_key: bytes, blob: bytes, set_id: str) -> bytes:
    """The root key; :class:`~openkms.crypto.aead.NotAuthentic` under a wrong unseal key."""
    return aead.open_(unseal_key, blob, _AAD + set_id.encode())
