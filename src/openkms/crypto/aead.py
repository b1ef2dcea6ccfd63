"""AES-256-GCM sealing used for wrapping (root key -> KEK -> key material, AccessKey secrets).

``seal`` returns ``nonce(12) || ciphertext || tag(16)`` with a fresh random nonce; ``open_``
raises :class:`NotAuthentic` (and nothing else) when the blob does not authenticate.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_LEN = 12
TAG_LEN = 16


class NotAuthentic(Exception):
    """A sealed blob failed authentication (wrong key, wrong associated data, or tampering)."""


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_LEN)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < NONCE_LEN + TAG_LEN:
        raise NotAuthentic
    try:
        return AESGCM(key).decrypt(blob[:NONCE_LEN], blob[NONCE_LEN:], aad)
    except InvalidTag:
        raise NotAuthentic from None
