"""Shapes shared by several actions' answers (KeyMetadata and friends)."""

from __future__ import annotations

from typing import Any

from openkms.domain import keystate
from openkms.domain.arn import key_arn
from openkms.domain.clock import iso
from openkms.domain.key import Key


def rotation_status(key: Key) -> str:
    if not key.automatic_rotation:
        return "Disabled"
    return "Enabled" if key.key_state == keystate.ENABLED else "Suspended"


def key_metadata(key: Key, region: str) -> dict[str, Any]:
    """KeyMetadata; the ARN names the key's owner."""
    return {
        "KeyId": key.key_id,
        "Arn": key_arn(region, key.account_uid, key.key_id),
        "CreationDate": iso(key.creation_date),
        "Creator": key.creator,
        "Description": key.description,
        "KeyState": key.key_state,
        "KeyUsage": key.key_usage,
        "KeySpec": key.key_spec,
        "Origin": key.origin,
        "ProtectionLevel": key.protection_level,
        "DeleteDate": iso(key.delete_date),
        "MaterialExpireTime": iso(key.material_expire_time),
        "PrimaryKeyVersion": key.primary_version_id or "",
        "AutomaticRotation": rotation_status(key),
        "RotationInterval": f"{key.rotation_interval}s" if key.rotation_interval else "",
        "LastRotationDate": iso(key.last_rotation_date),
        "NextRotationDate": iso(key.next_rotation_date) if key.automatic_rotation else "",
        "DeletionProtection": "Enabled" if key.deletion_protection else "Disabled",
        "DeletionProtectionDescription": key.deletion_protection_description,
        "DKMSInstanceId": key.dkms_instance_id,
        "CreatorType": key.creator_type,
    }
