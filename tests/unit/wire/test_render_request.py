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


def test_query_wins_over_body_and_headers_name_the_action() -> None:
    """Query and form body merge with the query winning; x-acs-action names the action."""
    req = build_request(
        "post", "/", b"A=query", [(b"content-type", b"application/x-www-form-urlencoded"), (b"x-acs-action", b"Encrypt")],
        b"A=body&SecretData=s+d",
    )
    assert req.params["A"] == "query"
    assert req.params["SecretData"] == "s d"
    assert req.action == "Encrypt"
    assert req.method == "POST"


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
