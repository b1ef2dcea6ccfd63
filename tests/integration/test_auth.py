"""Authentication on the wire: replay, clock window, bad signatures, unknown and disabled keys."""

from __future__ import annotations

import subprocess

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkkms.request.v20160120.ListKeysRequest import ListKeysRequest

from tests.support.clients import OldClient, RawSigner
from tests.support.server import CLI


def test_unsigned_request_is_refused(raw: RawSigner) -> None:
    """A request with no signature at all is a 4xx and is never served."""
    resp = raw.send("POST", "Action=ListKeys&Version=2016-01-20")
    assert resp.status == 400
    assert resp.json()["Code"] == "IncompleteSignature"


def test_replayed_v1_request_is_refused(raw: RawSigner) -> None:
    """The same signed V1 request twice: the second is SignatureNonceUsed."""
    query = raw.v1_query("ListKeys")
    assert raw.send("POST", query).status == 200
    again = raw.send("POST", query)
    assert (again.status, again.json()["Code"]) == (400, "SignatureNonceUsed")


def test_replayed_v3_nonce_is_refused(raw: RawSigner) -> None:
    """A V3 nonce cannot be reused, even in an otherwise different request."""
    assert raw.v3("ListKeys", nonce="n-v3-replay-0001").status == 200
    again = raw.v3("ListKeys", {"PageSize": "5"}, nonce="n-v3-replay-0001")
    assert again.json()["Code"] == "SignatureNonceUsed"


def test_replay_after_restart_is_refused(fresh_server) -> None:  # type: ignore[no-untyped-def]
    """Nonces survive a restart: a request replayed after it is still refused."""
    raw = RawSigner(fresh_server.endpoint)
    query = raw.v1_query("ListKeys")
    assert raw.send("POST", query).status == 200
    fresh_server.restart()
    raw.endpoint = fresh_server.endpoint
    assert raw.send("POST", query).json()["Code"] == "SignatureNonceUsed"


@pytest.mark.parametrize("offset", [-14 * 60 - 59, 14 * 60 + 59])
def test_timestamp_inside_window_is_accepted(raw: RawSigner, offset: int) -> None:
    """Timestamps up to 14:59 away from the server clock are accepted (V1 and V3)."""
    assert raw.v1("ListKeys", offset=offset).status == 200
    assert raw.v3("ListKeys", offset=offset).status == 200


@pytest.mark.parametrize("offset", [-15 * 60 - 1 - 60, 15 * 60 + 61])
def test_timestamp_outside_window_is_refused(raw: RawSigner, offset: int) -> None:
    """Timestamps more than 15 minutes away are InvalidTimeStamp.Expired."""
    for resp in (raw.v1("ListKeys", offset=offset), raw.v3("ListKeys", offset=offset)):
        assert (resp.status, resp.json()["Code"]) == (400, "InvalidTimeStamp.Expired")


def test_malformed_timestamp(raw: RawSigner) -> None:
    """A timestamp that does not parse is IllegalTimestamp."""
    resp = raw.v3("ListKeys", tamper={"x-acs-date": "yesterday"})
    assert resp.json()["Code"] == "IllegalTimestamp"


def test_wrong_secret_v1_message_carries_string_to_sign(raw: RawSigner, server) -> None:  # type: ignore[no-untyped-def]
    """SignatureDoesNotMatch names the server's string to sign after a colon (the old SDK needs it)."""
    resp = raw.v1("ListKeys", secret="WrongSecret0123456789")
    body = resp.json()
    assert (resp.status, body["Code"]) == (400, "SignatureDoesNotMatch")
    assert body["Message"].split("server string to sign is:")[1].startswith("POST&%2F&AccessKeyId%3D")
    bad = OldClient(server.endpoint, secret="WrongSecret0123456789")
    with pytest.raises(ServerException) as info:
        bad.call(ListKeysRequest())
    # The old SDK recognises the echoed string to sign and reports a wrong secret.
    assert info.value.get_error_code() in ("InvalidAccessKeySecret", "SignatureDoesNotMatch")


def test_wrong_secret_and_tampering_v3(raw: RawSigner) -> None:
    """V3: wrong secret, changed parameter after signing, changed signed header, changed body."""
    assert raw.v3("ListKeys", secret="nope-nope-nope-nope").json()["Code"] == "SignatureDoesNotMatch"
    assert raw.v3("ListKeys", tamper={"x-acs-action": "CreateKey"}).json()["Code"] == "SignatureDoesNotMatch"
    assert raw.v3("ListKeys", tamper={"host": "evil.example"}).json()["Code"] == "SignatureDoesNotMatch"
    resp = raw.v3("ListKeys", body=b"a=1", content_type="application/x-www-form-urlencoded",
                  tamper={"x-acs-content-sha256": "0" * 64})
    assert resp.json()["Code"] == "SignatureDoesNotMatch"


def test_malformed_authorization_header(raw: RawSigner) -> None:
    """An Authorization header that does not parse is IncompleteSignature."""
    resp = raw.v3("ListKeys", tamper={"Authorization": "ACS3-HMAC-SHA256 garbage"})
    assert (resp.status, resp.json()["Code"]) == (400, "IncompleteSignature")


def test_unknown_access_key(server) -> None:  # type: ignore[no-untyped-def]
    """An AccessKeyId the deployment does not know is 404 InvalidAccessKeyId.NotFound."""
    raw = RawSigner(server.endpoint, ak="LTAIunknownunknown00000")
    for resp in (raw.v1("ListKeys"), raw.v3("ListKeys")):
        assert (resp.status, resp.json()["Code"]) == (404, "InvalidAccessKeyId.NotFound")


def test_disabled_access_key_is_refused(fresh_server) -> None:  # type: ignore[no-untyped-def]
    """A pair disabled with `openkms access-key disable` answers 403 Forbidden.AccessKey."""
    cli = [*CLI, "access-key"]
    args = fresh_server.store_args
    akid, secret = fresh_server.new_access_key()
    raw = RawSigner(fresh_server.endpoint, ak=akid, secret=secret)
    assert raw.v3("ListKeys").status == 200
    listing = subprocess.run([*cli, "list", *args], check=True, capture_output=True, text=True).stdout
    assert akid in listing
    assert secret not in listing
    subprocess.run([*cli, "disable", akid, *args], check=True)
    import time

    time.sleep(1.2)  # the documented credential cache bound
    resp = raw.v3("ListKeys")
    assert (resp.status, resp.json()["Code"]) == (403, "Forbidden.AccessKey")
    subprocess.run([*cli, "delete", akid, *args], check=True)
    time.sleep(1.2)
    assert raw.v3("ListKeys").json()["Code"] == "InvalidAccessKeyId.NotFound"
