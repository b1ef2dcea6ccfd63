"""The console over plain HTTP, in process (the ASGI app over a real deployment): its headers
and cookie flags, the form token, the session row sealed and keyed by a digest, no secret in
any page, every button an audited API call, and the setting that turns it off."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from openkms.config import Settings
from openkms.server import KMSApp
from openkms.service.deployment import init_deployment
from openkms.store import audit as audit_repo

AK = "LTAI5tConsoleAccessKey001"
SECRET = "ConsoleAccessKeySecret0123456789"


class Browser:
    """Cookies kept between requests, as a browser keeps them for the console's path."""

    def __init__(self, app: KMSApp, scheme: str = "http") -> None:
        self.app = app
        self.scheme = scheme
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, dict[str, list[str]], str]:
        body = urlencode(form or {}).encode()
        path, _, query = path.partition("?")
        headers = [(b"host", b"kms.test"), (b"user-agent", b"console-test/1.0")]
        if self.cookies:
            headers.append((b"cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()).encode()))
        if form is not None:
            headers.append((b"content-type", b"application/x-www-form-urlencoded"))
        scope = {
            "type": "http", "method": method, "path": path, "query_string": query.encode(), "headers": headers,
            "client": ("192.0.2.9", 5000), "scheme": self.scheme,
        }  # fmt: skip
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        asyncio.run(self.app(scope, receive, send))
        out: dict[str, list[str]] = {}
        for name, value in sent[0]["headers"]:
            out.setdefault(name.decode(), []).append(value.decode())
        for cookie in out.get("set-cookie", []):
            name, _, rest = cookie.partition("=")
            value = rest.split(";", 1)[0]
            if value:
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        return sent[0]["status"], out, sent[1]["body"].decode()

    def token(self, path: str) -> str:
        found = re.search(r'name="_csrf" value="([^"]+)"', self.request("GET", path)[2])
        assert found is not None
        return found.group(1)

    def sign_in(self, ak: str = AK, secret: str = SECRET) -> int:
        token = self.token("/console/signin")
        status, _headers, _ = self.request(
            "POST", "/console/signin", {"_csrf": token, "access_key_id": ak, "access_key_secret": secret}
        )
        return status


def _app(tmp_path: Path, **settings: Any) -> Iterator[KMSApp]:
    dep, _ = init_deployment(Settings(data_dir=tmp_path / "data", **settings), root_access_key=(AK, SECRET))
    kms = KMSApp(dep, run_jobs=False)
    yield kms
    kms.pool.shutdown()
    kms.services.audit.close()
    dep.close()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[KMSApp]:
    yield from _app(tmp_path)


def events(app: KMSApp) -> list[dict[str, Any]]:
    db = app.dep.db
    return [json.loads(r.event) for c in audit_repo.chains(db) for r in audit_repo.events(db, c.chain)]


def test_pages_carry_a_strict_policy_and_are_never_cached(app: KMSApp) -> None:
    b = Browser(app)
    status, headers, html = b.request("GET", "/console/signin")
    assert status == 200
    csp = headers["content-security-policy"][0]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert headers["x-frame-options"] == ["DENY"]
    assert headers["cache-control"] == ["no-store"]
    assert headers["x-content-type-options"] == ["nosniff"]
    # No inline script or style for the policy to allow: only the two static files.
    assert (
        "<style" not in html and "style=" not in html and re.search(r"<script(?![^>]*\bsrc=)", html) is None
    )
    assert b.request("GET", "/console/static/console.css")[0] == 200
    assert b.request("GET", "/console/static/console.js")[0] == 200
    assert b.request("GET", "/console/static/../../server.py")[0] == 404


def test_the_session_cookie_is_http_only_strict_and_secure_over_tls(app: KMSApp) -> None:
    for scheme in ("http", "https"):
        b = Browser(app, scheme)
        token = b.token("/console/signin")
        _, headers, _ = b.request(
            "POST", "/console/signin", {"_csrf": token, "access_key_id": AK, "access_key_secret": SECRET}
        )
        cookie = next(c for c in headers["set-cookie"] if c.startswith("openkms_console="))
        flags = [f.strip() for f in cookie.split(";")]
        assert "HttpOnly" in flags and "SameSite=Strict" in flags and "Path=/console" in flags
        assert ("Secure" in flags) == (scheme == "https")
        assert "Max-Age=900" in flags


def test_the_secret_stays_on_the_server_sealed(app: KMSApp) -> None:
    b = Browser(app)
    assert b.sign_in() == 303
    session_id = b.cookies["openkms_console"]
    assert SECRET not in session_id and len(session_id) >= 40
    pages = [b.request("GET", p)[2] for p in ("/console/keys", "/console/secrets", "/console/identities")]
    assert all(SECRET not in html for html in pages)
    rows = app.dep.db.all(_sessions())
    assert len(rows) == 1
    row = rows[0]
    # Keyed by a digest of the cookie's id, never the id; the credentials sealed, not in clear.
    assert row["id_digest"] == hashlib.sha256(session_id.encode()).hexdigest()
    assert SECRET.encode() not in bytes(row["sealed"]) and session_id.encode() not in bytes(row["sealed"])


def _sessions() -> Any:
    from sqlalchemy import select

    from openkms.store.schema import console_sessions

    return select(console_sessions)


def test_wrong_credentials_say_nothing_of_which_part_was_wrong(app: KMSApp) -> None:
    b = Browser(app)
    answers = []
    for ak, secret in ((AK, "wrong" * 6), ("LTAI5tNoSuchAccessKey0001", SECRET)):
        token = b.token("/console/signin")
        status, _, html = b.request(
            "POST", "/console/signin", {"_csrf": token, "access_key_id": ak, "access_key_secret": secret}
        )
        answers.append((status, "Those credentials were not accepted." in html))
    assert answers == [(401, True), (401, True)]
    assert "openkms_console" not in b.cookies


def test_sign_in_needs_its_form_token(app: KMSApp) -> None:
    b = Browser(app)
    b.token("/console/signin")
    status, _, _html = b.request(
        "POST", "/console/signin", {"_csrf": "forged", "access_key_id": AK, "access_key_secret": SECRET}
    )
    assert status == 403 and "openkms_console" not in b.cookies


def test_a_post_without_the_right_form_token_changes_nothing(app: KMSApp) -> None:
    b = Browser(app)
    b.sign_in()
    token = b.token("/console/keys/new")
    status, headers, _ = b.request("POST", "/console/keys", {"_csrf": token, "KeySpec": "Aliyun_AES_256"})
    assert status == 303
    key_path = headers["location"][0]
    before = len(events(app))
    for form in ({"_csrf": "0" * 64}, {}, {"_csrf": token[:-1]}):
        status, _, html = b.request("POST", key_path + "/disable", form)
        assert status == 403 and "nothing was done" in html
    assert len(events(app)) == before  # not even a refused call: the action was never invoked
    assert 'id="key-state">Enabled<' in b.request("GET", key_path)[2]
    status, _, _ = b.request("POST", key_path + "/disable", {"_csrf": token})
    assert status == 200
    assert 'id="key-state">Disabled<' in b.request("GET", key_path)[2]


def test_every_button_is_an_audited_api_call(app: KMSApp) -> None:
    b = Browser(app)
    b.sign_in()
    token = b.token("/console/keys/new")
    key_path = b.request("POST", "/console/keys", {"_csrf": token, "KeySpec": "Aliyun_AES_256"})[1][
        "location"
    ][0]
    key_id = key_path.rsplit("/", 1)[1]
    b.request("POST", key_path + "/encrypt", {"_csrf": token, "Plaintext": "console plaintext"})
    found = [e for e in events(app) if e["eventName"] in ("CreateKey", "Encrypt")]
    assert [e["eventName"] for e in found] == ["CreateKey", "Encrypt"]
    for e in found:
        assert e["userIdentity"]["accessKeyId"] == AK
        assert e["userAgent"] == "console-test/1.0" and e["sourceIpAddress"] == "192.0.2.9"
    assert found[1]["referencedResources"]["ACS::KMS::Key"] == [key_id]
    assert "console plaintext" not in json.dumps(found)


def test_sign_out_ends_the_session_on_the_server(app: KMSApp) -> None:
    b = Browser(app)
    b.sign_in()
    session_id = b.cookies["openkms_console"]
    token = b.token("/console/keys")
    status, headers, _ = b.request("POST", "/console/signout", {"_csrf": token})
    assert status == 303 and headers["location"] == ["/console/signin?out=1"]
    assert "openkms_console" not in b.cookies
    b.cookies["openkms_console"] = session_id  # the old cookie, replayed
    status, headers, _ = b.request("GET", "/console/keys")
    assert status == 303 and headers["location"][0].startswith("/console/signin")
    assert app.dep.db.all(_sessions()) == []


def test_the_console_can_be_turned_off(tmp_path: Path) -> None:
    for app in _app(tmp_path, console=False):
        status, _headers, body = Browser(app).request("GET", "/console/signin")
        assert status == 404 and "html" not in body


def _textarea(html: str, element_id: str) -> str:
    found = re.search(rf'<textarea id="{element_id}"[^>]*>([^<]*)</textarea>', html)
    assert found is not None, element_id
    return found.group(1)


def _new_key(b: Browser, **form: str) -> str:
    token = b.token("/console/keys/new")
    status, headers, _ = b.request("POST", "/console/keys", {"_csrf": token, **form})
    assert status == 303
    return headers["location"][0]


def test_the_byok_wizard_imports_material(app: KMSApp) -> None:
    from tests.support.byok import wrap

    b = Browser(app)
    b.sign_in()
    key_path = _new_key(b, KeySpec="Aliyun_AES_256", Origin="EXTERNAL")
    token = b.token(key_path)
    assert 'id="key-state">PendingImport<' in b.request("GET", key_path)[2]
    _, _, html = b.request(
        "POST", key_path + "/import-parameters",
        {"_csrf": token, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"},
    )  # fmt: skip
    public_key, import_token = _textarea(html, "public-key"), _textarea(html, "import-token")
    # The token is carried into the second step's form for the person.
    assert _textarea(html, "ImportToken") == import_token
    wrapped = wrap(public_key, "RSAES_OAEP_SHA_256", bytes(range(32)))
    status, _, html = b.request(
        "POST", key_path + "/import", {"_csrf": token, "EncryptedKeyMaterial": wrapped, "ImportToken": import_token}
    )
    assert status == 200 and "Import: done" in html
    assert 'id="key-state">Enabled<' in html


def test_a_secret_is_deleted_restored_and_its_stage_moved(app: KMSApp) -> None:
    b = Browser(app)
    b.sign_in()
    token = b.token("/console/secrets/new")
    status, headers, _ = b.request(
        "POST", "/console/secrets", {"_csrf": token, "SecretName": "app/db", "SecretData": "first", "VersionId": "v1"}
    )
    path = headers["location"][0]
    assert status == 303 and path == "/console/secrets/app/db"
    b.request("POST", path + "/put", {"_csrf": token, "VersionId": "v2", "SecretData": "second"})
    _, _, html = b.request("POST", path + "/reveal", {"_csrf": token, "VersionStage": "ACSCurrent"})
    assert _textarea(html, "secret-value") == "second"
    b.request("POST", path + "/stage", {"_csrf": token, "VersionStage": "ACSCurrent", "MoveToVersion": "v1",
                                        "RemoveFromVersion": "v2"})  # fmt: skip
    _, _, html = b.request("POST", path + "/reveal", {"_csrf": token, "VersionStage": "ACSCurrent"})
    assert _textarea(html, "secret-value") == "first"
    _, _, html = b.request("POST", path + "/delete", {"_csrf": token, "RecoveryWindowInDays": "7"})
    assert "Deletion planned" in html and "Restore</button>" in html
    _, _, html = b.request("POST", path + "/restore", {"_csrf": token})
    assert "Deletion planned" not in html
    # The value was in the answers to Reveal only, never in the events.
    assert "second" not in json.dumps([e for e in events(app) if e["eventName"] == "GetSecretValue"])


def test_identities_are_made_and_attached(app: KMSApp) -> None:
    b = Browser(app)
    b.sign_in()
    token = b.token("/console/identities")
    b.request("POST", "/console/identities/create-user", {"_csrf": token, "UserName": "carol"})
    _, _, html = b.request(
        "POST", "/console/identities/attach-user",
        {"_csrf": token, "PolicyType": "System", "PolicyName": "AliyunKMSReadOnlyAccess", "UserName": "carol"},
    )  # fmt: skip
    assert "attach-user: done" in html
    _, _, html = b.request("GET", "/console/identities?user=carol")
    assert "Policies attached to carol" in html and "AliyunKMSReadOnlyAccess" in html


def test_deleting_the_access_key_ends_its_sessions(app: KMSApp) -> None:
    from openkms.service import access_keys

    ak, secret = access_keys.create(app.dep)
    b = Browser(app)
    assert b.sign_in(ak, secret.reveal()) == 303
    assert b.request("GET", "/console/keys")[0] == 200
    access_keys.remove(app.dep, ak)
    status, headers, _ = b.request("GET", "/console/keys")
    assert status == 303 and headers["location"] == ["/console/signin?ended=1"]
    assert app.dep.db.all(_sessions()) == []


def test_a_disabled_access_key_ends_the_session_at_its_next_request(app: KMSApp) -> None:
    from openkms.service import access_keys

    ak, secret = access_keys.create(app.dep)
    b = Browser(app)
    b.sign_in(ak, secret.reveal())
    access_keys.set_status(app.dep, ak, access_keys.INACTIVE)
    app.services.caches.credentials.clear()  # the cache's 1 s bound, not waited for
    status, headers, _ = b.request("GET", "/console/keys")
    assert status == 303 and headers["location"] == ["/console/signin?ended=1"]


def test_an_operator_revokes_sessions(app: KMSApp, capsys: pytest.CaptureFixture[str]) -> None:
    from openkms import cli
    from openkms.service import access_keys

    other, other_secret = access_keys.create(app.dep)
    root, theirs = Browser(app), Browser(app)
    root.sign_in()
    theirs.sign_in(other, other_secret.reveal())
    data_dir = str(app.dep.settings.data_dir)
    assert cli.main(["console", "revoke", "--access-key-id", other, "--data-dir", data_dir]) == 0
    assert "ended 1 console session" in capsys.readouterr().out
    assert theirs.request("GET", "/console/keys")[0] == 303
    assert root.request("GET", "/console/keys")[0] == 200
    assert cli.main(["console", "revoke", "--data-dir", data_dir]) == 0
    assert root.request("GET", "/console/keys")[0] == 303


def test_sign_in_and_out_are_audited_without_the_secret(app: KMSApp) -> None:
    b = Browser(app)
    b.sign_in(AK, "wrong-secret-000000000000000000")
    b.sign_in()
    b.request("POST", "/console/signout", {"_csrf": b.token("/console/keys")})
    app.services.audit.close()  # what was posted is written
    found = [e for e in events(app) if e["eventName"].startswith("Console")]
    assert [(e["eventName"], e["errorCode"]) for e in found] == [
        ("ConsoleSignIn", "SignatureDoesNotMatch"),
        ("ConsoleSignIn", ""),
        ("ConsoleSignOut", ""),
    ]
    assert all(e["userIdentity"]["accessKeyId"] == AK and e["sourceIpAddress"] == "192.0.2.9" for e in found)
    assert "wrong-secret" not in json.dumps(found) and SECRET not in json.dumps(found)


def test_the_keys_list_pages_and_filters(app: KMSApp) -> None:
    b = Browser(app)
    b.sign_in()
    made = [_new_key(b, KeySpec="Aliyun_AES_256").rsplit("/", 1)[1] for _ in range(21)]
    rsa = _new_key(b, KeySpec="RSA_2048", KeyUsage="SIGN/VERIFY").rsplit("/", 1)[1]
    token = b.token("/console/keys")
    b.request("POST", f"/console/keys/{made[0]}/disable", {"_csrf": token})

    def listed(query: str) -> set[str]:
        html = b.request("GET", "/console/keys" + query)[2]
        return set(re.findall(r'<a href="/console/keys/([0-9a-f-]{36})">', html))

    first, second = listed(""), listed("?page=2")
    assert len(first) == 20 and len(second) == 2 and first | second == {*made, rsa}
    assert 'rel="next"' in b.request("GET", "/console/keys")[2]
    assert listed("?state=Disabled") == {made[0]}
    assert listed("?spec=RSA_2048") == {rsa}
    assert listed("?usage=SIGN%2FVERIFY") == {rsa}
    b.request("POST", f"/console/keys/{made[1]}/alias", {"_csrf": token, "AliasName": "alias/paged"})
    assert listed("?alias=alias%2Fpaged") == {made[1]}
    from openkms.service.tenancy import root_scope

    app.services.tags.tag(root_scope(app.dep.account_id), "key", [made[2]], {"team": "payments"}, "KeyId")
    assert listed("?tag=team") == {made[2]}
    assert listed("?tag=team%3Dpayments") == {made[2]}
    assert listed("?tag=team%3Dother") == set()


class _Fields(HTMLParser):
    """The form fields of a page that no label names (by ``for`` or by enclosing them)."""

    def __init__(self) -> None:
        super().__init__()
        self.label_for: set[str] = set()
        self.depth = 0
        self.fields: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "label":
            self.depth += 1
            if a.get("for"):
                self.label_for.add(str(a["for"]))
        elif tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.fields.append((str(a.get("id") or a.get("name")), self.depth > 0))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.depth -= 1

    def unlabelled(self) -> list[str]:
        return [f for f, inside in self.fields if not inside and f not in self.label_for]


def test_every_field_of_every_page_has_a_label(app: KMSApp) -> None:
    b = Browser(app)
    pages = [b.request("GET", "/console/signin")[2]]
    b.sign_in()
    external = _new_key(b, KeySpec="Aliyun_AES_256", Origin="EXTERNAL")
    token = b.token("/console/secrets/new")
    b.request("POST", "/console/secrets", {"_csrf": token, "SecretName": "s", "SecretData": "v", "VersionId": "v1"})
    for path in (
        "/console/keys", "/console/keys/new", _new_key(b, KeySpec="Aliyun_AES_256"), external, "/console/secrets",
        "/console/secrets/new", "/console/secrets/s", "/console/identities?user=x", "/console/audit?verify=1",
    ):  # fmt: skip
        status, _, html = b.request("GET", path)
        assert status == 200, path
        pages.append(html)
    seen = 0
    for html in pages:
        fields = _Fields()
        fields.feed(html)
        assert fields.unlabelled() == []
        assert '<html lang="en">' in html and '<main id="main">' in html
        seen += len(fields.fields)
    assert seen > 40
