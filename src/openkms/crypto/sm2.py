"""SM2 (GB/T 32918 / GM/T 0003) through the system OpenSSL 3 ``libcrypto``, bound with ctypes.

``cryptography`` has no SM2 (its curve is refused on load), and the pure-Python candidates either
take nonces from ``random`` (gmssl) or are not constant-time (pysmx). The
system libcrypto is security-maintained, constant-time, and draws every nonce from OpenSSL's
CSPRNG. It coexists in one process with the ``cryptography`` wheel, which links its own OpenSSL
statically.

What this module offers, and nothing more:

* key generation: PKCS#8 DER private key and SubjectPublicKeyInfo DER public key (curve OID
  1.2.156.10197.1.301, the form Alibaba's GetPublicKey shows);
* signing **a given digest** ``e`` (Alibaba's AsymmetricSign contract: the caller computes
  ``e = SM3(Z_A || M)``), signatures DER ``SEQUENCE {r, s}``;
* SM2 public-key encryption with SM3, ciphertexts GM/T 0009 DER ``SEQUENCE {x, y, C3, C2}``
  (decryption takes that DER encoding and no other: :func:`check_ciphertext`);
* ``za`` / ``digest``: the ``Z_A`` and ``e`` of GM/T 0009 with the default distinguishing id
  ``1234567812345678``, for callers and tests.

Every failure inside libcrypto raises :class:`SM2Error` (after clearing OpenSSL's thread-local
error queue); it never says why, so a decryption failure leaks nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from typing import Any

from cryptography.hazmat.primitives import hashes

DEFAULT_ID = b"1234567812345678"
DIGEST_LEN = 32

# Curve parameters of the recommended SM2 curve (GB/T 32918.5), needed only for Z_A.
_A = bytes.fromhex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC")
_B = bytes.fromhex("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93")
_GX = bytes.fromhex("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7")
_GY = bytes.fromhex("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0")
_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")


class SM2Error(Exception):
    """An SM2 operation failed (bad key, bad ciphertext, libcrypto unavailable)."""


class _Lib:
    """The libcrypto functions we call, typed once. Loaded lazily, on first use."""

    def __init__(self) -> None:
        lib = _load_libcrypto()
        c = ctypes
        vp, cp, sz = c.c_void_p, c.c_char_p, c.c_size_t
        self.lib = lib

        def fn(name: str, restype: Any, *argtypes: Any) -> Any:
            try:
                f = getattr(lib, name)
            except AttributeError:
                raise SM2Error(f"libcrypto lacks {name}: SM2 needs OpenSSL 3") from None
            f.restype = restype
            f.argtypes = list(argtypes)
            return f

        self.version_num = fn("OpenSSL_version_num", c.c_ulong)
        if self.version_num() < 0x30000000:
            raise SM2Error("SM2 needs OpenSSL 3 libcrypto")
        self.ctx_new_from_name = fn("EVP_PKEY_CTX_new_from_name", vp, vp, cp, cp)
        self.ctx_new_from_pkey = fn("EVP_PKEY_CTX_new_from_pkey", vp, vp, vp, cp)
        self.ctx_free = fn("EVP_PKEY_CTX_free", None, vp)
        self.keygen_init = fn("EVP_PKEY_keygen_init", c.c_int, vp)
        self.generate = fn("EVP_PKEY_generate", c.c_int, vp, c.POINTER(vp))
        self.pkey_free = fn("EVP_PKEY_free", None, vp)
        self.is_a = fn("EVP_PKEY_is_a", c.c_int, vp, cp)
        self.i2d_pubkey = fn("i2d_PUBKEY", c.c_int, vp, c.POINTER(vp))
        self.d2i_pubkey = fn("d2i_PUBKEY", vp, vp, c.POINTER(vp), c.c_long)
        self.pkey2pkcs8 = fn("EVP_PKEY2PKCS8", vp, vp)
        self.i2d_p8 = fn("i2d_PKCS8_PRIV_KEY_INFO", c.c_int, vp, c.POINTER(vp))
        self.d2i_p8 = fn("d2i_PKCS8_PRIV_KEY_INFO", vp, vp, c.POINTER(vp), c.c_long)
        self.p8_free = fn("PKCS8_PRIV_KEY_INFO_free", None, vp)
        self.pkcs82pkey = fn("EVP_PKCS82PKEY", vp, vp)
        self.sign_init = fn("EVP_PKEY_sign_init", c.c_int, vp)
        self.sign = fn("EVP_PKEY_sign", c.c_int, vp, cp, c.POINTER(sz), cp, sz)
        self.verify_init = fn("EVP_PKEY_verify_init", c.c_int, vp)
        self.verify = fn("EVP_PKEY_verify", c.c_int, vp, cp, sz, cp, sz)
        self.encrypt_init = fn("EVP_PKEY_encrypt_init", c.c_int, vp)
        self.encrypt = fn("EVP_PKEY_encrypt", c.c_int, vp, cp, c.POINTER(sz), cp, sz)
        self.decrypt_init = fn("EVP_PKEY_decrypt_init", c.c_int, vp)
        self.decrypt = fn("EVP_PKEY_decrypt", c.c_int, vp, cp, c.POINTER(sz), cp, sz)
        self.err_clear = fn("ERR_clear_error", None)


def _load_libcrypto() -> ctypes.CDLL:
    names = ["libcrypto.so.3", ctypes.util.find_library("crypto"), "libcrypto.3.dylib"]
    for name in names:
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    raise SM2Error("SM2 needs the system OpenSSL 3 libcrypto (libcrypto.so.3), not found")


_lib: _Lib | None = None
_lib_lock = threading.Lock()


def _L() -> _Lib:
    global _lib
    if _lib is None:
        with _lib_lock:
            if _lib is None:
                _lib = _Lib()
    return _lib


def _fail(L: _Lib) -> SM2Error:
    L.err_clear()
    return SM2Error("SM2 operation failed")


class _PKey:
    """Owns one ``EVP_PKEY*``; freed when collected. Immutable once made, so one object may be
    used from several threads at once (each operation has its own ``EVP_PKEY_CTX``)."""

    __slots__ = ("__weakref__", "_ptr")

    def __init__(self, ptr: int) -> None:
        self._ptr = ptr

    @property
    def ptr(self) -> int:
        return self._ptr

    def __del__(self) -> None:
        if self._ptr and _lib is not None:
            _lib.pkey_free(self._ptr)
            self._ptr = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class PrivateKey(_PKey):
    """An SM2 private key (never printable)."""


class PublicKey(_PKey):
    """An SM2 public key."""


def _i2d(fn: Any, obj: int) -> bytes:
    n = fn(obj, None)
    if n <= 0:
        raise _fail(_L())
    buf = ctypes.create_string_buffer(n)
    p = ctypes.c_void_p(ctypes.addressof(buf))
    if fn(obj, ctypes.byref(p)) != n:
        raise _fail(_L())
    return buf.raw


def _require_sm2(L: _Lib, ptr: int) -> None:
    if not L.is_a(ptr, b"SM2"):
        L.pkey_free(ptr)
        raise SM2Error("not an SM2 key")


def generate() -> tuple[bytes, bytes]:
    """A new key pair: (PKCS#8 DER private key, SubjectPublicKeyInfo DER public key)."""
    L = _L()
    ctx = L.ctx_new_from_name(None, b"SM2", None)
    if not ctx:
        raise _fail(L)
    pkey = ctypes.c_void_p()
    try:
        if L.keygen_init(ctx) != 1 or L.generate(ctx, ctypes.byref(pkey)) != 1:
            raise _fail(L)
    finally:
        L.ctx_free(ctx)
    key = PrivateKey(pkey.value or 0)
    p8 = L.pkey2pkcs8(key.ptr)
    if not p8:
        raise _fail(L)
    try:
        private_der = _i2d(L.i2d_p8, p8)
    finally:
        L.p8_free(p8)
    return private_der, public_der(key)


def public_der(key: PrivateKey | PublicKey) -> bytes:
    """The SubjectPublicKeyInfo DER of a key (of the public half, for a private key)."""
    return _i2d(_L().i2d_pubkey, key.ptr)


def load_private(der: bytes) -> PrivateKey:
    """Parse a PKCS#8 DER SM2 private key."""
    L = _L()
    buf = ctypes.create_string_buffer(der, len(der))
    p = ctypes.c_void_p(ctypes.addressof(buf))
    p8 = L.d2i_p8(None, ctypes.byref(p), len(der))
    if not p8:
        raise _fail(L)
    try:
        ptr = L.pkcs82pkey(p8)
    finally:
        L.p8_free(p8)
    if not ptr:
        raise _fail(L)
    _require_sm2(L, ptr)
    return PrivateKey(ptr)


def load_public(der: bytes) -> PublicKey:
    """Parse a SubjectPublicKeyInfo DER SM2 public key.

    OpenSSL 3 types a key on the SM2 curve as SM2 whether its algorithm identifier says
    id-ecPublicKey or SM2; anything else is refused.
    """
    L = _L()
    buf = ctypes.create_string_buffer(der, len(der))
    p = ctypes.c_void_p(ctypes.addressof(buf))
    ptr = L.d2i_pubkey(None, ctypes.byref(p), len(der))
    if not ptr:
        raise _fail(L)
    _require_sm2(L, ptr)
    return PublicKey(ptr)


def _run(init: Any, op: Any, key: _PKey, data: bytes) -> bytes:
    """``EVP_PKEY_{sign,encrypt,decrypt}``: ask for the size, then do it."""
    L = _L()
    ctx = L.ctx_new_from_pkey(None, key.ptr, None)
    if not ctx:
        raise _fail(L)
    try:
        if init(ctx) != 1:
            raise _fail(L)
        size = ctypes.c_size_t(0)
        if op(ctx, None, ctypes.byref(size), data, len(data)) != 1:
            raise _fail(L)
        out = ctypes.create_string_buffer(size.value)
        if op(ctx, out, ctypes.byref(size), data, len(data)) != 1:
            raise _fail(L)
        return out.raw[: size.value]
    finally:
        L.ctx_free(ctx)


def sign_digest(key: PrivateKey, digest: bytes) -> bytes:
    """Sign the 32-byte ``e`` as given; returns DER ``SEQUENCE {r, s}``. The nonce comes from
    OpenSSL's CSPRNG."""
    if len(digest) != DIGEST_LEN:
        raise SM2Error("SM2 signs a 32-byte digest")
    L = _L()
    return _run(L.sign_init, L.sign, key, digest)


def verify_digest(key: PublicKey | PrivateKey, digest: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (DER) is valid for ``e = digest``. Malformed input is ``False``."""
    if len(digest) != DIGEST_LEN:
        return False
    L = _L()
    ctx = L.ctx_new_from_pkey(None, key.ptr, None)
    if not ctx:
        raise _fail(L)
    try:
        if L.verify_init(ctx) != 1:
            raise _fail(L)
        ok: bool = L.verify(ctx, signature, len(signature), digest, len(digest)) == 1
        if not ok:
            L.err_clear()
        return ok
    finally:
        L.ctx_free(ctx)


def encrypt(key: PublicKey | PrivateKey, plaintext: bytes) -> bytes:
    """SM2 public-key encryption with SM3; the ciphertext is GM/T 0009 DER."""
    if not plaintext:
        raise SM2Error("SM2 encrypts at least one byte")
    L = _L()
    return _run(L.encrypt_init, L.encrypt, key, plaintext)


def decrypt(key: PrivateKey, ciphertext: bytes) -> bytes:
    """Inverse of :func:`encrypt`; raises :class:`SM2Error` for any ciphertext that is not the
    one DER encoding of ``SEQUENCE {x, y, C3, C2}`` (:func:`check_ciphertext`) or whose C3 check
    fails."""
    check_ciphertext(ciphertext)
    L = _L()
    return _run(L.decrypt_init, L.decrypt, key, ciphertext)


_INTEGER, _OCTET_STRING, _SEQUENCE = 0x02, 0x04, 0x30


def _tlv(data: bytes, pos: int, tag: int) -> tuple[bytes, int]:
    """The value of the DER element of type ``tag`` at ``pos``, and the position after it.

    DER only: a definite length in the fewest bytes (short form below 128), nothing else."""
    if pos + 2 > len(data) or data[pos] != tag:
        raise SM2Error("not a DER SM2 ciphertext")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        size = first
    else:
        count = first & 0x7F
        # 0x80 is BER's indefinite length; four length bytes already exceed any ciphertext.
        if count == 0 or count > 4 or pos + count > len(data) or data[pos] == 0:
            raise SM2Error("not a DER SM2 ciphertext")
        size = int.from_bytes(data[pos : pos + count], "big")
        pos += count
        if size < 0x80:
            raise SM2Error("not a DER SM2 ciphertext")
    if pos + size > len(data):
        raise SM2Error("not a DER SM2 ciphertext")
    return data[pos : pos + size], pos + size


def check_ciphertext(ciphertext: bytes) -> None:
    """Refuse anything but the DER encoding of a GM/T 0009 ciphertext ``SEQUENCE {x, y, C3, C2}``.

    libcrypto's parser is lenient: it ignores bytes after the SEQUENCE and takes BER lengths
    (long forms, leading zeros, indefinite) and padded INTEGERs. Here a ciphertext has exactly
    one encoding: minimal lengths, x and y non-negative minimal INTEGERs, C3 the 32 bytes of an
    SM3 hash, and nothing before, between or after the four elements. Whether the point is on
    the curve and C3 matches is libcrypto's check, at decryption."""
    body, end = _tlv(ciphertext, 0, _SEQUENCE)
    if end != len(ciphertext):
        raise SM2Error("not a DER SM2 ciphertext")
    pos = 0
    for _ in range(2):
        value, pos = _tlv(body, pos, _INTEGER)
        if (
            not value
            or value[0] & 0x80  # negative
            or (len(value) > 1 and value[0] == 0 and not value[1] & 0x80)  # padded
            or len(value) > DIGEST_LEN + 1
        ):
            raise SM2Error("not a DER SM2 ciphertext")
    c3, pos = _tlv(body, pos, _OCTET_STRING)
    _, pos = _tlv(body, pos, _OCTET_STRING)
    if len(c3) != DIGEST_LEN or pos != len(body):
        raise SM2Error("not a DER SM2 ciphertext")


def public_point(spki_der: bytes) -> bytes:
    """The uncompressed point ``x || y`` (64 bytes) of an SM2 SubjectPublicKeyInfo DER."""
    if len(spki_der) != len(_SPKI_PREFIX) + 65 or not spki_der.startswith(_SPKI_PREFIX):
        raise SM2Error("not an SM2 SubjectPublicKeyInfo")
    point = spki_der[len(_SPKI_PREFIX) :]
    if point[0] != 0x04:
        raise SM2Error("not an uncompressed point")
    return point[1:]


def _sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def za(spki_der: bytes, uid: bytes = DEFAULT_ID) -> bytes:
    """``Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA)`` (GB/T 32918.2 §5.5)."""
    if len(uid) * 8 >= 1 << 16:
        raise SM2Error("distinguishing id too long")
    entl = (len(uid) * 8).to_bytes(2, "big")
    return _sm3(entl + uid + _A + _B + _GX + _GY + public_point(spki_der))


def digest(spki_der: bytes, message: bytes, uid: bytes = DEFAULT_ID) -> bytes:
    """``e = SM3(Z_A || M)``: what a caller sends as AsymmetricSign's Digest for SM2DSA."""
    return _sm3(za(spki_der, uid) + message)
