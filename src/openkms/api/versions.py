"""Key versions and rotation: CreateKeyVersion, DescribeKeyVersion, ListKeyVersions,
UpdateRotationPolicy."""

from __future__ import annotations

from typing import Any

from openkms.api.paging import PAGE_NUMBER, echo, page_size_param
from openkms.api.spec import ActionSpec, Param
from openkms.domain.clock import iso
from openkms.domain.key import KeyVersion
from openkms.service.context import CallContext

KEY_ID = Param("KeyId", required=True, max=2048, doc="Key id, alias name, key ARN or alias ARN.")


def _version(v: KeyVersion) -> dict[str, Any]:
    return {"KeyId": v.key_id, "KeyVersionId": v.version_id, "CreationDate": iso(v.creation_date)}


def create_key_version(ctx: CallContext, *, key_id: str) -> dict[str, Any]:
    return {"KeyVersion": _version(ctx.services.versions.create(ctx.scope, key_id))}


def describe_key_version(ctx: CallContext, *, key_id: str, key_version_id: str) -> dict[str, Any]:
    return {"KeyVersion": _version(ctx.services.versions.describe(ctx.scope, key_id, key_version_id))}


def list_key_versions(ctx: CallContext, *, key_id: str, page_number: int, page_size: int) -> dict[str, Any]:
    versions, total = ctx.services.versions.list_page(ctx.scope, key_id, page_number, page_size)
    return {
        **echo(page_number, page_size, total),
        "KeyVersions": {"KeyVersion": [_version(v) for v in versions]},
    }


def update_rotation_policy(
    ctx: CallContext, *, key_id: str, enable_automatic_rotation: bool, rotation_interval: str | None
) -> dict[str, Any]:
    ctx.services.versions.update_rotation_policy(
        ctx.scope, key_id, enable_automatic_rotation, rotation_interval
    )
    return {}


ACTIONS = [
    ActionSpec(
        "CreateKeyVersion",
        create_key_version,
        (KEY_ID,),
        doc="Create a key version and make it primary (symmetric Aliyun_KMS keys, Enabled).",
    ),
    ActionSpec(
        "DescribeKeyVersion",
        describe_key_version,
        (KEY_ID, Param("KeyVersionId", required=True, max=64)),
        doc="Return one version of a key.",
    ),
    ActionSpec(
        "ListKeyVersions",
        list_key_versions,
        (
            KEY_ID,
            PAGE_NUMBER,
            page_size_param(10, 0, 101),
        ),
        doc="Page through a key's versions, oldest first.",
    ),
    ActionSpec(
        "UpdateRotationPolicy",
        update_rotation_policy,
        (
            KEY_ID,
            Param("EnableAutomaticRotation", kind=bool, required=True),
            Param("RotationInterval", max=32, doc="<n>d|h|m|s, 7 to 365 days; required to enable."),
        ),
        doc="Turn automatic rotation on or off and set its interval.",
    ),
]
