"""SM2 through the system libcrypto, cross-checked against an independent implementation
(pysmx, pure Python) and the openssl command."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from pysmx.SM2 import Decrypt as smx_decrypt
from pysmx.SM2 import Encrypt as smx_encrypt
from pysmx.SM2 import Sign as smx_sign
from pysmx.SM2 import Verify as smx_verify
from pysmx.SM2 import get_za as smx_za
from pysmx.SM2 import sm2_N

from openkms.crypto import sm2
from tests.support import der


@pytest.fixture(scope="module")
def pair() -> tuple[bytes, bytes]:
    """One SM2 key pair (PKCS#8 DER, SPKI DER) for the module."""
    return sm2.generate()


def private_scalar(pkcs8: bytes) -> bytes:
    """d from PKCS#8 { 0, AlgorithmIdentifier, OCTET STRING { ECPrivateKey { 1, OCTET STRING d } } }."""
    _, body, _ = der.read(pkcs8)
    _, _, body = der.read(body)  # version
    _, _, body = der.read(body)  # algorithm
    _, inner, _ = der.read(body)
    _, ec_key, _ = der.read(inner)
    _, _, ec_key = der.read(ec_key)  # version
    _, d, _ = der.read(ec_key)
    return d.rjust(32, b"\0")


def test_generate_gives_pkcs8_and_spki_on_the_sm2_curve(pair: tuple[bytes, bytes]) -> None:
    """Keys are PKCS#8 and SubjectPublicKeyInfo DER naming the SM2 curve 1.2.156.10197.1.301."""
    private, public = pair
    sm2_curve_oid = bytes.fromhex("06082a811ccf5501822d")
    assert sm2_curve_oid in private
    assert sm2_curve_oid in public
    assert len(public) == 91
    assert len(sm2.public_point(public)) == 64
    assert public == sm2.public_der(sm2.load_private(private))


def test_signature_is_der_and_verifies(pair: tuple[bytes, bytes]) -> None:
    """A signature over a given digest is DER SEQUENCE {r, s}; it verifies, a changed digest does not."""
    private, public = pair
    e = secrets.token_bytes(32)
    sig = sm2.sign_digest(sm2.load_private(private), e)
    r, s = decode_dss_signature(sig)
    assert 0 < r < sm2_N and 0 < s < sm2_N
    key = sm2.load_public(public)
    assert sm2.verify_digest(key, e, sig)
    assert not sm2.verify_digest(key, bytes(32), sig)
    assert not sm2.verify_digest(key, e, sig[:-1])
    assert not sm2.verify_digest(key, e, b"not der")
    assert not sm2.verify_digest(key, e[:31], sig)


def test_nonces_differ(pair: tuple[bytes, bytes]) -> None:
    """Two signatures of the same digest differ: each takes a fresh nonce from the CSPRNG."""
    key = sm2.load_private(pair[0])
    e = bytes(range(32))
    assert len({sm2.sign_digest(key, e) for _ in range(8)}) == 8


def test_our_signature_verifies_in_pysmx(pair: tuple[bytes, bytes]) -> None:
    """pysmx, an independent implementation, accepts our signatures over e = SM3(Z||M)."""
    private, public = pair
    message = b"cross-check"
    e = sm2.digest(public, message)
    r, s = decode_dss_signature(sm2.sign_digest(sm2.load_private(private), e))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    point = sm2.public_point(public)
    assert smx_verify(raw, e, point, 64)
    assert smx_verify(raw, message, point, 64, uid=sm2.DEFAULT_ID)


def test_pysmx_signature_verifies_here(pair: tuple[bytes, bytes]) -> None:
    """A signature made by pysmx over the same e verifies with the system libcrypto."""
    private, public = pair
    e = sm2.digest(public, b"from pysmx")
    raw = None
    while raw is None:  # pysmx returns None for the rare degenerate nonce
        raw = smx_sign(e, private_scalar(private), secrets.token_hex(32), 64)
    sig = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    assert sm2.verify_digest(sm2.load_public(public), e, sig)


def test_za_matches_pysmx(pair: tuple[bytes, bytes]) -> None:
    """Z_A with the GM/T 0009 default id 1234567812345678 equals pysmx's."""
    public = pair[1]
    assert smx_za(sm2.DEFAULT_ID, sm2.public_point(public).hex()) == sm2.za(public).hex()
    assert sm2.za(public) != sm2.za(public, b"another id")


def test_ciphertext_decrypts_in_pysmx(pair: tuple[bytes, bytes]) -> None:
    """Our GM/T 0009 DER ciphertext, unwrapped to C1C3C2, decrypts in pysmx."""
    private, public = pair
    plaintext = secrets.token_bytes(100)
    ct = sm2.encrypt(sm2.load_public(public), plaintext)
    assert plaintext == smx_decrypt(der.sm2_ciphertext_to_raw(ct), private_scalar(private), 64)


def test_pysmx_ciphertext_decrypts_here(pair: tuple[bytes, bytes]) -> None:
    """pysmx's C1C3C2 ciphertext, wrapped as GM/T 0009 DER, decrypts here."""
    private, public = pair
    plaintext = b"sm2 interop"
    raw = smx_encrypt(plaintext, sm2.public_point(public), 64)
    assert plaintext == sm2.decrypt(sm2.load_private(private), der.sm2_ciphertext_from_raw(raw))


def test_largest_plaintext_round_trips(pair: tuple[bytes, bytes]) -> None:
    """6047 bytes, Alibaba's SM2PKE limit, encrypt and decrypt."""
    private, public = pair
    plaintext = secrets.token_bytes(6047)
    ct = sm2.encrypt(sm2.load_public(public), plaintext)
    assert plaintext == sm2.decrypt(sm2.load_private(private), ct)


def test_tampered_ciphertext_is_refused(pair: tuple[bytes, bytes]) -> None:
    """A flipped bit in C2, a truncation or garbage all raise SM2Error."""
    private, public = pair
    key = sm2.load_private(private)
    ct = sm2.encrypt(sm2.load_public(public), b"secret")
    for bad in (ct[:-1] + bytes([ct[-1] ^ 1]), ct[:-3], b"\x30\x03\x02\x01\x01", b""):
        with pytest.raises(sm2.SM2Error):
            sm2.decrypt(key, bad)


def test_ciphertext_has_exactly_one_encoding(pair: tuple[bytes, bytes]) -> None:
    """Only the DER encoding decrypts: trailing bytes, long-form or zero-led lengths, BER's
    indefinite length, a padded or negative INTEGER, a C3 of the wrong size, elements swapped or
    one more are each refused (libcrypto alone decrypts the first five)."""
    private, public = pair
    key = sm2.load_private(private)
    ct = sm2.encrypt(sm2.load_public(public), b"one encoding")
    assert sm2.decrypt(key, ct) == b"one encoding"
    _, body, _ = der.read(ct)
    assert len(body) < 0x80  # a short-form length, so each long form below is not minimal
    elements, rest = [], body
    while rest:
        _, value, rest = der.read(rest)
        elements.append(value)
    xv, yv, c3v, c2v = elements

    def seq(*parts: bytes) -> bytes:
        return der.tlv(der.SEQUENCE, b"".join(parts))

    x, y = der.tlv(der.INTEGER, xv), der.tlv(der.INTEGER, yv)
    c3, c2 = der.tlv(der.OCTET_STRING, c3v), der.tlv(der.OCTET_STRING, c2v)
    assert ct == seq(x, y, c3, c2)
    bad = {
        "trailing zero byte": ct + b"\0",
        "trailing bytes": ct + b"junk",
        "outer length in long form": bytes([der.SEQUENCE, 0x81, len(body)]) + body,
        "outer length led by a zero byte": bytes([der.SEQUENCE, 0x82, 0, len(body)]) + body,
        "indefinite length": bytes([der.SEQUENCE, 0x80]) + body + b"\0\0",
        "inner length in long form": seq(x, y, c3, bytes([der.OCTET_STRING, 0x81, len(c2v)]) + c2v),
        "padded INTEGER": seq(der.tlv(der.INTEGER, b"\0" + xv), y, c3, c2),
        "negative INTEGER": seq(der.tlv(der.INTEGER, b"\xff" + xv), y, c3, c2),
        "C3 of 31 bytes": seq(x, y, der.tlv(der.OCTET_STRING, c3v[:31]), c2),
        "an element more": seq(x, y, c3, c2, c2),
        "elements swapped": seq(y, x, c2, c3),
    }
    refused = []
    for label, data in bad.items():
        try:
            sm2.decrypt(key, data)
        except sm2.SM2Error:
            refused.append(label)
    assert refused == list(bad)


def test_other_keys_are_refused() -> None:
    """A P-256 key or garbage does not load as an SM2 key."""
    p256 = ec.generate_private_key(ec.SECP256R1())
    spki = p256.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pkcs8 = p256.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for call, data in ((sm2.load_public, spki), (sm2.load_private, pkcs8), (sm2.load_public, b"junk"),
                       (sm2.load_private, b"junk")):
        with pytest.raises(sm2.SM2Error):
            call(data)
    with pytest.raises(sm2.SM2Error):
        sm2.public_point(spki)


def test_sign_refuses_wrong_digest_length(pair: tuple[bytes, bytes]) -> None:
    """SM2 signs exactly 32 bytes; encryption refuses an empty plaintext."""
    with pytest.raises(sm2.SM2Error):
        sm2.sign_digest(sm2.load_private(pair[0]), bytes(31))
    with pytest.raises(sm2.SM2Error):
        sm2.encrypt(sm2.load_public(pair[1]), b"")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_openssl_command_agrees(pair: tuple[bytes, bytes], tmp_path: Path) -> None:
    """The openssl command verifies our signature over M with distid 1234567812345678, and its
    signature and ciphertext are accepted here."""
    private, public = pair
    (tmp_path / "priv.der").write_bytes(private)
    (tmp_path / "pub.der").write_bytes(public)
    subprocess.run(["openssl", "pkey", "-inform", "DER", "-in", "priv.der", "-out", "priv.pem"], cwd=tmp_path, check=True)
    subprocess.run(["openssl", "pkey", "-pubin", "-inform", "DER", "-in", "pub.der", "-out", "pub.pem"], cwd=tmp_path, check=True)
    message = b"openssl interop"
    (tmp_path / "msg").write_bytes(message)
    (tmp_path / "sig").write_bytes(sm2.sign_digest(sm2.load_private(private), sm2.digest(public, message)))
    verified = subprocess.run(
        ["openssl", "dgst", "-sm3", "-verify", "pub.pem", "-sigopt", "distid:1234567812345678", "-signature", "sig", "msg"],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert verified.stdout.strip() == "Verified OK"
    theirs = subprocess.run(
        ["openssl", "dgst", "-sm3", "-sign", "priv.pem", "-sigopt", "distid:1234567812345678", "-binary", "msg"],
        cwd=tmp_path, capture_output=True, check=True,
    ).stdout
    assert sm2.verify_digest(sm2.load_public(public), sm2.digest(public, message), theirs)
    ct = subprocess.run(
        ["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", "pub.pem", "-in", "msg"],
        cwd=tmp_path, capture_output=True, check=True,
    ).stdout
    assert message == sm2.decrypt(sm2.load_private(private), ct)


def test_keys_have_no_revealing_repr(pair: tuple[bytes, bytes]) -> None:
    """A private key object prints no material."""
    assert repr(sm2.load_private(pair[0])) == "<PrivateKey>"


class _OldFunction:
    """Stands in for a ctypes function of an OpenSSL 1.1 libcrypto."""

    restype = None
    argtypes: tuple[object, ...] = ()

    def __call__(self) -> int:
        return 0x1010117F


@pytest.mark.parametrize(
    "library",
    [object(), type("OpenSSL11", (), {"OpenSSL_version_num": _OldFunction()})()],
)
def test_a_libcrypto_older_than_3_is_an_sm2_error(monkeypatch: pytest.MonkeyPatch, library: object) -> None:
    """Without OpenSSL 3 (symbols missing, or version 1.1) every SM2 call raises SM2Error,
    which the self-test turns into a refusal to start."""
    monkeypatch.setattr(sm2, "_lib", None)
    monkeypatch.setattr(sm2, "_load_libcrypto", lambda: library)
    with pytest.raises(sm2.SM2Error, match="OpenSSL 3"):
        sm2.generate()
