"""The web console driven by a real browser: Playwright over Debian's Chromium (installed by
.ci/run; never Playwright's own download), headless, and the small steps the console tests and
the screenshot script share."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")


@contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium; skipped where Debian's chromium is not installed, unless
    OPENKMS_REQUIRE_BROWSER is set (CI sets it: there the suite must run)."""
    if not CHROMIUM.exists():
        if os.environ.get("OPENKMS_REQUIRE_BROWSER"):
            raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs the chromium package")
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def sign_in(page: Any, base: str, access_key_id: str, secret: str, token: str = "") -> None:
    """Fill and send the sign-in form as a person would (labels, not selectors)."""
    page.goto(f"{base}/console/signin")
    page.get_by_label("AccessKeyId").fill(access_key_id)
    page.get_by_label("AccessKey secret").fill(secret)
    if token:
        page.get_by_label("SecurityToken").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def create_key(page: Any, base: str, description: str, alias: str = "") -> str:
    """Create a key through the console's form; its KeyId."""
    page.goto(f"{base}/console/keys/new")
    page.get_by_label("Description").fill(description)
    if alias:
        page.get_by_label("Alias").fill(alias)
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(f"{base}/console/keys/*")
    return str(page.url.rsplit("/", 1)[1])


def root(server: Any) -> str:
    """The server's base URL without its trailing slash."""
    return str(server.url).rstrip("/")
