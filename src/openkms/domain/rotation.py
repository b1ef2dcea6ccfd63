"""Managed secrets and their rotation, free of I/O: the ExtendedConfig of each managed type, the
values they hold, the targets they rotate on, and the steps of one rotation with its backoff.

A rotation is a small state machine kept in the database, one row per secret while it is in
flight. Each step is idempotent and recorded before the next one starts, so a process killed at
any point leaves a row that the next run carries on from:

``pending``   the new value is sealed and stored as a version carrying :data:`PENDING` (the
              secret's ACSCurrent is untouched); next: set the password on the target.
``applied``   the target holds the new password; next: log in with it.
``verified``  the login worked; next: move ACSCurrent to the new version (the old one becomes
              ACSPrevious) and drop the row, in one transaction.

A step that fails (the target is down, the login is refused) leaves the row where it was, with
the attempt counted, the error kept and the next attempt pushed out by :func:`backoff`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from openkms.domain.errors import InvalidValue
from openkms.domain.secret import MAX_EXTENDED_CONFIG_CHARS

RDS = "Rds"
POLARDB = "PolarDB"
REDIS = "Redis"
RAM_CREDENTIALS = "RAMCredentials"
# The managed types openkms rotates; ECS (a server's login) has no target kind here.
ROTATED_TYPES = (RDS, POLARDB, REDIS, RAM_CREDENTIALS)
DATABASE_TYPES = (RDS, POLARDB, REDIS)

# RAMCredentials: the AccessKeys of a RAM user of the same account; SecretName $Auto names the
# secret after the user.
RAM_SUB_TYPE = "RamUserAccessKey"
AUTO_NAME = "$Auto"
RAM_NAME_PREFIX = "acs/ram/user/"

SINGLE_USER = "SingleUser"
DOUBLE_USERS = "DoubleUsers"
SUB_TYPES = (SINGLE_USER, DOUBLE_USERS)
# The key of ExtendedConfig that names the target, per type (as Alibaba names the instance).
INSTANCE_KEY = {RDS: "DBInstanceId", POLARDB: "DBClusterId", REDIS: "InstanceId"}
# The second account of DoubleUsers is the first's name with this suffix.
DOUBLE_SUFFIX = "_dual"
MAX_CUSTOM_DATA = 10

# RotateSecret starts at most this many rotations per account in any hour (Alibaba's limit;
# beyond it 400 Rejected.LimitExceeded). Scheduled rotations are not counted.
ROTATIONS_PER_HOUR = 50
RATE_WINDOW = 3600.0

# The stage the new version carries while its rotation is in flight.
PENDING = "ACSPending"

STEP_PENDING = "pending"
STEP_APPLIED = "applied"
STEP_VERIFIED = "verified"
STEPS = (STEP_PENDING, STEP_APPLIED, STEP_VERIFIED)

# Target kinds and the secret types they serve.
POSTGRESQL = "postgresql"
MYSQL = "mysql"
REDIS_TARGET = "redis"
TARGET_TYPES = (POSTGRESQL, MYSQL, REDIS_TARGET)
TARGET_SERVES = {POSTGRESQL: (RDS, POLARDB), MYSQL: (RDS, POLARDB), REDIS_TARGET: (REDIS,)}
_DSN_SCHEMES = {POSTGRESQL: ("postgresql", "postgres"), MYSQL: ("mysql",), REDIS_TARGET: ("redis",)}

# Backoff of a failing step: 30 s doubling per attempt, at most an hour apart.
FIRST_RETRY = 30.0
MAX_RETRY = 3600.0
MAX_ERROR_CHARS = 500
PASSWORD_LENGTH = 32
# Generated passwords leave out the characters that connection strings, shells and SQL quote.
PASSWORD_EXCLUDES = "\"'\\`$;:@/?#%&=+ "  # noqa: S105 - characters left out, not a password

_TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
# Database account names openkms will create or alter: letters, digits and _ (no quoting games).
_ACCOUNT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,58}")


@dataclass(frozen=True, slots=True)
class ManagedConfig:
    """A managed secret's ExtendedConfig, checked."""

    secret_type: str
    sub_type: str
    target: str
    custom_data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Account:
    """A database account and its password, as a managed secret's value holds it."""

    name: str
    password: str


@dataclass(frozen=True, slots=True)
class Rotation:
    """One rotation in flight (a row of ``secret_rotations``)."""

    account_uid: str
    secret_name: str
    version_id: str
    account_name: str
    step: str
    attempts: int
    next_attempt: float
    last_error: str
    started: float


def parse_managed_config(secret_type: str, config: dict[str, object]) -> ManagedConfig:
    """The ExtendedConfig of a database secret (Rds, PolarDB, Redis): ``SecretSubType``, the
    instance key of its type naming a registered target, and optional ``CustomData``.

    Raises:
        InvalidValue: a key missing or of the wrong kind, an unknown SecretSubType.
    """
    sub_type = config.get("SecretSubType")
    if sub_type not in SUB_TYPES:
        raise InvalidValue("ExtendedConfig", f"SecretSubType must be {' or '.join(SUB_TYPES)}.")
    key = INSTANCE_KEY[secret_type]
    target = config.get(key)
    if not isinstance(target, str) or not _TARGET_NAME.fullmatch(target):
        raise InvalidValue("ExtendedConfig", f"{key} must name a secret target (openkms secret-target list).")
    return ManagedConfig(secret_type, str(sub_type), target, _custom_data(config))


def _custom_data(config: dict[str, object]) -> dict[str, str]:
    custom = config.get("CustomData", {})
    if not isinstance(custom, dict) or len(custom) > MAX_CUSTOM_DATA:
        raise InvalidValue("ExtendedConfig", f"CustomData is an object of at most {MAX_CUSTOM_DATA} pairs.")
    return {str(k): str(v) for k, v in custom.items()}


def custom_data_of(raw: Mapping[str, str]) -> dict[str, str] | None:
    """UpdateSecret's new CustomData from its raw parameters, in any SDK's form: the old SDK's
    ``ExtendedConfig.CustomData=<JSON object>``, the Tea SDK's flattened
    ``ExtendedConfig.CustomData.<key>=<value>``, or ``ExtendedConfig={"CustomData":{…}}``.
    None when the call carries no ExtendedConfig.

    Raises:
        InvalidValue: another member than CustomData, text that is not a JSON object, more
        than 10 pairs.
    """
    names = [n for n in raw if n == "ExtendedConfig" or n.startswith("ExtendedConfig.")]
    if not names:
        return None
    config: dict[str, object] = {}
    flat: dict[str, object] = {}
    for name in names:
        if name == "ExtendedConfig":
            config = _json_object(raw[name])
        elif name == "ExtendedConfig.CustomData":
            config = {"CustomData": _json_object(raw[name])}
        elif name.startswith("ExtendedConfig.CustomData."):
            flat[name.removeprefix("ExtendedConfig.CustomData.")] = raw[name]
        else:
            raise InvalidValue("ExtendedConfig", "UpdateSecret changes CustomData only.")
    if flat:
        config = {"CustomData": flat}
    if set(config) - {"CustomData"}:
        raise InvalidValue("ExtendedConfig", "UpdateSecret changes CustomData only.")
    return _custom_data(config)


def with_custom_data(extended_config: str, custom: dict[str, str]) -> str:
    """A managed secret's stored ExtendedConfig with its CustomData replaced by ``custom``.

    Raises:
        InvalidValue: the result beyond ExtendedConfig's 1024 characters.
    """
    config = json.loads(extended_config or "{}")
    config["CustomData"] = custom
    text = json.dumps(config, ensure_ascii=False, separators=(",", ":"))
    if len(text) > MAX_EXTENDED_CONFIG_CHARS:
        raise InvalidValue("ExtendedConfig", f"It must be at most {MAX_EXTENDED_CONFIG_CHARS} characters.")
    return text


def _json_object(text: str) -> dict[str, object]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidValue("ExtendedConfig", "It must be a JSON object.") from None
    if not isinstance(data, dict):
        raise InvalidValue("ExtendedConfig", "It must be a JSON object.")
    return data


def parse_accounts(data: str) -> list[Account]:
    """CreateSecret's SecretData for a database secret: ``{"Accounts":[{"AccountName":…,
    "AccountPassword":…}]}`` with one account (DoubleUsers makes the second on its first
    rotation).

    Raises:
        InvalidValue: another shape, or an account name openkms does not manage.
    """
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        parsed = None
    accounts = parsed.get("Accounts") if isinstance(parsed, dict) else None
    if not isinstance(accounts, list) or len(accounts) != 1:
        raise InvalidValue("SecretData", 'It is {"Accounts":[{"AccountName":…,"AccountPassword":…}]}.')
    out = []
    for item in accounts:
        if not isinstance(item, dict):
            raise InvalidValue(
                "SecretData", "Each account is an object with AccountName and AccountPassword."
            )
        name, password = item.get("AccountName"), item.get("AccountPassword")
        if not isinstance(name, str) or not isinstance(password, str) or not password:
            raise InvalidValue("SecretData", "Each account has an AccountName and an AccountPassword.")
        check_account_name(name)
        out.append(Account(name, password))
    return out


def check_account_name(name: str) -> None:
    """An account name openkms creates or alters: letters, digits and ``_``, at most 59."""
    if not _ACCOUNT.fullmatch(name):
        raise InvalidValue(
            "SecretData", "An AccountName is letters, digits and _, starting with a letter or _."
        )


def account_value(account: Account) -> str:
    """The value GetSecretValue returns for a database secret (Alibaba's shape)."""
    return json.dumps({"AccountName": account.name, "AccountPassword": account.password})


def read_account(value: str) -> Account:
    """The account a stored database-secret value holds (the shape of :func:`account_value`)."""
    parsed = json.loads(value)
    return Account(str(parsed["AccountName"]), str(parsed["AccountPassword"]))


def second_account(first: str) -> str:
    """The name of the account DoubleUsers alternates with ``first``."""
    return first + DOUBLE_SUFFIX


def first_account(current: str) -> str:
    """The account a DoubleUsers secret was created with, from either of its two accounts."""
    return current[: -len(DOUBLE_SUFFIX)] if current.endswith(DOUBLE_SUFFIX) else current


def account_to_rotate(sub_type: str, current: str) -> str:
    """Which account a rotation sets a new password on, ``current`` being ACSCurrent's.

    SingleUser: the one account. DoubleUsers: the other of the two, so the credential
    applications hold keeps working until the rotation after this one.
    """
    if sub_type == SINGLE_USER:
        return current
    first = first_account(current)
    return second_account(first) if current == first else first


def backoff(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones."""
    return float(min(MAX_RETRY, FIRST_RETRY * 2 ** max(0, attempts - 1)))


def error_text(exc: BaseException) -> str:
    """What a failed step keeps and shows: the exception's kind and first line, bounded."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return text[:MAX_ERROR_CHARS]


def check_target_name(name: str) -> None:
    if not _TARGET_NAME.fullmatch(name):
        raise InvalidValue(
            "Name", "A target name is 1-64 letters, digits, _, . or -, starting with a letter or digit."
        )


def check_dsn(target_type: str, dsn: str) -> None:
    """A target's DSN: a URL of its kind, naming a host, carrying no password (the admin
    credential lives in a secret, never in the registry).

    Raises:
        InvalidValue: an unknown type, another scheme, no host, or a password in it.
    """
    if target_type not in TARGET_TYPES:
        raise InvalidValue("Type", f"It is one of {', '.join(TARGET_TYPES)}.")
    try:
        parts = urlsplit(dsn)
        port = parts.port
    except ValueError:
        raise InvalidValue("Dsn", "It is a URL such as postgresql://host:5432/dbname.") from None
    if parts.scheme not in _DSN_SCHEMES[target_type] or not parts.hostname:
        raise InvalidValue("Dsn", f"It is a {_DSN_SCHEMES[target_type][0]}:// URL naming a host.")
    if parts.password is not None or parts.username is not None:
        raise InvalidValue("Dsn", "It names no account: the admin account is in the admin secret.")
    del port


def parse_ram_config(config: dict[str, object]) -> ManagedConfig:
    """The ExtendedConfig of a RAMCredentials secret: ``SecretSubType`` RamUserAccessKey and the
    RAM user's ``UserName``.

    Raises:
        InvalidValue: another SecretSubType, or no UserName.
    """
    if config.get("SecretSubType") != RAM_SUB_TYPE:
        raise InvalidValue("ExtendedConfig", f"SecretSubType must be {RAM_SUB_TYPE}.")
    user = config.get("UserName")
    if not isinstance(user, str) or not user:
        raise InvalidValue("ExtendedConfig", "UserName must name a RAM user of the account.")
    return ManagedConfig(RAM_CREDENTIALS, RAM_SUB_TYPE, user, _custom_data(config))


def parse_access_keys(data: str) -> tuple[str, str]:
    """CreateSecret's SecretData for RAMCredentials: ``{"AccessKeys":[{"AccessKeyId":…,
    "AccessKeySecret":…}]}`` with a pair the user holds.

    Raises:
        InvalidValue: another shape.
    """
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        parsed = None
    pairs = parsed.get("AccessKeys") if isinstance(parsed, dict) else None
    first = pairs[0] if isinstance(pairs, list) and len(pairs) == 1 else None
    akid = first.get("AccessKeyId") if isinstance(first, dict) else None
    secret = first.get("AccessKeySecret") if isinstance(first, dict) else None
    if not isinstance(akid, str) or not isinstance(secret, str) or not akid or not secret:
        raise InvalidValue("SecretData", 'It is {"AccessKeys":[{"AccessKeyId":…,"AccessKeySecret":…}]}.')
    return akid, secret


def access_key_value(access_key_id: str, secret: str, generated: str) -> str:
    """The value GetSecretValue returns for a RAMCredentials secret (Alibaba's shape)."""
    return json.dumps(
        {"AccessKeyId": access_key_id, "AccessKeySecret": secret, "GenerateTimestamp": generated}
    )


def read_access_key(value: str) -> tuple[str, str]:
    """The AccessKeyId and secret a stored RAMCredentials value holds."""
    parsed = json.loads(value)
    return str(parsed["AccessKeyId"]), str(parsed["AccessKeySecret"])
