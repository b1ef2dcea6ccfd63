"""What a console page is given and gives back: the signed-in request (:class:`Page`), the
answer (:class:`Reply`), an action's outcome, and what the console needs of the server and of
its app. The routing side (`app.py`) and the pages (`pages.py`, `audit_view.py`) both build on
this module, so neither imports the other's internals.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from openkms.domain.ram import Owner
from openkms.service.console_sessions import SignedIn
from openkms.service.deployment import Deployment

__all__ = ["Gateway", "Handler", "Host", "Outcome", "Page", "Reply", "location"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """An action's answer: its result, or the Alibaba error code and message it was refused with."""

    request_id: str
    action: str
    result: dict[str, Any] | None
    status: int
    code: str
    message: str

    @property
    def ok(self) -> bool:
        return self.result is not None

    @property
    def denied(self) -> bool:
        """Refused by a policy (403), as against a resource not found (Forbidden.KeyNotFound, 404)."""
        return self.status == 403


class Gateway(Protocol):
    """What the console needs of the server (server.KMSApp)."""

    dep: Deployment

    def sign_in(self, access_key_id: str, secret: str, token: str) -> Owner: ...

    def console_event(
        self, scope: dict[str, Any], action: str, access_key_id: str, owner: Owner | None, code: str = ""
    ) -> None: ...

    async def invoke(
        self, scope: dict[str, Any], access_key_id: str, owner: Owner, version: str, action: str,
        params: dict[str, str],
    ) -> Outcome: ...  # fmt: skip


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    ctype: bytes = b"text/html; charset=utf-8"
    location: str = ""
    cookies: list[str] = field(default_factory=list)


@dataclass
class Page:
    """One console request of a signed-in person: what a page function is given."""

    app: Host
    scope: dict[str, Any]
    session: SignedIn
    owner: Owner
    query: dict[str, str]
    form: dict[str, str]

    async def call(self, action: str, product: str = "KMS", **params: str) -> Outcome:
        version = {"KMS": "2016-01-20", "RAM": "2015-05-01", "STS": "2015-04-01"}[product]
        given = {k: v for k, v in params.items() if v != ""}
        return await self.app.gateway.invoke(
            self.scope, self.session.access_key_id, self.owner, version, action, given
        )

    def render(self, template: str, status: int = 200, **values: Any) -> Reply:
        return self.app.render(template, status, session=self.session, owner=self.owner, **values)

    def arg(self, name: str) -> str:
        return self.form.get(name) or self.query.get(name) or ""


class Host(Protocol):
    """What a page needs of the console app: the server's way in and the templates."""

    gateway: Gateway

    def render(self, template: str, status: int = 200, **values: Any) -> Reply: ...


Handler = Callable[[Page, "re.Match[str]"], Awaitable[Reply]]


def location(path: str, **query: str) -> str:
    """A console URL with its query (empty values left out)."""
    given = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items() if v)
    return path + ("?" + given if given else "")
