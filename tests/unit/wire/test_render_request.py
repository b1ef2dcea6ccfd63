"""Request decoding and answer rendering."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from openkms.wire import errors
from openkms.wire.render import render_error, render_success
from openkms.wire.request import build_request, parse_form


def test_form_decoding_plus_is_space_and_blanks_kept() -> None:
    """'+' decodes to a space, %2B to '+', and empty values are kept (SignatureType=)."""
    assert parse_form("a=x+y&b=%2B&SignatureType=") == [("a", "x y"), ("b", "+"), ("SignatureType", "")]


FORM = (b"content-type", b"application/x-www-form-urlencoded")
V3_AUTH = (b"authorization", b"ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=00")


def test_query_and_body_merge() -> None:
    """Query and form body parameters merge into one map."""
    req = build_request("post", "/", b"A=query", [FORM], b"B=body&SecretData=s+d")
    assert req.params == {"A": "query", "B": "body", "SecretData": "s d"}
    assert req.method == "POST"


@pytest.mark.parametrize(
    ("query", "body"),
    [(b"A=1&B=2&A=1", b""), (b"B=2", b"A=1&A=2"), (b"A=1&B=2", b"A=1"), (b"A=&B=2", b"A=2")],
    ids=["twice in the query", "twice in the body", "in query and body", "blank in the query"],
)
def test_a_name_given_twice_is_refused(query: bytes, body: bytes) -> None:
    """A parameter given twice, even with the same value, is InvalidParameter naming it."""
    with pytest.raises(errors.InvalidParameter) as info:
        build_request("POST", "/", query, [FORM], body)
    assert info.value.parameter == "A"
    assert "more than once" in info.value.message


def test_action_and_version_headers_count_only_for_v3_and_v4() -> None:
    """x-acs-action and x-acs-version name the action of a request signed in its headers
    (V3/V4); a V1 request (or an unsigned one) takes them from its parameters only."""
    acs = [(b"x-acs-action", b"Encrypt"), (b"x-acs-version", b"2016-01-20")]
    v3 = build_request("POST", "/", b"", [V3_AUTH, *acs], b"")
    assert (v3.action, v3.version, v3.signed_in_headers) == ("Encrypt", "2016-01-20", True)
    v1 = build_request("POST", "/", b"Signature=x&AccessKeyId=AK", acs, b"")
    assert (v1.action, v1.version, v1.signed_in_headers) == (None, None, False)
    both = build_request("POST", "/", b"Action=ListKeys&Version=2016-01-20", acs, b"")
    assert (both.action, both.version) == ("ListKeys", "2016-01-20")


@pytest.mark.parametrize(
    ("query", "headers", "body", "named"),
    [
        (b"AccessKeyId=%00", [], b"", "AccessKeyId"),
        (b"SignatureNonce=a%00b&Action=ListKeys", [], b"", "SignatureNonce"),
        (b"a%00b=1", [], b"", None),
        (b"Action=ListKeys", [FORM], b"SecretData=x%00", "SecretData"),
        (b"Action=ListKeys", [FORM], b"Secret\x00Data=x", None),
        (b"", [V3_AUTH, (b"x-acs-signature-nonce", b"a\x00b")], b"", "x-acs-signature-nonce"),
    ],
    ids=["value", "nonce", "name", "body value", "raw body name", "header"],
)
def test_nul_anywhere_is_refused(query: bytes, headers: list[tuple[bytes, bytes]], body: bytes, named: str | None) -> None:
    """A NUL in any parameter's name or value, query or body, or in a header, is InvalidParameter."""
    with pytest.raises(errors.InvalidParameter) as info:
        build_request("POST", "/", query, headers, body)
    assert info.value.parameter == named
    assert "NUL" in info.value.message


@pytest.mark.parametrize("encoded", [b"%ED%A0%80", b"%FF", b"%C0%80", b"%F4%90%80%80"])
def test_surrogates_and_invalid_utf8_are_refused(encoded: bytes) -> None:
    """A lone surrogate, a byte that is never UTF-8, an overlong NUL or a code point past
    U+10FFFF: InvalidParameter, in the query and in the body."""
    with pytest.raises(errors.InvalidParameter):
        build_request("POST", "/", b"AccessKeyId=" + encoded, [], b"")
    with pytest.raises(errors.InvalidParameter):
        build_request("POST", "/", b"", [FORM], b"AccessKeyId=" + encoded)


def test_body_without_form_type_is_not_parameters() -> None:
    """A body is read as parameters only under the form content type."""
    req = build_request("POST", "/", b"", [(b"content-type", b"text/plain")], b"KeyId=x")
    assert req.params == {}


def test_invalid_utf8_is_invalid_parameter() -> None:
    """Percent-encoded bytes that are not UTF-8 are a client error."""
    with pytest.raises(errors.InvalidParameter):
        build_request("GET", "/", b"a=%FF", [], b"")


def test_success_json_and_xml_shapes() -> None:
    """JSON is compact PascalCase with RequestId; XML wraps lists as repeated elements."""
    result = {"Keys": {"Key": [{"KeyId": "a"}, {"KeyId": "b"}]}, "TotalCount": 2, "Ok": True}
    status, ctype, body = render_success("ListKeys", result, "RID", xml=False)
    assert (status, ctype) == (200, b"application/json;charset=utf-8")
    assert {"RequestId": "RID", **result} == json.loads(body)
    _, ctype, body = render_success("ListKeys", result, "RID", xml=True)
    root = ET.fromstring(body)
    assert root.tag == "ListKeysResponse"
    assert [e.findtext("KeyId") for e in root.find("Keys").findall("Key")] == ["a", "b"]  # type: ignore[union-attr]
    assert root.findtext("Ok") == "true"


def test_error_rendering_escapes_xml_and_keeps_status() -> None:
    """Error bodies carry the catalogue's status and escape XML special characters."""
    err = errors.InvalidParameter("Name<&>")
    status, ctype, body = render_error(err, "RID", "host", xml=True)
    assert (status, ctype) == (400, b"text/xml;charset=utf-8")
    assert ET.fromstring(body).findtext("Message") == 'The specified parameter "Name<&>" is not valid.'
    status, _, body = render_error(errors.KeyNotFound(), "RID", "host", xml=False)
    assert (status, json.loads(body)["Code"]) == (404, "Forbidden.KeyNotFound")


def test_signature_mismatch_message_has_a_colon() -> None:
    """The old SDK splits SignatureDoesNotMatch messages on ':'; ours always has one."""
    assert "server string to sign is:POST&%2F&x" in errors.SignatureDoesNotMatch("POST&%2F&x").message
