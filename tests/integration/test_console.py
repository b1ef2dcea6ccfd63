"""The web console in a real browser (Playwright over Debian's Chromium, headless) against a
real server: sign-in and sign-out, a denied action shown as such, a key created and used, a
secret revealed (and audited), a forged form refused, a session that expires, and
a page that bypassed authorization caught."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as k
from alibabacloud_ram20150501 import models as r

from tests.integration.test_sts import build_setup
from tests.support.clients import ram_client, tea_client
from tests.support.console import browser, create_key, root, sign_in
from tests.support.server import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess, running


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser() as b:
        yield b


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def ram_user(server: ServerProcess, *policies: str) -> tuple[str, str]:
    """A new RAM user of the root's account with these system policies: its AccessKey pair."""
    ram = ram_client(server.endpoint)
    name = f"console-{secrets.token_hex(4)}"
    ram.create_user(r.CreateUserRequest(user_name=name))
    ak = ram.create_access_key(r.CreateAccessKeyRequest(user_name=name)).body.access_key
    for policy in policies:
        ram.attach_policy_to_user(
            r.AttachPolicyToUserRequest(policy_type="System", policy_name=policy, user_name=name)
        )
    return ak.access_key_id, ak.access_key_secret


def check_denied(page: Any, server: ServerProcess) -> None:
    """A user without kms:ListKeys sees the refusal and its Alibaba code, not an empty list."""
    ak, secret = ram_user(server)
    sign_in(page, root(server), ak, secret)
    assert page.url.endswith("/console/keys")
    alert = page.get_by_role("alert")
    assert alert.count() == 1, page.content()
    assert "Not permitted" in alert.inner_text()
    assert "Forbidden.NoPermission" in alert.inner_text()
    assert page.locator("table").count() == 0


def test_sign_in_then_sign_out(page: Any, server: ServerProcess) -> None:
    sign_in(page, root(server), ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    assert page.url.endswith("/console/keys")
    assert page.get_by_role("heading", name="Keys").is_visible()
    assert ACCESS_KEY_ID in page.locator("header").inner_text()
    cookie = next(c for c in page.context.cookies() if c["name"] == "openkms_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # nothing of the session is readable by scripts
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/signin?out=1")
    assert "You are signed out." in page.content()
    page.goto(f"{root(server)}/console/keys")
    assert "/console/signin" in page.url
    # The old session id, put back, opens nothing: the session is gone on the server.
    page.context.add_cookies([cookie])
    page.goto(f"{root(server)}/console/keys")
    assert "/console/signin" in page.url


def test_sign_in_with_sts_credentials(page: Any, server: ServerProcess) -> None:
    """A role's session (AccessKeyId, secret and SecurityToken from AssumeRole) signs in and acts
    with the role's rights."""
    setup = build_setup(server.endpoint, ram_client(server.endpoint))
    session = setup.session("console")
    assert session.token
    sign_in(page, root(server), session.access_key_id, session.secret, session.token)
    assert page.url.endswith("/console/keys"), page.content()
    assert session.access_key_id in page.locator("header").inner_text()
    assert page.get_by_role("alert").count() == 0 and page.locator("table").count() == 1
    # The role has no RAM rights for users: that page says so.
    page.goto(f"{root(server)}/console/identities")
    assert "Forbidden.NoPermission" in page.get_by_role("alert").first.inner_text()


def test_sign_in_by_keyboard_alone(page: Any, server: ServerProcess) -> None:
    """Tab reaches the fields in order and Enter sends the form; focus is visible."""
    page.goto(f"{root(server)}/console/signin")
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "access_key_id":
            break
    assert page.evaluate("document.activeElement.id") == "access_key_id"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.type(ACCESS_KEY_ID)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "access_key_secret"
    page.keyboard.type(ACCESS_KEY_SECRET)
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/keys")


def test_wrong_credentials_are_refused(page: Any, server: ServerProcess) -> None:
    sign_in(page, root(server), ACCESS_KEY_ID, "not-the-secret-at-all-0000000000")
    assert "/console/signin" in page.url
    assert "Those credentials were not accepted." in page.get_by_role("alert").inner_text()


def test_a_user_without_permission_sees_not_permitted(page: Any, server: ServerProcess) -> None:
    check_denied(page, server)


def test_a_read_only_user_may_list_but_not_create(page: Any, server: ServerProcess) -> None:
    ak, secret = ram_user(server, "AliyunKMSReadOnlyAccess")
    sign_in(page, root(server), ak, secret)
    assert page.locator("table").count() == 1 and page.get_by_role("alert").count() == 0
    page.goto(f"{root(server)}/console/keys/new")
    page.get_by_role("button", name="Create").click()
    assert "Forbidden.NoPermission" in page.get_by_role("alert").inner_text()


def test_create_and_use_a_key(page: Any, server: ServerProcess) -> None:
    sign_in(page, root(server), ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    alias = f"alias/console-{secrets.token_hex(3)}"
    key_id = create_key(page, root(server), "made in the console", alias)
    assert page.locator("#key-state").inner_text() == "Enabled"
    assert alias in page.content()
    # The key is real: the SDK sees it.
    meta = tea_client(server.endpoint).describe_key(k.DescribeKeyRequest(key_id=alias)).body.key_metadata
    assert (meta.key_id, meta.description) == (key_id, "made in the console")
    page.get_by_label("Plaintext", exact=True).fill("hello from the browser")
    page.get_by_role("button", name="Encrypt").click()
    blob = page.locator("#ciphertext-out").input_value()
    assert blob
    page.get_by_label("CiphertextBlob", exact=True).fill(blob)
    page.get_by_role("button", name="Decrypt").click()
    assert page.locator("#plaintext-out").input_value() == "hello from the browser"
    # The filters find it by alias; disabling it moves it out of the Enabled list.
    page.goto(f"{root(server)}/console/keys?alias={alias}")
    assert page.locator("tbody tr").count() == 1 and key_id in page.locator("tbody").inner_text()
    page.goto(f"{root(server)}/console/keys/{key_id}")
    page.get_by_role("button", name="Disable").click()
    assert page.locator("#key-state").inner_text() == "Disabled"
    page.goto(f"{root(server)}/console/keys?state=Enabled&alias={alias}")
    assert "No keys match." in page.content()


def test_a_bad_key_policy_is_shown_in_place(page: Any, server: ServerProcess) -> None:
    sign_in(page, root(server), ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    create_key(page, root(server), "policy")
    page.get_by_label("Policy (JSON)").fill('{"Version": "1", "Statement": [')
    page.get_by_role("button", name="Save key policy").click()
    error = page.locator("#policy-error")
    assert error.is_visible() and re.search(r"Invalid|Malformed", error.inner_text()), error.inner_text()
    assert page.get_by_label("Policy (JSON)").input_value() == '{"Version": "1", "Statement": ['
    assert page.get_by_label("Policy (JSON)").get_attribute("aria-invalid") == "true"


def test_reveal_a_secret(page: Any, server: ServerProcess) -> None:
    sign_in(page, root(server), ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    name = f"console-secret-{secrets.token_hex(3)}"
    value = f"s3cret-{secrets.token_hex(6)}"
    page.goto(f"{root(server)}/console/secrets/new")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Value").fill(value)
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(f"**/console/secrets/{name}")
    assert value not in page.content() and "Hidden" in page.content()
    page.get_by_role("button", name="Reveal current value").click()
    assert page.locator("#secret-value").input_value() == value
    # A new version, then the stage moved back to v1: the versions table follows.
    page.get_by_role("textbox", name="New value").fill("second value")
    page.get_by_role("button", name="Put value").click()
    assert "done" in page.get_by_role("status").inner_text()
    page.get_by_role("button", name="Reveal current value").click()
    assert page.locator("#secret-value").input_value() == "second value"
    # The reveal was an ordinary GetSecretValue: the audit page lists it for the secret.
    page.goto(f"{root(server)}/console/audit?of=secret&name={name}&action=GetSecretValue")
    assert page.locator("tbody tr").count() == 2, page.content()


def test_a_forged_form_is_refused_and_nothing_changes(page: Any, server: ServerProcess) -> None:
    sign_in(page, root(server), ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    key_id = create_key(page, root(server), "csrf target")
    target = f"{root(server)}/console/keys/{key_id}/disable"
    for form in ({"_csrf": "f" * 64}, {}):
        # The browser's own cookie goes with it, as it would from a page of another origin
        # were SameSite not there: the form token alone refuses it.
        answer = page.request.post(target, form=form, max_redirects=0)
        assert answer.status == 403 and "nothing was done" in answer.text()
    state = (
        tea_client(server.endpoint)
        .describe_key(k.DescribeKeyRequest(key_id=key_id))
        .body.key_metadata.key_state
    )
    assert state == "Enabled"


def test_the_audit_page_verifies_the_chains(page: Any, server: ServerProcess) -> None:
    sign_in(page, root(server), ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    key_id = create_key(page, root(server), "audited")
    page.goto(f"{root(server)}/console/audit?of=key&name={key_id}&verify=1")
    assert "Verified:" in page.locator("#verify-status").inner_text()
    assert "CreateKey" in page.locator("tbody").inner_text()


def test_a_session_expires(chromium: Any, tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data", env={"OPENKMS_CONSOLE_SESSION_TTL": "2"})
    with running(srv):
        context = chromium.new_context()
        page = context.new_page()
        sign_in(page, root(srv), ACCESS_KEY_ID, ACCESS_KEY_SECRET)
        assert page.url.endswith("/console/keys")
        cookie = next(c for c in context.cookies() if c["name"] == "openkms_console")
        time.sleep(2.5)
        page.goto(f"{root(srv)}/console/secrets")
        assert "/console/signin" in page.url  # the cookie's Max-Age is the session's length
        # The id put back (as a copied cookie would be) opens nothing: the server ended it too.
        context.add_cookies([{**cookie, "expires": -1}])
        page.goto(f"{root(srv)}/console/secrets")
        assert "/console/signin" in page.url and "Your console session has ended." in page.content()
        context.close()


def test_a_page_that_skips_authorization_is_caught(chromium: Any, tmp_path: Path) -> None:
    """The denied-action check against an openkms whose console path skips the authorization
    hop (tests/support/console_bypass_server.py) must fail: the check proves the hop is there."""
    srv = ServerProcess(tmp_path / "data", module="tests.support.console_bypass_server")
    with running(srv):
        context = chromium.new_context()
        page = context.new_page()
        with pytest.raises(AssertionError):
            check_denied(page, srv)
        assert page.locator("table").count() == 1  # the bypass listed the keys to a user with no rights
        context.close()
