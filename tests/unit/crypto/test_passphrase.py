"""Sealing under a passphrase: opens only under the same passphrase and associated data."""

from __future__ import annotations

import pytest

from openkms.crypto import passphrase


def test_round_trip_and_refusals() -> None:
    sealed = passphrase.seal("a long passphrase", b"k" * 32, b"aad")
    assert b"k" * 32 not in sealed
    assert passphrase.open_("a long passphrase", sealed, b"aad") == b"k" * 32
    with pytest.raises(passphrase.WrongPassphrase):
        passphrase.open_("a long passphrasf", sealed, b"aad")
    with pytest.raises(passphrase.WrongPassphrase):
        passphrase.open_("a long passphrase", sealed, b"other")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(passphrase.WrongPassphrase):
        passphrase.open_("a long passphrase", tampered, b"aad")
    with pytest.raises(passphrase.WrongPassphrase):
        passphrase.open_("a long passphrase", b"junk", b"aad")


def test_fresh_salt_each_time() -> None:
    assert passphrase.seal("p" * 12, b"x", b"") != passphrase.seal("p" * 12, b"x", b"")
