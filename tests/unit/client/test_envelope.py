"""The envelope format: the documented test vector (docs/envelope.md), round trips at the chunk
boundaries, and every way of altering a file failing closed, without a server."""

from __future__ import annotations

import hashlib
import io
import re
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from openkms.client import envelope as env

# The vector of docs/envelope.md, "Test vector".
KEY = bytes(range(32))
PREFIX = bytes.fromhex("a0a1a2a3a4a5a6a7")
BLOB = "ZXhhbXBsZS1ibG9i"
CONTEXT = {"purpose": "test-vector"}
PLAINTEXT = b"openkms envelope v1!"
VECTOR = bytes.fromhex(
    "4f4b4d53454e560100000010a0a1a2a3a4a5a6a700105a586868625842735a5331696247396900197b2270757270"
    "6f7365223a22746573742d766563746f72227d"
    "91298bc63a5f0105b211acfce01945cf2cad906bfa0dc6e49900f131f5c0ec0b"
    "13f56605c7f1e98ecfc6927668974825aed5d68d"
)
HEADER_LEN = 65


def _decrypt(data: bytes, key: bytes = KEY) -> bytes:
    src = io.BytesIO(data)
    header, raw = env.read_header(src)
    out = io.BytesIO()
    env.decrypt_stream(key, header, raw, src, out)
    return out.getvalue()


def _encrypt(plaintext: bytes, chunk_size: int = 16, context: dict[str, str] | None = None) -> bytes:
    header = env.Header(chunk_size, PREFIX, BLOB, CONTEXT if context is None else context)
    out = io.BytesIO()
    env.encrypt_stream(KEY, header, io.BytesIO(plaintext), out)
    return out.getvalue()


def test_the_vector_decrypts_with_the_known_data_key() -> None:
    header, raw = env.read_header(io.BytesIO(VECTOR))
    assert (header.chunk_size, header.nonce_prefix, header.blob, header.context) == (16, PREFIX, BLOB, CONTEXT)
    assert len(raw) == HEADER_LEN
    assert _decrypt(VECTOR) == PLAINTEXT


def test_the_page_shows_the_vector() -> None:
    """docs/envelope.md's header breakdown, digest, chunks and whole file are these bytes."""
    page = (Path(__file__).parents[3] / "docs" / "envelope.md").read_text()
    blocks = re.findall(r"^```\n(.*?)^```$", page, flags=re.S | re.M)
    header = "".join(line.split()[0] for line in blocks[0].splitlines())
    assert bytes.fromhex(header) == VECTOR[:HEADER_LEN]
    assert bytes.fromhex("".join(blocks[1].split())) == VECTOR
    assert hashlib.sha256(VECTOR[:HEADER_LEN]).hexdigest() in page
    for part in (VECTOR[65:81], VECTOR[81:97], VECTOR[97:101], VECTOR[101:]):
        assert f"`{part.hex()}`" in page


def test_encrypting_the_vector_gives_its_exact_bytes() -> None:
    assert _encrypt(PLAINTEXT) == VECTOR


def test_the_vector_follows_the_documented_layout() -> None:
    """Rebuilt from docs/envelope.md's table with AESGCM alone: the code and the page agree."""
    blob, context = BLOB.encode(), b'{"purpose":"test-vector"}'
    header = (
        b"OKMSENV" + b"\x01" + struct.pack(">I", 16) + PREFIX + struct.pack(">H", len(blob)) + blob
        + struct.pack(">H", len(context)) + context
    )
    digest = hashlib.sha256(header).digest()
    aead = AESGCM(KEY)
    chunk0 = aead.encrypt(PREFIX + b"\x00\x00\x00\x00", PLAINTEXT[:16], digest + b"\x00\x00\x00\x00\x00")
    chunk1 = aead.encrypt(PREFIX + b"\x00\x00\x00\x01", PLAINTEXT[16:], digest + b"\x00\x00\x00\x01\x01")
    assert header + chunk0 + chunk1 == VECTOR


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 32, 33, 100])
def test_round_trip_at_chunk_boundaries(size: int) -> None:
    plaintext = bytes(i % 251 for i in range(size))
    sealed = _encrypt(plaintext, context={})
    chunks = max(1, -(-size // 16))
    assert len(sealed) == len(env.Header(16, PREFIX, BLOB).encode()) + size + 16 * chunks
    assert _decrypt(sealed) == plaintext


def _records(data: bytes) -> list[bytes]:
    body = data[HEADER_LEN:]
    return [body[i : i + 32] for i in range(0, len(body), 32)]


def _three_chunks() -> bytes:
    return _encrypt(b"A" * 16 + b"B" * 16 + b"C" * 5)


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


TAMPERS = {
    "a byte of a chunk": lambda d: _flip(d, HEADER_LEN + 40),
    "a byte of a tag": lambda d: _flip(d, len(d) - 1),
    "the nonce prefix": lambda d: _flip(d, 12),
    "the blob": lambda d: _flip(d, 30),
    "the context": lambda d: d.replace(b'"test-vector"', b'"test-vectos"'),
    "the chunk size": lambda d: _flip(d, 11),
    "the last chunk cut off": lambda d: d[: HEADER_LEN + 64],
    "the last chunk cut short": lambda d: d[:-1],
    "every chunk cut off": lambda d: d[:HEADER_LEN],
    "a middle chunk dropped": lambda d: d[:HEADER_LEN] + b"".join(_records(d)[::2]),
    "two chunks swapped": lambda d: d[:HEADER_LEN] + b"".join([_records(d)[1], _records(d)[0], _records(d)[2]]),
    "a chunk repeated": lambda d: d[:HEADER_LEN] + b"".join([_records(d)[0], *_records(d)]),
    "a chunk appended": lambda d: d + _records(d)[2],
    "a byte appended": lambda d: d + b"\x00",
}


@pytest.mark.parametrize("case", sorted(TAMPERS))
def test_every_alteration_fails(case: str) -> None:
    original = _three_chunks()
    assert _decrypt(original) == b"A" * 16 + b"B" * 16 + b"C" * 5
    altered = TAMPERS[case](original)
    assert altered != original
    with pytest.raises(env.EnvelopeError):
        _decrypt(altered)


def test_another_data_key_fails() -> None:
    with pytest.raises(env.EnvelopeError, match="chunk 0 does not authenticate"):
        _decrypt(VECTOR, bytes(32))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not an openkms envelope"),
        (b"GZIPPED" + VECTOR[7:], "not an openkms envelope"),
        (VECTOR[:7] + b"\x02" + VECTOR[8:], "version 2"),
        (VECTOR[:8] + struct.pack(">I", 0) + VECTOR[12:], "malformed"),
        (VECTOR[:8] + struct.pack(">I", env.MAX_CHUNK_SIZE + 1) + VECTOR[12:], "malformed"),
        (VECTOR[:40], "truncated"),
    ],
)
def test_a_malformed_header_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(env.EnvelopeError, match=reason):
        env.read_header(io.BytesIO(data))


def test_short_reads_are_filled() -> None:
    """A pipe hands over a few bytes per read: chunks are still whole."""

    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data = data

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            k = min(3, n) if n >= 0 else 3
            part, self.data = self.data[:k], self.data[k:]
            return part

    out = io.BytesIO()
    header = env.Header(16, PREFIX, BLOB, CONTEXT)
    env.encrypt_stream(KEY, header, Trickle(PLAINTEXT), out)  # type: ignore[arg-type]
    assert out.getvalue() == VECTOR
    src = Trickle(VECTOR)
    header, raw = env.read_header(src)  # type: ignore[arg-type]
    plain = io.BytesIO()
    env.decrypt_stream(KEY, header, raw, src, plain)  # type: ignore[arg-type]
    assert plain.getvalue() == PLAINTEXT
