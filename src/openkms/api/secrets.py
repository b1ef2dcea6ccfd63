"""Secrets Manager actions (group I): CreateSecret, DeleteSecret, RestoreSecret, UpdateSecret,
DescribeSecret, ListSecrets, GetSecretValue, BatchGetSecretValue, PutSecretValue,
ListSecretVersionIds, UpdateSecretVersionStage, UpdateSecretRotationPolicy, RotateSecret,
GetSecretPolicy, SetSecretPolicy and GetRandomPassword.

Generic secrets hold what their callers put. Managed database secrets (Rds, PolarDB, Redis) hold
an account of a registered secret target and rotate it (service/rotation.py); RAMCredentials and
ECS secrets are answered ``UnsupportedOperation`` (400). Fields that only managed secrets carry
(AutomaticRotation, RotationInterval, ExtendedConfig, ...) are empty strings for Generic ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openkms.api.errors import to_wire
from openkms.api.keys import filters_json, filters_of
from openkms.api.paging import PAGE_NUMBER, echo, page_size_param
from openkms.api.spec import ActionSpec, JSONArray, Member, Param
from openkms.api.symmetric import RECIPIENT
from openkms.api.tags import tags_json, tags_of
from openkms.domain import errors as d
from openkms.domain import password
from openkms.domain.arn import secret_arn
from openkms.domain.clock import iso
from openkms.domain.rotation import AUTO_NAME, DATABASE_TYPES, RAM_CREDENTIALS, RAM_NAME_PREFIX
from openkms.domain.secret import (
    DATA_TYPES,
    DEFAULT_RECOVERY_DAYS,
    GENERIC,
    MANAGED_TYPES,
    MAX_EXTENDED_CONFIG_CHARS,
    MAX_NAME_CHARS,
    MAX_POLICY_BYTES,
    MAX_RECOVERY_DAYS,
    MAX_SECRET_DATA_BYTES,
    MAX_STAGE_CHARS,
    MAX_VERSION_ID_CHARS,
    MIN_CREATE_ROTATION,
    MIN_POLICY_ROTATION,
    MIN_RECOVERY_DAYS,
    POLICY_NAME,
    SECRET_TYPES,
    Secret,
    check_label,
    check_name,
    check_policy,
    parse_extended_config,
    parse_rotation_interval,
    requested_stages,
)
from openkms.service.context import CallContext
from openkms.service.rotation import RotationStatus
from openkms.service.secrets import Managed, SecretService, SecretValue
from openkms.wire import errors

# A name, or its ARN acs:kms:<region>:<16-digit account>:secret/<name>.
MAX_SECRET_REF = MAX_NAME_CHARS + 128
MAX_BATCH = 20
SECRET_NAME = Param("SecretName", required=True, max=MAX_SECRET_REF, doc="Secret name or secret ARN.")
VERSION_ID = Param("VersionId", max=MAX_VERSION_ID_CHARS, doc="Printable ASCII, no spaces.")
SECRET_DATA = Param(
    "SecretData",
    required=True,
    max=MAX_SECRET_DATA_BYTES,
    doc="At most 30720 UTF-8 bytes (form body in the Tea SDK).",
)
DATA_TYPE = Param("SecretDataType", default="text", enum=DATA_TYPES)
LIST_FILTERS = ("SecretName", "Description", "TagKey", "TagValue", "DKMSInstanceId", "SecretType", "Creator")
# Answered as empty strings: these fields describe managed secrets, which do not exist here.
MANAGED_ONLY = {
    "AutomaticRotation": "",
    "RotationInterval": "",
    "NextRotationDate": "",
    "LastRotationDate": "",
    "ExtendedConfig": "",
}


def _rotation_fields(secret: Secret, *, with_config: bool = True) -> dict[str, Any]:
    """The rotation fields of a managed secret (empty strings for a Generic one)."""
    if secret.secret_type == GENERIC:
        return dict(MANAGED_ONLY)
    interval = secret.rotation_interval
    return {
        "AutomaticRotation": secret.automatic_rotation,
        "RotationInterval": f"{interval}s" if interval else "",
        "NextRotationDate": iso(secret.next_rotation_date),
        "LastRotationDate": iso(secret.last_rotation_date),
        "ExtendedConfig": (secret.extended_config or "") if with_config else "",
    }


def _status(status: RotationStatus) -> dict[str, Any]:
    """A rotation in flight (an openkms field of DescribeSecret; Alibaba's SDK models skip it)."""
    return {
        "VersionId": status.version_id,
        "Step": status.step,
        "Attempts": status.attempts,
        "NextAttemptTime": iso(status.next_attempt),
        "LastError": status.last_error,
    }


def _svc(ctx: CallContext) -> SecretService:
    return ctx.services.secrets


def _arn(ctx: CallContext, secret: Secret) -> str:
    """The secret's ARN, naming its owner."""
    return secret_arn(ctx.services.deployment.region, secret.account_uid, secret.secret_name)


def _tags(tag_list: list[tuple[str, str]]) -> dict[str, Any]:
    return {"Tag": [{"TagKey": k, "TagValue": v} for k, v in tag_list]}


def _stages(stages: list[str]) -> dict[str, Any]:
    return {"VersionStage": stages}


# -- create, delete, restore, update ------------------------------------------------------------


def create_secret(
    ctx: CallContext,
    *,
    secret_name: str,
    version_id: str,
    secret_data: str,
    secret_data_type: str,
    secret_type: str,
    description: str,
    encryption_key_id: str | None,
    enable_automatic_rotation: bool,
    rotation_interval: str | None,
    extended_config: str | None,
    tags: list[dict[str, str]] | None,
    policy: str | None,
    dkms_instance_id: str | None,
) -> dict[str, Any]:
    if secret_type in MANAGED_TYPES and secret_type not in (*DATABASE_TYPES, RAM_CREDENTIALS):
        raise errors.UnsupportedOperation(
            f"SecretType {secret_type} is not rotated by openkms; use Generic, Rds, PolarDB, Redis or "
            "RAMCredentials."
        )
    if secret_type != GENERIC:
        return _create_managed(
            ctx,
            secret_name=secret_name,
            version_id=version_id,
            secret_data=secret_data,
            secret_data_type=secret_data_type,
            secret_type=secret_type,
            description=description,
            encryption_key_id=encryption_key_id,
            enable_automatic_rotation=enable_automatic_rotation,
            rotation_interval=rotation_interval,
            extended_config=extended_config,
            tags=tags,
            policy=policy,
            dkms_instance_id=dkms_instance_id,
        )
    check_name(secret_name)
    check_label(version_id, "VersionId", MAX_VERSION_ID_CHARS)
    if enable_automatic_rotation:
        raise d.UnsupportedOperation(
            "EnableAutomaticRotation applies to managed secrets; "
            "a Generic secret gets a new value with PutSecretValue."
        )
    if rotation_interval is not None:
        # Validated for the caller's sake; a Generic secret does not rotate by itself.
        parse_rotation_interval(rotation_interval, MIN_CREATE_ROTATION)
    if extended_config is not None:
        # Alibaba ignores ExtendedConfig for Generic secrets; it is still checked to be JSON.
        parse_extended_config(extended_config)
    tag_map = tags_of(tags)
    checked_policy = check_policy(policy) if policy is not None else None
    secret = _svc(ctx).create(
        ctx.scope,
        name=secret_name,
        version_id=version_id,
        data=secret_data,
        data_type=secret_data_type,
        description=description,
        encryption_key_id=encryption_key_id,
        tag_map=tag_map,
        policy=checked_policy,
        dkms_instance_id=dkms_instance_id,
    )
    return {
        "Arn": _arn(ctx, secret),
        "SecretName": secret.secret_name,
        "SecretType": secret.secret_type,
        "VersionId": version_id,
        "DKMSInstanceId": secret.dkms_instance_id,
        **{k: v for k, v in MANAGED_ONLY.items() if k != "LastRotationDate"},
    }


def _create_managed(
    ctx: CallContext,
    *,
    secret_name: str,
    version_id: str,
    secret_data: str,
    secret_data_type: str,
    secret_type: str,
    description: str,
    encryption_key_id: str | None,
    enable_automatic_rotation: bool,
    rotation_interval: str | None,
    extended_config: str | None,
    tags: list[dict[str, str]] | None,
    policy: str | None,
    dkms_instance_id: str | None,
) -> dict[str, Any]:
    """A managed secret: its first version holds the account (or AccessKey) SecretData names,
    in the shape GetSecretValue answers; it rotates on the target (or RAM user) its
    ExtendedConfig names. A RAMCredentials secret's name is ``$Auto``: it is named after its user."""
    check_label(version_id, "VersionId", MAX_VERSION_ID_CHARS)
    if secret_type != RAM_CREDENTIALS:
        check_name(secret_name)
    elif secret_name != AUTO_NAME:
        raise errors.InvalidParameter("SecretName", f"A RAMCredentials secret is named {AUTO_NAME}.")
    if secret_data_type != "text":  # noqa: S105 - a data type, not a password
        raise errors.InvalidParameter("SecretDataType", "A managed secret's value is text.")
    interval = None
    if enable_automatic_rotation:
        if rotation_interval is None:
            raise errors.MissingParameter("RotationInterval")
        interval = parse_rotation_interval(rotation_interval, MIN_CREATE_ROTATION)
    elif rotation_interval is not None:
        parse_rotation_interval(rotation_interval, MIN_CREATE_ROTATION)
    rotation = ctx.services.rotation
    config = rotation.managed_config(ctx.scope.account_uid, secret_type, extended_config)
    assert extended_config is not None
    if secret_type == RAM_CREDENTIALS:
        secret_name = RAM_NAME_PREFIX + config.target
    value = rotation.initial_value(ctx.scope.account_uid, config, secret_data)
    tag_map = tags_of(tags)
    checked_policy = check_policy(policy) if policy is not None else None
    secret = _svc(ctx).create(
        ctx.scope,
        name=secret_name,
        version_id=version_id,
        data=value,
        data_type="text",
        description=description,
        encryption_key_id=encryption_key_id,
        tag_map=tag_map,
        policy=checked_policy,
        managed=Managed(secret_type, extended_config, interval),
        dkms_instance_id=dkms_instance_id,
    )
    fields = _rotation_fields(secret)
    del fields["LastRotationDate"]
    return {
        "Arn": _arn(ctx, secret),
        "SecretName": secret.secret_name,
        "SecretType": secret.secret_type,
        "VersionId": version_id,
        "DKMSInstanceId": secret.dkms_instance_id,
        **fields,
    }


def delete_secret(
    ctx: CallContext,
    *,
    secret_name: str,
    force_delete_without_recovery: bool,
    recovery_window_in_days: int | None,
) -> dict[str, Any]:
    if force_delete_without_recovery and recovery_window_in_days is not None:
        raise errors.InvalidParameter(
            "RecoveryWindowInDays", "It cannot be given with ForceDeleteWithoutRecovery=true."
        )
    name, planned = _svc(ctx).delete(
        ctx.scope,
        secret_name,
        force=force_delete_without_recovery,
        window_days=recovery_window_in_days or DEFAULT_RECOVERY_DAYS,
    )
    return {"SecretName": name, "PlannedDeleteTime": iso(planned)}


def restore_secret(ctx: CallContext, *, secret_name: str) -> dict[str, Any]:
    return {"SecretName": _svc(ctx).restore(ctx.scope, secret_name)}


def update_secret(
    ctx: CallContext, *, secret_name: str, description: str | None, raw: Mapping[str, str]
) -> dict[str, Any]:
    # Old SDK: ExtendedConfig.CustomData=<JSON>; Tea: ExtendedConfig.CustomData.<k>=<v>.
    if any(name == "ExtendedConfig" or name.startswith("ExtendedConfig.") for name in raw):
        raise errors.InvalidParameter(
            "ExtendedConfig", "It applies to managed secrets only; this secret is Generic."
        )
    return {"SecretName": _svc(ctx).update_description(ctx.scope, secret_name, description)}


# -- describe and list --------------------------------------------------------------------------


def describe_secret(ctx: CallContext, *, secret_name: str, fetch_tags: bool) -> dict[str, Any]:
    secret, tag_list = _svc(ctx).describe(ctx.scope, secret_name, fetch_tags)
    out: dict[str, Any] = {
        "Arn": _arn(ctx, secret),
        "SecretName": secret.secret_name,
        "SecretType": secret.secret_type,
        "Description": secret.description,
        "EncryptionKeyId": secret.encryption_key_id,
        "CreateTime": iso(secret.create_time),
        "UpdateTime": iso(secret.update_time),
        "PlannedDeleteTime": iso(secret.planned_delete_time),
        "DKMSInstanceId": secret.dkms_instance_id,
        "OwingService": "",
        **_rotation_fields(secret),
    }
    status = ctx.services.rotation.status(secret) if secret.secret_type != GENERIC else None
    if status is not None:
        out["RotationStatus"] = _status(status)
    if tag_list is not None:
        out["Tags"] = _tags(tag_list)
    return out


def _list_entry(secret: Secret, tag_list: list[tuple[str, str]] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "SecretName": secret.secret_name,
        "SecretType": secret.secret_type,
        "CreateTime": iso(secret.create_time),
        "UpdateTime": iso(secret.update_time),
        "PlannedDeleteTime": iso(secret.planned_delete_time),
        "OwingService": "",
    }
    if tag_list is not None:
        entry["Tags"] = _tags(tag_list)
    return entry


def list_secrets(
    ctx: CallContext,
    *,
    page_number: int,
    page_size: int,
    filters: list[dict[str, Any]] | None,
    fetch_tags: bool,
) -> dict[str, Any]:
    page, total = _svc(ctx).list_page(ctx.scope, filters_of(filters), page_number, page_size, fetch_tags)
    return {
        **echo(page_number, page_size, total),
        "SecretList": {"Secret": [_list_entry(s, t) for s, t in page]},
    }


# -- values -------------------------------------------------------------------------------------


def _value(value: SecretValue, fetch_extended_config: bool = False) -> dict[str, Any]:
    return {
        "SecretName": value.secret.secret_name,
        "SecretType": value.secret.secret_type,
        "VersionId": value.version_id,
        "CreateTime": iso(value.create_time),
        "SecretData": value.data,
        "SecretDataType": value.data_type,
        "VersionStages": _stages(value.stages),
        **_rotation_fields(value.secret, with_config=fetch_extended_config),
    }


def get_secret_value(
    ctx: CallContext,
    *,
    secret_name: str,
    version_id: str | None,
    version_stage: str | None,
    fetch_extended_config: bool,
    dry_run: bool,
) -> dict[str, Any]:
    # FetchExtendedConfig only adds ExtendedConfig, which Generic secrets do not have.
    value = _svc(ctx).get_value(ctx.scope, secret_name, version_id, version_stage, dry_run=dry_run)
    return _value(value, fetch_extended_config)


def batch_get_secret_value(ctx: CallContext, *, secrets_list: list[dict[str, str | None]]) -> dict[str, Any]:
    """Each secret is answered or reported in Errors; the call itself succeeds."""
    values: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for item in secrets_list:
        name = item["secret_name"]
        assert name is not None
        try:
            value = _svc(ctx).get_value(ctx.scope, name, item["version_id"], item["version_stage"])
            values.append(_value(value))
        except (d.DomainError, errors.KMSError) as exc:
            wire = to_wire(exc) if isinstance(exc, d.DomainError) else exc
            failures.append(
                {
                    "SecretName": name,
                    "Code": wire.code,
                    "HttpStatus": wire.http_status,
                    "Message": wire.message,
                }
            )
    return {"SecretValues": values, "Errors": failures}


def put_secret_value(
    ctx: CallContext,
    *,
    secret_name: str,
    version_id: str,
    secret_data: str,
    secret_data_type: str,
    version_stages: list[str] | None,
) -> dict[str, Any]:
    check_label(version_id, "VersionId", MAX_VERSION_ID_CHARS)
    requested = requested_stages(version_stages)
    name, stages = _svc(ctx).put_value(
        ctx.scope, secret_name, version_id, secret_data, secret_data_type, requested
    )
    return {"SecretName": name, "VersionId": version_id, "VersionStages": _stages(stages)}


# -- versions and stages ------------------------------------------------------------------------


def list_secret_version_ids(
    ctx: CallContext, *, secret_name: str, include_deprecated: bool, page_number: int, page_size: int
) -> dict[str, Any]:
    name, page, total = _svc(ctx).list_versions(
        ctx.scope, secret_name, include_deprecated, page_number, page_size
    )
    return {
        "SecretName": name,
        **echo(page_number, page_size, total),
        "VersionIds": {
            "VersionId": [
                {
                    "VersionId": v.version_id,
                    "CreateTime": iso(v.create_time),
                    "VersionStages": _stages(v.stages),
                }
                for v in page
            ]
        },
    }


def update_secret_version_stage(
    ctx: CallContext,
    *,
    secret_name: str,
    version_stage: str,
    move_to_version: str | None,
    remove_from_version: str | None,
) -> dict[str, Any]:
    check_label(version_stage, "VersionStage", MAX_STAGE_CHARS)
    name = _svc(ctx).update_stage(ctx.scope, secret_name, version_stage, move_to_version, remove_from_version)
    return {"SecretName": name}


# -- rotation -----------------------------------------------------------------------------------


def update_secret_rotation_policy(
    ctx: CallContext, *, secret_name: str, enable_automatic_rotation: bool, rotation_interval: str | None
) -> dict[str, Any]:
    interval = None
    if rotation_interval is not None:
        interval = parse_rotation_interval(rotation_interval, MIN_POLICY_ROTATION)
    elif enable_automatic_rotation:
        raise errors.MissingParameter("RotationInterval")
    name = ctx.services.rotation.update_policy(ctx.scope, secret_name, enable_automatic_rotation, interval)
    return {"SecretName": name}


def rotate_secret(ctx: CallContext, *, secret_name: str, version_id: str) -> dict[str, Any]:
    check_label(version_id, "VersionId", MAX_VERSION_ID_CHARS)
    report = ctx.services.audit.system
    secret, version = ctx.services.rotation.rotate(ctx.scope, secret_name, version_id, report=report)
    return {"Arn": _arn(ctx, secret), "SecretName": secret.secret_name, "VersionId": version}


# -- policy -------------------------------------------------------------------------------------


def get_secret_policy(ctx: CallContext, *, secret_name: str, policy_name: str) -> dict[str, Any]:
    del policy_name  # only "default" exists (enforced by the table)
    return {"Policy": _svc(ctx).get_policy(ctx.scope, secret_name)}


def set_secret_policy(ctx: CallContext, *, secret_name: str, policy: str, policy_name: str) -> dict[str, Any]:
    del policy_name
    _svc(ctx).set_policy(ctx.scope, secret_name, check_policy(policy))
    return {}


# -- random passwords ---------------------------------------------------------------------------


def get_random_password(
    ctx: CallContext,
    *,
    password_length: int,
    exclude_characters: str,
    exclude_lowercase: bool,
    exclude_uppercase: bool,
    exclude_numbers: bool,
    exclude_punctuation: bool,
    require_each_included_type: bool,
) -> dict[str, Any]:
    del ctx
    classes = password.character_classes(
        exclude_characters=exclude_characters,
        exclude_lowercase=exclude_lowercase,
        exclude_uppercase=exclude_uppercase,
        exclude_numbers=exclude_numbers,
        exclude_punctuation=exclude_punctuation,
    )
    return {
        "RandomPassword": password.generate(password_length, classes, require_each=require_each_included_type)
    }


POLICY_NAME_PARAM = Param("PolicyName", default=POLICY_NAME, enum=(POLICY_NAME,))

ACTIONS = [
    ActionSpec(
        "CreateSecret",
        create_secret,
        (
            Param(
                "SecretName",
                required=True,
                max=MAX_NAME_CHARS,
                doc="[A-Za-z0-9_/+=.@-] and Chinese; not acs/*.",
            ),
            Param(
                "VersionId", required=True, max=MAX_VERSION_ID_CHARS, doc="First version; gets ACSCurrent."
            ),
            SECRET_DATA,
            DATA_TYPE,
            Param(
                "SecretType",
                default=GENERIC,
                enum=SECRET_TYPES,
                doc="Generic, or Rds/PolarDB/Redis rotated on a secret target; "
                "RAMCredentials and ECS are UnsupportedOperation (400).",
            ),
            Param("Description", default="", max=8192, allow_empty=True),
            Param(
                "EncryptionKeyId",
                max=2048,
                doc="Symmetric CMK (id, alias or ARN); default: the service-managed key.",
            ),
            Param(
                "EnableAutomaticRotation",
                kind=bool,
                default=False,
                doc="Managed secrets only (true is refused for Generic).",
            ),
            Param("RotationInterval", max=32, doc="<n>d|h|m|s, 6 h to 8760 h (managed secrets)."),
            Param(
                "ExtendedConfig",
                max=MAX_EXTENDED_CONFIG_CHARS,
                doc="JSON object; managed secrets name their target here; ignored for Generic.",
            ),
            tags_json(),
            Param("Policy", max=MAX_POLICY_BYTES, doc="Secret policy JSON."),
            Param(
                "DKMSInstanceId",
                max=128,
                doc="Keep the secret in this KMS instance, sealed under an EncryptionKeyId of it (403 "
                "Forbidden.DKMSInstanceNotFound / DKMSInstanceStateInvalid; 400 Rejected.LimitExceeded "
                "over its quota).",
            ),
        ),
        doc="Create a secret and its first version (stage ACSCurrent).",
    ),
    ActionSpec(
        "DeleteSecret",
        delete_secret,
        (
            SECRET_NAME,
            Param("ForceDeleteWithoutRecovery", kind=bool, default=False, doc="Delete now, irreversibly."),
            Param(
                "RecoveryWindowInDays",
                kind=int,
                min=MIN_RECOVERY_DAYS,
                max=MAX_RECOVERY_DAYS,
                doc="Default 30.",
            ),
        ),
        doc="Schedule a secret's deletion after a recovery window, or delete it now.",
    ),
    ActionSpec("RestoreSecret", restore_secret, (SECRET_NAME,), doc="Cancel a scheduled secret deletion."),
    ActionSpec(
        "UpdateSecret",
        update_secret,
        (SECRET_NAME, Param("Description", max=8192, allow_empty=True)),
        takes_raw=True,
        doc="Replace a secret's description (ExtendedConfig: managed secrets only).",
    ),
    ActionSpec(
        "DescribeSecret",
        describe_secret,
        (SECRET_NAME, Param("FetchTags", kind=bool, default=False)),
        doc="Return a secret's metadata (never its value).",
    ),
    ActionSpec(
        "ListSecrets",
        list_secrets,
        (
            PAGE_NUMBER,
            page_size_param(10),
            filters_json(LIST_FILTERS, "OR within a Key, AND across Keys."),
            Param("FetchTags", kind=bool, default=False),
        ),
        doc="Page through the secrets of the account.",
    ),
    ActionSpec(
        "GetSecretValue",
        get_secret_value,
        (
            SECRET_NAME,
            VERSION_ID,
            Param("VersionStage", max=MAX_STAGE_CHARS, doc="Default ACSCurrent."),
            Param("FetchExtendedConfig", kind=bool, default=False),
            Param("DryRun", kind=bool, default=False),
        ),
        doc="Return a secret version's value (by VersionId, VersionStage, or ACSCurrent).",
        unsupported=(RECIPIENT,),
        inline=True,
    ),
    ActionSpec(
        "BatchGetSecretValue",
        batch_get_secret_value,
        (
            JSONArray(
                "SecretsList",
                required=True,
                max=65536,
                min_items=1,
                max_items=MAX_BATCH,
                fields=(
                    Member("SecretName", required=True),
                    Member("VersionId", max=MAX_VERSION_ID_CHARS, nullable=True),
                    Member("VersionStage", max=MAX_STAGE_CHARS, nullable=True),
                ),
                doc="A SecretName that does not resolve is reported in Errors, not refused.",
            ),
        ),
        doc="Return up to 20 secret values; failures are reported per secret in Errors.",
    ),
    ActionSpec(
        "PutSecretValue",
        put_secret_value,
        (
            SECRET_NAME,
            Param("VersionId", required=True, max=MAX_VERSION_ID_CHARS),
            SECRET_DATA,
            DATA_TYPE,
            JSONArray(
                "VersionStages",
                max=4096,
                min_items=1,
                max_items=None,
                item=Member("VersionStage", required=True, max=MAX_STAGE_CHARS),
                doc='Default ["ACSCurrent"]; at most 8 distinct stages on a secret.',
            ),
        ),
        doc="Store a new version of a Generic secret (idempotent for the same VersionId and value).",
    ),
    ActionSpec(
        "ListSecretVersionIds",
        list_secret_version_ids,
        (
            SECRET_NAME,
            Param("IncludeDeprecated", kind=bool, default=False, doc="Also versions without a stage."),
            PAGE_NUMBER,
            # No documented maximum; 1-100 as every other 1-based PageSize.
            page_size_param(20),
        ),
        doc="Page through a secret's versions (no values).",
    ),
    ActionSpec(
        "UpdateSecretVersionStage",
        update_secret_version_stage,
        (
            SECRET_NAME,
            Param("VersionStage", required=True, max=MAX_STAGE_CHARS),
            Param("MoveToVersion", max=MAX_VERSION_ID_CHARS),
            Param("RemoveFromVersion", max=MAX_VERSION_ID_CHARS),
        ),
        doc="Add, remove or move a stage label between a secret's versions.",
    ),
    ActionSpec(
        "UpdateSecretRotationPolicy",
        update_secret_rotation_policy,
        (
            SECRET_NAME,
            Param("EnableAutomaticRotation", kind=bool, required=True),
            Param("RotationInterval", max=32, doc="<n>d|h|m|s, 168 h to 8760 h."),
        ),
        doc="Turn a managed secret's automatic rotation on or off (Generic: Rejected.UnsupportedOperation).",
    ),
    ActionSpec(
        "RotateSecret",
        rotate_secret,
        (SECRET_NAME, Param("VersionId", required=True, max=MAX_VERSION_ID_CHARS)),
        doc="Rotate a managed secret at once (Generic: Rejected.UnsupportedOperation).",
    ),
    ActionSpec(
        "GetSecretPolicy",
        get_secret_policy,
        (SECRET_NAME, POLICY_NAME_PARAM),
        doc="Return a secret's policy.",
    ),
    ActionSpec(
        "SetSecretPolicy",
        set_secret_policy,
        (SECRET_NAME, Param("Policy", required=True, max=MAX_POLICY_BYTES), POLICY_NAME_PARAM),
        doc="Replace a secret's policy.",
    ),
    ActionSpec(
        "GetRandomPassword",
        get_random_password,
        (
            Param(
                "PasswordLength",
                kind=int,
                default=password.DEFAULT_LENGTH,
                min=password.MIN_LENGTH,
                max=password.MAX_LENGTH,
            ),
            Param("ExcludeCharacters", default="", max=256),
            Param("ExcludeLowercase", kind=bool, default=False),
            Param("ExcludeUppercase", kind=bool, default=False),
            Param("ExcludeNumbers", kind=bool, default=False),
            Param("ExcludePunctuation", kind=bool, default=False),
            Param(
                "RequireEachIncludedType",
                kind=bool,
                default=True,
                doc="Every class left appears at least once.",
            ),
        ),
        doc="Generate a random password from a CSPRNG.",
    ),
]
