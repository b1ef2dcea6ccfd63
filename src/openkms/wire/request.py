"""Turn the raw pieces of an HTTP request into a :class:`WireRequest`.

Alibaba's RPC style puts parameters in the query string and, for a few Tea SDK fields
(``SecretData``, ``Recipient``), in an ``application/x-www-form-urlencoded`` body. Both are
decoded the form way (``+`` is a space, ``%XX`` strict UTF-8) and merged. What decoding
refuses, before anything reads a value (400 ``InvalidParameter``):

* bytes that are not UTF-8 (so no parameter holds a lone surrogate either);
* a NUL character in any parameter's name or value, or in any header: no database column
  could hold it (PostgreSQL refuses NUL in text), and AccessKeyId and the nonce are looked up
  and stored before the action's table checks anything;
* a name given twice (twice in the query, twice in the body, or in both): which one counts
  would be a guess, and the signature covers both.

Action and Version come from the parameters; a request signed in its headers (V3/V4, see
:attr:`WireRequest.signed_in_headers`) may name them in the ``x-acs-action`` /
``x-acs-version`` headers instead, which its signature covers. V1 signs the parameters only,
so for it those headers are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openkms.wire import errors

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_BODY_BYTES = 1 << 20
MAX_PARAMS = 1000
# Characters of a claimed AccessKeyId kept for logs (issued ones are about 24; an STS one 30).
MAX_CLAIMED_ID = 128


_HEX = "0123456789abcdefABCDEF"
_PCT_DECODE = {a + b: bytes([int(a + b, 16)]) for a in _HEX for b in _HEX}


def unquote_plus(text: str) -> str:
    """Form decoding (``+`` is a space, ``%XX`` a byte), then strict UTF-8.

    What ``urllib.parse.unquote_plus(text, errors="strict")`` does, at half the cost: a ``%``
    not followed by two hex digits stays as it is; bytes that are not UTF-8 raise
    UnicodeDecodeError.
    """
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    bits = text.split("%")
    out = [bits[0].encode("utf-8")]
    for item in bits[1:]:
        byte = _PCT_DECODE.get(item[:2])
        if byte is None:
            out.append(b"%" + item.encode("utf-8"))
        else:
            out.append(byte)
            out.append(item[2:].encode("utf-8"))
    return b"".join(out).decode("utf-8")


def parse_form(raw: str) -> list[tuple[str, str]]:
    """Decode ``a=1&b=x+y`` into pairs, keeping blank values; bad UTF-8 is a client error."""
    if not raw:
        return []
    parts = raw.split("&")
    if len(parts) > MAX_PARAMS and sum(1 for p in parts if p) > MAX_PARAMS:
        raise errors.InvalidParameter(reason="Too many parameters.")
    if "%" not in raw and "+" not in raw:
        # Nothing to decode anywhere (common for the signed parameters): split only.
        return [(n, v) for n, _, v in (p.partition("=") for p in parts if p)]
    out: list[tuple[str, str]] = []
    try:
        for part in parts:
            if not part:
                continue
            name, _, value = part.partition("=")
            if "%" in value or "+" in value:
                value = unquote_plus(value)
            if "%" in name or "+" in name:
                name = unquote_plus(name)
            out.append((name, value))
    except UnicodeDecodeError:
        raise errors.InvalidParameter(reason="Parameters must be UTF-8.") from None
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
    # Lower-cased name -> the first value of that header, built once by build_request.
    header_map: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        if not self.header_map and self.headers:
            self.header_map = {k.lower(): v for k, v in reversed(self.headers)}
        return self.header_map.get(name.lower())

    @property
    def signed_in_headers(self) -> bool:
        """Whether the signature is an ``Authorization`` header (V3/V4), not parameters (V1)."""
        authorization = self.header("authorization")
        return authorization is not None and authorization.lstrip().startswith("ACS")

    @property
    def claimed_access_key_id(self) -> str | None:
        """The AccessKeyId the request names, before any check (None if it names none): V1's
        ``AccessKeyId`` parameter; V3/V4's ``Credential=`` in the Authorization header (for V4
        the part before the first ``/``). For the request log and the audit trail, which name
        the caller a refused signature claimed; never an identity to act on. At most
        :data:`MAX_CLAIMED_ID` characters: what a client sends there is not bounded otherwise."""
        authorization = self.header("authorization")
        if authorization is not None and authorization.lstrip().startswith("ACS"):
            value = ""
            for item in authorization.strip().partition(" ")[2].split(","):
                name, _, given = item.strip().partition("=")
                if name == "Credential":
                    value = given.split("/", 1)[0]
                    break
        else:
            value = self.params.get("AccessKeyId", "")
        return value[:MAX_CLAIMED_ID] or None

    @property
    def action(self) -> str | None:
        """``Action``; for V3/V4 also the signed ``x-acs-action`` header (V1 does not sign it)."""
        value = self.params.get("Action")
        if not value and self.signed_in_headers:
            return self.header("x-acs-action")
        return value

    @property
    def version(self) -> str | None:
        """``Version``; for V3/V4 also the signed ``x-acs-version`` header (V1 does not sign it)."""
        value = self.params.get("Version")
        if not value and self.signed_in_headers:
            return self.header("x-acs-version")
        return value

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
    for name, value in hdrs:
        if "\x00" in value or "\x00" in name:
            raise _nul(name.lower())
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
        if "\x00" in text or "%00" in text:
            _refuse_nul(req.body_params)
    if "\x00" in query or "%00" in query:
        _refuse_nul(req.query_params)
    merged = dict(req.query_params)
    merged.update(req.body_params)
    if len(merged) != len(req.query_params) + len(req.body_params):
        _refuse_twice(req.query_params + req.body_params)
    req.params = merged
    return req


def _nul(name: str) -> errors.KMSError:
    if "\x00" in name:
        return errors.InvalidParameter(reason="A parameter name contains a NUL character.")
    return errors.InvalidParameter(name, "It must not contain a NUL character.")


def _refuse_nul(pairs: list[tuple[str, str]]) -> None:
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            raise _nul(name)


def _refuse_twice(pairs: list[tuple[str, str]]) -> None:
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            raise errors.InvalidParameter(name, "It is given more than once.")
        seen.add(name)
