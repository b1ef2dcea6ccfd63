"""Shamir's scheme over GF(2^8): any threshold of shares recombines, fewer do not, a changed
share is caught (by its check when mistyped, by the sealed root when altered on purpose)."""

from __future__ import annotations

import hashlib
import itertools
import secrets

import pytest

from openkms.crypto import aead
from openkms.rootkey import shamir


def test_every_threshold_subset_recombines_and_fewer_do_not() -> None:
    secret = secrets.token_bytes(32)
    shares = shamir.split(secret, 5, 3, "0a1b2c3d")
    assert len({s.y for s in shares}) == 5 and all(s.y != secret for s in shares)
    for subset in itertools.combinations(shares, 3):
        assert shamir.combine(list(subset)) == secret
    for subset in itertools.combinations(shares, 4):
        assert shamir.combine(list(subset)) == secret
    for pair in itertools.combinations(shares, 2):
        assert shamir.combine(list(pair)) != secret


def test_a_share_round_trips_its_text_and_a_typo_is_caught() -> None:
    share = shamir.split(b"k" * 32, 3, 2, "deadbeef")[1]
    text = share.text()
    assert text.startswith("okshare1-deadbeef-02-")
    assert shamir.Share.parse(text) == share
    assert shamir.Share.parse(f"  {text.upper()}\n") == share
    typo = text[:30] + ("0" if text[30] != "0" else "1") + text[31:]
    with pytest.raises(shamir.BadShare, match="mistyped"):
        shamir.Share.parse(typo)
    with pytest.raises(shamir.BadShare):
        shamir.Share.parse("okshare1-nothex")


def test_an_altered_share_with_a_fixed_check_fails_at_the_sealed_root() -> None:
    unseal_key, root = secrets.token_bytes(32), secrets.token_bytes(32)
    shares = shamir.split(unseal_key, 3, 2, "01020304")
    blob = shamir.seal_root(unseal_key, root, "01020304")
    assert shamir.open_root(shamir.combine(shares[:2]), blob, "01020304") == root
    altered = shamir.Share(shares[0].set_id, shares[0].x, bytes([shares[0].y[0] ^ 1]) + shares[0].y[1:])
    body = altered.text().rsplit("-", 1)[0]
    assert altered.text().endswith(hashlib.sha256(body.encode()).hexdigest()[:8])  # well formed
    with pytest.raises(aead.NotAuthentic):
        shamir.open_root(shamir.combine([altered, shares[1]]), blob, "01020304")


def test_a_share_given_twice_or_of_another_set_is_refused() -> None:
    a = shamir.split(b"x" * 32, 3, 2, "aaaaaaaa")
    b = shamir.split(b"x" * 32, 3, 2, "bbbbbbbb")
    with pytest.raises(shamir.BadShare, match="twice"):
        shamir.combine([a[0], a[0]])
    with pytest.raises(shamir.BadShare, match="one set"):
        shamir.combine([a[0], b[1]])
    with pytest.raises(ValueError):
        shamir.split(b"x" * 32, 2, 3, "aaaaaaaa")
