"""The CiphertextBlob layout and the EncryptionContext rules (domain/ciphertext.py)."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkms.domain.ciphertext import (
    HEADER_LEN,
    MAX_BLOB_CHARS,
    TAG_LEN,
    blob_aad,
    build_blob,
    canonical_context,
    parse_blob,
    parse_context,
    plaintext_bytes,
    symmetric_cipher,
)
from openkms.domain.errors import InvalidCiphertext, InvalidValue, UnsupportedOperation

VID = "86a9efd9-3d16-4894-bd4f-1fc43f3f2abf"


def test_layout_is_alibabas() -> None:
    """A blob is base64(version id || 12-byte IV || ciphertext || 16-byte tag), as Alibaba's."""
    text = build_blob(VID, b"\x01" * 12, b"\x02" * 5 + b"\x03" * 16)
    raw = base64.b64decode(text)
    assert VID.encode() == raw[:36]
    assert raw[36:48] == b"\x01" * 12
    parsed = parse_blob(text)
    assert (parsed.version_id, parsed.iv, parsed.sealed) == (VID, b"\x01" * 12, b"\x02" * 5 + b"\x03" * 16)


def test_alibaba_sample_prefix_parses() -> None:
    """The documented sample blob's first 48 bytes are read as its version id and IV."""
    sample = base64.b64encode(VID.encode() + bytes(12) + bytes(60)).decode()
    assert parse_blob(sample).version_id == VID


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not base64!",
        base64.b64encode(VID.encode() + bytes(12 + TAG_LEN - 1)).decode(),  # shorter than a tag
        base64.b64encode(VID.upper().encode() + bytes(40)).decode(),  # not our spelling
        base64.b64encode(b"x" * 36 + bytes(40)).decode(),
        base64.b64encode(VID.encode() + bytes(40)).decode() + "\n",
        base64.b64encode(VID.encode() + bytes(40)).decode().rstrip("="),
        "é" * 80,
        "A" * (MAX_BLOB_CHARS + 4),
    ],
)
def test_malformed_blobs_are_one_error(text: str) -> None:
    """Every malformed blob raises the one InvalidCiphertext naming CiphertextBlob."""
    with pytest.raises(InvalidCiphertext) as info:
        parse_blob(text)
    assert info.value.parameter == "CiphertextBlob"
    assert info.value.detail is None


def test_non_canonical_base64_is_refused() -> None:
    """Unused low bits in the last Base64 character make a different text: refused."""
    good = base64.b64encode(VID.encode() + bytes(HEADER_LEN - 36 + TAG_LEN + 1)).decode()
    assert good.endswith("=")
    pad = good.rstrip("=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    twin = pad[:-1] + alphabet[alphabet.index(pad[-1]) + 1] + good[len(pad):]
    assert base64.b64decode(twin) == base64.b64decode(good)
    parse_blob(good)
    with pytest.raises(InvalidCiphertext):
        parse_blob(twin)


@given(st.binary(max_size=200))
def test_parser_only_raises_invalid_ciphertext(data: bytes) -> None:
    """Arbitrary bytes, as text or as Base64, either parse or raise InvalidCiphertext."""
    for text in (data.decode("latin-1"), base64.b64encode(data).decode()):
        with contextlib.suppress(InvalidCiphertext):
            parse_blob(text)


def test_context_is_a_map() -> None:
    """Key order does not matter; keys, values and case do."""
    a = parse_context('{"a":"1","b":"2"}')
    b = parse_context('{ "b" : "2", "a" : "1" }')
    assert canonical_context(a) == canonical_context(b)
    assert canonical_context(a) != canonical_context(parse_context('{"A":"1","b":"2"}'))
    assert canonical_context(a) != canonical_context(parse_context('{"a":"1","b":"2 "}'))
    assert canonical_context(a) != canonical_context(parse_context('{"a":"1"}'))


def test_absent_and_empty_context_are_the_same() -> None:
    """No context, an empty string and {} all bind the same (empty) map."""
    assert {} == parse_context(None) == parse_context("") == parse_context("{}")


def test_canonical_encoding_is_length_prefixed() -> None:
    """A pair boundary cannot be moved: {"ab":"c"} and {"a":"bc"} differ."""
    assert canonical_context({"ab": "c"}) != canonical_context({"a": "bc"})
    assert canonical_context({"a": "b"}) == b"\x00\x00\x00\x01\x00\x00\x00\x01a\x00\x00\x00\x01b"


@pytest.mark.parametrize(
    "text",
    [
        '{"a":"1","a":"2"}',
        '{"a":1}',
        '{"a":null}',
        '{"a":["x"]}',
        '{"a":{"b":"c"}}',
        '["a"]',
        '"a"',
        "not json",
        '{"a":"\\ud800"}',
        "[" * 5000 + "]" * 5000,
        json.dumps({"k": "v" * 8200}),
    ],
)
def test_bad_contexts_are_refused(text: str) -> None:
    """Duplicate keys, non-string values, non-objects and bad JSON are InvalidParameter."""
    with pytest.raises(InvalidValue) as info:
        parse_context(text)
    assert info.value.parameter == "EncryptionContext"


def test_aad_starts_with_the_version_id() -> None:
    """The associated data binds the version id and the canonical context."""
    assert VID.encode() + canonical_context({"a": "b"}) == blob_aad(VID, {"a": "b"})


def test_plaintext_limit_counts_utf8_bytes() -> None:
    """6144 bytes are accepted, 6145 refused, counting UTF-8 bytes not characters."""
    assert len(plaintext_bytes("x" * 6144)) == 6144
    assert len(plaintext_bytes("€" * 2048)) == 6144
    for text in ("x" * 6145, "€" * 2048 + "x"):
        with pytest.raises(InvalidValue):
            plaintext_bytes(text)


def test_only_symmetric_encryption_keys_make_blobs() -> None:
    """AES and SM4 keys make blobs; any other spec or usage is Rejected.UnsupportedOperation."""
    assert symmetric_cipher("Aliyun_AES_256", "ENCRYPT/DECRYPT") == "AES"
    assert symmetric_cipher("Aliyun_SM4", "ENCRYPT/DECRYPT") == "SM4"
    for spec, usage in (("RSA_2048", "ENCRYPT/DECRYPT"), ("EC_P256", "SIGN/VERIFY"), ("Aliyun_AES_256", "SIGN/VERIFY")):
        with pytest.raises(UnsupportedOperation):
            symmetric_cipher(spec, usage)
