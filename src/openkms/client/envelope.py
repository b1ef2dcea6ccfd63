"""The envelope file format of `openkms envelope` (docs/envelope.md, byte by byte).

A file is a header naming the wrapped data key, followed by the plaintext in chunks, each
sealed with AES-256-GCM under the data key::

    header   magic "OKMSENV" | version 0x01 | chunk size (u32) | nonce prefix (8 bytes)
             | blob length (u16) | CiphertextBlob (ASCII) | context length (u16) | context (JSON)
    chunk i  AES-256-GCM(data key, nonce = prefix | u32 i,
                         aad = SHA-256(header) | u32 i | final flag (1 byte)) -> ciphertext | tag

Every chunk but the last holds exactly ``chunk size`` plaintext bytes; the last holds 0 to
``chunk size`` and is sealed with the final flag 1. So a flipped byte anywhere, a chunk
dropped, swapped, repeated or appended, a cut at a chunk boundary, and any change to the header
make some chunk fail to authenticate. Reading and writing hold two chunks at a time: a file of
any size takes bounded memory.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"OKMSENV"
VERSION = 1
CHUNK_SIZE = 64 * 1024
MAX_CHUNK_SIZE = 16 * 1024 * 1024
PREFIX_LEN = 8
TAG_LEN = 16
KEY_LEN = 32
MAX_CHUNKS = 2**32
_FIXED = struct.Struct(">7sBI8sH")  # magic, version, chunk size, nonce prefix, blob length
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")

Progress = Callable[[int], None]


class EnvelopeError(Exception):
    """The input is not an intact envelope file (or a plaintext cannot be sealed as one)."""


def encode_context(context: dict[str, str]) -> bytes:
    """The header's form of an EncryptionContext: compact JSON, keys sorted, UTF-8; empty for none."""
    if not context:
        return b""
    return json.dumps(context, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Header:
    """What precedes the chunks; :attr:`raw` is the exact bytes its hash is taken over."""

    chunk_size: int
    nonce_prefix: bytes
    blob: str
    context: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        blob = self.blob.encode("ascii")
        context = encode_context(self.context)
        if not 1 <= self.chunk_size <= MAX_CHUNK_SIZE or len(self.nonce_prefix) != PREFIX_LEN:
            raise EnvelopeError("chunk size or nonce prefix out of range")
        if not 1 <= len(blob) <= 0xFFFF or len(context) > 0xFFFF:
            raise EnvelopeError("CiphertextBlob or EncryptionContext too long for the header")
        fixed = _FIXED.pack(MAGIC, VERSION, self.chunk_size, self.nonce_prefix, len(blob))
        return fixed + blob + _U16.pack(len(context)) + context


def _read_exact(src: BinaryIO, n: int) -> bytes:
    """``n`` bytes, or fewer only at the end of the input (pipes may return short reads)."""
    parts: list[bytes] = []
    remaining = n
    while remaining:
        part = src.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def read_header(src: BinaryIO) -> tuple[Header, bytes]:
    """The header at the start of ``src`` and its raw bytes; :class:`EnvelopeError` if malformed."""
    fixed = _read_exact(src, _FIXED.size)
    if len(fixed) < _FIXED.size or fixed[: len(MAGIC)] != MAGIC:
        raise EnvelopeError("not an openkms envelope file")
    _, version, chunk_size, prefix, blob_len = _FIXED.unpack(fixed)
    if version != VERSION:
        raise EnvelopeError(f"envelope version {version} is not one this openkms reads")
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE or blob_len == 0:
        raise EnvelopeError("malformed envelope header")
    blob = _read_exact(src, blob_len)
    length = _read_exact(src, _U16.size)
    if len(blob) < blob_len or len(length) < _U16.size:
        raise EnvelopeError("truncated envelope header")
    (context_len,) = _U16.unpack(length)
    context_raw = _read_exact(src, context_len)
    if len(context_raw) < context_len:
        raise EnvelopeError("truncated envelope header")
    try:
        blob_text = blob.decode("ascii")
        context = json.loads(context_raw) if context_raw else {}
    except ValueError:
        raise EnvelopeError("malformed envelope header") from None
    if not isinstance(context, dict) or not all(isinstance(v, str) for v in context.values()):
        raise EnvelopeError("malformed envelope header")
    raw = fixed + blob + length + context_raw
    return Header(chunk_size, prefix, blob_text, context), raw


def _nonce_aad(prefix: bytes, header_hash: bytes, index: int, final: bool) -> tuple[bytes, bytes]:
    counter = _U32.pack(index)
    return prefix + counter, header_hash + counter + (b"\x01" if final else b"\x00")


def encrypt_stream(
    data_key: bytes, header: Header, src: BinaryIO, dst: BinaryIO, progress: Progress | None = None
) -> int:
    """Write the header and ``src`` sealed in chunks to ``dst``; the plaintext bytes read."""
    if len(data_key) != KEY_LEN:
        raise EnvelopeError("the data key must be 32 bytes")
    raw = header.encode()
    header_hash = hashlib.sha256(raw).digest()
    aead = AESGCM(data_key)
    dst.write(raw)
    size = header.chunk_size
    chunk = _read_exact(src, size)
    index = total = 0
    while True:
        following = _read_exact(src, size) if len(chunk) == size else b""
        final = not following
        if index >= MAX_CHUNKS:
            raise EnvelopeError("the input has more chunks than a nonce counter can number")
        nonce, aad = _nonce_aad(header.nonce_prefix, header_hash, index, final)
        dst.write(aead.encrypt(nonce, chunk, aad))
        total += len(chunk)
        if progress is not None:
            progress(total)
        if final:
            return total
        chunk, index = following, index + 1


def decrypt_stream(
    data_key: bytes,
    header: Header,
    raw_header: bytes,
    src: BinaryIO,
    dst: BinaryIO,
    progress: Progress | None = None,
) -> int:
    """Write the plaintext of the chunks following the header in ``src`` to ``dst``, each chunk
    only once it authenticated; :class:`EnvelopeError` at the first that does not (the caller
    discards what was written). The plaintext bytes written."""
    if len(data_key) != KEY_LEN:
        raise EnvelopeError("the data key must be 32 bytes")
    header_hash = hashlib.sha256(raw_header).digest()
    aead = AESGCM(data_key)
    record_size = header.chunk_size + TAG_LEN
    record = _read_exact(src, record_size)
    index = total = 0
    while True:
        following = _read_exact(src, record_size) if len(record) == record_size else b""
        final = not following
        if len(record) < TAG_LEN or index >= MAX_CHUNKS:
            raise EnvelopeError(f"chunk {index} is truncated")
        nonce, aad = _nonce_aad(header.nonce_prefix, header_hash, index, final)
        try:
            plain = aead.decrypt(nonce, record, aad)
        except InvalidTag:
            raise EnvelopeError(
                f"chunk {index} does not authenticate (altered, moved, cut or added)"
            ) from None
        dst.write(plain)
        total += len(plain)
        if progress is not None:
            progress(total)
        if final:
            return total
        record, index = following, index + 1
