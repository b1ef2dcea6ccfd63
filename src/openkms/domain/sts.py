"""STS rules, free of I/O: AssumeRole's parameters and limits, the session a temporary AccessKey
stands for, and the SecurityToken's wire format.

A SecurityToken is self-contained, so that any node sharing the deployment's key hierarchy can
authenticate a session without a database read::

    token   = "CAIS" || base64url(header || sealed)          (no padding)
    header  = format (1 byte, 1) || KEK version (4 bytes, big-endian)
    sealed  = AES-256-GCM under the KEK's STS subkey, associated data "openkms/sts-token/v1|" || header,
              of the claims: compact JSON (:class:`Claims`)

The claims carry everything a request signed with the session needs: the temporary AccessKeyId
and its secret, the role's account, id and name, the session name, issue and expiry times, the
session policy and who assumed the role. The AccessKeyId is bound to its token by being among
the sealed claims: a token presented with any other AccessKeyId is refused. Sealing and opening
are the service's (:mod:`openkms.service.sts`); this module only lays the bytes out.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from openkms.domain.errors import DomainError

__all__ = [
    "DEFAULT_DURATION",
    "MAX_POLICY_CHARS",
    "MIN_DURATION",
    "STS_PREFIX",
    "TOKEN_PREFIX",
    "Claims",
    "StsError",
    "TokenError",
    "TokenExpired",
    "TokenMalformed",
    "TokenMismatch",
    "check_duration",
    "check_external_id",
    "check_session_name",
    "decode_claims",
    "duration_message",
    "encode_claims",
    "new_access_key_id",
    "new_access_key_secret",
    "pack",
    "parse_role_arn",
    "token_aad",
    "token_header",
    "unpack",
]

STS_PREFIX = "STS."
TOKEN_PREFIX = "CAIS"  # noqa: S105 - the tokens' opening letters, not a credential
TOKEN_FORMAT = 1
_HEADER_LEN = 5
# Below this a token cannot hold a GCM nonce and tag, let alone claims.
_MIN_SEALED = 12 + 16

MIN_DURATION = 900
DEFAULT_DURATION = 3600
MAX_POLICY_CHARS = 2048

_SESSION_NAME = re.compile(r"[A-Za-z0-9.@_-]{2,64}")
_EXTERNAL_ID = re.compile(r"[A-Za-z0-9_+=,.@:/-]{2,1224}")
_ROLE_ARN = re.compile(r"acs:ram::([0-9]{1,32}):role/([A-Za-z0-9.-]{1,64})")
_ALNUM = string.ascii_letters + string.digits


class StsError(DomainError):
    """AssumeRole refused: ``code`` is STS's (``InvalidParameter.DurationSeconds``,
    ``NoPermission``, ``EntityNotExist.Role`` ...)."""

    def __init__(self, code: str, detail: str | None = None) -> None:
        super().__init__(detail)
        self.code = code


class TokenError(DomainError):
    """A SecurityToken that does not authenticate the request."""


class TokenMalformed(TokenError):
    """Not a token this deployment issued, or one altered since."""


class TokenMismatch(TokenError):
    """A genuine token, of another AccessKeyId than the one that signed."""


class TokenExpired(TokenError):
    """A genuine token past its Expiration."""


@dataclass(frozen=True, slots=True)
class Claims:
    """What a SecurityToken says. Times are whole seconds since the epoch; ``policy`` is the
    session policy as given (None: the role's rights, not narrowed); ``caller_arn`` is who
    assumed the role."""

    access_key_id: str
    secret: str = field(repr=False)
    account_uid: str
    role_id: str
    role_name: str
    session_name: str
    issued: int
    expires: int
    policy: str | None
    caller_arn: str


# Claims -> short JSON names: the token travels in every request's header or query.
_NAMES = {
    "access_key_id": "k",
    "secret": "s",
    "account_uid": "a",
    "role_id": "ri",
    "role_name": "rn",
    "session_name": "sn",
    "issued": "i",
    "expires": "e",
    "policy": "p",
    "caller_arn": "c",
}


def encode_claims(claims: Claims) -> bytes:
    return json.dumps(
        {short: getattr(claims, name) for name, short in _NAMES.items()}, separators=(",", ":")
    ).encode()


def decode_claims(data: bytes) -> Claims:
    """The claims of an opened token; TokenMalformed if they are not claims of this format."""
    try:
        raw: Any = json.loads(data)
    except (ValueError, RecursionError):
        raise TokenMalformed from None
    if not isinstance(raw, dict) or set(raw) != set(_NAMES.values()):
        raise TokenMalformed
    values = {name: raw[short] for name, short in _NAMES.items()}
    for name, value in values.items():
        if name in ("issued", "expires"):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif name == "policy":
            ok = value is None or isinstance(value, str)
        else:
            ok = isinstance(value, str)
        if not ok:
            raise TokenMalformed
    return Claims(**values)


def token_header(kek_version: int) -> bytes:
    return bytes([TOKEN_FORMAT]) + kek_version.to_bytes(4, "big")


def token_aad(header: bytes) -> bytes:
    """The associated data of a token's seal: its purpose and its header."""
    return b"openkms/sts-token/v1|" + header


def pack(header: bytes, sealed: bytes) -> str:
    body = base64.urlsafe_b64encode(header + sealed).decode().rstrip("=")
    return TOKEN_PREFIX + body


def unpack(token: str) -> tuple[bytes, int, bytes]:
    """(header, KEK version, sealed) of a token; TokenMalformed if it is not laid out as one."""
    if not token.startswith(TOKEN_PREFIX) or not token.isascii():
        raise TokenMalformed
    body = token[len(TOKEN_PREFIX) :]
    try:
        data = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise TokenMalformed from None
    if base64.urlsafe_b64encode(data).decode().rstrip("=") != body:
        raise TokenMalformed  # one text per token: no spare bits or alphabet left to vary
    header, sealed = data[:_HEADER_LEN], data[_HEADER_LEN:]
    if len(header) != _HEADER_LEN or header[0] != TOKEN_FORMAT or len(sealed) < _MIN_SEALED:
        raise TokenMalformed
    return header, int.from_bytes(header[1:], "big"), sealed


def new_access_key_id() -> str:
    """A temporary AccessKeyId: ``STS.`` and 24 letters and digits."""
    return STS_PREFIX + "".join(secrets.choice(_ALNUM) for _ in range(24))


def new_access_key_secret() -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(32))


# -- AssumeRole's parameters --------------------------------------------------------------------


def parse_role_arn(text: str) -> tuple[str, str]:
    """(account uid, role name) of ``acs:ram::<uid>:role/<name>``; else InvalidParameter.RoleArn."""
    found = _ROLE_ARN.fullmatch(text)
    if found is None:
        raise StsError("InvalidParameter.RoleArn", "The parameter RoleArn is wrongly formed.")
    return found.group(1), found.group(2)


def check_session_name(name: str) -> str:
    """2 to 64 of ``A-Za-z0-9.@_-``; else InvalidParameter.RoleSessionName."""
    if not _SESSION_NAME.fullmatch(name):
        raise StsError("InvalidParameter.RoleSessionName", "The parameter RoleSessionName is wrongly formed.")
    return name


def check_external_id(value: str) -> str:
    """2 to 1224 of ``A-Za-z0-9_+=,.@:/-``; else InvalidParameter.ExternalId."""
    if not _EXTERNAL_ID.fullmatch(value):
        raise StsError("InvalidParameter.ExternalId", "The parameter ExternalId is wrongly formed.")
    return value


def check_duration(seconds: int, longest: int) -> int:
    """``seconds`` if within [900, ``longest``] (the role's MaxSessionDuration); else
    InvalidParameter.DurationSeconds, whose message states both bounds."""
    if not MIN_DURATION <= seconds <= longest:
        raise StsError("InvalidParameter.DurationSeconds", duration_message(longest))
    return seconds


def duration_message(longest: int) -> str:
    """STS's message for a DurationSeconds outside [900, ``longest``]."""
    return f"The Min/Max value of DurationSeconds is 15min/{_span(longest)}."


def _span(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600}hr"
    if seconds % 60 == 0:
        return f"{seconds // 60}min"
    return f"{seconds}s"
