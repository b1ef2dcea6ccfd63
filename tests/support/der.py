"""A minimal DER reader/writer for tests: SEQUENCEs of INTEGERs and OCTET STRINGs, enough to
turn GM/T 0009 SM2 ciphertexts (``SEQUENCE {x, y, C3, C2}``) into the raw ``C1 || C3 || C2`` form
an independent implementation (pysmx) speaks, and back."""

from __future__ import annotations

INTEGER, OCTET_STRING, SEQUENCE = 0x02, 0x04, 0x30


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _length(len(value)) + value


def integer(n: int) -> bytes:
    body = n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big")
    return tlv(INTEGER, body)


def read(data: bytes) -> tuple[int, bytes, bytes]:
    """One TLV: (tag, value, rest)."""
    tag, first = data[0], data[1]
    if first < 0x80:
        size, offset = first, 2
    else:
        count = first & 0x7F
        size, offset = int.from_bytes(data[2 : 2 + count], "big"), 2 + count
    return tag, data[offset : offset + size], data[offset + size :]


def sm2_ciphertext_to_raw(der: bytes) -> bytes:
    """GM/T 0009 DER -> ``x || y || C3 || C2`` (C1 without the 04 prefix, as pysmx expects)."""
    tag, body, rest = read(der)
    assert (tag, rest) == (SEQUENCE, b"")
    parts = []
    while body:
        tag, value, body = read(body)
        parts.append((tag, value))
    (tx, x), (ty, y), (t3, c3), (t2, c2) = parts
    assert (tx, ty, t3, t2) == (INTEGER, INTEGER, OCTET_STRING, OCTET_STRING)
    return int.from_bytes(x, "big").to_bytes(32, "big") + int.from_bytes(y, "big").to_bytes(32, "big") + c3 + c2


def sm2_ciphertext_from_raw(raw: bytes) -> bytes:
    """``x || y || C3 || C2`` -> GM/T 0009 DER."""
    x, y, c3, c2 = raw[:32], raw[32:64], raw[64:96], raw[96:]
    body = (
        integer(int.from_bytes(x, "big"))
        + integer(int.from_bytes(y, "big"))
        + tlv(OCTET_STRING, c3)
        + tlv(OCTET_STRING, c2)
    )
    return tlv(SEQUENCE, body)
