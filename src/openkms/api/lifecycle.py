"""Key lifecycle actions: EnableKey, DisableKey, ScheduleKeyDeletion, CancelKeyDeletion and
SetDeletionProtection. The state rules are in :mod:`openkms.domain.keystate`."""

from __future__ import annotations

from typing import Any

from openkms.api.keys import KEY_ID
from openkms.api.spec import ActionSpec, Param
from openkms.service.context import CallContext
from openkms.wire import errors

MIN_PENDING_WINDOW_DAYS = 7
MAX_PENDING_WINDOW_DAYS = 366


def enable_key(ctx: CallContext, *, key_id: str) -> dict[str, Any]:
    ctx.services.lifecycle.enable_key(ctx.scope, key_id)
    return {}


def disable_key(ctx: CallContext, *, key_id: str) -> dict[str, Any]:
    ctx.services.lifecycle.disable_key(ctx.scope, key_id)
    return {}


def schedule_key_deletion(ctx: CallContext, *, key_id: str, pending_window_in_days: int) -> dict[str, Any]:
    ctx.services.lifecycle.schedule_key_deletion(ctx.scope, key_id, pending_window_in_days)
    return {}


def cancel_key_deletion(ctx: CallContext, *, key_id: str) -> dict[str, Any]:
    ctx.services.lifecycle.cancel_key_deletion(ctx.scope, key_id)
    return {}


def set_deletion_protection(
    ctx: CallContext,
    *,
    enable_deletion_protection: bool,
    deletion_protection_description: str,
    key_id: str | None,
    protected_resource_arn: str | None,
    kms_instance_id: str | None,
) -> dict[str, Any]:
    # The old SDK can only send ProtectedResourceArn; the Tea SDK also KeyId. Both name a key.
    target = key_id or protected_resource_arn
    if target is None:
        if kms_instance_id is not None:
            ctx.services.instances.set_deletion_protection(
                ctx.scope.account_uid,
                kms_instance_id,
                enable_deletion_protection,
                deletion_protection_description,
            )
            return {}
        raise errors.MissingParameter("ProtectedResourceArn")
    parameter = "KeyId" if key_id else "ProtectedResourceArn"
    ctx.services.keys.parse_ref(ctx.scope, target, parameter)
    ctx.services.lifecycle.set_deletion_protection(
        ctx.scope, target, enable_deletion_protection, deletion_protection_description
    )
    return {}


ACTIONS = [
    ActionSpec("EnableKey", enable_key, (KEY_ID,), doc="Enabled or Disabled -> Enabled."),
    ActionSpec("DisableKey", disable_key, (KEY_ID,), doc="Enabled or Disabled -> Disabled."),
    ActionSpec(
        "ScheduleKeyDeletion",
        schedule_key_deletion,
        (
            KEY_ID,
            Param(
                "PendingWindowInDays",
                kind=int,
                required=True,
                min=MIN_PENDING_WINDOW_DAYS,
                max=MAX_PENDING_WINDOW_DAYS,
                doc="Days until the key and its material are destroyed.",
            ),
        ),
        doc="PendingDeletion until DeleteDate; refused while deletion protection is on.",
    ),
    ActionSpec(
        "CancelKeyDeletion",
        cancel_key_deletion,
        (KEY_ID,),
        doc="PendingDeletion -> Enabled (PendingImport for an EXTERNAL key without material).",
    ),
    ActionSpec(
        "SetDeletionProtection",
        set_deletion_protection,
        (
            Param("EnableDeletionProtection", kind=bool, required=True),
            Param("DeletionProtectionDescription", default="", max=8192, allow_empty=True),
            Param("KeyId", max=2048, doc="Key id, alias or ARN (or give ProtectedResourceArn)."),
            Param("ProtectedResourceArn", max=2048, doc="ARN of the key to protect."),
            Param(
                "KmsInstanceId",
                max=128,
                doc="Protect this KMS instance instead (when no key is named): ReleaseKmsInstance is "
                "then refused.",
            ),
        ),
        doc="Turn deletion protection on or off; a protected key cannot be scheduled for deletion.",
    ),
]
