"""ARNs and the forms a KeyId parameter can take: key id, ``alias/<name>``, key ARN, alias ARN.

KMS resources are ``acs:kms:<region>:<account>:<relative id>``; the containers (``…:key``,
``…:alias``, ``…:secret``) stand for "all of this account's keys (aliases, secrets)" in the
actions that list or create them. RAM principals are ``acs:ram::<account>:<relative id>`` (no
region). ``*`` is the resource of actions that act on none.

Every key, alias and secret belongs to one account. A bare key id or alias name is looked up in
the caller's account; an ARN names its own account (which may be another's) and is looked up
there. Parsing says which account a reference points into; whether the caller may reach it is
the service's decision (service/tenancy.py), taken before anything is looked up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openkms.domain.errors import InvalidValue

# The account field of an ARN: Alibaba's account uids are 16 digits; a longer or shorter run of
# digits is a well-formed ARN of an account that does not exist here.
_ACCOUNT = re.compile(r"[0-9]{1,32}")

ANY_RESOURCE = "*"


def key_container_arn(region: str, account_id: str) -> str:
    return f"acs:kms:{region}:{account_id}:key"


def alias_container_arn(region: str, account_id: str) -> str:
    return f"acs:kms:{region}:{account_id}:alias"


def secret_container_arn(region: str, account_id: str) -> str:
    return f"acs:kms:{region}:{account_id}:secret"


def key_arn(region: str, account_id: str, key_id: str) -> str:
    return f"acs:kms:{region}:{account_id}:key/{key_id}"


def alias_arn(region: str, account_id: str, alias_name: str) -> str:
    """``alias_name`` is the whole name, ``alias/<name>``."""
    return f"acs:kms:{region}:{account_id}:{alias_name}"


def secret_arn(region: str, account_id: str, secret_name: str) -> str:
    return f"acs:kms:{region}:{account_id}:secret/{secret_name}"


def account_root_arn(account_id: str) -> str:
    return f"acs:ram::{account_id}:root"


def user_arn(account_id: str, name: str) -> str:
    return f"acs:ram::{account_id}:user/{name}"


def role_arn(account_id: str, role: str) -> str:
    return f"acs:ram::{account_id}:role/{role}"


def role_session_arn(account_id: str, role: str, session: str) -> str:
    return f"acs:ram::{account_id}:role/{role}/{session}"


def account_of(arn: str) -> str | None:
    """The account field of an ARN (``acs:<service>:<region>:<account>:…``); None for ``*`` or
    anything that is not an ARN."""
    if not arn.startswith("acs:"):
        return None
    parts = arn.split(":", 4)
    return parts[3] if len(parts) == 5 and parts[3] else None


@dataclass(frozen=True, slots=True)
class KeyRef:
    """A parsed KeyId parameter: a key id or an alias name (``alias/...``), in the account
    ``account_uid`` (the caller's for a bare id or name, the ARN's for an ARN)."""

    account_uid: str
    key_id: str | None = None
    alias_name: str | None = None


def split_arn(value: str, region: str, parameter: str) -> tuple[str, str]:
    """``(account, resource)`` of ``acs:kms:<region>:<account>:<resource>``.

    Raises:
        InvalidValue: not an ARN of this deployment's region, or an account that is not digits.
    """
    parts = value.split(":", 4)
    if len(parts) != 5 or parts[2] != region or not _ACCOUNT.fullmatch(parts[3]):
        raise InvalidValue(parameter)
    return parts[3], parts[4]


def parse_key_ref(value: str, region: str, account_uid: str, parameter: str = "KeyId") -> KeyRef:
    """Parse a KeyId parameter value sent by a caller of account ``account_uid``.

    An ARN must name this deployment's region; anything malformed is refused as an invalid
    parameter rather than looked up.
    """
    if value.startswith("acs:kms:"):
        account, resource = split_arn(value, region, parameter)
        if resource.startswith("key/") and len(resource) > 4:
            return KeyRef(account, key_id=resource[4:])
        if resource.startswith("alias/") and len(resource) > 6:
            return KeyRef(account, alias_name=resource)
        raise InvalidValue(parameter)
    if value.startswith("alias/"):
        return KeyRef(account_uid, alias_name=value)
    return KeyRef(account_uid, key_id=value)
