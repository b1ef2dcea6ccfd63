"""Identifiers: key and version ids (UUIDs, 36 characters, as the ciphertext header expects),
account ids and AccessKey pairs. All drawn from :mod:`secrets`."""

from __future__ import annotations

import secrets
import string
import uuid

_ALNUM = string.ascii_letters + string.digits


def new_key_id() -> str:
    return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))


def new_version_id() -> str:
    return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))


def new_request_id() -> str:
    """An upper-case UUID v4, as Alibaba's RequestId; built by hand (one per request)."""
    b = bytearray(secrets.token_bytes(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex().upper()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_account_id() -> str:
    """A 16-digit numeric account id, like Alibaba's account UIDs."""
    return str(secrets.randbelow(9 * 10**15) + 10**15)


def new_access_key_id() -> str:
    return "LTAI" + "".join(secrets.choice(_ALNUM) for _ in range(20))


def new_access_key_secret() -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(30))


def is_uuid(text: str) -> bool:
    if len(text) != 36:
        return False
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False
