"""Key management actions: CreateKey, DescribeKey, ListKeys, UpdateKeyDescription."""

from __future__ import annotations

from typing import Any

from openkms.api.paging import PAGE_NUMBER, echo, page_size_param
from openkms.api.render import key_metadata
from openkms.api.spec import ActionSpec, JSONArray, Member, Param
from openkms.api.tags import tags_json, tags_of
from openkms.domain.arn import key_arn
from openkms.domain.filters import MAX_FILTERS, MAX_VALUES, combine_filters
from openkms.domain.keyspec import (
    DEFAULT_SPEC,
    ORIGIN_KMS,
    ORIGINS,
    PROTECTION_LEVELS,
    SPECS,
    USAGES,
)
from openkms.service.context import CallContext

KEY_ID = Param("KeyId", required=True, max=2048, doc="Key id, alias name, key ARN or alias ARN.")


def _metadata(ctx: CallContext, key: Any) -> dict[str, Any]:
    return {"KeyMetadata": key_metadata(key, ctx.services.deployment.region)}


def create_key(
    ctx: CallContext,
    *,
    description: str,
    key_usage: str | None,
    origin: str,
    key_spec: str,
    protection_level: str,
    enable_automatic_rotation: bool,
    rotation_interval: str | None,
    tags: list[dict[str, str]] | None,
    dkms_instance_id: str | None,
    policy: str | None,
    key_storage_mechanism: str | None,
) -> dict[str, Any]:
    tag_map = tags_of(tags)
    key = ctx.services.keys.create(
        key_spec=key_spec,
        key_usage=key_usage,
        origin=origin,
        protection_level=protection_level,
        description=description,
        enable_automatic_rotation=enable_automatic_rotation,
        rotation_interval=rotation_interval,
        tag_map=tag_map,
        account_uid=ctx.scope.account_uid,
        policy=policy,
        dkms_instance_id=dkms_instance_id,
    )
    return _metadata(ctx, key)


def describe_key(ctx: CallContext, *, key_id: str) -> dict[str, Any]:
    return _metadata(ctx, ctx.services.keys.get(ctx.scope, key_id))


LIST_KEY_FILTERS = (
    "KeyState", "KeySpec", "KeyUsage", "ProtectionLevel", "CreatorType", "KeyId", "Creator",
    "DKMSInstanceId", "TagKey", "TagValue", "AliasName",
)  # fmt: skip


def filters_json(keys: tuple[str, ...], doc: str) -> JSONArray:
    """The JSON ``Filters`` of ListKeys and ListSecrets: up to 10 ``{"Key", "Values"}``, each Key
    one of ``keys``."""
    return JSONArray(
        "Filters",
        max=16384,
        max_items=MAX_FILTERS,
        fields=(
            Member("Key", required=True, enum=keys),
            Member("Values", kind=list, required=True, max=MAX_VALUES),
        ),
        doc=doc,
    )


def filters_of(filters: list[dict[str, Any]] | None) -> dict[str, list[str]]:
    """The values each filter Key may take (absent Filters: no filter)."""
    return combine_filters((f["key"], f["values"]) for f in filters or ())


def list_keys(
    ctx: CallContext, *, page_number: int, page_size: int, filters: list[dict[str, Any]] | None
) -> dict[str, Any]:
    parsed = filters_of(filters)
    key_ids, total = ctx.services.keys.list_page(ctx.scope, page_number, page_size, parsed)
    region, account = ctx.services.deployment.region, ctx.scope.account_uid
    return {
        **echo(page_number, page_size, total),
        "Keys": {"Key": [{"KeyId": k, "KeyArn": key_arn(region, account, k)} for k in key_ids]},
    }


def update_key_description(ctx: CallContext, *, key_id: str, description: str) -> dict[str, Any]:
    ctx.services.keys.update_description(ctx.scope, key_id, description)
    return {}


ACTIONS = [
    ActionSpec(
        "CreateKey",
        create_key,
        (
            Param("Description", default="", max=8192, allow_empty=True),
            Param("KeyUsage", enum=USAGES, doc="Default depends on KeySpec."),
            Param("Origin", default=ORIGIN_KMS, enum=ORIGINS),
            Param("KeySpec", default=DEFAULT_SPEC, enum=tuple(SPECS)),
            Param("ProtectionLevel", default="SOFTWARE", enum=PROTECTION_LEVELS),
            Param("EnableAutomaticRotation", kind=bool, default=False),
            Param("RotationInterval", max=32, doc="<n>d|h|m|s, 7 to 365 days."),
            tags_json(),
            Param(
                "DKMSInstanceId",
                max=128,
                doc="Make the key in this KMS instance (403 Forbidden.DKMSInstanceNotFound if unknown, "
                "Forbidden.DKMSInstanceStateInvalid if not connected; 400 Rejected.LimitExceeded "
                "over its quota).",
            ),
            Param(
                "Policy",
                max=32768,
                doc="Key policy JSON, <= 32768 bytes; validated, stored (see GetKeyPolicy) and enforced.",
            ),
            Param("KeyStorageMechanism", max=64, doc="Accepted and ignored."),
        ),
        doc="Create a customer master key.",
    ),
    ActionSpec("DescribeKey", describe_key, (KEY_ID,), doc="Return a key's metadata.", inline=True),
    ActionSpec(
        "ListKeys",
        list_keys,
        (
            PAGE_NUMBER,
            page_size_param(10),
            filters_json(
                LIST_KEY_FILTERS,
                "OR within a Key, AND across Keys; TagKey and TagValue together match one tag.",
            ),
        ),
        doc="Page through the keys of the account.",
        inline=True,
    ),
    ActionSpec(
        "UpdateKeyDescription",
        update_key_description,
        (KEY_ID, Param("Description", required=True, max=8192, allow_empty=True)),
        doc="Replace a key's description.",
    ),
]
