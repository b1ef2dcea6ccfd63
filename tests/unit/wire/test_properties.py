"""Property tests for the parsers and canonicalisers (security suite S13/S14, CI-sized)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.api import KMS_ACTIONS as REGISTRY
from openkms.wire import errors, signing
from openkms.wire.request import build_request, parse_form

names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12)
values = st.text(st.characters(codec="utf-8"), max_size=40)
pairs = st.lists(st.tuples(names, values), max_size=8)


@given(pairs)
def test_form_round_trip(items: list[tuple[str, str]]) -> None:
    """Whatever either SDK encodes (%20 or +), decoding gives back the same pairs."""
    assert items == parse_form(urlencode(items, quote_via=quote))
    assert items == parse_form(urlencode(items))


@given(pairs)
def test_v1_canonical_form_is_encoding_independent(items: list[tuple[str, str]]) -> None:
    """The string to sign depends on decoded values only, not on how the client encoded them."""
    a = signing.v1_string_to_sign("POST", parse_form(urlencode(items, quote_via=quote)))
    b = signing.v1_string_to_sign("POST", parse_form(urlencode(items)))
    assert a == b


@given(st.binary(max_size=200), st.binary(max_size=200))
def test_request_decoding_raises_only_client_errors(query: bytes, body: bytes) -> None:
    """Arbitrary query and body bytes decode or raise a catalogue error, nothing else."""
    try:
        build_request("POST", "/", query, [(b"content-type", b"application/x-www-form-urlencoded")], body)
    except errors.KMSError as exc:
        assert exc.http_status == 400


@given(st.text(max_size=300))
def test_authorization_parser_never_raises(value: str) -> None:
    """Any Authorization header parses or is refused as None."""
    signing.parse_authorization(value)


@settings(max_examples=300)
@given(st.sampled_from(sorted(REGISTRY)), st.dictionaries(names, values, max_size=6))
def test_action_tables_raise_only_catalogue_errors(action: str, raw: dict[str, str]) -> None:
    """Binding arbitrary parameters to any action's table raises only Alibaba errors."""
    spec = REGISTRY[action]
    for p in spec.params:
        raw.setdefault(p.name, "")
    try:
        spec.bind(raw)
    except errors.KMSError as exc:
        assert exc.http_status == 400
