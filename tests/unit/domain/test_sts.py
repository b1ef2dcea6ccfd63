"""STS's rules and the SecurityToken's layout (domain/sts.py): AssumeRole's parameter rules and
bounds, the claims' encoding, and the token text, of which exactly one spelling is accepted."""

from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkms.domain import sts
from openkms.domain.sts import (
    Claims,
    StsError,
    TokenMalformed,
    check_duration,
    check_external_id,
    check_session_name,
    decode_claims,
    encode_claims,
    pack,
    parse_role_arn,
    token_header,
    unpack,
)

CLAIMS = Claims(
    access_key_id="STS.abc",
    secret="s3cret-s3cret-s3cret",
    account_uid="1111111111111111",
    role_id="12345678901234567",
    role_name="KmsUser",
    session_name="s1",
    issued=1_800_000_000,
    expires=1_800_000_900,
    policy='{"Version":"1"}',
    caller_arn="acs:ram::1111111111111111:user/alice",
)


def _code(call: object) -> str:
    with pytest.raises(StsError) as refused:
        call()  # type: ignore[operator]
    return refused.value.code


def test_claims_round_trip() -> None:
    """Encoded claims decode to the same claims, with or without a session policy."""
    assert decode_claims(encode_claims(CLAIMS)) == CLAIMS
    no_policy = Claims(**{**{f: getattr(CLAIMS, f) for f in CLAIMS.__slots__}, "policy": None})
    assert decode_claims(encode_claims(no_policy)) == no_policy


def test_the_secret_is_not_in_the_claims_repr() -> None:
    """repr() of claims (as a log line or a traceback would show them) leaves the secret out."""
    assert CLAIMS.secret not in repr(CLAIMS)


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        b"{}",
        json.dumps({**json.loads(encode_claims(CLAIMS)), "x": 1}).encode(),
        json.dumps({**json.loads(encode_claims(CLAIMS)), "e": "1800000900"}).encode(),
        json.dumps({**json.loads(encode_claims(CLAIMS)), "e": True}).encode(),
        json.dumps({**json.loads(encode_claims(CLAIMS)), "k": 5}).encode(),
        json.dumps({**json.loads(encode_claims(CLAIMS)), "p": 5}).encode(),
    ],
)
def test_claims_of_another_shape_are_malformed(data: bytes) -> None:
    """Anything but exactly the claims' members, each of its type, is TokenMalformed."""
    with pytest.raises(TokenMalformed):
        decode_claims(data)


def test_token_layout() -> None:
    """CAIS, then base64url without padding of format byte 1, the KEK version (4 bytes) and the
    sealed claims; unpack gives them back."""
    sealed = bytes(range(40))
    token = pack(token_header(7), sealed)
    assert token.startswith("CAIS")
    assert re.fullmatch(r"CAIS[A-Za-z0-9_-]+", token)
    body = base64.urlsafe_b64decode(token[4:] + "=" * (-len(token[4:]) % 4))
    assert body[:5] == b"\x01\x00\x00\x00\x07"
    assert unpack(token) == (b"\x01\x00\x00\x00\x07", 7, sealed)


@given(st.binary(min_size=28, max_size=200), st.integers(min_value=1, max_value=2**32 - 1))
def test_every_token_unpacks_to_what_was_packed(sealed: bytes, kek_version: int) -> None:
    """pack and unpack are inverse for every sealed body and KEK version."""
    assert unpack(pack(token_header(kek_version), sealed)) == (token_header(kek_version), kek_version, sealed)


@given(st.binary(min_size=28, max_size=80), st.integers(min_value=4, max_value=120), st.sampled_from("AQg_-"))
def test_one_spelling_per_token(sealed: bytes, at: int, char: str) -> None:
    """A token text changed in any one character either fails to unpack or unpacks to other
    bytes: no spare padding bits or alternative alphabet let two texts stand for one token."""
    token = pack(token_header(1), sealed)
    at = min(at, len(token) - 1)
    changed = token[:at] + char + token[at + 1 :]
    if changed == token:
        return
    try:
        unpacked = unpack(changed)
    except TokenMalformed:
        return
    assert unpacked[2] != sealed or unpacked[0] != token_header(1)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "CAIS",
        "XXXX" + pack(token_header(1), bytes(40))[4:],  # another prefix
        pack(token_header(1), bytes(27)),  # too short to hold a GCM nonce and tag
        "CAIS" + base64.urlsafe_b64encode(b"\x02\x00\x00\x00\x01" + bytes(40)).decode(),  # format 2
        pack(token_header(1), bytes(40)) + "=",  # padding
        "CAIS" + pack(token_header(1), bytes(40))[4:].replace("A", "+", 1),  # the other alphabet
        "CAIS!!!!",
        "CAISé" + "A" * 60,
    ],
)
def test_malformed_token_texts(token: str) -> None:
    """Texts that are not laid out as a token are TokenMalformed."""
    with pytest.raises(TokenMalformed):
        unpack(token)


def test_role_arn() -> None:
    """acs:ram::<uid>:role/<name> gives (uid, name); anything else is InvalidParameter.RoleArn."""
    assert parse_role_arn("acs:ram::1111111111111111:role/KmsUser") == ("1111111111111111", "KmsUser")
    for bad in (
        "kmsuser",
        "acs:ram::abc:role/x",
        "acs:ram::1:user/x",
        "acs:ram::1:role/",
        "acs:ram:r:1:role/x",
    ):
        assert _code(lambda b=bad: parse_role_arn(b)) == "InvalidParameter.RoleArn"


def test_session_names() -> None:
    """2 to 64 of A-Za-z0-9.@_- (the current documentation's rule)."""
    for good in ("ab", "a" * 64, "build.7@ci_runner-1"):
        assert check_session_name(good) == good
    for bad in ("a", "a" * 65, "bad name", "é1", ""):
        assert _code(lambda b=bad: check_session_name(b)) == "InvalidParameter.RoleSessionName"


def test_external_ids() -> None:
    """2 to 1224 of word characters and +=,.@:/-."""
    for good in ("ab", "x" * 1224, "a+b=c,d.e@f:g/h-i_j"):
        assert check_external_id(good) == good
    for bad in ("a", "x" * 1225, "a b", "é1"):
        assert _code(lambda b=bad: check_external_id(b)) == "InvalidParameter.ExternalId"


def test_durations() -> None:
    """900 up to the role's MaxSessionDuration, both inclusive; the message states the bounds."""
    assert check_duration(900, 3600) == 900
    assert check_duration(3600, 3600) == 3600
    for seconds, longest in ((899, 3600), (3601, 3600), (43201, 43200)):
        with pytest.raises(StsError) as refused:
            check_duration(seconds, longest)
        assert refused.value.code == "InvalidParameter.DurationSeconds"
    assert sts.duration_message(3600) == "The Min/Max value of DurationSeconds is 15min/1hr."
    assert sts.duration_message(43200) == "The Min/Max value of DurationSeconds is 15min/12hr."
    assert sts.duration_message(5400) == "The Min/Max value of DurationSeconds is 15min/90min."


def test_temporary_access_key_ids() -> None:
    """STS. and 24 letters and digits, each drawn afresh; secrets of 32."""
    ids = {sts.new_access_key_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"STS\.[A-Za-z0-9]{24}", i) for i in ids)
    assert re.fullmatch(r"[A-Za-z0-9]{32}", sts.new_access_key_secret())
