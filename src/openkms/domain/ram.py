"""The rules of RAM identities, free of I/O: name patterns, the quotas of an account, ids, ARNs
and the errors RAM answers with.

Names, lengths and quotas are RAM's published ones (API reference and "Limits"). Every error
carries the RAM entity it is about (``User``, ``User.AccessKey``, ``Policy.Version`` ...), which
the api layer turns into RAM's code (``EntityNotExist.User.AccessKey``).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass

from openkms.domain.errors import DomainError

# Name patterns: (regular expression of the allowed characters, maximum length).
USER_NAME = (re.compile(r"[A-Za-z0-9._-]+"), 64)
GROUP_NAME = (re.compile(r"[A-Za-z0-9-]+"), 64)
ROLE_NAME = (re.compile(r"[A-Za-z0-9.-]+"), 64)
POLICY_NAME = (re.compile(r"[A-Za-z0-9-]+"), 128)
VERSION_ID = re.compile(r"v[1-9][0-9]{0,8}")

MAX_DISPLAY_NAME = 128
MAX_COMMENTS = 128
MAX_DESCRIPTION = 1024
MAX_POLICY_DOCUMENT = 6144

# Quotas of one account.
MAX_USERS = 5000
MAX_GROUPS = 300
MAX_ROLES = 1000
MAX_CUSTOM_POLICIES = 1500
MAX_ACCESS_KEYS_PER_USER = 2
MAX_GROUPS_PER_USER = 10
MAX_POLICY_VERSIONS = 5
MAX_SYSTEM_POLICIES_PER_PRINCIPAL = 20
MAX_CUSTOM_POLICIES_PER_PRINCIPAL = 10

MIN_SESSION_DURATION = 3600
MAX_SESSION_DURATION = 43200
DEFAULT_SESSION_DURATION = 3600

SYSTEM = "System"
CUSTOM = "Custom"
POLICY_TYPES = (SYSTEM, CUSTOM)

USER = "User"
GROUP = "Group"
ROLE = "Role"
PRINCIPAL_TYPES = (USER, GROUP, ROLE)

ACTIVE = "Active"
INACTIVE = "Inactive"
ACCESS_KEY_STATUSES = (ACTIVE, INACTIVE)

# CreatePolicyVersion's RotateStrategy values.
ROTATE_NONE = "None"
ROTATE_DELETE_OLDEST = "DeleteOldestNonDefaultVersionWhenLimitExceeded"


class RamError(DomainError):
    """A RAM rule refused the request; ``entity`` names what it is about (``User.AccessKey``)."""

    prefix = ""

    def __init__(self, entity: str, detail: str | None = None) -> None:
        super().__init__(detail)
        self.entity = entity

    @property
    def code(self) -> str:
        return f"{self.prefix}.{self.entity}"


class EntityNotExist(RamError):
    prefix = "EntityNotExist"


class EntityAlreadyExists(RamError):
    prefix = "EntityAlreadyExists"


class DeleteConflict(RamError):
    prefix = "DeleteConflict"


class QuotaExceeded(RamError):
    prefix = "LimitExceeded"


class BadRamParameter(RamError):
    """A parameter value RAM refuses: ``entity`` is ``<Parameter>.<Fault>`` (``UserName.Length``)."""

    prefix = "InvalidParameter"


class MalformedPolicyDocument(DomainError):
    """A policy document that is not a RAM policy; ``detail`` says what is wrong."""


def check_name(parameter: str, value: str, rule: tuple[re.Pattern[str], int]) -> str:
    """``value`` if it fits ``rule``; else BadRamParameter ``<parameter>.Length`` or
    ``<parameter>.InvalidChars``."""
    pattern, longest = rule
    if not 1 <= len(value) <= longest:
        raise BadRamParameter(
            f"{parameter}.Length", f'The parameter - "{parameter}" beyond the length limit.'
        )
    if not pattern.fullmatch(value):
        raise BadRamParameter(
            f"{parameter}.InvalidChars", f'The parameter - "{parameter}" contains invalid chars.'
        )
    return value


def check_length(parameter: str, value: str, longest: int) -> str:
    """``value`` if at most ``longest`` characters; else BadRamParameter ``<parameter>.Length``."""
    if len(value) > longest:
        raise BadRamParameter(
            f"{parameter}.Length", f'The parameter - "{parameter}" beyond the length limit.'
        )
    return value


def check_version_id(parameter: str, value: str) -> int:
    """The number of a policy version id ``v<N>``; else BadRamParameter ``VersionId.Format``."""
    if not VERSION_ID.fullmatch(value):
        raise BadRamParameter(
            f"{parameter}.Format", f'The format of the parameter - "{parameter}" is incorrect.'
        )
    return int(value[1:])


def new_principal_id() -> str:
    """A RAM user, group or role id: 16 to 18 digits, as RAM's (``UserId``, ``RoleId``)."""
    return str(secrets.randbelow(9 * 10**16) + 10**16)


def role_arn(account_uid: str, role_name: str) -> str:
    """A role's ARN; RAM lowercases the name in it."""
    return f"acs:ram::{account_uid}:role/{role_name.lower()}"


def user_arn(account_uid: str, user_name: str) -> str:
    return f"acs:ram::{account_uid}:user/{user_name}"


@dataclass(frozen=True, slots=True)
class Session:
    """An STS session of a role: what its temporary AccessKey stands for. ``policy`` is the
    session policy it was created with (JSON), which narrows the role's policies."""

    role_id: str
    role_name: str
    session_name: str
    expires: float
    policy: str | None = None


@dataclass(frozen=True, slots=True)
class Owner:
    """Who an AccessKey belongs to: an account's root (``user_id`` None, no ``session``), one of
    its users, or a session of one of its roles (an STS AccessKey)."""

    account_uid: str
    user_id: str | None = None
    session: Session | None = None

    @property
    def is_root(self) -> bool:
        return self.user_id is None and self.session is None


def encode_marker(position: str) -> str:
    """A List* Marker for the page after ``position`` (opaque to callers)."""
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def decode_marker(marker: str | None) -> str:
    """The position a Marker stands for ("" for none); one that no List* answer gave is
    BadRamParameter ``Marker.Format``."""
    if not marker:
        return ""
    try:
        padded = marker + "=" * (-len(marker) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, ValueError):
        raise BadRamParameter(
            "Marker.Format", 'The format of the parameter - "Marker" is incorrect.'
        ) from None
