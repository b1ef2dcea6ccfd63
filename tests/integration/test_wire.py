"""The RPC wire: routing, versions, formats and error shapes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from tests.support.clients import RawSigner


def test_unknown_action_is_404(raw: RawSigner) -> None:
    """An action openkms does not serve is 404 InvalidAction.NotFound."""
    resp = raw.v1("FlyToTheMoon")
    assert (resp.status, resp.json()["Code"]) == (404, "InvalidAction.NotFound")


def test_wrong_version(raw: RawSigner) -> None:
    """Any Version other than 2016-01-20 is InvalidVersion."""
    resp = raw.v1("ListKeys", version="2020-01-01")
    assert (resp.status, resp.json()["Code"]) == (400, "InvalidVersion")


def test_error_body_shape(raw: RawSigner) -> None:
    """Errors carry RequestId, HostId, Code, Message, Recommend and HttpStatus; the header repeats the id."""
    resp = raw.v1("DescribeKey", {"KeyId": "missing-key"})
    body = resp.json()
    assert {"RequestId", "HostId", "Code", "Message", "Recommend", "HttpStatus"} == set(body)
    assert resp.headers["x-acs-request-id"] == body["RequestId"]
    assert resp.headers["content-type"] == "application/json;charset=utf-8"
    assert "Forbidden.KeyNotFound" in body["Recommend"]


def test_xml_success_and_error(raw: RawSigner) -> None:
    """Format=XML answers <ActionResponse> on success and <Error> on failure."""
    ok = raw.v1("ListKeys", {"PageSize": "2"}, fmt="XML")
    assert ok.status == 200
    root = ET.fromstring(ok.body)
    assert root.tag == "ListKeysResponse"
    assert root.find("RequestId") is not None
    assert root.findtext("PageSize") == "2"
    err = raw.v1("DescribeKey", {"KeyId": "nope"}, fmt="XML")
    assert err.headers["content-type"] == "text/xml;charset=utf-8"
    root = ET.fromstring(err.body)
    assert (root.tag, root.findtext("Code")) == ("Error", "Forbidden.KeyNotFound")


def test_get_and_post_both_served(raw: RawSigner) -> None:
    """Every action is served over GET as well as POST."""
    assert raw.v1("ListKeys", method="GET").status == 200


def test_long_request_line_is_accepted(raw: RawSigner) -> None:
    """A request line over 32 KB (a long description) is served, not cut off."""
    resp = raw.v1("CreateKey", {"Description": "é" * 8192})
    assert resp.status == 200, resp.body[:300]
    assert resp.json()["KeyMetadata"]["Description"] == "é" * 8192


def test_bad_percent_encoding_is_a_client_error(raw: RawSigner) -> None:
    """Invalid UTF-8 in the query is a 400, never a 500."""
    resp = raw.send("POST", "Action=ListKeys&Version=2016-01-20&X=%FF%FE")
    assert resp.status == 400
    assert resp.json()["Code"] == "InvalidParameter"


def test_nul_byte_in_parameter(raw: RawSigner) -> None:
    """A NUL byte in a parameter value is InvalidParameter."""
    resp = raw.v1("CreateKey", {"Description": "a\x00b"})
    assert (resp.status, resp.json()["Code"]) == (400, "InvalidParameter")


def test_oversized_body_is_refused(raw: RawSigner) -> None:
    """A body over 1 MB is refused with a 400 and the server keeps serving."""
    resp = raw.send("POST", "Action=ListKeys&Version=2016-01-20", body=b"a=" + b"x" * (1 << 20) + b"x",
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert resp.status == 400
    assert raw.v1("ListKeys").status == 200


def test_health_endpoint(raw: RawSigner) -> None:
    """GET /health answers 200 without authentication."""
    resp = raw.send("GET", "")
    assert (resp.status, resp.json()["Code"]) == (404, "InvalidAction.NotFound")  # "/" needs an action
    import urllib.request

    with urllib.request.urlopen(f"http://{raw.endpoint}/health") as r:
        assert json.loads(r.read()) == {"Status": "ok"}
