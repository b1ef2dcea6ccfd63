"""The front door against hostile clients: what a signature must cover, ambiguous and unstorable
parameters.

* V3/V4: a request with a body must sign ``content-type``, which decides whether the body is
  read as parameters (else 400 IncompleteSignature).
* V1: Action and Version come from the signed parameters only, never from the unsigned
  ``x-acs-action`` / ``x-acs-version`` headers the SDKs also send.
* A parameter given twice (query, body, or both) is 400 InvalidParameter naming it.
* V4: the credential scope must name this deployment's region and the product Kms (else 400
  SignatureDoesNotMatch).
* A NUL anywhere in a parameter is 400 InvalidParameter before any database sees it, on SQLite
  and PostgreSQL alike, with no traceback in the server log.

None of these refusals uses up the request's nonce.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from alibabacloud_kms20160120 import models as m
from alibabacloud_kms20160120.client import Client as TeaClient
from alibabacloud_tea_openapi import models as open_api_models

from openkms.wire import signing
from tests.support.clients import REGION, RawSigner, http_connection
from tests.support.postgres import backend, running_server
from tests.support.server import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess

FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def code(self) -> str:
        return str(self.body.get("Code", ""))


def send(endpoint: str, method: str, query: list[tuple[str, str]], headers: dict[str, str], body: bytes = b"") -> Answer:
    conn = http_connection(endpoint)
    try:
        target = "/?" + urlencode(query, quote_via=quote) if query else "/"
        conn.request(method, target, body=body or None, headers=headers)
        resp = conn.getresponse()
        return Answer(resp.status, json.loads(resp.read()))
    finally:
        conn.close()


def v1(endpoint: str, params: dict[str, str], *, body: dict[str, str] | None = None,
       headers: dict[str, str] | None = None, extra: list[tuple[str, str]] | None = None,
       nonce: str | None = None) -> Answer:
    """A V1 request signed over ``params`` (query), ``body`` (form) and ``extra`` (more query
    pairs, repeats kept). Only the signature's own parameters are added: no Action or Version
    unless ``params`` names them."""
    common = {
        "Format": "JSON", "AccessKeyId": ACCESS_KEY_ID, "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0", "SignatureNonce": nonce or secrets.token_hex(16),
        "Timestamp": RawSigner.timestamp(),
    }
    query = [*sorted({**common, **params}.items()), *(extra or [])]
    form = sorted((body or {}).items())
    sts = signing.v1_string_to_sign("POST", query + form)
    query.append(("Signature", signing.v1_signature(ACCESS_KEY_SECRET, sts)))
    hdrs = dict(headers or {})
    payload = b""
    if body is not None:
        hdrs["content-type"] = FORM
        payload = urlencode(form, quote_via=quote).encode()
    return send(endpoint, "POST", query, hdrs, payload)


@dataclass(frozen=True)
class Signed:
    """A V3/V4 request as it goes on the wire."""

    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes

    def with_header(self, name: str, value: str) -> Signed:
        return Signed(self.query, {**self.headers, name: value}, self.body)


def sign_v3v4(scheme: str, endpoint: str, action: str, params: dict[str, str], *, body: bytes = b"",
              content_type: str | None = None, sign_content_type: bool = True,
              region: str = REGION, product: str = "Kms") -> Signed:
    """A V3 or V4 request; ``content_type`` is sent, and signed only if ``sign_content_type``."""
    stamp = RawSigner.timestamp()
    body_hash = hashlib.sha256(body).hexdigest()
    headers = {
        "host": endpoint, "x-acs-action": action, "x-acs-version": "2016-01-20", "x-acs-date": stamp,
        "x-acs-signature-nonce": secrets.token_hex(16), "x-acs-content-sha256": body_hash,
    }
    if content_type is not None and sign_content_type:
        headers["content-type"] = content_type
    names = sorted(headers)
    query = sorted(params.items())
    canonical = signing.canonical_request("POST", "/", query, list(headers.items()), names, body_hash)
    if scheme == "v3":
        credential = ACCESS_KEY_ID
        signature = signing.v3_signature(ACCESS_KEY_SECRET, signing.v3_string_to_sign(canonical))
        algorithm = signing.V3_ALGORITHM
    else:
        date = stamp[:10].replace("-", "")
        credential = f"{ACCESS_KEY_ID}/{date}/{region}/{product}/aliyun_v4_request"
        key = signing.v4_signing_key(ACCESS_KEY_SECRET, date, region, product)
        signature = signing.v4_signature(key, signing.v4_string_to_sign(canonical))
        algorithm = signing.V4_ALGORITHM
    headers["Authorization"] = f"{algorithm} Credential={credential},SignedHeaders={';'.join(names)},Signature={signature}"
    if content_type is not None and not sign_content_type:
        headers["content-type"] = content_type
    return Signed(query, headers, body)


def deliver(endpoint: str, req: Signed) -> Answer:
    return send(endpoint, "POST", req.query, req.headers, req.body)


def new_key(raw: RawSigner) -> str:
    resp = raw.v1("CreateKey")
    assert resp.status == 200, resp.body
    return str(resp.json()["KeyMetadata"]["KeyId"])


# -- V3/V4: a body needs a signed content-type -------------------------------------------------


@pytest.mark.parametrize("scheme", ["v3", "v4"])
def test_a_body_needs_a_signed_content_type(server: ServerProcess, raw: RawSigner, scheme: str) -> None:
    """An Encrypt whose form body carries the EncryptionContext, signed without content-type, is
    refused as sent and as replayed with ``content-type: text/plain`` (which would have dropped
    the context and encrypted without it). Signed with content-type it is served, and the same
    text/plain change no longer verifies. The refusals leave the nonce unused."""
    key_id = new_key(raw)
    body = urlencode({"EncryptionContext": json.dumps({"tenant": "a"})}).encode()
    params = {"KeyId": key_id, "Plaintext": "aGk="}
    unsigned = sign_v3v4(scheme, server.endpoint, "Encrypt", params, body=body, content_type=FORM,
                         sign_content_type=False)
    for req in (unsigned, unsigned.with_header("content-type", "text/plain")):
        answer = deliver(server.endpoint, req)
        assert (answer.status, answer.code) == (400, "IncompleteSignature"), answer
        assert "content-type" in answer.body["Message"]
    no_type = Signed(unsigned.query, {k: v for k, v in unsigned.headers.items() if k != "content-type"}, body)
    assert (deliver(server.endpoint, no_type).code) == "IncompleteSignature"

    signed = sign_v3v4(scheme, server.endpoint, "Encrypt", params, body=body, content_type=FORM)
    swapped = deliver(server.endpoint, signed.with_header("content-type", "text/plain"))
    assert (swapped.status, swapped.code) == (400, "SignatureDoesNotMatch")
    served = deliver(server.endpoint, signed)
    assert served.status == 200, served
    blob = served.body["CiphertextBlob"]
    # The context was bound: decrypting without it fails, with it succeeds.
    assert raw.v1("Decrypt", {"CiphertextBlob": blob}).json()["Code"] == "InvalidParameter"
    decrypted = raw.v1("Decrypt", {"CiphertextBlob": blob, "EncryptionContext": '{"tenant":"a"}'})
    assert decrypted.json()["Plaintext"] == "aGk="


@pytest.mark.parametrize("scheme", ["v3", "v4"])
def test_an_empty_body_needs_no_signed_content_type(server: ServerProcess, scheme: str) -> None:
    """Without a body there is nothing content-type could change: an unsigned one is accepted."""
    req = sign_v3v4(scheme, server.endpoint, "ListKeys", {"PageSize": "2"}, content_type=FORM,
                    sign_content_type=False)
    assert deliver(server.endpoint, req).status == 200


# -- V1: Action and Version from the signed parameters only ------------------------------------


def test_v1_action_and_version_come_from_the_signed_parameters(server: ServerProcess) -> None:
    """A V1-signed request naming its Action (or Version) only in the unsigned x-acs-* header is
    refused (404 InvalidAction.NotFound, 400 InvalidVersion); a header contradicting the signed
    parameter is ignored: the parameter's action runs."""
    acs = {"x-acs-action": "CreateKey", "x-acs-version": "2016-01-20"}
    no_action = v1(server.endpoint, {"Version": "2016-01-20"}, headers=acs)
    assert (no_action.status, no_action.code) == (404, "InvalidAction.NotFound")
    no_version = v1(server.endpoint, {"Action": "ListKeys"}, headers=acs)
    assert (no_version.status, no_version.code) == (400, "InvalidVersion")
    contradicted = v1(server.endpoint, {"Action": "ListKeys", "Version": "2016-01-20", "PageSize": "1"},
                      headers={"x-acs-action": "CreateKey", "x-acs-version": "2099-01-01"})
    assert contradicted.status == 200
    assert "Keys" in contradicted.body and "KeyMetadata" not in contradicted.body


# -- a parameter given twice -------------------------------------------------------------------


@pytest.mark.parametrize("where", ["query", "body", "query and body"])
def test_v1_parameter_given_twice_is_refused(server: ServerProcess, where: str) -> None:
    """A signed V1 request carrying a parameter twice (the signature covers both) is 400
    InvalidParameter naming it, even when both values are equal; the nonce stays unused."""
    base = {"Action": "ListKeys", "Version": "2016-01-20"}
    nonce = secrets.token_hex(16)
    if where == "query":
        answer = v1(server.endpoint, {**base, "PageSize": "5"}, extra=[("PageSize", "6")], nonce=nonce)
    elif where == "body":
        query = [("Action", "ListKeys"), ("Version", "2016-01-20")]
        answer = send_v1_raw_body(server.endpoint, query, [("PageSize", "5"), ("PageSize", "5")], nonce)
    else:
        answer = v1(server.endpoint, {**base, "PageSize": "5"}, body={"PageSize": "5"}, nonce=nonce)
    assert (answer.status, answer.code) == (400, "InvalidParameter"), answer
    assert '"PageSize"' in answer.body["Message"]
    assert v1(server.endpoint, {**base, "PageSize": "5"}, nonce=nonce).status == 200


def send_v1_raw_body(endpoint: str, query: list[tuple[str, str]], form: list[tuple[str, str]], nonce: str) -> Answer:
    """A V1 request signed over ``query`` and the ``form`` pairs as given (repeats kept)."""
    common = [
        ("AccessKeyId", ACCESS_KEY_ID), ("Format", "JSON"), ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", nonce), ("SignatureVersion", "1.0"), ("Timestamp", RawSigner.timestamp()),
    ]
    signed = [*query, *common]
    sts = signing.v1_string_to_sign("POST", signed + form)
    signed.append(("Signature", signing.v1_signature(ACCESS_KEY_SECRET, sts)))
    return send(endpoint, "POST", signed, {"content-type": FORM}, urlencode(form, quote_via=quote).encode())


@pytest.mark.parametrize("scheme", ["v3", "v4"])
def test_v3_v4_parameter_in_query_and_body_is_refused(server: ServerProcess, scheme: str) -> None:
    """V3/V4 sign the query and the body's hash: a parameter in both is refused, not resolved."""
    body = b"PageSize=6"
    req = sign_v3v4(scheme, server.endpoint, "ListKeys", {"PageSize": "5"}, body=body, content_type=FORM)
    answer = deliver(server.endpoint, req)
    assert (answer.status, answer.code) == (400, "InvalidParameter")
    assert '"PageSize"' in answer.body["Message"]


# -- V4: the credential scope names this region and Kms ----------------------------------------


def test_v4_scope_must_name_this_region_and_product(server: ServerProcess) -> None:
    """A V4 request correctly signed under a scope of another region or another product is 400
    SignatureDoesNotMatch (the message says what the scope must name, and ends with the string
    to sign); the product is matched without regard to case, as the SDK writes "Kms"."""
    for region, product in (("cn-shanghai", "Kms"), (REGION, "Ecs"), ("", "Kms")):
        req = sign_v3v4("v4", server.endpoint, "ListKeys", {}, region=region, product=product)
        answer = deliver(server.endpoint, req)
        assert (answer.status, answer.code) == (400, "SignatureDoesNotMatch"), (region, product)
        message = answer.body["Message"]
        assert f"region {REGION} and product Kms" in message
        assert message.split("server string to sign is:")[1].startswith("ACS4-HMAC-SHA256\n")
    for product in ("Kms", "kms", "KMS"):
        assert deliver(server.endpoint, sign_v3v4("v4", server.endpoint, "ListKeys", {}, product=product)).status == 200


def test_v4_scope_follows_the_servers_region(tmp_path: Path) -> None:
    """On a server started with --region eu-central-1 the Tea SDK in V4 mode works when its
    region is eu-central-1 and is refused when it is cn-hangzhou; V3 and V1 carry no region."""
    with running_server(tmp_path / "data", backend(), extra_args=["--region", "eu-central-1"]) as srv:

        def tea(region: str) -> TeaClient:
            return TeaClient(open_api_models.Config(
                access_key_id=ACCESS_KEY_ID, access_key_secret=ACCESS_KEY_SECRET, region_id=region,
                endpoint=srv.endpoint, protocol="http", signature_version="v4",
            ))

        assert tea("eu-central-1").list_keys(m.ListKeysRequest()).status_code == 200
        with pytest.raises(Exception) as info:  # the V4 path raises darabonba's UnretryableException
            tea(REGION).list_keys(m.ListKeysRequest())
        assert getattr(info.value, "code", None) == "SignatureDoesNotMatch"
        assert RawSigner(srv.endpoint).v3("ListKeys").status == 200


# -- what no database can store ----------------------------------------------------------------


def test_unstorable_parameters_are_refused_before_any_query(backend_server: ServerProcess) -> None:
    """NUL in an unauthenticated AccessKeyId, in a signed SignatureNonce, in a parameter name or
    in the form body, and bytes that are not UTF-8 (a lone surrogate among them), are each 400
    InvalidParameter on SQLite and PostgreSQL, and the server logs no traceback for them."""
    srv = backend_server
    raw = RawSigner(srv.endpoint)
    offset = srv.log_path.stat().st_size
    stamp = quote(RawSigner.timestamp())
    unsigned = (f"Action=ListKeys&Version=2016-01-20&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0"
                f"&Timestamp={stamp}&SignatureNonce={secrets.token_hex(8)}&Signature=x")
    answers = {
        "AccessKeyId NUL": raw.send("POST", unsigned + "&AccessKeyId=%00"),
        "AccessKeyId surrogate": raw.send("POST", unsigned + "&AccessKeyId=%ED%A0%80"),
        "AccessKeyId not UTF-8": raw.send("POST", unsigned + "&AccessKeyId=%C0%80"),
        "SignatureNonce NUL": raw.v1("ListKeys", nonce="nonce\x00" + secrets.token_hex(8)),
        "name NUL": raw.v1("ListKeys", {"Page\x00Size": "1"}),
    }
    body = base64.b64encode(b"x").decode()
    answers["body NUL"] = raw.send(
        "POST", raw.v1_query("ListKeys"), f"Plaintext={body}%00".encode(), {"content-type": FORM}
    )
    codes = {label: (resp.status, resp.json()["Code"]) for label, resp in answers.items()}
    assert codes == dict.fromkeys(answers, (400, "InvalidParameter"))
    assert "NUL" in answers["AccessKeyId NUL"].json()["Message"]
    assert raw.v1("ListKeys").status == 200
    with open(srv.log_path, "rb") as log:
        log.seek(offset)
        written = log.read()
    assert b"Traceback" not in written
    assert b"InternalFailure" not in written


def test_a_nul_in_a_header_never_reaches_the_server(server: ServerProcess) -> None:
    """The HTTP parser itself refuses a NUL in a header (decoding would refuse it too, as a
    unit test shows): 400 and the server keeps serving."""
    conn = http_connection(server.endpoint)
    try:
        conn.putrequest("POST", "/?Action=ListKeys&Version=2016-01-20")
        conn.putheader("x-acs-signature-nonce", "a\x00b")
        conn.endheaders()
        status = conn.getresponse().status
    finally:
        conn.close()
    assert status == 400
    assert RawSigner(server.endpoint).v1("ListKeys").status == 200
