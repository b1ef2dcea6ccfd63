"""The root sealed under Argon2id(passphrase): opens under its passphrase only."""

from __future__ import annotations

import pytest

from openkms.rootkey import passphrase


def test_the_root_opens_under_its_passphrase_only() -> None:
    root = bytes(range(32))
    blob = passphrase.seal_root(b"a long enough passphrase", root)
    assert root not in blob
    assert passphrase.open_root(b"a long enough passphrase", blob) == root
    with pytest.raises(passphrase.WrongPassphrase):
        passphrase.open_root(b"another passphrase entirely", blob)
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(passphrase.WrongPassphrase):
        passphrase.open_root(b"a long enough passphrase", flipped)


def test_a_blob_asking_for_absurd_costs_is_refused_before_deriving() -> None:
    blob = passphrase.seal_root(b"a long enough passphrase", bytes(32))
    huge = blob[:5] + (2**31).to_bytes(4, "big") + blob[9:]
    with pytest.raises(passphrase.WrongPassphrase):
        passphrase.open_root(b"a long enough passphrase", huge)
