"""The console's ASGI side: routing, the session cookie, the form token, the response headers.

Every page is an ordinary API action (or several) under the signed-in principal, called through
:meth:`Gateway.invoke`: the server's action table, authorization hop, handler and audit hop, as
for a signed request. The console itself decides nothing about permissions.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl

from jinja2 import Environment, PackageLoader, select_autoescape

from openkms.config import Settings
from openkms.console import pages
from openkms.console.page import Gateway, Handler, Page, Reply
from openkms.service.console_sessions import ConsoleSessions
from openkms.wire import errors

__all__ = ["COOKIE", "ConsoleApp"]

COOKIE = "openkms_console"
# Before sign-in the form token is a random value held in a cookie of its own (double submit).
PRE_COOKIE = "openkms_console_pre"
MAX_FORM_BYTES = 256 * 1024
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
STATIC_TYPES = {".css": b"text/css; charset=utf-8", ".js": b"text/javascript; charset=utf-8"}
NOT_SIGNED_IN = "Your console session has ended. Sign in again."


class ConsoleApp:
    def __init__(self, gateway: Gateway, sessions: ConsoleSessions, settings: Settings) -> None:
        self.gateway = gateway
        self.sessions = sessions
        self.ttl = settings.console_session_ttl
        self.env = Environment(
            loader=PackageLoader("openkms.console", "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = [
            (method, re.compile(f"^/console{path}$"), handler) for method, path, handler in pages.ROUTES
        ]
        static = resources.files("openkms.console") / "static"
        self.static = {p.name: p.read_bytes() for p in static.iterdir() if _suffix(p.name) in STATIC_TYPES}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        reply = await self._reply(scope, receive)
        await _send(send, scope, reply)

    def render(self, template: str, status: int = 200, **values: Any) -> Reply:
        body = self.env.get_template(template).render(**values).encode()
        return Reply(status, body)

    def _cookie(self, scope: dict[str, Any], name: str, value: str, max_age: int) -> str:
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        return f"{name}={value}; Path=/console; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"

    async def _reply(self, scope: dict[str, Any], receive: Any) -> Reply:
        body = await _read(receive)
        method = scope["method"]
        path = scope["path"].rstrip("/") or "/console"
        if method == "GET" and path.startswith("/console/static/"):
            name = path.rsplit("/", 1)[1]
            found = self.static.get(name)
            if found is None:
                return Reply(404, b"not found", b"text/plain")
            return Reply(200, found, STATIC_TYPES[_suffix(name)])
        if method not in ("GET", "POST"):
            return Reply(405, b"method not allowed", b"text/plain")
        cookies = _cookies(scope)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        form: dict[str, str] = {}
        if method == "POST":
            if body is None:
                return self.render("error.html", 413, title="Too large", message="The form is too large.")
            try:
                form = dict(parse_qsl(body.decode(), keep_blank_values=True))
            except UnicodeDecodeError:
                return self.render("error.html", 400, title="Bad form", message="The form is not UTF-8.")
        if path == "/console/signin":
            return await self._sign_in(scope, method, cookies, query, form)
        loop = asyncio.get_running_loop()
        session_id = cookies.get(COOKIE, "")
        session = await loop.run_in_executor(None, self.sessions.find, session_id) if session_id else None
        if session is None:
            return _redirect("/console/signin?ended=1" if session_id else "/console/signin")
        if method == "POST" and not session.form_token_matches(form.get("_csrf", "")):
            return self.render(
                "error.html", 403, session=session, title="Refused",
                message="The form's token is missing or wrong: nothing was done. "
                "Reload the page and try again.",
            )  # fmt: skip
        try:
            owner = await loop.run_in_executor(
                None, self.gateway.sign_in, session.access_key_id, session.secret, session.token
            )
        except errors.KMSError:
            # The pair was disabled or deleted, or the token expired: the session ends with it.
            await loop.run_in_executor(None, self.sessions.close, session_id)
            return _redirect("/console/signin?ended=1")
        if method == "POST" and path == "/console/signout":
            await loop.run_in_executor(None, self.sessions.close, session_id)
            self.gateway.console_event(scope, "ConsoleSignOut", session.access_key_id, owner)
            reply = _redirect("/console/signin?out=1")
            reply.cookies.append(self._cookie(scope, COOKIE, "", 0))
            return reply
        page = Page(self, scope, session, owner, query, form)
        for verb, pattern, handler in self.routes:
            match = pattern.match(path)
            if match is not None and verb == method:
                return await handler(page, match)
        return page.render("error.html", 404, title="Not found", message="There is no such console page.")

    async def _sign_in(
        self, scope: dict[str, Any], method: str, cookies: dict[str, str], query: dict[str, str],
        form: dict[str, str],
    ) -> Reply:  # fmt: skip
        pre = cookies.get(PRE_COOKIE, "")
        if method == "GET" or not pre:
            pre = secrets.token_urlsafe(24)
            note = ""
            if query.get("ended"):
                note = NOT_SIGNED_IN
            elif query.get("out"):
                note = "You are signed out."
            elif method == "POST":
                note = "The sign-in form had expired: nothing was done. Try again."
            reply = self.render("signin.html", 200 if method == "GET" else 403, csrf=pre, note=note)
            reply.cookies.append(self._cookie(scope, PRE_COOKIE, pre, 3600))
            return reply
        if not _same(pre, form.get("_csrf", "")):
            reply = self.render(
                "signin.html", 403, csrf=pre, note="The form's token is missing or wrong: nothing was done."
            )
            return reply
        access_key_id = form.get("access_key_id", "").strip()
        secret = form.get("access_key_secret", "")
        token = form.get("security_token", "").strip()
        loop = asyncio.get_running_loop()
        try:
            if not access_key_id or not secret:
                raise errors.MissingParameter("AccessKeyId")
            owner = await loop.run_in_executor(None, self.gateway.sign_in, access_key_id, secret, token)
        except errors.KMSError as refused:
            self.gateway.console_event(scope, "ConsoleSignIn", access_key_id, None, refused.code)
            # One answer whatever was wrong: the form tells nobody which AccessKeyIds exist.
            return self.render(
                "signin.html", 401, csrf=pre, access_key_id=access_key_id,
                error="Those credentials were not accepted.",
            )  # fmt: skip
        session_id = await loop.run_in_executor(
            None, self.sessions.open, access_key_id, secret, token, owner.account_uid, self.ttl
        )
        self.gateway.console_event(scope, "ConsoleSignIn", access_key_id, owner)
        reply = _redirect("/console/keys")
        reply.cookies.append(self._cookie(scope, COOKIE, session_id, int(self.ttl)))
        reply.cookies.append(self._cookie(scope, PRE_COOKIE, "", 0))
        return reply


def _suffix(name: str) -> str:
    return "." + name.rsplit(".", 1)[-1]


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _redirect(location: str) -> Reply:
    return Reply(303, b"", b"text/plain", location=location)


def _cookies(scope: dict[str, Any]) -> dict[str, str]:
    """The request's cookies (name=value pairs separated by ';'); the first of a name counts."""
    out: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            for pair in value.decode("latin-1").split(";"):
                key, sep, val = pair.strip().partition("=")
                if sep and key not in out:
                    out[key] = val.strip('"')
    return out


async def _read(receive: Any) -> bytes | None:
    """The body, or None past MAX_FORM_BYTES."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= MAX_FORM_BYTES:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks) if size <= MAX_FORM_BYTES else None


async def _send(send: Any, scope: dict[str, Any], reply: Reply) -> None:
    headers = [
        (b"content-type", reply.ctype),
        (b"content-length", str(len(reply.body)).encode()),
        (b"content-security-policy", CSP.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (
            b"cache-control",
            b"no-store" if not scope["path"].startswith("/console/static/") else b"max-age=3600",
        ),
    ]
    if scope.get("scheme") == "https":
        headers.append((b"strict-transport-security", b"max-age=31536000"))
    if reply.location:
        headers.append((b"location", reply.location.encode()))
    for cookie in reply.cookies:
        headers.append((b"set-cookie", cookie.encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})
