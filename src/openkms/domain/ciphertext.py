"""The CiphertextBlob format and the EncryptionContext rules, as pure functions (no crypto, no I/O).

A blob is Alibaba's layout, so tools that read the key version id out of a blob route it::

    base64( version id (36 ASCII bytes) || IV (12 bytes) || ciphertext || GCM tag (16 bytes) )

What goes into the AEAD (the per-message key, the associated data) is ours and is written down in
docs/ciphertext.md; :mod:`openkms.crypto.blob` does the sealing. Every way a blob can be wrong
raises the one :class:`~openkms.domain.errors.InvalidCiphertext`, which names no check.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from openkms.domain.errors import InvalidCiphertext, InvalidValue, UnsupportedOperation
from openkms.domain.text import utf8_within

VERSION_ID_LEN = 36
IV_LEN = 12
TAG_LEN = 16
HEADER_LEN = VERSION_ID_LEN + IV_LEN
# Encrypt takes at most 6 KB ("the service counts the submitted string"): 6144 UTF-8 bytes.
MAX_PLAINTEXT_BYTES = 6144
# The longest blob openkms can have made: a 6144-byte plaintext, as Base64 text.
MAX_BLOB_CHARS = 4 * -(-(HEADER_LEN + MAX_PLAINTEXT_BYTES + TAG_LEN) // 3)
MAX_CONTEXT_CHARS = 8192
FORMAT_LABEL = b"openkms/blob/v1"


@dataclass(frozen=True, slots=True)
class Blob:
    """A parsed CiphertextBlob; ``sealed`` is ciphertext || tag."""

    version_id: str
    iv: bytes
    sealed: bytes


# What str(uuid.UUID(x)) == x accepts, without building a UUID (this runs on every blob).
_VERSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_version_id(text: str) -> bool:
    """A key version id exactly as openkms writes it: a lowercase, hyphenated UUID."""
    return len(text) == VERSION_ID_LEN and _VERSION_ID.fullmatch(text) is not None


def build_blob(version_id: str, iv: bytes, sealed: bytes) -> str:
    """Lay out a blob and return its Base64 text (what the API answers)."""
    if not is_version_id(version_id) or len(iv) != IV_LEN or len(sealed) < TAG_LEN:
        raise ValueError("malformed blob parts")
    return base64.b64encode(version_id.encode("ascii") + iv + sealed).decode("ascii")


def parse_blob(text: str, parameter: str = "CiphertextBlob") -> Blob:
    """Split a blob's Base64 text into its parts.

    Only canonical Base64 is accepted (re-encoding must give the same text), so no two
    different strings are the same blob, and every change to the text is a different blob.

    Raises:
        InvalidCiphertext: the text is not canonical Base64, too short or too long, or its
            header is not a key version id.
    """
    if not text or len(text) > MAX_BLOB_CHARS or not text.isascii():
        raise InvalidCiphertext(parameter)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidCiphertext(parameter) from None
    if base64.b64encode(raw).decode("ascii") != text or len(raw) < HEADER_LEN + TAG_LEN:
        raise InvalidCiphertext(parameter)
    version_id = raw[:VERSION_ID_LEN].decode("ascii", errors="replace")
    if not is_version_id(version_id):
        raise InvalidCiphertext(parameter)
    return Blob(version_id, raw[VERSION_ID_LEN:HEADER_LEN], raw[HEADER_LEN:])


def per_message_info(version_id: str, key_spec: str) -> bytes:
    """HKDF ``info`` for a blob's per-message key: the format, the version and its spec."""
    return FORMAT_LABEL + b"|" + version_id.encode("ascii") + b"|" + key_spec.encode("ascii")


def blob_aad(version_id: str, context: Mapping[str, str]) -> bytes:
    """Associated data: the version id (fixed length) followed by the canonical context."""
    return version_id.encode("ascii") + canonical_context(context)


# -- EncryptionContext ------------------------------------------------------------------------


def parse_context(text: str | None, parameter: str = "EncryptionContext") -> dict[str, str]:
    """Parse an EncryptionContext parameter: a JSON object of string -> string.

    Absent, empty and ``{}`` are the same (no context). Duplicate keys and any value that is not
    a string are refused rather than silently resolved, because two parties reading the same
    JSON differently is exactly what a context must not allow.

    Raises:
        InvalidValue: naming ``parameter``.
    """
    if not text:
        return {}
    if len(text) > MAX_CONTEXT_CHARS:
        raise InvalidValue(parameter, f"It must be at most {MAX_CONTEXT_CHARS} characters.")

    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        out: dict[str, object] = {}
        for name, value in items:
            if name in out:
                raise InvalidValue(parameter, f"Duplicate key {name!r}.")
            out[name] = value
        return out

    try:
        parsed = json.loads(text, object_pairs_hook=pairs)
    except InvalidValue:
        raise
    except (ValueError, RecursionError):
        raise InvalidValue(parameter, "It must be a JSON object of strings.") from None
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise InvalidValue(parameter, "It must be a JSON object of strings.")
    context: dict[str, str] = parsed
    try:
        canonical_context(context)
    except UnicodeEncodeError:
        # A lone surrogate escape (\ud800) has no UTF-8 form, so it cannot be bound.
        raise InvalidValue(parameter, "It must be valid Unicode.") from None
    return context


def canonical_context(context: Mapping[str, str]) -> bytes:
    """Length-prefixed encoding of the context, keys sorted by their UTF-8 bytes.

    ``u32 count || for each pair: u32 len || key || u32 len || value`` (big-endian). Exact and
    case-sensitive, no Unicode normalisation: the map, not its JSON spelling, is what counts.
    """
    encoded = sorted((k.encode("utf-8"), v.encode("utf-8")) for k, v in context.items())
    out = [struct.pack(">I", len(encoded))]
    for key, value in encoded:
        out += [struct.pack(">I", len(key)), key, struct.pack(">I", len(value)), value]
    return b"".join(out)


def plaintext_bytes(text: str, parameter: str = "Plaintext") -> bytes:
    """The UTF-8 bytes of an Encrypt plaintext, within Alibaba's 6 KB limit.

    Raises:
        InvalidValue: more than 6144 bytes, or not encodable.
    """
    return utf8_within(text, MAX_PLAINTEXT_BYTES, parameter)


# -- which keys make blobs ----------------------------------------------------------------------

_CIPHERS = {
    "Aliyun_AES_256": "AES",
    "Aliyun_AES_192": "AES",
    "Aliyun_AES_128": "AES",
    "Aliyun_SM4": "SM4",
}


def symmetric_cipher(key_spec: str, key_usage: str) -> str:
    """The block cipher of a key that makes CiphertextBlobs (``AES`` or ``SM4``).

    Raises:
        UnsupportedOperation: the key is not a symmetric ENCRYPT/DECRYPT key (an asymmetric,
            signing or HMAC key), Alibaba's 400 Rejected.UnsupportedOperation.
    """
    cipher = _CIPHERS.get(key_spec)
    if cipher is None or key_usage != "ENCRYPT/DECRYPT":
        raise UnsupportedOperation(
            f"This operation needs a symmetric ENCRYPT/DECRYPT key; the key is {key_spec} ({key_usage})."
        )
    return cipher
