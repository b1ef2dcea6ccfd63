"""Secrets Manager rules, free of I/O: names, values, version ids, stages, deletion windows and
policies (alibaba-kms-api.md §9.11 and group I of §12).

Stages are a map ``stage -> version id`` (a stage sits on at most one version of a secret). The
two functions that change it, :func:`stages_after_put` and :func:`stages_after_move`, return the
new map or raise; the service writes the result in the same transaction that read the old one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from openkms.domain.arn import split_arn
from openkms.domain.errors import (
    InvalidValue,
    LimitExceeded,
    ResourceNotFound,
    StageMismatch,
    UnsupportedOperation,
)
from openkms.domain.key import parse_interval
from openkms.domain.policy import PolicyKind, parse_resource_policy
from openkms.domain.text import utf8_within

GENERIC = "Generic"
SECRET_TYPES = (GENERIC, "Rds", "Redis", "RAMCredentials", "ECS", "PolarDB")
# Managed (dynamic) secrets rotate a credential held by another service. That needs a rotation
# plugin for each service, which openkms does not have; until one exists they are refused.
MANAGED_TYPES = SECRET_TYPES[1:]
DATA_TYPES = ("text", "binary")

MAX_NAME_CHARS = 192
MAX_NAME_CHARS_CJK = 64
MAX_SECRET_DATA_BYTES = 30720
MAX_VERSION_ID_CHARS = 64
MAX_STAGE_CHARS = 64
# Alibaba: a Generic secret keeps at most 10 versions and carries at most 8 stages in all.
MAX_VERSIONS = 10
MAX_STAGES = 8
MAX_EXTENDED_CONFIG_CHARS = 1024
MAX_POLICY_BYTES = 32768
POLICY_NAME = "default"

CURRENT = "ACSCurrent"
PREVIOUS = "ACSPrevious"
RESERVED_STAGES = (CURRENT, PREVIOUS)

HOUR = 3600
# Rotation intervals: CreateSecret accepts 6 h, UpdateSecretRotationPolicy 7 d, both up to 365 d.
MIN_CREATE_ROTATION = 6 * HOUR
MIN_POLICY_ROTATION = 168 * HOUR
MAX_ROTATION = 8760 * HOUR

MIN_RECOVERY_DAYS = 7
MAX_RECOVERY_DAYS = 30
DEFAULT_RECOVERY_DAYS = 30

ARN_FORM = "A secret ARN is acs:kms:<region>:<account>:secret/<name>."

# Chinese characters are allowed in names (then at most 64 characters in all).
_CJK = "\u4e00-\u9fff"
_NAME = re.compile(rf"[A-Za-z0-9_/+=.@\-{_CJK}]{{1,{MAX_NAME_CHARS}}}")
_HAS_CJK = re.compile(rf"[{_CJK}]")
# Version ids and stage labels: printable ASCII without spaces (Alibaba documents no charset).
_LABEL = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True, slots=True)
class Secret:
    """One row of ``secrets`` (without its policy); a name is unique within its account."""

    account_uid: str
    secret_name: str
    description: str
    encryption_key_id: str
    secret_type: str
    extended_config: str | None
    automatic_rotation: str
    rotation_interval: int | None
    last_rotation_date: float | None
    next_rotation_date: float | None
    planned_delete_time: float | None
    create_time: float
    update_time: float
    revision: int
    # The KMS instance holding the secret; "" for none.
    dkms_instance_id: str = ""

    @property
    def pending_deletion(self) -> bool:
        return self.planned_delete_time is not None


# -- names and references -----------------------------------------------------------------------


def check_name(name: str, parameter: str = "SecretName") -> None:
    """A name CreateSecret accepts for a Generic secret.

    Raises:
        InvalidValue: outside the charset, too long, or in the reserved ``acs/`` space.
    """
    if not _NAME.fullmatch(name) or (_HAS_CJK.search(name) and len(name) > MAX_NAME_CHARS_CJK):
        raise InvalidValue(
            parameter,
            f"It is 1-{MAX_NAME_CHARS} letters, digits, Chinese characters (then at most "
            f"{MAX_NAME_CHARS_CJK}) or _/+=.@-.",
        )
    if name.startswith("acs/"):
        raise InvalidValue(parameter, "Names beginning with acs/ are reserved for managed secrets.")


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A parsed SecretName parameter: a secret's name in the account ``account_uid`` (the
    caller's for a bare name, the ARN's for an ARN)."""

    account_uid: str
    name: str


def split_secret_ref(value: str, region: str, account_uid: str, parameter: str = "SecretName") -> SecretRef:
    """The secret a SecretName parameter sent by a caller of ``account_uid`` names: a name of
    that account, or ``acs:kms:<region>:<uid>:secret/<name>`` (this deployment's region, any
    account). The name itself is not checked.

    Raises:
        InvalidValue: a malformed ARN or one of another region.
    """
    if not value.startswith("acs:kms:"):
        return SecretRef(account_uid, value)
    try:
        account_uid, resource = split_arn(value, region, parameter)
    except InvalidValue:
        raise InvalidValue(parameter, ARN_FORM) from None
    if not resource.startswith("secret/"):
        raise InvalidValue(parameter, ARN_FORM)
    return SecretRef(account_uid, resource[len("secret/") :])


def parse_secret_ref(value: str, region: str, account_uid: str, parameter: str = "SecretName") -> SecretRef:
    """As :func:`split_secret_ref`, and the name must be one a secret can have.

    Raises:
        InvalidValue: a malformed ARN, one of another region, or a name outside the charset.
    """
    ref = split_secret_ref(value, region, account_uid, parameter)
    if not _NAME.fullmatch(ref.name):
        raise InvalidValue(parameter)
    return ref


# -- values, versions, stages -------------------------------------------------------------------


def secret_data_bytes(data: str, parameter: str = "SecretData") -> bytes:
    """The UTF-8 bytes of a secret value, within 30720 bytes.

    Text and binary values are both opaque strings (a binary value is usually Base64, but it is
    neither checked nor decoded: the official client hands the string's bytes to its caller).
    """
    return utf8_within(data, MAX_SECRET_DATA_BYTES, parameter)


def check_label(value: str, parameter: str, limit: int) -> None:
    """A version id or stage label: 1 to ``limit`` printable ASCII characters, no spaces."""
    if not 1 <= len(value) <= limit or not _LABEL.fullmatch(value):
        raise InvalidValue(parameter, f"It is 1-{limit} printable ASCII characters without spaces.")


def requested_stages(stages: list[str] | None, parameter: str = "VersionStages") -> list[str]:
    """PutSecretValue's VersionStages as a list of distinct labels, in order; absent means
    [ACSCurrent]. The JSON text and its shape are checked by the action table.

    Raises:
        InvalidValue: a label that is not 1-64 printable ASCII characters, or more than 8 stages.
    """
    if stages is None:
        return [CURRENT]
    out: list[str] = []
    for stage in stages:
        check_label(stage, parameter, MAX_STAGE_CHARS)
        if stage not in out:
            out.append(stage)
    if not out:
        raise InvalidValue(parameter, "It must name at least one stage.")
    if len(out) > MAX_STAGES:
        raise InvalidValue(parameter, f"A secret carries at most {MAX_STAGES} stages.")
    return out


def stages_after_put(stages: Mapping[str, str], new_version: str, requested: list[str]) -> dict[str, str]:
    """The stage map after a new version takes the ``requested`` stages.

    Each requested stage moves to the new version. When ACSCurrent moves, the version that had it
    becomes ACSPrevious (unless ACSPrevious was requested too).

    Raises:
        LimitExceeded: more than 8 stages on the secret (400 Rejected.LimitExceeded).
    """
    out = dict(stages)
    old_current = stages.get(CURRENT)
    for stage in requested:
        out[stage] = new_version
    if CURRENT in requested and old_current not in (None, new_version) and PREVIOUS not in requested:
        assert old_current is not None
        out[PREVIOUS] = old_current
    _check_stage_count(out)
    return out


def stages_after_move(
    stages: Mapping[str, str],
    stage: str,
    move_to: str | None,
    remove_from: str | None,
    versions: set[str],
) -> dict[str, str]:
    """UpdateSecretVersionStage: attach ``stage`` to ``move_to``, take it off ``remove_from``, or both.

    Alibaba's three cases: add (MoveToVersion only), remove (RemoveFromVersion only; custom
    stages only: ACSCurrent and ACSPrevious can be moved, never just removed), and move (both).
    A stage sits on one version, so adding a stage another version has moves it; moving
    ACSCurrent off a version makes that version ACSPrevious, as PutSecretValue does.

    Raises:
        InvalidValue: neither version given.
        ResourceNotFound: a named version does not exist (404).
        StageMismatch: RemoveFromVersion does not carry the stage (400 Rejected.InvalidRequest).
        UnsupportedOperation: removing ACSCurrent or ACSPrevious without moving it.
        LimitExceeded: more than 8 stages on the secret.
    """
    if move_to is None and remove_from is None:
        raise InvalidValue("MoveToVersion", "Give MoveToVersion, RemoveFromVersion or both.")
    for version in (move_to, remove_from):
        if version is not None and version not in versions:
            raise ResourceNotFound("The specified secret version is not found.")
    holder = stages.get(stage)
    if remove_from is not None and holder != remove_from:
        raise StageMismatch(f"The version {remove_from} does not carry the stage {stage}.")
    out = dict(stages)
    if move_to is None:
        if stage in RESERVED_STAGES:
            raise UnsupportedOperation(
                f"{stage} cannot be removed, only moved to another version (give MoveToVersion)."
            )
        del out[stage]
        return out
    out[stage] = move_to
    if stage == CURRENT and holder not in (None, move_to):
        assert holder is not None
        out[PREVIOUS] = holder
    _check_stage_count(out)
    return out


def _check_stage_count(stages: Mapping[str, str]) -> None:
    if len(stages) > MAX_STAGES:
        raise LimitExceeded(f"A secret carries at most {MAX_STAGES} stages.")


def versions_to_drop(ordered: list[str], stages: Mapping[str, str]) -> list[str]:
    """Which versions go when a secret holds more than 10: the oldest ones that carry no stage.

    ``ordered`` is oldest first. With at most 8 stages among at most 11 versions there are always
    at least 3 without a stage, so a version that a stage points at is never dropped.
    """
    excess = len(ordered) - MAX_VERSIONS
    if excess <= 0:
        return []
    staged = set(stages.values())
    return [v for v in ordered if v not in staged][:excess]


# -- other parameters ---------------------------------------------------------------------------


def parse_extended_config(text: str, parameter: str = "ExtendedConfig") -> dict[str, object]:
    """CreateSecret's ExtendedConfig: a JSON object of at most 1024 characters."""
    if len(text) > MAX_EXTENDED_CONFIG_CHARS:
        raise InvalidValue(parameter, f"It must be at most {MAX_EXTENDED_CONFIG_CHARS} characters.")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidValue(parameter, "It must be a JSON object.") from None
    if not isinstance(data, dict):
        raise InvalidValue(parameter, "It must be a JSON object.")
    return data


def parse_rotation_interval(text: str, minimum: int, parameter: str = "RotationInterval") -> int:
    """``<n>d|h|m|s`` within [``minimum``, 8760 h], in seconds."""
    try:
        seconds = parse_interval(text)
    except ValueError:
        raise InvalidValue(parameter, "Use <n>d, <n>h, <n>m or <n>s.") from None
    if not minimum <= seconds <= MAX_ROTATION:
        raise InvalidValue(parameter, f"It must be between {minimum // HOUR} h and {MAX_ROTATION // HOUR} h.")
    return seconds


def check_policy(text: str, parameter: str = "Policy") -> str:
    """A secret policy follows the key-policy grammar (Alibaba: "same as a key policy"), at most
    32768 bytes. Returned as given.

    Raises:
        PolicyError: naming ``parameter``, with the first rule the document breaks.
    """
    parse_resource_policy(text, PolicyKind.SECRET, parameter)
    return text


def default_policy(account_id: str) -> str:
    """The policy a secret has until SetSecretPolicy: everything for the owning account."""
    return json.dumps(
        {
            "Version": "1",
            "Statement": [
                {
                    "Sid": "kms default secret policy",
                    "Effect": "Allow",
                    "Principal": {"RAM": [f"acs:ram::{account_id}:*"]},
                    "Action": ["kms:*"],
                    "Resource": ["*"],
                }
            ],
        },
        separators=(",", ":"),
    )


def value_context(secret_name: str, version_id: str, data_type: str) -> dict[str, str]:
    """The EncryptionContext a secret value is sealed under: its secret, version and data type.

    A stored ciphertext copied onto another secret or version, or relabelled text/binary, no
    longer opens.
    """
    return {
        "openkms:secret-name": secret_name,
        "openkms:secret-version": version_id,
        "openkms:secret-data-type": data_type,
    }
