"""Property tests for the EncryptionContext parser and the CiphertextBlob parser: what the parsers
accept is exactly what the binding means, and nothing else gets through."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from openkms.domain.ciphertext import (
    MAX_CONTEXT_CHARS,
    TAG_LEN,
    build_blob,
    canonical_context,
    parse_blob,
    parse_context,
)
from openkms.domain.errors import InvalidCiphertext, InvalidValue

text = st.text(st.characters(codec="utf-8"), max_size=12)
contexts = st.dictionaries(text, text, max_size=6)
version_ids = st.uuids(version=4).map(str)


@given(contexts, st.booleans(), st.randoms(use_true_random=False))
def test_context_json_round_trips_in_any_key_order(context: dict[str, str], ascii_only: bool, rnd) -> None:  # type: ignore[no-untyped-def]
    """Any map of strings, written as JSON in any key order and escaping, parses back to the same
    map with the same canonical bytes."""
    items = list(context.items())
    rnd.shuffle(items)
    parsed = parse_context(json.dumps(dict(items), ensure_ascii=ascii_only))
    assert context == parsed
    assert canonical_context(context) == canonical_context(parsed)


@given(contexts, contexts)
def test_canonical_context_is_injective(a: dict[str, str], b: dict[str, str]) -> None:
    """Two different maps never share canonical bytes (so never bind the same ciphertext)."""
    assume(a != b)
    assert canonical_context(a) != canonical_context(b)


@given(contexts.filter(bool), text, st.data())
def test_duplicated_key_is_refused(context: dict[str, str], value: str, data: st.DataObject) -> None:
    """A key repeated anywhere in the JSON object is InvalidValue, whichever value comes last."""
    key = data.draw(st.sampled_from(sorted(context)))
    pairs = [json.dumps(k) + ":" + json.dumps(v) for k, v in context.items()]
    pairs.insert(data.draw(st.integers(0, len(pairs))), json.dumps(key) + ":" + json.dumps(value))
    with pytest.raises(InvalidValue) as info:
        parse_context("{" + ",".join(pairs) + "}")
    assert info.value.parameter == "EncryptionContext"


@given(text, st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(),
                       st.lists(text, max_size=2), st.dictionaries(text, text, max_size=2)))
def test_non_string_value_is_refused(key: str, value: object) -> None:
    """A value that is a number, boolean, null, array or object is InvalidValue."""
    with pytest.raises(InvalidValue):
        parse_context(json.dumps({key: value}))


@settings(max_examples=50)
@given(st.text(max_size=MAX_CONTEXT_CHARS + 50))
def test_context_parser_only_raises_invalid_value(raw: str) -> None:
    """Arbitrary text parses to a map of strings or raises InvalidValue naming EncryptionContext."""
    try:
        parsed = parse_context(raw)
    except InvalidValue as exc:
        assert exc.parameter == "EncryptionContext"
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in parsed.items())


@given(version_ids, st.binary(min_size=12, max_size=12), st.binary(min_size=TAG_LEN, max_size=400))
def test_blob_round_trips(version_id: str, iv: bytes, sealed: bytes) -> None:
    """Any version id, IV and sealed body lay out to a blob that parses back to the same parts."""
    parsed = parse_blob(build_blob(version_id, iv, sealed))
    assert (version_id, iv, sealed) == (parsed.version_id, parsed.iv, parsed.sealed)


@given(version_ids, st.binary(min_size=12 + TAG_LEN, max_size=120), st.data())
def test_any_change_to_a_blob_text_changes_or_breaks_it(version_id: str, rest: bytes, data: st.DataObject) -> None:
    """A blob text with one character replaced either fails to parse or names different bytes:
    two different texts are never the same blob (canonical Base64)."""
    blob = build_blob(version_id, rest[:12], rest[12:])
    i = data.draw(st.integers(0, len(blob) - 1))
    c = data.draw(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n"))
    assume(c != blob[i])
    changed = blob[:i] + c + blob[i + 1:]
    try:
        parsed = parse_blob(changed)
    except InvalidCiphertext:
        return
    assert base64.b64decode(changed) != base64.b64decode(blob)
    assert (version_id, rest[:12], rest[12:]) != (parsed.version_id, parsed.iv, parsed.sealed)
