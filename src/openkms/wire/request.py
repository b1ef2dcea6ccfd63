"""Turn the raw pieces of an HTTP request into a :class:`WireRequest`.

Alibaba's RPC style puts parameters in the query string and, for a few Tea SDK fields
(``SecretData``, ``Recipient``), in an ``application/x-www-form-urlencoded`` body. Both are
decoded the form way (``+`` is a space) and merged, the query winning. Action and Version come
from the parameters or from the ``x-acs-action`` / ``x-acs-version`` headers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from openkms.wire import errors

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_BODY_BYTES = 1 << 20
MAX_PARAMS = 1000


def parse_form(raw: str) -> list[tuple[str, str]]:
    """Decode ``a=1&b=x+y`` into pairs, keeping blank values; bad UTF-8 is a client error."""
    out: list[tuple[str, str]] = []
    if not raw:
        return out
    for part in raw.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        try:
            out.append(
                (unquote_plus(name, errors="strict"), unquote_plus(value, errors="strict"))
            )
        except UnicodeDecodeError:
            raise errors.InvalidParameter(reason="Parameters must be UTF-8.") from None
        if len(out) > MAX_PARAMS:
            raise errors.InvalidParameter(reason="Too many parameters.")
    return out


@dataclass(slots=True)
class WireRequest:
    """One request as received: what signature checks and parameter specs both read."""

    method: str
    path: str
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes
    query_params: list[tuple[str, str]]
    body_params: list[tuple[str, str]]
    params: dict[str, str] = field(default_factory=dict)
    client: str = ""

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    @property
    def action(self) -> str | None:
        return self.params.get("Action") or self.header("x-acs-action")

    @property
    def version(self) -> str | None:
        return self.params.get("Version") or self.header("x-acs-version")

    @property
    def wants_xml(self) -> bool:
        return self.params.get("Format", "").upper() == "XML"

    @property
    def host(self) -> str:
        return self.header("host") or ""


def build_request(
    method: str,
    path: str,
    raw_query: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    client: str = "",
) -> WireRequest:
    """Decode an ASGI request; raises :class:`~openkms.wire.errors.KMSError` on bad encoding."""
    try:
        query = raw_query.decode("ascii")
        hdrs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
    except UnicodeDecodeError:
        raise errors.InvalidParameter(reason="The query string must be ASCII.") from None
    req = WireRequest(
        method=method.upper(),
        path=path,
        raw_query=query,
        headers=hdrs,
        body=body,
        query_params=parse_form(query),
        body_params=[],
        client=client,
    )
    ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
    if body and ctype == FORM_TYPE:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.InvalidParameter(reason="The form body must be UTF-8.") from None
        req.body_params = parse_form(text)
    merged: dict[str, str] = {}
    for name, value in req.body_params:
        merged[name] = value
    for name, value in req.query_params:
        merged[name] = value
    req.params = merged
    return req
