"""Percent-encoding and form decoding on the hot path agree with the standard library's
definitions (RFC 3986 for the canonical form, the form encoding for parameters)."""

from __future__ import annotations

from urllib.parse import quote
from urllib.parse import unquote_plus as std_unquote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkms.wire import errors, signing
from openkms.wire.request import parse_form, unquote_plus


@given(st.text())
def test_pct_equals_rfc3986_quote(value: str) -> None:
    """pct is urllib's quote with only '~' kept beside the unreserved set (space is %20)."""
    try:
        expected = quote(value, safe="~", encoding="utf-8")
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            signing.pct(value)
        return
    assert expected == signing.pct(value)


@given(st.lists(st.tuples(st.text(), st.text()), max_size=8))
def test_v1_string_to_sign_quotes_the_canonical_query_once_more(params: list[tuple[str, str]]) -> None:
    """The V1 string to sign is METHOD&%2F&pct(canonical query), the canonical query quoted again
    (over every parameter but Signature, which signs the rest)."""
    canon = signing.canonical_query([(k, v) for k, v in params if k != "Signature"])
    expected = "POST&" + quote("/", safe="~") + "&" + quote(canon, safe="~")
    assert expected == signing.v1_string_to_sign("POST", params)


@given(st.text(alphabet=st.sampled_from("ab%+=0123456789ABCDEFéz&"), max_size=30))
def test_unquote_plus_equals_standard_form_decoding(text: str) -> None:
    """Form decoding ('+' is a space, %XX a byte, a stray % kept) matches urllib's, strictly."""
    try:
        expected = std_unquote_plus(text, errors="strict")
    except UnicodeDecodeError:
        with pytest.raises(UnicodeDecodeError):
            unquote_plus(text)
        return
    assert expected == unquote_plus(text)


def test_parse_form_keeps_blank_values_and_decodes() -> None:
    """Blank values stay, names without '=' are blank, '+' is a space, empty parts are skipped."""
    assert parse_form(
        "a=1&&b=x+y&c&=z&d=%41%zz&e=a=b"
    ) == [("a", "1"), ("b", "x y"), ("c", ""), ("", "z"), ("d", "A%zz"), ("e", "a=b")]


def test_parse_form_refuses_bad_utf8() -> None:
    """Percent-encoded bytes that are not UTF-8 are an InvalidParameter, not a server error."""
    with pytest.raises(errors.InvalidParameter):
        parse_form("a=%C3")


def test_parse_form_caps_the_number_of_parameters() -> None:
    """More than MAX_PARAMS non-empty parameters are refused; empty parts do not count."""
    with pytest.raises(errors.InvalidParameter):
        parse_form("&".join(f"p{i}=1" for i in range(1001)))
    assert len(parse_form("&" * 2000 + "a=1&b=2&c=3")) == 3


def test_v1_string_to_sign_leaves_the_signature_out() -> None:
    """The example hypothesis found: a Signature parameter is not part of what it signs."""
    assert signing.v1_string_to_sign("POST", [("Signature", "")]) == "POST&%2F&"
